//! Document settings as stored: logos, billing-details profiles, templates and
//! which template an account uses.
//!
//! Rules:
//! - A logo is checked by [`billrun_render::Logo::from_bytes`] before it is stored;
//!   every upload is a new immutable version and the organisation's current logo is
//!   the one `document_settings.logo_version` names (replacing or removing it never
//!   touches a version a document used).
//! - A template is checked by [`billrun_render::Template::parse`] (it compiles and
//!   renders the sample invoice) before it is stored; each upload is a new immutable
//!   version, the highest being the current one. `builtin` is the built-in template:
//!   it has no row, always exists, and is the default unless the organisation names
//!   another.
//! - Which template an invoice uses: the account's own (if it names one), else the
//!   organisation's default, else the built-in one. Its billing details come from the
//!   template's profile; the built-in template uses the profile the organisation set
//!   for it, else the organisation's name and billing email.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};
use billrun_render::{BillingDetails, Logo};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::PgPool;

use crate::catalog::customers::Address;

/// The built-in template's id.
pub const BUILTIN: &str = "builtin";

/// The rules a logo file must meet, for error messages.
pub const LOGO_RULES: &str = "a PNG or JPEG file of at most 1 MiB, each side 16 to 2000 px";

/// The last component of a path given on the command line (what is stored).
fn base_name(path: &str) -> &str {
    std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

async fn ensure_org(pool: &PgPool, org: &str) -> Result<()> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM organisations WHERE id = $1")
        .bind(org)
        .fetch_optional(pool)
        .await?;
    if found.is_none() {
        bail!("organisation {org:?} does not exist");
    }
    Ok(())
}

