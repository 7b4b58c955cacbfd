//! What `deliver-chunk` decides, without I/O: who sends ([`from_address`]), whether
//! this is the job's last attempt ([`is_last_attempt`]), what an invoice's email
//! says ([`email_view`]), each delivery's Message-ID ([`message_id`]), what a
//! sending attempt's outcome means for its row ([`Attempt::of`]: sent, failed for
//! good, or deferred to the job's retry), and the job's result ([`Tally`]).

use lettre::message::Mailbox;
use serde_json::{json, Value};

use super::load::InvoiceRow;
use crate::mail::{EmailView, SendError};
use crate::store::status::InvoiceStatus;

/// The sender: `[mail] from` when configured, else the organisation's billing email
/// under its name (none if it has none or it is not an address: each message then
/// fails permanently). Errors: a configured `from` that is not an address
/// (`[mail] from "..." is not an address: ...`).
pub(super) fn from_address(
    configured: Option<&str>,
    org_name: &str,
    billing_email: Option<&str>,
) -> Result<Option<Mailbox>, String> {
    match configured {
        Some(f) => {
            Ok(Some(f.parse::<Mailbox>().map_err(|e| {
                format!("[mail] from {f:?} is not an address: {e}")
            })?))
        }
        None => Ok(billing_email
            .and_then(|a| a.trim().parse().ok())
            .map(|a| Mailbox::new(Some(org_name.to_string()), a))),
    }
}

/// Whether attempt `attempt` (1 for the first) of a job allowed `max_attempts` (at
/// least 1) is its last: then a transient failure fails the row too.
pub(super) fn is_last_attempt(attempt: u32, max_attempts: u32) -> bool {
    attempt >= max_attempts.max(1)
}

/// How an invoice is named in its email and errors: its number, else its id.
pub(super) fn number(inv: &InvoiceRow) -> String {
    inv.number.clone().unwrap_or_else(|| inv.id.clone())
}

/// What the email of `inv` says, from organisation `org_name`; `resend` marks a
/// copy (`billrun invoice resend`). Amounts and dates are written as the invoice's
/// PDF writes them (`billrun_render`): the total with its currency's symbol and
/// minor units (`"$1,234.50"`, `"¥1,235"`), dates as `"1 Feb 2026"`.
pub(super) fn email_view(org_name: &str, inv: &InvoiceRow, resend: bool) -> EmailView {
    EmailView {
        organisation: org_name.to_string(),
        account: inv.account_name.clone(),
        customer: inv.customer_name.clone(),
        number: number(inv),
        invoice_date: inv.invoice_date.map(day).unwrap_or_default(),
        due_date: inv.due_date.map(day),
        total: match billrun_core::Currency::parse(&inv.currency) {
            Ok(c) => billrun_render::format_money(inv.total, c),
            Err(_) => format!("{} {}", inv.total, inv.currency),
        },
        taxes: inv.net.map(|net| {
            let f = |d: rust_decimal::Decimal| match billrun_core::Currency::parse(&inv.currency) {
                Ok(c) => billrun_render::format_money(c.round(d, Default::default()), c),
                Err(_) => format!("{d} {}", inv.currency),
            };
            crate::mail::EmailTaxes {
                net: f(net),
                tax: f(inv.tax),
                gross: f(net + inv.tax),
            }
        }),
        tax_note: inv.tax_note.clone(),
        currency: inv.currency.clone(),
        paid: inv.status == InvoiceStatus::Paid,
        resend,
    }
}

/// A date as the invoice's documents write it: `"1 Feb 2026"`.
fn day(d: chrono::NaiveDate) -> String {
    billrun_render::Day::from(d).display.to_string()
}

/// A delivery's Message-ID: `<NUMBER.UNIQUE@DOMAIN>`, the number with every
/// character other than ASCII letters, digits and `-` replaced by `_`, `unique` (a
/// ULID) in lower case, the sender's domain (`billrun.invalid` without a sender).
pub(super) fn message_id(number: &str, unique: &str, from: Option<&Mailbox>) -> String {
    format!(
        "<{}.{}@{}>",
        number.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        unique.to_lowercase(),
        from.map(|m| m.email.domain().to_string())
            .unwrap_or_else(|| "billrun.invalid".into()),
    )
}

