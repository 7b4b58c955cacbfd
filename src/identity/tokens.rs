//! API tokens (`api_tokens`): per organisation, with a name, a role and a status.
//!
//! A token reads `brt_<prefix>_<secret>`: `prefix` is 8 random letters and digits,
//! stored in clear and shown in listings so that people can tell their tokens apart;
//! `secret` is 256 random bits (64 hex digits). The whole token is returned once, by
//! [`create`], and stored only as its SHA-256 (see the module `identity` on why not
//! argon2). [`authenticate`] finds the token by its prefix and compares the hashes in
//! constant time; an unknown, deleted or inactive token, or a wrong secret, does not
//! authenticate. Deleting a token removes its row (its audit rows stay).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::audit::{self, Entry, Outcome};
use super::{
    constant_time_eq, random_id, random_secret, sha256_hex, Actor, ActorKind, IdentityError, OrgId,
    Principal, Result, Role,
};

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "brt_";
const PREFIX_LEN: usize = 8;
const MAX_NAME_LEN: usize = 100;

/// A token's status: only an `ACTIVE` token authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenStatus {
    /// Authenticates.
    Active,
    /// Kept, but does not authenticate until activated again.
    Inactive,
}

impl TokenStatus {
    /// `ACTIVE` or `INACTIVE`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "ACTIVE",
            TokenStatus::Inactive => "INACTIVE",
        }
    }

    fn parse(s: &str) -> std::result::Result<TokenStatus, sqlx::Error> {
        match s {
            "ACTIVE" => Ok(TokenStatus::Active),
            "INACTIVE" => Ok(TokenStatus::Inactive),
            other => Err(sqlx::Error::Decode(
                format!("unknown stored token status {other:?}").into(),
            )),
        }
    }
}

/// A token as listed: everything but its secret (camelCase in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// The token's id (`tok_...`), used to deactivate, activate and delete it.
    pub id: String,
    /// Its name, unique in the organisation.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The visible part (`brt_<prefix>_...`).
    pub prefix: String,
    /// Active or inactive.
    pub status: TokenStatus,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last authenticated (UTC), if ever.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new token: its view and the token itself, which is shown this once and is not
/// stored anywhere.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewToken {
    /// The stored token.
    #[serde(flatten)]
    pub view: TokenView,
    /// `brt_<prefix>_<secret>`: give it to the client; it cannot be shown again.
    pub token: String,
}

type Row = (
    String,
    String,
    Role,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

const COLUMNS: &str = "id, name, role, prefix, status, created_at, last_used_at";

fn view(row: Row) -> Result<TokenView> {
    Ok(TokenView {
        id: row.0,
        name: row.1,
        role: row.2,
        prefix: row.3,
        status: TokenStatus::parse(&row.4)?,
        created_at: row.5,
        last_used_at: row.6,
    })
}

fn entry<'a>(
    as_of: DateTime<Utc>,
    org: &'a OrgId,
    actor: &'a Actor,
    action: &'a str,
    id: &'a str,
    details: serde_json::Value,
) -> Entry<'a> {
    Entry {
        at: as_of,
        org,
        actor,
        action,
        object_type: "api_token",
        object_id: id,
        outcome: Outcome::Success,
        details,
    }
}

