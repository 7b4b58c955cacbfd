//! Integration tests: real PostgreSQL (a fresh database per test), the real
//! `billrun` binary as worker processes, nothing in the billing path mocked.

mod architecture;
mod audit_cli;
mod bench;
mod bill_run;
mod catalog;
mod credits;
mod database;
mod dates;
mod delivery;
mod demo;
mod documents;
mod entitlements;
mod env;
mod fixtures;
mod golden_plans_entitlements;
mod harness;
mod http;
mod identity;
mod imports;
mod invoicing;
mod json_names;
mod listing;
mod meter_cli;
mod plan_migration;
mod plans;
mod queue;
mod restart;
mod safety;
mod schedule;
mod settings;
mod steps;
mod taxes;
mod trials;
mod void;
