//! Integration tests: real PostgreSQL (a fresh database per test), the real
//! `billrun` binary as worker processes, nothing in the billing path mocked.

mod harness;
mod catalog;
mod queue;
mod restart;