/// Creates an ACTIVE token named `name` (trimmed; 1 to 100 characters, unique in the
/// organisation) with `role`, created at `as_of`, and returns it with the token text.
/// Errors: `Invalid` for a bad name, `Conflict` for a name in use, `NotFound` for an
/// unknown organisation. Writes the audit row `token.create` either way.
pub async fn create(
    pool: &sqlx::PgPool,
    org: &OrgId,
    name: &str,
    role: Role,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<NewToken> {
    let id = format!("tok_{}", random_id(16));
    let name = name.trim();
    let details = serde_json::json!({ "name": name, "role": role });
    let entry = entry(as_of, org, actor, "token.create", &id, details);
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        let err = IdentityError::Invalid(format!(
            "token name {name:?}: expected 1 to {MAX_NAME_LEN} characters"
        ));
        return audit::refused(pool, entry, err).await;
    }
    let prefix = random_id(PREFIX_LEN);
    let token = format!("{TOKEN_PREFIX}{prefix}_{}", random_secret());
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO api_tokens (id, org_id, name, role, prefix, token_sha256, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE', $7) RETURNING {COLUMNS}"
    )))
    .bind(&id)
    .bind(org)
    .bind(name)
    .bind(role)
    .bind(&prefix)
    .bind(sha256_hex(&token))
    .bind(as_of)
    .fetch_one(&mut *tx)
    .await;
    let row = match inserted {
        Ok(row) => row,
        Err(e) => {
            drop(tx);
            let err = match constraint(&e) {
                Some("api_tokens_name_key") => IdentityError::Conflict(format!(
                    "organisation {org} has a token named {name:?} already"
                )),
                Some("api_tokens_org_id_fkey") => {
                    IdentityError::NotFound(format!("organisation {org:?} does not exist"))
                }
                _ => e.into(),
            };
            return audit::refused(pool, entry, err).await;
        }
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(NewToken {
        view: view(row)?,
        token,
    })
}

/// The organisation's tokens, oldest first (by creation, then id). Never their secrets.
pub async fn list(pool: &sqlx::PgPool, org: &OrgId) -> Result<Vec<TokenView>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE org_id = $1 ORDER BY created_at, id"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(view).collect()
}

/// One token of the organisation, without its secret. Errors: `NotFound` (no such
/// token in the organisation: another organisation's id is not found either).
pub async fn show(pool: &sqlx::PgPool, org: &OrgId, id: &str) -> Result<TokenView> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE org_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(view).transpose()?.ok_or_else(|| not_found(org, id))
}

