//! Aliases: strings that route usage to an account over a range of time.
//!
//! An alias means at most one account at any instant (the database's exclusion
//! constraint `aliases_no_overlap`). Moving an alias to another account closes its
//! open range at the move and opens a new one, so usage is routed by the event's
//! timestamp: events before the move go to the old account, events after it to the
//! new one, whenever they are ingested.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::{check_id, CatalogError, Result};
use crate::store::OrgId;

/// One range of an alias: `[effective_from, effective_until)` routes to `account_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AliasRange {
    /// The alias.
    pub alias: String,
    /// The account it routes to.
    pub account_id: String,
    /// First instant routed.
    pub effective_from: DateTime<Utc>,
    /// First instant no longer routed; `None` while current.
    pub effective_until: Option<DateTime<Utc>>,
}

impl AliasRange {
    /// Whether usage at `at` is routed by this range.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.effective_from <= at && self.effective_until.is_none_or(|u| at < u)
    }
}

/// What [`assign`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assigned {
    /// The range now current.
    pub range: AliasRange,
    /// The range closed by the move, if the alias pointed elsewhere.
    pub closed: Option<AliasRange>,
    /// Whether the alias already pointed at this account from then on (nothing changed).
    pub unchanged: bool,
}

const COLUMNS: &str = "alias, account_id, effective_from, effective_until";

/// Points `alias` at `account` from `from` on.
///
/// If the alias points at another account at `from`, that range is closed at `from`
/// (a move). Ranges starting at or after `from` are refused: history is only
/// appended to, so usage already routed keeps its meaning.
pub async fn assign(
    pool: &PgPool,
    org: &OrgId,
    alias: &str,
    account: &str,
    from: DateTime<Utc>,
) -> Result<Assigned> {
    let mut tx = pool.begin().await?;
    let done = assign_in(&mut tx, org, alias, account, from, None).await?;
    tx.commit().await?;
    Ok(done)
}

/// [`assign`] on `conn` (inside the caller's transaction), with an optional end:
/// with `until`, the new range is `[from, until)` (Togai's `effectiveUntil`; it must
/// be after `from`, else [`CatalogError::Invalid`]); an alias already pointing at
/// `account` from before `from` with no end is left as it is (`unchanged`).
pub async fn assign_in(
    conn: &mut PgConnection,
    org: &OrgId,
    alias: &str,
    account: &str,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> Result<Assigned> {
    check_id("alias", alias)?;
    if let Some(u) = until.filter(|u| *u <= from) {
        return Err(billrun_core::FieldError::new(
            "effectiveUntil",
            format!(
                "{} is not after effectiveFrom {}",
                u.to_rfc3339(),
                from.to_rfc3339()
            ),
        )
        .into());
    }
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(account)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_none() {
        return Err(CatalogError::NotFound {
            what: "account",
            org: org.to_string(),
            id: account.to_string(),
        });
    }
    // Lock the alias's ranges: two concurrent moves then apply one after the other.
    // (Two first assignments race on no row; the exclusion constraint settles those.)
    let ranges: Vec<AliasRange> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM aliases WHERE org_id = $1 AND alias = $2 \
         ORDER BY effective_from FOR UPDATE"
    )))
    .bind(org)
    .bind(alias)
    .fetch_all(&mut *conn)
    .await?;
    if let Some(later) = ranges.iter().find(|r| r.effective_from >= from) {
        return Err(CatalogError::Conflict(format!(
            "alias {alias:?} already points at account {:?} from {}: a new assignment must \
             start after the alias's latest one",
            later.account_id,
            later.effective_from.to_rfc3339()
        )));
    }
    let mut closed = None;
    if let Some(current) = ranges.iter().find(|r| r.covers(from)) {
        if current.account_id == account && current.effective_until.is_none() && until.is_none() {
            return Ok(Assigned {
                range: current.clone(),
                closed: None,
                unchanged: true,
            });
        }
        sqlx::query(
            "UPDATE aliases SET effective_until = $4 \
             WHERE org_id = $1 AND alias = $2 AND effective_from = $3",
        )
        .bind(org)
        .bind(alias)
        .bind(current.effective_from)
        .bind(from)
        .execute(&mut *conn)
        .await?;
        closed = Some(AliasRange {
            effective_until: Some(from),
            ..current.clone()
        });
    }
    let range: AliasRange = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO aliases (org_id, alias, account_id, effective_from, effective_until) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(alias)
    .bind(account)
    .bind(from)
    .bind(until)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Assigned {
        range,
        closed,
        unchanged: false,
    })
}

/// A range of an alias with when it was recorded (what the API lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct AliasRecord {
    /// The range.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub range: AliasRange,
    /// When it was recorded (UTC).
    pub created_at: DateTime<Utc>,
}

