//! Organisations (tenants) and their billing settings, Togai's "Admin Center".
//!
//! The settings decide how every account of the organisation is billed unless the
//! account overrides them: the timezone billing dates are computed in, the base and
//! enabled currencies, net term days (`dueDate = invoiceDate + netTermDays`), the
//! invoice number format and the rounding mode of line amounts.

use billrun_core::numbering::NumberFormat;
use billrun_core::{Currency, FieldError, RoundingMode};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;

use super::{
    check_email, check_id, check_name, stored_currency, stored_days, stored_timezone, CatalogError,
    Result,
};
use crate::store::OrgId;

/// The number format a new organisation gets.
pub const DEFAULT_INVOICE_NUMBER_FORMAT: &str = "INV-{YYYY}-{SEQ:6}";
/// The net term days a new organisation gets.
pub const DEFAULT_NET_TERM_DAYS: u32 = 30;

/// An organisation with its settings, as stored (every field already valid).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Organisation {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The timezone billing dates are computed in (an account may override it).
    pub timezone: Tz,
    /// The currency of dashboards and reports.
    pub base_currency: Currency,
    /// The currencies accounts may invoice in; includes the base currency.
    pub enabled_currencies: Vec<Currency>,
    /// Days from invoice date to due date (an account may override it).
    pub net_term_days: u32,
    /// How finalized invoices are numbered.
    pub invoice_number_format: NumberFormat,
    /// How line amounts are rounded to the currency's minor unit.
    pub rounding_mode: RoundingMode,
    /// Where billing notices about the organisation itself go.
    pub billing_email: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// How credit notes are numbered (README "Credit notes"; default
    /// `CN-{YYYY}-{SEQ:4}`, its own gapless counter).
    pub credit_note_number_format: NumberFormat,
    /// Whether voiding an invoice issues a credit note for what is left of it.
    pub void_issues_credit_note: bool,
}

/// Settings of a new organisation. [`OrgSettings::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgSettings {
    /// Default `UTC`.
    pub timezone: Tz,
    /// Required.
    pub base_currency: Currency,
    /// Default: the base currency only. The base currency is always added.
    pub enabled_currencies: Vec<Currency>,
    /// Default 30.
    pub net_term_days: u32,
    /// Default `INV-{YYYY}-{SEQ:6}`.
    pub invoice_number_format: NumberFormat,
    /// Default half away from zero.
    pub rounding_mode: RoundingMode,
    /// Default none.
    pub billing_email: Option<String>,
}

impl OrgSettings {
    /// The defaults, with `base_currency`.
    pub fn new(base_currency: Currency) -> Self {
        Self {
            timezone: Tz::UTC,
            base_currency,
            enabled_currencies: vec![base_currency],
            net_term_days: DEFAULT_NET_TERM_DAYS,
            invoice_number_format: NumberFormat::parse(DEFAULT_INVOICE_NUMBER_FORMAT)
                .expect("the default number format is valid"),
            rounding_mode: RoundingMode::default(),
            billing_email: None,
        }
    }
}

/// Changes to an organisation's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgChanges {
    /// New display name.
    pub name: Option<String>,
    /// New timezone.
    pub timezone: Option<Tz>,
    /// New base currency (added to the enabled currencies).
    pub base_currency: Option<Currency>,
    /// New set of enabled currencies (the base currency is always kept).
    pub enabled_currencies: Option<Vec<Currency>>,
    /// New net term days.
    pub net_term_days: Option<u32>,
    /// New invoice number format.
    pub invoice_number_format: Option<NumberFormat>,
    /// New rounding mode.
    pub rounding_mode: Option<RoundingMode>,
    /// New billing email; `Some(None)` removes it.
    pub billing_email: Option<Option<String>>,
    /// New credit-note number format.
    pub credit_note_number_format: Option<NumberFormat>,
    /// Whether a void issues a credit note from now on.
    pub void_issues_credit_note: Option<bool>,
}

/// Parses a rounding mode in Togai-style spelling (`HALF_AWAY_FROM_ZERO`, `HALF_EVEN`,
/// `UP`, `DOWN`).
pub fn parse_rounding_mode(field: &str, s: &str) -> Result<RoundingMode, FieldError> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        FieldError::new(
            field,
            format!(
                "unknown rounding mode {s:?}: expected HALF_AWAY_FROM_ZERO, HALF_EVEN, UP or DOWN"
            ),
        )
    })
}

fn rounding_mode_name(m: RoundingMode) -> String {
    match serde_json::to_value(m) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("a rounding mode serialises to a string"),
    }
}

