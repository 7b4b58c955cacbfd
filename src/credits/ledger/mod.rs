//! Grants and their ledger in the database: requesting grants ([`grants`]), reading
//! grants, the ledger and balances ([`views`]), voiding and expiring ([`lifecycle`]),
//! and applying credits to invoices being finalized ([`apply`]). This module owns the
//! error of every credit operation ([`CreditError`]) and the balance expression.

mod apply;
mod grants;
mod lifecycle;
mod records;
mod views;

pub use apply::*;
pub use grants::*;
pub use lifecycle::*;
pub use records::*;
pub use views::*;

use crate::error::{Classify, ErrorKind};

/// Why a grant or a credit operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What was wrong and what was expected.
        message: String,
    },
    /// No such grant or account.
    #[error("organisation {org} has no {what} {id}")]
    NotFound {
        /// Organisation.
        org: String,
        /// "account" or "credit grant".
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The grant is not in a state the operation applies to.
    #[error("credit grant {id} is {status}: {action} applies only to ACTIVE grants")]
    WrongStatus {
        /// The grant.
        id: String,
        /// Its status.
        status: String,
        /// What was asked.
        action: &'static str,
    },
    /// The idempotency key names a recorded grant that differs from the request.
    #[error(
        "idempotency key {key:?} was already used for credit grant {grant}, which differs: \
         {differs} (a retry must repeat the request; a new grant needs a new key)"
    )]
    KeyReused {
        /// The key.
        key: String,
        /// The grant recorded with it.
        grant: String,
        /// What differs, stored value first.
        differs: String,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Classify for CreditError {
    fn kind(&self) -> ErrorKind {
        match self {
            CreditError::Invalid { .. } => ErrorKind::Invalid,
            CreditError::NotFound { .. } => ErrorKind::NotFound,
            CreditError::WrongStatus { .. } | CreditError::KeyReused { .. } => ErrorKind::Conflict,
            CreditError::Db(e) => e.kind(),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> CreditError {
    CreditError::Invalid {
        field,
        message: message.into(),
    }
}

/// A grant's balance from its ledger (GRANTED and RESTORED add, the rest take away),
/// for a grant row `g`.
pub(super) const BALANCE: &str =
    "(SELECT coalesce(sum(CASE WHEN t.kind IN ('GRANTED', 'RESTORED') THEN t.amount ELSE -t.amount END), 0)
      FROM credit_transactions t WHERE t.org_id = g.org_id AND t.grant_id = g.id)";

#[cfg(test)]
mod tests {
    use super::{invalid, CreditError};
    use crate::error::{Classify, ErrorKind};

    #[test]
    fn credit_errors_are_classified() {
        assert_eq!(invalid("amount", "not positive").kind(), ErrorKind::Invalid);
        let not_found = CreditError::NotFound {
            org: "acme".into(),
            what: "account",
            id: "a9".into(),
        };
        assert_eq!(not_found.kind(), ErrorKind::NotFound);
        assert_eq!(not_found.to_string(), "organisation acme has no account a9");
        let wrong = CreditError::WrongStatus {
            id: "cg_1".into(),
            status: "VOIDED".into(),
            action: "void",
        };
        assert_eq!(wrong.kind(), ErrorKind::Conflict);
        assert_eq!(
            CreditError::Db(sqlx::Error::PoolTimedOut).kind(),
            ErrorKind::Unavailable
        );
    }
}
