//! billrun: a self-hosted, usage-based billing worker on Postgres.
//!
//! The pure billing core is the crate `billrun-core` (re-exported as [`core`]);
//! this crate is the shell around it: configuration, storage, the job queue and its
//! workers, the jobs, and the `billrun` command.

pub use billrun_core as core;

pub mod app;
pub mod bench;
pub mod bill_run;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod credits;
pub mod demo;
pub mod documents;
pub mod entitlements;
pub mod error;
pub mod http;
pub mod identity;
pub mod imports;
pub mod jobs;
pub mod mail;
pub mod paging;
pub mod plan_migration;
pub mod queue;
pub mod store;
pub mod timing;
