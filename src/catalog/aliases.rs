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
use sqlx::PgPool;

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
    check_id("alias", alias)?;
    let mut tx = pool.begin().await?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(account)
            .fetch_optional(&mut *tx)
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
    .fetch_all(&mut *tx)
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
        if current.account_id == account && current.effective_until.is_none() {
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
        .execute(&mut *tx)
        .await?;
        closed = Some(AliasRange {
            effective_until: Some(from),
            ..current.clone()
        });
    }
    let range: AliasRange = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO aliases (org_id, alias, account_id, effective_from) \
         VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(alias)
    .bind(account)
    .bind(from)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Assigned {
        range,
        closed,
        unchanged: false,
    })
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