/// Every range of every alias that ever routed to `account`, by alias then
/// `effective_from`, with when each was recorded. Errors: the account does not
/// exist in `org` ([`CatalogError::NotFound`]).
pub async fn records_for_account(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
) -> Result<Vec<AliasRecord>> {
    ensure_account(&mut *pool.acquire().await?, org, account).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, created_at FROM aliases WHERE org_id = $1 AND account_id = $2 \
         ORDER BY alias, effective_from"
    )))
    .bind(org)
    .bind(account)
    .fetch_all(pool)
    .await?)
}

async fn ensure_account(conn: &mut PgConnection, org: &OrgId, account: &str) -> Result<()> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(account)
            .fetch_optional(&mut *conn)
            .await?;
    match exists {
        Some(_) => Ok(()),
        None => Err(CatalogError::NotFound {
            what: "account",
            org: org.to_string(),
            id: account.to_string(),
        }),
    }
}

/// What [`end`] did to a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Ended {
    /// The range now ends at the instant asked (it had begun before it).
    Closed(AliasRange),
    /// The range had not begun at the instant asked: it is deleted.
    Deleted(AliasRange),
    /// The range had ended by then already: nothing changed.
    AlreadyEnded(AliasRange),
}

/// Ends the range of `alias` on `account` that starts at `effective_from`, or, when
/// `effective_from` is `None`, the range in effect at `at` (Togai's
/// `remove_aliases`: "deleted from this date"): usage at or after `at` is no longer
/// routed by it. A range that begins at or after `at` is deleted. Errors: no such
/// account, or no such range of the alias on this account, in `org`
/// ([`CatalogError::NotFound`]).
pub async fn end(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
    alias: &str,
    effective_from: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<Ended> {
    let mut tx = pool.begin().await?;
    let ended = end_in(&mut tx, org, account, alias, effective_from, at).await?;
    tx.commit().await?;
    Ok(ended)
}

/// A range to open: `alias` from `from` (until `until`, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRange {
    /// The alias.
    pub alias: String,
    /// First instant routed.
    pub from: DateTime<Utc>,
    /// First instant no longer routed; none: open-ended.
    pub until: Option<DateTime<Utc>>,
}

/// A range to end: `alias`'s range starting at `effective_from` (or the one in
/// effect at `at`), from `at` on ([`end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndRange {
    /// The alias.
    pub alias: String,
    /// The range's start; none: the range in effect at `at`.
    pub effective_from: Option<DateTime<Utc>>,
    /// From when it no longer routes.
    pub at: DateTime<Utc>,
}

/// Opens `ranges` on `account` ([`assign_in`] each: a move closes the alias's range on
/// another account) and ends `ends` ([`end`] each), all in one transaction: all or
/// nothing (Togai's `add_aliases` / `remove_aliases` with several aliases). Errors:
/// the first refusal, with nothing changed.
pub async fn change_all(
    pool: &PgPool,
    org: &OrgId,
    account: &str,
    ranges: &[NewRange],
    ends: &[EndRange],
) -> Result<(Vec<Assigned>, Vec<Ended>)> {
    let mut tx = pool.begin().await?;
    ensure_account(&mut tx, org, account).await?;
    let mut assigned = Vec::new();
    for r in ranges {
        assigned.push(assign_in(&mut tx, org, &r.alias, account, r.from, r.until).await?);
    }
    let mut ended = Vec::new();
    for e in ends {
        ended.push(end_in(&mut tx, org, account, &e.alias, e.effective_from, e.at).await?);
    }
    tx.commit().await?;
    Ok((assigned, ended))
}

async fn end_in(
    conn: &mut PgConnection,
    org: &OrgId,
    account: &str,
    alias: &str,
    effective_from: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<Ended> {
    let tx = conn;
    ensure_account(&mut *tx, org, account).await?;
    let ranges: Vec<AliasRange> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM aliases WHERE org_id = $1 AND alias = $2 AND account_id = $3 \
         ORDER BY effective_from FOR UPDATE"
    )))
    .bind(org)
    .bind(alias)
    .bind(account)
    .fetch_all(&mut *tx)
    .await?;
    let found = match effective_from {
        Some(f) => ranges.iter().find(|r| r.effective_from == f),
        None => ranges
            .iter()
            .find(|r| r.covers(at))
            .or_else(|| ranges.iter().find(|r| r.effective_from >= at)),
    };
    let Some(range) = found.cloned() else {
        let id = match effective_from {
            Some(f) => format!("{alias}@{}", f.to_rfc3339()),
            None => alias.to_string(),
        };
        return Err(CatalogError::NotFound {
            what: "alias of the account",
            org: org.to_string(),
            id,
        });
    };
    let ended = if range.effective_until.is_some_and(|u| u <= at) {
        Ended::AlreadyEnded(range)
    } else if range.effective_from >= at {
        sqlx::query("DELETE FROM aliases WHERE org_id = $1 AND alias = $2 AND effective_from = $3")
            .bind(org)
            .bind(alias)
            .bind(range.effective_from)
            .execute(&mut *tx)
            .await?;
        Ended::Deleted(range)
    } else {
        sqlx::query(
            "UPDATE aliases SET effective_until = $4 \
             WHERE org_id = $1 AND alias = $2 AND effective_from = $3",
        )
        .bind(org)
        .bind(alias)
        .bind(range.effective_from)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        Ended::Closed(AliasRange {
            effective_until: Some(at),
            ..range
        })
    };
    Ok(ended)
}

