//! `billrun usage ...`: usage ingest and late usage.

use super::*;

/// `billrun usage ...`.
#[derive(clap::Subcommand, Debug)]
pub enum UsageCommand {
    /// Ingest Togai events from a JSON-lines file (one event per line; `-` reads
    /// stdin). Reports every rejected line and exits non-zero if any was rejected.
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
        /// At most this many, newest first.
        #[arg(long, default_value_t = 200)]
        limit: i64,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

// ---------------------------------------------------------------------------------
// Usage.

/// Runs `billrun usage ...`. Fails (non-zero exit) if any line was rejected, after
/// ingesting the good ones and reporting every bad one.
pub async fn run_usage(pool: &PgPool, cmd: UsageCommand) -> anyhow::Result<()> {
    let (org, file, json) = match cmd {
        UsageCommand::Ingest { org, file, json } => (org, file, json),
        UsageCommand::Late { org, limit, json } => {
            let late = crate::bill_run::usage::late_events(pool, &org, limit).await?;
            if json {
                print_json(&late)?;
            } else {
                println!(
                    "{:<24} {:<16} {:<25} {:<25}",
                    "EVENT", "ACCOUNT", "TIMESTAMP", "INGESTED AT"
                );
                for e in &late {
                    println!(
                        "{:<24} {:<16} {:<25} {:<25}",
                        e.id,
                        e.account_id,
                        e.ts.to_rfc3339(),
                        e.ingested_at.to_rfc3339()
                    );
                }
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
            "read {}, inserted {}, duplicates {}, rejected {}, late {}, drafts to recompute {}",
            report.read,
            report.ingest.inserted,
            report.ingest.duplicates,
            report.rejected,
            report.ingest.late,
            report.ingest.drafts_made_stale
        );
    }
    for r in &report.rejected_lines {
        eprintln!("line {}: {}", r.line, r.reason);
    }
    if report.rejected > 0 {
        bail!(
            "{} of {} lines rejected (the others were ingested)",
            report.rejected,
            report.read
        );
    }
    Ok(())
}
