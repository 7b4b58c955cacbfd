//! Inviting a user, for every front end (`billrun user invite`, `POST
//! /billrun/users/invite`): the defaults both apply before
//! [`identity::users::invite`](crate::identity::users::invite) builds the link, emails
//! it through the configured mailer and records `user.invite` (README "Identity":
//! users).

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::identity::users::{self, Invitation, InviteOptions};
use crate::identity::{Actor, IdentityError, Role};
use crate::store::OrgId;

/// How long an invitation's link is valid when the caller does not say: 72 hours.
pub const DEFAULT_VALID_HOURS: u32 = 72;

/// An invitation to send.
#[derive(Debug, Clone)]
pub struct InviteRequest {
    /// The address to invite (checked and lower-cased by identity).
    pub email: String,
    /// The role the user will have.
    pub role: Role,
    /// The page that accepts invitations (the link is `<accept_url>?token=...`);
    /// default: the API's `/invites/accept` at `[http] public_url`, else at
    /// `http://<[http] listen>` ([`crate::config::HttpConfig::invite_accept_url`]).
    pub accept_url: Option<String>,
    /// How long the link can be used, in hours (1 to 8760; default
    /// [`DEFAULT_VALID_HOURS`]).
    pub valid_hours: Option<u32>,
}

/// Invites `request.email` to `org` as `actor` at `as_of`, with the defaults above,
/// through [`users::invite`]: the email is sent before anything is stored. Errors:
/// identity's (`Invalid` for an address, an accept URL, a validity out of 1 to 8760
/// hours or no From address; `NotFound`; `Conflict` for an ACTIVE user; `Mail`), each
/// recorded as a `user.invite` FAILURE row.
pub async fn invite(
    pool: &sqlx::PgPool,
    config: &Config,
    org: &OrgId,
    request: InviteRequest,
    actor: &Actor,
    as_of: DateTime<Utc>,
) -> Result<Invitation, IdentityError> {
    let hours = request.valid_hours.unwrap_or(DEFAULT_VALID_HOURS);
    let options = InviteOptions {
        accept_url: request
            .accept_url
            .unwrap_or_else(|| config.http.invite_accept_url()),
        valid_for: chrono::Duration::hours(i64::from(hours)),
    };
    users::invite(
        pool,
        config,
        org,
        &request.email,
        request.role,
        &options,
        actor,
        as_of,
    )
    .await
}
