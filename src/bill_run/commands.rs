//! `billrun invoice ...` and `billrun usage late`.

use crate::store::status::InvoiceStatus;
use anyhow::{bail, Result};
use chrono::Utc;
use clap::Subcommand;
use sqlx::PgPool;

use super::invoices::{self, InvoiceFilter, InvoiceView};

/// Invoice commands.
#[derive(Subcommand, Debug)]
pub enum InvoiceCommand {
    /// Invoices of an organisation, newest billing period first, paged.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Only this status: DRAFT, DUE, PAID, VOID.
        #[arg(long)]
        status: Option<String>,
        /// At most this many (newest first); when more match, stderr says how many
        /// and the `--after` of the next page.
        #[arg(long, default_value_t = 200)]
        limit: i64,
        /// The next page: the invoices after this invoice id (the cursor printed as
        /// `next page: --after ...`; with --json, the last element's `id`).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// JSON instead of a table (an array of the page's invoices).
        #[arg(long)]
        json: bool,
    },
    /// One invoice (by id or number) with its lines.
    Show {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Invoice id or number.
        invoice: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Write the stored PDF to this file.
        #[arg(long, value_name = "FILE")]
        pdf: Option<std::path::PathBuf>,
        /// Write the stored HTML to this file.
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
    },
    /// Render a finalized invoice's documents again, with the template version, billing
    /// details and logo recorded when it was first rendered, and wait.
    Rerender {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Invoice id or number.
        invoice: String,
    },
    /// Email a finalized invoice again to every recipient, and wait.
    Resend {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Invoice id or number.
        invoice: String,
    },
    /// Record the payment of a DUE invoice.
    MarkPaid {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Invoice id or number.
        invoice: String,
    },
    /// Void a DUE invoice, or a PAID one with a total of 0 (it keeps its number): the
    /// credits it used are given back, those it sold revoked, and its documents
    /// rendered again marked VOID (waited for).
    Void {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Invoice id or number.
        invoice: String,
        /// The void's instant (RFC 3339 or YYYY-MM-DD; default now): its credit
        /// movements carry it.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-issue the cycle of a VOID invoice: a new numbered invoice for the same
    /// account, association and boundary, recomputed from current data, finalized,
    /// rendered and emailed as usual (waited for).
    Reissue {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// The VOID invoice's id or number.
        invoice: String,
        /// The reissue's instant (RFC 3339 or YYYY-MM-DD; default now): its invoice
        /// date, and the instant of the bill run that recomputes it.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Print the new invoice as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an invoice command.
pub async fn run_invoice(pool: &PgPool, cmd: InvoiceCommand) -> Result<()> {
    match cmd {
        InvoiceCommand::List {
            org,
            account,
            status,
            limit,
            after,
            json,
        } => {
            crate::paging::check_limit(limit)?;
            let status = status
                .map(|s| s.parse::<InvoiceStatus>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("--status: {e}"))?;
            let page = invoices::list(
                pool,
                &InvoiceFilter {
                    org,
                    account,
                    status,
                    limit,
                    after,
                },
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page.rows)?);
            } else {
                print_table(&page.rows);
            }
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("invoices") {
                eprintln!("{note}");
            }
        }
        InvoiceCommand::Show {
            org,
            invoice,
            json,
            pdf,
            html,
        } => {
            let Some(inv) = invoices::show(pool, &org, &invoice).await? else {
                bail!("organisation {org} has no invoice {invoice}");
            };
            if pdf.is_some() || html.is_some() {
                let Some((h, p)) = super::render::document(pool, &org, &inv.id).await? else {
                    bail!(
                        "invoice {invoice} has no document yet: documents are rendered after \
                         finalization by the render-chunk job (status {})",
                        inv.status
                    );
                };
                if let Some(path) = pdf {
                    std::fs::write(&path, p)
                        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                    eprintln!("PDF written to {}", path.display());
                }
                if let Some(path) = html {
                    std::fs::write(&path, h)
                        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                    eprintln!("HTML written to {}", path.display());
                }
            } else if json {
                println!("{}", serde_json::to_string_pretty(&inv)?);
            } else {
                print_invoice(&inv);
            }
        }
        InvoiceCommand::Rerender { .. } => {
            unreachable!("billrun invoice rerender goes through run_rerender")
        }
        InvoiceCommand::Resend { .. } => {
            unreachable!("billrun invoice resend goes through run_resend")
        }
        InvoiceCommand::MarkPaid { org, invoice } => {
            let inv = invoices::mark_paid(pool, &org, &invoice, Utc::now()).await?;
            println!(
                "invoice {} is PAID",
                inv.number.as_deref().unwrap_or(&inv.id)
            );
        }
        InvoiceCommand::Void { .. } => {
            unreachable!("billrun invoice void goes through run_void")
        }
        InvoiceCommand::Reissue { .. } => {
            unreachable!("billrun invoice reissue goes through run_reissue")
        }
    }
    Ok(())
}

