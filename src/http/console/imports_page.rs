//! The console's "Imports" pages (issue 15, README "Console"): upload a CSV file
//! (customers and accounts, usage events, license quantities: the kinds of `POST
//! /billrun/imports` and `billrun import`), follow its progress, read its bad rows and
//! download its errors file.
//!
//! The upload form is `multipart/form-data` with the fields `kind`, `map` (optional,
//! `theirs=ours,...` as `--map`) and `file`; its CSRF token travels in the form's
//! action (`?csrf=`, see [`super::guard`]) since the body is streamed, never read
//! whole: to a temporary file, at most `[http] upload_limit_bytes`, then
//! [`crate::app::imports::upload`] as the API's (the header checked first, a refused
//! file storing nothing; audited `import.create`). The import's page reloads every 2
//! seconds until it is DONE or FAILED, and lists the first [`SHOWN_ERRORS`] bad rows
//! (`line 3, column timestamp: ...`); the errors file has them all (the file's header
//! plus `error`, each bad row as it was), as `GET /billrun/imports/{import_id}/errors`.
//! Another organisation's import answers 404.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::Utc;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::{page, ConsoleSession};
use crate::app::imports::{self as app, ImportOptions};
use crate::http::{audited, AppState, Change};
use crate::identity::Resource;
use crate::imports::report::{self, ImportDetail};
use crate::imports::store::{self, ImportView};
use crate::imports::{ImportError, ImportKind, Mapping};

/// The most imports the list shows (newest first).
pub const LIST_LIMIT: i64 = 20;
/// The most bad rows an import's page lists (the errors file has every one).
pub const SHOWN_ERRORS: usize = 100;

/// An import as the pages show it.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    kind: String,
    file_name: String,
    file_bytes: i64,
    bytes_loaded: i64,
    status: String,
    rows_read: i64,
    rows_imported: i64,
    rows_skipped: i64,
    rows_failed: i64,
    error: String,
    created: String,
    finished: bool,
    summary: String,
    job_id: String,
}

impl From<&ImportView> for Row {
    fn from(v: &ImportView) -> Row {
        Row {
            id: v.id.clone(),
            kind: v.kind.clone(),
            file_name: v.file_name.clone(),
            file_bytes: v.file_bytes,
            bytes_loaded: v.next_offset.min(v.file_bytes),
            status: v.status.as_str().to_string(),
            rows_read: v.rows_read,
            rows_imported: v.rows_imported,
            rows_skipped: v.rows_skipped,
            rows_failed: v.rows_failed,
            error: v.error.clone().unwrap_or_default(),
            created: v.created_at.format("%-d %b %Y %H:%M UTC").to_string(),
            finished: v.finished(),
            summary: v.summary(),
            job_id: v.job_id.clone().unwrap_or_default(),
        }
    }
}

/// `GET /console/imports`: the upload form and the latest imports.
#[utoipa::path(get, path = "/console/imports", tag = "console",
    responses((status = 200, description = "the imports page", content_type = "text/html", body = String)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
) -> Response {
    let found = match store::list(&state.pool, Some(&session.principal.org), LIST_LIMIT, None).await
    {
        Ok(p) => p,
        Err(e) => return super::error_page(&session, e),
    };
    let rows: Vec<Row> = found.rows.iter().map(Row::from).collect();
    let mut ctx = tera::Context::new();
    ctx.insert("imports", &rows);
    ctx.insert("can_write", &super::can_write(&session, Resource::Imports));
    ctx.insert(
        "kinds",
        &ImportKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
    );
    ctx.insert("limit_bytes", &state.config.http.upload_limit_bytes);
    page(StatusCode::OK, "imports.html", Some(&session), ctx)
}

/// What the upload form sent.
struct Upload {
    kind: String,
    map: String,
    /// The stored file, and its name as given.
    file: Option<(std::path::PathBuf, String)>,
}

