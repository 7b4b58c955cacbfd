//! The console's plan migration wizard (issue 15, README "Console"): the
//! organisation's migrations, and a new one in three steps.
//!
//! 1. **The form** (`GET /console/migrations`): the source plan and which of its
//!    versions (a number, `LATEST` or `ALL`), the target plan and version (empty: its
//!    latest ACTIVE one), one of the four modes (Togai's `migrationMode`) and whether
//!    to retain each account's start offset.
//! 2. **The confirmation** (`POST /console/migrations`, then the migration's page):
//!    the migration is created as the API's `POST /v2/price_plans/migration` with
//!    `requireConfirmation` (audited `plan_migration.create`), so nothing is done yet;
//!    its page lists the accounts it would take now
//!    ([`crate::plan_migration::affected_accounts`]) with **Confirm** and **Reject**
//!    (as `POST /jobs/{job_id}/confirm` and `/reject`, audited
//!    `plan_migration.confirm` and `plan_migration.reject`). A wizard left at this
//!    step leaves a migration awaiting confirmation (Togai's `/jobs` shows it
//!    WAITING_FOR_CONFIRMATION): reject it to discard it.
//! 3. **The progress**: once confirmed, its job runs in the workers; the page shows
//!    its accounts migrated / total and each account's entry (switch date, amount
//!    credited back, dropped overrides, or why it failed), reloading every 2 seconds
//!    while it is PENDING or RUNNING.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use billrun_core::plan_migration::MigrationMode;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{page, ConsoleSession};
use crate::app::plan_migrations::{self, MigrationRequest, Wait};
use crate::app::togai_jobs;
use crate::http::{audited, AppState, Change};
use crate::identity::Resource;
use crate::plan_migration::{self, MigrationView};
use crate::store::status::PlanMigrationStatus;

/// A mode as the form offers it.
#[derive(Debug, Serialize)]
struct Mode {
    value: &'static str,
    text: &'static str,
}

/// What each mode does (Togai's `migrationMode`; README "Plan migrations").
fn modes() -> Vec<Mode> {
    MigrationMode::ALL
        .iter()
        .map(|m| Mode {
            value: m.as_str(),
            text: match m {
                MigrationMode::Immediate => {
                    "Now: from the migration date, the account's overrides carried over"
                }
                MigrationMode::ImmediateIgnoreOverride => {
                    "Now, without overrides: from the migration date, overrides dropped"
                }
                MigrationMode::NextCycle => {
                    "Next cycle: from each account's next cycle start, overrides carried over"
                }
                MigrationMode::NextCycleIgnoreOverride => {
                    "Next cycle, without overrides: from each account's next cycle start, \
                     overrides dropped"
                }
            },
        })
        .collect()
}

/// A plan the form offers.
#[derive(Debug, Serialize)]
struct PlanOption {
    id: String,
    label: String,
}

/// A migration as the pages show it.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    source: String,
    target: String,
    mode: String,
    retain_start_offsets: bool,
    status: &'static str,
    created: String,
    total: i64,
    completed: i64,
    failed: i64,
    pending: i64,
}

impl From<&MigrationView> for Row {
    fn from(m: &MigrationView) -> Row {
        Row {
            id: m.id.clone(),
            source: match m.source_version {
                Some(v) => format!("{} version {v}", m.source_id),
                None => format!("{} (every version)", m.source_id),
            },
            target: format!("{} version {}", m.target_id, m.target_version),
            mode: m.migration_mode.clone(),
            retain_start_offsets: m.retain_start_offsets,
            status: m.status.as_str(),
            created: m.created_at.format("%-d %b %Y %H:%M UTC").to_string(),
            total: m.counts.total,
            completed: m.counts.completed,
            failed: m.counts.failed,
            pending: m.counts.pending,
        }
    }
}

/// `GET /console/migrations`: the migrations and, for the roles that may, the form.
#[utoipa::path(get, path = "/console/migrations", tag = "console",
    responses((status = 200, description = "the plan migrations page", content_type = "text/html", body = String)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
) -> Response {
    let org = &session.principal.org;
    let migrations = match plan_migration::list(&state.pool, org).await {
        Ok(m) => m,
        Err(e) => return super::error_page(&session, e),
    };
    let plans = match crate::catalog::plans::list_latest(&state.pool, org).await {
        Ok(p) => p,
        Err(e) => return super::error_page(&session, e),
    };
    let plans: Vec<PlanOption> = plans
        .iter()
        .map(|p| PlanOption {
            id: p.plan_id.clone(),
            label: format!(
                "{} ({}, latest version {} {})",
                p.plan_id,
                p.definition["name"].as_str().unwrap_or(""),
                p.version,
                p.status.as_str()
            ),
        })
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert(
        "migrations",
        &migrations.iter().map(Row::from).collect::<Vec<_>>(),
    );
    ctx.insert("plans", &plans);
    ctx.insert("modes", &modes());
    ctx.insert(
        "can_write",
        &super::can_write(&session, Resource::Schedules),
    );
    page(StatusCode::OK, "migration_new.html", Some(&session), ctx)
}

