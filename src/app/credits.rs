//! The credit operation that runs a job: an operator's grant, through the
//! `credit-grant` job (README "Credits"). Listing, balances, the ledger and voiding a
//! grant only read or write, and are [`crate::credits`]'s own functions.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::jobs::{self as job, JobFailure};
use crate::config::Config;
use crate::credits::{self, CreditError, GrantView, Granted, NewGrant};
use crate::error::{Classify, ErrorKind};
use crate::queue::JobKind;
use crate::store::OrgId;

/// How long a grant's job is waited for.
const GRANT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an operator's grant failed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The request was refused: a field, the account, its currency
    /// ([`CreditError`]), or the database.
    #[error(transparent)]
    Credit(#[from] CreditError),
    /// The `credit-grant` job failed or could not be waited for.
    #[error(transparent)]
    Job(#[from] JobFailure),
}

impl From<sqlx::Error> for GrantError {
    fn from(e: sqlx::Error) -> Self {
        GrantError::Credit(CreditError::Db(e))
    }
}

impl Classify for GrantError {
    fn kind(&self) -> ErrorKind {
        match self {
            GrantError::Credit(e) => e.kind(),
            GrantError::Job(e) => e.kind(),
        }
    }
}

/// What a grant request did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantOutcome {
    /// A new grant, or the one recorded before under the same idempotency key
    /// (nothing granted again).
    pub granted: Granted,
    /// That grant as listed (with its balance); none only if it was removed since.
    pub grant: Option<GrantView>,
}

/// Grants credits to an account of `org` as of `as_of`: the request is checked
/// ([`credits::check_grant`]: fields, account, currency, dates; a refusal writes
/// nothing), then recorded by the `credit-grant` job, run and waited for. Idempotent
/// per `grant.idempotency_key`. The grant is usable from its `effective_from`, else
/// `as_of`, until its `effective_until` (exclusive), if any.
pub async fn grant(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    grant: &NewGrant,
    as_of: DateTime<Utc>,
) -> Result<GrantOutcome, GrantError> {
    credits::check_grant(&mut *pool.acquire().await?, org, grant, as_of).await?;
    let payload = serde_json::json!({ "organisation": org, "grant": grant });
    let job = job::run_operation(
        pool,
        config,
        JobKind::CreditGrant,
        payload,
        org,
        as_of,
        GRANT_TIMEOUT,
    )
    .await?;
    let result = job.result.unwrap_or_default();
    let id = result["grantId"].as_str().unwrap_or_default().to_string();
    let view = credits::list(pool, org, None)
        .await?
        .into_iter()
        .find(|g| g.id == id);
    let granted = if result["outcome"] == "existing" {
        Granted::Existing(id)
    } else {
        Granted::New(id)
    };
    Ok(GrantOutcome {
        granted,
        grant: view,
    })
}

#[cfg(test)]
mod tests {
    use super::GrantError;
    use crate::app::jobs::JobFailure;
    use crate::credits::CreditError;
    use crate::error::{Classify, ErrorKind};

    #[test]
    fn grant_errors_are_classified() {
        let invalid = GrantError::from(CreditError::Invalid {
            field: "currency",
            message: "account a1 invoices in USD".into(),
        });
        assert_eq!(invalid.kind(), ErrorKind::Invalid);
        assert_eq!(invalid.to_string(), "currency: account a1 invoices in USD");
        assert_eq!(
            GrantError::from(sqlx::Error::PoolTimedOut).kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            GrantError::from(JobFailure::Wait("job j did not finish within 60s".into())).kind(),
            ErrorKind::Unavailable
        );
    }
}
