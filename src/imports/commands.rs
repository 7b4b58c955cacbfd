//! `billrun import <kind> FILE` / `billrun import sample <kind>` and
//! `billrun imports show|errors|list`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use sqlx::PgPool;

use super::columns::{ImportKind, Mapping};
use super::store::{self, ImportView};
use crate::config::Config;
use crate::jobs::worker;
use crate::queue::admin;
use crate::queue::JobKind;
use crate::store::status::ImportStatus;

/// `billrun import <kind> FILE` (or `billrun import sample <kind>`).
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// accounts, usage or licenses (or `sample`, followed by the kind).
    pub kind: String,
    /// The CSV file (or, after `sample`, the kind).
    pub file: String,
    /// Organisation to import into.
    #[arg(long)]
    pub org: Option<String>,
    /// Map the file's column names onto ours: THEIRS=OURS,... (OURS `-` ignores it).
    #[arg(long, value_name = "THEIRS=OURS,...")]
    pub map: Vec<String>,
    /// Run the import here (and with any other worker) and show progress until it ends.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up waiting after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
}

/// `billrun imports ...`.
#[derive(Subcommand, Debug)]
pub enum ImportsCommand {
    /// One import: status, rows read / imported / skipped / failed, timings.
    Show {
        /// Import id.
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The bad rows as CSV, with an `error` column (line, column, reason), ready to
    /// fix and import again.
    Errors {
        /// Import id.
        id: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Imports, newest first, paged.
    List {
        /// Only this organisation's.
        #[arg(long)]
        org: Option<String>,
        /// At most this many; when more match, stderr says how many and the
        /// `--after` of the next page.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The next page: the imports older than this import id (the cursor printed
        /// as `next page: --after ...`; with --json, the last element's `id`).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// JSON instead of a table (an array of the page's imports).
        #[arg(long)]
        json: bool,
    },
}

/// Whether `billrun import` needs the database (a sample does not).
pub fn needs_database(args: &ImportArgs) -> bool {
    args.kind != "sample"
}

/// Prints a sample file.
pub fn sample(kind: &str) -> Result<()> {
    let kind = ImportKind::parse(kind).map_err(anyhow::Error::msg)?;
    print!("{}", kind.sample());
    Ok(())
}

/// Runs `billrun import`.
pub async fn run_import(pool: &PgPool, config: Arc<Config>, args: ImportArgs) -> Result<ExitCode> {
    if args.kind == "sample" {
        sample(&args.file)?;
        return Ok(ExitCode::SUCCESS);
    }
    let kind = ImportKind::parse(&args.kind).map_err(anyhow::Error::msg)?;
    let Some(org) = &args.org else {
        bail!("--org is required: the organisation to import into");
    };
    let mapping = Mapping::parse(&args.map).map_err(anyhow::Error::msg)?;
    let created = store::create(
        pool,
        org,
        kind,
        std::path::Path::new(&args.file),
        &mapping,
        config.retry.max_attempts,
        Utc::now(),
    )
    .await?;
    println!("{}", created.import_id);
    if !args.wait {
        eprintln!(
            "stored; a worker runs it (job {}). Progress: billrun imports show {}",
            created.job_id, created.import_id
        );
        return Ok(ExitCode::SUCCESS);
    }
    let view = wait(
        pool,
        config,
        &created.import_id,
        Duration::from_secs(args.timeout),
    )
    .await?;
    eprintln!("{}", view.summary());
    if view.rows_failed > 0 {
        eprintln!(
            "bad rows: billrun imports errors {} --out bad-rows.csv",
            view.id
        );
    }
    Ok(
        if view.status == ImportStatus::Done && view.rows_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// Runs a worker for imports in this process and draws progress until the import
/// ends (workers elsewhere may run it too: whichever claims the job).
async fn wait(
    pool: &PgPool,
    config: Arc<Config>,
    id: &str,
    timeout: Duration,
) -> Result<ImportView> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // This process runs this import's job only, never another pending one.
    let job_id = store::get(pool, id)
        .await?
        .context("the import vanished")?
        .job_id;
    let workers = tokio::spawn(worker::run_jobs(
        pool.clone(),
        config,
        vec![JobKind::CsvImport],
        worker::process_name(),
        Some(job_id.clone().unwrap_or_else(|| id.to_string())),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let deadline = tokio::time::Instant::now() + timeout;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_line = String::new();
    let view = loop {
        let view = store::get(pool, id).await?.context("the import vanished")?;
        let line = progress_line(&view);
        if line != last_line {
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            last_line = line;
        }
        if view.finished() {
            break view;
        }
        if let Some(job) = view.job_id.as_deref() {
            if let Some(j) = admin::show(pool, job).await? {
                if matches!(j.state, admin::JobState::Dead | admin::JobState::Cancelled) {
                    break view;
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            let _ = stop_tx.send(());
            bail!(
                "import {id} did not finish within {}s; it goes on in the workers",
                timeout.as_secs()
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut interrupt => {
                workers.abort();
                if tty {
                    eprintln!();
                }
                return Err(crate::jobs::run::Interrupted {
                    job: job_id.unwrap_or_else(|| id.to_string()),
                }
                .into());
            }
        }
    };
    if tty {
        eprintln!();
    }
    let _ = stop_tx.send(());
    workers.await??;
    Ok(view)
}

fn percent(v: &ImportView) -> f64 {
    if v.status == ImportStatus::Done || v.file_bytes == 0 {
        100.0
    } else {
        v.next_offset as f64 * 100.0 / v.file_bytes as f64
    }
}

fn progress_line(v: &ImportView) -> String {
    let pct = percent(v);
    let filled = (pct / 5.0).round() as usize;
    format!(
        "[{}{}] {pct:>3.0}% {} rows read, {} imported, {} skipped, {} failed ({})",
        "#".repeat(filled.min(20)),
        ".".repeat(20 - filled.min(20)),
        v.rows_read,
        v.rows_imported,
        v.rows_skipped,
        v.rows_failed,
        v.status
    )
}

fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Runs `billrun imports ...`.
pub async fn run_imports(pool: &PgPool, cmd: ImportsCommand) -> Result<ExitCode> {
    match cmd {
        ImportsCommand::Show { id, json } => {
            let view = store::get(pool, &id)
                .await?
                .with_context(|| format!("no import {id:?}"))?;
            let job = match &view.job_id {
                Some(j) => admin::show(pool, j).await?,
                None => None,
            };
            if json {
                let mut v = serde_json::to_value(&view)?;
                v["jobState"] = serde_json::json!(job.as_ref().map(|j| j.state));
                v["jobLastError"] =
                    serde_json::json!(job.as_ref().and_then(|j| j.last_error.clone()));
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "import    {} ({} into organisation {})",
                view.id, view.kind, view.org_id
            );
            println!("file      {} ({})", view.file_name, mib(view.file_bytes));
            let job_note = job
                .as_ref()
                .map(|j| format!(", job {} {}", j.id, j.state))
                .unwrap_or_default();
            println!("status    {}{job_note}", view.status);
            println!(
                "progress  {:.0}% ({} of {}, {} batches)",
                percent(&view),
                mib(view.next_offset),
                mib(view.file_bytes),
                view.batches
            );
            println!(
                "rows      read {}, imported {}, skipped {}, failed {}",
                view.rows_read, view.rows_imported, view.rows_skipped, view.rows_failed
            );
            if view.kind == "usage" {
                println!(
                    "late      {} events dated in cycles already invoiced (billrun usage late)",
                    view.events_late
                );
            }
            println!("created   {}", view.created_at.to_rfc3339());
            if let Some(s) = view.started_at {
                println!("started   {}", s.to_rfc3339());
            }
            if let Some(f) = view.finished_at {
                let took = view
                    .started_at
                    .map(|s| (f - s).num_milliseconds() as f64 / 1000.0);
                println!(
                    "finished  {}{}",
                    f.to_rfc3339(),
                    took.map(|t| format!(" ({t:.1} s)")).unwrap_or_default()
                );
            }
            if view.status == ImportStatus::Done {
                println!("outcome   {}", view.summary());
            }
            if let Some(e) = &view.error {
                println!("error     {e}");
            } else if let Some(e) = job.as_ref().and_then(|j| j.last_error.clone()) {
                println!("job error {e}");
            }
            if view.rows_failed > 0 {
                let bad = store::bad_rows(pool, &id).await?;
                println!("bad rows  (billrun imports errors {id} for all of them as CSV)");
                for b in bad.iter().take(20) {
                    println!("  {}", b.describe());
                }
                if bad.len() > 20 {
                    println!("  ... and {} more", bad.len() - 20);
                }
            }
        }
        ImportsCommand::Errors { id, out } => {
            let view = store::get(pool, &id)
                .await?
                .with_context(|| format!("no import {id:?}"))?;
            let header = store::raw_header(pool, &id).await?.unwrap_or_default();
            let bad = store::bad_rows(pool, &id).await?;
            let bytes = errors_csv(&header, &bad)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &bytes)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "{} bad rows of import {} written to {}",
                        bad.len(),
                        view.id,
                        path.display()
                    );
                }
                None => std::io::stdout().write_all(&bytes)?,
            }
        }
        ImportsCommand::List {
            org,
            limit,
            after,
            json,
        } => {
            crate::paging::check_limit(limit)?;
            let page = store::list(pool, org.as_deref(), limit, after.as_deref()).await?;
            let list = &page.rows;
            if json {
                println!("{}", serde_json::to_string_pretty(list)?);
            } else {
                println!(
                    "{:<26} {:<10} {:<9} {:<8} {:>10} {:>10} {:>9} {:>8}  FILE",
                    "ID", "ORG", "KIND", "STATUS", "READ", "IMPORTED", "SKIPPED", "FAILED"
                );
                for v in list {
                    println!(
                        "{:<26} {:<10} {:<9} {:<8} {:>10} {:>10} {:>9} {:>8}  {}",
                        v.id,
                        v.org_id,
                        v.kind,
                        v.status,
                        v.rows_read,
                        v.rows_imported,
                        v.rows_skipped,
                        v.rows_failed,
                        v.file_name
                    );
                }
            }
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("imports") {
                eprintln!("{note}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The errors file: the file's own header plus `error`, then each bad row as it was
/// plus its error (`line 7, column timestamp: ...`).
pub fn errors_csv(header: &csv::ByteRecord, bad: &[store::BadRow]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(&mut out);
        let mut h = header.clone();
        h.push_field(b"error");
        w.write_byte_record(&h)?;
        w.flush()?;
    }
    for b in bad {
        out.extend_from_slice(&b.record);
        out.push(b',');
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record([b.describe()])?;
        out.extend_from_slice(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok(out)
}
