//! billrun
