//! Users (`users`), their invitations (`user_invites`) and sessions (`user_sessions`).
//!
//! A user is an email address in an organisation, with a role, `INVITED` until the
//! invitation is accepted and `ACTIVE` after. [`invite`] emails a link holding a
//! single-use secret (`bri_<64 hex>`, stored as its SHA-256) valid for a set time;
//! [`accept`] takes that secret and a password, stored as an argon2id PHC string.
//! [`authenticate`] checks an email and password and opens a session: a token
//! (`brs_<64 hex>`, stored as its SHA-256) valid for a set time, which [`session`]
//! authenticates. Emails are compared in lower case.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::audit::{self, Entry, Outcome};
use super::invite_email::{self, InviteView};
use super::tokens::constraint;
use super::{
    random_id, random_secret, sha256_hex, Actor, ActorKind, IdentityError, OrgId, Principal,
    Result, Role,
};
use crate::config::Config;

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted, in bytes (argon2 would take more; nobody types more).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The longest an invitation can be valid: 365 days (a link valid longer is a
/// standing credential in someone's mailbox).
pub const MAX_INVITE_VALIDITY: Duration = Duration::days(365);

/// A user as listed (camelCase in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// The email address, lower case.
    pub email: String,
    /// What the user may do.
    pub role: Role,
    /// `INVITED` (has not accepted yet) or `ACTIVE`.
    pub status: String,
    /// When first invited (UTC).
    pub created_at: DateTime<Utc>,
}

/// Where an invitation's link points and how long it is valid.
#[derive(Debug, Clone)]
pub struct InviteOptions {
    /// The page that accepts invitations; the link is `<accept_url>?token=<secret>`.
    pub accept_url: String,
    /// How long the link can be used.
    pub valid_for: Duration,
}

/// An invitation sent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// The invited user.
    pub user: UserView,
    /// The end of its validity (UTC, exclusive).
    pub expires_at: DateTime<Utc>,
    /// The invitation's secret (`bri_...`), which the email's link carries. Secret:
    /// the CLI does not print it.
    #[serde(skip)]
    pub token: String,
}

/// A session opened by [`authenticate`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The organisation, role and user (a `USER` actor).
    #[serde(skip)]
    pub principal: Principal,
    /// `brs_<64 hex>`: the session token, shown once.
    pub token: String,
    /// The end of its validity (UTC, exclusive).
    pub expires_at: DateTime<Utc>,
}

/// Checks and normalises an email address: trimmed, lower case, `local@domain` with a
/// dot in the domain, no spaces, at most 254 characters.
pub fn normalise_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(e.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.contains('@') && domain.contains('.')
                && !domain.starts_with('.') && !domain.ends_with('.'));
    if ok {
        Ok(e)
    } else {
        Err(IdentityError::Invalid(format!(
            "email {email:?}: expected an address like name@example.com"
        )))
    }
}

