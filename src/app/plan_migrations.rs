//! Plan migrations as an operator runs them: create one (its job enqueued at once, or
//! awaiting confirmation), confirm it, reject it, optionally waiting in this process
//! until its `plan-migration` job and everything it enqueued have finished.
//!
//! Togai's migration request ([`MigrationRequest`]: the `--file` of `billrun
//! migrations create`, the API's request body) is parsed here too. Reading a
//! migration (`show`, `list`, `entries`) is [`crate::plan_migration`]'s own
//! [`get`](crate::plan_migration::get), [`list`](crate::plan_migration::list) and
//! [`entries`](crate::plan_migration::entries).

use std::sync::Arc;
use std::time::Duration;

use billrun_core::plan_migration::MigrationMode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::catalog::CatalogError;
use crate::config::Config;
use crate::error::{Classify, ErrorKind};
use crate::jobs::run::Interrupted;
use crate::plan_migration::{self, MigrationView, NewMigration, SourceVersion};
use crate::queue::admin::JobState;
use crate::store::OrgId;

/// How long [`Wait::Here`] waits for a migration's job before failing.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Whether an operation returns once the migration's job is enqueued, or runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Return at once: workers run the job.
    No,
    /// Run the job (and what it enqueues) in this process until it has finished, at
    /// most [`WAIT_TIMEOUT`]; the migration is returned as it then stands.
    Here,
}

/// Why a plan-migration operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanMigrationError {
    /// The request was wrong (a mode or a source version that is none); the message
    /// names the field and what was expected.
    #[error("{0}")]
    Invalid(String),
    /// Refused by the stored state: an unknown organisation, plan, version or
    /// migration, a target that is not ACTIVE, a migration not awaiting confirmation
    /// (module [`crate::plan_migration`]), or the database.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// [`Wait::Here`]: the migration's job finished but is not done (dead or
    /// cancelled), with its last error.
    #[error("the plan-migration job {job} is {state}: {error}")]
    JobNotDone {
        /// The job's id.
        job: String,
        /// How it ended.
        state: JobState,
        /// Its last error (empty if none was recorded).
        error: String,
    },
    /// [`Wait::Here`]: the wait was interrupted (Ctrl-C); the job goes on in the queue.
    #[error("{0}")]
    Interrupted(#[source] Interrupted),
    /// [`Wait::Here`]: waiting failed (timed out, a job it enqueued is dead, the
    /// database); the message is the whole cause chain.
    #[error("{0:#}")]
    Wait(anyhow::Error),
}

impl Classify for PlanMigrationError {
    /// Invalid requests are [`ErrorKind::Invalid`]; the catalog's refusals keep their
    /// kind (not found, conflict, the database unavailable); an interrupted wait is
    /// [`ErrorKind::Interrupted`]; a job that did not end done or a failed wait are
    /// [`ErrorKind::Unavailable`] (the migration itself is recorded and may be
    /// followed or confirmed again).
    fn kind(&self) -> ErrorKind {
        match self {
            PlanMigrationError::Invalid(_) => ErrorKind::Invalid,
            PlanMigrationError::Catalog(e) => e.kind(),
            PlanMigrationError::Interrupted(_) => ErrorKind::Interrupted,
            PlanMigrationError::JobNotDone { .. } | PlanMigrationError::Wait(_) => {
                ErrorKind::Unavailable
            }
        }
    }
}

/// Result of plan-migration operations.
pub type Result<T, E = PlanMigrationError> = std::result::Result<T, E>;

/// Togai's migration request: `{"sourceId", "sourceVersion" (a number, "LATEST" or
/// "ALL"; absent or null = "LATEST"), "targetId", "targetVersion" (absent = the
/// latest ACTIVE), "migrationMode", "retainStartOffsets", "requireConfirmation"}`;
/// unknown fields are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MigrationRequest {
    /// The plan accounts leave.
    pub source_id: String,
    /// Which of its versions (raw: checked by [`Self::into_new`]).
    #[serde(default)]
    pub source_version: Option<Value>,
    /// The plan they move to.
    pub target_id: String,
    /// Its version.
    #[serde(default)]
    pub target_version: Option<u32>,
    /// One of [`MigrationMode::ALL`]'s names.
    pub migration_mode: String,
    /// Keep each account's cycle alignment.
    #[serde(default)]
    pub retain_start_offsets: bool,
    /// Wait for a confirmation before doing anything.
    #[serde(default)]
    pub require_confirmation: bool,
}

