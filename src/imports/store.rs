//! Imports in the database: storing a file and enqueuing its job in one
//! transaction, reading it back by chunks, and what `billrun imports` shows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio::io::AsyncReadExt;

use super::columns::{locate_header, ImportKind, Mapping};
use super::ImportError;
use crate::queue::{self, EnqueueOptions, JobKind, JobRequest};
use crate::store::status::ImportStatus;
use crate::store::OrgId;

/// Bytes per stored chunk: what the job holds in memory at a time.
pub const CHUNK_SIZE: usize = 1 << 20;

/// An import as `billrun imports show|list` prints it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ImportView {
    /// Its id (a ULID).
    pub id: String,
    /// The organisation imported into.
    pub org_id: String,
    /// accounts, usage or licenses.
    pub kind: String,
    /// The file's name as given.
    pub file_name: String,
    /// The file's size.
    pub file_bytes: i64,
    /// PENDING, RUNNING, DONE or FAILED.
    pub status: ImportStatus,
    /// The `csv-import` job.
    pub job_id: Option<String>,
    /// Bytes of the file loaded so far.
    pub next_offset: i64,
    /// Data rows read (the header and blank lines are not rows).
    pub rows_read: i64,
    /// Rows that created or changed something.
    pub rows_imported: i64,
    /// Good rows that changed nothing: already recorded (an event id, an idempotency
    /// key) or identical to the stored account.
    pub rows_skipped: i64,
    /// Bad rows (see `billrun imports errors`).
    pub rows_failed: i64,
    /// Batches committed.
    pub batches: i64,
    /// Usage events flagged late (dated in a cycle already invoiced).
    pub events_late: i64,
    /// Why the import as a whole failed.
    pub error: Option<String>,
    /// When the file was stored.
    pub created_at: DateTime<Utc>,
    /// When the job first started on it.
    pub started_at: Option<DateTime<Utc>>,
    /// Last progress.
    pub updated_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl ImportView {
    /// Whether it has ended (DONE or FAILED).
    pub fn finished(&self) -> bool {
        matches!(self.status, ImportStatus::Done | ImportStatus::Failed)
    }

    /// Whether it ended DONE with every row accepted: `false` for a failed or
    /// unfinished import, and for one with rejected rows (`rows_failed > 0`), which
    /// the command line reports with a non-zero exit status.
    pub fn succeeded(&self) -> bool {
        self.status == ImportStatus::Done && self.rows_failed == 0
    }

    /// One sentence on the outcome, honest about a file that changed nothing.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} rows read: {} imported, {} skipped (already recorded or unchanged), {} failed",
            self.rows_read, self.rows_imported, self.rows_skipped, self.rows_failed
        );
        if self.status == ImportStatus::Done && self.rows_imported == 0 && self.rows_skipped > 0 {
            s.push_str(" - nothing new: every good row was already imported");
        }
        s
    }
}

const SELECT: &str = "SELECT id, org_id, kind, file_name, file_bytes, status, job_id, next_offset, \
     rows_read, rows_imported, rows_skipped, rows_failed, batches, events_late, error, created_at, started_at, \
     updated_at, finished_at FROM imports";

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
async fn fill(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let r = file.read(&mut buf[n..]).await?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n)
}

/// What [`create`] stored.
#[derive(Debug, Clone)]
pub struct Created {
    /// The import.
    pub import_id: String,
    /// Its job.
    pub job_id: String,
}

/// Checks a file's header, then stores the file and enqueues its `csv-import` job
/// (acting as of `as_of`, at most `max_attempts` attempts), all in one transaction: a
/// refused file writes nothing, a stored file always has its job. The file is read
/// one chunk at a time (memory flat in its size). Errors: the file unreadable, not
/// CSV, a bad header or changed while read (Refused), no such organisation
/// (NotFound), the database.
pub async fn create(
    pool: &PgPool,
    org: &OrgId,
    kind: ImportKind,
    path: &std::path::Path,
    mapping: &Mapping,
    max_attempts: u32,
    as_of: DateTime<Utc>,
) -> Result<Created, ImportError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| ImportError::Refused(format!("{name}: {e}"));
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let size = file.metadata().await.map_err(io)?.len();
    let mut chunk = vec![0u8; CHUNK_SIZE];
    let n = fill(&mut file, &mut chunk).await.map_err(io)?;
    locate_header(kind, mapping, &chunk[..n], (n as u64) == size)
        .map_err(|e| ImportError::Refused(format!("{name}: {e}")))?;

    let mut tx = pool.begin().await?;
    let org_exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM organisations WHERE id = $1")
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?;
    if org_exists.is_none() {
        return Err(ImportError::NotFound(format!(
            "organisation {:?} does not exist",
            org.as_str()
        )));
    }
    let import_id = ulid::Ulid::generate().to_string();
    let file_name = path
        .file_name()
        .map_or(name.clone(), |f| f.to_string_lossy().into_owned());
    sqlx::query(
        "INSERT INTO imports (id, org_id, kind, file_name, file_bytes, chunk_size, mapping)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&import_id)
    .bind(org)
    .bind(kind.name())
    .bind(&file_name)
    .bind(size as i64)
    .bind(CHUNK_SIZE as i32)
    .bind(serde_json::to_value(&mapping.0).expect("a map of strings serialises"))
    .execute(&mut *tx)
    .await?;
    let mut seq = 0i32;
    let mut stored = 0u64;
    let mut n = n;
    while n > 0 {
        sqlx::query("INSERT INTO import_file_chunks (import_id, seq, bytes) VALUES ($1, $2, $3)")
            .bind(&import_id)
            .bind(seq)
            .bind(&chunk[..n])
            .execute(&mut *tx)
            .await?;
        stored += n as u64;
        seq += 1;
        n = fill(&mut file, &mut chunk).await.map_err(io)?;
    }
    if stored != size {
        return Err(ImportError::Refused(format!(
            "{name} changed while it was read ({size} bytes, then {stored}): try again"
        )));
    }
    let req = JobRequest::new(
        JobKind::CsvImport,
        serde_json::json!({ "importId": import_id }),
        as_of,
        Some(org.to_string()),
    );
    let opts = EnqueueOptions {
        run_at: None,
        idempotency_key: Some(format!("import:{import_id}")),
        max_attempts,
    };
    let job_id = queue::enqueue(&mut tx, &req, &opts).await?.id().to_string();
    sqlx::query("UPDATE imports SET job_id = $2 WHERE id = $1")
        .bind(&import_id)
        .bind(&job_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Created { import_id, job_id })
}

