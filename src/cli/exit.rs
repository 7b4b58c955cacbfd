//! Exit statuses, decided here and only here (README "Exit statuses").
//!
//! | status | meaning |
//! |---|---|
//! | 0 | the command did what it says |
//! | 1 | it was refused or failed: bad input (the message names the file, row or field), something missing, a conflict with the stored state, a job that did not end `done`, an import with rejected rows, the database or mail server unavailable |
//! | 2 | the command line itself was wrong (unknown flag, missing argument), as clap reports it |
//! | 130 | a wait was interrupted (Ctrl-C): the job goes on; the message says how to follow it |

use std::process::ExitCode;

use crate::error::{Classify, ErrorKind};

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

/// Whether `err` is an interrupted wait ([`crate::jobs::run::Interrupted`], or an
/// application error of that kind).
pub fn interrupted(err: &anyhow::Error) -> bool {
    kind(err) == Some(ErrorKind::Interrupted)
}

/// The kind of the first application error in `err`'s chain, if one is there.
pub fn kind(err: &anyhow::Error) -> Option<ErrorKind> {
    err.chain().find_map(|e| {
        if e.is::<crate::jobs::run::Interrupted>() {
            return Some(ErrorKind::Interrupted);
        }
        // Every application error type, so that each maps to its status here.
        macro_rules! kind_of {
            ($($t:ty),* $(,)?) => {
                $(if let Some(e) = e.downcast_ref::<$t>() {
                    return Some(e.kind());
                })*
            };
        }
        kind_of!(
            crate::app::jobs::JobsError,
            crate::app::imports::WaitError,
            crate::app::jobs::JobFailure,
            crate::app::invoices::InvoiceError,
            crate::app::credits::GrantError,
            crate::app::plan_migrations::PlanMigrationError,
            crate::bill_run::invoices::StatusError,
            crate::credits::CreditError,
            crate::catalog::CatalogError,
            crate::paging::ListError,
            crate::imports::ImportError,
            crate::documents::DocumentError,
            sqlx::Error,
        );
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::jobs::{JobFailure, JobsError};
    use crate::jobs::run::Interrupted;

    fn status(err: anyhow::Error) -> ExitCode {
        for_error(&err).0
    }

    #[test]
    fn an_interrupted_wait_is_130_however_it_is_wrapped_and_the_rest_is_1() {
        let interrupted = || Interrupted { job: "J".into() };
        assert_eq!(status(interrupted().into()), ExitCode::from(130));
        let wrapped = JobsError::from(JobFailure::from_wait(interrupted().into()));
        assert_eq!(status(wrapped.into()), ExitCode::from(130));
        let with_context =
            anyhow::Error::new(JobsError::from(JobFailure::from_wait(interrupted().into())))
                .context("importing");
        assert_eq!(status(with_context), ExitCode::from(130));
        assert_eq!(
            status(JobsError::NotFound("J".into()).into()),
            ExitCode::from(1)
        );
        assert_eq!(status(anyhow::anyhow!("anything")), ExitCode::from(1));
        let (_, message) = for_error(&JobsError::NotFound("J".into()).into());
        assert_eq!(message, "error: no job with id J");
    }

    #[test]
    fn a_refusal_is_printed_once_not_once_per_wrapper() {
        let field = billrun_core::FieldError::new("primaryEmail", "\"x\" is not an email address");
        let err = crate::catalog::CatalogError::from(field);
        let (code, message) = for_error(&err.into());
        assert_eq!(code, ExitCode::from(1));
        assert_eq!(
            message,
            "error: primaryEmail: \"x\" is not an email address"
        );
    }
}