/// What one sending attempt means for its delivery row.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Attempt {
    /// The transport accepted the message: the row is SENT.
    Sent,
    /// Not sent, for good: the row is FAILED, never retried by the job (a
    /// `permanent` refusal, or a transient one on the job's last attempt).
    Failed {
        /// Why.
        error: String,
        /// Whether the refusal itself was permanent.
        permanent: bool,
    },
    /// Not sent for now: the row stays QUEUED and the job is retried (with backoff).
    Deferred {
        /// Why.
        error: String,
    },
}

impl Attempt {
    /// The meaning of a send's `result`, on the job's `last_attempt` or not.
    pub(super) fn of(result: Result<(), SendError>, last_attempt: bool) -> Attempt {
        match result {
            Ok(()) => Attempt::Sent,
            Err(e) if e.permanent || last_attempt => Attempt::Failed {
                error: e.message,
                permanent: e.permanent,
            },
            Err(e) => Attempt::Deferred { error: e.message },
        }
    }

    /// The attempt's outcome as recorded in `invoice_delivery_attempts`: SENT,
    /// FAILED or DEFERRED.
    pub(super) fn outcome(&self) -> &'static str {
        match self {
            Attempt::Sent => "SENT",
            Attempt::Failed { .. } => "FAILED",
            Attempt::Deferred { .. } => "DEFERRED",
        }
    }

    /// Why it was not sent (none when sent).
    pub(super) fn error(&self) -> Option<&str> {
        match self {
            Attempt::Sent => None,
            Attempt::Failed { error, .. } | Attempt::Deferred { error } => Some(error),
        }
    }
}

/// The job's counts so far, and the transient error that stopped it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Tally {
    /// Messages sent.
    pub sent: u64,
    /// Deliveries failed for good.
    pub failed: u64,
    /// Deliveries deferred (at most 1: the job stops at the first).
    pub deferred: u64,
    /// The error of the deferred delivery.
    pub transient: Option<String>,
}

impl Tally {
    /// Counts `attempt`; `true` when the job stops here: after a deferred delivery
    /// the server is likely unreachable for the others too, and the retry (with
    /// backoff) takes up where this one stopped.
    pub(super) fn count(&mut self, attempt: Attempt) -> bool {
        match attempt {
            Attempt::Sent => self.sent += 1,
            Attempt::Failed { .. } => self.failed += 1,
            Attempt::Deferred { error } => {
                self.deferred += 1;
                self.transient = Some(error);
                return true;
            }
        }
        false
    }

