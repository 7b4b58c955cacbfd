//! The demo's sign-in (README "Console"): `billrun demo` ends by printing a login
//! for the console of its organisation.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::audit::{self, Entry, Outcome};
use super::{random_secret, Actor, IdentityError, OrgId};

/// The demo organisation's Administrator.
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.example";

/// Makes `email` an ACTIVE Administrator of `org` with a new random password
/// (20 hex digits), replacing its previous password, so that every run of the demo
/// prints a login that works (and an old printed one no longer does); returns the
/// password. The user's sessions are ended. Audited `user.password` by `actor`.
/// Errors: the database.
pub async fn reset(
    pool: &PgPool,
    org: &OrgId,
    email: &str,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<String, IdentityError> {
    let password = random_secret()[..20].to_string();
    let hash = super::users::hash_password(password.clone()).await?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (org_id, email, role, status, password_hash, created_at)
         VALUES ($1, $2, 'ADMINISTRATOR', 'ACTIVE', $3, $4)
         ON CONFLICT (org_id, email) DO UPDATE
           SET role = 'ADMINISTRATOR', status = 'ACTIVE', password_hash = EXCLUDED.password_hash",
    )
    .bind(org)
    .bind(email)
    .bind(&hash)
    .bind(as_of)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM user_sessions WHERE org_id = $1 AND email = $2")
        .bind(org)
        .bind(email)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        &Entry {
            at: as_of,
            org,
            actor,
            action: "user.password",
            object_type: "user",
            object_id: email,
            outcome: Outcome::Success,
            details: serde_json::json!({ "role": "ADMINISTRATOR", "reason": "billrun demo" }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(password)
}
