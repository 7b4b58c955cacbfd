//! `billrun deliveries ...`: the email deliveries of invoices
//! ([`crate::bill_run::deliver::list`]).

use anyhow::{anyhow, Result};
use clap::Subcommand;
use sqlx::PgPool;

use super::output::{print_json, Align, OrgArgs, OutputArgs, Table};
use crate::bill_run::deliver::{self, DeliveryView};
use crate::store::status::DeliveryStatus;

/// `billrun deliveries ...`.
#[derive(Subcommand, Debug)]
pub enum DeliveriesCommand {
    /// Email deliveries of an organisation's invoices, newest invoices first.
    #[command(mut_arg("json", |a| a.help("JSON instead of a table (an array of the page's deliveries)")))]
    List {
        #[command(flatten)]
        org: OrgArgs,
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
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Runs a deliveries command.
pub async fn run(pool: &PgPool, cmd: DeliveriesCommand) -> Result<()> {
    match cmd {
        DeliveriesCommand::List {
            org,
            status,
            limit,
            after,
            output,
        } => {
            crate::paging::check_limit(limit)?;
            // Any case: `--status failed` is FAILED.
            let status = status
                .map(|s| {
                    let s = s.to_uppercase();
                    s.parse::<DeliveryStatus>().map_err(|_| {
                        anyhow!(
                            "unknown delivery status {s:?}: expected one of QUEUED, SENT, FAILED"
                        )
                    })
                })
                .transpose()?;
            let page = deliver::list(pool, &org.id(), status, limit, after.as_deref()).await?;
            if output.json {
                print_json(&page.rows)?;
            } else {
                print_deliveries(&page.rows);
            }
            // On stderr, so that the table and the JSON stay parseable.
            if let Some(note) = page.note("deliveries") {
                eprintln!("{note}");
            }
        }
    }
    Ok(())
}

/// The deliveries as a table (invoice number, recipient, status, attempts, sent at in
/// UTC, last error), each followed by its attempts, oldest first, when there was more
/// than one.
fn deliveries_table(list: &[DeliveryView]) -> Table {
    let mut t = Table::new(&[
        ("INVOICE", 20, Align::Left),
        ("RECIPIENT", 32, Align::Left),
        ("STATUS", 7, Align::Left),
        ("ATTEMPTS", 8, Align::Right),
        // An empty column: two spaces between the attempts and the time.
        ("", 0, Align::Left),
        ("SENT AT", 20, Align::Left),
        ("ERROR", 0, Align::Left),
    ]);
    for d in list {
        t.row(vec![
            d.number.as_deref().unwrap_or(&d.invoice_id).to_string(),
            d.recipient.clone(),
            d.status.to_string(),
            d.attempts.to_string(),
            String::new(),
            d.sent_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            d.last_error.as_deref().unwrap_or("").to_string(),
        ]);
    }
    t
}

/// Prints [`deliveries_table`] with each delivery's attempts under its line (a row
/// is rendered on its own, at the table's fixed widths, so that an error spanning
/// lines stays with its delivery).
fn print_deliveries(list: &[DeliveryView]) {
    print!("{}", deliveries_table(&[]).render());
    for d in list {
        let one = deliveries_table(std::slice::from_ref(d)).render();
        let (_header, row) = one
            .split_once('\n')
            .expect("a table starts with its header");
        print!("{row}");
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

#[cfg(test)]
mod tests {
    use super::deliveries_table;

    #[test]
    fn the_deliveries_header_is_the_one_it_always_was() {
        let header = format!(
            "{:<20} {:<32} {:<7} {:>8}  {:<20} ERROR\n",
            "INVOICE", "RECIPIENT", "STATUS", "ATTEMPTS", "SENT AT"
        );
        assert_eq!(deliveries_table(&[]).render(), header);
    }
}
