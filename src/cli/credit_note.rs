//! `billrun credit-note ...`: create, list, show, configure (README "Credit notes").
//!
//! Parses, calls [`crate::credits::credit_notes`], prints. `--at` defaults to now,
//! read here.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::config::Config;

use super::output::{or_dash, print_json, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::credits::credit_notes::{self as notes, Credit, CreditNoteView, NewCreditNote};
use billrun_core::credit_note::{Method, Reason};

/// Credit-note commands.
#[derive(Subcommand, Debug)]
pub enum CreditNoteCommand {
    /// Issue a credit note against a DUE or PAID invoice: some lines (`--line`) or an
    /// amount (`--amount`), before tax; its tax is computed per rate. It takes the
    /// invoice's balance due down first; the rest (all of it on a PAID invoice)
    /// becomes credits for the account, or with --refund a recorded refund.
    #[command(mut_arg("json", |a| a.help("Print the credit note as JSON")))]
    Create {
        #[command(flatten)]
        org: OrgArgs,
        /// The invoice's id or number.
        #[arg(long)]
        invoice: String,
        /// A line and the net amount to credit of it: `<line>=<amount>`, the line by
        /// its number (1, 2, ... in the invoice's order of card lines, then the
        /// true-up) or its rate card's name; repeatable.
        #[arg(long = "line", value_name = "LINE=AMOUNT", conflicts_with = "amount")]
        lines: Vec<String>,
        /// A net amount, spread over the lines in proportion to what is left of each.
        #[arg(long, required_unless_present = "lines")]
        amount: Option<String>,
        /// DUPLICATED_CHARGE, PRODUCT_UNSATISFACTORY, ORDER_CHANGE, ORDER_CANCELLATION,
        /// FRAUDULENT_CHARGE or OTHER.
        #[arg(long)]
        reason: String,
        /// Free text shown on the note.
        #[arg(long, default_value = "")]
        description: String,
        /// The part above the balance due is a refund (recorded; paid out outside
        /// billrun) instead of credits.
        #[arg(long)]
        refund: bool,
        /// The note's instant (RFC 3339 or YYYY-MM-DD; default now): its date is
        /// this instant's local date in the account's timezone.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Makes a retry safe: the same key with the same request prints the note
        /// it issued first (nothing new); with another request it is refused.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Credit notes of the organisation, oldest first.
    #[command(mut_arg("json", |a| a.help("JSON instead of a table")))]
    List {
        #[command(flatten)]
        org: OrgArgs,
        /// Only this invoice's (id or number).
        #[arg(long)]
        invoice: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 200)]
        limit: i64,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One credit note (id or number) with its lines.
    #[command(mut_arg("json", |a| a.help("JSON instead of text")))]
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// Credit note id or number.
        credit_note: String,
        /// Also write the note's Factur-X PDF here (rendered and stored on first use;
        /// README "Credit notes").
        #[arg(long, value_name = "FILE")]
        pdf: Option<std::path::PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A credit note's email deliveries: each recipient's status, attempts and last
    /// error.
    #[command(mut_arg("json", |a| a.help("JSON instead of a table")))]
    Deliveries {
        #[command(flatten)]
        org: OrgArgs,
        /// Credit note id or number.
        credit_note: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Email a credit note again to every recipient (its account's billing and
    /// additional emails, else its customer's primary email), and wait.
    Resend {
        #[command(flatten)]
        org: OrgArgs,
        /// Credit note id or number.
        credit_note: String,
    },
    /// The organisation's credit-note settings: number format, and whether a void
    /// issues a credit note. Without options, prints them.
    #[command(mut_arg("json", |a| a.help("Print the settings as JSON")))]
    Configure {
        #[command(flatten)]
        org: OrgArgs,
        /// Number format: the invoice number format's syntax, e.g. CN-{YYYY}-{SEQ:4}.
        #[arg(long)]
        number_format: Option<String>,
        /// true: voiding an invoice issues a credit note for what is left of it.
        #[arg(long, value_name = "BOOL")]
        void_issues_credit_note: Option<bool>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn amount(flag: &str, s: &str) -> Result<Decimal> {
    s.trim()
        .parse::<Decimal>()
        .map_err(|_| anyhow!("{flag}: expected a decimal amount such as 12.50, got {s:?}"))
}

/// Runs a credit-note command.
pub async fn run(pool: &PgPool, config: Arc<Config>, cmd: CreditNoteCommand) -> Result<()> {
    match cmd {
        CreditNoteCommand::Create {
            org,
            invoice,
            lines,
            amount: total,
            reason,
            description,
            refund,
            at,
            idempotency_key,
            output,
        } => {
            let reason: Reason = reason.parse().map_err(|e| anyhow!("--reason: {e}"))?;
            let credit = match total {
                Some(a) => Credit::Amount(amount("--amount", &a)?),
                None => Credit::Lines(
                    lines
                        .iter()
                        .map(|l| {
                            let (k, v) = l.split_once('=').ok_or_else(|| {
                                anyhow!("--line {l}: expected <line>=<amount>, e.g. seats=10.00")
                            })?;
                            Ok((k.trim().to_string(), amount(&format!("--line {l}"), v)?))
                        })
                        .collect::<Result<_>>()?,
                ),
            };
            let at = super::flags::time_or_now(at.as_deref())?;
            let req = NewCreditNote {
                invoice,
                credit,
                reason,
                method: if refund {
                    Method::Refund
                } else {
                    Method::Credit
                },
                description,
                idempotency_key,
            };
            let issued = notes::create(pool, &org.id(), &req, at).await?;
            let n = issued.note;
            if issued.replayed {
                eprintln!(
                    "credit note {} was issued before with this idempotency key: nothing new",
                    n.number
                );
            }
            // The document, now the note has committed; if this fails the first
            // `show --pdf` renders it (README "Credit notes").
            if let Err(e) =
                crate::bill_run::render::credit_note_document(pool, &org.id(), &n.id, at).await
            {
                eprintln!("warning: credit note {}: {e}", n.number);
            }
            if output.json {
                return print_json(&n);
            }
            print_note(&n);
        }
        CreditNoteCommand::List {
            org,
            invoice,
            limit,
            output,
        } => {
            crate::paging::check_limit(limit)?;
            let rows = notes::list(pool, &org.id(), invoice.as_deref(), limit).await?;
            print_rows(output, &rows, table)?;
        }
        CreditNoteCommand::Show {
            org,
            credit_note,
            pdf,
            output,
        } => {
            let n = notes::show(pool, &org.id(), &credit_note).await?;
            if let Some(file) = pdf {
                let d = crate::bill_run::render::credit_note_document(
                    pool,
                    &org.id(),
                    &n.id,
                    chrono::Utc::now(),
                )
                .await?;
                std::fs::write(&file, &d.pdf)
                    .map_err(|e| anyhow!("--pdf {}: {e}", file.display()))?;
            }
            if output.json {
                return print_json(&n);
            }
            print_note(&n);
        }
        CreditNoteCommand::Deliveries {
            org,
            credit_note,
            output,
        } => {
            let n = notes::show(pool, &org.id(), &credit_note).await?;
            let rows =
                crate::bill_run::deliver::credit_note_deliveries(pool, &org.id(), &n.id).await?;
            print_rows(output, &rows, deliveries_table)?;
        }
        CreditNoteCommand::Resend { org, credit_note } => {
            let r = crate::app::credit_notes::resend(
                pool,
                config,
                &org.id(),
                &credit_note,
                chrono::Utc::now(),
            )
            .await?;
            let (number, n) = (&r.credit_note.number, r.recipients);
            println!(
                "credit note {number}: sent again to {} of {n} recipient(s), {} failed",
                r.sent, r.failed
            );
            if r.sent < n {
                let why: Vec<String> = r
                    .failures
                    .iter()
                    .map(|(to, e)| format!("{to}: {e}"))
                    .collect();
                bail!(
                    "credit note {number}: {} of {n} recipient(s) not sent (`billrun credit-note deliveries`): {}",
                    n - r.sent,
                    why.join("; ")
                );
            }
        }
        CreditNoteCommand::Configure {
            org,
            number_format,
            void_issues_credit_note,
            output,
        } => {
            let s = if number_format.is_none() && void_issues_credit_note.is_none() {
                notes::settings(pool, &org.id()).await?
            } else {
                notes::configure(
                    pool,
                    &org.id(),
                    number_format.as_deref(),
                    void_issues_credit_note,
                )
                .await?
            };
            if output.json {
                return print_json(&s);
            }
            println!("credit note number format: {}", s.number_format);
            println!("void issues a credit note: {}", s.void_issues_credit_note);
        }
    }
    Ok(())
}

/// Number, invoice, date, reason, total, balance part, credit part, refund part,
/// currency.
fn table(rows: &[CreditNoteView]) -> Table {
    let mut t = Table::new(&[
        ("NUMBER", 14, Align::Left),
        ("INVOICE", 16, Align::Left),
        ("DATE", 10, Align::Left),
        ("REASON", 22, Align::Left),
        ("TOTAL", 10, Align::Right),
        ("BALANCE", 10, Align::Right),
        ("CREDIT", 10, Align::Right),
        ("REFUND", 10, Align::Right),
        ("CUR", 0, Align::Left),
    ]);
    for n in rows {
        t.row(vec![
            n.number.clone(),
            or_dash(n.invoice_number.as_deref()).to_string(),
            n.issue_date.to_string(),
            n.reason.clone(),
            n.total.to_string(),
            n.balance_amount.to_string(),
            n.credit_amount.to_string(),
            n.refund_amount.to_string(),
            n.currency.clone(),
        ]);
    }
    t
}

/// Recipient, status, attempts, sent at, last error.
fn deliveries_table(rows: &[crate::bill_run::deliver::NoteDelivery]) -> Table {
    let mut t = Table::new(&[
        ("RECIPIENT", 28, Align::Left),
        ("STATUS", 7, Align::Left),
        ("ATTEMPTS", 8, Align::Right),
        ("SENT AT", 20, Align::Left),
        ("LAST ERROR", 0, Align::Left),
    ]);
    for d in rows {
        t.row(vec![
            d.recipient.clone(),
            d.status.clone(),
            d.attempts.to_string(),
            d.sent_at
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_else(|| "-".into()),
            or_dash(d.last_error.as_deref()).to_string(),
        ]);
    }
    t
}

fn print_note(n: &CreditNoteView) {
    let cur = &n.currency;
    println!(
        "credit note {} for invoice {} ({}), {}",
        n.number,
        or_dash(n.invoice_number.as_deref()),
        n.reason,
        n.issue_date
    );
    if let Some(lines) = n.lines["lines"].as_array() {
        for l in lines {
            println!(
                "  line {} {}: {} {cur} + tax {}",
                l["line"],
                l["displayName"].as_str().unwrap_or("-"),
                l["net"].as_str().unwrap_or("-"),
                l["tax"].as_str().unwrap_or("-")
            );
        }
    }
    println!(
        "net {} {cur}, tax {} {cur}, total {} {cur}",
        n.net, n.tax, n.total
    );
    println!(
        "off the balance due {} {cur}, credits {} {cur}, refund {} {cur}; invoice amount due now {} {cur}",
        n.balance_amount, n.credit_amount, n.refund_amount, n.invoice_amount_due
    );
    if let Some(g) = &n.credit_grant_id {
        println!("credit grant {g}");
    }
}
