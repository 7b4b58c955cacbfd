//! Togai's jobs over billrun, through a real `billrun serve` and a real `billrun
//! worker`: a plan migration created over HTTP that waits for confirmation, listed as
//! WAITING_FOR_CONFIRMATION, confirmed, run by the worker, and its entries; a rejected
//! one; a bill run via `POST /invoices/bill_runs` whose invoices `GET /invoices`
//! lists, to the cent; billrun's own `/billrun/jobs`; roles (403), another
//! organisation's ids (404) and the audit rows.

use std::time::Duration;

use reqwest::StatusCode;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::{token, token_id, Server};
use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::wait_for;

/// growth's twin: the same cycle (monthly on the 1st), a 149.00 platform fee.
fn scale_plan() -> Value {
    let mut plan = fixtures::growth_plan(0);
    plan["name"] = json!("scale");
    plan["fixedFeeRateCards"][0]["rateValues"][0]["rate"] = json!(149);
    plan
}

/// The audit rows of `org` whose action starts with `prefix`: (actor id, action,
/// object id, outcome), in order.
async fn audit_rows(env: &TestEnv, prefix: &str) -> Vec<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT actor_id, action, object_id, outcome FROM audit_log
         WHERE org_id = 'acme' AND action LIKE $1 || '%' ORDER BY id",
    )
    .bind(prefix)
    .fetch_all(env.pool())
    .await
    .unwrap()
}

/// Polls `GET path` until `done` holds for the answer (at most 60 s).
async fn until(server: &Server, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_for(Duration::from_secs(60), path, || async {
        let (status, body) = server.get(path, Some(token)).await;
        (status == StatusCode::OK && done(&body)).then_some(body)
    })
    .await
}

/// The first day of the month after today (UTC): where a NEXT_CYCLE migration
/// confirmed now moves a monthly plan on the 1st.
fn next_month_start() -> String {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let (y, m) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    format!("{y:04}-{m:02}-01")
}

