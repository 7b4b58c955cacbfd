//! Storage: the Postgres connection, migrations, and the private server.
//!
//! Postgres is the source of truth and the job queue. The application's schema is
//! in `migrations/` (sqlx); the queue's schema is apalis-postgres's own (schema
//! `apalis`, its own migration history), both applied by `billrun migrate`.

pub mod ids;
pub mod private_pg;
pub mod schema;
pub mod status;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;
use sqlx::{ConnectOptions, PgPool};

use crate::config::Config;

pub use ids::OrgId;

/// The application's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Where to reach the developer's local server when nothing is configured.
const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/billrun";

/// What a command may do to the database it resolves to (issue 12 item 9: a misspelt
/// database name must not silently become a new, empty database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// `billrun migrate` and `billrun demo`: create what is missing (the private
    /// cluster, the database) and apply the migrations.
    Create,
    /// Every other command: use what exists. A missing database, or a schema that is
    /// not exactly this binary's, is an error naming the database and the fix.
    Existing,
}

/// Resolves the database URL: the configured one; else `billrun` on localhost:5432
/// if a server answers there; else a private server started from the installed
/// PostgreSQL binaries under `data_dir`.
///
/// With [`Provision::Create`] the database (and the private cluster) is created if
/// missing. With [`Provision::Existing`] nothing is created: a private cluster that
/// was never initialised is an error (a stopped one is started), and a database that
/// does not exist is reported by [`connect`].
pub async fn resolve_database_url(config: &Config, provision: Provision) -> Result<String> {
    let create = provision == Provision::Create;
    if let Some(url) = &config.database_url {
        if create {
            ensure_database_exists(url).await?;
        }
        return Ok(url.clone());
    }
    if local_server_answers().await {
        if create {
            ensure_database_exists(LOCAL_URL).await?;
        }
        return Ok(LOCAL_URL.to_string());
    }
    let dir = config.data_dir.join("pg");
    if !create && !private_pg::exists(&dir) {
        bail!(
            "no database: DATABASE_URL (or database_url) is not set, no PostgreSQL answers on \
             127.0.0.1:5432, and there is no private PostgreSQL in {}: run `billrun migrate` \
             to create one (or `billrun demo`), or set DATABASE_URL",
            dir.display()
        );
    }
    tracing::info!("no database configured and none on localhost:5432: using a private PostgreSQL");
    let url = private_pg::ensure_running(&dir).await?;
    if create {
        ensure_database_exists(&url).await?;
    }
    Ok(url)
}

async fn local_server_answers() -> bool {
    tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect("127.0.0.1:5432"),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

/// Creates the database named in `url` if it does not exist yet.
pub async fn ensure_database_exists(url: &str) -> Result<()> {
    let opts: PgConnectOptions = url
        .parse()
        .with_context(|| format!("bad database URL {:?}", redact(url)))?;
    let name = opts.get_database().unwrap_or("postgres").to_string();
    if opts.clone().connect().await.is_ok() {
        return Ok(());
    }
    let mut admin = opts
        .database("postgres")
        .connect()
        .await
        .with_context(|| format!("connecting to the server of {}", redact(url)))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        // Two processes may race to create it; the loser's error is harmless.
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
        {
            tracing::debug!("create database {name}: {e}");
        }
    }
    Ok(())
}