impl MigrationRequest {
    /// Parses the request's JSON text.
    ///
    /// Errors: [`PlanMigrationError::Invalid`] with the JSON error (line and column).
    pub fn parse(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| PlanMigrationError::Invalid(e.to_string()))
    }

    /// The migration it asks for, with no migration instant (it is fixed when the job
    /// starts) and the default chunk size.
    ///
    /// Errors: [`PlanMigrationError::Invalid`] for a `sourceVersion` that is not a
    /// version number, "LATEST" or "ALL" (checked first), or a `migrationMode` that
    /// is not a mode.
    pub fn into_new(self) -> Result<NewMigration> {
        let source_version = match &self.source_version {
            None | Some(Value::Null) => SourceVersion::Latest,
            Some(Value::String(s)) if s == "LATEST" => SourceVersion::Latest,
            Some(Value::String(s)) if s == "ALL" => SourceVersion::All,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => SourceVersion::Version(n),
                None => {
                    return Err(PlanMigrationError::Invalid(format!(
                        "sourceVersion {v} is not a version: expected a number, \"LATEST\" or \
                         \"ALL\""
                    )))
                }
            },
        };
        Ok(NewMigration {
            source_plan: self.source_id,
            source_version,
            target_plan: self.target_id,
            target_version: self.target_version,
            mode: parse_mode(&self.migration_mode)?,
            retain_start_offsets: self.retain_start_offsets,
            require_confirmation: self.require_confirmation,
            effective_at: None,
            chunk_size: None,
        })
    }
}

/// Parses a `migrationMode` (IMMEDIATE, IMMEDIATE_IGNORE_OVERRIDE, NEXT_CYCLE or
/// NEXT_CYCLE_IGNORE_OVERRIDE).
///
/// Errors: [`PlanMigrationError::Invalid`] naming the value and the modes.
pub fn parse_mode(s: &str) -> Result<MigrationMode> {
    MigrationMode::parse(s).ok_or_else(|| {
        let all: Vec<&str> = MigrationMode::ALL.iter().map(|m| m.as_str()).collect();
        PlanMigrationError::Invalid(format!(
            "migrationMode {s:?} is not a mode: expected one of {}",
            all.join(", ")
        ))
    })
}

/// Creates a migration in `org`, requested at `now` ([`plan_migration::create`]):
/// its job is enqueued at once (acting as of `now`) unless it requires confirmation.
/// With [`Wait::Here`] the job is run here until it has finished and the migration is
/// returned as it then stands (nothing is waited for while it awaits confirmation).
pub async fn create(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    m: &NewMigration,
    now: DateTime<Utc>,
    wait: Wait,
) -> Result<MigrationView> {
    let attempts = config.retry.max_attempts;
    let view = plan_migration::create(pool, attempts, org, m, now).await?;
    finish(pool, config, org, view, wait).await
}

/// Confirms a migration awaiting confirmation, at `now` ([`plan_migration::confirm`]):
/// its job is enqueued (acting as of `now`), and with [`Wait::Here`] run here until it
/// has finished.
pub async fn confirm(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    id: &str,
    now: DateTime<Utc>,
    wait: Wait,
) -> Result<MigrationView> {
    let attempts = config.retry.max_attempts;
    let view = plan_migration::confirm(pool, attempts, org, id, now).await?;
    finish(pool, config, org, view, wait).await
}