/// The wizard's form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MigrationForm {
    /// The plan accounts leave.
    #[serde(default)]
    pub source_id: String,
    /// A version number, `LATEST` or `ALL` (empty: `LATEST`).
    #[serde(default)]
    pub source_version: String,
    /// The plan they move to.
    #[serde(default)]
    pub target_id: String,
    /// Its version (empty: the latest ACTIVE one).
    #[serde(default)]
    pub target_version: String,
    /// One of the four modes.
    #[serde(default)]
    pub migration_mode: String,
    /// A checkbox: present (`on`) to keep each account's cycle alignment.
    #[serde(default)]
    pub retain_start_offsets: Option<String>,
}

impl MigrationForm {
    /// Togai's request, awaiting confirmation; a message naming the field else.
    pub fn request(&self) -> Result<MigrationRequest, String> {
        let required = |field: &str, v: &str| match v.trim() {
            "" => Err(format!("{field}: required (a price plan's id)")),
            v => Ok(v.to_string()),
        };
        let source_version = match self.source_version.trim() {
            "" | "LATEST" | "latest" => serde_json::json!("LATEST"),
            "ALL" | "all" => serde_json::json!("ALL"),
            v => match v.parse::<u32>() {
                Ok(n) => serde_json::json!(n),
                Err(_) => {
                    return Err(format!(
                        "source version {v:?}: expected a version number, LATEST or ALL"
                    ))
                }
            },
        };
        let target_version = match self.target_version.trim() {
            "" => None,
            v => Some(v.parse::<u32>().map_err(|_| {
                format!("target version {v:?}: expected a version number, or empty for the latest")
            })?),
        };
        Ok(MigrationRequest {
            source_id: required("source plan", &self.source_id)?,
            source_version: Some(source_version),
            target_id: required("target plan", &self.target_id)?,
            target_version,
            migration_mode: self.migration_mode.trim().to_string(),
            retain_start_offsets: self.retain_start_offsets.is_some(),
            require_confirmation: true,
        })
    }
}

