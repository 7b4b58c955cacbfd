//! What `render-chunk` needs, loaded once per chunk: the organisation's document
//! settings and profiles ([`ChunkSettings`]), which template and logo each invoice
//! uses ([`Choice`]), and the template bodies and logo files those choices name.

use std::collections::HashMap;

use anyhow::{Context, Result};
use billrun_render::BillingDetails;
use sqlx::PgPool;

use super::profiles::SELECT_PROFILE;
use super::Profile;

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