#[tokio::test]
async fn a_migration_waits_for_confirmation_then_a_worker_runs_it_and_its_entries_are_listed() {
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(fixtures::growth_plan(0))
        .with_plan(scale_plan())
        .await;
    env.org("globex").await;
    env.account("acme", "m1").await;
    env.account("acme", "m2").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let admin_id = token_id(&env, "acme", "admin");
    let pm = token(&env, "acme", "pm", "product-manager");
    let analyst = token(&env, "acme", "reader", "analyst");
    let developer = token(&env, "acme", "dev", "developer");
    let globex = token(&env, "globex", "admin", "administrator");

    let request = json!({
        "sourceId": "growth", "sourceVersion": 1, "targetId": "scale",
        "migrationMode": "NEXT_CYCLE", "retainStartOffsets": false,
        "isPricePlanV2Migration": true, "requireConfirmation": true
    });
    // An Analyst may not migrate; a Developer may not even read schedules.
    let (status, _) = server
        .post("/v2/price_plans/migration", &analyst, &request)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        server.get("/jobs", Some(&developer)).await.0,
        StatusCode::FORBIDDEN
    );
    // A mode billrun does not have, and an unknown plan, are refused.
    let mut bad = request.clone();
    bad["migrationMode"] = json!("START_OF_CURRENT_CYCLE");
    let (status, body) = server.post("/v2/price_plans/migration", &admin, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("migrationMode"));
    let mut bad = request.clone();
    bad["targetId"] = json!("nope");
    let (status, _) = server.post("/v2/price_plans/migration", &admin, &bad).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Created: Togai's answer is only success; the job is found through GET /jobs.
    let (status, body) = server
        .post("/v2/price_plans/migration", &admin, &request)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"success": true}));
    let (status, page) = server.get("/jobs", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{page}");
    assert_eq!(data[0]["type"], "PRICE_PLAN");
    assert_eq!(data[0]["status"], "WAITING_FOR_CONFIRMATION");
    let id = data[0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("mig_"), "{id}");
    assert_eq!(page["context"], json!({"pageSize": 10, "sortOrder": "ASC"}));
    let (status, job) = server.get(&format!("/jobs/{id}"), Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(job["totalJobEntries"], 0, "no accounts listed yet: {job}");
    assert_eq!(job["metadata"]["sourceId"], "growth");
    assert_eq!(job["metadata"]["targetId"], "scale");
    assert_eq!(job["metadata"]["targetVersion"], "1");
    assert!(job.get("settledAt").is_none(), "{job}");

    // Another organisation sees nothing and can decide nothing.
    let (_, theirs) = server.get("/jobs", Some(&globex)).await;
    assert_eq!(theirs["data"], json!([]));
    for path in [format!("/jobs/{id}"), format!("/jobs/{id}/entries")] {
        assert_eq!(
            server.get(&path, Some(&globex)).await.0,
            StatusCode::NOT_FOUND
        );
    }
    let (status, _) = server
        .post(&format!("/jobs/{id}/confirm"), &globex, &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An Analyst may not confirm.
    let (status, _) = server
        .post(&format!("/jobs/{id}/confirm"), &analyst, &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A second migration, rejected: CANCELLED, and it cannot be confirmed after.
    let mut other = request.clone();
    other["migrationMode"] = json!("IMMEDIATE");
    let (status, _) = server.post("/v2/price_plans/migration", &pm, &other).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, page) = server.get("/jobs", Some(&pm)).await;
    let other_id = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .find(|j| *j != id)
        .unwrap();
    let (status, rejected) = server
        .post(&format!("/jobs/{other_id}/reject"), &pm, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "CANCELLED");
    assert!(rejected["settledAt"].is_string(), "{rejected}");
    let (status, body) = server
        .post(&format!("/jobs/{other_id}/confirm"), &pm, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("REJECTED"));

    // Confirmed: PENDING until a worker runs it, then COMPLETED with both accounts.
    let (status, confirmed) = server
        .post(&format!("/jobs/{id}/confirm"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["status"], "PENDING");
    assert!(confirmed["metadata"]["jobId"].is_string(), "{confirmed}");
    let _worker = env.worker().no_scheduler().spawn();
    let done = until(&server, &format!("/jobs/{id}"), &admin, |j| {
        j["status"] == "COMPLETED"
    })
    .await;
    assert_eq!(
        (
            &done["totalJobEntries"],
            &done["completedJobEntries"],
            &done["pendingJobEntries"],
            &done["failedJobEntries"]
        ),
        (&json!(2), &json!(2), &json!(0), &json!(0)),
        "{done}"
    );
    assert!(done["settledAt"].is_string(), "{done}");
    let (status, entries) = server
        .get(&format!("/jobs/{id}/entries?pageSize=1"), Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    assert_eq!(entries["data"].as_array().unwrap().len(), 1);
    let first = &entries["data"][0];
    assert_eq!(first["entityId"], "m1");
    assert_eq!(first["jobId"], json!(id));
    assert_eq!(first["status"], "COMPLETED");
    assert_eq!(first["metadata"]["switchDate"], json!(next_month_start()));
    assert_eq!(first["metadata"]["sourceVersion"], "1");
    let token = entries["nextToken"].as_str().unwrap();
    let (_, rest) = server
        .get(
            &format!("/jobs/{id}/entries?pageSize=1&nextToken={token}"),
            Some(&analyst),
        )
        .await;
    assert_eq!(rest["data"][0]["entityId"], "m2");
    assert!(rest.get("nextToken").is_none(), "{rest}");
    // Confirming again is a conflict.
    let (status, _) = server
        .post(&format!("/jobs/{id}/confirm"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The audit rows, refusals included (the role checks refuse before any change).
    let pm_id = token_id(&env, "acme", "pm");
    let rows = audit_rows(&env, "plan_migration.").await;
    let actions: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(actor, a, _, o)| (actor.as_str(), a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (admin_id.as_str(), "plan_migration.create", "FAILURE"),
            (admin_id.as_str(), "plan_migration.create", "FAILURE"),
            (admin_id.as_str(), "plan_migration.create", "SUCCESS"),
            (pm_id.as_str(), "plan_migration.create", "SUCCESS"),
            (pm_id.as_str(), "plan_migration.reject", "SUCCESS"),
            (pm_id.as_str(), "plan_migration.confirm", "FAILURE"),
            (admin_id.as_str(), "plan_migration.confirm", "SUCCESS"),
            (admin_id.as_str(), "plan_migration.confirm", "FAILURE"),
        ]
    );
    assert_eq!(rows[2].2, id);
    assert_eq!(rows[4].2, other_id);
    // globex's refused confirm is globex's row, not acme's.
    let globex_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE org_id = 'globex' AND action = 'plan_migration.confirm'
           AND outcome = 'FAILURE'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(globex_rows, 1);
}

#[tokio::test]
async fn a_bill_run_over_the_api_is_a_bill_run_job_and_its_invoices_are_listed_to_the_cent() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.org("globex").await;
    env.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(5000))
        .with_usage("e2", "2026-01-20T10:00:00Z", dec!(9000))
        .with_usage("e3", "2026-01-31T23:59:59Z", dec!(1000))
        .await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");

    let (status, _) = server
        .post(
            "/invoices/bill_runs?asOf=2026-02-01T00:00:00Z",
            &analyst,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = server
        .post(
            "/invoices/bill_runs?require_confirmation=true",
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("require_confirmation"));

    let (status, body) = server
        .post(
            "/invoices/bill_runs?require_confirmation=false&asOf=2026-02-01T00:00:00Z",
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"success": true}));
    let (_, page) = server.get("/jobs", Some(&admin)).await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{page}");
    assert_eq!(data[0]["type"], "BILL_RUN");
    assert_eq!(data[0]["status"], "PENDING");
    let id = data[0]["id"].as_str().unwrap().to_string();
    // Bill runs never wait for a confirmation; globex does not see it.
    let (status, _) = server
        .post(&format!("/jobs/{id}/confirm"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        server.get(&format!("/jobs/{id}"), Some(&globex)).await.0,
        StatusCode::NOT_FOUND
    );

    let _worker = env.worker().no_scheduler().spawn();
    let done = until(&server, &format!("/jobs/{id}"), &admin, |j| {
        j["status"] == "COMPLETED"
    })
    .await;
    assert_eq!(done["metadata"]["asOf"], "2026-02-01T00:00:00Z");
    assert_eq!(done["failedJobEntries"], 0, "{done}");
    assert_eq!(done["pendingJobEntries"], 0, "{done}");
    let total = done["totalJobEntries"].as_i64().unwrap();
    assert!(total >= 2, "close and finalize chunks at least: {done}");
    let (_, entries) = server
        .get(&format!("/jobs/{id}/entries?pageSize=50"), Some(&admin))
        .await;
    let kinds: Vec<&str> = entries["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len() as i64, total);
    assert!(kinds.contains(&"close-chunk") && kinds.contains(&"finalize-chunk"));

    // January's opening invoice (99.00 in advance) and February 1's: 1000 x 0.10 +
    // 9000 x 0.05 + 5000 x 0.01 = 600.00 of usage + 99.00 = 699.00; both DUE.
    let (status, invoices) = server.get("/invoices?owner_id=a1", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{invoices}");
    let got: Vec<(String, String, rust_decimal::Decimal)> = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["sequenceId"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
                i["totalAmount"].to_string().parse().unwrap(),
            )
        })
        .collect();
    let want = |n: &str, t| (n.to_string(), "DUE".to_string(), t);
    assert_eq!(
        got,
        [
            want("INV-2026-0002", dec!(699.00)),
            want("INV-2026-0001", dec!(99.00))
        ]
    );

    let rows = audit_rows(&env, "bill_run.").await;
    let outcomes: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(outcomes, ["FAILURE", "SUCCESS"]);
    assert_eq!(rows[1].2, id);
}

#[tokio::test]
async fn billruns_own_job_routes_enqueue_list_show_retry_and_cancel_within_the_organisation() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let admin_id = token_id(&env, "acme", "admin");
    let developer = token(&env, "acme", "dev", "developer");
    let globex = token(&env, "globex", "admin", "administrator");

    let later = json!({"kind": "credit-expiry", "runAt": "2099-01-01T00:00:00Z",
                       "asOf": "2026-02-01T00:00:00Z", "idempotencyKey": "k1"});
    // Only administrators enqueue; every role reads.
    let (status, _) = server.post("/billrun/jobs", &developer, &later).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, job) = server.post("/billrun/jobs", &admin, &later).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    assert_eq!(job["kind"], "credit-expiry");
    assert_eq!(job["organisation"], "acme");
    assert_eq!(job["state"], "scheduled");
    assert_eq!(job["request"]["payload"], json!({"organisation": "acme"}));
    let id = job["id"].as_str().unwrap().to_string();
    // The same key: the same job, 200.
    let (status, again) = server.post("/billrun/jobs", &admin, &later).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], json!(id));

    // Refused: another organisation in the payload, a kind for the whole queue, an
    // unknown kind, a payload that does not fit.
    for (body, needle) in [
        (
            json!({"kind": "credit-expiry", "payload": {"organisation": "globex"}}),
            "globex",
        ),
        (json!({"kind": "probe", "payload": {"key": "x"}}), "probe"),
        (json!({"kind": "launch"}), "launch"),
        (
            json!({"kind": "cycle-close", "payload": {"chunkSize": "big"}}),
            "cycle-close",
        ),
    ] {
        let (status, answer) = server.post("/billrun/jobs", &admin, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }

    // A second job, listed newest first, a page at a time.
    let (status, second) = server
        .post(
            "/billrun/jobs",
            &admin,
            &json!({"kind": "cycle-close", "runAt": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_id = second["id"].as_str().unwrap().to_string();
    let (status, page) = server
        .get("/billrun/jobs?pageSize=1", Some(&developer))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["data"][0]["id"], json!(second_id));
    let next = page["nextToken"].as_str().unwrap();
    let (_, page) = server
        .get(
            &format!("/billrun/jobs?pageSize=1&nextToken={next}"),
            Some(&developer),
        )
        .await;
    assert_eq!(page["data"][0]["id"], json!(id));
    assert!(page.get("nextToken").is_none(), "{page}");
    let (_, filtered) = server
        .get("/billrun/jobs?kind=cycle-close", Some(&developer))
        .await;
    assert_eq!(filtered["total"], 1);
    let (status, _) = server.get("/billrun/jobs?state=sleepy", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, shown) = server
        .get(&format!("/billrun/jobs/{id}"), Some(&developer))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        shown["progress"],
        json!({"total": 0, "done": 0, "unfinished": 0, "failed": 0})
    );

    // Another organisation: not found, whatever it does; its list is empty.
    assert_eq!(
        server
            .get(&format!("/billrun/jobs/{id}"), Some(&globex))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    for action in ["retry", "cancel"] {
        let (status, _) = server
            .post(&format!("/billrun/jobs/{id}/{action}"), &globex, &json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    let (_, theirs) = server.get("/billrun/jobs", Some(&globex)).await;
    assert_eq!(theirs["data"], json!([]));

    // Retry applies to dead or cancelled jobs; cancel to one not started.
    let (status, body) = server
        .post(&format!("/billrun/jobs/{id}/retry"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, cancelled) = server
        .post(&format!("/billrun/jobs/{id}/cancel"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    let (status, retried) = server
        .post(&format!("/billrun/jobs/{id}/retry"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["state"], "pending");
    let (status, _) = server
        .post(
            &format!("/billrun/jobs/{id}/cancel"),
            &developer,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let rows = audit_rows(&env, "job.").await;
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(actor, a, _, o)| (actor.as_str(), a.as_str(), o.as_str()))
        .collect();
    let a = admin_id.as_str();
    assert_eq!(
        got,
        [
            (a, "job.enqueue", "SUCCESS"),
            (a, "job.enqueue", "SUCCESS"),
            (a, "job.enqueue", "FAILURE"),
            (a, "job.enqueue", "FAILURE"),
            (a, "job.enqueue", "FAILURE"),
            (a, "job.enqueue", "FAILURE"),
            (a, "job.enqueue", "SUCCESS"),
            (a, "job.retry", "FAILURE"),
            (a, "job.cancel", "SUCCESS"),
            (a, "job.retry", "SUCCESS"),
        ]
    );
    assert_eq!(rows[0].2, id);
}
