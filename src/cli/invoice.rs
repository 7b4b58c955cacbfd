//! `billrun invoice ...`: list, show, rerender, resend, mark-paid, void, reissue.
//!
//! Parses, calls [`crate::bill_run::invoices`] (reads, mark-paid) or
//! [`crate::app::invoices`] (the operations that run jobs), prints. This is where
//! the clock is read: `--at` defaults to now.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use chrono::{NaiveDate, Utc};
use clap::Subcommand;
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::output::{print_json, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::bill_run::invoices::{self, InvoiceFilter, InvoiceView};
use crate::config::Config;
use crate::store::status::InvoiceStatus;

/// Invoice commands.
#[derive(Subcommand, Debug)]
pub enum InvoiceCommand {
    /// Invoices of an organisation, newest billing period first, paged.
    #[command(mut_arg("json", |a| a.help("JSON instead of a table (an array of the page's invoices)")))]
    List {
        #[command(flatten)]
        org: OrgArgs,
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
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One invoice (by id or number) with its lines.
    #[command(mut_arg("json", |a| a.help("JSON instead of text")))]
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// Invoice id or number.
        invoice: String,
        #[command(flatten)]
        output: OutputArgs,
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
        #[command(flatten)]
        org: OrgArgs,
        /// Invoice id or number.
        invoice: String,
    },
    /// Email a finalized invoice again to every recipient, and wait.
    Resend {
        #[command(flatten)]
        org: OrgArgs,
        /// Invoice id or number.
        invoice: String,
    },
    /// Record the payment of a DUE invoice.
    MarkPaid {
        #[command(flatten)]
        org: OrgArgs,
        /// Invoice id or number.
        invoice: String,
    },
    /// Void a DUE invoice, or a PAID one with a total of 0 (it keeps its number): the
    /// credits it used are given back, those it sold revoked, and its documents
    /// rendered again marked VOID (waited for).
    #[command(mut_arg("json", |a| a.help("Print the outcome as JSON")))]
    Void {
        #[command(flatten)]
        org: OrgArgs,
        /// Invoice id or number.
        invoice: String,
        /// The void's instant (RFC 3339 or YYYY-MM-DD; default now): its credit
        /// movements carry it.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Re-issue the cycle of a VOID invoice: a new numbered invoice for the same
    /// account, association and boundary, recomputed from current data, finalized,
    /// rendered and emailed as usual (waited for).
    #[command(mut_arg("json", |a| a.help("Print the new invoice as JSON")))]
    Reissue {
        #[command(flatten)]
        org: OrgArgs,
        /// The VOID invoice's id or number.
        invoice: String,
        /// The reissue's instant (RFC 3339 or YYYY-MM-DD; default now): its invoice
        /// date, and the instant of the bill run that recomputes it.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Runs an invoice command.
pub async fn run(pool: &PgPool, config: Arc<Config>, cmd: InvoiceCommand) -> Result<()> {
    match cmd {
        InvoiceCommand::List {
            org,
            account,
            status,
            limit,
            after,
            output,
        } => {
            crate::paging::check_limit(limit)?;
            let status = status
                .map(|s| s.parse::<InvoiceStatus>())
                .transpose()
                .map_err(|e| anyhow!("--status: {e}"))?;
            let filter = InvoiceFilter {
                org: org.id(),
                account,
                status,
                limit,
                after,
                period: None,
            };
            let page = invoices::list(pool, &filter).await?;
            print_rows(output, &page.rows, invoice_table)?;
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("invoices") {
                eprintln!("{note}");
            }
        }
        InvoiceCommand::Show {
            org,
            invoice,
            output,
            pdf,
            html,
        } => {
            let org = org.id();
            let Some(inv) = invoices::show(pool, &org, &invoice).await? else {
                bail!("organisation {org} has no invoice {invoice}");
            };
            if pdf.is_some() || html.is_some() {
                let Some((h, p)) = crate::bill_run::render::document(pool, &org, &inv.id).await?
                else {
                    bail!(
                        "invoice {invoice} has no document yet: documents are rendered after \
                         finalization by the render-chunk job (status {})",
                        inv.status
                    );
                };
                if let Some(path) = pdf {
                    std::fs::write(&path, p)
                        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
                    eprintln!("PDF written to {}", path.display());
                }
                if let Some(path) = html {
                    std::fs::write(&path, h)
                        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
                    eprintln!("HTML written to {}", path.display());
                }
            } else if output.json {
                print_json(&inv)?;
            } else {
                print_invoice(&inv);
            }
        }
        InvoiceCommand::Rerender { org, invoice } => {
            let inv = crate::app::invoices::rerender(pool, config, &org.id(), &invoice, Utc::now())
                .await?;
            println!(
                "invoice {} rendered again",
                inv.number.as_deref().unwrap_or(&inv.id)
            );
        }
        InvoiceCommand::Resend { org, invoice } => {
            let org = org.id();
            let r = crate::app::invoices::resend(pool, config, &org, &invoice, Utc::now()).await?;
            let number = r.invoice.number.as_deref().unwrap_or(&r.invoice.id);
            let n = r.recipients;
            println!(
                "invoice {number}: sent again to {} of {n} recipient(s), {} failed",
                r.sent, r.failed
            );
            if r.unsent() > 0 {
                bail!(
                    "invoice {number}: {} of {n} recipient(s) not sent: see `billrun deliveries list --org {org} --status FAILED`",
                    r.unsent()
                );
            }
        }
        InvoiceCommand::MarkPaid { org, invoice } => {
            let inv = invoices::mark_paid(pool, &org.id(), &invoice, Utc::now()).await?;
            println!(
                "invoice {} is PAID",
                inv.number.as_deref().unwrap_or(&inv.id)
            );
        }
        InvoiceCommand::Void {
            org,
            invoice,
            at,
            output,
        } => {
            let at = super::flags::time_or_now(at.as_deref())?;
            let v = crate::app::invoices::void(pool, config, &org.id(), &invoice, at).await?;
            if output.json {
                return print_json(&v);
            }
            print_void(&v);
        }
        InvoiceCommand::Reissue {
            org,
            invoice,
            at,
            output,
        } => {
            let at = super::flags::time_or_now(at.as_deref())?;
            let r = crate::app::invoices::reissue(pool, config, &org.id(), &invoice, at).await?;
            let new = &r.invoice;
            if output.json {
                return print_json(new);
            }
            println!(
                "invoice {invoice} (VOID, {}) re-issued as {} ({}): {}, total {}{}",
                r.voided_id,
                new.number.as_deref().unwrap_or("-"),
                new.id,
                new.status,
                money(new, new.total),
                new.due_date
                    .map(|d| format!(", due {d}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Invoices as a table: number (`(draft)` before finalization), account, status,
/// boundary, invoice and due dates (`-` before finalization), total, currency. Also
/// the end of `billrun demo`'s summary.
pub fn invoice_table(list: &[InvoiceView]) -> Table {
    let mut t = Table::new(&[
        ("NUMBER", 16, Align::Left),
        ("ACCOUNT", 14, Align::Left),
        ("STATUS", 6, Align::Left),
        ("BOUNDARY", 10, Align::Left),
        ("DATE", 10, Align::Left),
        ("DUE", 10, Align::Left),
        ("TOTAL", 12, Align::Right),
        // The lines have always ended with the currency padded to 4 characters: the
        // last column is not padded, so the header and cells carry it.
        ("CUR ", 0, Align::Left),
    ]);
    let d = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
    for i in list {
        t.row(vec![
            i.number.as_deref().unwrap_or("(draft)").to_string(),
            i.account_id.clone(),
            i.status.to_string(),
            i.boundary.to_string(),
            d(i.invoice_date),
            d(i.due_date),
            i.total.to_string(),
            format!("{:<4}", i.currency),
        ]);
    }
    t
}

/// An amount with every minor digit of the invoice's currency (0 USD is "0.00") and
/// the currency.
fn money(i: &InvoiceView, amount: Decimal) -> String {
    match billrun_core::Currency::parse(&i.currency) {
        Ok(c) => format!("{} {}", c.round(amount, Default::default()), c),
        Err(_) => format!("{amount} {}", i.currency),
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
        } else if i.paid_by_credit_notes {
            " (paid by credit notes: they took its balance to 0)"
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
    let currency = billrun_core::Currency::parse(&i.currency).ok();
    print_lines(&i.lines["grandTotal"], 1, currency);
    println!("sub-total:    {}", money(i, i.sub_total));
    if !i.true_up.is_zero() {
        println!("true-up:      {}", money(i, i.true_up));
    }
    // Taxes (README "Taxes"): net, one line per rate, gross; and the treatment's note.
    if let Some(taxes) = i.lines["taxes"].as_array() {
        println!("net:          {}", money(i, i.sub_total + i.true_up));
        for t in taxes {
            let amount: rust_decimal::Decimal = t["amount"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .unwrap_or_default();
            println!(
                "tax:          {} {} ({}% on {}, category {})",
                money(i, amount),
                t["name"].as_str().unwrap_or(""),
                t["percentage"].as_str().unwrap_or(""),
                t["taxableAmount"].as_str().unwrap_or(""),
                t["category"].as_str().unwrap_or("")
            );
        }
        println!(
            "gross:        {}",
            money(i, i.sub_total + i.true_up + i.tax)
        );
        if let Some(note) = i.lines["taxNote"].as_str() {
            println!("note:         {note}");
        }
    }
    // Like the documents: no credits line when none were applied.
    if !i.credits.is_zero() {
        println!("credits:      {}", money(i, i.credits));
    }
    println!("total:        {}", money(i, i.total));
    if i.amount_due != i.total {
        println!(
            "amount due:   {} (after credit notes)",
            money(i, i.amount_due)
        );
    }
}

/// The charge groups of the tree (the grand total's GROUP children) and everything
/// under them; the true-up, credits and total follow as summary lines.
///
/// A sub-line's detail is worded as the documents word it
/// ([`billrun_render::describe_line`]: "Tier 2, above 1,000", "Pricing rule
/// “NAME”: $585.00 → $526.50", "minimum charge $10.00"), not as stored.
fn print_lines(line: &serde_json::Value, depth: usize, currency: Option<billrun_core::Currency>) {
    let Some(children) = line["children"].as_array() else {
        return;
    };
    for c in children
        .iter()
        .filter(|c| depth > 1 || c["kind"] == "GROUP")
    {
        // A sub-line is named by its detail ("21 licenses x 12 of 31 days", "slab 1
        // (...)"), as on the documents; a line by its display name.
        // A name that is an identifier (a tag, a card without a display name) is
        // written as words, as the documents write it.
        let described = c["description"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(|d| {
                let item = serde_json::from_value::<billrun_core::invoice::LineItem>(c.clone());
                match (item, currency) {
                    (Ok(item), Some(cur)) => {
                        billrun_render::describe_line(&item, cur).unwrap_or_else(|| d.to_string())
                    }
                    _ => d.to_string(),
                }
            });
        let name = match &described {
            Some(d) if depth > 2 => d.clone(),
            _ => {
                let shown = c["displayName"].as_str().unwrap_or("");
                if depth == 1 || c["cardName"].as_str() == Some(shown) {
                    billrun_render::readable_name(shown)
                } else {
                    shown.to_string()
                }
            }
        };
        // A sub-line's detail says its quantity already; a license line's peak is
        // not what is billed (its periods are): neither repeats it.
        let periods = c["children"]
            .as_array()
            .is_some_and(|k| !k.is_empty() && k.iter().all(|k| k["kind"] == "LICENSE_PERIOD"));
        // A tier's wording names the tier, not its quantity ("Tier 2, above 1,000"):
        // like the documents' quantity column, it keeps it.
        let detailed = depth > 2 && described.is_some() && c["kind"] != "SLAB";
        let qty = c["quantity"]
            .as_str()
            .filter(|_| !periods && !detailed)
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
        print_lines(c, depth + 1, currency);
    }
}

/// What a void did, for people.
fn print_void(v: &invoices::Voided) {
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
        return;
    }
    println!("invoice {name} is VOID; its documents now read VOID");
    if let Some(n) = &v.credit_note {
        println!("credit note {n} issued for what was left of it");
    }
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
}

#[cfg(test)]
mod tests {
    use super::invoice_table;

    #[test]
    fn the_invoice_table_header_is_the_one_it_always_was() {
        let header = format!(
            "{:<16} {:<14} {:<6} {:<10} {:<10} {:<10} {:>12} {:<4}\n",
            "NUMBER", "ACCOUNT", "STATUS", "BOUNDARY", "DATE", "DUE", "TOTAL", "CUR"
        );
        assert_eq!(invoice_table(&[]).render(), header);
    }
}