/// The organisation's settings row, created if missing and locked until `tx` ends
/// (so two uploads number their versions one after the other).
async fn lock_settings(tx: &mut sqlx::PgConnection, org: &str) -> Result<()> {
    sqlx::query("INSERT INTO document_settings (org_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(org)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT 1 FROM document_settings WHERE org_id = $1 FOR UPDATE")
        .bind(org)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// Logos

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

/// Checks a logo file; the error names the file and what was expected.
pub fn check_logo(file_name: &str, bytes: &[u8]) -> Result<Logo> {
    Logo::from_bytes(bytes)
        .map_err(|e| anyhow!("logo file {file_name} refused: {e} (expected {LOGO_RULES})"))
}

/// Stores `bytes` (checked first) as the organisation's new current logo.
pub async fn set_logo(pool: &PgPool, org: &str, file_name: &str, bytes: &[u8]) -> Result<LogoInfo> {
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

/// The organisation's current logo and its bytes.
pub async fn current_logo(pool: &PgPool, org: &str) -> Result<Option<(LogoInfo, Vec<u8>)>> {
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
/// whether there was one.
pub async fn remove_logo(pool: &PgPool, org: &str) -> Result<bool> {
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

// ---------------------------------------------------------------------------------
// Billing-details profiles

/// A billing-details profile: who an invoice says it is from.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Its id.
    pub id: String,
    /// The seller's legal name.
    pub legal_name: String,
    /// Postal address.
    #[sqlx(json(nullable))]
    pub address: Option<Address>,
    /// Tax / VAT id.
    pub tax_id: Option<String>,
    /// Billing contact email.
    pub email: Option<String>,
    /// Billing contact phone.
    pub phone: Option<String>,
    /// How to pay, one line each.
    pub payment_instructions: Vec<String>,
    /// Closing note at the bottom of the invoice.
    pub footer_note: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Profile {
    /// The view model's billing details.
    pub fn billing_details(&self) -> BillingDetails {
        let address_lines = self
            .address
            .as_ref()
            .map(|a| {
                billrun_render::Address {
                    line1: a.line1.clone(),
                    line2: a.line2.clone(),
                    postal_code: a.postal_code.clone(),
                    city: a.city.clone(),
                    state: a.state.clone(),
                    country: a.country.clone(),
                }
                .lines()
            })
            .unwrap_or_default();
        BillingDetails {
            legal_name: self.legal_name.clone(),
            address_lines,
            tax_id: self.tax_id.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            payment_instructions: self.payment_instructions.clone(),
            footer_note: self.footer_note.clone(),
        }
    }
}

/// The fields of a profile a command sets; `None` leaves a field as it is (or
/// empty, for a new profile).
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    /// Legal name (required for a new profile).
    pub legal_name: Option<String>,
    /// Address fields given (merged field by field into the stored address).
    pub address: Address,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Payment instructions (replace the stored lines when given).
    pub payment_instructions: Option<Vec<String>>,
    /// Footer note.
    pub footer_note: Option<String>,
    /// Fields to clear: `address`, `tax-id`, `email`, `phone`,
    /// `payment-instructions`, `footer-note`.
    pub clear: Vec<String>,
}

/// The fields `--clear` accepts.
pub const CLEARABLE: &[&str] = &[
    "address",
    "tax-id",
    "email",
    "phone",
    "payment-instructions",
    "footer-note",
];

const SELECT_PROFILE: &str =
    "SELECT id, legal_name, address, tax_id, email, phone, payment_instructions, footer_note,
            created_at, updated_at
     FROM billing_details_profiles";

fn apply(p: &mut Profile, c: ProfileChanges) -> Result<()> {
    for f in &c.clear {
        match f.as_str() {
            "address" => p.address = None,
            "tax-id" => p.tax_id = None,
            "email" => p.email = None,
            "phone" => p.phone = None,
            "payment-instructions" => p.payment_instructions.clear(),
            "footer-note" => p.footer_note = None,
            other => bail!(
                "--clear {other:?}: expected one of {}",
                CLEARABLE.join(", ")
            ),
        }
    }
    if let Some(n) = c.legal_name {
        p.legal_name = n;
    }
    if !c.address.is_empty() {
        let mut a = p.address.take().unwrap_or_default();
        let merge = |to: &mut Option<String>, from: Option<String>| {
            if from.is_some() {
                *to = from;
            }
        };
        merge(&mut a.line1, c.address.line1);
        merge(&mut a.line2, c.address.line2);
        merge(&mut a.postal_code, c.address.postal_code);
        merge(&mut a.city, c.address.city);
        merge(&mut a.state, c.address.state);
        merge(&mut a.country, c.address.country);
        p.address = Some(a);
    }
    let set = |to: &mut Option<String>, from: Option<String>| {
        if let Some(v) = from {
            *to = Some(v.trim().to_string()).filter(|v| !v.is_empty());
        }
    };
    set(&mut p.tax_id, c.tax_id);
    set(&mut p.email, c.email);
    set(&mut p.phone, c.phone);
    set(&mut p.footer_note, c.footer_note);
    if let Some(lines) = c.payment_instructions {
        p.payment_instructions = lines;
    }
    // Checks.
    crate::catalog::check_name("legalName", &p.legal_name)?;
    p.legal_name = p.legal_name.trim().to_string();
    if let Some(e) = &p.email {
        crate::catalog::check_email("email", e)?;
    }
    if let Some(a) = &p.address {
        a.validate("address")?;
    }
    Ok(())
}

/// Creates a profile.
pub async fn create_profile(
    pool: &PgPool,
    org: &str,
    id: &str,
    changes: ProfileChanges,
) -> Result<Profile> {
    crate::catalog::check_id("id", id)?;
    ensure_org(pool, org).await?;
    if changes.legal_name.is_none() {
        bail!("--legal-name is required for a new billing-details profile");
    }
    let now = Utc::now();
    let mut p = Profile {
        id: id.to_string(),
        legal_name: String::new(),
        address: None,
        tax_id: None,
        email: None,
        phone: None,
        payment_instructions: Vec::new(),
        footer_note: None,
        created_at: now,
        updated_at: now,
    };
    apply(&mut p, changes)?;
    let res = sqlx::query(
        "INSERT INTO billing_details_profiles (org_id, id, legal_name, address, tax_id, email, phone,
             payment_instructions, footer_note)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(org)
    .bind(id)
    .bind(&p.legal_name)
    .bind(p.address.as_ref().map(Json))
    .bind(&p.tax_id)
    .bind(&p.email)
    .bind(&p.phone)
    .bind(&p.payment_instructions)
    .bind(&p.footer_note)
    .execute(pool)
    .await;
    match res {
        Err(e) if is_unique_violation(&e) => bail!(
            "billing-details profile {id:?} exists already in organisation {org:?} \
             (change it with `billrun billing-details update`)"
        ),
        r => r?,
    };
    profile(pool, org, id).await
}

/// Changes a profile. Documents already rendered keep the details they copied.
pub async fn update_profile(
    pool: &PgPool,
    org: &str,
    id: &str,
    changes: ProfileChanges,
) -> Result<Profile> {
    let mut tx = pool.begin().await?;
    let p: Option<Profile> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_PROFILE} WHERE org_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(mut p) = p else {
        ensure_org(pool, org).await?;
        bail!("billing-details profile {id:?} does not exist in organisation {org:?}");
    };
    apply(&mut p, changes)?;
    sqlx::query(
        "UPDATE billing_details_profiles
         SET legal_name = $3, address = $4, tax_id = $5, email = $6, phone = $7,
             payment_instructions = $8, footer_note = $9, updated_at = now()
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(&p.legal_name)
    .bind(p.address.as_ref().map(Json))
    .bind(&p.tax_id)
    .bind(&p.email)
    .bind(&p.phone)
    .bind(&p.payment_instructions)
    .bind(&p.footer_note)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    profile(pool, org, id).await
}

/// One profile.
pub async fn profile(pool: &PgPool, org: &str, id: &str) -> Result<Profile> {
    let p: Option<Profile> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_PROFILE} WHERE org_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    match p {
        Some(p) => Ok(p),
        None => {
            ensure_org(pool, org).await?;
            bail!("billing-details profile {id:?} does not exist in organisation {org:?}")
        }
    }
}

/// Every profile of the organisation, by id.
pub async fn profiles(pool: &PgPool, org: &str) -> Result<Vec<Profile>> {
    ensure_org(pool, org).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_PROFILE} WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}

fn is_fk_violation(e: &sqlx::Error, constraint: &str) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.code().is_some_and(|c| c == "23503") && d.constraint() == Some(constraint)
    })
}