/// `base` first, then the others in the given order, each once.
fn with_base(base: Currency, currencies: &[Currency]) -> Vec<Currency> {
    let mut out = vec![base];
    for c in currencies {
        if !out.contains(c) {
            out.push(*c);
        }
    }
    out
}

fn codes(currencies: &[Currency]) -> Vec<String> {
    currencies.iter().map(|c| c.code().to_string()).collect()
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: String,
    name: String,
    timezone: String,
    base_currency: String,
    enabled_currencies: Vec<String>,
    net_term_days: i32,
    invoice_number_format: String,
    rounding_mode: String,
    billing_email: Option<String>,
    created_at: DateTime<Utc>,
    credit_note_number_format: String,
    void_issues_credit_note: bool,
}

impl OrgRow {
    fn into_organisation(self) -> Result<Organisation> {
        let what = |col: &str| format!("organisations.{col} of {:?}", self.id);
        let enabled_currencies = self
            .enabled_currencies
            .iter()
            .map(|c| stored_currency(&what("enabled_currencies"), c))
            .collect::<Result<_>>()?;
        Ok(Organisation {
            timezone: stored_timezone(&what("timezone"), &self.timezone)?,
            base_currency: stored_currency(&what("base_currency"), &self.base_currency)?,
            enabled_currencies,
            net_term_days: stored_days(&what("net_term_days"), self.net_term_days)?,
            invoice_number_format: NumberFormat::parse(&self.invoice_number_format).map_err(
                |e| CatalogError::Corrupt {
                    what: what("invoice_number_format"),
                    message: e.to_string(),
                },
            )?,
            rounding_mode: parse_rounding_mode("", &self.rounding_mode).map_err(|e| {
                CatalogError::Corrupt {
                    what: what("rounding_mode"),
                    message: e.to_string(),
                }
            })?,
            credit_note_number_format: NumberFormat::parse(&self.credit_note_number_format)
                .map_err(|e| CatalogError::Corrupt {
                    what: what("credit_note_number_format"),
                    message: e.to_string(),
                })?,
            void_issues_credit_note: self.void_issues_credit_note,
            id: self.id,
            name: self.name,
            billing_email: self.billing_email,
            created_at: self.created_at,
        })
    }
}

const SELECT_ORG: &str = "SELECT id, name, timezone, base_currency, enabled_currencies, \
     net_term_days, invoice_number_format, rounding_mode, billing_email, created_at, \
     credit_note_number_format, void_issues_credit_note \
     FROM organisations";

