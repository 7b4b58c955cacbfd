//! Invoice templates: checked in the sandbox (compiled, and rendered with the sample
//! invoice) before they are stored, every upload an immutable version; listed with
//! the accounts that use them; the organisation's default template and accounts' own
//! templates.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{base_name, ensure_org, is_fk_violation, is_unique_violation, lock_settings, BUILTIN};
use crate::documents::sandbox;

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
    sandbox::check(body)
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
