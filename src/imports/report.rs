//! What `billrun imports show|errors` read: one import with the state of its job, and
//! its errors file (the bad rows as CSV, ready to fix and import again).

use serde::Serialize;
use sqlx::PgPool;

use super::store::{self, BadRow, ImportView};
use super::ImportError;
use crate::queue::admin::{self, JobState};

/// One import and the state of its `csv-import` job (camelCase in JSON: the import's
/// fields, then `jobState` and `jobLastError`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportDetail {
    /// The import.
    #[serde(flatten)]
    pub view: ImportView,
    /// Its job's state (`None`: no job, or the job was pruned from the queue).
    pub job_state: Option<JobState>,
    /// Its job's last error, if it has one.
    pub job_last_error: Option<String>,
}

/// `no import "ID"`: the error for an import id that names nothing.
fn not_found(id: &str) -> ImportError {
    ImportError::NotFound(format!("no import {id:?}"))
}

/// One import (by id, in any organisation) and its job. Errors: no such import
/// (NotFound), the database.
pub async fn show(pool: &PgPool, id: &str) -> Result<ImportDetail, ImportError> {
    let view = store::get(pool, id).await?.ok_or_else(|| not_found(id))?;
    let job = match &view.job_id {
        Some(j) => admin::show(pool, j).await?,
        None => None,
    };
    Ok(ImportDetail {
        view,
        job_state: job.as_ref().map(|j| j.state),
        job_last_error: job.and_then(|j| j.last_error),
    })
}

/// An import's errors file.
#[derive(Debug, Clone)]
pub struct ErrorsFile {
    /// The import.
    pub import_id: String,
    /// How many bad rows it holds.
    pub rows: usize,
    /// The CSV: see [`errors_csv`].
    pub csv: Vec<u8>,
}

/// The errors file of an import (by id, in any organisation). Errors: no such import
/// (NotFound), the database.
pub async fn errors_file(pool: &PgPool, id: &str) -> Result<ErrorsFile, ImportError> {
    let view = store::get(pool, id).await?.ok_or_else(|| not_found(id))?;
    let header = store::raw_header(pool, id).await?.unwrap_or_default();
    let bad = store::bad_rows(pool, id).await?;
    Ok(ErrorsFile {
        import_id: view.id,
        rows: bad.len(),
        csv: errors_csv(&header, &bad),
    })
}

/// The errors file: the file's own header plus `error`, then each bad row as it was
/// plus its error (`line 7, column timestamp: ...`), each line ending in `\n`.
pub fn errors_csv(header: &csv::ByteRecord, bad: &[BadRow]) -> Vec<u8> {
    // Writing to memory cannot fail, and each writer writes one record (so no
    // record is of unequal length).
    const IN_MEMORY: &str = "writing CSV to memory does not fail";
    let mut out = Vec::new();
    {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(&mut out);
        let mut h = header.clone();
        h.push_field(b"error");
        w.write_byte_record(&h).expect(IN_MEMORY);
        w.flush().expect(IN_MEMORY);
    }
    for b in bad {
        out.extend_from_slice(&b.record);
        out.push(b',');
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record([b.describe()]).expect(IN_MEMORY);
        out.extend_from_slice(&w.into_inner().expect(IN_MEMORY));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::errors_csv;
    use crate::imports::store::BadRow;

    #[test]
    fn the_errors_file_is_the_header_plus_error_then_each_row_plus_its_reason() {
        let header = csv::ByteRecord::from(vec!["id", "name"]);
        let bad = [BadRow {
            line: 3,
            column_name: Some("name".into()),
            reason: "must not be empty, \"really\"".into(),
            record: b"a1,".to_vec(),
        }];
        let out = String::from_utf8(errors_csv(&header, &bad)).unwrap();
        assert_eq!(
            out,
            format!(
                "id,name,error\na1,,\"{}\"\n",
                bad[0].describe().replace('"', "\"\"")
            )
        );
    }
}
