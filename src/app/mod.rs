//! The application layer: what an operator can do, once, for every front end.
//!
//! The CLI (`src/cli/`) and the HTTP API call these functions; they take typed
//! inputs (an [`OrgId`](crate::store::OrgId), parsed values, the instant to act as
//! of), return typed results or their area's error type (each implements
//! [`Classify`](crate::error::Classify)), print nothing and read no wall clock.
//!
//! Operations that only read or write the catalog, the ledger or the settings are the
//! areas' own public functions (`catalog::customers::create`,
//! `credits::grant`, ...): those are application functions already. The modules here
//! hold the operations that also run jobs through the queue (re-render, resend, void,
//! confirm a plan migration, import a file, enqueue and watch a job), which is why
//! this layer sits above `jobs`. And the few operations where a front end would
//! otherwise do work of its own around an area function (`users::invite`: the
//! invitation's defaults), so that the CLI and the API share it.

pub mod audit;
pub mod credit_notes;
pub mod credits;
pub mod dashboard;
pub mod imports;
pub mod invoices;
pub mod jobs;
pub mod org_jobs;
pub mod plan_migrations;
pub mod settings;
pub mod togai_jobs;
pub mod users;
