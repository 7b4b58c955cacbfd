//! `billrun logo ...`, `billrun billing-details ...`, `billrun template ...` and
//! `billrun account set-template`: the settings that feed invoice documents.
//!
//! Parse, call `crate::documents::settings`, print. Every command takes `--org`, and
//! every listing and show has `--json` (camelCase). Files named on the command line
//! are read here; the settings functions take their bytes or text.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use sqlx::PgPool;

use super::output::{or_dash, print_json, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::documents::settings::{
    self, AccountTemplate, Profile, ProfileChanges, TemplateChanges, TemplateInfo, BUILTIN,
};

/// `billrun logo ...`.
#[derive(Subcommand, Debug)]
pub enum LogoCommand {
    /// Upload the organisation's logo (PNG or JPEG, at most 1 MiB, 16 to 2000 px a
    /// side), replacing the current one. Invoices already rendered keep theirs.
    Set {
        #[command(flatten)]
        org: OrgArgs,
        /// The image file.
        file: PathBuf,
    },
    /// The current logo: format, size, when uploaded.
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// Also write the image to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Invoices rendered from now on have no logo (rendered ones keep theirs).
    Remove {
        #[command(flatten)]
        org: OrgArgs,
    },
}

/// `billrun billing-details ...`.
#[derive(Subcommand, Debug)]
pub enum BillingDetailsCommand {
    /// Create a billing-details profile (who invoices say they are from).
    Create {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        #[command(flatten)]
        fields: ProfileFlags,
    },
    /// Change a profile (only the flags given; `--clear` empties fields). Invoices
    /// already rendered keep the details they were rendered with.
    Update {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        #[command(flatten)]
        fields: ProfileFlags,
        /// Fields to empty, comma-separated: address, tax-id, email, phone,
        /// payment-instructions, footer-note.
        #[arg(long, value_delimiter = ',')]
        clear: Vec<String>,
    },
    /// The organisation's profiles.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One profile.
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// A profile's fields on the command line.
#[derive(Args, Debug)]
pub struct ProfileFlags {
    /// Legal name (required to create).
    #[arg(long)]
    legal_name: Option<String>,
    #[command(flatten)]
    address: super::customer::AddressFlags,
    /// Tax / VAT id.
    #[arg(long)]
    tax_id: Option<String>,
    /// Billing contact email.
    #[arg(long)]
    email: Option<String>,
    /// Billing contact phone.
    #[arg(long)]
    phone: Option<String>,
    /// How to pay: one line per flag (`--payment-instructions "IBAN DE89 ..."
    /// --payment-instructions "BIC ..."`); replaces the stored lines.
    #[arg(long, value_name = "LINE")]
    payment_instructions: Vec<String>,
    /// A closing note printed at the bottom of the invoice.
    #[arg(long)]
    footer_note: Option<String>,
}

impl ProfileFlags {
    fn into_changes(self, clear: Vec<String>) -> ProfileChanges {
        ProfileChanges {
            legal_name: self.legal_name,
            address: self.address.into_fields(),
            tax_id: self.tax_id,
            email: self.email,
            phone: self.phone,
            payment_instructions: (!self.payment_instructions.is_empty())
                .then_some(self.payment_instructions),
            footer_note: self.footer_note,
            clear,
        }
    }
}

/// `billrun template ...`.
#[derive(Subcommand, Debug)]
pub enum TemplateCommand {
    /// Add an organisation template from a Tera file (checked: it must compile and
    /// render the sample invoice). It uses one billing-details profile.
    Add {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id.
        id: String,
        /// The template file (Tera HTML; see crates/billrun-render/README.md).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// The billing-details profile it uses.
        #[arg(long, value_name = "PROFILE")]
        billing_details: String,
    },
    /// Change a template: `--file` adds a new version (invoices already rendered keep
    /// the version they used), `--billing-details` changes its profile. For
    /// `builtin`, only the profile can be set.
    Update {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id (`builtin` for the built-in template).
        id: String,
        /// A new version's file.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// The billing-details profile it uses.
        #[arg(long, value_name = "PROFILE")]
        billing_details: Option<String>,
        /// `builtin` only: use the organisation's name and billing email again.
        #[arg(long, conflicts_with = "billing_details")]
        no_billing_details: bool,
    },
    /// The built-in template and the organisation's, with their profiles, versions,
    /// the default, and the accounts that name each.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A template's text (the current version, or `--version`).
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id (`builtin` for the built-in template).
        id: String,
        /// This version instead of the current one.
        #[arg(long)]
        version: Option<i32>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Make a template the organisation's default (`builtin` for the built-in one).
    SetDefault {
        #[command(flatten)]
        org: OrgArgs,
        /// The template.
        id: String,
    },
}

/// `billrun account set-template`: which template an account's invoices use.
#[derive(Args, Debug)]
pub struct SetTemplateArgs {
    #[command(flatten)]
    org: OrgArgs,
    /// The account.
    account: String,
    /// The template (`builtin` for the built-in one).
    #[arg(required_unless_present = "default", conflicts_with = "default")]
    template: Option<String>,
    /// Use the organisation's default template again.
    #[arg(long)]
    default: bool,
}

/// A file named on the command line: its name as given and its bytes.
fn read_file(path: &Path) -> Result<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((path.display().to_string(), bytes))
}

/// Runs a logo command.
pub async fn run_logo(pool: &PgPool, cmd: LogoCommand) -> Result<()> {
    match cmd {
        LogoCommand::Set { org, file } => {
            let (name, bytes) = read_file(&file)?;
            let info = settings::set_logo(pool, &org.id(), &name, &bytes).await?;
            println!(
                "logo of {} set: {} {}x{} px, {} bytes (version {})",
                org.org,
                info.format.to_uppercase(),
                info.width,
                info.height,
                info.size,
                info.version
            );
        }
        LogoCommand::Show { org, out, output } => {
            let Some((info, bytes)) = settings::current_logo(pool, &org.id()).await? else {
                if output.json {
                    println!("null");
                    return Ok(());
                }
                let org = &org.org;
                bail!("organisation {org} has no logo (set one with `billrun logo set --org {org} FILE`)");
            };
            if let Some(path) = &out {
                std::fs::write(path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("logo written to {}", path.display());
            }
            if output.json {
                print_json(&info)?;
            } else {
                println!("logo:        {} (version {})", info.file_name, info.version);
                println!(
                    "image:       {} {}x{} px, {} bytes",
                    info.format.to_uppercase(),
                    info.width,
                    info.height,
                    info.size
                );
                println!("uploaded at: {}", info.uploaded_at.to_rfc3339());
            }
        }
        LogoCommand::Remove { org } => {
            if settings::remove_logo(pool, &org.id()).await? {
                println!(
                    "logo of {} removed (invoices already rendered keep theirs)",
                    org.org
                );
            } else {
                println!("organisation {} has no logo", org.org);
            }
        }
    }
    Ok(())
}

fn print_profile(p: &Profile) {
    println!("billing details {}", p.id);
    println!("legal name:   {}", p.legal_name);
    let d = p.billing_details();
    if !d.address_lines.is_empty() {
        println!("address:      {}", d.address_lines.join(", "));
    }
    let opt = |label: &str, v: &Option<String>| {
        if let Some(v) = v {
            println!("{label:<14}{v}");
        }
    };
    opt("tax id:", &p.tax_id);
    opt("email:", &p.email);
    opt("phone:", &p.phone);
    for (i, line) in p.payment_instructions.iter().enumerate() {
        println!("{:<14}{line}", if i == 0 { "payment:" } else { "" });
    }
    opt("footer note:", &p.footer_note);
}

/// The `billing-details list` table.
fn profiles_table(list: &[Profile]) -> Table {
    let mut t = Table::new(&[
        ("ID", 20, Align::Left),
        ("LEGAL NAME", 32, Align::Left),
        ("TAX ID", 20, Align::Left),
        ("EMAIL", 0, Align::Left),
    ]);
    for p in list {
        t.row(vec![
            p.id.clone(),
            p.legal_name.clone(),
            or_dash(p.tax_id.as_deref()).to_string(),
            or_dash(p.email.as_deref()).to_string(),
        ]);
    }
    t
}

/// Runs a billing-details command.
pub async fn run_billing_details(pool: &PgPool, cmd: BillingDetailsCommand) -> Result<()> {
    match cmd {
        BillingDetailsCommand::Create { org, id, fields } => {
            let changes = fields.into_changes(vec![]);
            let p = settings::create_profile(pool, &org.id(), &id, changes, Utc::now()).await?;
            println!("billing details {} created", p.id);
        }
        BillingDetailsCommand::Update {
            org,
            id,
            fields,
            clear,
        } => {
            let changes = fields.into_changes(clear);
            let p = settings::update_profile(pool, &org.id(), &id, changes, Utc::now()).await?;
            println!("billing details {} updated", p.id);
        }
        BillingDetailsCommand::List { org, output } => {
            let list = settings::profiles(pool, &org.id()).await?;
            print_rows(output, &list, profiles_table)?;
        }
        BillingDetailsCommand::Show { org, id, output } => {
            let p = settings::profile(pool, &org.id(), &id).await?;
            if output.json {
                print_json(&p)?;
            } else {
                print_profile(&p);
            }
        }
    }
    Ok(())
}

/// A template file named on the command line: its name as given and its text.
fn read_template(path: &Path) -> Result<(String, String)> {
    let (name, bytes) = read_file(path)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("template file {name} refused: it is not UTF-8 text"))?;
    Ok((name, text))
}

/// The `template list` table.
fn templates_table(list: &[TemplateInfo]) -> Table {
    let mut t = Table::new(&[
        ("ID", 20, Align::Left),
        ("VERSION", 7, Align::Right),
        ("DEFAULT", 7, Align::Left),
        ("BILLING DETAILS", 20, Align::Left),
        ("FILE", 24, Align::Left),
        ("ACCOUNTS", 0, Align::Left),
    ]);
    for i in list {
        t.row(vec![
            i.id.clone(),
            i.version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            if i.default { "yes" } else { "" }.to_string(),
            i.billing_details
                .as_deref()
                .unwrap_or("(org name)")
                .to_string(),
            i.file_name.as_deref().unwrap_or("(built in)").to_string(),
            i.accounts.join(","),
        ]);
    }
    t
}

/// Runs a template command.
pub async fn run_template(pool: &PgPool, cmd: TemplateCommand) -> Result<()> {
    match cmd {
        TemplateCommand::Add {
            org,
            id,
            file,
            billing_details,
        } => {
            let (name, text) = read_template(&file)?;
            let t = settings::add_template(pool, &org.id(), &id, &name, &text, &billing_details)
                .await?;
            println!(
                "template {} added (version 1, billing details {})",
                t.id,
                or_dash(t.billing_details.as_deref())
            );
        }
        TemplateCommand::Update {
            org,
            id,
            file,
            billing_details,
            no_billing_details,
        } => {
            let file = file.as_deref().map(read_template).transpose()?;
            let had_file = file.is_some();
            let (t, new_version) = settings::update_template(
                pool,
                &org.id(),
                &id,
                TemplateChanges {
                    file,
                    billing_details,
                    no_billing_details,
                },
            )
            .await?;
            let version = t
                .version
                .map(|v| format!("version {v}, "))
                .unwrap_or_default();
            let unchanged = if had_file && !new_version {
                " (the file is the current version's text: no new version)"
            } else {
                ""
            };
            println!(
                "template {} updated: {version}billing details {}{unchanged}",
                t.id,
                t.billing_details
                    .as_deref()
                    .unwrap_or("(organisation name and billing email)")
            );
        }
        TemplateCommand::List { org, output } => {
            let list = settings::templates(pool, &org.id()).await?;
            print_rows(output, &list, templates_table)?;
        }
        TemplateCommand::Show {
            org,
            id,
            version,
            output,
        } => {
            let v = settings::template_version(pool, &org.id(), &id, version).await?;
            if output.json {
                print_json(&v)?;
            } else {
                print!("{}", v.body);
                if !v.body.ends_with('\n') {
                    println!();
                }
            }
        }
        TemplateCommand::SetDefault { org, id } => {
            settings::set_default_template(pool, &org.id(), &id).await?;
            println!("template {id} is the default of {}", org.org);
        }
    }
    Ok(())
}

/// Runs `billrun account set-template`.
pub async fn run_set_template(pool: &PgPool, args: SetTemplateArgs) -> Result<()> {
    let choice = match (&args.template, args.default) {
        (_, true) => AccountTemplate::OrgDefault,
        (Some(t), false) => AccountTemplate::Named(t.clone()),
        (None, false) => bail!("give a template, or --default"),
    };
    settings::set_account_template(pool, &args.org.id(), &args.account, &choice).await?;
    match choice {
        AccountTemplate::OrgDefault => println!(
            "account {} uses the organisation's default template",
            args.account
        ),
        AccountTemplate::Named(t) if t == BUILTIN => {
            println!("account {} uses the built-in template", args.account)
        }
        AccountTemplate::Named(t) => println!("account {} uses template {t}", args.account),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::{profiles_table, templates_table};
    use crate::documents::settings::{Profile, TemplateInfo};

    #[test]
    fn the_profiles_table_is_the_one_printed_before_the_shared_printer() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let p = |id: &str, tax: Option<&str>, email: Option<&str>| Profile {
            id: id.into(),
            legal_name: "Acme GmbH".into(),
            address: None,
            tax_id: tax.map(Into::into),
            email: email.map(Into::into),
            phone: None,
            payment_instructions: vec![],
            footer_note: None,
            created_at: at,
            updated_at: at,
        };
        let list = [
            p("de", Some("DE123"), Some("b@acme.example")),
            p("us", None, None),
        ];
        let mut expected = format!("{:<20} {:<32} {:<20} EMAIL\n", "ID", "LEGAL NAME", "TAX ID");
        for p in &list {
            expected.push_str(&format!(
                "{:<20} {:<32} {:<20} {}\n",
                p.id,
                p.legal_name,
                p.tax_id.as_deref().unwrap_or("-"),
                p.email.as_deref().unwrap_or("-")
            ));
        }
        assert_eq!(profiles_table(&list).render(), expected);
    }

    #[test]
    fn the_templates_table_is_the_one_printed_before_the_shared_printer() {
        let t =
            |id: &str, version: Option<i32>, default: bool, accounts: Vec<String>| TemplateInfo {
                id: id.into(),
                builtin: version.is_none(),
                billing_details: version.map(|_| "de".into()),
                version,
                file_name: version.map(|_| "invoice.html.tera".into()),
                sha256: None,
                default,
                accounts,
                updated_at: None,
            };
        let list = [
            t("builtin", None, true, vec![]),
            t("custom", Some(3), false, vec!["a1".into(), "a2".into()]),
        ];
        let mut expected = format!(
            "{:<20} {:>7} {:<7} {:<20} {:<24} ACCOUNTS\n",
            "ID", "VERSION", "DEFAULT", "BILLING DETAILS", "FILE"
        );
        for t in &list {
            expected.push_str(&format!(
                "{:<20} {:>7} {:<7} {:<20} {:<24} {}\n",
                t.id,
                t.version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                if t.default { "yes" } else { "" },
                t.billing_details.as_deref().unwrap_or("(org name)"),
                t.file_name.as_deref().unwrap_or("(built in)"),
                t.accounts.join(",")
            ));
        }
        assert_eq!(templates_table(&list).render(), expected);
    }
}