    /// The job's result, with the `queued` rows inserted for new recipients:
    /// `{"recipientsQueued", "sent", "failed", "deferred", "resend"}`; or, when a
    /// delivery was deferred, the (retryable) error `delivery deferred (N sent, M
    /// failed before it): ...`.
    pub(super) fn result(self, queued: u64, resend: bool) -> Result<Value, String> {
        if let Some(e) = self.transient {
            return Err(format!(
                "delivery deferred ({} sent, {} failed before it): {e}",
                self.sent, self.failed
            ));
        }
        Ok(json!({
            "recipientsQueued": queued,
            "sent": self.sent,
            "failed": self.failed,
            "deferred": self.deferred,
            "resend": resend,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn invoice(number: Option<&str>, status: InvoiceStatus) -> InvoiceRow {
        InvoiceRow {
            id: "01J0000000000000000000000A".into(),
            number: number.map(str::to_string),
            invoice_date: chrono::NaiveDate::from_ymd_opt(2026, 2, 1),
            due_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 3),
            total: dec!(699.00),
            currency: "USD".into(),
            status,
            account_name: "Main account".into(),
            customer_name: "Globex".into(),
            pdf: Some(vec![]),
            pdf_url: None,
            pdf_sha256: None,
            net: None,
            tax: dec!(0.00),
            tax_note: None,
        }
    }

    fn send_error(permanent: bool, message: &str) -> SendError {
        SendError {
            permanent,
            message: message.into(),
        }
    }

    #[test]
    fn the_sender_is_the_configured_from_else_the_billing_email_under_the_org_name() {
        let configured = from_address(Some("Billing <bills@acme.test>"), "Acme", Some("x@y.test"))
            .unwrap()
            .unwrap();
        assert_eq!(configured.to_string(), "Billing <bills@acme.test>");
        let fallback = from_address(None, "Acme & Sons", Some(" billing@acme.test "))
            .unwrap()
            .unwrap();
        assert_eq!(fallback.name.as_deref(), Some("Acme & Sons"));
        assert_eq!(fallback.email.to_string(), "billing@acme.test");
        assert_eq!(from_address(None, "Acme", None).unwrap(), None);
        assert_eq!(
            from_address(None, "Acme", Some("not an address")).unwrap(),
            None
        );
        let e = from_address(Some("nope"), "Acme", None).unwrap_err();
        assert!(
            e.starts_with("[mail] from \"nope\" is not an address: "),
            "{e}"
        );
    }

    #[test]
    fn the_last_attempt_is_the_configured_maximum_and_at_least_the_first() {
        assert!(!is_last_attempt(1, 3));
        assert!(is_last_attempt(3, 3));
        assert!(is_last_attempt(4, 3));
        assert!(is_last_attempt(1, 0));
        assert!(is_last_attempt(1, 1));
    }

    #[test]
    fn the_email_names_the_invoice_by_number_else_id_and_says_whether_it_is_paid() {
        let v = email_view(
            "Acme",
            &invoice(Some("INV-2026-0003"), InvoiceStatus::Due),
            false,
        );
        assert_eq!(
            (
                v.organisation.as_str(),
                v.account.as_str(),
                v.customer.as_str(),
                v.number.as_str(),
                v.invoice_date.as_str(),
                v.due_date.as_deref(),
                v.total.as_str(),
                v.currency.as_str(),
                v.paid,
                v.resend
            ),
            (
                "Acme",
                "Main account",
                "Globex",
                "INV-2026-0003",
                "1 Feb 2026",
                Some("3 Mar 2026"),
                "$699.00",
                "USD",
                false,
                false
            )
        );
        let v = email_view("Acme", &invoice(None, InvoiceStatus::Paid), true);
        assert_eq!(v.number, "01J0000000000000000000000A");
        assert!(v.paid && v.resend);
    }

    #[test]
    fn message_ids_keep_the_number_readable_and_take_the_senders_domain() {
        let from: Mailbox = "Acme <billing@acme.test>".parse().unwrap();
        assert_eq!(
            message_id("INV/2026 0001", "01JABCDEF", Some(&from)),
            "<INV_2026_0001.01jabcdef@acme.test>"
        );
        assert_eq!(
            message_id("INV-2026-0001", "01JABCDEF", None),
            "<INV-2026-0001.01jabcdef@billrun.invalid>"
        );
    }

    #[test]
    fn a_refusal_fails_for_good_when_permanent_or_on_the_last_attempt_else_defers() {
        assert_eq!(Attempt::of(Ok(()), false), Attempt::Sent);
        assert_eq!(
            Attempt::of(Err(send_error(true, "550 no such user")), false),
            Attempt::Failed {
                error: "550 no such user".into(),
                permanent: true
            }
        );
        assert_eq!(
            Attempt::of(Err(send_error(false, "connection refused")), true),
            Attempt::Failed {
                error: "connection refused".into(),
                permanent: false
            }
        );
        let deferred = Attempt::of(Err(send_error(false, "connection refused")), false);
        assert_eq!(
            deferred,
            Attempt::Deferred {
                error: "connection refused".into()
            }
        );
        assert_eq!(
            (Attempt::Sent.outcome(), Attempt::Sent.error()),
            ("SENT", None)
        );
        assert_eq!(
            (deferred.outcome(), deferred.error()),
            ("DEFERRED", Some("connection refused"))
        );
    }

    #[test]
    fn the_job_stops_at_the_first_deferred_delivery_and_is_retried() {
        let mut t = Tally::default();
        assert!(!t.count(Attempt::Sent));
        assert!(!t.count(Attempt::Failed {
            error: "550".into(),
            permanent: true
        }));
        assert_eq!(
            Tally::default().result(3, false),
            Ok(
                json!({"recipientsQueued": 3, "sent": 0, "failed": 0, "deferred": 0, "resend": false})
            )
        );
        let done = Tally {
            sent: 1,
            failed: 1,
            ..Default::default()
        };
        assert_eq!(
            done.result(0, true),
            Ok(
                json!({"recipientsQueued": 0, "sent": 1, "failed": 1, "deferred": 0, "resend": true})
            )
        );
        assert!(t.count(Attempt::Deferred {
            error: "timed out".into()
        }));
        assert_eq!(
            t.result(2, false),
            Err("delivery deferred (1 sent, 1 failed before it): timed out".to_string())
        );
    }
}
