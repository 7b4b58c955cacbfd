//! Credits: grants, their ledger, expiry, and their application when invoices are
//! finalized.
//!
//! - A **grant** gives an account an amount in its invoice currency, usable from
//!   `effective_from` until `effective_until` (if any), with a priority and the lines it
//!   may pay. Grants come from an operator (`billrun credit grant`, the `credit-grant`
//!   job, idempotent per key) or from a plan's CREDIT_GRANT rate card on an invoice
//!   (when the invoice is finalized, or for PREPAID cards when it is paid).
//! - Every movement is a **ledger** transaction (GRANTED, CONSUMED on invoice X,
//!   EXPIRED, VOIDED); a balance is always derived from the ledger.
//! - At **finalization** the account's usable grants (valid at the finalization
//!   instant, ACTIVE, same currency) are locked and applied to the invoice's eligible
//!   lines by [`billrun_core::credits::apply`]; the invoice shows a credits line per
//!   grant and its total is reduced.
//! - **Credit notes** ([`credit_notes`]) correct finalized invoices: the balance due
//!   first, then credits (a grant here) or a recorded refund.

pub mod credit_notes;
mod invoice_void;
mod ledger;
mod sold;

pub use invoice_void::*;
pub use ledger::*;
pub use sold::*;
