//! CSV imports over the API (README "HTTP API", "billrun's own routes"; README
//! "Bulk imports" for the rows): `POST /billrun/imports?kind=...` uploads a file as
//! `billrun import <kind> FILE` does, `GET /billrun/imports/{import_id}` follows it
//! (`billrun imports show`) and `GET /billrun/imports/{import_id}/errors` is its
//! errors file (`billrun imports errors`).
//!
//! The upload is `multipart/form-data` with one part named `file`. It is streamed to
//! a temporary file as it arrives (never held in memory whole; at most `[http]
//! upload_limit_bytes`, else 413), then handed to [`crate::app::imports::upload`]:
//! the same header check (a refused file is a 400 and stores nothing), the same
//! `csv-import` job run by the workers, the same row checks and errors file as the
//! command line. The answer is 202 with the import (status `PENDING`) and its job.
//! Imports are the caller's organisation's only: another organisation's import id
//! answers 404. Uploads are audited (`import.create`), SUCCESS or FAILURE.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::error::{ApiError, ErrorBody};
use super::extract::Params;
use super::{audited, AppState, Change};
use crate::app::imports::{self as app, ImportOptions};
use crate::identity::Principal;
use crate::imports::report::{self, ImportDetail};
use crate::imports::{ImportKind, Mapping};

/// The query of `POST /billrun/imports`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// `accounts` (or `customers`), `usage` (or `events`), `licenses`.
    pub kind: String,
    /// The file's own column names onto billrun's, `theirs=ours,...` (`ours` `-`
    /// ignores the column), as `--map`.
    pub map: Option<String>,
}

/// An import as answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportBody {
    /// Its id (a ULID).
    pub id: String,
    /// `accounts`, `usage` or `licenses`.
    pub kind: String,
    /// The file's name as uploaded.
    pub file_name: String,
    /// The file's size in bytes.
    pub file_bytes: i64,
    /// `PENDING`, `RUNNING`, `DONE` or `FAILED`.
    pub status: String,
    /// The `csv-import` job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's state (`pending`, `running`, `done`, `dead`, ...), while the queue
    /// keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_state: Option<String>,
    /// Bytes of the file loaded so far.
    pub bytes_loaded: i64,
    /// Data rows read.
    pub rows_read: i64,
    /// Rows that created or changed something.
    pub rows_imported: i64,
    /// Good rows that changed nothing (already recorded or unchanged).
    pub rows_skipped: i64,
    /// Bad rows: see `GET /billrun/imports/{import_id}/errors`.
    pub rows_failed: i64,
    /// Why the import as a whole failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the file was stored (UTC).
    pub created_at: DateTime<Utc>,
    /// When it ended (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<ImportDetail> for ImportBody {
    fn from(d: ImportDetail) -> ImportBody {
        let v = d.view;
        ImportBody {
            id: v.id,
            kind: v.kind,
            file_name: v.file_name,
            file_bytes: v.file_bytes,
            status: v.status.as_str().to_string(),
            job_id: v.job_id,
            job_state: d.job_state.and_then(|s| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
            }),
            bytes_loaded: v.next_offset,
            rows_read: v.rows_read,
            rows_imported: v.rows_imported,
            rows_skipped: v.rows_skipped,
            rows_failed: v.rows_failed,
            error: v.error.or(d.job_last_error),
            created_at: v.created_at,
            finished_at: v.finished_at,
        }
    }
}

/// The name a part's file is kept as: its last path component, with only letters,
/// digits, `.`, `_` and `-` (`upload.csv` when nothing is left).
fn safe_name(given: Option<&str>) -> String {
    let base = given
        .and_then(|n| n.rsplit(['/', '\\']).next())
        .unwrap_or("");
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

/// Streams the part `file` of `multipart` into `dir`; returns its path. Errors: not
/// multipart, no part `file`, another part (400), over `limit` bytes (413), the disk.
async fn receive(
    mut multipart: Multipart,
    dir: &std::path::Path,
    limit: u64,
) -> Result<std::path::PathBuf, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), format!("the multipart body: {}", e.body_text()))
    };
    let disk = |e: std::io::Error| {
        tracing::error!(error = %e, "writing an upload to a temporary file");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the upload could not be stored; try again later",
        )
    };
    let mut stored = None;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        if name != "file" || stored.is_some() {
            return Err(ApiError::invalid(format!(
                "part {name:?}: expected one part, named \"file\", holding the CSV file"
            )));
        }
        let path = dir.join(safe_name(field.file_name()));
        let mut out = tokio::fs::File::create(&path).await.map_err(disk)?;
        let mut total: u64 = 0;
        while let Some(bytes) = field.chunk().await.map_err(bad)? {
            total += bytes.len() as u64;
            if total > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the file is over [http] upload_limit_bytes ({limit} bytes)"),
                ));
            }
            out.write_all(&bytes).await.map_err(disk)?;
        }
        out.flush().await.map_err(disk)?;
        stored = Some(path);
    }
    stored.ok_or_else(|| {
        ApiError::invalid("no part named \"file\": send the CSV file as multipart/form-data")
    })
}