/// `POST /console/migrations`: creates the migration, awaiting confirmation; its
/// page (the confirmation step) after.
#[utoipa::path(post, path = "/console/migrations", tag = "console",
    responses((status = 303, description = "to the migration's confirmation page; a 400, 404 or 409 page", content_type = "text/html", body = String)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Form(form): Form<MigrationForm>,
) -> Response {
    let who = &session.principal;
    let req = match form.request() {
        Ok(r) => r,
        Err(e) => {
            return super::message(
                StatusCode::BAD_REQUEST,
                Some(&session),
                "Please check the form",
                &e,
            )
        }
    };
    let details = serde_json::json!({
        "sourceId": &req.source_id, "targetId": &req.target_id,
        "migrationMode": &req.migration_mode, "requireConfirmation": true,
    });
    let created = match req.into_new() {
        Ok(new) => {
            plan_migrations::create(
                &state.pool,
                state.config.clone(),
                &who.org,
                &new,
                Utc::now(),
                Wait::No,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let id = created.as_ref().map(|m| m.id.clone()).unwrap_or_default();
    let change = Change {
        action: "plan_migration.create",
        object_type: "plan_migration",
        object_id: &id,
    };
    match audited(&state, who, change, details, created).await {
        Ok(m) => Redirect::to(&format!("/console/migrations/{}", m.id)).into_response(),
        Err(e) => super::error_page(&session, e),
    }
}

/// An account of the page: the one it would take, or its entry.
#[derive(Debug, Serialize)]
struct Account {
    id: String,
    source_version: i32,
    source_from: String,
    status: String,
    switch_date: String,
    credited: String,
    dropped: String,
    reason: String,
}

/// `GET /console/migrations/{migration_id}`: the confirmation step while it awaits
/// confirmation (the accounts it would take now), else its progress; reloads while
/// it is PENDING or RUNNING.
#[utoipa::path(get, path = "/console/migrations/{migration_id}", tag = "console",
    params(("migration_id" = String, Path, description = "the migration's id")),
    responses((status = 200, description = "the migration's page; a 404 page", content_type = "text/html", body = String)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let org = &session.principal.org;
    let m = match plan_migration::get(&state.pool, org, &id).await {
        Ok(m) => m,
        Err(e) => return super::error_page(&session, e),
    };
    let awaiting = m.status == PlanMigrationStatus::AwaitingConfirmation;
    let accounts: Vec<Account> = if awaiting {
        match plan_migration::affected_accounts(&state.pool, org, &id, Utc::now()).await {
            Ok(a) => a
                .into_iter()
                .map(|a| Account {
                    id: a.account_id,
                    source_version: a.source_version,
                    source_from: a.source_from.to_string(),
                    status: String::new(),
                    switch_date: String::new(),
                    credited: String::new(),
                    dropped: String::new(),
                    reason: String::new(),
                })
                .collect(),
            Err(e) => return super::error_page(&session, e),
        }
    } else {
        match plan_migration::entries(&state.pool, org, &id, None).await {
            Ok(entries) => entries
                .into_iter()
                .map(|e| Account {
                    id: e.account_id,
                    source_version: e.source_version,
                    source_from: e.source_from.to_string(),
                    status: e.status.as_str().to_string(),
                    switch_date: e.switch_date.map(|d| d.to_string()).unwrap_or_default(),
                    credited: e.credited.map(|c| c.to_string()).unwrap_or_default(),
                    dropped: e.dropped_overrides.join(", "),
                    reason: e.reason.unwrap_or_default(),
                })
                .collect(),
            Err(e) => return super::error_page(&session, e),
        }
    };
    let running = matches!(
        m.status,
        PlanMigrationStatus::Pending | PlanMigrationStatus::Running
    );
    let mut ctx = tera::Context::new();
    ctx.insert("migration", &Row::from(&m));
    ctx.insert("job_id", &m.job_id);
    ctx.insert("awaiting", &awaiting);
    ctx.insert("running", &running);
    ctx.insert("accounts", &accounts);
    ctx.insert(
        "can_write",
        &super::can_write(&session, Resource::Schedules),
    );
    page(StatusCode::OK, "migration.html", Some(&session), ctx)
}

/// Confirms (`true`) or rejects the migration `id`, audited as the API's.
async fn decide(state: &AppState, session: &ConsoleSession, id: &str, confirm: bool) -> Response {
    let who = &session.principal;
    let now = Utc::now();
    let done = if confirm {
        togai_jobs::confirm(&state.pool, state.config.clone(), &who.org, id, now).await
    } else {
        togai_jobs::reject(&state.pool, &who.org, id, now).await
    };
    let change = Change {
        action: if confirm {
            "plan_migration.confirm"
        } else {
            "plan_migration.reject"
        },
        object_type: "plan_migration",
        object_id: id,
    };
    match audited(state, who, change, serde_json::json!({}), done).await {
        Ok(_) => Redirect::to(&format!("/console/migrations/{id}")).into_response(),
        Err(e) => super::error_page(session, e),
    }
}

/// `POST /console/migrations/{migration_id}/confirm`: its job is enqueued and the
/// workers run it; its page (the progress) after.
#[utoipa::path(post, path = "/console/migrations/{migration_id}/confirm", tag = "console",
    params(("migration_id" = String, Path, description = "the migration's id")),
    responses((status = 303, description = "to the migration's page; a 404 or 409 page", content_type = "text/html", body = String)))]
pub async fn confirm(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    decide(&state, &session, &id, true).await
}

/// `POST /console/migrations/{migration_id}/reject`: it ends REJECTED, having done
/// nothing; its page after.
#[utoipa::path(post, path = "/console/migrations/{migration_id}/reject", tag = "console",
    params(("migration_id" = String, Path, description = "the migration's id")),
    responses((status = 303, description = "to the migration's page; a 404 or 409 page", content_type = "text/html", body = String)))]
pub async fn reject(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    decide(&state, &session, &id, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(source_version: &str, target_version: &str) -> MigrationForm {
        MigrationForm {
            source_id: " growth ".into(),
            source_version: source_version.into(),
            target_id: "scale".into(),
            target_version: target_version.into(),
            migration_mode: "NEXT_CYCLE".into(),
            retain_start_offsets: Some("on".into()),
        }
    }

    #[test]
    fn the_form_is_togais_request_awaiting_confirmation() {
        let r = form("", "").request().unwrap();
        assert_eq!(r.source_id, "growth");
        assert_eq!(r.source_version, Some(serde_json::json!("LATEST")));
        assert_eq!(r.target_version, None);
        assert!(r.retain_start_offsets && r.require_confirmation);
        let r = form("ALL", "2").request().unwrap();
        assert_eq!(r.source_version, Some(serde_json::json!("ALL")));
        assert_eq!(r.target_version, Some(2));
        assert_eq!(
            form("3", "").request().unwrap().source_version,
            Some(serde_json::json!(3))
        );
        assert_eq!(
            form("newest", "").request().unwrap_err(),
            "source version \"newest\": expected a version number, LATEST or ALL"
        );
        let mut f = form("", "");
        f.target_id = " ".into();
        assert_eq!(
            f.request().unwrap_err(),
            "target plan: required (a price plan's id)"
        );
    }
}
