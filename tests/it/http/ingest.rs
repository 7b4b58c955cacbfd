//! `/ingest` and `/ingestBatch` through a real `billrun serve`: a partly refused batch
//! (207, the bad event named, the good ones kept), a retried batch (nothing counted
//! twice), a single event (202), another organisation's account (unknown, not stored),
//! roles (403), the request's one audit row with its counts, late usage after a
//! finalized invoice, and a bill run over HTTP-ingested usage rated to the cent.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{token, token_id, Server};
use crate::env::TestEnv;
use crate::fixtures;

fn event(id: &str, account: &str, ts: &str, calls: &str) -> Value {
    json!({
        "schemaName": "api",
        "id": id,
        "timestamp": ts,
        "accountId": account,
        "attributes": [{"name": "calls", "value": calls, "unit": "calls"}],
        "dimensions": {"region": "eu"}
    })
}

async fn stored(env: &TestEnv, org: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT id, account_id, attributes->>'calls' FROM usage_events
         WHERE org_id = $1 ORDER BY id",
    )
    .bind(org)
    .fetch_all(env.pool())
    .await
    .unwrap()
}

fn row(id: &str, account: &str, calls: &str) -> (String, String, String) {
    (id.into(), account.into(), calls.into())
}

#[tokio::test]
async fn a_batch_keeps_its_good_events_names_the_bad_one_and_counts_nothing_twice() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.org("globex").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "acc1").await;
    env.account("globex", "gx1").await;
    let server = Server::start(&env).await;
    let dev = token(&env, "acme", "dev", "developer");
    let analyst = token(&env, "acme", "reader", "analyst");
    let dev_id = token_id(&env, "acme", "dev");

    // One event of three for an account acme does not have: 207, it is named, the
    // other two are kept.
    let batch = json!({"events": [
        event("e1", "acc1", "2026-01-10T10:00:00Z", "4000"),
        event("e2", "nobody", "2026-01-11T10:00:00Z", "7"),
        event("e3", "acc1", "2026-01-20T00:00:00+01:00", "2000.25"),
    ]});
    let (status, body) = server.post("/ingestBatch", &dev, &batch).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["statusCode"], 207);
    assert_eq!(body["name"], "INGESTION_PARTIALLY_ACCEPTED");
    assert_eq!(
        body["details"],
        json!({
            "received": 3, "ingested": 2, "duplicates": 0, "late": 0, "failed": 1,
            "failures": [{
                "index": 1, "id": "e2", "status": "INGESTION_FAILED_ACCOUNT_NOT_FOUND",
                "statusDescription": "accountId: unknown account or alias \"nobody\""
            }]
        })
    );
    assert_eq!(
        stored(&env, "acme").await,
        vec![row("e1", "acc1", "4000"), row("e3", "acc1", "2000.25")]
    );

    // The same batch again (a retry): nothing stored twice, the two counted as
    // already recorded, the bad one still refused.
    let (status, body) = server.post("/ingestBatch", &dev, &batch).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["details"]["ingested"], 0, "{body}");
    assert_eq!(body["details"]["duplicates"], 2, "{body}");
    assert_eq!(body["details"]["failed"], 1, "{body}");
    assert_eq!(stored(&env, "acme").await.len(), 2);

    // e1 again with another value: refused as a conflict, the recorded one kept.
    let (status, body) = server
        .post(
            "/ingestBatch",
            &dev,
            &json!({"events": [event("e1", "acc1", "2026-01-10T10:00:00Z", "5")]}),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    let failure = &body["details"]["failures"][0];
    assert_eq!(
        failure["status"], "INGESTION_FAILED_DUPLICATE_EVENT",
        "{body}"
    );
    assert!(
        failure["statusDescription"]
            .as_str()
            .unwrap()
            .contains("attribute calls: 5, recorded 4000"),
        "{body}"
    );

    // One event: 202; the same again: 202, stored once.
    let one = json!({"event": event("e4", "acc1", "2026-01-31T23:59:59Z", "0.25")});
    let (status, body) = server.post("/ingest", &dev, &one).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["statusCode"], 202);
    assert_eq!(body["details"]["ingested"], 1);
    let (status, body) = server.post("/ingest", &dev, &one).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["details"]["duplicates"], 1);
    // A bad single event: 400 naming the field, in Togai's error shape.
    let mut bad = event("e5", "acc1", "2026-01-12T00:00:00", "1");
    let (status, body) = server
        .post("/ingest", &dev, &json!({"event": bad.clone()}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("event: timestamp:"),
        "{body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    // Its id with other values: 409.
    bad = event("e4", "acc1", "2026-01-31T23:59:59Z", "9");
    let (status, body) = server.post("/ingest", &dev, &json!({"event": bad})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // globex's account, named by an acme token: unknown, nothing stored anywhere.
    let (status, body) = server
        .post(
            "/ingest",
            &dev,
            &json!({"event": event("g1", "gx1", "2026-01-05T00:00:00Z", "1")}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown account or alias \"gx1\""),
        "{body}"
    );
    assert_eq!(stored(&env, "globex").await, vec![]);
    assert_eq!(stored(&env, "acme").await.len(), 3);

    // An Analyst may not write usage: 403, nothing stored.
    let (status, _) = server
        .post(
            "/ingestBatch",
            &analyst,
            &json!({"events": [event("a1", "acc1", "2026-01-05T00:00:00Z", "1")]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(stored(&env, "acme").await.len(), 3);
    // No events, or more than 1,000: 400.
    let (status, body) = server
        .post("/ingestBatch", &dev, &json!({"events": []}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let many: Vec<Value> = (0..1001)
        .map(|i| event(&format!("m{i}"), "acc1", "2026-01-05T00:00:00Z", "1"))
        .collect();
    let (status, body) = server
        .post("/ingestBatch", &dev, &json!({"events": many}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("1001"), "{body}");
    assert_eq!(stored(&env, "acme").await.len(), 3);

    // One audit row per request, with the counts; FAILURE when nothing was accepted.
    let rows: Vec<(String, String, String, Value)> = sqlx::query_as(
        "SELECT actor_id, action, outcome, details FROM audit_log
         WHERE org_id = 'acme' AND action LIKE 'usage.%' ORDER BY id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    let counts = |ingested: u64, duplicates: u64, failed: u64, received: u64| {
        json!({"received": received, "ingested": ingested, "duplicates": duplicates,
               "failed": failed, "late": 0})
    };
    let summary: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(actor, action, outcome, _)| {
            assert_eq!(actor, &dev_id);
            (action.as_str(), outcome.as_str(), "")
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("usage.ingest_batch", "SUCCESS", ""),
            ("usage.ingest_batch", "SUCCESS", ""),
            ("usage.ingest_batch", "FAILURE", ""),
            ("usage.ingest", "SUCCESS", ""),
            ("usage.ingest", "SUCCESS", ""),
            ("usage.ingest", "FAILURE", ""),
            ("usage.ingest", "FAILURE", ""),
            ("usage.ingest", "FAILURE", ""),
            ("usage.ingest_batch", "FAILURE", ""),
            ("usage.ingest_batch", "FAILURE", ""),
        ],
        "{rows:?}"
    );
    assert_eq!(rows[0].3, counts(2, 0, 1, 3));
    assert_eq!(rows[1].3, counts(0, 2, 1, 3));
    assert_eq!(rows[3].3, counts(1, 0, 0, 1));
    assert!(
        rows[2].3["error"]
            .as_str()
            .unwrap()
            .contains("0 ingested, 0 already recorded, 1 refused"),
        "{rows:?}"
    );

    // The bill run of Feb 1 rates what came in over HTTP. January: e1 4,000 + e3
    // 2,000.25 + e4 0.25 = 6,000.5 calls: 1,000 x 0.10 = 100.00, then 5,000.5 x 0.05 =
    // 250.025, so 350.025, 350.03 rounded half away from zero; with February's 99.00
    // in advance: 449.03, over the 300.00 minimum (no true-up). Jan 1's invoice is
    // the 99.00 fee alone.
    env.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let invoices = fixtures::invoices(env.pool(), "acme").await;
    let amounts: Vec<(&str, &str, &str, &str, &str)> = invoices
        .iter()
        .map(|i| {
            (
                i.1.as_str(),
                i.2.as_str(),
                i.4.as_str(),
                i.5.as_str(),
                i.6.as_str(),
            )
        })
        .collect();
    assert_eq!(
        amounts,
        vec![
            ("2026-01-01", "DUE", "99.00", "0", "99.00"),
            ("2026-02-01", "DUE", "449.03", "0", "449.03"),
        ]
    );

    // Usage for January after its invoice is finalized: kept, flagged late, the
    // invoice unchanged (as `billrun usage ingest`).
    let (status, body) = server
        .post(
            "/ingestBatch",
            &dev,
            &json!({"events": [event("late1", "acc1", "2026-01-15T00:00:00Z", "100")]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["details"]["late"], 1, "{body}");
    assert!(env
        .ok(&["usage", "late", "--org", "acme"])
        .contains("late1"));
    assert_eq!(fixtures::invoices(env.pool(), "acme").await, invoices);
}

#[tokio::test]
async fn bench_api_prints_its_figures_and_stores_every_event_sent() {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::ConnectOptions;

    let env = TestEnv::new().await;
    let out = env.ok(&[
        "bench",
        "api",
        "--events",
        "2000",
        "--requests",
        "50",
        "--concurrency",
        "4",
    ]);
    for figure in [
        "(a) GET /invoices/{id}, 4 clients",
        "(b) POST /ingestBatch, 1000 events a request",
        "(c) usage ingest (the CLI's function)",
        "ratio (b)/(c):",
        "events stored: 2000 through /ingestBatch, 2000 through usage ingest",
    ] {
        assert!(out.contains(figure), "{figure:?} missing from:\n{out}");
    }
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}: {out}"))
            .split_whitespace()
            .rev()
            .take(3)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // count, seconds and rate columns: the count as asked, a positive rate.
    for (prefix, count) in [("(a)", "50"), ("(b)", "2000"), ("(c)", "2000")] {
        let cols = line(prefix);
        assert_eq!(cols[2], count, "{out}");
        assert!(cols[0].parse::<f64>().unwrap() > 0.0, "{out}");
    }

    // The bench's own database holds what was sent, each event once.
    let opts: PgConnectOptions = env.db().url.parse().unwrap();
    let mut conn = opts.database("billrun_bench_api").connect().await.unwrap();
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE id LIKE 'h-%'), count(*) FILTER (WHERE id LIKE 'c-%'),
                count(DISTINCT id)
         FROM usage_events WHERE ts >= '2026-02-01'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(counts, (2000, 2000, 4000));
}