/// Rejects a migration awaiting confirmation, at `now` ([`plan_migration::reject`]):
/// it ends REJECTED, having enqueued nothing.
pub async fn reject(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<MigrationView> {
    Ok(plan_migration::reject(pool, org, id, now).await?)
}

/// With [`Wait::Here`] and a job enqueued: runs the job here until it has finished
/// and reads the migration again.
async fn finish(
    pool: &PgPool,
    config: Arc<Config>,
    org: &OrgId,
    view: MigrationView,
    wait: Wait,
) -> Result<MigrationView> {
    let (Wait::Here, Some(job)) = (wait, &view.job_id) else {
        return Ok(view);
    };
    let done = crate::jobs::run::wait_for_job(pool, config, job, WAIT_TIMEOUT)
        .await
        .map_err(|e| match e.downcast::<Interrupted>() {
            Ok(i) => PlanMigrationError::Interrupted(i),
            Err(e) => PlanMigrationError::Wait(e),
        })?;
    if done.state != JobState::Done {
        return Err(PlanMigrationError::JobNotDone {
            job: job.clone(),
            state: done.state,
            error: done.last_error.unwrap_or_default(),
        });
    }
    Ok(plan_migration::get(pool, org, &view.id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_kind_of_failure_they_are() {
        let invalid = parse_mode("LATER").unwrap_err();
        assert_eq!(invalid.kind(), ErrorKind::Invalid);
        assert_eq!(
            invalid.to_string(),
            "migrationMode \"LATER\" is not a mode: expected one of IMMEDIATE, \
             IMMEDIATE_IGNORE_OVERRIDE, NEXT_CYCLE, NEXT_CYCLE_IGNORE_OVERRIDE"
        );
        let not_found = PlanMigrationError::from(CatalogError::NotFound {
            what: "plan migration",
            org: "acme".into(),
            id: "mig_1".into(),
        });
        assert_eq!(not_found.kind(), ErrorKind::NotFound);
        let conflict = PlanMigrationError::from(CatalogError::Conflict(
            "plan migration mig_1 is REJECTED".into(),
        ));
        assert_eq!(conflict.kind(), ErrorKind::Conflict);
        let database = PlanMigrationError::from(CatalogError::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(database.kind(), ErrorKind::Unavailable);
        let dead = PlanMigrationError::JobNotDone {
            job: "j1".into(),
            state: JobState::Dead,
            error: "boom".into(),
        };
        assert_eq!(dead.kind(), ErrorKind::Unavailable);
        assert_eq!(dead.to_string(), "the plan-migration job j1 is dead: boom");
        let interrupted = PlanMigrationError::Interrupted(Interrupted { job: "j1".into() });
        assert_eq!(interrupted.kind(), ErrorKind::Interrupted);
        // The interruption stays in the cause chain (the CLI exits with 130 for it).
        let chain = anyhow::Error::from(interrupted);
        assert!(chain
            .chain()
            .any(|e| e.downcast_ref::<Interrupted>().is_some()));
        let wait = PlanMigrationError::Wait(
            anyhow::anyhow!("connection reset").context("job j1 did not finish"),
        );
        assert_eq!(wait.kind(), ErrorKind::Unavailable);
        assert_eq!(wait.to_string(), "job j1 did not finish: connection reset");
    }

    #[test]
    fn a_togai_request_becomes_a_migration_or_names_its_wrong_field() {
        let m = MigrationRequest::parse(
            r#"{"sourceId": "growth", "sourceVersion": 2, "targetId": "pro",
                "migrationMode": "NEXT_CYCLE", "requireConfirmation": true}"#,
        )
        .unwrap()
        .into_new()
        .unwrap();
        assert_eq!(m.source_version, SourceVersion::Version(2));
        assert_eq!(m.target_version, None);
        assert_eq!(m.mode, MigrationMode::NextCycle);
        assert!(m.require_confirmation && !m.retain_start_offsets);
        for (v, expected) in [
            ("null", SourceVersion::Latest),
            ("\"LATEST\"", SourceVersion::Latest),
            ("\"ALL\"", SourceVersion::All),
        ] {
            let text = format!(
                r#"{{"sourceId": "a", "sourceVersion": {v}, "targetId": "b",
                    "migrationMode": "IMMEDIATE"}}"#
            );
            let m = MigrationRequest::parse(&text).unwrap().into_new().unwrap();
            assert_eq!(m.source_version, expected);
        }
        let bad = MigrationRequest::parse(
            r#"{"sourceId": "a", "sourceVersion": 1.5, "targetId": "b",
                "migrationMode": "SOON"}"#,
        )
        .unwrap()
        .into_new()
        .unwrap_err();
        assert_eq!(
            bad.to_string(),
            "sourceVersion 1.5 is not a version: expected a number, \"LATEST\" or \"ALL\""
        );
        assert_eq!(bad.kind(), ErrorKind::Invalid);
        let unknown = MigrationRequest::parse(
            r#"{"sourceId": "a", "targetId": "b", "migrationMode": "IMMEDIATE", "x": 1}"#,
        )
        .unwrap_err();
        assert_eq!(unknown.kind(), ErrorKind::Invalid);
    }
}
