//! Logos: checked before they are stored, every upload an immutable version, and the
//! organisation's current logo set or removed (never touching a version a document
//! used).

use billrun_render::Logo;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{base_name, ensure_org, lock_settings};
use crate::documents::DocumentError;
use crate::store::OrgId;

/// The rules a logo file must meet, for error messages.
pub const LOGO_RULES: &str = "a PNG or JPEG file of at most 1 MiB, each side 16 to 2000 px";

/// A stored logo version, without its bytes.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct LogoInfo {
    /// 1, 2, ... per organisation.
    pub version: i32,
    /// The uploaded file's name.
    pub file_name: String,
    /// `png` or `jpeg`.
    pub format: String,
    /// Pixels.
    pub width: i32,
    /// Pixels.
    pub height: i32,
    /// Bytes.
    pub size: i32,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
}

/// Checks a logo file; the error ([`DocumentError::Invalid`]) names the file and what
/// was expected.
pub fn check_logo(file_name: &str, bytes: &[u8]) -> Result<Logo, DocumentError> {
    Logo::from_bytes(bytes).map_err(|e| {
        DocumentError::Invalid(format!(
            "logo file {file_name} refused: {e} (expected {LOGO_RULES})"
        ))
    })
}

/// Stores `bytes` (checked first; `file_name` as uploaded, its last component is
/// kept) as the organisation's new current logo, the next version. Errors: the file
/// refused (Invalid), no such organisation (NotFound), the database.
pub async fn set_logo(
    pool: &PgPool,
    org: &OrgId,
    file_name: &str,
    bytes: &[u8],
) -> Result<LogoInfo, DocumentError> {
    let logo = check_logo(file_name, bytes)?;
    ensure_org(pool, org).await?;
    let format = match logo.format() {
        billrun_render::LogoFormat::Png => "png",
        billrun_render::LogoFormat::Jpeg => "jpeg",
    };
    let file_name = base_name(file_name);
    let mut tx = pool.begin().await?;
    lock_settings(&mut tx, org).await?;
    let info: LogoInfo = sqlx::query_as(
        "INSERT INTO organisation_logos (org_id, version, file_name, format, width, height, bytes)
         SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4, $5, $6
         FROM organisation_logos WHERE org_id = $1
         RETURNING version, file_name, format, width, height, octet_length(bytes) AS size, uploaded_at",
    )
    .bind(org)
    .bind(file_name)
    .bind(format)
    .bind(logo.width() as i32)
    .bind(logo.height() as i32)
    .bind(bytes)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE document_settings SET logo_version = $2, updated_at = now() WHERE org_id = $1",
    )
    .bind(org)
    .bind(info.version)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// The organisation's current logo and its bytes (`None`: it has none). Errors: no
/// such organisation (NotFound), the database.
pub async fn current_logo(
    pool: &PgPool,
    org: &OrgId,
) -> Result<Option<(LogoInfo, Vec<u8>)>, DocumentError> {
    ensure_org(pool, org).await?;
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        info: LogoInfo,
        bytes: Vec<u8>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT l.version, l.file_name, l.format, l.width, l.height, octet_length(l.bytes) AS size,
                l.uploaded_at, l.bytes
         FROM document_settings s
         JOIN organisation_logos l ON l.org_id = s.org_id AND l.version = s.logo_version
         WHERE s.org_id = $1",
    )
    .bind(org)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.info, r.bytes)))
}

/// Removes the current logo (documents already rendered keep theirs). Returns
/// whether there was one. Errors: no such organisation (NotFound), the database.
pub async fn remove_logo(pool: &PgPool, org: &OrgId) -> Result<bool, DocumentError> {
    ensure_org(pool, org).await?;
    let n = sqlx::query(
        "UPDATE document_settings SET logo_version = NULL, updated_at = now()
         WHERE org_id = $1 AND logo_version IS NOT NULL",
    )
    .bind(org)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n > 0)
}
