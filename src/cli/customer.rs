//! `billrun customer ...`: customers (catalog::customers), and the postal address
//! flags customers and accounts share.

use sqlx::PgPool;

use super::output::{or_dash, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::catalog::contacts::{self, Contact};
use crate::catalog::customers::{self, Address, Customer, CustomerChanges, NewCustomer};
use crate::catalog::history;

/// `billrun customer ...`.
// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand, Debug)]
pub enum CustomerCommand {
    /// Create a customer.
    Create {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// Its main contact address.
        #[arg(long)]
        primary_email: Option<String>,
        #[command(flatten)]
        address: AddressFlags,
    },
    /// Change a customer: each flag given replaces the stored value; the address
    /// flags replace the address whole (as Togai's PATCH /customers/{id}).
    Update {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new main contact address.
        #[arg(long)]
        primary_email: Option<String>,
        #[command(flatten)]
        address: AddressFlags,
    },
    /// Delete a customer with its contacts and accounts, refused (nothing deleted)
    /// when an account of it has billing history (README "Customers and accounts that
    /// change").
    Delete {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
    },
    /// A customer's contacts (kept with it; never emailed invoices).
    Contacts {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The organisation's customers.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// A postal address on the command line.
#[derive(clap::Args, Debug)]
pub struct AddressFlags {
    /// Address line 1.
    #[arg(long)]
    line1: Option<String>,
    /// Address line 2.
    #[arg(long)]
    line2: Option<String>,
    /// Postal code.
    #[arg(long)]
    postal_code: Option<String>,
    /// City.
    #[arg(long)]
    city: Option<String>,
    /// State or region.
    #[arg(long)]
    state: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[arg(long)]
    country: Option<String>,
}

impl AddressFlags {
    /// The address, or `None` if no address flag was given.
    pub fn into_address(self) -> Option<Address> {
        let a = self.into_fields();
        (!a.is_empty()).then_some(a)
    }

    /// The address's fields as given (each absent one `None`).
    pub fn into_fields(self) -> Address {
        Address {
            line1: self.line1,
            line2: self.line2,
            postal_code: self.postal_code,
            city: self.city,
            state: self.state,
            country: self.country,
        }
    }
}

/// Runs `billrun customer ...`.
pub async fn run(pool: &PgPool, cmd: CustomerCommand) -> anyhow::Result<()> {
    match cmd {
        CustomerCommand::Create {
            org,
            id,
            name,
            primary_email,
            address,
        } => {
            let new = NewCustomer {
                id,
                name,
                primary_email,
                address: address.into_address(),
            };
            let c = customers::create(pool, &org.id(), &new).await?;
            println!("customer {} created in {}", c.id, org.org);
        }
        CustomerCommand::Update {
            org,
            id,
            name,
            primary_email,
            address,
        } => {
            let changes = CustomerChanges {
                name,
                primary_email,
                address: address.into_address(),
            };
            let c = customers::update(pool, &org.id(), &id, &changes).await?;
            println!("customer {} updated in {}", c.id, org.org);
        }
        CustomerCommand::Delete { org, id } => {
            let d = history::delete_customer(pool, &org.id(), &id).await?;
            crate::cli::audit::note_details("accounts", serde_json::json!(d.accounts));
            println!(
                "customer {id} deleted from {} with {} account(s){} and {} contact(s)",
                org.org,
                d.accounts.len(),
                if d.accounts.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.accounts.join(", "))
                },
                d.contacts
            );
        }
        CustomerCommand::Contacts { org, id, output } => {
            customers::get(pool, &org.org, &id).await?;
            let list = contacts::list(pool, &org.id(), &id).await?;
            print_rows(output, &list, contact_table)?;
        }
        CustomerCommand::List { org, output } => {
            let list = customers::list(pool, &org.id()).await?;
            print_rows(output, &list, customer_table)?;
        }
    }
    Ok(())
}

/// `customer list`: a customer a line.
fn customer_table(list: &[Customer]) -> Table {
    let mut t = Table::new(&[
        ("ID", 24, Align::Left),
        ("NAME", 30, Align::Left),
        ("EMAIL", 0, Align::Left),
    ]);
    for c in list {
        t.row(vec![
            c.id.clone(),
            c.name.clone(),
            or_dash(c.primary_email.as_deref()).to_string(),
        ]);
    }
    t
}

/// `customer contacts`: a contact a line.
fn contact_table(list: &[Contact]) -> Table {
    let mut t = Table::new(&[
        ("USERNAME", 30, Align::Left),
        ("NAME", 30, Align::Left),
        ("EMAIL", 30, Align::Left),
        ("PHONE", 0, Align::Left),
    ]);
    for c in list {
        t.row(vec![
            c.username.clone(),
            c.name.clone(),
            c.email.clone(),
            or_dash(c.phone.as_deref()).to_string(),
        ]);
    }
    t
}
