//! The audit row of every change the CLI makes (issue 14, README "Identity"): which
//! commands change data ([`CHANGES`], with the action, the kind of object and the
//! argument naming it), which only read ([`READS`]) and which record their own rows
//! (`token ...`, `user invite|set-role|remove`: identity writes them in the change's transaction).
//! A unit test holds every command of the CLI to be in exactly one of these lists, so
//! that a new command must say whether it is audited.
//!
//! [`plan`] reads the parsed command line before the command runs; after it ran,
//! [`record`] writes one row through [`crate::app::audit::record_result`]: actor
//! `CLI` with `--actor` or the OS user, the organisation of `--org` (or of the object,
//! or `-` when none), `SUCCESS` with the details the command noted ([`note_details`])
//! or `FAILURE` with the error (also for a command that exits non-zero).

use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};

use chrono::Utc;
use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::app::audit::{record_result, Change};
use crate::store::OrgId;

/// A command that changes data: its path (`customer create`), the audit action and
/// kind of object, and the arguments that may name the object, first found wins.
#[derive(Debug)]
pub struct CliChange {
    /// The subcommand path, space separated.
    pub path: &'static str,
    /// `object.verb`.
    pub action: &'static str,
    /// The kind of object.
    pub object_type: &'static str,
    /// The argument ids naming the object (clap ids: the field names).
    pub object_args: &'static [&'static str],
}

const fn change(
    path: &'static str,
    action: &'static str,
    object_type: &'static str,
    object_args: &'static [&'static str],
) -> CliChange {
    CliChange {
        path,
        action,
        object_type,
        object_args,
    }
}

/// Every CLI command that changes data, and its audit row.
pub const CHANGES: &[CliChange] = &[
    change("org create", "org.create", "organisation", &["id"]),
    change("org configure", "org.configure", "organisation", &["id"]),
    change("customer create", "customer.create", "customer", &["id"]),
    change("account create", "account.create", "account", &["id"]),
    change(
        "account attach-plan",
        "account.attach_plan",
        "account",
        &["account"],
    ),
    change(
        "account add-alias",
        "account.add_alias",
        "account",
        &["account"],
    ),
    change(
        "account set-template",
        "account.set_template",
        "account",
        &["account"],
    ),
    change("plan apply", "plan.apply", "price_plan", &["file"]),
    change("plan finalize", "plan.finalize", "price_plan", &["plan"]),
    change(
        "plan rate-cards",
        "plan.rate_cards",
        "price_plan",
        &["plan"],
    ),
    change("plan discard", "plan.discard", "price_plan", &["plan"]),
    change("plan archive", "plan.archive", "price_plan", &["plan"]),
    change(
        "meter create-schema",
        "event_schema.create",
        "event_schema",
        &["name"],
    ),
    change("meter create", "usage_meter.create", "usage_meter", &["id"]),
    change("usage ingest", "usage.ingest", "usage_file", &["file"]),
    change("license update", "license.update", "license", &["license"]),
    change("credit grant", "credit.grant", "credit_grant", &["key"]),
    change("credit void", "credit.void", "credit_grant", &["grant"]),
    change(
        "invoice rerender",
        "invoice.rerender",
        "invoice",
        &["invoice"],
    ),
    change("invoice resend", "invoice.resend", "invoice", &["invoice"]),
    change(
        "invoice mark-paid",
        "invoice.mark_paid",
        "invoice",
        &["invoice"],
    ),
    change("invoice void", "invoice.void", "invoice", &["invoice"]),
    change(
        "invoice reissue",
        "invoice.reissue",
        "invoice",
        &["invoice"],
    ),
    change("logo set", "logo.set", "logo", &["file"]),
    change("logo remove", "logo.remove", "logo", &[]),
    change(
        "billing-details create",
        "billing_details.create",
        "billing_details",
        &["id"],
    ),
    change(
        "billing-details update",
        "billing_details.update",
        "billing_details",
        &["id"],
    ),
    change("template add", "template.add", "template", &["id"]),
    change("template update", "template.update", "template", &["id"]),
    change(
        "template set-default",
        "template.set_default",
        "template",
        &["id"],
    ),
    change("import", "import.start", "import", &["file"]),
    change("enqueue", "job.enqueue", "job", &["kind"]),
    change("run", "job.run", "job", &["kind"]),
    change("jobs retry", "job.retry", "job", &["id"]),
    change("jobs cancel", "job.cancel", "job", &["id"]),
    change(
        "migrations create",
        "plan_migration.create",
        "plan_migration",
        &[],
    ),
    change(
        "migrations confirm",
        "plan_migration.confirm",
        "plan_migration",
        &["id"],
    ),
    change(
        "migrations reject",
        "plan_migration.reject",
        "plan_migration",
        &["id"],
    ),
    change("customer update", "customer.update", "customer", &["id"]),
    change("customer delete", "customer.delete", "customer", &["id"]),
    change("account update", "account.update", "account", &["account"]),
    change("account delete", "account.delete", "account", &["account"]),
    change(
        "meter update-schema",
        "event_schema.update",
        "event_schema",
        &["name"],
    ),
    change(
        "meter activate-schema",
        "event_schema.activate",
        "event_schema",
        &["name"],
    ),
    change(
        "meter deactivate-schema",
        "event_schema.deactivate",
        "event_schema",
        &["name"],
    ),
    change(
        "meter delete-schema",
        "event_schema.delete",
        "event_schema",
        &["name"],
    ),
    change("meter update", "usage_meter.update", "usage_meter", &["id"]),
    change(
        "meter activate",
        "usage_meter.activate",
        "usage_meter",
        &["id"],
    ),
    change(
        "meter deactivate",
        "usage_meter.deactivate",
        "usage_meter",
        &["id"],
    ),
    change("meter delete", "usage_meter.delete", "usage_meter", &["id"]),
    change("tax put-rate", "tax_rate.put", "tax_rate", &["code"]),
    change("tax set-customer", "customer.set_tax", "customer", &["id"]),
    change("tax set-account", "account.set_tax", "account", &["id"]),
    change(
        "credit-note create",
        "credit_note.create",
        "invoice",
        &["invoice"],
    ),
    change(
        "credit-note configure",
        "credit_note.configure",
        "organisation",
        &["org"],
    ),
    change("feature create", "feature.create", "feature", &["name"]),
    change("addon create", "addon.create", "addon", &["name"]),
    change("addon update", "addon.update", "addon", &["id"]),
    change("addon archive", "addon.archive", "addon", &["id"]),
    change(
        "license named add",
        "license.named_add",
        "license",
        &["license"],
    ),
    change(
        "license named remove",
        "license.named_remove",
        "license",
        &["license"],
    ),
    change("feature update", "feature.update", "feature", &["id"]),
    change(
        "credit-note resend",
        "credit_note.resend",
        "credit_note",
        &["credit_note"],
    ),
];

