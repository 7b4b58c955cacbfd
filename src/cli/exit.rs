//! Exit statuses, decided here and only here (README "Exit statuses").
//!
//! | status | meaning |
//! |---|---|
//! | 0 | the command did what it says |
//! | 1 | it was refused or failed: bad input (the message names the file, row or field), something missing, a conflict with the stored state, a job that did not end `done`, an import with rejected rows, the database or mail server unavailable |
//! | 2 | the command line itself was wrong (unknown flag, missing argument), as clap reports it |
//! | 130 | a wait was interrupted (Ctrl-C): the job goes on; the message says how to follow it |

use std::process::ExitCode;

/// The status of a command that was refused or failed.
pub const FAILED: u8 = 1;
/// The status of an interrupted wait (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// The exit status for an error a command returned, and the text to print on stderr.
pub fn for_error(err: &anyhow::Error) -> (ExitCode, String) {
    if interrupted(err) {
        return (ExitCode::from(INTERRUPTED), format!("{err}"));
    }
    (ExitCode::from(FAILED), format!("error: {err:#}"))
}

/// Whether `err` is, or was caused by, an interrupted wait ([`crate::jobs::run::Interrupted`]).
pub fn interrupted(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<crate::jobs::run::Interrupted>().is_some())
}
