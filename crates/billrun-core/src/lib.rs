//! The pure billing core of billrun.
//!
//! Plain data in, plain data out: no database, no clock, no I/O. Time is always a
//! parameter. Everything a bill run decides (what a cycle is, what a quantity costs,
//! what an invoice says, what number it gets) is decided here, so that it can be
//! tested exhaustively without a server.
//!
//! Modules:
//! - [`money`]: currencies, their minor units, amounts and rounding.
//! - [`cycle`]: pricing cycles (intervals, start offsets, anniversaries, timezones).
//! - [`period`]: half-open spans of local dates, proration by days.
//! - [`numbering`]: invoice number formats and their sequences.
//! - [`plan`]: Togai-shaped price plans (Price Plan V2 JSON), validated into types.
//! - [`rating`]: rate plans and slabs (TIERED/VOLUME, PER_UNIT/FLAT/PACKAGE, min/max).
//! - [`boundary`]: which cycles of a plan association to close and open, and invoice, as of an instant.
//! - [`charges`]: what each rate card charges for one cycle.
//! - [`invoice`]: the invoice line-item tree and its totals.
//! - [`credits`]: which credit grants pay which invoice lines.
//! - [`credit_note`]: what a credit note credits of an invoice, with its tax.
//! - [`tax`]: tax rates, treatments, and the tax per rate of an invoice.
//! - [`meter_logic`]: usage meter computations (JSON-logic matchers and computations).
//! - [`error`]: validation errors that name the offending field.
//! - `testing` (tests only, or the `testing` feature): dates written as text in tests.
#![warn(missing_docs)]

pub mod boundary;
pub mod charges;
pub mod credit_note;
pub mod credits;
pub mod cycle;
pub mod error;
pub mod invoice;
pub mod meter_logic;
pub mod money;
pub mod numbering;
pub mod overrides;
pub mod period;
pub mod plan;
pub mod plan_migration;
pub mod pricing_rules;
pub mod rate_card_ops;
pub mod rating;
pub mod tax;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::FieldError;
pub use money::{Currency, Money, RoundingMode};
pub use period::Period;
