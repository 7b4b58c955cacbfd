//! `billrun usage ...`: usage ingest and late usage.

use super::*;

/// `billrun usage ...`.
#[derive(clap::Subcommand, Debug)]
pub enum UsageCommand {
    /// Ingest Togai events from a JSON-lines file (one event per line; `-` reads
    /// stdin). Reports every rejected line and every event id already recorded with
    /// other values, and exits non-zero if there was any.
    Ingest {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The file.
        file: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Usage that arrived after its cycle's invoice was finalized (kept, not billed).
    Late {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// At most this many, newest first; when more match, stderr says how many
        /// and the `--after` of the next page.
        #[arg(long, default_value_t = 200)]
        limit: i64,
        /// The next page: the late events after this event id (the cursor printed
        /// as `next page: --after ...`; with --json, the last element's `id`).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

// ---------------------------------------------------------------------------------
// Usage.

/// Runs `billrun usage ...`. Fails (non-zero exit) if any line was rejected or in
/// conflict with a recorded event, after ingesting the good ones and reporting every
/// bad one.
pub async fn run_usage(pool: &PgPool, cmd: UsageCommand) -> anyhow::Result<()> {
    let (org, file, json) = match cmd {
        UsageCommand::Ingest { org, file, json } => (org, file, json),
        UsageCommand::Late {
            org,
            limit,
            after,
            json,
        } => {
            crate::paging::check_limit(limit)?;
            let page =
                crate::bill_run::usage::late_events(pool, &org, limit, after.as_deref()).await?;
            let late = &page.rows;
            if json {
                print_json(late)?;
            } else {
                println!(
                    "{:<24} {:<16} {:<25} {:<25}",
                    "EVENT", "ACCOUNT", "TIMESTAMP", "INGESTED AT"
                );
                for e in late {
                    println!(
                        "{:<24} {:<16} {:<25} {:<25}",
                        e.id,
                        e.account_id,
                        e.ts.to_rfc3339(),
                        e.ingested_at.to_rfc3339()
                    );
                }
            }
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("late events") {
                eprintln!("{note}");
            }
            return Ok(());
        }
    };
    let report = if file.as_os_str() == "-" {
        usage::ingest_json_lines(pool, &org, std::io::stdin().lock()).await?
    } else {
        let f = std::fs::File::open(&file)
            .with_context(|| format!("opening usage file {}", file.display()))?;
        usage::ingest_json_lines(pool, &org, BufReader::new(f)).await?
    };
    if json {
        print_json(&report)?;
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