/// Commands that record their own audit rows (identity's changes).
pub const AUDITED_BY_IDENTITY: &[&str] = &[
    "token create",
    "token deactivate",
    "token activate",
    "token delete",
    "user invite",
    "user set-role",
    "user remove",
];

/// Commands that change no organisation's data: listings, shows, the server and the
/// worker (their changes are audited where they are made: the API's routes), tools.
/// `migrate` and `demo` create schemas and a sample organisation (no actor to hold to
/// account but the operator installing billrun); `db stop` stops a local server.
pub const READS: &[&str] = &[
    "migrate",
    "render-sandbox",
    "worker",
    "serve",
    "jobs list",
    "jobs show",
    "jobs kinds",
    "schedule list",
    "migrations show",
    "migrations list",
    "migrations entries",
    "credit list",
    "credit balance",
    "credit ledger",
    "invoice list",
    "invoice show",
    "deliveries list",
    "org show",
    "org list",
    "logo show",
    "billing-details list",
    "billing-details show",
    "template list",
    "template show",
    "customer list",
    "account show",
    "account list",
    "plan versions",
    "plan show",
    "plan list",
    "meter list",
    "usage late",
    "imports show",
    "imports errors",
    "imports list",
    "token list",
    "user list",
    "audit list",
    "bench queue",
    "bench render",
    "bench bill-run",
    "bench migration",
    "bench import",
    "bench api",
    "bench pipeline",
    "demo",
    "db url",
    "db stop",
    "customer contacts",
    "meter schema-versions",
    "meter show",
    "tax rates",
    "credit-note list",
    "credit-note show",
    "credit-note deliveries",
    "feature list",
    "feature show",
    "entitlement check",
    "entitlement grants",
    "addon list",
    "addon show",
    "license named list",
    "entitlement list",
];

/// The database pool the command opened (set by `open_with`), for the audit row.
static POOL: OnceLock<PgPool> = OnceLock::new();

/// What the command noted while it ran.
#[derive(Default)]
struct Notes {
    object_id: Option<String>,
    org: Option<String>,
    details: Map<String, Value>,
}

static NOTES: Mutex<Option<Notes>> = Mutex::new(None);

fn with_notes(f: impl FnOnce(&mut Notes)) {
    let mut guard = NOTES.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Notes::default));
}

/// Remembers the pool the command uses (the first one opened).
pub(crate) fn set_pool(pool: &PgPool) {
    let _ = POOL.set(pool.clone());
}

/// The object the change made, known once made (a plan's id, a job's id): it
/// replaces the one read from the arguments.
pub(crate) fn note_object(id: impl Into<String>) {
    let id = id.into();
    with_notes(|n| n.object_id = Some(id));
}

/// The organisation acted in, when the command has no `--org` (a job's).
pub(crate) fn note_org(org: Option<String>) {
    with_notes(|n| n.org = org);
}

/// Adds `key: value` to the SUCCESS row's details (counts, a version); never a secret.
pub(crate) fn note_details(key: &str, value: Value) {
    with_notes(|n| {
        n.details.insert(key.to_string(), value);
    });
}

/// The audit row a command will write once it ran: none for a command that does not
/// change data (or whose rows identity writes).
#[derive(Debug, Clone)]
pub struct Planned {
    change: &'static CliChange,
    object_id: Option<String>,
    org: Option<String>,
}

