//! What an Administrator does to the organisation's users besides inviting them
//! ([`super::users::invite`]): show one, change its role, and remove it (an ACTIVE
//! user) or revoke its invitation (an INVITED one). Togai's Admin Center lists active
//! and invited users and invites new ones (<https://docs.togai.com/docs/admin-center>);
//! changing a role and removing a user are what an administrator needs besides, when
//! someone changes jobs or leaves (README "HTTP API", "Users and API tokens").
//!
//! **The last Administrator.** An organisation's last ACTIVE Administrator user can be
//! neither removed nor given another role (`Conflict`): nobody could then sign in to
//! manage the organisation's users. Administrator API tokens do not count (a token is
//! a program's credential, not a person). The check locks the organisation's active
//! Administrators' rows first, so two administrators removing each other at once
//! cannot both succeed.
//!
//! A removed user's sessions and invitations go with it (the tables' foreign keys
//! cascade): its session token stops authenticating at once, and a revoked
//! invitation's link is unknown. A role changed applies at once too: a session is
//! authorised with the role its user has now ([`super::users::session`]).

use chrono::{DateTime, Utc};

use super::audit::{self, Entry, Outcome};
use super::users::UserView;
use super::{Actor, IdentityError, OrgId, Result, Role};

/// The address as stored: trimmed, lower case (a lookup: an address that is not one
/// is simply not found).
fn stored(email: &str) -> String {
    email.trim().to_lowercase()
}

fn not_found(org: &OrgId, email: &str) -> IdentityError {
    IdentityError::NotFound(format!(
        "organisation {org} has no user {email} (`billrun user list`, `GET /billrun/users` \
         list them)"
    ))
}

/// One user of the organisation, active or invited. Errors: `NotFound` (another
/// organisation's user is not found either).
pub async fn show(pool: &sqlx::PgPool, org: &OrgId, email: &str) -> Result<UserView> {
    let email = stored(email);
    sqlx::query_as(
        "SELECT email, role, status, created_at FROM users WHERE org_id = $1 AND email = $2",
    )
    .bind(org)
    .bind(&email)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(org, &email))
}

/// Gives the user `email` (ACTIVE or INVITED: an invited user accepts with the new
/// role) the role `role`; setting the role it has changes nothing and succeeds.
/// Errors: `NotFound`, `Conflict` (the organisation's last ACTIVE Administrator would
/// become something else). Audit row `user.set_role` (`details.role`,
/// `details.previousRole`).
pub async fn set_role(
    pool: &sqlx::PgPool,
    org: &OrgId,
    email: &str,
    role: Role,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<UserView> {
    let email = stored(email);
    let details = serde_json::json!({ "role": role });
    let entry = entry(as_of, org, actor, "user.set_role", &email, details);
    let mut tx = pool.begin().await?;
    let found = lock(&mut tx, org, &email).await?;
    let checked = match found {
        None => Err(not_found(org, &email)),
        Some((user, true)) if role != Role::Administrator => Err(last_admin(
            org,
            &user.email,
            &format!("giving it the role {}", role.title()),
        )),
        Some((user, _)) => Ok(user),
    };
    let previous = match checked {
        Ok(user) => user.role,
        Err(err) => {
            drop(tx);
            return audit::refused(pool, entry, err).await;
        }
    };
    let user: UserView = sqlx::query_as(
        "UPDATE users SET role = $3 WHERE org_id = $1 AND email = $2
         RETURNING email, role, status, created_at",
    )
    .bind(org)
    .bind(&email)
    .bind(role)
    .fetch_one(&mut *tx)
    .await?;
    let entry = Entry {
        details: serde_json::json!({ "role": role, "previousRole": previous }),
        ..entry
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(user)
}

/// Removes the user `email`: an ACTIVE user loses access at once (its sessions are
/// deleted with it), an INVITED user's invitation is revoked (its link no longer
/// works). Returns what the user was. Errors: `NotFound`, `Conflict` (the
/// organisation's last ACTIVE Administrator). Audit row `user.remove`
/// (`details.role`, `details.status`).
pub async fn remove(
    pool: &sqlx::PgPool,
    org: &OrgId,
    email: &str,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<UserView> {
    let email = stored(email);
    let entry = entry(
        as_of,
        org,
        actor,
        "user.remove",
        &email,
        serde_json::json!({}),
    );
    let mut tx = pool.begin().await?;
    let found = lock(&mut tx, org, &email).await?;
    let refusal = match &found {
        None => Some(not_found(org, &email)),
        Some((user, true)) => Some(last_admin(org, &user.email, "removing it")),
        Some(_) => None,
    };
    if let Some(err) = refusal {
        drop(tx);
        return audit::refused(pool, entry, err).await;
    }
    let user: UserView = sqlx::query_as(
        "DELETE FROM users WHERE org_id = $1 AND email = $2
         RETURNING email, role, status, created_at",
    )
    .bind(org)
    .bind(&email)
    .fetch_one(&mut *tx)
    .await?;
    let entry = Entry {
        details: serde_json::json!({ "role": user.role, "status": user.status }),
        ..entry
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(user)
}

/// Locks the organisation's ACTIVE Administrators' rows (by email, so that concurrent
/// changes lock in one order) and then the user `email`'s row: the user, if found,
/// and whether it is the organisation's last ACTIVE Administrator.
async fn lock(
    tx: &mut sqlx::PgConnection,
    org: &OrgId,
    email: &str,
) -> Result<Option<(UserView, bool)>> {
    let admins: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users
         WHERE org_id = $1 AND role = 'ADMINISTRATOR' AND status = 'ACTIVE'
         ORDER BY email FOR UPDATE",
    )
    .bind(org)
    .fetch_all(&mut *tx)
    .await?;
    let user: Option<UserView> = sqlx::query_as(
        "SELECT email, role, status, created_at FROM users
         WHERE org_id = $1 AND email = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(user.map(|u| {
        let last = admins.len() == 1 && admins[0] == u.email;
        (u, last)
    }))
}

fn last_admin(org: &OrgId, email: &str, doing: &str) -> IdentityError {
    IdentityError::Conflict(format!(
        "{email} is the last active Administrator of organisation {org}: {doing} would leave \
         nobody to manage its users; make another user an Administrator first"
    ))
}

fn entry<'a>(
    as_of: DateTime<Utc>,
    org: &'a OrgId,
    actor: &'a Actor,
    action: &'a str,
    email: &'a str,
    details: serde_json::Value,
) -> Entry<'a> {
    Entry {
        at: as_of,
        org,
        actor,
        action,
        object_type: "user",
        object_id: email,
        outcome: Outcome::Success,
        details,
    }
}
