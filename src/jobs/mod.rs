//! The registry of job kinds, at the top of the layering: for each [`JobKind`], the
//! payload it takes and the handler that runs it ([`execute`], [`validate_payload`]),
//! and what runs them: the workers ([`worker`]), the cron scheduler ([`schedule`]) and
//! the waiting of `billrun run` and of commands that work through a job ([`run`]).
//!
//! The types a handler uses ([`JobKind`], [`JobRequest`], [`JobContext`], [`JobError`])
//! live at the bottom, in [`crate::queue::job`], so that handlers (bill run, imports,
//! credits, plan migrations) import them without importing this registry.
//!
//! A handler is thin: it parses its payload, loads through `store`, decides through
//! the billing core, writes through `store`, and enqueues the next step. It never
//! reads the wall clock: [`JobContext::as_of`] is the instant it acts for, fixed
//! when the job was enqueued, so a job replayed later decides the same way.

mod probe;
mod retention;
pub mod run;
pub mod schedule;
pub mod worker;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::queue::{JobContext, JobError, JobKind, JobRequest};

/// Checks a payload before it is enqueued, so that a bad one is refused at the
/// command line (or in a schedule file) instead of failing in a worker.
///
/// Errors: the serde error, with the kind's payload shape ([`JobKind::describe`]).
pub fn validate_payload(kind: JobKind, payload: &Value) -> Result<(), String> {
    let r = match kind {
        JobKind::Probe => parse_payload::<probe::ProbeArgs>(payload).map(drop),
        JobKind::Noop => parse_payload::<NoArgs>(payload).map(drop),
        JobKind::QueueRetention => parse_payload::<retention::RetentionArgs>(payload).map(drop),
        JobKind::CycleClose => {
            parse_payload::<crate::bill_run::cycle_close::CycleCloseArgs>(payload).map(drop)
        }
        JobKind::CloseChunk => parse_payload::<ChunkArgs>(payload).map(drop),
        JobKind::FinalizeChunk => parse_payload::<InvoiceChunkArgs>(payload).map(drop),
        JobKind::CsvImport => {
            parse_payload::<crate::imports::job::CsvImportArgs>(payload).map(drop)
        }
        JobKind::CreditGrant => parse_payload::<CreditGrantArgs>(payload).map(drop),
        JobKind::CreditExpiry => parse_payload::<OrgArgs>(payload).map(drop),
        JobKind::InvoicePaid => parse_payload::<InvoiceArgs>(payload).map(drop),
        JobKind::RenderChunk => parse_payload::<RenderArgs>(payload).map(drop),
        JobKind::DeliverChunk => parse_payload::<DeliverArgs>(payload).map(drop),
        JobKind::PlanMigration => {
            parse_payload::<crate::plan_migration::job::PlanMigrationArgs>(payload).map(drop)
        }
        JobKind::CreditNoteEmail => parse_payload::<CreditNoteArgs>(payload).map(drop),
    };
    r.map_err(|e| {
        format!(
            "bad payload for {}: {e}; expected {}",
            kind.name(),
            kind.describe()
        )
    })
}

/// Builds a request from untyped input (the CLI, a schedule file, later the HTTP
/// API), checking the payload against the kind first.
pub fn request(
    kind: JobKind,
    payload: Value,
    as_of: DateTime<Utc>,
    organisation: Option<String>,
) -> Result<JobRequest, String> {
    validate_payload(kind, &payload)?;
    Ok(JobRequest::new(kind, payload, as_of, organisation))
}

/// Payload of `close-chunk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChunkArgs {
    organisation: String,
    accounts: Vec<String>,
}

/// Payload of `finalize-chunk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceChunkArgs {
    organisation: String,
    invoices: Vec<String>,
}

/// An empty payload (`{}` or none).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

fn parse_payload<T: serde::de::DeserializeOwned>(payload: &Value) -> Result<T, serde_json::Error> {
    match payload {
        Value::Null => serde_json::from_value(Value::Object(Default::default())),
        v => serde_json::from_value(v.clone()),
    }
}