/// The subcommand path of `matches` (`customer create`) and its innermost matches.
pub fn path_of(matches: &clap::ArgMatches) -> (String, &clap::ArgMatches) {
    let mut names = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        names.push(name);
        m = sub;
    }
    (names.join(" "), m)
}

/// The first of `ids` the command line gave a value for.
fn raw(m: &clap::ArgMatches, ids: &[&str]) -> Option<String> {
    ids.iter().find_map(|id| {
        m.try_get_raw(id)
            .ok()
            .flatten()
            .and_then(|mut v| v.next())
            .map(|v| v.to_string_lossy().into_owned())
    })
}

/// The audit row the parsed command line `matches` calls for, if it changes data.
pub fn plan(matches: &clap::ArgMatches) -> Option<Planned> {
    let (path, m) = path_of(matches);
    let change = CHANGES.iter().find(|c| c.path == path)?;
    let org = raw(m, &["org"]).or_else(|| {
        // `org create ID`, `org configure ID`: the organisation is the object.
        path.starts_with("org ").then(|| raw(m, &["id"])).flatten()
    });
    Some(Planned {
        change,
        object_id: raw(m, change.object_args),
        org,
    })
}

/// Writes the audit row of `planned` for the command's `result` (FAILURE for an error
/// or an exit status other than success). Without a database (the command failed
/// before opening it) nothing was changed and nothing is written.
pub async fn record(
    planned: Option<Planned>,
    actor: &crate::identity::Actor,
    result: &anyhow::Result<ExitCode>,
) {
    let Some(planned) = planned else { return };
    let Some(pool) = POOL.get() else { return };
    let notes = NOTES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_default();
    let org = planned.org.or(notes.org).unwrap_or_else(|| "-".to_string());
    let object_id = notes
        .object_id
        .or(planned.object_id)
        .unwrap_or_else(|| "-".to_string());
    let outcome: Result<(), String> = match result {
        Ok(code) if *code == ExitCode::SUCCESS => Ok(()),
        Ok(_) => Err("the command ended with a failure exit status".to_string()),
        Err(e) => Err(format!("{e:#}")),
    };
    let change = Change {
        action: planned.change.action,
        object_type: planned.change.object_type,
        object_id: &object_id,
    };
    let _ = record_result(
        pool,
        Utc::now(),
        &OrgId::from(org.as_str()),
        actor,
        change,
        Value::Object(notes.details),
        outcome,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, clap::Command)>) {
        let subs: Vec<_> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .collect();
        if subs.is_empty() {
            out.push((prefix.to_string(), cmd.clone()));
        }
        for s in subs {
            let path = if prefix.is_empty() {
                s.get_name().to_string()
            } else {
                format!("{prefix} {}", s.get_name())
            };
            leaves(s, &path, out);
        }
    }

    #[test]
    fn every_command_is_classified_once_and_names_arguments_it_has() {
        let cli = <super::super::Cli as clap::CommandFactory>::command();
        let mut all = Vec::new();
        leaves(&cli, "", &mut all);
        for (path, cmd) in &all {
            let lists = [
                CHANGES.iter().any(|c| c.path == path.as_str()),
                AUDITED_BY_IDENTITY.contains(&path.as_str()),
                READS.contains(&path.as_str()),
            ];
            assert_eq!(
                lists.iter().filter(|x| **x).count(),
                1,
                "the command `{path}` must be in exactly one of CHANGES, AUDITED_BY_IDENTITY, READS (src/cli/audit.rs)"
            );
            if let Some(c) = CHANGES.iter().find(|c| c.path == path.as_str()) {
                for id in c.object_args {
                    assert!(
                        cmd.get_arguments().any(|a| a.get_id() == *id),
                        "`{path}` has no argument {id}"
                    );
                }
            }
        }
        for listed in CHANGES
            .iter()
            .map(|c| c.path)
            .chain(AUDITED_BY_IDENTITY.iter().copied())
            .chain(READS.iter().copied())
        {
            assert!(
                all.iter().any(|(p, _)| p == listed),
                "no command `{listed}`"
            );
        }
    }

    #[test]
    fn a_change_is_planned_with_its_object_and_organisation() {
        let cli = <super::super::Cli as clap::CommandFactory>::command();
        let m = cli
            .clone()
            .try_get_matches_from(["billrun", "invoice", "void", "INV-7", "--org", "acme"])
            .unwrap();
        let p = plan(&m).unwrap();
        assert_eq!(p.change.action, "invoice.void");
        assert_eq!(p.object_id.as_deref(), Some("INV-7"));
        assert_eq!(p.org.as_deref(), Some("acme"));
        let m = cli
            .clone()
            .try_get_matches_from(["billrun", "org", "configure", "acme", "--name", "A"])
            .unwrap();
        assert_eq!(plan(&m).unwrap().org.as_deref(), Some("acme"));
        let m = cli
            .try_get_matches_from(["billrun", "invoice", "list", "--org", "acme"])
            .unwrap();
        assert!(plan(&m).is_none());
    }
}