/// Uploads a CSV file as an import of `kind` (audited as `import.create`): its header
/// is checked, the file stored and its `csv-import` job enqueued, in one transaction;
/// the workers load it. Answers 202 with the import, `PENDING`.
#[utoipa::path(post, path = "/billrun/imports", tag = "billrun",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "multipart/form-data",
                 description = "one part named `file`: the CSV file"),
    responses(
        (status = 202, description = "stored, its job enqueued", body = ImportBody),
        (status = 400, description = "not multipart, a bad kind or map, a file refused (not CSV, bad header)", body = ErrorBody),
        (status = 403, description = "the role may not import", body = ErrorBody),
        (status = 413, description = "over [http] upload_limit_bytes", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Params(q): Params<UploadQuery>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<ImportBody>), ApiError> {
    let kind = ImportKind::parse(&q.kind).map_err(|e| ApiError::invalid(format!("kind: {e}")))?;
    let mapping = Mapping::parse(&q.map.clone().into_iter().collect::<Vec<_>>())
        .map_err(|e| ApiError::invalid(e.replacen("--map", "map", 1)))?;
    let multipart = multipart.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let dir = tempfile::tempdir().map_err(|e| {
        tracing::error!(error = %e, "creating a temporary directory for an upload");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the upload could not be stored; try again later",
        )
    })?;
    let received = receive(multipart, dir.path(), state.config.http.upload_limit_bytes).await;
    let file_name = received
        .as_ref()
        .ok()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let options = ImportOptions {
        mapping,
        max_attempts: state.config.retry.max_attempts,
    };
    let created = match received {
        Ok(path) => app::upload(&state.pool, &who.org, kind, &path, &options, Utc::now())
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let object_id = created
        .as_ref()
        .map(|c| c.import_id.clone())
        .unwrap_or_else(|_| file_name.clone());
    let created = audited(
        &state,
        &who,
        Change {
            action: "import.create",
            object_type: "import",
            object_id: &object_id,
        },
        serde_json::json!({ "kind": kind.name(), "fileName": file_name }),
        created,
    )
    .await?;
    drop(dir);
    let detail = report::show(&state.pool, &created.import_id).await?;
    Ok((StatusCode::ACCEPTED, Json(detail.into())))
}

/// The import `id` if it is the caller's organisation's, else 404.
async fn own(state: &AppState, who: &Principal, id: &str) -> Result<ImportDetail, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("organisation {} has no import {id:?}", who.org),
        )
    };
    match report::show(&state.pool, id).await {
        Ok(d) if d.view.org_id == who.org.as_str() => Ok(d),
        Ok(_) => Err(not_found()),
        Err(crate::imports::ImportError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// An import: its status and progress (rows read, imported, skipped, failed).
#[utoipa::path(get, path = "/billrun/imports/{import_id}", tag = "billrun",
    params(("import_id" = String, Path, description = "the import's id")),
    responses(
        (status = 200, description = "the import", body = ImportBody),
        (status = 404, description = "no such import in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ImportBody>, ApiError> {
    Ok(Json(own(&state, &who, &id).await?.into()))
}

/// An import's errors file (`text/csv`): the file's own header plus `error`, then
/// each bad row as it was plus its error (`line 3, column timestamp: ...`), as
/// `billrun imports errors` writes it. Only the header line when no row was bad.
#[utoipa::path(get, path = "/billrun/imports/{import_id}/errors", tag = "billrun",
    params(("import_id" = String, Path, description = "the import's id")),
    responses(
        (status = 200, description = "the errors file", content_type = "text/csv", body = String),
        (status = 404, description = "no such import in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn errors(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let detail = own(&state, &who, &id).await?;
    let file = report::errors_file(&state.pool, &detail.view.id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-errors.csv\"", file.import_id),
            ),
        ],
        file.csv,
    )
        .into_response())
}
