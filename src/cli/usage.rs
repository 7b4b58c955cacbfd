//! `billrun usage ...`: usage ingest (catalog::usage) and late usage
//! (catalog::usage::late).

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::{bail, Context};
use sqlx::PgPool;

use super::output::{print_json, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::catalog::usage::late::LateEvent;
use crate::catalog::usage::{self, LinesReport};

/// `billrun usage ...`.
#[derive(clap::Subcommand, Debug)]
pub enum UsageCommand {
    /// Ingest Togai events from a JSON-lines file (one event per line; `-` reads
    /// stdin). Reports every rejected line and every event id already recorded with
    /// other values, and exits non-zero if there was any.
    Ingest {
        #[command(flatten)]
        org: OrgArgs,
        /// The file.
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Usage that arrived after its cycle's invoice was finalized (kept, not billed).
    Late {
        #[command(flatten)]
        org: OrgArgs,
        /// At most this many, newest first; when more match, stderr says how many
        /// and the `--after` of the next page.
        #[arg(long, default_value_t = 200)]
        limit: i64,
        /// The next page: the late events after this event id (the cursor printed
        /// as `next page: --after ...`; with --json, the last element's `id`).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Runs `billrun usage ...`. `usage ingest` fails (non-zero exit) if any line was
/// rejected or in conflict with a recorded event, after ingesting the good ones and
/// reporting every bad one.
pub async fn run(pool: &PgPool, cmd: UsageCommand) -> anyhow::Result<()> {
    match cmd {
        UsageCommand::Ingest { org, file, output } => {
            let org = org.id();
            let report = if file.as_os_str() == "-" {
                usage::ingest_json_lines(pool, &org, std::io::stdin().lock()).await?
            } else {
                let f = std::fs::File::open(&file)
                    .with_context(|| format!("opening usage file {}", file.display()))?;
                usage::ingest_json_lines(pool, &org, BufReader::new(f)).await?
            };
            super::audit::note_details(
                "counts",
                serde_json::json!({
                    "read": report.read,
                    "inserted": report.ingest.inserted,
                    "duplicates": report.ingest.duplicates,
                    "rejected": report.rejected,
                    "conflicts": report.conflicts,
                }),
            );
            print_report(output, &report)
        }
        UsageCommand::Late {
            org,
            limit,
            after,
            output,
        } => {
            crate::paging::check_limit(limit)?;
            let page =
                crate::catalog::usage::late::late_events(pool, &org.id(), limit, after.as_deref())
                    .await?;
            print_rows(output, &page.rows, late_table)?;
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("late events") {
                eprintln!("{note}");
            }
            Ok(())
        }
    }
}

/// What `usage ingest` did: the counts (JSON, or one line), then every rejected or
/// conflicting line on stderr in line order; an error if there was any.
fn print_report(output: OutputArgs, report: &LinesReport) -> anyhow::Result<()> {
    if output.json {
        print_json(report)?;
    } else {
        println!(
            "read {}, inserted {}, duplicates {}, rejected {}, conflicts {}, late {}, \
             drafts to recompute {}",
            report.read,
            report.ingest.inserted,
            report.ingest.duplicates,
            report.rejected,
            report.conflicts,
            report.ingest.late,
            report.ingest.drafts_made_stale
        );
    }
    let mut problems: Vec<(u64, &str)> = report
        .rejected_lines
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .chain(
            report
                .conflict_lines
                .iter()
                .map(|c| (c.line, c.reason.as_str())),
        )
        .collect();
    problems.sort_by_key(|p| p.0);
    for (line, reason) in problems {
        eprintln!("line {line}: {reason}");
    }
    if report.rejected > 0 || report.conflicts > 0 {
        bail!(
            "{} of {} lines rejected, {} in conflict with recorded events (the others were \
             ingested)",
            report.rejected,
            report.read,
            report.conflicts
        );
    }
    Ok(())
}

/// `usage late`: a late event a line.
///
/// Every column is padded, the last too (trailing spaces after the header's
/// `INGESTED AT`), as the table this replaces printed it.
fn late_table(late: &[LateEvent]) -> Table {
    let mut t = Table::new(&[
        ("EVENT", 24, Align::Left),
        ("ACCOUNT", 16, Align::Left),
        ("TIMESTAMP", 25, Align::Left),
        ("INGESTED AT              ", 0, Align::Left),
    ]);
    for e in late {
        t.row(vec![
            e.id.clone(),
            e.account_id.clone(),
            e.ts.to_rfc3339(),
            format!("{:<25}", e.ingested_at.to_rfc3339()),
        ]);
    }
    t
}
