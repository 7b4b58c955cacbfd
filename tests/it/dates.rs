//! Instants written as text in tests: the workspace's one date helper
//! (`billrun_core::testing`, which the crates' unit tests use too).

pub use billrun_core::testing::utc;