/// A connection pool. Connections that die (a server restart) are replaced on
/// the next acquire, so a long-running worker survives a database restart.
///
/// Errors: a database that does not exist on its server is named (password masked)
/// with the fix: `billrun migrate` creates it, or DATABASE_URL is misspelt.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let opts: PgConnectOptions = url
        .parse()
        .with_context(|| format!("bad database URL {:?}", redact(url)))?;
    let name = opts.get_database().unwrap_or("postgres").to_string();
    let opts = opts.log_statements(tracing::log::LevelFilter::Trace);
    let explain = |e: sqlx::Error| {
        let missing = e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| c == UNDEFINED_DATABASE);
        if missing {
            anyhow::anyhow!(
                "database {name:?} does not exist ({}): run `billrun migrate` to create \
                 and migrate it, or check DATABASE_URL (or database_url) if the name is \
                 misspelt",
                redact(url)
            )
        } else {
            // sqlx's message already carries its cause (`error communicating with
            // database: Connection refused (os error 111)`): not chained again.
            anyhow::anyhow!("connecting to {}: {e}", redact(url))
        }
    };
    // One connection first, on its own: the pool retries a failing connection until
    // its acquire timeout and then says only "pool timed out", while this one fails at
    // once with the cause (connection refused, a wrong password, no such database).
    match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
        Ok(Ok(first)) => {
            let _ = first.close().await;
        }
        Ok(Err(e)) => return Err(explain(e)),
        Err(_) => {
            anyhow::bail!(
                "connecting to {}: no answer within {} s",
                redact(url),
                CONNECT_TIMEOUT.as_secs()
            )
        }
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        .test_before_acquire(true)
        .connect_with(opts)
        .await
        .map_err(explain)
}

/// How long connecting to the database may take before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the database answers: one `SELECT 1` (the API's `/health`).
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(pool)
        .await
        .map(drop)
}

/// SQLSTATE `invalid_catalog_name`: the database named in the URL does not exist.
const UNDEFINED_DATABASE: &str = "3D000";

/// Applies the queue's and the application's migrations. Idempotent. Returns how
/// many were missing (and are now applied).
///
/// Errors: a database whose schema is ahead of this binary (a migration it does not
/// know) or damaged (a migration recorded as failed, or applied from another file)
/// is refused before anything is applied, with [`schema::SchemaError`]'s message.
pub async fn migrate(pool: &PgPool) -> Result<usize> {
    let histories = schema::histories(pool)
        .await
        .context("reading the database's migration history")?;
    let missing = histories.iter().map(|h| h.missing.len()).sum();
    if !histories.iter().all(schema::History::is_only_behind) {
        let (database, url) = describe(pool);
        if let Some(e) = schema::verdict(&database, &url, histories) {
            return Err(e.into());
        }
    }
    apalis_postgres::PostgresStorage::setup(pool)
        .await
        .context("applying the job queue's migrations (schema apalis)")?;
    MIGRATOR
        .run(pool)
        .await
        .context("applying billrun's migrations")?;
    Ok(missing)
}

/// Fails unless the database behind `pool` has exactly this binary's schema: every
/// command but `migrate` and `demo` calls it before anything else, so that a database
/// never migrated, migrated by an older billrun (behind) or by a newer one (ahead) is
/// named with the fix instead of failing later on a missing table.
pub async fn check(pool: &PgPool) -> Result<()> {
    let histories = schema::histories(pool)
        .await
        .context("reading the database's migration history")?;
    let (database, url) = describe(pool);
    match schema::verdict(&database, &url, histories) {
        None => Ok(()),
        Some(e) => Err(e.into()),
    }
}

/// The database's name and a URL naming it (no password: the pool's options keep it,
/// but it is never printed).
fn describe(pool: &PgPool) -> (String, String) {
    let o = pool.connect_options();
    let database = o.get_database().unwrap_or("postgres").to_string();
    let url = format!(
        "postgres://{}@{}:{}/{database}",
        o.get_username(),
        o.get_host(),
        o.get_port()
    );
    (database, url)
}

/// `url` without its password, for every message and log line that names a database
/// (a URL that does not parse is shown up to its `@`, masked, when it has one).
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_string(),
        // Unparseable: whatever stands before the host may hold a password.
        Err(_) => match url.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/billrun"),
            "postgres://app:***@db:5432/billrun"
        );
        assert_eq!(
            redact("postgres://app@db/billrun"),
            "postgres://app@db/billrun"
        );
        assert!(!redact("postgres://app:s3cret@db:notaport/billrun").contains("s3cret"));
    }
}
