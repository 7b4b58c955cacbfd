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
//! - [`error`]: validation errors that name the offending field.
#![warn(missing_docs)]

pub mod cycle;
pub mod error;
pub mod money;
pub mod period;

pub use error::FieldError;
pub use money::{Currency, Money, RoundingMode};
pub use period::Period;
