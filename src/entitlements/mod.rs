//! Features and entitlements (README "Entitlements"; issue 17 items 1 and 2): the
//! organisation's features ([`features`]: id, names, the event schema attributes
//! whose sum is the feature's use), what a PREPAID entitlement card grants once its
//! invoice is paid ([`ledger`]), each feature's use over a cycle for the bill run,
//! and whether an account is entitled to a feature now ([`check`]).
//!
//! The allowance of a cycle is the plan's (IN_ADVANCE and IN_ARREARS
//! `billingEntitlementRateCards` that grant in it,
//! [`billrun_core::charges::plan_allowance`]) plus the ledger's PREPAID grants over
//! it; use beyond it is the overage the `entitlementOverageRateCards` rate at cycle
//! close (pure rating: [`billrun_core::charges`]). Errors are the catalog's
//! ([`crate::catalog::CatalogError`]: a field, a row not found in the organisation, a
//! conflict).

pub mod check;
pub mod features;
pub mod ledger;

pub use check::{entitlement, entitlements, Entitlement};
pub use features::{Feature, SchemaAssociation};