/// Runs one job: the single entry point of both `billrun worker` and `billrun run`.
pub async fn execute(ctx: &JobContext, req: &JobRequest) -> Result<Value, JobError> {
    let bad = |e: serde_json::Error| JobError::Fatal(anyhow::anyhow!("bad payload: {e}"));
    match req.kind {
        JobKind::Probe => probe::run(ctx, parse_payload(&req.payload).map_err(bad)?).await,
        JobKind::Noop => Ok(Value::Null),
        JobKind::QueueRetention => {
            retention::run(ctx, parse_payload(&req.payload).map_err(bad)?).await
        }
        JobKind::CycleClose => {
            crate::bill_run::cycle_close::cycle_close(
                ctx,
                parse_payload(&req.payload).map_err(bad)?,
            )
            .await
        }
        JobKind::CloseChunk => {
            let args: ChunkArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::close::close_chunk(ctx, &args.organisation, &args.accounts).await
        }
        JobKind::FinalizeChunk => {
            let args: InvoiceChunkArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::finalize::finalize_chunk(ctx, &args.organisation, &args.invoices).await
        }
        JobKind::CsvImport => {
            crate::imports::job::run(ctx, parse_payload(&req.payload).map_err(bad)?).await
        }
        JobKind::CreditGrant => {
            let args: CreditGrantArgs = parse_payload(&req.payload).map_err(bad)?;
            let mut conn = ctx.pool.acquire().await?;
            match crate::credits::grant(&mut conn, &args.organisation, &args.grant, None, ctx.as_of)
                .await
            {
                Ok(g) => Ok(serde_json::to_value(g).expect("an outcome serialises")),
                Err(crate::credits::CreditError::Db(e)) => Err(e.into()),
                Err(e) => Err(JobError::Fatal(e.into())),
            }
        }
        JobKind::CreditExpiry => {
            let args: OrgArgs = parse_payload(&req.payload).map_err(bad)?;
            match crate::credits::expire(&ctx.pool, args.organisation.as_deref(), ctx.as_of).await {
                Ok(n) => Ok(serde_json::json!({ "expired": n })),
                Err(crate::credits::CreditError::Db(e)) => Err(e.into()),
                Err(e) => Err(JobError::Fatal(e.into())),
            }
        }
        JobKind::RenderChunk => {
            let args: RenderArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::render::render_chunk(
                ctx,
                &args.organisation,
                &args.invoices,
                args.rerender,
            )
            .await
        }
        JobKind::DeliverChunk => {
            let args: DeliverArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::deliver::deliver_chunk(
                ctx,
                &args.organisation,
                &args.invoices,
                args.resend,
            )
            .await
        }
        JobKind::PlanMigration => {
            crate::plan_migration::job::run(ctx, parse_payload(&req.payload).map_err(bad)?).await
        }
        JobKind::InvoicePaid => {
            let args: InvoiceArgs = parse_payload(&req.payload).map_err(bad)?;
            let mut out =
                crate::credits::grant_prepaid_credits(ctx, &args.organisation, &args.invoice)
                    .await?;
            let ent =
                crate::entitlements::ledger::grant_prepaid(ctx, &args.organisation, &args.invoice)
                    .await?;
            out["entitlementGrantsCreated"] = ent["entitlementGrantsCreated"].clone();
            Ok(out)
        }
        JobKind::CreditNoteEmail => {
            let args: CreditNoteArgs = parse_payload(&req.payload).map_err(bad)?;
            crate::bill_run::deliver::deliver_credit_note(
                ctx,
                &args.organisation,
                &args.credit_note,
                args.resend,
            )
            .await
        }
    }
}

/// Payload of `credit-note-email`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreditNoteArgs {
    organisation: String,
    credit_note: String,
    #[serde(default)]
    resend: bool,
}

/// Payload of `render-chunk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderArgs {
    organisation: String,
    invoices: Vec<String>,
    #[serde(default)]
    rerender: bool,
}

/// Payload of `deliver-chunk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliverArgs {
    organisation: String,
    invoices: Vec<String>,
    #[serde(default)]
    resend: bool,
}

/// Payload of `credit-grant`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditGrantArgs {
    organisation: String,
    grant: crate::credits::NewGrant,
}

/// A payload naming at most an organisation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgArgs {
    organisation: Option<String>,
}

