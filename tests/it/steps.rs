//! Job steps driven directly through the harness ([`TestEnv::run_step`]): one step
//! runs in the test process, without a worker, and what it wrote and enqueued is
//! checked.

use rust_decimal_macros::dec;
use serde_json::json;

use billrun::queue::JobKind;

use crate::delivery::{free_port, mailbox_server, messages};
use crate::env::TestEnv;
use crate::fixtures;

/// (account, boundary, status, number, sub_total, total) of every invoice of acme.
async fn invoices(env: &TestEnv) -> Vec<(String, String, String, Option<String>, String, String)> {
    fixtures::invoices(env.pool(), "acme")
        .await
        .into_iter()
        .map(|r| (r.0, r.1, r.2, r.3, r.4, r.6))
        .collect()
}

fn row(
    account: &str,
    boundary: &str,
    status: &str,
    number: Option<&str>,
    sub_total: &str,
    total: &str,
) -> (String, String, String, Option<String>, String, String) {
    (
        account.into(),
        boundary.into(),
        status.into(),
        number.map(str::to_string),
        sub_total.into(),
        total.into(),
    )
}

#[tokio::test]
async fn a_close_chunk_step_run_directly_writes_the_drafts_enqueues_their_finalization_and_a_rerun_changes_nothing(
) {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(5000))
        .with_usage("e2", "2026-01-31T23:59:59Z", dec!(10000))
        // February's: not on January's invoice.
        .with_usage("e3", "2026-02-01T00:00:00Z", dec!(2000))
        .await;
    env.account("acme", "a2")
        .from("2026-01-16")
        .net_terms(30)
        .with_usage("e4", "2026-01-20T12:00:00Z", dec!(2500))
        .await;
    let payload = json!({"organisation": "acme", "accounts": ["a1", "a2"]});

    let result = env
        .run_step(JobKind::CloseChunk, payload.clone(), "2026-02-01T00:00:00Z")
        .await;
    assert_eq!(result["accounts"], 2, "{result}");
    assert_eq!(result["invoicesCreated"], 4, "{result}");
    assert_eq!(result["failures"], json!([]), "{result}");
    let drafts = vec![
        // Opening invoices: January's 99.00 platform fee in advance; a2 from Jan 16,
        // prorated 16/31: 99 x 16 / 31 = 51.096... = 51.10.
        row("a1", "2026-01-01", "DRAFT", None, "99.00", "99.00"),
        row("a2", "2026-01-16", "DRAFT", None, "51.10", "51.10"),
        // Feb 1: January's usage in arrears + February's fee in advance.
        // a1: 15,000 calls = 1000 x 0.10 + 9000 x 0.05 + 5000 x 0.01 = 600.00, + 99.00.
        row("a1", "2026-02-01", "DRAFT", None, "699.00", "699.00"),
        // a2: 2,500 calls = 1000 x 0.10 + 1500 x 0.05 = 175.00, + 99.00; January
        // (51.10 + 175.00 = 226.10) is above the prorated minimum (300 x 16/31 =
        // 154.84): no true-up.
        row("a2", "2026-02-01", "DRAFT", None, "274.00", "274.00"),
    ];
    assert_eq!(invoices(&env).await, drafts);

    // Its follow-up: one finalize-chunk of those four drafts (no grace: all are due
    // at Feb 1), acting for the same instant, in the fan-out of the step.
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM invoices WHERE org_id = 'acme' ORDER BY id")
            .fetch_all(env.pool())
            .await
            .unwrap();
    let finalize = env.queued(JobKind::FinalizeChunk).await;
    assert_eq!(finalize.len(), 1);
    let (id, request) = &finalize[0];
    assert_eq!(result["finalizeJob"], json!(id), "{result}");
    assert_eq!(request.payload["organisation"], "acme");
    let mut delivered: Vec<String> =
        serde_json::from_value(request.payload["invoices"].clone()).unwrap();
    delivered.sort();
    assert_eq!(delivered, ids);
    assert_eq!(request.as_of, crate::dates::utc("2026-02-01T00:00:00Z"));
    assert!(request.root.as_deref().unwrap().starts_with("step-"));
    let cycles = || async {
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT account_id, billed_start::text, status FROM billing_cycles
             WHERE org_id = 'acme' ORDER BY account_id, billed_start",
        )
        .fetch_all(env.pool())
        .await
        .unwrap()
    };
    let open_february = vec![
        (
            "a1".to_string(),
            "2026-01-01".to_string(),
            "CLOSED".to_string(),
        ),
        ("a1".into(), "2026-02-01".into(), "OPEN".into()),
        ("a2".into(), "2026-01-16".into(), "CLOSED".into()),
        ("a2".into(), "2026-02-01".into(), "OPEN".into()),
    ];
    assert_eq!(cycles().await, open_february);

    // The same step again: nothing new to bill, the same drafts and cycles. It hands
    // the same drafts to finalization again (finalizing is idempotent itself).
    let again = env
        .run_step(JobKind::CloseChunk, payload, "2026-02-01T00:00:00Z")
        .await;
    assert_eq!(
        (
            &again["invoicesCreated"],
            &again["draftsRecomputed"],
            &again["draftsRemoved"]
        ),
        (&json!(0), &json!(0), &json!(0)),
        "{again}"
    );
    assert_eq!(invoices(&env).await, drafts);
    assert_eq!(cycles().await, open_february);
    let finalize = env.queued(JobKind::FinalizeChunk).await;
    assert_eq!(finalize.len(), 2);
    assert_eq!(finalize[1].1.payload, finalize[0].1.payload);

    // Both finalize steps, run the same way: numbers in boundary then account order,
    // once.
    let first = env
        .run_step(
            JobKind::FinalizeChunk,
            finalize[0].1.payload.clone(),
            "2026-02-01T00:00:00Z",
        )
        .await;
    assert_eq!(first["finalized"], 4, "{first}");
    let second = env
        .run_step(
            JobKind::FinalizeChunk,
            finalize[1].1.payload.clone(),
            "2026-02-01T00:00:00Z",
        )
        .await;
    assert_eq!(second["finalized"], 0, "{second}");
    assert_eq!(
        invoices(&env).await,
        vec![
            row(
                "a1",
                "2026-01-01",
                "DUE",
                Some("INV-2026-0001"),
                "99.00",
                "99.00"
            ),
            row(
                "a2",
                "2026-01-16",
                "DUE",
                Some("INV-2026-0002"),
                "51.10",
                "51.10"
            ),
            row(
                "a1",
                "2026-02-01",
                "DUE",
                Some("INV-2026-0003"),
                "699.00",
                "699.00"
            ),
            row(
                "a2",
                "2026-02-01",
                "DUE",
                Some("INV-2026-0004"),
                "274.00",
                "274.00"
            ),
        ]
    );
}

