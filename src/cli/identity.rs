//! `billrun token ...`, `billrun user ...` and `billrun audit list`: parse, call
//! [`crate::identity`] (an invitation through [`crate::app::users`], as the API does),
//! print. Every change is recorded in the audit trail by the function it calls, with
//! the CLI as the actor: the OS user, or `--actor`.
//!
//! A new token is printed once, alone on stdout (the rest of the message on stderr),
//! so that `TOKEN=$(billrun token create ...)` keeps it; nothing else prints a
//! secret: an invitation's link is emailed, never printed.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::output::{or_dash, print_json, print_rows, Align, OrgArgs, OutputArgs, Table};
use crate::app::users::{self as app_users, InviteRequest};
use crate::config::Config;
use crate::identity::audit::{self, AuditRow, Filter};
use crate::identity::tokens::{self, TokenView};
use crate::identity::user_admin;
use crate::identity::users::{self, UserView};
use crate::identity::{Actor, ActorKind, Role};

/// `--actor NAME`: who the audit trail records for a change.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ActorArgs {
    /// Who is acting, as the audit trail records it (default: the OS user).
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
}

impl ActorArgs {
    /// The CLI actor: `--actor`, else `$USER`, else `$LOGNAME`, else the name of the
    /// process's user in the password database, else `uid N`.
    pub fn actor(&self) -> Actor {
        let name = self
            .actor
            .clone()
            .filter(|a| !a.trim().is_empty())
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
            .or_else(os_user_name)
            .unwrap_or_else(|| {
                // SAFETY: getuid has no preconditions and cannot fail.
                format!("uid {}", unsafe { libc::getuid() })
            });
        Actor::cli(name)
    }
}