/// Payload of `invoice-paid`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceArgs {
    organisation: String,
    invoice: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_and_unknown_kinds_list_the_known_ones() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.name()).unwrap(), *k);
            assert_eq!(JobKind::from_queue(&k.queue()), Some(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), json!(k.name()));
        }
        let e = JobKind::parse("cycle-closer").unwrap_err();
        assert!(e.contains("probe") && e.contains("queue-retention"), "{e}");
    }

    #[test]
    fn payloads_are_checked_against_the_kind() {
        assert!(validate_payload(JobKind::Probe, &json!({"key": "a"})).is_ok());
        let e = validate_payload(JobKind::Probe, &json!({"kee": "a"})).unwrap_err();
        assert!(e.contains("kee") && e.contains("expected"), "{e}");
        assert!(validate_payload(JobKind::Noop, &Value::Null).is_ok());
        assert!(validate_payload(JobKind::Noop, &json!({"x": 1})).is_err());
        let e = validate_payload(JobKind::QueueRetention, &json!({"done_days": -1})).unwrap_err();
        assert!(
            e.contains("done_days") || e.contains("invalid value"),
            "{e}"
        );
    }
    #[test]
    fn requests_and_payloads_are_camel_case_and_jobs_queued_with_snake_case_still_run() {
        let as_of: DateTime<Utc> = "2026-03-01T00:00:00Z".parse().unwrap();
        let req = JobRequest {
            kind: JobKind::Probe,
            as_of,
            organisation: Some("acme".into()),
            payload: json!({"key": "a"}),
            root: None,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"kind": "probe", "asOf": "2026-03-01T00:00:00Z", "organisation": "acme",
                   "payload": {"key": "a"}})
        );
        // A job enqueued before the rename.
        let old: JobRequest = serde_json::from_value(
            json!({"kind": "probe", "as_of": "2026-03-01T00:00:00Z", "payload": {"key": "a"}}),
        )
        .unwrap();
        assert_eq!(old.as_of, as_of);

        // Each payload field of two words, by its name and by its old name: the same value.
        for p in [
            json!({"key": "a", "sleepMs": 5}),
            json!({"key": "a", "sleep_ms": 5}),
        ] {
            assert_eq!(
                parse_payload::<probe::ProbeArgs>(&p).unwrap().sleep_ms,
                5,
                "{p}"
            );
        }
        for p in [
            json!({"doneDays": 1, "deadDays": 2}),
            json!({"done_days": 1, "dead_days": 2}),
        ] {
            let r: retention::RetentionArgs = parse_payload(&p).unwrap();
            assert_eq!((r.done_days, r.dead_days), (Some(1), Some(2)), "{p}");
        }
        for name in ["chunkSize", "chunk_size"] {
            let p = json!({ name: 10 });
            let a: crate::bill_run::cycle_close::CycleCloseArgs = parse_payload(&p).unwrap();
            assert_eq!(a.chunk_size, Some(10), "{p}");
            let p = json!({"organisation": "o", "migration": "m", name: 3});
            let m: crate::plan_migration::job::PlanMigrationArgs = parse_payload(&p).unwrap();
            assert_eq!(m.chunk_size, Some(3), "{p}");
        }
        for p in [json!({"importId": "i1"}), json!({"import_id": "i1"})] {
            let a: crate::imports::job::CsvImportArgs = parse_payload(&p).unwrap();
            assert_eq!(a.import_id, "i1", "{p}");
        }
        let grant = |from: &str, until: &str, ids: &str, key: &str| {
            let mut g = serde_json::Map::new();
            g.insert("account".into(), json!("a1"));
            g.insert("amount".into(), json!("10.00"));
            g.insert("currency".into(), json!("USD"));
            g.insert(from.into(), json!("2026-01-01T00:00:00Z"));
            g.insert(until.into(), json!("2026-02-01T00:00:00Z"));
            g.insert(ids.into(), json!(["seats"]));
            g.insert(key.into(), json!("k1"));
            json!({"organisation": "acme", "grant": g})
        };
        for p in [
            grant(
                "effectiveFrom",
                "effectiveUntil",
                "applicableEntityIds",
                "idempotencyKey",
            ),
            grant(
                "effective_from",
                "effective_until",
                "applicable_entity_ids",
                "idempotency_key",
            ),
        ] {
            let a: CreditGrantArgs = parse_payload(&p).unwrap();
            let g = a.grant;
            assert_eq!(
                (
                    g.effective_from.map(|t| t.to_rfc3339()),
                    g.effective_until.map(|t| t.to_rfc3339()),
                    g.applicable_entity_ids,
                    g.idempotency_key
                ),
                (
                    Some("2026-01-01T00:00:00+00:00".to_string()),
                    Some("2026-02-01T00:00:00+00:00".to_string()),
                    vec!["seats".to_string()],
                    "k1".to_string()
                ),
                "{p}"
            );
        }
    }
}