/// Prints invoices as a table.
pub fn print_table(list: &[InvoiceView]) {
    println!(
        "{:<16} {:<14} {:<6} {:<10} {:<10} {:<10} {:>12} {:<4}",
        "NUMBER", "ACCOUNT", "STATUS", "BOUNDARY", "DATE", "DUE", "TOTAL", "CUR"
    );
    for i in list {
        let d =
            |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{:<16} {:<14} {:<6} {:<10} {:<10} {:<10} {:>12} {:<4}",
            i.number.as_deref().unwrap_or("(draft)"),
            i.account_id,
            i.status,
            i.boundary,
            d(i.invoice_date),
            d(i.due_date),
            i.total,
            i.currency
        );
    }
}

fn print_invoice(i: &InvoiceView) {
    println!(
        "invoice {}  ({})",
        i.number.as_deref().unwrap_or("(draft, no number yet)"),
        i.id
    );
    println!("account:      {} (organisation {})", i.account_id, i.org_id);
    println!(
        "status:       {}{}",
        i.status,
        if i.stale {
            " (stale: usage changed, recomputed on the next cycle-close)"
        } else {
            ""
        }
    );
    if let Some(into) = &i.merged_into {
        println!("merged into:  {into} (its lines are on that invoice)");
    }
    println!("plan:         {} v{}", i.plan_id, i.plan_version);
    if let Some(r) = &i.reissue_of {
        println!("re-issues:    {r} (VOID)");
    }
    if let Some(r) = &i.reissued_by {
        println!("re-issued by: {r}");
    }
    if let (Some(s), Some(e)) = (i.closing_start, i.closing_end) {
        println!("in arrears:   {s} - {}", e.pred_opt().unwrap_or(e));
    }
    if let (Some(s), Some(e)) = (i.opening_start, i.opening_end) {
        println!("in advance:   {s} - {}", e.pred_opt().unwrap_or(e));
    }
    if let (Some(d), Some(due)) = (i.invoice_date, i.due_date) {
        println!(
            "dates:        invoice {d}, due {due} (net {} days)",
            i.net_term_days.unwrap_or(0)
        );
    }
    println!("lines:");
    print_lines(&i.lines["grandTotal"], 1);
    // Amounts with every minor digit of the currency (0 USD is "0.00").
    let money = |amount: rust_decimal::Decimal| match billrun_core::Currency::parse(&i.currency) {
        Ok(c) => format!("{} {}", c.round(amount, Default::default()), c),
        Err(_) => format!("{amount} {}", i.currency),
    };
    println!("sub-total:    {}", money(i.sub_total));
    if !i.true_up.is_zero() {
        println!("true-up:      {}", money(i.true_up));
    }
    println!("credits:      {}", money(i.credits));
    println!("total:        {}", money(i.total));
}

/// The charge groups of the tree (the grand total's GROUP children) and everything
/// under them; the true-up, credits and total follow as summary lines.
fn print_lines(line: &serde_json::Value, depth: usize) {
    let Some(children) = line["children"].as_array() else {
        return;
    };
    for c in children
        .iter()
        .filter(|c| depth > 1 || c["kind"] == "GROUP")
    {
        let name = c["displayName"].as_str().unwrap_or("");
        let qty = c["quantity"]
            .as_str()
            .map(|q| format!(" x {q}"))
            .unwrap_or_default();
        let unit = c["unitPrice"]
            .as_str()
            .map(|u| format!(" @ {u}"))
            .unwrap_or_default();
        let amount = c["amount"].as_str().unwrap_or("");
        println!(
            "{:indent$}{name}{qty}{unit}  {amount}",
            "",
            indent = depth * 2
        );
        print_lines(c, depth + 1);
    }
}

/// `billrun invoice rerender`: the render-chunk job for one invoice, run and waited for.
pub async fn run_rerender(
    pool: &PgPool,
    config: std::sync::Arc<crate::config::Config>,
    org: &str,
    invoice: &str,
) -> Result<()> {
    let Some(inv) = invoices::show(pool, org, invoice).await? else {
        bail!("organisation {org} has no invoice {invoice}");
    };
    if inv.status == InvoiceStatus::Draft {
        bail!("invoice {invoice} is a DRAFT: documents are rendered once it is finalized");
    }
    let payload =
        serde_json::json!({ "organisation": org, "invoices": [inv.id], "rerender": true });
    let timeout = std::time::Duration::from_secs(120);
    crate::jobs::run::run_operator_job(
        pool,
        config,
        crate::queue::JobKind::RenderChunk,
        payload,
        org,
        Utc::now(),
        timeout,
    )
    .await?;
    println!(
        "invoice {} rendered again",
        inv.number.as_deref().unwrap_or(&inv.id)
    );
    Ok(())
}

