//! Sessions opened with an API token (`token_sessions`): what Togai's `POST
//! /authenticate` gives a client that authenticates with an API key ("generates a
//! token which is valid for 24 hours",
//! <https://docs.togai.com/api-reference/authentication/generate-short-lived-bearer-token>).
//!
//! A session token reads `brs_<64 hex>`, like a user's session, and is stored only as
//! its SHA-256. It acts as its API token: the same organisation, the token's role as it
//! is when the session is used, and the token as the audit trail's actor. It stops
//! authenticating when it expires, when its token is deactivated (until the token is
//! activated again) and for good when its token is deleted (its rows go with it).

use chrono::{DateTime, Duration, Utc};

use super::users::Session;
use super::{
    random_id, random_secret, sha256_hex, Actor, ActorKind, IdentityError, OrgId, Principal,
    Result, Role,
};

/// Opens a session of the API token `principal` authenticated as, valid for
/// `valid_for` from `as_of` (UTC). A principal that is not an API token (a user) is
/// refused: a user opens a session with a password (`users::authenticate`).
pub async fn open(
    pool: &sqlx::PgPool,
    principal: &Principal,
    valid_for: Duration,
    as_of: DateTime<Utc>,
) -> Result<Session> {
    if principal.actor.kind != ActorKind::Token {
        return Err(IdentityError::Invalid(
            "only an API token opens a session without a password".into(),
        ));
    }
    if valid_for <= Duration::zero() {
        return Err(IdentityError::Invalid(
            "a session must be valid for some time".into(),
        ));
    }
    let token = format!("brs_{}", random_secret());
    let expires_at = as_of + valid_for;
    sqlx::query(
        "INSERT INTO token_sessions (id, org_id, token_id, token_sha256, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(format!("tse_{}", random_id(16)))
    .bind(&principal.org)
    .bind(&principal.actor.id)
    .bind(sha256_hex(&token))
    .bind(as_of)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(Session {
        principal: principal.clone(),
        token,
        expires_at,
    })
}

/// The principal of the token session `token` at `as_of`: `None` when no session of
/// an active API token has it (a user's session, say); an error when it expired.
pub async fn find(
    pool: &sqlx::PgPool,
    token: &str,
    as_of: DateTime<Utc>,
) -> Result<Option<Principal>> {
    let found: Option<(OrgId, String, Role, DateTime<Utc>)> = sqlx::query_as(
        "SELECT s.org_id, t.id, t.role, s.expires_at FROM token_sessions s
         JOIN api_tokens t ON t.id = s.token_id AND t.org_id = s.org_id
         WHERE s.token_sha256 = $1 AND t.status = 'ACTIVE'",
    )
    .bind(sha256_hex(token))
    .fetch_optional(pool)
    .await?;
    match found {
        Some((org, token_id, role, expires_at)) if as_of < expires_at => Ok(Some(Principal {
            org,
            role,
            actor: Actor {
                kind: ActorKind::Token,
                id: token_id,
            },
        })),
        Some(_) => Err(IdentityError::Unauthenticated(
            "the session expired: authenticate again".into(),
        )),
        None => Ok(None),
    }
}
