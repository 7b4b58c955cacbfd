//! Login throttling (README "Security"): repeated failed sign-ins for one email
//! address, or from one client IP, are refused for a while, before the password is
//! even checked, so that guessing passwords is slow whatever the guesser does.
//!
//! Rule: within the last [`WINDOW_MINUTES`] minutes, once an address has
//! [`MAX_FAILURES_PER_EMAIL`] failures recorded, or an IP
//! [`MAX_FAILURES_PER_IP`], every sign-in for it is refused (the console answers a
//! 429 page) until the oldest of those failures is [`WINDOW_MINUTES`] old. A failure
//! is a wrong email or password; a successful sign-in clears the address's failures.
//! A refusal writes no failure (the window does not grow while refused). The numbers
//! follow OWASP's Authentication Cheat Sheet's advice to throttle per account and per
//! source (<https://cheatsheetseries.owasp.org/cheatsheets/Authentication_Cheat_Sheet.html>).

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use super::IdentityError;

/// The window failures are counted over, in minutes.
pub const WINDOW_MINUTES: i64 = 15;
/// Failures of one email address (lower-cased) within the window that refuse it.
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
/// Failures from one client IP within the window that refuse it (several addresses
/// tried from one place).
pub const MAX_FAILURES_PER_IP: i64 = 20;

/// Why sign-ins are refused, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// `email` or `ip`: what reached its limit.
    pub by: &'static str,
    /// The failures counted within the window.
    pub failures: i64,
    /// When a sign-in is accepted again (UTC): the oldest counted failure plus the
    /// window.
    pub until: DateTime<Utc>,
}

/// The pure rule: refused when `email_failures` (oldest `email_oldest`) or
/// `ip_failures` (oldest `ip_oldest`) reached its limit.
pub fn decide(
    email_failures: (i64, Option<DateTime<Utc>>),
    ip_failures: (i64, Option<DateTime<Utc>>),
) -> Option<Throttled> {
    let window = Duration::minutes(WINDOW_MINUTES);
    let check = |by, (n, oldest): (i64, Option<DateTime<Utc>>), max| {
        (n >= max).then(|| Throttled {
            by,
            failures: n,
            until: oldest.map(|o| o + window).unwrap_or_default(),
        })
    };
    check("email", email_failures, MAX_FAILURES_PER_EMAIL)
        .or_else(|| check("ip", ip_failures, MAX_FAILURES_PER_IP))
}

/// Whether sign-ins for `email` from `ip` are refused at `now` ([`decide`] over the
/// failures recorded within the window before `now`). Errors: the database.
pub async fn check(
    pool: &PgPool,
    email: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<Option<Throttled>, IdentityError> {
    let email = email.trim().to_lowercase();
    let since = now - Duration::minutes(WINDOW_MINUTES);
    let (en, eo, ipn, ipo): (i64, Option<DateTime<Utc>>, i64, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE email = $1), min(at) FILTER (WHERE email = $1),
                    count(*) FILTER (WHERE ip = $2), min(at) FILTER (WHERE ip = $2)
               FROM login_failures WHERE (email = $1 OR ip = $2) AND at > $3 AND at <= $4",
        )
        .bind(&email)
        .bind(ip)
        .bind(since)
        .bind(now)
        .fetch_one(pool)
        .await?;
    Ok(decide((en, eo), (ipn, ipo)))
}

/// Records a failed sign-in for `email` from `ip` at `now`, deleting failures older
/// than the window. Errors: the database.
pub async fn record_failure(
    pool: &PgPool,
    email: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<(), IdentityError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM login_failures WHERE at <= $1")
        .bind(now - Duration::minutes(WINDOW_MINUTES))
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO login_failures (email, ip, at) VALUES ($1, $2, $3)")
        .bind(email.trim().to_lowercase())
        .bind(ip)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Clears the failures of `email` (a successful sign-in). Errors: the database.
pub async fn clear(pool: &PgPool, email: &str) -> Result<(), IdentityError> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .execute(pool)
        .await?;
    Ok(())
}

/// The organisations where `email` is a user (to audit a refusal in each). Errors:
/// the database.
pub async fn orgs_of(pool: &PgPool, email: &str) -> Result<Vec<super::OrgId>, IdentityError> {
    Ok(
        sqlx::query_scalar("SELECT org_id FROM users WHERE email = $1 ORDER BY org_id")
            .bind(email.trim().to_lowercase())
            .fetch_all(pool)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn five_failures_of_an_address_or_twenty_of_an_ip_refuse_for_the_window() {
        let t = |m| Utc.with_ymd_and_hms(2026, 11, 30, 22, m, 0).unwrap();
        // 4 failures: still allowed.
        assert_eq!(decide((4, Some(t(0))), (4, Some(t(0)))), None);
        // The 5th, the oldest at 22:01: refused until 22:01 + 15 min = 22:16.
        let r = decide((5, Some(t(1))), (5, Some(t(1)))).unwrap();
        assert_eq!((r.by, r.failures, r.until), ("email", 5, t(16)));
        // 20 from one IP over several addresses, the oldest at 22:03: until 22:18.
        let r = decide((1, Some(t(9))), (20, Some(t(3)))).unwrap();
        assert_eq!((r.by, r.until), ("ip", t(18)));
    }
}
