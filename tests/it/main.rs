//! Integration tests: real PostgreSQL (a fresh database per test), the real
//! `billrun` binary as worker processes, nothing in the billing path mocked.

mod bill_run;
mod catalog;
mod credits;
mod database;
mod delivery;
mod documents;
mod fixtures;
mod harness;
mod imports;
mod invoicing;
mod json_names;
mod listing;
mod migrations;
mod plans;
mod queue;
mod restart;
mod safety;
mod schedule;
mod settings;
mod trials;
mod void;