// ---------------------------------------------------------------------------------
// Templates

/// A template as listed: the built-in one or an organisation's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInfo {
    /// `builtin` or the organisation's id for it.
    pub id: String,
    /// Whether it is the built-in template.
    pub builtin: bool,
    /// The billing-details profile it uses (`None`: the organisation's name and
    /// billing email; only the built-in template can be without one).
    pub billing_details: Option<String>,
    /// Its current version (`None` for the built-in template, part of the binary).
    pub version: Option<i32>,
    /// The file its current version was uploaded from.
    pub file_name: Option<String>,
    /// SHA-256 of the current version's text.
    pub sha256: Option<String>,
    /// Whether it is the organisation's default.
    pub default: bool,
    /// Accounts that name it as their own template.
    pub accounts: Vec<String>,
    /// When its current version was uploaded.
    pub updated_at: Option<DateTime<Utc>>,
}

/// One version of a template, with its text.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateVersion {
    /// The template.
    pub id: String,
    /// The version (`None` for the built-in template).
    pub version: Option<i32>,
    /// The file it was uploaded from.
    pub file_name: Option<String>,
    /// SHA-256 of the text.
    pub sha256: Option<String>,
    /// When it was uploaded.
    pub created_at: Option<DateTime<Utc>>,
    /// The Tera text.
    pub body: String,
}

fn check_template_id(id: &str) -> Result<()> {
    if id == BUILTIN {
        bail!("{BUILTIN:?} is the built-in template's id: choose another id");
    }
    let mut chars = id.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok || id.len() > 100 {
        bail!("template id {id:?}: expected letters, digits, '_', '.' or '-' (starting with a letter or digit), at most 100");
    }
    Ok(())
}

/// Checks a template file in the render sandbox (`super::sandbox`): the policy
/// (no environment, files, clock), then it compiles and renders the sample invoice
/// to HTML and PDF within the sandbox's limits. The error names the file and
/// carries the reason (Tera's message, the policy's, or the limit hit).
pub async fn check_template(file_name: &str, body: &str) -> Result<()> {
    super::sandbox::check(body)
        .await
        .map_err(|e| anyhow!("template file {file_name} refused: {e}"))?;
    Ok(())
}

