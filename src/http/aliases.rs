//! `/accounts/{account_id}/add_aliases`, `/remove_aliases` and `/account_aliases`:
//! Togai's account aliases over billrun's alias ranges ([`crate::catalog::aliases`],
//! as `billrun account alias`).
//!
//! Mapping (README "HTTP API"): an alias range is Togai's `AccountAlias`; its `id` is
//! `<alias>@<effectiveFrom, RFC 3339 UTC>` (billrun keys a range by alias and start).
//! An open-ended range answers `effectiveUntil` [`OPEN_END`] (Togai requires the field),
//! and an `effectiveUntil` at or after it is open-ended. A missing `effectiveFrom` is
//! the request's time (Togai's -infinity is not representable; a range starting then
//! routes the usage from now on). Adding an alias that points at another account
//! moves it: its range there ends where the new one starts (Togai's admin center).
//! `aliases` (plain strings) add from now, and remove the range in effect now.
//! Removing ends a range `from` an instant (default now); a range that had not begun
//! by then is deleted. Each call is one transaction (all or nothing), audited as
//! `account.add_aliases` / `account.remove_aliases`. The `Account` answered lists the
//! aliases in effect now (left out above Togai's 10).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::accounts::AccountBody;
use super::error::{ApiError, ErrorBody};
use super::extract::Body;
use super::{audited, AppState, Change};
use crate::catalog::accounts;
use crate::catalog::aliases::{self, AliasRecord, EndRange, NewRange};
use crate::identity::Principal;

/// The `effectiveUntil` of an open-ended range: 9999-12-31T23:59:59Z.
pub const OPEN_END: &str = "9999-12-31T23:59:59Z";

fn open_end() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(OPEN_END)
        .expect("a valid instant")
        .with_timezone(&Utc)
}

/// Togai's `CreateAccountAliasRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAlias {
    /// The alias.
    pub value: String,
    /// First instant routed; default: now.
    #[serde(default)]
    pub effective_from: Option<DateTime<Utc>>,
    /// First instant no longer routed; default (or [`OPEN_END`] and later): open-ended.
    #[serde(default)]
    pub effective_until: Option<DateTime<Utc>>,
}

/// Togai's `AddAccountAliasesRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddAliasesRequest {
    /// Aliases routed from now on.
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// Aliases with their ranges.
    #[serde(default)]
    pub account_aliases: Option<Vec<NewAlias>>,
}

/// Togai's `RemoveAccountAliasRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveAlias {
    /// The range's id (`<alias>@<effectiveFrom>`, as listed).
    pub id: String,
    /// From when it no longer routes; default now.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
}

/// Togai's `RemoveAccountAliasesRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveAliasesRequest {
    /// Aliases whose range in effect now ends now.
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// Ranges to end, by id.
    #[serde(default)]
    pub account_aliases: Option<Vec<RemoveAlias>>,
}

/// Togai's `AccountAliases`: an alias's name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AliasName {
    /// The alias.
    pub alias: String,
}

/// Togai's `Account` with its aliases in effect now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountWithAliases {
    /// The account.
    #[serde(flatten)]
    pub account: AccountBody,
    /// Its aliases in effect now (left out when more than 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<AliasName>>,
}

/// Togai's `AccountAlias`: one range of an alias.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountAliasBody {
    /// `<alias>@<effectiveFrom>`.
    pub id: String,
    /// The alias.
    pub value: String,
    /// First instant routed (UTC).
    pub effective_from: DateTime<Utc>,
    /// First instant no longer routed; [`OPEN_END`] when open-ended.
    pub effective_until: DateTime<Utc>,
    /// When the range was recorded.
    pub created_at: DateTime<Utc>,
}

/// Togai's `AccountAliasesPaginatedResponse` (every range on one page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountAliasPage {
    /// Every range that ever routed to the account, by alias then start.
    pub data: Vec<AccountAliasBody>,
}

/// The id of the range of `alias` starting at `from`.
pub fn range_id(alias: &str, from: DateTime<Utc>) -> String {
    format!(
        "{alias}@{}",
        from.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    )
}

/// The alias and start of a range's id. Errors: not `<alias>@<RFC 3339 instant>`.
pub fn parse_range_id(id: &str) -> Result<(String, DateTime<Utc>), ApiError> {
    id.rsplit_once('@')
        .and_then(|(alias, from)| {
            DateTime::parse_from_rfc3339(from)
                .ok()
                .map(|f| (alias.to_string(), f.with_timezone(&Utc)))
        })
        .filter(|(alias, _)| !alias.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "accountAliases.id: {id:?} is not an alias range's id \
                 (<alias>@<effectiveFrom>, as GET /accounts/{{account_id}}/account_aliases lists)"
            ))
        })
}

fn alias_body(r: AliasRecord) -> AccountAliasBody {
    let a = r.range;
    AccountAliasBody {
        id: range_id(&a.alias, a.effective_from),
        value: a.alias,
        effective_from: a.effective_from,
        effective_until: a.effective_until.unwrap_or_else(open_end),
        created_at: r.created_at,
    }
}