/// Creates an organisation.
pub async fn create(
    pool: &PgPool,
    id: &OrgId,
    name: &str,
    settings: &OrgSettings,
) -> Result<Organisation> {
    check_id("id", id)?;
    check_name("name", name)?;
    if let Some(email) = &settings.billing_email {
        check_email("billingEmail", email)?;
    }
    let enabled = with_base(settings.base_currency, &settings.enabled_currencies);
    sqlx::query(
        "INSERT INTO organisations (id, name, timezone, base_currency, enabled_currencies, \
         net_term_days, invoice_number_format, rounding_mode, billing_email) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(name)
    .bind(settings.timezone.name())
    .bind(settings.base_currency.code())
    .bind(codes(&enabled))
    .bind(i32::try_from(settings.net_term_days).map_err(|_| days_too_large())?)
    .bind(settings.invoice_number_format.to_string())
    .bind(rounding_mode_name(settings.rounding_mode))
    .bind(&settings.billing_email)
    .execute(pool)
    .await?;
    get(pool, id).await
}

fn days_too_large() -> FieldError {
    FieldError::new("netTermDays", "is too large")
}

/// Changes an organisation's settings.
///
/// Refuses to disable a currency that an account invoices in (its invoices could no
/// longer be issued), naming the accounts.
pub async fn configure(pool: &PgPool, id: &OrgId, changes: &OrgChanges) -> Result<Organisation> {
    let mut tx = pool.begin().await?;
    // Locked so that an account created concurrently cannot pick a currency that
    // this change disables (account creation reads the row FOR SHARE).
    let row: Option<OrgRow> = sqlx::query_as(
        "SELECT id, name, timezone, base_currency, enabled_currencies, net_term_days, \
         invoice_number_format, rounding_mode, billing_email, created_at, \
         credit_note_number_format, void_issues_credit_note \
         FROM organisations WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let mut org = row.ok_or_else(|| not_found(id))?.into_organisation()?;
    if let Some(name) = &changes.name {
        check_name("name", name)?;
        org.name = name.clone();
    }
    if let Some(tz) = changes.timezone {
        org.timezone = tz;
    }
    if let Some(base) = changes.base_currency {
        org.base_currency = base;
    }
    let enabled = changes
        .enabled_currencies
        .as_deref()
        .unwrap_or(&org.enabled_currencies);
    org.enabled_currencies = with_base(org.base_currency, enabled);
    if let Some(days) = changes.net_term_days {
        org.net_term_days = days;
    }
    if let Some(format) = &changes.invoice_number_format {
        org.invoice_number_format = format.clone();
    }
    if let Some(mode) = changes.rounding_mode {
        org.rounding_mode = mode;
    }
    if let Some(email) = &changes.billing_email {
        if let Some(e) = email {
            check_email("billingEmail", e)?;
        }
        org.billing_email = email.clone();
    }
    if let Some(format) = &changes.credit_note_number_format {
        org.credit_note_number_format = format.clone();
    }
    if let Some(v) = changes.void_issues_credit_note {
        org.void_issues_credit_note = v;
    }

    let stranded: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, invoice_currency FROM accounts \
         WHERE org_id = $1 AND NOT (invoice_currency = ANY ($2)) ORDER BY id LIMIT 5",
    )
    .bind(id)
    .bind(codes(&org.enabled_currencies))
    .fetch_all(&mut *tx)
    .await?;
    if !stranded.is_empty() {
        let list: Vec<_> = stranded.iter().map(|(a, c)| format!("{a} ({c})")).collect();
        return Err(FieldError::new(
            "enabledCurrencies",
            format!(
                "cannot disable a currency accounts invoice in: {}",
                list.join(", ")
            ),
        )
        .into());
    }

    sqlx::query(
        "UPDATE organisations SET name = $2, timezone = $3, base_currency = $4, \
         enabled_currencies = $5, net_term_days = $6, invoice_number_format = $7, \
         rounding_mode = $8, billing_email = $9, credit_note_number_format = $10, \
         void_issues_credit_note = $11 WHERE id = $1",
    )
    .bind(id)
    .bind(&org.name)
    .bind(org.timezone.name())
    .bind(org.base_currency.code())
    .bind(codes(&org.enabled_currencies))
    .bind(i32::try_from(org.net_term_days).map_err(|_| days_too_large())?)
    .bind(org.invoice_number_format.to_string())
    .bind(rounding_mode_name(org.rounding_mode))
    .bind(&org.billing_email)
    .bind(org.credit_note_number_format.to_string())
    .bind(org.void_issues_credit_note)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(org)
}

fn not_found(id: &str) -> CatalogError {
    CatalogError::NotFound {
        what: "organisation",
        org: id.to_string(),
        id: id.to_string(),
    }
}

/// One organisation, or [`CatalogError::NotFound`].
pub async fn get(pool: &PgPool, id: &OrgId) -> Result<Organisation> {
    find(pool, id).await?.ok_or_else(|| not_found(id))
}

/// One organisation, if it exists.
pub async fn find(pool: &PgPool, id: &str) -> Result<Option<Organisation>> {
    let row: Option<OrgRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_ORG} WHERE id = $1")))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    row.map(OrgRow::into_organisation).transpose()
}

/// Every organisation, by id.
pub async fn list(pool: &PgPool) -> Result<Vec<Organisation>> {
    let rows: Vec<OrgRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_ORG} ORDER BY id")))
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(OrgRow::into_organisation).collect()
}

/// Fails with [`CatalogError::NotFound`] unless the organisation exists; used before
/// writes whose foreign key would otherwise report it less clearly.
pub(crate) async fn ensure_exists(conn: &mut sqlx::PgConnection, id: &str) -> Result<()> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM organisations WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| not_found(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_modes_round_trip_by_name() {
        for name in ["HALF_AWAY_FROM_ZERO", "HALF_EVEN", "UP", "DOWN"] {
            let m = parse_rounding_mode("roundingMode", name).unwrap();
            assert_eq!(rounding_mode_name(m), name);
        }
        let e = parse_rounding_mode("roundingMode", "BANKERS").unwrap_err();
        assert_eq!(e.path, "roundingMode");
    }

    #[test]
    fn base_currency_comes_first_and_once() {
        let eur = Currency::EUR;
        let usd = Currency::USD;
        assert_eq!(with_base(usd, &[eur, usd, eur]), vec![usd, eur]);
    }
}