/// Adds an organisation template from a file's text (version 1).
pub async fn add_template(
    pool: &PgPool,
    org: &str,
    id: &str,
    file_name: &str,
    body: &str,
    billing_details: &str,
) -> Result<TemplateInfo> {
    check_template_id(id)?;
    check_template(file_name, body).await?;
    ensure_org(pool, org).await?;
    let mut tx = pool.begin().await?;
    let res = sqlx::query(
        "INSERT INTO invoice_templates (org_id, id, billing_details) VALUES ($1, $2, $3)",
    )
    .bind(org)
    .bind(id)
    .bind(billing_details)
    .execute(&mut *tx)
    .await;
    match res {
        Err(e) if is_unique_violation(&e) => bail!(
            "template {id:?} exists already in organisation {org:?} \
             (`billrun template update --file` adds a new version)"
        ),
        Err(e) if is_fk_violation(&e, "invoice_templates_billing_details_fk") => bail!(
            "billing-details profile {billing_details:?} does not exist in organisation {org:?} \
             (create it with `billrun billing-details create`)"
        ),
        r => r?,
    };
    insert_version(&mut tx, org, id, 1, file_name, body).await?;
    tx.commit().await?;
    template(pool, org, id).await
}

async fn insert_version(
    tx: &mut sqlx::PgConnection,
    org: &str,
    id: &str,
    version: i32,
    file_name: &str,
    body: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO invoice_template_versions (org_id, template_id, version, body, file_name, sha256)
         VALUES ($1, $2, $3, $4, $5, encode(sha256(convert_to($4, 'UTF8')), 'hex'))",
    )
    .bind(org)
    .bind(id)
    .bind(version)
    .bind(body)
    .bind(base_name(file_name))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What `template update` changes.
#[derive(Debug, Clone, Default)]
pub struct TemplateChanges {
    /// A new version's file name and text.
    pub file: Option<(String, String)>,
    /// Another billing-details profile.
    pub billing_details: Option<String>,
    /// The built-in template only: back to the organisation's name and billing email.
    pub no_billing_details: bool,
}

/// Updates a template: a file makes a new version (unless its text is the current
/// version's), a profile replaces the one it uses. Returns the template and whether
/// a new version was stored.
pub async fn update_template(
    pool: &PgPool,
    org: &str,
    id: &str,
    changes: TemplateChanges,
) -> Result<(TemplateInfo, bool)> {
    ensure_org(pool, org).await?;
    if id == BUILTIN {
        if changes.file.is_some() {
            bail!("the built-in template is part of billrun and cannot be replaced: add your own with `billrun template add`");
        }
        let mut tx = pool.begin().await?;
        lock_settings(&mut tx, org).await?;
        if changes.billing_details.is_some() || changes.no_billing_details {
            let res = sqlx::query(
                "UPDATE document_settings SET builtin_billing_details = $2, updated_at = now()
                 WHERE org_id = $1",
            )
            .bind(org)
            .bind(&changes.billing_details)
            .execute(&mut *tx)
            .await;
            match res {
                Err(e) if is_fk_violation(&e, "document_settings_billing_details_fk") => {
                    bail!(
                        "billing-details profile {:?} does not exist in organisation {org:?}",
                        changes.billing_details.unwrap_or_default()
                    )
                }
                r => r?,
            };
        }
        tx.commit().await?;
        return Ok((template(pool, org, id).await?, false));
    }
    if changes.no_billing_details {
        bail!("--no-billing-details is for the built-in template only: every organisation template uses a profile");
    }
    if let Some((file_name, body)) = &changes.file {
        check_template(file_name, body).await?;
    }
    let mut tx = pool.begin().await?;
    let current: Option<(i32, String)> = sqlx::query_as(
        "SELECT v.version, v.sha256 FROM invoice_templates t
         JOIN invoice_template_versions v ON v.org_id = t.org_id AND v.template_id = t.id
         WHERE t.org_id = $1 AND t.id = $2
         ORDER BY v.version DESC LIMIT 1 FOR UPDATE OF t",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((version, sha)) = current else {
        bail!("template {id:?} does not exist in organisation {org:?} (add it with `billrun template add`)");
    };
    let mut new_version = false;
    if let Some((file_name, body)) = &changes.file {
        let new_sha: String =
            sqlx::query_scalar("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')")
                .bind(body)
                .fetch_one(&mut *tx)
                .await?;
        if new_sha != sha {
            insert_version(&mut tx, org, id, version + 1, file_name, body).await?;
            new_version = true;
        }
    }
    if let Some(p) = &changes.billing_details {
        let res = sqlx::query(
            "UPDATE invoice_templates SET billing_details = $3, updated_at = now()
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org)
        .bind(id)
        .bind(p)
        .execute(&mut *tx)
        .await;
        match res {
            Err(e) if is_fk_violation(&e, "invoice_templates_billing_details_fk") => {
                bail!("billing-details profile {p:?} does not exist in organisation {org:?}")
            }
            r => r?,
        };
    }
    tx.commit().await?;
    Ok((template(pool, org, id).await?, new_version))
}

