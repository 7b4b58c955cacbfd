//! `billrun customer ...`: customers.

use super::*;

/// `billrun customer ...`.
// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand, Debug)]
pub enum CustomerCommand {
    /// Create a customer.
    Create {
        /// Organisation.
        #[arg(long)]
        org: String,
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
    /// The organisation's customers.
    List {
        /// Organisation.
        #[arg(long)]
        org: String,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
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
    pub(super) fn into_address(self) -> Option<Address> {
        let a = Address {
            line1: self.line1,
            line2: self.line2,
            postal_code: self.postal_code,
            city: self.city,
            state: self.state,
            country: self.country,
        };
        (!a.is_empty()).then_some(a)
    }
}

// ---------------------------------------------------------------------------------
// Customers.

/// Runs `billrun customer ...`.
pub async fn run_customer(pool: &PgPool, cmd: CustomerCommand) -> anyhow::Result<()> {
    match cmd {
        CustomerCommand::Create {
            org,
            id,
            name,
            primary_email,
            address,
        } => {
            let c = customers::create(
                pool,
                &org,
                &NewCustomer {
                    id,
                    name,
                    primary_email,
                    address: address.into_address(),
                },
            )
            .await?;
            println!("customer {} created in {org}", c.id);
        }
        CustomerCommand::List { org, json } => {
            let list = customers::list(pool, &org).await?;
            if json {
                print_json(&list)?;
            } else {
                println!("{:<24} {:<30} EMAIL", "ID", "NAME");
                for c in list {
                    println!(
                        "{:<24} {:<30} {}",
                        c.id,
                        c.name,
                        or_dash(c.primary_email.as_deref())
                    );
                }
            }
        }
    }
    Ok(())
}
