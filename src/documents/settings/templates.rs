//! Invoice templates: checked in the sandbox (compiled, and rendered with the sample
//! invoice) before they are stored, every upload an immutable version; listed with
//! the accounts that use them; the organisation's default template and accounts' own
//! templates.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{base_name, ensure_org, is_fk_violation, is_unique_violation, lock_settings, BUILTIN};
use crate::documents::{sandbox, DocumentError};
use crate::store::OrgId;

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

fn check_template_id(id: &str) -> Result<(), DocumentError> {
    if id == BUILTIN {
        return Err(DocumentError::Invalid(format!(
            "{BUILTIN:?} is the built-in template's id: choose another id"
        )));
    }
    let mut chars = id.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok || id.len() > 100 {
        return Err(DocumentError::Invalid(format!("template id {id:?}: expected letters, digits, '_', '.' or '-' (starting with a letter or digit), at most 100")));
    }
    Ok(())
}

/// Checks a template file in the render sandbox (`super::sandbox`): the policy
/// (no environment, files, clock), then it compiles and renders the sample invoice
/// to HTML and PDF within the sandbox's limits. The error names the file and
/// carries the reason (Tera's message, the policy's, or the limit hit): always
/// [`DocumentError::Invalid`].
pub async fn check_template(file_name: &str, body: &str) -> Result<(), DocumentError> {
    sandbox::check(body)
        .await
        .map_err(|e| DocumentError::Invalid(format!("template file {file_name} refused: {e}")))?;
    Ok(())
}

/// Adds an organisation template from a file's text (version 1; `file_name` as
/// uploaded, its last component is kept) using the billing-details profile
/// `billing_details`. Errors: a bad id or a template that does not check (Invalid),
/// no such organisation or profile (NotFound), a template of that id exists already
/// (Conflict), the database.
pub async fn add_template(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    file_name: &str,
    body: &str,
    billing_details: &str,
) -> Result<TemplateInfo, DocumentError> {
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
        Err(e) if is_unique_violation(&e) => {
            return Err(DocumentError::Conflict(format!(
                "template {id:?} exists already in organisation {:?} \
                 (`billrun template update --file` adds a new version)",
                org.as_str()
            )))
        }
        Err(e) if is_fk_violation(&e, "invoice_templates_billing_details_fk") => {
            return Err(DocumentError::NotFound(format!(
                "billing-details profile {billing_details:?} does not exist in organisation {:?} \
                 (create it with `billrun billing-details create`)",
                org.as_str()
            )))
        }
        r => r?,
    };
    insert_version(&mut tx, org, id, 1, file_name, body).await?;
    tx.commit().await?;
    template(pool, org, id).await
}

async fn insert_version(
    tx: &mut sqlx::PgConnection,
    org: &OrgId,
    id: &str,
    version: i32,
    file_name: &str,
    body: &str,
) -> Result<(), DocumentError> {
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
/// a new version was stored. Errors: no change at all, a file for the built-in
/// template, `no_billing_details` for another, a file that does not check (Invalid);
/// no such organisation, template or profile (NotFound); the database.
pub async fn update_template(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    changes: TemplateChanges,
) -> Result<(TemplateInfo, bool), DocumentError> {
    if changes.file.is_none() && changes.billing_details.is_none() && !changes.no_billing_details {
        return Err(DocumentError::Invalid(
            "nothing to change: give --file, --billing-details or --no-billing-details".into(),
        ));
    }
    ensure_org(pool, org).await?;
    if id == BUILTIN {
        if changes.file.is_some() {
            return Err(DocumentError::Invalid("the built-in template is part of billrun and cannot be replaced: add your own with `billrun template add`".into()));
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
                    return Err(DocumentError::NotFound(format!(
                        "billing-details profile {:?} does not exist in organisation {:?}",
                        changes.billing_details.unwrap_or_default(),
                        org.as_str()
                    )))
                }
                r => r?,
            };
        }
        tx.commit().await?;
        return Ok((template(pool, org, id).await?, false));
    }
    if changes.no_billing_details {
        return Err(DocumentError::Invalid("--no-billing-details is for the built-in template only: every organisation template uses a profile".into()));
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
        return Err(DocumentError::NotFound(format!(
            "template {id:?} does not exist in organisation {:?} (add it with `billrun template add`)",
            org.as_str()
        )));
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
                return Err(DocumentError::NotFound(format!(
                    "billing-details profile {p:?} does not exist in organisation {:?}",
                    org.as_str()
                )))
            }
            r => r?,
        };
    }
    tx.commit().await?;
    Ok((template(pool, org, id).await?, new_version))
}

/// Every template of the organisation: the built-in one first, then the
/// organisation's by id. Errors: no such organisation (NotFound), the database.
pub async fn templates(pool: &PgPool, org: &OrgId) -> Result<Vec<TemplateInfo>, DocumentError> {
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

/// One template (its current version). Errors: no such organisation or template
/// (NotFound), the database.
pub async fn template(pool: &PgPool, org: &OrgId, id: &str) -> Result<TemplateInfo, DocumentError> {
    templates(pool, org)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| template_not_found(org, id))
}

fn template_not_found(org: &OrgId, id: &str) -> DocumentError {
    DocumentError::NotFound(format!(
        "template {id:?} does not exist in organisation {:?} (see `billrun template list --org {org}`)",
        org.as_str()
    ))
}

/// A template's text: the current version, or `version`. Errors: a version of the
/// built-in template (Invalid), no such organisation, template or version
/// (NotFound), the database.
pub async fn template_version(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
    version: Option<i32>,
) -> Result<TemplateVersion, DocumentError> {
    if id == BUILTIN {
        if version.is_some() {
            return Err(DocumentError::Invalid(
                "the built-in template has no versions: it is part of billrun".into(),
            ));
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
        DocumentError::NotFound(format!(
            "template {id:?} has no version {}",
            version.map(|v| v.to_string()).unwrap_or_default()
        ))
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
/// Errors: no such organisation or template (NotFound), the database.
pub async fn set_default_template(
    pool: &PgPool,
    org: &OrgId,
    id: &str,
) -> Result<(), DocumentError> {
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
        Err(e) if is_fk_violation(&e, "document_settings_template_fk") => {
            return Err(template_not_found(org, id))
        }
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

/// Sets which template an account uses. Errors: no such organisation, account or
/// template (NotFound), the database.
pub async fn set_account_template(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
    choice: &AccountTemplate,
) -> Result<(), DocumentError> {
    ensure_org(pool, org).await?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(account)
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        return Err(DocumentError::NotFound(format!(
            "account {account:?} does not exist in organisation {:?}",
            org.as_str()
        )));
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
                Err(e) if is_fk_violation(&e, "account_invoice_templates_template_fk") => {
                    return Err(template_not_found(org, id))
                }
                r => r?,
            };
        }
    }
    Ok(())
}