/// Sets an ACTIVE token INACTIVE: it stops authenticating at once. Errors: `NotFound`
/// (no such token in the organisation), `Conflict` (inactive already, or the token
/// is `actor` itself: see [`refuse_self`]). Audit row `token.deactivate`.
pub async fn deactivate(
    pool: &sqlx::PgPool,
    org: &OrgId,
    id: &str,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<TokenView> {
    set_status(pool, org, id, TokenStatus::Inactive, actor, as_of).await
}

/// Sets an INACTIVE token ACTIVE again. Errors: `NotFound`, `Conflict` (active
/// already). Audit row `token.activate`.
pub async fn activate(
    pool: &sqlx::PgPool,
    org: &OrgId,
    id: &str,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<TokenView> {
    set_status(pool, org, id, TokenStatus::Active, actor, as_of).await
}

async fn set_status(
    pool: &sqlx::PgPool,
    org: &OrgId,
    id: &str,
    to: TokenStatus,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<TokenView> {
    let action = match to {
        TokenStatus::Active => "token.activate",
        TokenStatus::Inactive => "token.deactivate",
    };
    let entry = entry(as_of, org, actor, action, id, serde_json::json!({}));
    if to == TokenStatus::Inactive {
        if let Some(err) = refuse_self(actor, id, "deactivating") {
            return audit::refused(pool, entry, err).await;
        }
    }
    let mut tx = pool.begin().await?;
    let current: Option<String> = sqlx::query_scalar(
        "SELECT status FROM api_tokens WHERE org_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let refusal = match current.as_deref() {
        None => Some(not_found(org, id)),
        Some(s) if s == to.as_str() => Some(IdentityError::Conflict(format!(
            "token {id} is {} already",
            s.to_lowercase()
        ))),
        Some(_) => None,
    };
    if let Some(err) = refusal {
        drop(tx);
        return audit::refused(pool, entry, err).await;
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE api_tokens SET status = $3 WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(to.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let view = view(row)?;
    let entry = Entry {
        details: serde_json::json!({ "name": view.name }),
        ..entry
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(view)
}

/// Deletes a token (active or not): it never authenticates again, and its row is
/// gone; returns what it was. Errors: `NotFound`, `Conflict` (the token is `actor`
/// itself: see [`refuse_self`]). Audit row `token.delete`.
pub async fn delete(
    pool: &sqlx::PgPool,
    org: &OrgId,
    id: &str,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<TokenView> {
    let entry = entry(as_of, org, actor, "token.delete", id, serde_json::json!({}));
    if let Some(err) = refuse_self(actor, id, "deleting") {
        return audit::refused(pool, entry, err).await;
    }
    let mut tx = pool.begin().await?;
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "DELETE FROM api_tokens WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        drop(tx);
        return audit::refused(pool, entry, not_found(org, id)).await;
    };
    let view = view(row)?;
    let entry = Entry {
        details: serde_json::json!({ "name": view.name, "role": view.role }),
        ..entry
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(view)
}

/// How precise a token's `last_used_at` is: a use within this long of the recorded one
/// is not written again (README "Identity").
pub const LAST_USED_PRECISION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Authenticates a token (`brt_<prefix>_<secret>`, as [`create`] returned it) at
/// `as_of`: its organisation, role and id (as a `TOKEN` actor), and records `as_of` as
/// its `last_used_at` when the one recorded is older than [`LAST_USED_PRECISION`] (so
/// that a busy token does not write, and lock its row, on every request). Errors: `Unauthenticated` for a malformed, unknown, deleted or
/// inactive token or a wrong secret (the message never repeats the token).
pub async fn authenticate(
    pool: &sqlx::PgPool,
    token: &str,
    as_of: DateTime<Utc>,
) -> Result<Principal> {
    let unknown = || IdentityError::Unauthenticated("unknown or deleted API token".into());
    let prefix = token
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(prefix, _)| prefix)
        .filter(|p| p.len() == PREFIX_LEN)
        .ok_or_else(unknown)?;
    type Found = (String, OrgId, Role, String, String, Option<DateTime<Utc>>);
    let found: Option<Found> = sqlx::query_as(
        "SELECT id, org_id, role, status, token_sha256, last_used_at
         FROM api_tokens WHERE prefix = $1",
    )
    .bind(prefix)
    .fetch_optional(pool)
    .await?;
    let Some((id, org, role, status, hash, last_used)) = found else {
        return Err(unknown());
    };
    if !constant_time_eq(&hash, &sha256_hex(token)) {
        return Err(unknown());
    }
    if TokenStatus::parse(&status)? != TokenStatus::Active {
        return Err(IdentityError::Unauthenticated(format!(
            "API token {id} is inactive"
        )));
    }
    if last_used.is_none_or(|at| at + LAST_USED_PRECISION <= as_of) {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = greatest(last_used_at, $2) WHERE id = $1",
        )
        .bind(&id)
        .bind(as_of)
        .execute(pool)
        .await?;
    }
    Ok(Principal {
        org,
        role,
        actor: Actor {
            kind: ActorKind::Token,
            id,
        },
    })
}

/// A token may not deactivate or delete itself (README "HTTP API", "Users and API
/// tokens"): `Conflict` when `actor` is the token `id`. The caller would lock itself
/// out in the middle of its own work, and the API, answering with that token, could
/// not even undo it (an inactive token cannot activate itself); another
/// Administrator's token, a user's session or the CLI can. The CLI's actor is never a
/// token, so operators are not affected.
fn refuse_self(actor: &Actor, id: &str, doing: &str) -> Option<IdentityError> {
    (actor.kind == ActorKind::Token && actor.id == id).then(|| {
        IdentityError::Conflict(format!(
            "token {id} is the token making this request: {doing} it would lock this caller \
             out; use another Administrator's token or session, or `billrun token`"
        ))
    })
}

fn not_found(org: &OrgId, id: &str) -> IdentityError {
    IdentityError::NotFound(format!(
        "organisation {org} has no API token {id} (`billrun token list`, `GET /billrun/api_tokens` list them)"
    ))
}

/// The name of the constraint a database error violated, if any.
pub(crate) fn constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(d) => d.constraint(),
        _ => None,
    }
}