/// The name of the process's (real) user in the password database, if it has one.
fn os_user_name() -> Option<String> {
    let mut pwd = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf` (whose length it is given) only,
    // and sets `result` to `pwd` on success or to null; the name is read only then,
    // while `buf` is alive.
    unsafe {
        let rc = libc::getpwuid_r(
            libc::getuid(),
            pwd.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || (*result).pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr((*result).pw_name)
            .to_string_lossy()
            .into_owned();
        Some(name).filter(|n| !n.is_empty())
    }
}

/// `billrun token ...`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token; it is printed this once (stdout), stored only as a hash.
    Create {
        #[command(flatten)]
        org: OrgArgs,
        /// A name for people, unique in the organisation (`ci`, `reporting`).
        #[arg(long)]
        name: String,
        /// administrator, analyst, developer or product-manager.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        actor: ActorArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The organisation's tokens (never their secrets), oldest first.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Deactivate a token: it stops authenticating until activated again.
    Deactivate {
        /// Token id (`tok_...`, see `billrun token list`).
        id: String,
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        actor: ActorArgs,
    },
    /// Activate a deactivated token again.
    Activate {
        /// Token id.
        id: String,
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        actor: ActorArgs,
    },
    /// Delete a token for good.
    Delete {
        /// Token id.
        id: String,
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        actor: ActorArgs,
    },
}

/// `billrun user ...`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Invite a user by email: the invitation's single-use link is emailed (through
    /// `[mail]`), never printed.
    Invite {
        /// The user's email address.
        email: String,
        #[command(flatten)]
        org: OrgArgs,
        /// administrator, analyst, developer or product-manager.
        #[arg(long)]
        role: Role,
        /// The page that accepts invitations; the link adds `?token=...` (default: the
        /// API's `/invites/accept` at `[http] public_url`, else at `[http] listen`).
        #[arg(long, value_name = "URL")]
        accept_url: Option<String>,
        /// How long the link can be used, in hours.
        #[arg(long, value_name = "HOURS", default_value_t = crate::app::users::DEFAULT_VALID_HOURS)]
        valid_hours: u32,
        #[command(flatten)]
        actor: ActorArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The organisation's users, active and invited.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Give a user (active or invited) another role; never the organisation's last
    /// active administrator.
    SetRole {
        /// The user's email address.
        email: String,
        #[command(flatten)]
        org: OrgArgs,
        /// administrator, analyst, developer or product-manager.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        actor: ActorArgs,
    },
    /// Remove a user (its sessions end) or revoke an invitation; never the
    /// organisation's last active administrator.
    Remove {
        /// The user's email address.
        email: String,
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        actor: ActorArgs,
    },
}

/// `billrun audit ...`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// The organisation's audit trail, newest first, paged.
    List {
        #[command(flatten)]
        org: OrgArgs,
        /// Only this action (`token.create`, `user.invite`, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only this kind of actor: user, token or cli.
        #[arg(long, value_name = "KIND")]
        actor_kind: Option<String>,
        /// Only this actor (an email, a token id, a CLI user).
        #[arg(long, value_name = "ID")]
        by: Option<String>,
        /// Only this kind of object (`api_token`, `user`).
        #[arg(long)]
        object_type: Option<String>,
        /// Only this object.
        #[arg(long)]
        object_id: Option<String>,
        /// Only rows written at or after this instant (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<DateTime<Utc>>,
        /// At most this many; when more match, stderr says how many and the `--after`
        /// of the next page.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The next page: rows older than this row id.
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn token_table(rows: &[TokenView]) -> Table {
    let mut t = Table::new(&[
        ("ID", 20, Align::Left),
        ("NAME", 16, Align::Left),
        ("ROLE", 15, Align::Left),
        ("PREFIX", 16, Align::Left),
        ("STATUS", 8, Align::Left),
        ("CREATED (UTC)", 20, Align::Left),
        ("LAST USED (UTC)", 0, Align::Left),
    ]);
    for r in rows {
        t.row(vec![
            r.id.clone(),
            r.name.clone(),
            r.role.to_string(),
            format!("{}{}_...", tokens::TOKEN_PREFIX, r.prefix),
            r.status.as_str().into(),
            time(r.created_at),
            or_dash(r.last_used_at.map(time).as_deref()).into(),
        ]);
    }
    t
}

fn user_table(rows: &[UserView]) -> Table {
    let mut t = Table::new(&[
        ("EMAIL", 28, Align::Left),
        ("ROLE", 15, Align::Left),
        ("STATUS", 7, Align::Left),
        ("INVITED (UTC)", 0, Align::Left),
    ]);
    for r in rows {
        t.row(vec![
            r.email.clone(),
            r.role.to_string(),
            r.status.clone(),
            time(r.created_at),
        ]);
    }
    t
}

fn audit_table(rows: &[AuditRow]) -> Table {
    let mut t = Table::new(&[
        ("ID", 6, Align::Right),
        ("AT (UTC)", 20, Align::Left),
        ("ACTOR", 24, Align::Left),
        ("ACTION", 16, Align::Left),
        ("OBJECT", 28, Align::Left),
        ("OUTCOME", 7, Align::Left),
        ("DETAILS", 0, Align::Left),
    ]);
    for r in rows {
        t.row(vec![
            r.id.to_string(),
            time(r.at),
            format!("{} {}", r.actor_kind, r.actor_id),
            r.action.clone(),
            format!("{} {}", r.object_type, r.object_id),
            r.outcome.clone(),
            r.details.0.to_string(),
        ]);
    }
    t
}

/// Runs `billrun token ...`.
pub async fn run_token(pool: &sqlx::PgPool, command: TokenCommand) -> Result<()> {
    let now = Utc::now();
    match command {
        TokenCommand::Create {
            org,
            name,
            role,
            actor,
            output,
        } => {
            let new = tokens::create(pool, &org.id(), &name, role, &actor.actor(), now).await?;
            if output.json {
                print_json(&new)?;
            } else {
                eprintln!(
                    "created API token {} {:?} ({}); it is shown this once, store it now:",
                    new.view.id, new.view.name, new.view.role
                );
                println!("{}", new.token);
            }
        }
        TokenCommand::List { org, output } => {
            let rows = tokens::list(pool, &org.id()).await?;
            print_rows(output, &rows, token_table)?;
        }
        TokenCommand::Deactivate { id, org, actor } => {
            let t = tokens::deactivate(pool, &org.id(), &id, &actor.actor(), now).await?;
            println!("API token {} ({}) deactivated", t.id, t.name);
        }
        TokenCommand::Activate { id, org, actor } => {
            let t = tokens::activate(pool, &org.id(), &id, &actor.actor(), now).await?;
            println!("API token {} ({}) activated", t.id, t.name);
        }
        TokenCommand::Delete { id, org, actor } => {
            let t = tokens::delete(pool, &org.id(), &id, &actor.actor(), now).await?;
            println!("API token {} ({}) deleted", t.id, t.name);
        }
    }
    Ok(())
}

/// Runs `billrun user ...`.
pub async fn run_user(pool: &sqlx::PgPool, config: &Config, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Invite {
            email,
            org,
            role,
            accept_url,
            valid_hours,
            actor,
            output,
        } => {
            let request = InviteRequest {
                email,
                role,
                accept_url,
                valid_hours: Some(valid_hours),
            };
            let invitation =
                app_users::invite(pool, config, &org.id(), request, &actor.actor(), Utc::now())
                    .await?;
            if output.json {
                print_json(&invitation)?;
            } else {
                println!(
                    "invited {} to {} as {}: the invitation was emailed, valid until {}",
                    invitation.user.email,
                    org.org,
                    invitation.user.role,
                    time(invitation.expires_at)
                );
            }
        }
        UserCommand::List { org, output } => {
            let rows = users::list(pool, &org.id()).await?;
            print_rows(output, &rows, user_table)?;
        }
        UserCommand::SetRole {
            email,
            org,
            role,
            actor,
        } => {
            let u = user_admin::set_role(pool, &org.id(), &email, role, &actor.actor(), Utc::now())
                .await?;
            println!("{} is now {} in {}", u.email, u.role, org.org);
        }
        UserCommand::Remove { email, org, actor } => {
            let u = user_admin::remove(pool, &org.id(), &email, &actor.actor(), Utc::now()).await?;
            let what = if u.status == "INVITED" {
                "invitation revoked"
            } else {
                "removed"
            };
            println!("{} ({}): {what}", u.email, u.role);
        }
    }
    Ok(())
}

/// Runs `billrun audit ...`.
pub async fn run_audit(pool: &sqlx::PgPool, command: AuditCommand) -> Result<()> {
    let AuditCommand::List {
        org,
        action,
        actor_kind,
        by,
        object_type,
        object_id,
        since,
        limit,
        after,
        output,
    } = command;
    crate::paging::check_limit(limit)?;
    let actor_kind = actor_kind
        .map(|k| match k.to_ascii_lowercase().as_str() {
            "user" => Ok(ActorKind::User),
            "token" => Ok(ActorKind::Token),
            "cli" => Ok(ActorKind::Cli),
            _ => Err(anyhow::anyhow!(
                "--actor-kind {k}: expected user, token or cli"
            )),
        })
        .transpose()?;
    let filter = Filter {
        action,
        actor_kind,
        actor_id: by,
        object_type,
        object_id,
        since,
    };
    let page = audit::list(pool, &org.id(), &filter, limit, after.as_deref()).await?;
    print_rows(output, &page.rows, audit_table)?;
    if let Some(note) = page.note("audit rows") {
        eprintln!("{note}");
    }
    Ok(())
}
