//! `billrun bench import --rows N`: a usage import end to end (store the file, run
//! the `csv-import` job) against a plain `COPY` of the same rows into the same
//! indexed table, in the same run, on a fresh database `billrun_bench_import`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use chrono::Utc;
use sqlx::PgPool;
use tokio::io::AsyncReadExt;

use super::columns::{ImportKind, Mapping};
use crate::config::Config;

const ACCOUNTS: u64 = 1_000;

/// Runs the benchmark and prints both rates, their ratio and peak memory.
pub async fn run(config: Arc<Config>, rows: u64, peak_rss_mib: fn() -> f64) -> Result<()> {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::ConnectOptions;
    let url =
        crate::store::resolve_database_url(&config, crate::store::Provision::Existing).await?;
    let opts: PgConnectOptions = url.parse()?;
    let mut admin = opts.clone().database("postgres").connect().await?;
    sqlx::raw_sql("DROP DATABASE IF EXISTS billrun_bench_import WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql("CREATE DATABASE billrun_bench_import")
        .execute(&mut admin)
        .await?;
    let pool = crate::store::connect(
        opts.database("billrun_bench_import")
            .to_url_lossy()
            .as_str(),
        8,
    )
    .await?;
    crate::store::migrate(&pool).await?;
    setup(&pool).await?;

    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let csv_path = dir.join(format!("billrun-bench-import-{pid}.csv"));
    let copy_path = dir.join(format!("billrun-bench-copy-{pid}.txt"));
    let _cleanup = Cleanup(vec![csv_path.clone(), copy_path.clone()]);
    write_files(&csv_path, &copy_path, rows)?;
    let csv_bytes = std::fs::metadata(&csv_path)?.len();
    println!(
        "bench import: {rows} usage events over {ACCOUNTS} accounts, {:.1} MiB of CSV",
        csv_bytes as f64 / 1048576.0
    );

    // Baseline: the same rows, already in the table's shape, streamed by COPY.
    let start = Instant::now();
    let mut conn = pool.acquire().await?;
    let mut copy = conn
        .copy_in_raw(
            "COPY usage_events (org_id, id, account_id, schema_name, ts, attributes, dimensions) \
             FROM STDIN",
        )
        .await?;
    let mut f = tokio::fs::File::open(&copy_path).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        copy.send(&buf[..n]).await?;
    }
    copy.finish().await?;
    let copy_secs = start.elapsed().as_secs_f64();
    drop(conn);
    sqlx::raw_sql("TRUNCATE usage_events; CHECKPOINT")
        .execute(&pool)
        .await?;

    let rss_before = peak_rss_mib();
    let start = Instant::now();
    let created = super::store::create(
        &pool,
        &crate::store::OrgId::from("bench"),
        ImportKind::Usage,
        &csv_path,
        &Mapping::default(),
        1,
        Utc::now(),
    )
    .await?;
    let stored_secs = start.elapsed().as_secs_f64();
    let view = super::job::import(&pool, &created.import_id).await?;
    let import_secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        view.rows_imported == rows as i64,
        "the import loaded {} of {rows} rows: {}",
        view.rows_imported,
        view.summary()
    );
    let copy_rate = rows as f64 / copy_secs;
    let import_rate = rows as f64 / import_secs;
    println!("  plain COPY:  {copy_rate:>9.0} rows/s ({copy_secs:.2} s)");
    println!(
        "  import:      {import_rate:>9.0} rows/s ({import_secs:.2} s end to end: file stored in {stored_secs:.2} s, \
         then validated, staged by COPY and merged in {} batches)",
        view.batches
    );
    println!(
        "  ratio:       {:.2} of COPY's rate",
        import_rate / copy_rate
    );
    println!(
        "  peak RSS:    {:.0} MiB (before the import: {rss_before:.0} MiB)",
        peak_rss_mib()
    );
    Ok(())
}

struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn setup(pool: &PgPool) -> Result<()> {
    sqlx::raw_sql(
        "INSERT INTO organisations (id, name, base_currency, enabled_currencies)
             VALUES ('bench', 'Bench', 'USD', '{USD}');
         INSERT INTO event_schemas (org_id, name, attributes, dimensions)
             VALUES ('bench', 'api', '{calls}', '{region}');
         INSERT INTO customers (org_id, id, name) VALUES ('bench', 'c', 'Bench customer');",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency)
         SELECT 'bench', 'acc' || lpad(g::text, 5, '0'), 'c', 'Account ' || g, 'USD'
         FROM generate_series(1, $1) g",
    )
    .bind(ACCOUNTS as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// The same rows twice: as an import file, and in COPY text for the table.
fn write_files(csv_path: &Path, copy_path: &Path, rows: u64) -> Result<()> {
    let mut csv = std::io::BufWriter::new(std::fs::File::create(csv_path)?);
    let mut copy = std::io::BufWriter::new(std::fs::File::create(copy_path)?);
    writeln!(
        csv,
        "event_id,timestamp,account_id,schema,attribute.calls,dimension.region"
    )?;
    for i in 0..rows {
        let account = format!("acc{:05}", 1 + i % ACCOUNTS);
        let ts = format!(
            "2026-01-{:02}T{:02}:{:02}:{:02}Z",
            1 + i % 28,
            i % 24,
            i % 60,
            (i / 60) % 60
        );
        let calls = (i * 7919) % 400;
        let region = ["eu", "us", "apac"][(i % 3) as usize];
        writeln!(csv, "evt-{i:09},{ts},{account},api,{calls},{region}")?;
        writeln!(
            copy,
            "bench\tevt-{i:09}\t{account}\tapi\t{ts}\t{{\"calls\": \"{calls}\"}}\t{{\"region\": \"{region}\"}}"
        )?;
    }
    csv.flush()?;
    copy.flush()?;
    Ok(())
}