/// One stored chunk of a file (`None` past its end).
pub async fn chunk(
    conn: &mut PgConnection,
    import_id: &str,
    seq: i32,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT bytes FROM import_file_chunks WHERE import_id = $1 AND seq = $2")
        .bind(import_id)
        .bind(seq)
        .fetch_optional(conn)
        .await
}

/// One import, or `None`.
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<ImportView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Imports, newest first (of one organisation if given), one page: by creation time
/// then id, both descending and fixed once an import exists, so `after` (an import
/// id: the cursor of the previous page) pages stably (see [`crate::paging`]).
pub async fn list(
    pool: &PgPool,
    org: Option<&OrgId>,
    limit: i64,
    after: Option<&str>,
) -> Result<crate::paging::Page<ImportView>, crate::paging::ListError> {
    let mut tx = crate::paging::snapshot(pool).await?;
    let cursor: Option<(chrono::DateTime<chrono::Utc>, String)> = match after {
        None => None,
        Some(after) => Some(
            sqlx::query_as("SELECT created_at, id FROM imports WHERE id = $1")
                .bind(after)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| crate::paging::ListError::BadCursor {
                    after: after.into(),
                    reason: "there is no import with that id".into(),
                })?,
        ),
    };
    let (cc, ci) = match &cursor {
        Some((c, i)) => (Some(*c), Some(i.as_str())),
        None => (None, None),
    };
    let rows: Vec<ImportView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE ($1::text IS NULL OR org_id = $1)
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    )))
    .bind(org)
    .bind(cc)
    .bind(ci)
    .bind(crate::paging::fetch_limit(limit))
    .fetch_all(&mut *tx)
    .await?;
    let (total, before): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE (created_at, id) >= ($2, $3))
         FROM imports WHERE ($1::text IS NULL OR org_id = $1)",
    )
    .bind(org)
    .bind(cc)
    .bind(ci)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(crate::paging::Page::new(
        rows,
        limit,
        total,
        before,
        |v: &ImportView| v.id.clone(),
    ))
}

/// A bad row as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct BadRow {
    /// The line the row starts on.
    pub line: i64,
    /// The column at fault, if one is.
    pub column_name: Option<String>,
    /// What was wrong and what was expected.
    pub reason: String,
    /// The row as CSV (its own bytes, re-quoted).
    #[serde(skip)]
    pub record: Vec<u8>,
}

impl BadRow {
    /// `line 7, column timestamp: ...`.
    pub fn describe(&self) -> String {
        super::rows::RowError {
            column: self.column_name.clone(),
            reason: self.reason.clone(),
        }
        .describe(self.line as u64)
    }
}

/// An import's bad rows, by line.
pub async fn bad_rows(pool: &PgPool, id: &str) -> Result<Vec<BadRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT line, column_name, reason, record FROM import_errors WHERE import_id = $1 ORDER BY line",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// The file's own header line (for the errors file), read from its first chunk.
pub async fn raw_header(pool: &PgPool, id: &str) -> Result<Option<csv::ByteRecord>, sqlx::Error> {
    let first = chunk(&mut *pool.acquire().await?, id, 0).await?;
    Ok(first.and_then(|bytes| {
        let body = bytes.strip_prefix(super::split::BOM).unwrap_or(&bytes);
        let mut recs = Vec::new();
        super::split::Splitter::new(0, 1).push(body, true, &mut recs);
        recs.into_iter().next().map(|r| r.fields)
    }))
}