/// `billrun invoice void`: the void (one transaction), then the re-render it
/// enqueued, waited for.
pub async fn run_void(
    pool: &PgPool,
    config: std::sync::Arc<crate::config::Config>,
    org: &str,
    invoice: &str,
    at: Option<&str>,
    json: bool,
) -> Result<()> {
    let at = at
        .map(crate::catalog::input::parse_time)
        .transpose()?
        .unwrap_or_else(Utc::now);
    let v = invoices::void(pool, org, invoice, at).await?;
    if let Some(job) = &v.render_job {
        crate::jobs::run::wait_for_job(pool, config, job, std::time::Duration::from_secs(120))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "invoice {invoice} is VOID, but its documents were not rendered again: {e} \
                     (`billrun jobs show {job}`, then `billrun invoice rerender`)"
                )
            })?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let name = v.invoice.number.as_deref().unwrap_or(&v.invoice.id);
    let cur = &v.invoice.currency;
    if !v.changed {
        println!(
            "invoice {name} was already VOID (since {}): nothing done",
            v.invoice
                .voided_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        );
        return Ok(());
    }
    println!("invoice {name} is VOID; its documents now read VOID");
    let c = &v.credits;
    if !c.restored.is_zero() {
        println!("credits given back: {} {cur}", c.restored);
        if !c.restored_unusable.is_zero() {
            println!(
                "  of which {} {cur} went back to grants expired or voided since, and is gone again",
                c.restored_unusable
            );
        }
    }
    if !c.revoked.is_zero() || !c.sold_already_used.is_zero() {
        println!(
            "credits it sold: {} {cur} unused revoked, {} {cur} already used on other invoices (kept)",
            c.revoked, c.sold_already_used
        );
    }
    Ok(())
}

