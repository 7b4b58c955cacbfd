//! An organisation's credit-note settings: the number format and whether a void
//! issues a credit note (columns of `organisations`).

use billrun_core::numbering::NumberFormat;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::CreditNoteError;
use crate::store::OrgId;

/// The default credit-note number format (README "Credit notes").
pub const DEFAULT_CREDIT_NOTE_NUMBER_FORMAT: &str = "CN-{YYYY}-{SEQ:4}";

/// An organisation's credit-note settings.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditNoteSettings {
    /// The number format: the invoice number format's syntax (README "Invoice
    /// numbers"), with its own gapless counter (default `CN-{YYYY}-{SEQ:4}`).
    #[serde(serialize_with = "as_string")]
    pub number_format: NumberFormat,
    /// Whether voiding an invoice issues a credit note for what is left of it
    /// (default false).
    pub void_issues_credit_note: bool,
}

fn as_string<S: serde::Serializer>(f: &NumberFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&f.to_string())
}

/// Parses a credit-note number format; the error is at `creditNoteNumberFormat`.
pub fn parse_format(format: &str) -> Result<NumberFormat, CreditNoteError> {
    NumberFormat::parse(format).map_err(|e| CreditNoteError::Invalid {
        field: "creditNoteNumberFormat",
        message: e.message,
    })
}

/// The settings of `org` (read on `conn`, inside the caller's transaction if any).
pub async fn settings_on(
    conn: &mut PgConnection,
    org: &str,
) -> Result<CreditNoteSettings, CreditNoteError> {
    let row: Option<(String, bool)> = sqlx::query_as(
        "SELECT credit_note_number_format, void_issues_credit_note FROM organisations WHERE id = $1",
    )
    .bind(org)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((format, void)) = row else {
        return Err(CreditNoteError::NotFound {
            org: org.to_string(),
            what: "organisation",
            id: org.to_string(),
        });
    };
    Ok(CreditNoteSettings {
        number_format: parse_format(&format)?,
        void_issues_credit_note: void,
    })
}

/// The settings of `org`. Errors: not found, the database.
pub async fn settings(pool: &PgPool, org: &OrgId) -> Result<CreditNoteSettings, CreditNoteError> {
    settings_on(&mut *pool.acquire().await?, org.as_str()).await
}

/// Changes the given settings of `org` (none: unchanged) and returns them all.
/// Errors: not found, a bad format (at `creditNoteNumberFormat`), the database.
pub async fn configure(
    pool: &PgPool,
    org: &OrgId,
    number_format: Option<&str>,
    void_issues_credit_note: Option<bool>,
) -> Result<CreditNoteSettings, CreditNoteError> {
    let format = number_format.map(parse_format).transpose()?;
    let mut tx = pool.begin().await?;
    let mut s = settings_on(&mut tx, org.as_str()).await?;
    if let Some(f) = format {
        s.number_format = f;
    }
    if let Some(v) = void_issues_credit_note {
        s.void_issues_credit_note = v;
    }
    sqlx::query(
        "UPDATE organisations SET credit_note_number_format = $2, void_issues_credit_note = $3 WHERE id = $1",
    )
    .bind(org)
    .bind(s.number_format.to_string())
    .bind(s.void_issues_credit_note)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(s)
}
