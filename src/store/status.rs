//! The stored states of billrun's objects, as enums: each is a `TEXT` column with a
//! `CHECK` constraint in `migrations/`, read and written through `sqlx::Type`. A value
//! the binary does not know (a newer schema, a hand edit) fails to decode with an
//! error naming it: it is never silently mapped to another state.
//!
//! The names are the stored values (`"DUE"`), which are also what `--json` prints and
//! what Togai's API uses.

use std::fmt;
use std::str::FromStr;

/// Defines a status enum whose variants are stored, printed and serialised as the
/// given strings.
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[sqlx(type_name = "text")]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $text)]
                #[sqlx(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            /// Every state, in the order of the lifecycle.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored value, e.g. `"DUE"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            /// Parses a stored or typed value (exact, upper case); the error lists
            /// the known values.
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "{s:?} is not a status: expected one of {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

status_enum! {
    /// An invoice's state (`invoices.status`). DRAFT until finalized (numbered),
    /// then DUE, PAID (by `invoice mark-paid`, or at finalization when nothing is
    /// due) or VOID; MERGED: a draft whose lines went into another invoice of the
    /// same account and date (`merged_into`).
    InvoiceStatus {
        /// Not finalized: no number, amounts may still change.
        Draft = "DRAFT",
        /// Finalized and awaiting payment.
        Due = "DUE",
        /// Paid in full (or nothing to pay).
        Paid = "PAID",
        /// Cancelled; keeps its number.
        Void = "VOID",
        /// Its lines are on another invoice (`merged_into`).
        Merged = "MERGED",
    }
}

status_enum! {
    /// A billing cycle's state (`billing_cycles.status`).
    CycleStatus {
        /// Open: usage may still arrive; closed by the bill run at its end.
        Open = "OPEN",
        /// Closed: its draft invoice is written.
        Closed = "CLOSED",
    }
}

status_enum! {
    /// One email delivery's state (`invoice_deliveries.status`).
    DeliveryStatus {
        /// Waiting to be sent (or to be tried again).
        Queued = "QUEUED",
        /// Accepted by the mail server (or written to the outbox).
        Sent = "SENT",
        /// Refused for good, or out of attempts.
        Failed = "FAILED",
    }
}

status_enum! {
    /// A credit grant's state (`credit_grants.status`).
    GrantStatus {
        /// May pay invoices.
        Active = "ACTIVE",
        /// Used up.
        Consumed = "CONSUMED",
        /// Past its `effectiveUntil`; the rest expired.
        Expired = "EXPIRED",
        /// Voided by an operator (or by the void of the invoice that sold it).
        Voided = "VOIDED",
    }
}

status_enum! {
    /// A CSV import's state (`imports.status`).
    ImportStatus {
        /// Stored, its job not started.
        Pending = "PENDING",
        /// Being loaded.
        Running = "RUNNING",
        /// Finished: every row imported or reported.
        Done = "DONE",
        /// Could not run (e.g. an unreadable file).
        Failed = "FAILED",
    }
}

status_enum! {
    /// A plan migration's state (`plan_migrations.status`), Togai's names.
    PlanMigrationStatus {
        /// Created; its accounts listed for review (`migration confirm` / `reject`).
        AwaitingConfirmation = "AWAITING_CONFIRMATION",
        /// Rejected: never runs.
        Rejected = "REJECTED",
        /// Confirmed, its job not started.
        Pending = "PENDING",
        /// Migrating accounts.
        Running = "RUNNING",
        /// Every entry COMPLETED or FAILED.
        Completed = "COMPLETED",
    }
}

status_enum! {
    /// One account's entry in a plan migration (`plan_migration_entries.status`).
    PlanMigrationEntryStatus {
        /// Not migrated yet.
        Pending = "PENDING",
        /// Migrated.
        Completed = "COMPLETED",
        /// Refused, with its reason.
        Failed = "FAILED",
    }
}

status_enum! {
    /// Whether an event schema or a usage meter is in use (Togai's `ACTIVE` /
    /// `INACTIVE`; README "HTTP API", "Event schemas and usage meters"). An INACTIVE
    /// schema accepts no events; an INACTIVE meter cannot be named by a plan being
    /// finalized.
    CatalogStatus {
        /// In use: the state a schema or meter is created in.
        Active = "ACTIVE",
        /// Switched off (`deactivate`), until activated again.
        Inactive = "INACTIVE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_value_is_refused_with_the_known_ones_in_words_not_type_names() {
        assert_eq!(
            "bogus".parse::<InvoiceStatus>().unwrap_err(),
            "\"bogus\" is not a status: expected one of DRAFT, DUE, PAID, VOID, MERGED"
        );
    }

    #[test]
    fn values_round_trip_and_unknown_ones_are_errors() {
        for s in InvoiceStatus::ALL {
            assert_eq!(s.as_str().parse::<InvoiceStatus>().unwrap(), *s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        let e = "OVERDUE".parse::<InvoiceStatus>().unwrap_err();
        assert!(
            e.contains("OVERDUE") && e.contains("DRAFT, DUE, PAID, VOID, MERGED"),
            "{e}"
        );
        assert!("due".parse::<InvoiceStatus>().is_err());
        assert_eq!(GrantStatus::Voided.to_string(), "VOIDED");
    }
}