/// `billrun invoice reissue`: the reissue's draft and its close-chunk job (one
/// transaction), then the job and everything it fans out to (finalization,
/// rendering, email), waited for. Fails, naming why, if the reissue was not finalized.
pub async fn run_reissue(
    pool: &PgPool,
    config: std::sync::Arc<crate::config::Config>,
    org: &str,
    invoice: &str,
    at: Option<&str>,
    json: bool,
) -> Result<()> {
    let at = at
        .map(crate::catalog::input::parse_time)
        .transpose()?
        .unwrap_or_else(Utc::now);
    let r = invoices::start_reissue(pool, org, invoice, at).await?;
    let job = crate::jobs::run::wait_for_job(
        pool,
        config,
        &r.job_id,
        std::time::Duration::from_secs(300),
    )
    .await
    .map_err(|e| anyhow::anyhow!("re-issuing invoice {invoice}: {e}"))?;
    let Some(new) = invoices::show(pool, org, &r.reissue_id).await? else {
        bail!(
            "re-issuing invoice {invoice}: the reissue {} is gone",
            r.reissue_id
        );
    };
    if new.status == InvoiceStatus::Draft {
        let failures = job
            .result
            .as_ref()
            .map(|v| v["failures"].to_string())
            .unwrap_or_default();
        bail!(
            "invoice {invoice} was not re-issued: its draft {} could not be billed as of {at} \
             (close-chunk job {}: {failures}); fix the cause and run `billrun invoice reissue` again",
            r.reissue_id,
            r.job_id
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&new)?);
    } else {
        let money = |a: rust_decimal::Decimal| match billrun_core::Currency::parse(&new.currency) {
            Ok(c) => format!("{} {}", c.round(a, Default::default()), c),
            Err(_) => format!("{a} {}", new.currency),
        };
        println!(
            "invoice {invoice} (VOID, {}) re-issued as {} ({}): {}, total {}{}",
            r.voided_id,
            new.number.as_deref().unwrap_or("-"),
            new.id,
            new.status,
            money(new.total),
            new.due_date
                .map(|d| format!(", due {d}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `billrun deliveries ...`.
#[derive(Subcommand, Debug)]
pub enum DeliveriesCommand {
    /// Email deliveries of an organisation's invoices, newest invoices first.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// Only this status: QUEUED, SENT, FAILED.
        #[arg(long)]
        status: Option<String>,
        /// At most this many; when more match, stderr says how many and the
        /// `--after` of the next page.
        #[arg(long, default_value_t = 200)]
        limit: i64,
        /// The next page: the deliveries after this one (the cursor printed as
        /// `next page: --after INVOICE_ID:RECIPIENT`).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// JSON instead of a table (an array of the page's deliveries).
        #[arg(long)]
        json: bool,
    },
}

/// Runs a deliveries command.
pub async fn run_deliveries(pool: &PgPool, cmd: DeliveriesCommand) -> Result<()> {
    match cmd {
        DeliveriesCommand::List {
            org,
            status,
            limit,
            after,
            json,
        } => {
            crate::paging::check_limit(limit)?;
            let status = status.map(|s| s.to_uppercase());
            if let Some(s) = &status {
                if !["QUEUED", "SENT", "FAILED"].contains(&s.as_str()) {
                    bail!("unknown delivery status {s:?}: expected one of QUEUED, SENT, FAILED");
                }
            }
            let page = super::deliver::list(pool, &org, status.as_deref(), limit, after.as_deref())
                .await?;
            let list = &page.rows;
            if json {
                println!("{}", serde_json::to_string_pretty(list)?);
            } else {
                println!(
                    "{:<20} {:<32} {:<7} {:>8}  {:<20} ERROR",
                    "INVOICE", "RECIPIENT", "STATUS", "ATTEMPTS", "SENT AT"
                );
                for d in list {
                    println!(
                        "{:<20} {:<32} {:<7} {:>8}  {:<20} {}",
                        d.number.as_deref().unwrap_or(&d.invoice_id),
                        d.recipient,
                        d.status,
                        d.attempts,
                        d.sent_at
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_default(),
                        d.last_error.as_deref().unwrap_or("")
                    );
                    // Every attempt, oldest first, when there was more than one.
                    if d.history.len() > 1 {
                        for a in d.history.iter() {
                            println!(
                                "    {} {}{} {} {}",
                                a["at"].as_str().unwrap_or(""),
                                a["outcome"].as_str().unwrap_or(""),
                                if a["resend"] == true { " (resend)" } else { "" },
                                a["messageId"].as_str().unwrap_or(""),
                                a["error"].as_str().unwrap_or("")
                            );
                        }
                    }
                }
            }
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("deliveries") {
                eprintln!("{note}");
            }
        }
    }
    Ok(())
}

/// `billrun invoice resend`: every recipient's row back to QUEUED, then the
/// deliver-chunk job for the invoice (`resend: true`), run and waited for.
pub async fn run_resend(
    pool: &PgPool,
    config: std::sync::Arc<crate::config::Config>,
    org: &str,
    invoice: &str,
) -> Result<()> {
    let Some(inv) = invoices::show(pool, org, invoice).await? else {
        bail!("organisation {org} has no invoice {invoice}");
    };
    if !super::render::has_document(pool, org, &inv.id).await? {
        bail!(
            "invoice {invoice} has no document yet (status {}): it is emailed once rendered",
            inv.status
        );
    }
    let mut tx = pool.begin().await?;
    super::deliver::queue_recipients(&mut tx, org, std::slice::from_ref(&inv.id)).await?;
    let n = sqlx::query(
        "UPDATE invoice_deliveries SET status = 'QUEUED', attempts = 0, last_error = NULL,
                message_id = NULL, updated_at = now()
         WHERE org_id = $1 AND invoice_id = $2",
    )
    .bind(org)
    .bind(&inv.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if n == 0 {
        bail!("invoice {invoice} has no recipient: its account has no billing or additional emails and its customer no primary email");
    }
    let payload = serde_json::json!({ "organisation": org, "invoices": [inv.id], "resend": true });
    let timeout = std::time::Duration::from_secs(300);
    let job = crate::jobs::run::run_operator_job(
        pool,
        config,
        crate::queue::JobKind::DeliverChunk,
        payload,
        org,
        Utc::now(),
        timeout,
    )
    .await?;
    // What actually happened, from the job's result (a job that ran out of
    // attempts on a transient failure is done, with its rows FAILED).
    let count = |k: &str| job.result.as_ref().and_then(|r| r[k].as_u64()).unwrap_or(0);
    let (sent, failed) = (count("sent"), count("failed"));
    let number = inv.number.as_deref().unwrap_or(&inv.id);
    println!("invoice {number}: sent again to {sent} of {n} recipient(s), {failed} failed");
    if sent < n {
        bail!(
            "invoice {number}: {} of {n} recipient(s) not sent: see `billrun deliveries list --org {org} --status FAILED`",
            n - sent
        );
    }
    Ok(())
}
