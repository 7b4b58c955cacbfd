//! Paged listings (issue 12 item 15): a listing that stops at `--limit` says so, and
//! the next page starts exactly after the last row shown.
//!
//! Each listing has a stable order on columns that never change once a row is
//! written, ending with a unique one, and pages by keyset (`--after CURSOR`: the rows
//! after the cursor's row in that order), never by offset. So paging visits every row
//! that exists throughout exactly once, however many rows arrive meanwhile (a new row
//! lands before or after the cursor, and is listed on a later page or not at all).

use anyhow::{bail, Result};

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The page's rows, in the listing's order.
    pub rows: Vec<T>,
    /// Rows of the whole listing (its filters, no cursor), counted with the page.
    pub total: i64,
    /// Rows of the listing up to and including the cursor's row: 0 on the first page.
    pub before: i64,
    /// The cursor of the next page (`--after` it), when more rows follow this page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The page from `fetched`, which the query read with `LIMIT limit + 1` (see
    /// [`fetch_limit`]): the first `limit` rows, and when there was one more, the
    /// cursor of the last row kept.
    pub fn new(
        mut fetched: Vec<T>,
        limit: i64,
        total: i64,
        before: i64,
        cursor: impl Fn(&T) -> String,
    ) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next = if fetched.len() > limit {
            fetched.truncate(limit);
            fetched.last().map(cursor)
        } else {
            None
        };
        Page {
            rows: fetched,
            total,
            before,
            next,
        }
    }

    /// What to tell the reader when the listing is not whole on this page (`noun`
    /// plural, e.g. `invoices`): `3 of 7 invoices (1-3, newest first); next page:
    /// --after C`, or `... ; last page` on the last of several pages. None when this
    /// page is the whole listing.
    pub fn note(&self, noun: &str) -> Option<String> {
        if self.before == 0 && self.next.is_none() {
            return None;
        }
        let shown = self.rows.len() as i64;
        let range = if shown == 0 {
            "none after the cursor".to_string()
        } else {
            format!("{}-{}", self.before + 1, self.before + shown)
        };
        let tail = match &self.next {
            Some(c) => format!("next page: --after {c}"),
            None => "last page".to_string(),
        };
        Some(format!(
            "{shown} of {} {noun} ({range}, newest first); {tail}",
            self.total
        ))
    }
}

/// Why a page could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The `--after` cursor is malformed or names no row of the listing.
    #[error(
        "--after {after}: {reason} (the cursor is what the previous page printed as \
         `next page: --after ...`; a row deleted since takes its cursor with it: list \
         again from the first page)"
    )]
    BadCursor {
        /// The cursor given.
        after: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A filter names a row that does not exist (e.g. `--account nobody`): an
    /// empty page would read as "none", which is not what is true.
    #[error("{what} {id:?} does not exist in organisation {org:?}")]
    NotFound {
        /// What the filter names: "account", ...
        what: &'static str,
        /// The organisation looked in.
        org: String,
        /// The id given.
        id: String,
    },
    /// The database.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl crate::error::Classify for ListError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            ListError::BadCursor { .. } => ErrorKind::Invalid,
            ListError::NotFound { .. } => ErrorKind::NotFound,
            ListError::Db(e) => e.kind(),
        }
    }
}

/// Checks a `--limit`: at least 1.
pub fn check_limit(limit: i64) -> Result<()> {
    if limit < 1 {
        bail!("--limit {limit}: expected a number of rows, 1 or more");
    }
    Ok(())
}

/// The `LIMIT` of a page's query: one row more than shown, to know whether more follow.
pub fn fetch_limit(limit: i64) -> i64 {
    limit.saturating_add(1)
}

/// Begins the read-only REPEATABLE READ transaction a page is read in: the cursor's
/// row, the page and the counts see one snapshot (and one `now()`), so they agree.
pub async fn snapshot(
    pool: &sqlx::PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(fetched: &[i32], limit: i64, total: i64, before: i64) -> Page<i32> {
        Page::new(fetched.to_vec(), limit, total, before, |r| format!("c{r}"))
    }

    #[test]
    fn a_cut_first_page_says_how_many_of_how_many_and_where_to_go_on() {
        // 7 rows, limit 3: the query read 4.
        let p = page(&[7, 6, 5, 4], 3, 7, 0);
        assert_eq!(p.rows, [7, 6, 5]);
        assert_eq!(p.next.as_deref(), Some("c5"));
        assert_eq!(
            p.note("invoices").unwrap(),
            "3 of 7 invoices (1-3, newest first); next page: --after c5"
        );
    }

    #[test]
    fn a_middle_page_and_the_last_page_name_their_range() {
        let p = page(&[4, 3, 2, 1], 3, 7, 3);
        assert_eq!(
            p.note("invoices").unwrap(),
            "3 of 7 invoices (4-6, newest first); next page: --after c2"
        );
        let p = page(&[1], 3, 7, 6);
        assert_eq!(p.next, None);
        assert_eq!(
            p.note("invoices").unwrap(),
            "1 of 7 invoices (7-7, newest first); last page"
        );
    }

    #[test]
    fn a_whole_listing_needs_no_note_and_an_exact_fit_has_no_next_page() {
        assert_eq!(page(&[3, 2, 1], 3, 3, 0).note("invoices"), None);
        assert_eq!(page(&[], 3, 0, 0).note("invoices"), None);
    }

    #[test]
    fn limits_below_one_are_refused() {
        assert!(check_limit(0).is_err());
        assert!(check_limit(-5).is_err());
        assert!(check_limit(1).is_ok());
        assert_eq!(fetch_limit(200), 201);
        assert_eq!(fetch_limit(i64::MAX), i64::MAX);
    }
}