/// (invoice, template, its HTML names its number, its PDF is one, rendered at Feb 1)
/// of every stored document of acme.
async fn documents(env: &TestEnv) -> Vec<(String, String, bool, bool, bool)> {
    sqlx::query_as(
        "SELECT d.invoice_id, d.template, position(i.number IN d.html) > 0,
                substr(d.pdf, 1, 5) = '%PDF-'::bytea, d.rendered_at = '2026-02-01T00:00:00Z'::timestamptz
         FROM invoice_documents d JOIN invoices i ON i.org_id = d.org_id AND i.id = d.invoice_id
         WHERE d.org_id = 'acme' ORDER BY d.invoice_id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap()
}

/// (invoice, recipient, status, attempts, message id) of every delivery of acme.
async fn deliveries(env: &TestEnv) -> Vec<(String, String, String, i32, Option<String>)> {
    sqlx::query_as(
        "SELECT invoice_id, recipient, status, attempts, message_id FROM invoice_deliveries
         WHERE org_id = 'acme' ORDER BY invoice_id, recipient",
    )
    .fetch_all(env.pool())
    .await
    .unwrap()
}

/// How many jobs the queue holds, of every kind.
async fn jobs(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM apalis.jobs")
        .fetch_one(env.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn render_and_deliver_chunk_steps_run_directly_store_the_documents_send_once_and_a_rerun_changes_nothing(
) {
    let port = free_port();
    let env = TestEnv::with_config(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{port}?tls=none\"\ntimeout_secs = 5\n"
    ))
    .await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(5000))
        .await;
    for update in [
        "UPDATE organisations SET billing_email = 'billing@acme.test' WHERE id = 'acme'",
        "UPDATE accounts SET billing_emails = '{ap@a1.test}', additional_emails = '{cfo@a1.test}'
         WHERE org_id = 'acme' AND id = 'a1'",
    ] {
        sqlx::query(update).execute(env.pool()).await.unwrap();
    }
    let as_of = "2026-02-01T00:00:00Z";
    // Two DUE invoices (Jan 1's opening one, Feb 1's), by the steps before.
    env.run_step(
        JobKind::CloseChunk,
        json!({"organisation": "acme", "accounts": ["a1"]}),
        as_of,
    )
    .await;
    let finalize = env.queued(JobKind::FinalizeChunk).await;
    env.run_step(JobKind::FinalizeChunk, finalize[0].1.payload.clone(), as_of)
        .await;
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM invoices WHERE org_id = 'acme' ORDER BY id")
            .fetch_all(env.pool())
            .await
            .unwrap();
    assert_eq!(ids.len(), 2);
    let render = env.queued(JobKind::RenderChunk).await;
    assert_eq!(render.len(), 1);
    let payload = render[0].1.payload.clone();
    let by_number: Vec<String> =
        sqlx::query_scalar("SELECT id FROM invoices WHERE org_id = 'acme' ORDER BY number")
            .fetch_all(env.pool())
            .await
            .unwrap();
    assert_eq!(
        payload,
        json!({"organisation": "acme", "invoices": by_number})
    );

    // render-chunk: each invoice's HTML and PDF with the built-in template, and the
    // delivery of both, enqueued for the same instant in the step's fan-out.
    let result = env
        .run_step(JobKind::RenderChunk, payload.clone(), as_of)
        .await;
    assert_eq!(result, json!({"rendered": 2}));
    let stored = documents(&env).await;
    assert_eq!(
        stored,
        ids.iter()
            .map(|id| (id.clone(), "builtin".to_string(), true, true, true))
            .collect::<Vec<_>>()
    );
    let deliver = env.queued(JobKind::DeliverChunk).await;
    assert_eq!(deliver.len(), 1);
    let request = &deliver[0].1;
    assert_eq!(request.payload["organisation"], "acme");
    let mut delivered: Vec<String> =
        serde_json::from_value(request.payload["invoices"].clone()).unwrap();
    delivered.sort();
    assert_eq!(delivered, ids);
    assert_eq!(request.as_of, crate::dates::utc(as_of));
    assert!(request.root.as_deref().unwrap().starts_with("step-"));

    // Again: the documents are kept (not a re-render), nothing more to deliver.
    let queued_jobs = jobs(&env).await;
    let again = env
        .run_step(JobKind::RenderChunk, payload.clone(), as_of)
        .await;
    assert_eq!(again, json!({"rendered": 0}));
    assert_eq!(documents(&env).await, stored);
    assert_eq!(jobs(&env).await, queued_jobs);

    // deliver-chunk: one row per recipient, each SENT once, the message received.
    let maildir = env.scratch().join("maildir");
    let _smtp = mailbox_server(port, &maildir, &env.scratch().join("smtp.log"));
    let result = env
        .run_step(JobKind::DeliverChunk, request.payload.clone(), as_of)
        .await;
    assert_eq!(
        result,
        json!({"recipientsQueued": 4, "sent": 4, "failed": 0, "deferred": 0, "resend": false})
    );
    let sent = deliveries(&env).await;
    let mut expected = Vec::new();
    for id in &ids {
        for recipient in ["ap@a1.test", "cfo@a1.test"] {
            expected.push((id.clone(), recipient.to_string(), "SENT".to_string(), 1));
        }
    }
    assert_eq!(
        sent.iter()
            .map(|d| (d.0.clone(), d.1.clone(), d.2.clone(), d.3))
            .collect::<Vec<_>>(),
        expected
    );
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    let mut received: Vec<String> = msgs
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    received.sort();
    let mut ids_sent: Vec<String> = sent.iter().map(|d| d.4.clone().unwrap()).collect();
    ids_sent.sort();
    assert_eq!(received, ids_sent);

    // Again: nothing queued or sent, the rows as they were; the last step enqueues
    // nothing.
    let again = env
        .run_step(JobKind::DeliverChunk, request.payload.clone(), as_of)
        .await;
    assert_eq!(
        again,
        json!({"recipientsQueued": 0, "sent": 0, "failed": 0, "deferred": 0, "resend": false})
    );
    assert_eq!(deliveries(&env).await, sent);
    assert_eq!(messages(&maildir).len(), 4);
    assert_eq!(jobs(&env).await, queued_jobs);
}

#[tokio::test]
async fn a_retried_close_chunk_attempt_enqueues_its_finalization_once() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(5000))
        .await;
    let payload = json!({"organisation": "acme", "accounts": ["a1"]});
    let at = "2026-02-01T00:00:00Z";
    // Attempt 1 commits (drafts, cycles, the finalize-chunk) and its worker dies
    // before recording the outcome; the queue runs the same job again.
    let first = env
        .run_attempt(JobKind::CloseChunk, payload.clone(), at, "close-1", 1)
        .await
        .unwrap();
    assert_eq!(first["invoicesCreated"], 2, "{first}");
    let second = env
        .run_attempt(JobKind::CloseChunk, payload, at, "close-1", 2)
        .await
        .unwrap();
    assert_eq!(second["invoicesCreated"], 0, "{second}");
    let finalize = env.queued(JobKind::FinalizeChunk).await;
    assert_eq!(finalize.len(), 1, "one finalization per close-chunk job");
    assert_eq!(first["finalizeJob"], json!(finalize[0].0), "{first}");
    assert_eq!(second["finalizeJob"], json!(finalize[0].0), "{second}");
}