/// Every template of the organisation: the built-in one first.
pub async fn templates(pool: &PgPool, org: &str) -> Result<Vec<TemplateInfo>> {
    ensure_org(pool, org).await?;
    let (default, builtin_profile): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT s.default_template, s.builtin_billing_details
         FROM organisations o LEFT JOIN document_settings s ON s.org_id = o.id WHERE o.id = $1",
    )
    .bind(org)
    .fetch_one(pool)
    .await?;
    let overrides: Vec<(Option<String>, Vec<String>)> = sqlx::query_as(
        "SELECT template_id, array_agg(account_id ORDER BY account_id)
         FROM account_invoice_templates WHERE org_id = $1 GROUP BY template_id",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    let overrides: HashMap<String, Vec<String>> = overrides
        .into_iter()
        .map(|(t, a)| (t.unwrap_or_else(|| BUILTIN.into()), a))
        .collect();
    let rows: Vec<(String, String, i32, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT DISTINCT ON (t.id) t.id, t.billing_details, v.version, v.file_name, v.sha256, v.created_at
         FROM invoice_templates t
         JOIN invoice_template_versions v ON v.org_id = t.org_id AND v.template_id = t.id
         WHERE t.org_id = $1
         ORDER BY t.id, v.version DESC",
    )
    .bind(org)
    .fetch_all(pool)
    .await?;
    let mut out = vec![TemplateInfo {
        id: BUILTIN.into(),
        builtin: true,
        billing_details: builtin_profile,
        version: None,
        file_name: None,
        sha256: None,
        default: default.is_none(),
        accounts: overrides.get(BUILTIN).cloned().unwrap_or_default(),
        updated_at: None,
    }];
    for (id, profile, version, file_name, sha256, at) in rows {
        out.push(TemplateInfo {
            default: default.as_deref() == Some(id.as_str()),
            accounts: overrides.get(&id).cloned().unwrap_or_default(),
            id,
            builtin: false,
            billing_details: Some(profile),
            version: Some(version),
            file_name: Some(file_name),
            sha256: Some(sha256),
            updated_at: Some(at),
        });
    }
    Ok(out)
}

/// One template (its current version).
pub async fn template(pool: &PgPool, org: &str, id: &str) -> Result<TemplateInfo> {
    templates(pool, org)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| {
            anyhow!("template {id:?} does not exist in organisation {org:?} (see `billrun template list --org {org}`)")
        })
}

/// A template's text: the current version, or `version`.
pub async fn template_version(
    pool: &PgPool,
    org: &str,
    id: &str,
    version: Option<i32>,
) -> Result<TemplateVersion> {
    if id == BUILTIN {
        if version.is_some() {
            bail!("the built-in template has no versions: it is part of billrun");
        }
        return Ok(TemplateVersion {
            id: BUILTIN.into(),
            version: None,
            file_name: None,
            sha256: None,
            created_at: None,
            body: billrun_render::BUILTIN_TEMPLATE.into(),
        });
    }
    template(pool, org, id).await?;
    let row: Option<(i32, String, String, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT version, file_name, sha256, created_at, body FROM invoice_template_versions
         WHERE org_id = $1 AND template_id = $2 AND ($3::int IS NULL OR version = $3)
         ORDER BY version DESC LIMIT 1",
    )
    .bind(org)
    .bind(id)
    .bind(version)
    .fetch_optional(pool)
    .await?;
    let (version, file_name, sha256, created_at, body) = row.ok_or_else(|| {
        anyhow!(
            "template {id:?} has no version {}",
            version.map(|v| v.to_string()).unwrap_or_default()
        )
    })?;
    Ok(TemplateVersion {
        id: id.into(),
        version: Some(version),
        file_name: Some(file_name),
        sha256: Some(sha256),
        created_at: Some(created_at),
        body,
    })
}