/// Every range of every alias that ever routed to `account`, oldest first.
pub async fn for_account(pool: &PgPool, org: &OrgId, account: &str) -> Result<Vec<AliasRange>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM aliases WHERE org_id = $1 AND account_id = $2 \
         ORDER BY alias, effective_from"
    )))
    .bind(org)
    .bind(account)
    .fetch_all(pool)
    .await?)
}

/// Every range of every alias of `org` (all accounts), by alias then
/// `effective_from`, with when each was recorded (what `GET /aliases` lists).
pub async fn records_for_org(pool: &PgPool, org: &OrgId) -> Result<Vec<AliasRecord>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, created_at FROM aliases WHERE org_id = $1 \
         ORDER BY alias, effective_from"
    )))
    .bind(org)
    .fetch_all(pool)
    .await?)
}

/// Every range of `alias` in `org`, oldest first, with when each was recorded;
/// empty when `org` never had the alias.
pub async fn records_for_alias(
    pool: &PgPool,
    org: &OrgId,
    alias: &str,
) -> Result<Vec<AliasRecord>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, created_at FROM aliases WHERE org_id = $1 AND alias = $2 \
         ORDER BY effective_from"
    )))
    .bind(org)
    .bind(alias)
    .fetch_all(pool)
    .await?)
}

/// The ranges of a set of aliases, to resolve many events in memory.
#[derive(Debug, Clone, Default)]
pub struct AliasBook {
    ranges: HashMap<String, Vec<AliasRange>>,
}

impl AliasBook {
    /// Loads every range of `aliases` in one query.
    pub async fn load(
        conn: impl sqlx::PgExecutor<'_>,
        org: &str,
        aliases: &[String],
    ) -> Result<AliasBook> {
        let rows: Vec<AliasRange> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM aliases WHERE org_id = $1 AND alias = ANY ($2)"
        )))
        .bind(org)
        .bind(aliases)
        .fetch_all(conn)
        .await?;
        let mut ranges: HashMap<String, Vec<AliasRange>> = HashMap::new();
        for r in rows {
            ranges.entry(r.alias.clone()).or_default().push(r);
        }
        Ok(AliasBook { ranges })
    }

    /// The account `alias` routes to at `at`.
    pub fn resolve(&self, alias: &str, at: DateTime<Utc>) -> Resolution<'_> {
        match self.ranges.get(alias) {
            None => Resolution::UnknownAlias,
            Some(ranges) => ranges
                .iter()
                .find(|r| r.covers(at))
                .map_or(Resolution::NotInEffect, |r| {
                    Resolution::Account(&r.account_id)
                }),
        }
    }
}

/// The result of resolving an alias at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// Routed to this account.
    Account(&'a str),
    /// The alias was never assigned.
    UnknownAlias,
    /// The alias exists but routes nowhere at that instant.
    NotInEffect,
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_core::testing::utc as t;

    #[test]
    fn a_moved_alias_resolves_by_instant() {
        let book = AliasBook {
            ranges: HashMap::from([(
                "dev-1".to_string(),
                vec![
                    AliasRange {
                        alias: "dev-1".into(),
                        account_id: "a".into(),
                        effective_from: t("2026-01-01T00:00:00Z"),
                        effective_until: Some(t("2026-02-01T00:00:00Z")),
                    },
                    AliasRange {
                        alias: "dev-1".into(),
                        account_id: "b".into(),
                        effective_from: t("2026-02-01T00:00:00Z"),
                        effective_until: None,
                    },
                ],
            )]),
        };
        let at = |s| book.resolve("dev-1", t(s));
        assert_eq!(at("2025-12-31T23:59:59Z"), Resolution::NotInEffect);
        assert_eq!(at("2026-01-31T23:59:59Z"), Resolution::Account("a"));
        assert_eq!(at("2026-02-01T00:00:00Z"), Resolution::Account("b"));
        assert_eq!(
            book.resolve("dev-2", t("2026-02-01T00:00:00Z")),
            Resolution::UnknownAlias
        );
    }
}