/// Streams the form's parts: `kind` and `map` (short texts), `file` into `dir`
/// (at most `limit` bytes). Errors: a message naming the part.
async fn receive(
    mut multipart: Multipart,
    dir: &std::path::Path,
    limit: u64,
) -> Result<Upload, (StatusCode, String)> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        (e.status(), format!("the form's body: {}", e.body_text()))
    };
    let disk = |e: std::io::Error| {
        tracing::error!(error = %e, "writing a console upload to a temporary file");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the upload could not be stored; try again later".to_string(),
        )
    };
    let mut up = Upload {
        kind: String::new(),
        map: String::new(),
        file: None,
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "kind" | "map" => {
                let text = field.text().await.map_err(bad)?;
                if text.len() > 10_000 {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        format!("field {name}: at most 10,000 characters"),
                    ));
                }
                if name == "kind" {
                    up.kind = text;
                } else {
                    up.map = text;
                }
            }
            "file" if up.file.is_none() => {
                let given = field.file_name().unwrap_or("").to_string();
                let path = dir.join("upload.csv");
                let mut out = tokio::fs::File::create(&path).await.map_err(disk)?;
                let mut total: u64 = 0;
                while let Some(bytes) = field.chunk().await.map_err(bad)? {
                    total += bytes.len() as u64;
                    if total > limit {
                        return Err((
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "file: over [http] upload_limit_bytes ({limit} bytes): \
                                 split it or import it with `billrun import`"
                            ),
                        ));
                    }
                    out.write_all(&bytes).await.map_err(disk)?;
                }
                out.flush().await.map_err(disk)?;
                if total == 0 && given.is_empty() {
                    continue;
                }
                up.file = Some((path, given));
            }
            other => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("field {other:?}: expected kind, map and one file"),
                ))
            }
        }
    }
    Ok(up)
}

/// The name a file is kept as: its last path component, with only letters, digits,
/// `.`, `_` and `-` (`upload.csv` when nothing is left), as the API keeps it.
fn safe_name(given: &str) -> String {
    let base = given.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let clean = clean.trim_start_matches('.').to_string();
    if clean.is_empty() {
        "upload.csv".into()
    } else {
        clean
    }
}

/// `POST /console/imports`: stores the uploaded file and enqueues its import (as
/// `POST /billrun/imports`, audited `import.create`); the import's page after.
#[utoipa::path(post, path = "/console/imports", tag = "console",
    request_body(content = Vec<u8>, content_type = "multipart/form-data",
                 description = "kind, map (optional) and file"),
    responses((status = 303, description = "to the import's page; a 400 or 413 page", content_type = "text/html", body = String)))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let who = &session.principal;
    let refuse = |status: StatusCode, text: &str| {
        super::message(status, Some(&session), "The file was not imported", text)
    };
    let multipart = match multipart {
        Ok(m) => m,
        Err(r) => return refuse(r.status(), &r.body_text()),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "creating a temporary directory for an upload");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the upload could not be stored; try again later",
            );
        }
    };
    let up = match receive(multipart, dir.path(), state.config.http.upload_limit_bytes).await {
        Ok(u) => u,
        Err((status, text)) => return refuse(status, &text),
    };
    let kind = match ImportKind::parse(up.kind.trim()) {
        Ok(k) => k,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &format!("kind: {e}")),
    };
    let maps: Vec<String> = Some(up.map.trim().to_string())
        .filter(|m| !m.is_empty())
        .into_iter()
        .collect();
    let mapping = match Mapping::parse(&maps) {
        Ok(m) => m,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.replacen("--map", "map", 1)),
    };
    let Some((stored, given)) = up.file else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "file: required (choose a CSV file to upload)",
        );
    };
    // Kept under its own (cleaned) name: the import's file name is the path's.
    let file_name = safe_name(&given);
    let path = dir.path().join(&file_name);
    if let Err(e) = tokio::fs::rename(&stored, &path).await {
        tracing::error!(error = %e, "naming a console upload");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the upload could not be stored; try again later",
        );
    }
    let options = ImportOptions {
        mapping,
        max_attempts: state.config.retry.max_attempts,
    };
    let created = app::upload(&state.pool, &who.org, kind, &path, &options, Utc::now()).await;
    let object_id = created
        .as_ref()
        .map(|c| c.import_id.clone())
        .unwrap_or_else(|_| file_name.clone());
    let change = Change {
        action: "import.create",
        object_type: "import",
        object_id: &object_id,
    };
    let details = serde_json::json!({ "kind": kind.name(), "fileName": file_name });
    let created = audited(&state, who, change, details, created).await;
    drop(dir);
    match created {
        Ok(c) => Redirect::to(&format!("/console/imports/{}", c.import_id)).into_response(),
        Err(e) => super::error_page(&session, e),
    }
}