/// Makes `id` (`builtin` or an organisation template) the organisation's default.
pub async fn set_default_template(pool: &PgPool, org: &str, id: &str) -> Result<()> {
    ensure_org(pool, org).await?;
    let mut tx = pool.begin().await?;
    lock_settings(&mut tx, org).await?;
    let res = sqlx::query(
        "UPDATE document_settings SET default_template = $2, updated_at = now() WHERE org_id = $1",
    )
    .bind(org)
    .bind((id != BUILTIN).then_some(id))
    .execute(&mut *tx)
    .await;
    match res {
        Err(e) if is_fk_violation(&e, "document_settings_template_fk") => bail!(
            "template {id:?} does not exist in organisation {org:?} (see `billrun template list --org {org}`)"
        ),
        r => r?,
    };
    tx.commit().await?;
    Ok(())
}

/// Which template an account uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountTemplate {
    /// The organisation's default (no row).
    OrgDefault,
    /// A named template (`builtin` for the built-in one).
    Named(String),
}

/// Sets which template an account uses.
pub async fn set_account_template(
    pool: &PgPool,
    org: &str,
    account: &str,
    choice: &AccountTemplate,
) -> Result<()> {
    ensure_org(pool, org).await?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(account)
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        bail!("account {account:?} does not exist in organisation {org:?}");
    }
    match choice {
        AccountTemplate::OrgDefault => {
            sqlx::query(
                "DELETE FROM account_invoice_templates WHERE org_id = $1 AND account_id = $2",
            )
            .bind(org)
            .bind(account)
            .execute(pool)
            .await?;
        }
        AccountTemplate::Named(id) => {
            let res = sqlx::query(
                "INSERT INTO account_invoice_templates (org_id, account_id, template_id) VALUES ($1, $2, $3)
                 ON CONFLICT ON CONSTRAINT account_invoice_templates_pkey
                 DO UPDATE SET template_id = EXCLUDED.template_id, updated_at = now()",
            )
            .bind(org)
            .bind(account)
            .bind((id != BUILTIN).then_some(id.as_str()))
            .execute(pool)
            .await;
            match res {
                Err(e) if is_fk_violation(&e, "account_invoice_templates_template_fk") => bail!(
                    "template {id:?} does not exist in organisation {org:?} (see `billrun template list --org {org}`)"
                ),
                r => r?,
            };
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// What render-chunk needs, loaded once per chunk.

/// The organisation's document settings, for a chunk of invoices.
#[derive(Debug, Clone)]
pub struct ChunkSettings {
    /// The organisation's name.
    pub org_name: String,
    /// Billing details when no profile applies: the organisation's name and email.
    pub fallback_details: BillingDetails,
    /// The current logo's version.
    pub logo_version: Option<i32>,
    /// The default template (`None`: built-in).
    pub default_template: Option<String>,
    /// The built-in template's profile.
    pub builtin_profile: Option<String>,
    /// Every profile, by id.
    pub profiles: HashMap<String, Profile>,
    /// Every organisation template: (profile, current version), by id.
    pub templates: HashMap<String, (String, i32)>,
    /// Accounts that name a template: `None` = the built-in one.
    pub account_templates: HashMap<String, Option<String>>,
}

/// What one invoice is rendered with.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// `None`: the built-in template; else (template, version).
    pub template: Option<(String, i32)>,
    /// The billing details (copied into the document).
    pub details: BillingDetails,
    /// The profile they come from.
    pub profile: Option<String>,
    /// The logo version.
    pub logo_version: Option<i32>,
}

impl ChunkSettings {
    /// Loads the settings of `org` for invoices of `accounts`.
    pub async fn load(pool: &PgPool, org: &str, accounts: &[String]) -> Result<ChunkSettings> {
        let (org_name, billing_email, logo_version, default_template, builtin_profile): (
            String,
            Option<String>,
            Option<i32>,
            Option<String>,
            Option<String>,
        ) = sqlx::query_as(
            "SELECT o.name, o.billing_email, s.logo_version, s.default_template, s.builtin_billing_details
             FROM organisations o LEFT JOIN document_settings s ON s.org_id = o.id WHERE o.id = $1",
        )
        .bind(org)
        .fetch_one(pool)
        .await
        .with_context(|| format!("organisation {org}"))?;
        let profiles: Vec<Profile> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT_PROFILE} WHERE org_id = $1"
        )))
        .bind(org)
        .fetch_all(pool)
        .await?;
        let templates: Vec<(String, String, i32)> = sqlx::query_as(
            "SELECT t.id, t.billing_details, max(v.version)
             FROM invoice_templates t
             JOIN invoice_template_versions v ON v.org_id = t.org_id AND v.template_id = t.id
             WHERE t.org_id = $1 GROUP BY t.id, t.billing_details",
        )
        .bind(org)
        .fetch_all(pool)
        .await?;
        let account_templates: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT account_id, template_id FROM account_invoice_templates
             WHERE org_id = $1 AND account_id = ANY($2)",
        )
        .bind(org)
        .bind(accounts)
        .fetch_all(pool)
        .await?;
        Ok(ChunkSettings {
            fallback_details: BillingDetails {
                legal_name: org_name.clone(),
                email: billing_email,
                ..Default::default()
            },
            org_name,
            logo_version,
            default_template,
            builtin_profile,
            profiles: profiles.into_iter().map(|p| (p.id.clone(), p)).collect(),
            templates: templates
                .into_iter()
                .map(|(id, p, v)| (id, (p, v)))
                .collect(),
            account_templates: account_templates.into_iter().collect(),
        })
    }

    /// What an invoice of `account` renders with now: the account's template, else
    /// the organisation's default, else the built-in one; that template's profile;
    /// the current logo.
    pub fn choose(&self, account: &str) -> Choice {
        let template = match self.account_templates.get(account) {
            Some(named) => named.clone(),
            None => self.default_template.clone(),
        };
        let (template, profile) = match template.and_then(|t| {
            self.templates
                .get(&t)
                .map(|(p, v)| ((t.clone(), *v), p.clone()))
        }) {
            Some((t, p)) => (Some(t), Some(p)),
            None => (None, self.builtin_profile.clone()),
        };
        let found = profile.as_ref().and_then(|p| self.profiles.get(p));
        Choice {
            template,
            details: found
                .map(Profile::billing_details)
                .unwrap_or_else(|| self.fallback_details.clone()),
            profile: found.map(|p| p.id.clone()),
            logo_version: self.logo_version,
        }
    }
}

/// The texts of template versions, by (template, version).
pub async fn template_bodies(
    pool: &PgPool,
    org: &str,
    wanted: &[(String, i32)],
) -> Result<HashMap<(String, i32), String>> {
    let (ids, versions): (Vec<String>, Vec<i32>) = wanted.iter().cloned().unzip();
    let rows: Vec<(String, i32, String)> = sqlx::query_as(
        "SELECT v.template_id, v.version, v.body
         FROM invoice_template_versions v
         JOIN unnest($2::text[], $3::int[]) AS w(id, version) ON w.id = v.template_id AND w.version = v.version
         WHERE v.org_id = $1",
    )
    .bind(org)
    .bind(&ids)
    .bind(&versions)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(t, v, b)| ((t, v), b)).collect())
}

/// The bytes of logo versions, by version.
pub async fn logo_bytes(
    pool: &PgPool,
    org: &str,
    versions: &[i32],
) -> Result<HashMap<i32, Vec<u8>>> {
    let rows: Vec<(i32, Vec<u8>)> = sqlx::query_as(
        "SELECT version, bytes FROM organisation_logos WHERE org_id = $1 AND version = ANY($2)",
    )
    .bind(org)
    .bind(versions)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}