/// Invites `email` to the organisation with `role`: creates the user INVITED (or, for
/// a user still INVITED, sets the role and replaces the previous invitations), creates
/// an invitation valid for `options.valid_for` from `as_of`, and emails the link
/// through the mailer `config` configures, From `[mail] from` or the organisation's
/// `billing_email`. The user, the invitation and the audit row `user.invite` are
/// committed only once the mail transport accepted the message. Errors: `Invalid`
/// (email, no From address), `NotFound` (organisation), `Conflict` (the user is
/// ACTIVE already), `Mail` (the transport failed: nothing is stored but the audit
/// row of the failure).
#[allow(clippy::too_many_arguments)]
pub async fn invite(
    pool: &sqlx::PgPool,
    config: &Config,
    org: &OrgId,
    email: &str,
    role: Role,
    options: &InviteOptions,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<Invitation> {
    let shown = email.trim().to_lowercase();
    let entry = user_entry(as_of, org, actor, "user.invite", &shown, role);
    match invite_in(pool, config, org, email, role, options, actor, &entry).await {
        Ok(invitation) => Ok(invitation),
        Err(e) => audit::refused(pool, entry, e).await,
    }
}

#[allow(clippy::too_many_arguments)]
async fn invite_in(
    pool: &sqlx::PgPool,
    config: &Config,
    org: &OrgId,
    email: &str,
    role: Role,
    options: &InviteOptions,
    actor: &Actor,
    entry: &Entry<'_>,
) -> Result<Invitation> {
    let as_of = entry.at;
    let email = normalise_email(email)?;
    if options.valid_for <= Duration::zero() || options.valid_for > MAX_INVITE_VALIDITY {
        return Err(IdentityError::Invalid(format!(
            "an invitation valid for {} hours (validHours, --valid-hours): expected 1 to {} \
             hours",
            options.valid_for.num_hours(),
            MAX_INVITE_VALIDITY.num_hours()
        )));
    }
    check_accept_url(&options.accept_url)?;
    let mut tx = pool.begin().await?;
    let org_row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT name, billing_email FROM organisations WHERE id = $1")
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((org_name, billing_email)) = org_row else {
        return Err(IdentityError::NotFound(format!(
            "organisation {org:?} does not exist"
        )));
    };
    let user: UserView = sqlx::query_as(
        "INSERT INTO users (org_id, email, role, status, created_at)
         VALUES ($1, $2, $3, 'INVITED', $4)
         ON CONFLICT (org_id, email) DO UPDATE SET role = EXCLUDED.role
             WHERE users.status = 'INVITED'
         RETURNING email, role, status, created_at",
    )
    .bind(org)
    .bind(&email)
    .bind(role)
    .bind(as_of)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        IdentityError::Conflict(format!(
            "{email} is an active user of organisation {org} already"
        ))
    })?;
    // A new invitation replaces the ones not used yet.
    sqlx::query(
        "UPDATE user_invites SET used_at = $3
         WHERE org_id = $1 AND email = $2 AND used_at IS NULL",
    )
    .bind(org)
    .bind(&email)
    .bind(as_of)
    .execute(&mut *tx)
    .await?;
    let token = format!("bri_{}", random_secret());
    // The expiry as stored (to the microsecond), so that what is answered is what holds.
    let expires_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO user_invites (id, org_id, email, token_sha256, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING expires_at",
    )
    .bind(format!("inv_{}", random_id(16)))
    .bind(org)
    .bind(&email)
    .bind(sha256_hex(&token))
    .bind(as_of)
    .bind(as_of + options.valid_for)
    .fetch_one(&mut *tx)
    .await?;
    let separator = if options.accept_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let link = format!("{}{separator}token={token}", options.accept_url);
    let view = InviteView {
        organisation: &org_name,
        invited_by: &actor.id,
        role: role.title(),
        link: &link,
        expires_at: expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    invite_email::send(config, &org_name, billing_email.as_deref(), &email, &view).await?;
    let entry = Entry {
        object_id: &email,
        details: serde_json::json!({ "role": role, "expiresAt": expires_at }),
        ..entry.clone()
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Invitation {
        user,
        expires_at,
        token,
    })
}

/// Accepts an invitation at `as_of`: `invite_token` is the secret of the link
/// (`bri_...`), `password` the user's new password (at least
/// [`MIN_PASSWORD_CHARS`] characters, at most [`MAX_PASSWORD_BYTES`] bytes), stored
/// as argon2id. The user becomes ACTIVE and the invitation used. Errors:
/// `Unauthenticated` for an unknown, used, replaced or expired invitation (the
/// invitation's validity is `[created, expires_at)`), `Invalid` for a password out
/// of bounds. Audit row `user.accept` (actor: the user) when the invitation is known.
pub async fn accept(
    pool: &sqlx::PgPool,
    invite_token: &str,
    password: &str,
    as_of: DateTime<Utc>,
) -> Result<UserView> {
    /// id, organisation, email, expiry, use.
    type InviteRow = (String, OrgId, String, DateTime<Utc>, Option<DateTime<Utc>>);
    let found: Option<InviteRow> = sqlx::query_as(
        "SELECT id, org_id, email, expires_at, used_at FROM user_invites
             WHERE token_sha256 = $1",
    )
    .bind(sha256_hex(invite_token))
    .fetch_optional(pool)
    .await?;
    let Some((invite_id, org, email, expires_at, used_at)) = found else {
        return Err(IdentityError::Unauthenticated(
            "unknown invitation: ask for a new one".into(),
        ));
    };
    let actor = Actor {
        kind: ActorKind::User,
        id: email.clone(),
    };
    let entry = Entry {
        at: as_of,
        org: &org,
        actor: &actor,
        action: "user.accept",
        object_type: "user",
        object_id: &email,
        outcome: Outcome::Success,
        details: serde_json::json!({}),
    };
    let refusal = if used_at.is_some() {
        Some("this invitation was used or replaced already: ask for a new one".to_string())
    } else if as_of >= expires_at {
        Some(format!(
            "this invitation expired at {}: ask for a new one",
            expires_at.format("%Y-%m-%d %H:%M UTC")
        ))
    } else {
        None
    };
    if let Some(r) = refusal {
        return audit::refused(pool, entry, IdentityError::Unauthenticated(r)).await;
    }
    if let Err(e) = check_password(password) {
        return audit::refused(pool, entry, e).await;
    }
    let hash = hash_password(password.to_string()).await?;
    let mut tx = pool.begin().await?;
    // Single use, also when two accept at once: only one marks it used.
    let claimed =
        sqlx::query("UPDATE user_invites SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(&invite_id)
            .bind(as_of)
            .execute(&mut *tx)
            .await?;
    if claimed.rows_affected() != 1 {
        drop(tx);
        let err = IdentityError::Unauthenticated(
            "this invitation was used or replaced already: ask for a new one".into(),
        );
        return audit::refused(pool, entry, err).await;
    }
    let user: UserView = sqlx::query_as(
        "UPDATE users SET status = 'ACTIVE', password_hash = $3
         WHERE org_id = $1 AND email = $2
         RETURNING email, role, status, created_at",
    )
    .bind(&org)
    .bind(&email)
    .bind(hash)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(user)
}

/// An invitation that can still be accepted, as [`pending`] finds it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingInvite {
    /// The invited address (lower case).
    pub email: String,
    /// The organisation's id.
    pub org_id: OrgId,
    /// The role the user will have.
    pub role: Role,
    /// The end of its validity (UTC, exclusive).
    pub expires_at: DateTime<Utc>,
}

