//! Integration tests: real PostgreSQL (a fresh database per test), the real
//! `billrun` binary as worker processes, nothing in the billing path mocked.

mod bench;
mod bill_run;
mod catalog;
mod credits;
mod delivery;
mod documents;
mod fixtures;
mod harness;
mod imports;
mod invoicing;
mod plan_migration;
mod plans;
mod queue;
mod restart;
mod safety;
mod schedule;
mod settings;
mod trials;
mod void;
