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
//!
//! Every operation takes the organisation as an [`OrgId`] and fails with a
//! [`DocumentError`]; none reads the wall clock (a profile's times are the `now` its
//! caller passes; versions are stamped by the database's `now()`).
//!
//! The submodules (private; their public items are re-exported here): `logos`,
//! `profiles` (billing-details profiles), `templates` (templates, the organisation's
//! default and accounts' own templates) and `chunk` (what `render-chunk` loads once
//! per chunk). This module holds what they share: the built-in template's id, the
//! organisation check, the settings row lock and the constraint-violation tests.

mod chunk;
mod logos;
mod profiles;
mod templates;

pub use chunk::{logo_bytes, template_bodies, Choice, ChunkSettings};
pub use logos::{check_logo, current_logo, remove_logo, set_logo, LogoInfo, LOGO_RULES};
pub use profiles::{
    create_profile, profile, profiles, update_profile, Profile, ProfileChanges, CLEARABLE,
};
pub use templates::{
    add_template, check_template, set_account_template, set_default_template, template,
    template_version, templates, update_template, AccountTemplate, TemplateChanges, TemplateInfo,
    TemplateVersion,
};

use sqlx::PgPool;

use super::DocumentError;
use crate::store::OrgId;

/// The built-in template's id.
pub const BUILTIN: &str = "builtin";

/// The last component of a path given on the command line (what is stored).
fn base_name(path: &str) -> &str {
    std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

/// Fails with [`DocumentError::NotFound`] unless the organisation exists.
async fn ensure_org(pool: &PgPool, org: &OrgId) -> Result<(), DocumentError> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM organisations WHERE id = $1")
        .bind(org)
        .fetch_optional(pool)
        .await?;
    if found.is_none() {
        return Err(DocumentError::NotFound(format!(
            "organisation {:?} does not exist",
            org.as_str()
        )));
    }
    Ok(())
}

/// The organisation's settings row, created if missing and locked until `tx` ends
/// (so two uploads number their versions one after the other).
async fn lock_settings(tx: &mut sqlx::PgConnection, org: &OrgId) -> Result<(), DocumentError> {
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
