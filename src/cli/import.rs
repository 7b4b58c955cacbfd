//! `billrun import <kind> FILE` / `billrun import sample <kind>` and
//! `billrun imports show|errors|list`.
//!
//! Parse, call (`crate::app::imports` to import, `crate::imports::{store, report}` to
//! read), print. The progress bar of `import --wait` is drawn here, from what
//! `app::imports::run_here` reports.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use sqlx::PgPool;

use super::exit;
use super::output::{print_json, print_rows, Align, OutputArgs, Table};
use crate::app::imports::{self as app, ImportOptions, WaitError};
use crate::config::Config;
use crate::imports::store::{self, ImportView};
use crate::imports::{report, ImportKind, Mapping};
use crate::store::status::ImportStatus;
use crate::store::OrgId;

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
        #[command(flatten)]
        output: OutputArgs,
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
        #[command(flatten)]
        output: OutputArgs,
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

/// Runs `billrun import`: prints the import's id, then (with `--wait`) its progress
/// and outcome on stderr. Fails (status 1) unless the import ended DONE with every
/// row accepted.
pub async fn run_import(pool: &PgPool, config: Arc<Config>, args: ImportArgs) -> Result<ExitCode> {
    if args.kind == "sample" {
        sample(&args.file)?;
        return Ok(ExitCode::SUCCESS);
    }
    let kind = ImportKind::parse(&args.kind).map_err(anyhow::Error::msg)?;
    let Some(org) = &args.org else {
        bail!("--org is required: the organisation to import into");
    };
    let options = ImportOptions {
        mapping: Mapping::parse(&args.map).map_err(anyhow::Error::msg)?,
        max_attempts: config.retry.max_attempts,
    };
    let created = app::upload(
        pool,
        &OrgId::from(org.as_str()),
        kind,
        Path::new(&args.file),
        &options,
        Utc::now(),
    )
    .await?;
    super::audit::note_object(created.import_id.to_string());
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
    Ok(if view.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILED)
    })
}

/// Runs the import here ([`app::run_here`]) and draws its progress on stderr: one
/// line redrawn in place on a terminal, else a line per change. Ctrl-C stops the
/// wait (the import goes on in the queue).
async fn wait(
    pool: &PgPool,
    config: Arc<Config>,
    id: &str,
    timeout: Duration,
) -> Result<ImportView> {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_line = String::new();
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = app::run_here(pool, config, id, timeout, interrupt, |view| {
        let line = progress_line(view);
        if line != last_line {
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            last_line = line;
        }
    })
    .await;
    // End the redrawn line, except before the message of a timeout or a database
    // failure, which follows it on the same line.
    if tty
        && matches!(
            result,
            Ok(_) | Err(WaitError::Interrupted(_) | WaitError::Worker(_))
        )
    {
        eprintln!();
    }
    Ok(result?)
}

/// How far the job has read the file, in percent (100 once DONE).
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

/// Prints `imports show` as text.
async fn print_detail(pool: &PgPool, detail: &report::ImportDetail) -> Result<()> {
    let view = &detail.view;
    println!(
        "import    {} ({} into organisation {})",
        view.id, view.kind, view.org_id
    );
    println!("file      {} ({})", view.file_name, mib(view.file_bytes));
    let job_note = match (&view.job_id, detail.job_state) {
        (Some(job), Some(state)) => format!(", job {job} {state}"),
        _ => String::new(),
    };
    println!("status    {}{job_note}", view.status);
    println!(
        "progress  {:.0}% ({} of {}, {} batches)",
        percent(view),
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
    } else if let Some(e) = &detail.job_last_error {
        println!("job error {e}");
    }
    if view.rows_failed > 0 {
        let bad = store::bad_rows(pool, &view.id).await?;
        println!(
            "bad rows  (billrun imports errors {} for all of them as CSV)",
            view.id
        );
        for b in bad.iter().take(20) {
            println!("  {}", b.describe());
        }
        if bad.len() > 20 {
            println!("  ... and {} more", bad.len() - 20);
        }
    }
    Ok(())
}

/// The `imports list` table.
fn imports_table(list: &[ImportView]) -> Table {
    let mut t = Table::new(&[
        ("ID", 26, Align::Left),
        ("ORG", 10, Align::Left),
        ("KIND", 9, Align::Left),
        ("STATUS", 8, Align::Left),
        ("READ", 10, Align::Right),
        ("IMPORTED", 10, Align::Right),
        ("SKIPPED", 9, Align::Right),
        ("FAILED", 8, Align::Right),
        // An empty column: the file name stands two spaces after FAILED.
        ("", 0, Align::Left),
        ("FILE", 0, Align::Left),
    ]);
    for v in list {
        t.row(vec![
            v.id.clone(),
            v.org_id.clone(),
            v.kind.clone(),
            v.status.to_string(),
            v.rows_read.to_string(),
            v.rows_imported.to_string(),
            v.rows_skipped.to_string(),
            v.rows_failed.to_string(),
            String::new(),
            v.file_name.clone(),
        ]);
    }
    t
}

/// Runs `billrun imports ...`.
pub async fn run_imports(pool: &PgPool, cmd: ImportsCommand) -> Result<ExitCode> {
    match cmd {
        ImportsCommand::Show { id, output } => {
            let detail = report::show(pool, &id).await?;
            if output.json {
                // Through a JSON value, as before: the same key order whatever
                // serde_json's map keeps.
                print_json(&serde_json::to_value(&detail)?)?;
            } else {
                print_detail(pool, &detail).await?;
            }
        }
        ImportsCommand::Errors { id, out } => {
            let file = report::errors_file(pool, &id).await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, &file.csv)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!(
                        "{} bad rows of import {} written to {}",
                        file.rows,
                        file.import_id,
                        path.display()
                    );
                }
                None => std::io::stdout().write_all(&file.csv)?,
            }
        }
        ImportsCommand::List {
            org,
            limit,
            after,
            output,
        } => {
            crate::paging::check_limit(limit)?;
            let org = org.map(OrgId::from);
            let page = store::list(pool, org.as_ref(), limit, after.as_deref()).await?;
            print_rows(output, &page.rows, imports_table)?;
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("imports") {
                eprintln!("{note}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::imports_table;
    use crate::imports::store::ImportView;
    use crate::store::status::ImportStatus;

    #[test]
    fn the_imports_table_is_the_one_printed_before_the_shared_printer() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let v = ImportView {
            id: "01JX0000000000000000000000".into(),
            org_id: "acme".into(),
            kind: "usage".into(),
            file_name: "events.csv".into(),
            file_bytes: 10,
            status: ImportStatus::Done,
            job_id: None,
            next_offset: 10,
            rows_read: 1234,
            rows_imported: 1200,
            rows_skipped: 30,
            rows_failed: 4,
            batches: 1,
            events_late: 0,
            error: None,
            created_at: at,
            started_at: None,
            updated_at: at,
            finished_at: None,
        };
        let mut expected = format!(
            "{:<26} {:<10} {:<9} {:<8} {:>10} {:>10} {:>9} {:>8}  FILE\n",
            "ID", "ORG", "KIND", "STATUS", "READ", "IMPORTED", "SKIPPED", "FAILED"
        );
        expected.push_str(&format!(
            "{:<26} {:<10} {:<9} {:<8} {:>10} {:>10} {:>9} {:>8}  {}\n",
            v.id,
            v.org_id,
            v.kind,
            v.status,
            v.rows_read,
            v.rows_imported,
            v.rows_skipped,
            v.rows_failed,
            v.file_name
        ));
        assert_eq!(imports_table(&[v]).render(), expected);
    }
}
