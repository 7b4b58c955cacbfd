//! What a signed-in user does with its own session and password (the console's
//! Profile page and sign-out, README "Console"): [`end`] ends a session (`brs_...`)
//! for good, [`change_password`] replaces a user's password after checking the
//! current one (argon2id, as [`super::users::accept`]), and [`csrf_token`] is the
//! synchronizer token of a session's forms.

use chrono::{DateTime, Utc};

use super::audit::{self, Entry, Outcome};
use super::users::{check_password, hash_password, verify_password};
use super::{sha256_hex, Actor, ActorKind, IdentityError, OrgId, Result};

/// The synchronizer token of the forms of the session `session_token`: SHA-256 of a
/// fixed label and the session's secret, as 64 hex digits. It cannot be worked out
/// without the secret (which only the `HttpOnly` cookie carries), is different from
/// what is stored of the session (`sha256(secret)`), and is stored nowhere.
pub fn csrf_token(session_token: &str) -> String {
    sha256_hex(&format!("billrun console csrf\n{session_token}"))
}

/// Ends the session whose token is `session_token` (deletes it): it authenticates no
/// more, in the console or the API. Answers whether there was one. Errors: the
/// database.
pub async fn end(pool: &sqlx::PgPool, session_token: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM user_sessions WHERE token_sha256 = $1")
        .bind(sha256_hex(session_token))
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Changes the password of the ACTIVE user `email` of `org` at `as_of`: `current`
/// must be its password now, `new` is at least
/// [`super::users::MIN_PASSWORD_CHARS`] characters and at most
/// [`super::users::MAX_PASSWORD_BYTES`] bytes, stored as argon2id. The user's other
/// sessions stay (it is the same person). Audit row `user.password` (actor: the user;
/// no password in it), FAILURE for a refusal. Errors: `Invalid` for a wrong current
/// password or a new one out of bounds, `NotFound` when the user is not ACTIVE in
/// `org`.
pub async fn change_password(
    pool: &sqlx::PgPool,
    org: &OrgId,
    email: &str,
    current: &str,
    new: &str,
    as_of: DateTime<Utc>,
) -> Result<()> {
    let actor = Actor {
        kind: ActorKind::User,
        id: email.to_string(),
    };
    let entry = Entry {
        at: as_of,
        org,
        actor: &actor,
        action: "user.password",
        object_type: "user",
        object_id: email,
        outcome: Outcome::Success,
        details: serde_json::json!({}),
    };
    let hash: Option<String> = sqlx::query_scalar(
        "SELECT password_hash FROM users WHERE org_id = $1 AND email = $2 AND status = 'ACTIVE'",
    )
    .bind(org)
    .bind(email)
    .fetch_optional(pool)
    .await?;
    let Some(hash) = hash else {
        let e = IdentityError::NotFound(format!("no active user {email} in {org}"));
        return audit::refused(pool, entry, e).await;
    };
    if !verify_password(current.to_string(), hash).await? {
        let e = IdentityError::Invalid("current password: it is not your password".into());
        return audit::refused(pool, entry, e).await;
    }
    if let Err(e) = check_password(new) {
        return audit::refused(pool, entry, e).await;
    }
    let new_hash = hash_password(new.to_string()).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $3 WHERE org_id = $1 AND email = $2")
        .bind(org)
        .bind(email)
        .bind(new_hash)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_is_not_the_stored_hash_and_depends_on_the_session() {
        let a = csrf_token("brs_aaaa");
        assert_eq!(a.len(), 64);
        assert_ne!(a, sha256_hex("brs_aaaa"));
        assert_ne!(a, csrf_token("brs_aaab"));
        assert_eq!(a, csrf_token("brs_aaaa"));
    }
}