/// The account `id` with its aliases in effect at `now`.
async fn account_with_aliases(
    state: &AppState,
    who: &Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<AccountWithAliases, ApiError> {
    let account = accounts::get(&state.pool, &who.org, id).await?;
    let current: Vec<AliasName> = aliases::records_for_account(&state.pool, &who.org, id)
        .await?
        .into_iter()
        .filter(|r| r.range.covers(now))
        .map(|r| AliasName {
            alias: r.range.alias,
        })
        .collect();
    Ok(AccountWithAliases {
        account: super::accounts::body(account),
        aliases: (current.len() <= 10).then_some(current),
    })
}

/// The ranges `req` opens, as of `now`.
pub fn new_ranges(
    aliases: Option<Vec<String>>,
    ranges: Option<Vec<NewAlias>>,
    now: DateTime<Utc>,
) -> Vec<NewRange> {
    let end = open_end();
    let plain = aliases
        .unwrap_or_default()
        .into_iter()
        .map(|alias| NewRange {
            alias,
            from: now,
            until: None,
        });
    let ranged = ranges.unwrap_or_default().into_iter().map(|a| NewRange {
        alias: a.value,
        from: a.effective_from.unwrap_or(now),
        until: a.effective_until.filter(|u| *u < end),
    });
    plain.chain(ranged).collect()
}

/// Points aliases at an account of the caller's organisation (moving those that
/// point elsewhere), all or nothing.
#[utoipa::path(post, path = "/accounts/{account_id}/add_aliases", tag = "accounts",
    params(("account_id" = String, Path, description = "the account's id")),
    request_body = AddAliasesRequest,
    responses(
        (status = 200, description = "the account with its aliases", body = AccountWithAliases),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 403, description = "the role may not change accounts", body = ErrorBody),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
        (status = 409, description = "the alias has a later range already", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<AddAliasesRequest>,
) -> Result<Json<AccountWithAliases>, ApiError> {
    let now = Utc::now();
    let ranges = new_ranges(req.aliases, req.account_aliases, now);
    let done = if ranges.is_empty() {
        Err(ApiError::invalid(
            "aliases, accountAliases: expected at least one alias",
        ))
    } else {
        aliases::change_all(&state.pool, &who.org, &id, &ranges, &[])
            .await
            .map_err(ApiError::from)
    };
    let details = match &done {
        Ok((assigned, _)) => serde_json::json!({ "assigned": assigned }),
        Err(_) => serde_json::json!({}),
    };
    audited(
        &state,
        &who,
        Change {
            action: "account.add_aliases",
            object_type: "account",
            object_id: &id,
        },
        details,
        done,
    )
    .await?;
    Ok(Json(account_with_aliases(&state, &who, &id, now).await?))
}

/// Ends alias ranges of an account of the caller's organisation, all or nothing.
#[utoipa::path(post, path = "/accounts/{account_id}/remove_aliases", tag = "accounts",
    params(("account_id" = String, Path, description = "the account's id")),
    request_body = RemoveAliasesRequest,
    responses(
        (status = 200, description = "the account with its aliases", body = AccountWithAliases),
        (status = 400, description = "a field is invalid", body = ErrorBody),
        (status = 403, description = "the role may not change accounts", body = ErrorBody),
        (status = 404, description = "no such account, or no such alias on it", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(req): Body<RemoveAliasesRequest>,
) -> Result<Json<AccountWithAliases>, ApiError> {
    let now = Utc::now();
    let mut ends: Vec<EndRange> = req
        .aliases
        .unwrap_or_default()
        .into_iter()
        .map(|alias| EndRange {
            alias,
            effective_from: None,
            at: now,
        })
        .collect();
    let mut bad = None;
    for r in req.account_aliases.unwrap_or_default() {
        match parse_range_id(&r.id) {
            Ok((alias, from)) => ends.push(EndRange {
                alias,
                effective_from: Some(from),
                at: r.from.unwrap_or(now),
            }),
            Err(e) => bad = bad.or(Some(e)),
        }
    }
    let done = match bad {
        Some(e) => Err(e),
        None if ends.is_empty() => Err(ApiError::invalid(
            "aliases, accountAliases: expected at least one alias",
        )),
        None => aliases::change_all(&state.pool, &who.org, &id, &[], &ends)
            .await
            .map_err(ApiError::from),
    };
    let details = match &done {
        Ok((_, ended)) => serde_json::json!({ "ended": ended }),
        Err(_) => serde_json::json!({}),
    };
    audited(
        &state,
        &who,
        Change {
            action: "account.remove_aliases",
            object_type: "account",
            object_id: &id,
        },
        details,
        done,
    )
    .await?;
    Ok(Json(account_with_aliases(&state, &who, &id, now).await?))
}

/// Every range of every alias that ever routed to an account of the caller's
/// organisation (one page).
#[utoipa::path(get, path = "/accounts/{account_id}/account_aliases", tag = "accounts",
    params(("account_id" = String, Path, description = "the account's id")),
    responses(
        (status = 200, description = "the account's alias ranges", body = AccountAliasPage),
        (status = 404, description = "no such account in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AccountAliasPage>, ApiError> {
    let records = aliases::records_for_account(&state.pool, &who.org, &id).await?;
    Ok(Json(AccountAliasPage {
        data: records.into_iter().map(alias_body).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_id_names_the_alias_and_its_start() {
        let from = DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let id = range_id("dev@1", from);
        assert_eq!(id, "dev@1@2026-02-01T00:00:00Z");
        assert_eq!(parse_range_id(&id).unwrap(), ("dev@1".to_string(), from));
        assert!(parse_range_id("dev-1").is_err());
        assert!(parse_range_id("@2026-02-01T00:00:00Z").is_err());
    }
}
