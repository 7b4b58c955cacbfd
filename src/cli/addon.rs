//! `billrun addon ...` (create, list, show, update, archive): the organisation's
//! add-ons (crate::catalog::addons, README "Add-ons and named licenses"), as the HTTP
//! API's `/addons` routes do.

use sqlx::PgPool;

use super::output::{print_json, OrgArgs, OutputArgs};
use crate::catalog::addons::{self, AddOn, AddOnType};

/// `billrun addon ...`.
#[derive(clap::Subcommand, Debug)]
pub enum AddonCommand {
    /// Create an add-on (its id is its name).
    Create {
        #[command(flatten)]
        org: OrgArgs,
        /// Its name and id (what cards name as addOnId).
        name: String,
        /// LICENSE, FIXED_FEE, CREDIT_GRANT or NAMED_LICENSE: which cards may name it.
        #[arg(long = "type", value_name = "TYPE")]
        add_on_type: String,
        /// The name its cards' invoice lines show instead of the name.
        #[arg(long)]
        billable_name: Option<String>,
    },
    /// The organisation's add-ons (archived ones too).
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One add-on.
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Change an add-on's name and/or billable name.
    Update {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        /// The new name.
        #[arg(long)]
        name: Option<String>,
        /// The new billable name.
        #[arg(long)]
        billable_name: Option<String>,
    },
    /// Archive an add-on (plans applied from now on may not name it).
    Archive {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
    },
}

fn print_add_on(a: &AddOn) {
    println!(
        "{}  {}  {}  {}",
        a.id,
        a.add_on_type.as_str(),
        a.display_name(),
        a.status
    );
}

/// Runs `billrun addon ...`.
pub async fn run(pool: &PgPool, cmd: AddonCommand) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    match cmd {
        AddonCommand::Create {
            org,
            name,
            add_on_type,
            billable_name,
        } => {
            let t = AddOnType::parse("type", &add_on_type)?;
            let a =
                addons::create(pool, &org.id(), &name, t, billable_name.as_deref(), now).await?;
            println!("add-on {} ({}) created in {}", a.id, t.as_str(), org.org);
        }
        AddonCommand::List { org, output } => {
            let list = addons::list(pool, &org.id()).await?;
            if output.json {
                return print_json(&list);
            }
            for a in &list {
                print_add_on(a);
            }
        }
        AddonCommand::Show { org, id, output } => {
            let a = addons::get(pool, &org.id(), &id).await?;
            if output.json {
                return print_json(&a);
            }
            print_add_on(&a);
        }
        AddonCommand::Update {
            org,
            id,
            name,
            billable_name,
        } => {
            let a = addons::update(
                pool,
                &org.id(),
                &id,
                name.as_deref(),
                billable_name.as_deref(),
                now,
            )
            .await?;
            println!("add-on {} updated: {}", a.id, a.display_name());
        }
        AddonCommand::Archive { org, id } => {
            let a = addons::archive(pool, &org.id(), &id, now).await?;
            println!("add-on {} is {}", a.id, a.status);
        }
    }
    Ok(())
}
