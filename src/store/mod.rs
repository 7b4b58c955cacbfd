//! Storage: the Postgres connection, migrations, and the private server.
//!
//! Postgres is the source of truth and the job queue. The application's schema is
//! in `migrations/` (sqlx); the queue's schema is apalis-postgres's own (schema
//! `apalis`, its own migration history), both applied by `billrun migrate`.

pub mod private_pg;
pub mod status;

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::Config;

/// The application's migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Where to reach the developer's local server when nothing is configured.
const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/billrun";

/// Resolves the database URL: the configured one (its database created if the
/// server lacks it); else `billrun` on
/// localhost:5432 (created if missing); else a private server started from the
/// installed PostgreSQL binaries under `data_dir`.
pub async fn resolve_database_url(config: &Config) -> Result<String> {
    if let Some(url) = &config.database_url {
        ensure_database_exists(url).await?;
        return Ok(url.clone());
    }
    if local_server_answers().await {
        ensure_database_exists(LOCAL_URL).await?;
        return Ok(LOCAL_URL.to_string());
    }
    tracing::info!("no database configured and none on localhost:5432: using a private PostgreSQL");
    let url = private_pg::ensure_running(&config.data_dir.join("pg")).await?;
    ensure_database_exists(&url).await?;
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
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let opts: PgConnectOptions = url
        .parse()
        .with_context(|| format!("bad database URL {:?}", redact(url)))?;
    let opts = opts.log_statements(tracing::log::LevelFilter::Trace);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(true)
        .connect_with(opts)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// Applies the queue's and the application's migrations. Idempotent.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    apalis_postgres::PostgresStorage::setup(pool)
        .await
        .context("applying the job queue's migrations (schema apalis)")?;
    MIGRATOR
        .run(pool)
        .await
        .context("applying billrun's migrations")?;
    Ok(())
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