/// The invitation whose secret is `invite_token`, if it can be accepted at `as_of`
/// (what a page showing the form asks; it changes nothing and writes no audit row).
/// Errors: `Unauthenticated` for an unknown, used, replaced or expired invitation,
/// with the same messages as [`accept`].
pub async fn pending(
    pool: &sqlx::PgPool,
    invite_token: &str,
    as_of: DateTime<Utc>,
) -> Result<PendingInvite> {
    type Row = (OrgId, String, Role, DateTime<Utc>, Option<DateTime<Utc>>);
    let found: Option<Row> = sqlx::query_as(
        "SELECT i.org_id, i.email, u.role, i.expires_at, i.used_at
         FROM user_invites i JOIN users u ON u.org_id = i.org_id AND u.email = i.email
         WHERE i.token_sha256 = $1",
    )
    .bind(sha256_hex(invite_token))
    .fetch_optional(pool)
    .await?;
    let Some((org_id, email, role, expires_at, used_at)) = found else {
        return Err(IdentityError::Unauthenticated(
            "unknown invitation: ask for a new one".into(),
        ));
    };
    if used_at.is_some() {
        return Err(IdentityError::Unauthenticated(
            "this invitation was used or replaced already: ask for a new one".into(),
        ));
    }
    if as_of >= expires_at {
        return Err(IdentityError::Unauthenticated(format!(
            "this invitation expired at {}: ask for a new one",
            expires_at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    Ok(PendingInvite {
        email,
        org_id,
        role,
        expires_at,
    })
}

/// The organisation's users, active and invited, by email.
pub async fn list(pool: &sqlx::PgPool, org: &OrgId) -> Result<Vec<UserView>> {
    Ok(sqlx::query_as(
        "SELECT email, role, status, created_at FROM users WHERE org_id = $1 ORDER BY email",
    )
    .bind(org)
    .fetch_all(pool)
    .await?)
}

/// Checks `email` and `password` at `as_of` and opens a session valid for
/// `valid_for`. `org` names the organisation when the address is a user of several
/// (else it may be `None`). Errors: `Unauthenticated` for an unknown or invited-only
/// address or a wrong password (one message for all three), `Invalid` when the
/// address is an active user of several organisations and `org` is `None`.
pub async fn authenticate(
    pool: &sqlx::PgPool,
    email: &str,
    password: &str,
    org: Option<&OrgId>,
    valid_for: Duration,
    as_of: DateTime<Utc>,
) -> Result<Session> {
    let wrong = || IdentityError::Unauthenticated("wrong email or password".into());
    let email = email.trim().to_lowercase();
    let found: Vec<(OrgId, Role, String)> = sqlx::query_as(
        "SELECT org_id, role, password_hash FROM users
         WHERE email = $1 AND status = 'ACTIVE' AND ($2::text IS NULL OR org_id = $2)
         ORDER BY org_id",
    )
    .bind(&email)
    .bind(org)
    .fetch_all(pool)
    .await?;
    if found.len() > 1 {
        return Err(IdentityError::Invalid(format!(
            "{email} is a user of several organisations: name one"
        )));
    }
    let Some((org, role, hash)) = found.into_iter().next() else {
        // As long as a real check, so that timing does not tell which addresses exist.
        let _ = verify_password(password.to_string(), dummy_hash().to_string()).await;
        return Err(wrong());
    };
    if !verify_password(password.to_string(), hash).await? {
        return Err(wrong());
    }
    let token = format!("brs_{}", random_secret());
    let expires_at = as_of + valid_for;
    sqlx::query(
        "INSERT INTO user_sessions (id, org_id, email, token_sha256, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(format!("ses_{}", random_id(16)))
    .bind(&org)
    .bind(&email)
    .bind(sha256_hex(&token))
    .bind(as_of)
    .bind(expires_at)
    .execute(pool)
    .await
    .map_err(|e| match constraint(&e) {
        Some("user_sessions_expiry") => {
            IdentityError::Invalid("a session must be valid for some time".into())
        }
        _ => e.into(),
    })?;
    Ok(Session {
        principal: Principal {
            org,
            role,
            actor: Actor {
                kind: ActorKind::User,
                id: email,
            },
        },
        token,
        expires_at,
    })
}

/// Authenticates a session token (`brs_...`) at `as_of`: the user's organisation, role
/// and email, with the role the user has now. Errors: `Unauthenticated` for an unknown
/// or expired session (valid over `[created, expires_at)`).
pub async fn session(pool: &sqlx::PgPool, token: &str, as_of: DateTime<Utc>) -> Result<Principal> {
    let found: Option<(OrgId, String, Role, DateTime<Utc>)> = sqlx::query_as(
        "SELECT s.org_id, s.email, u.role, s.expires_at FROM user_sessions s
         JOIN users u ON u.org_id = s.org_id AND u.email = s.email
         WHERE s.token_sha256 = $1 AND u.status = 'ACTIVE'",
    )
    .bind(sha256_hex(token))
    .fetch_optional(pool)
    .await?;
    match found {
        Some((org, email, role, expires_at)) if as_of < expires_at => Ok(Principal {
            org,
            role,
            actor: Actor {
                kind: ActorKind::User,
                id: email,
            },
        }),
        Some(_) => Err(IdentityError::Unauthenticated(
            "the session expired: authenticate again".into(),
        )),
        None => Err(IdentityError::Unauthenticated("unknown session".into())),
    }
}

fn user_entry<'a>(
    as_of: DateTime<Utc>,
    org: &'a OrgId,
    actor: &'a Actor,
    action: &'a str,
    email: &'a str,
    role: Role,
) -> Entry<'a> {
    Entry {
        at: as_of,
        org,
        actor,
        action,
        object_type: "user",
        object_id: email,
        outcome: Outcome::Success,
        details: serde_json::json!({ "role": role }),
    }
}

/// The page an invitation's link points at must be an absolute `http://` or
/// `https://` URL without spaces: the link carries the invitation's secret, and the
/// invited person opens it in a browser.
fn check_accept_url(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Invalid(format!(
            "acceptUrl {url:?} (--accept-url): expected an absolute http:// or https:// URL \
             without spaces"
        )))
    }
}

pub(super) fn check_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(IdentityError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters and at most \
             {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// argon2id (the `argon2` crate's defaults), as a PHC string, off the async threads.
pub(super) async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::Invalid(format!("hashing the password: {e}")))
    })
    .await
    .map_err(|e| IdentityError::Invalid(format!("hashing the password: {e}")))?
}

/// Whether `password` matches the PHC string `hash`, off the async threads.
pub(super) async fn verify_password(password: String, hash: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| IdentityError::Invalid(format!("stored password hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| IdentityError::Invalid(format!("checking the password: {e}")))?
}

/// A hash of a random password, for the check made when the address is unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(random_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalise_email("  Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@@x.com",
            "a@x.",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn passwords_are_argon2id_and_verify() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(
            verify_password("correct horse battery".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong horse".into(), hash).await.unwrap());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough!").is_ok());
    }

    #[test]
    fn accept_urls_are_absolute_http_urls() {
        for good in [
            "https://billing.example/invites/accept",
            "http://127.0.0.1:8080/x?a=1",
        ] {
            assert!(check_accept_url(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/invites/accept",
            "ftp://x/y",
            "https://",
            "https:///x",
            "https://x/a b",
        ] {
            assert!(check_accept_url(bad).is_err(), "{bad:?}");
        }
    }
}