/// The import `id` if it is the session's organisation's, else a 404 page.
async fn own(
    state: &AppState,
    session: &ConsoleSession,
    id: &str,
) -> Result<ImportDetail, Response> {
    let org = &session.principal.org;
    let not_found = || {
        super::message(
            StatusCode::NOT_FOUND,
            Some(session),
            "Not found",
            &format!("organisation {org} has no import {id}"),
        )
    };
    match report::show(&state.pool, id).await {
        Ok(d) if d.view.org_id == org.as_str() => Ok(d),
        Ok(_) | Err(ImportError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(super::error_page(session, e)),
    }
}

/// A bad row as the page shows it.
#[derive(Debug, Serialize)]
struct Bad {
    line: i64,
    column: String,
    text: String,
}

/// `GET /console/imports/{import_id}`: the import's progress and bad rows; reloads
/// while it runs.
#[utoipa::path(get, path = "/console/imports/{import_id}", tag = "console",
    params(("import_id" = String, Path, description = "the import's id")),
    responses((status = 200, description = "the import's page; a 404 page", content_type = "text/html", body = String)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let detail = match own(&state, &session, &id).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let bad = match store::bad_rows(&state.pool, &detail.view.id).await {
        Ok(b) => b,
        Err(e) => return super::error_page(&session, e),
    };
    let shown: Vec<Bad> = bad
        .iter()
        .take(SHOWN_ERRORS)
        .map(|b| Bad {
            line: b.line,
            column: b.column_name.clone().unwrap_or_default(),
            text: b.describe(),
        })
        .collect();
    let job_gone = detail.job_state.is_some_and(|s| {
        matches!(
            s,
            crate::queue::admin::JobState::Dead | crate::queue::admin::JobState::Cancelled
        )
    });
    let mut row = Row::from(&detail.view);
    if row.error.is_empty() {
        row.error = detail.job_last_error.clone().unwrap_or_default();
    }
    let mut ctx = tera::Context::new();
    ctx.insert("running", &(!row.finished && !job_gone));
    ctx.insert("import", &row);
    ctx.insert(
        "job_state",
        &detail.job_state.map(|s| s.to_string()).unwrap_or_default(),
    );
    ctx.insert("bad", &shown);
    ctx.insert("bad_total", &bad.len());
    page(StatusCode::OK, "import.html", Some(&session), ctx)
}

/// `GET /console/imports/{import_id}/errors`: the errors file (`text/csv`), as `GET
/// /billrun/imports/{import_id}/errors`.
#[utoipa::path(get, path = "/console/imports/{import_id}/errors", tag = "console",
    params(("import_id" = String, Path, description = "the import's id")),
    responses((status = 200, description = "the errors file; a 404 page", content_type = "text/csv", body = String)))]
pub async fn errors(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    Path(id): Path<String>,
) -> Response {
    let detail = match own(&state, &session, &id).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    match report::errors_file(&state.pool, &detail.view.id).await {
        Ok(file) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}-errors.csv\"", file.import_id),
                ),
            ],
            file.csv,
        )
            .into_response(),
        Err(e) => super::error_page(&session, e),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn an_uploaded_name_keeps_only_safe_characters() {
        assert_eq!(safe_name("../january usage.csv"), "januaryusage.csv");
        assert_eq!(safe_name("C:\\x\\a.csv"), "a.csv");
        assert_eq!(safe_name(""), "upload.csv");
    }
}
