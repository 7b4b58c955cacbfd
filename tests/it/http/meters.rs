//! Event schemas' and usage meters' lifecycles through a real `billrun serve`: a
//! schema's versions (additions only), activation and deactivation with what they
//! refuse (409 naming the meter or plan that uses it), an INACTIVE schema's events
//! refused at ingest, deletion, 404 for another organisation, 400 for bad fields,
//! and the audit row of every change.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{answer, token, Server};
use crate::env::TestEnv;

/// `method` `path` with `body` (if any) as `token`: status and JSON body.
async fn send(
    server: &Server,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = server
        .client
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    answer(req.send().await.unwrap()).await
}

/// The `message` of an error body.
fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

/// The audit rows of `acme` whose action starts with `prefix`: action, object,
/// outcome, in order.
async fn audit_rows(env: &TestEnv, prefix: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT action, object_id, outcome FROM audit_log
         WHERE org_id = 'acme' AND action LIKE $1 || '%' ORDER BY id",
    )
    .bind(prefix)
    .fetch_all(env.pool())
    .await
    .unwrap()
}

fn row(action: &str, object: &str, outcome: &str) -> (String, String, String) {
    (action.into(), object.into(), outcome.into())
}

/// Togai's one-event ingest body: `n` calls of schema `schema` for account a1.
fn event(id: &str, schema: &str) -> Value {
    json!({"event": {"id": id, "schemaName": schema, "timestamp": "2026-01-10T12:00:00Z",
                     "accountId": "a1", "attributes": [{"name": "n", "value": "2"}],
                     "dimensions": {}}})
}

#[tokio::test]
async fn event_schemas_grow_by_versions_and_deactivation_and_deletion_refuse_what_uses_them() {
    let env = TestEnv::new().await;
    // acme: schema `api` (calls; region) measured by the ACTIVE meter `api_calls`,
    // which plan growth names; account a1 on it.
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.account("acme", "a1").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let dev = token(&env, "acme", "dev", "developer");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");

    let (status, v1) = server.get("/event_schema/api", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(
        v1,
        json!({"name": "api", "version": 1, "status": "ACTIVE",
               "attributes": [{"name": "calls"}], "dimensions": [{"name": "region"}]})
    );

    // Adding an attribute makes version 2; the same lists again change nothing.
    let grow = json!({"attributes": [{"name": "calls"}, {"name": "tokens"}]});
    let (status, v2) = send(
        &server,
        Method::PATCH,
        "/event_schema/api",
        &dev,
        Some(grow.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(
        v2,
        json!({"name": "api", "version": 2, "status": "ACTIVE",
               "attributes": [{"name": "calls"}, {"name": "tokens"}],
               "dimensions": [{"name": "region"}]})
    );
    let (status, same) = send(
        &server,
        Method::PATCH,
        "/event_schema/api",
        &dev,
        Some(grow),
    )
    .await;
    assert_eq!((status, &same), (StatusCode::OK, &v2));

    // Removing one is a conflict naming it; a name twice or an unkept field a 400.
    let (status, body) = send(
        &server,
        Method::PATCH,
        "/event_schema/api",
        &dev,
        Some(json!({"attributes": [{"name": "tokens"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        message(&body).starts_with("attributes: [\"calls\"] cannot be removed"),
        "{body}"
    );
    let (status, body) = send(
        &server,
        Method::PATCH,
        "/event_schema/api",
        &dev,
        Some(json!({"dimensions": [{"name": "region"}, {"name": "calls"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("dimensions[1]"), "{body}");
    let (status, body) = send(
        &server,
        Method::PATCH,
        "/event_schema/api",
        &dev,
        Some(json!({"description": "calls"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(message(&body), "description: not supported yet");
    // An analyst reads, but may not change.
    let (status, _) = send(
        &server,
        Method::PATCH,
        "/event_schema/api",
        &analyst,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Every version: the replaced one ARCHIVED, as it was.
    let (status, versions) = server
        .get("/event_schema/api/versions", Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let mut archived = v1.clone();
    archived["status"] = json!("ARCHIVED");
    assert_eq!(versions, json!({"data": [archived, v2]}));
    let (_, one) = server
        .get("/event_schema/api?version=1", Some(&analyst))
        .await;
    assert_eq!(one, archived);
    let (status, body) = server
        .get("/event_schema/api?version=3", Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // `api` is measured by the ACTIVE meter api_calls: not deactivated, not deleted.
    let (status, body) = send(
        &server,
        Method::POST,
        "/event_schema/api/deactivate",
        &dev,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("[\"api_calls\"]"), "{body}");
    let (status, body) = send(&server, Method::DELETE, "/event_schema/api", &dev, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("[\"api_calls\"]"), "{body}");

    // A schema no meter measures: INACTIVE, its events are refused at ingest.
    let beta = json!({"name": "beta", "attributes": [{"name": "n"}], "dimensions": []});
    assert_eq!(
        server.post("/event_schema", &dev, &beta).await.0,
        StatusCode::CREATED
    );
    let (status, off) = send(
        &server,
        Method::POST,
        "/event_schema/beta/deactivate",
        &dev,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["status"], "INACTIVE");
    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, inactive) = server
        .get("/event_schema?status=INACTIVE", Some(&analyst))
        .await;
    assert_eq!(names(&inactive), ["beta"]);
    let (_, active) = server
        .get("/event_schema?status=ACTIVE", Some(&analyst))
        .await;
    assert_eq!(names(&active), ["api"]);
    let (_, all) = server.get("/event_schema", Some(&analyst)).await;
    assert_eq!(names(&all), ["api", "beta"]);
    let (status, body) = server
        .get("/event_schema?status=PAUSED", Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).starts_with("status \"PAUSED\""), "{body}");

    let (status, body) = server.post("/ingest", &dev, &event("e1", "beta")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("event schema \"beta\" is INACTIVE"),
        "{body}"
    );
    let batch = json!({"events": [event("e1", "beta")["event"]]});
    let (status, body) = server.post("/ingestBatch", &dev, &batch).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["details"]["failures"][0]["status"], "INGESTION_FAILED");
    // Activated again, it takes the same event.
    let (status, on) = send(
        &server,
        Method::POST,
        "/event_schema/beta/activate",
        &dev,
        None,
    )
    .await;
    assert_eq!(
        (status, on["status"].clone()),
        (StatusCode::OK, json!("ACTIVE"))
    );
    let (status, body) = server.post("/ingest", &dev, &event("e1", "beta")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // An event names it now: it cannot be deleted.
    let (status, body) = send(&server, Method::DELETE, "/event_schema/beta", &dev, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("usage events"), "{body}");

    // One nothing uses is deleted, with its versions.
    let gamma = json!({"name": "gamma", "attributes": [], "dimensions": [{"name": "d"}]});
    assert_eq!(
        server.post("/event_schema", &dev, &gamma).await.0,
        StatusCode::CREATED
    );
    let (status, _) = send(
        &server,
        Method::PATCH,
        "/event_schema/gamma",
        &dev,
        Some(json!({"dimensions": [{"name": "d"}, {"name": "e"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Another organisation's schema is not found, whatever the call.
    for (method, path) in [
        (Method::GET, "/event_schema/gamma"),
        (Method::GET, "/event_schema/gamma/versions"),
        (Method::PATCH, "/event_schema/gamma"),
        (Method::POST, "/event_schema/gamma/activate"),
        (Method::POST, "/event_schema/gamma/deactivate"),
        (Method::DELETE, "/event_schema/gamma"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({}));
        let (status, got) = send(&server, method.clone(), path, &globex, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {got}");
        assert_eq!(
            message(&got),
            "event schema \"gamma\" does not exist in organisation \"globex\""
        );
    }
    let (status, done) = send(&server, Method::DELETE, "/event_schema/gamma", &dev, None).await;
    assert_eq!((status, done), (StatusCode::OK, json!({"success": true})));
    assert_eq!(
        server.get("/event_schema/gamma", Some(&dev)).await.0,
        StatusCode::NOT_FOUND
    );
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM event_schema_versions WHERE name = 'gamma'")
            .fetch_one(env.pool())
            .await
            .unwrap();
    assert_eq!(left, 0);

    // Every change, refused or not, has its audit row (globex's are its own).
    assert_eq!(
        audit_rows(&env, "event_schema.").await,
        [
            row("event_schema.update", "api", "SUCCESS"),
            row("event_schema.update", "api", "SUCCESS"),
            row("event_schema.update", "api", "FAILURE"),
            row("event_schema.update", "api", "FAILURE"),
            row("event_schema.update", "api", "FAILURE"),
            row("event_schema.deactivate", "api", "FAILURE"),
            row("event_schema.delete", "api", "FAILURE"),
            row("event_schema.create", "beta", "SUCCESS"),
            row("event_schema.deactivate", "beta", "SUCCESS"),
            row("event_schema.activate", "beta", "SUCCESS"),
            row("event_schema.delete", "beta", "FAILURE"),
            row("event_schema.create", "gamma", "SUCCESS"),
            row("event_schema.update", "gamma", "SUCCESS"),
            row("event_schema.delete", "gamma", "SUCCESS"),
        ]
    );
}

#[tokio::test]
async fn a_meter_a_plan_names_keeps_what_it_measures_and_cannot_be_deactivated_or_deleted() {
    let env = TestEnv::new().await;
    // acme: plan growth v1 (ACTIVE) names the meter api_calls (SUM of calls on `api`).
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let dev = token(&env, "acme", "dev", "developer");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");

    let (status, m) = server.get("/usage_meters/api_calls", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(
        m,
        json!({"id": "api_calls", "name": "API calls", "displayName": "API calls",
               "filters": [], "type": "COUNTER", "status": "ACTIVE", "aggregation": "SUM",
               "computations": [{"computation": "calls", "order": 1}]})
    );
    let (_, with) = server
        .get("/usage_meters/api_calls?includeSchema=true", Some(&analyst))
        .await;
    assert_eq!(with["eventSchema"]["name"], "api");
    assert_eq!(with["eventSchema"]["version"], 1);

    // Its display name may change (the id stays) ...
    let (status, renamed) = send(
        &server,
        Method::PATCH,
        "/usage_meters/api_calls",
        &dev,
        Some(json!({"name": "API requests"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (renamed["id"].clone(), renamed["displayName"].clone()),
        (json!("api_calls"), json!("API requests"))
    );
    // ... not what it measures, nor its status, nor whether it exists: growth names it.
    let named = "usage meter \"api_calls\" is named by the rate cards of price plan \"growth\" version 1 (ACTIVE)";
    for (method, path, body) in [
        (
            Method::PATCH,
            "/usage_meters/api_calls",
            Some(json!({"filters": [{"field": "region", "value": "eu"}]})),
        ),
        (
            Method::PATCH,
            "/usage_meters/api_calls",
            Some(json!({"aggregation": "COUNT"})),
        ),
        (Method::POST, "/usage_meters/api_calls/deactivate", None),
        (Method::DELETE, "/usage_meters/api_calls", None),
    ] {
        let (status, got) = send(&server, method.clone(), path, &dev, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{method} {path}: {got}");
        assert!(message(&got).starts_with(named), "{method} {path}: {got}");
    }
    let (_, still) = server.get("/usage_meters/api_calls", Some(&analyst)).await;
    assert_eq!(still, renamed);

    // A meter no plan names changes freely, checked against its schema.
    let eu = json!({"name": "Calls EU", "type": "COUNTER", "aggregation": "COUNT",
                    "filters": [{"field": "region", "value": "eu"}], "eventSchemaName": "api"});
    let (status, created) = server.post("/usage_meters", &dev, &eu).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], "calls_eu");
    let (status, summed) = send(
        &server,
        Method::PATCH,
        "/usage_meters/calls_eu",
        &dev,
        Some(json!({"aggregation": "SUM", "computations": [{"computation": "calls", "order": 1}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{summed}");
    assert_eq!(summed["aggregation"], "SUM");
    assert_eq!(
        summed["filters"],
        json!([{"field": "region", "value": "eu"}])
    );
    for (body, says) in [
        (
            json!({"computations": [{"computation": "bytes", "order": 1}]}),
            "\"bytes\" is not an attribute",
        ),
        (
            json!({"filters": [{"field": "zone", "value": "a"}]}),
            "filters.zone",
        ),
        (
            json!({"billableName": "EU"}),
            "billableName: not supported yet",
        ),
        (json!({"type": "GAUGE"}), "type \"GAUGE\""),
    ] {
        let (status, got) = send(
            &server,
            Method::PATCH,
            "/usage_meters/calls_eu",
            &dev,
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{got}");
        assert!(message(&got).contains(says), "{got}");
    }

    // INACTIVE: listed by status, and a plan naming it cannot be finalized.
    let (status, off) = send(
        &server,
        Method::POST,
        "/usage_meters/calls_eu/deactivate",
        &dev,
        None,
    )
    .await;
    assert_eq!(
        (status, off["status"].clone()),
        (StatusCode::OK, json!("INACTIVE"))
    );
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, inactive) = server
        .get("/usage_meters?status=INACTIVE", Some(&analyst))
        .await;
    assert_eq!(ids(&inactive), ["calls_eu"]);
    let (_, active) = server
        .get("/usage_meters?status=ACTIVE", Some(&analyst))
        .await;
    assert_eq!(ids(&active), ["api_calls"]);
    let mut plan = crate::fixtures::growth_plan(0);
    plan["name"] = json!("eu");
    plan["usageRateCards"][0]["usageMeterId"] = json!("calls_eu");
    let file = env.scratch().join("eu.json");
    std::fs::write(&file, plan.to_string()).unwrap();
    env.ok(&["plan", "apply", "--org", "acme", file.to_str().unwrap()]);
    let err = env.fails(&["plan", "finalize", "--org", "acme", "eu"]);
    assert!(
        err.contains("usage meter \"calls_eu\" is INACTIVE"),
        "{err}"
    );
    // Activated, it can be finalized; the DRAFT names it meanwhile.
    let (status, _) = send(
        &server,
        Method::POST,
        "/usage_meters/calls_eu/activate",
        &dev,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, got) = send(
        &server,
        Method::DELETE,
        "/usage_meters/calls_eu",
        &dev,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    assert!(message(&got).contains("\"eu\" version 1 (DRAFT)"), "{got}");
    env.ok(&["plan", "finalize", "--org", "acme", "eu"]);

    // A meter of an INACTIVE schema cannot be activated; none is created on one.
    let solo = json!({"name": "solo", "attributes": [], "dimensions": []});
    assert_eq!(
        server.post("/event_schema", &dev, &solo).await.0,
        StatusCode::CREATED
    );
    let count = json!({"name": "Solo", "type": "COUNTER", "aggregation": "COUNT", "eventSchemaName": "solo"});
    assert_eq!(
        server.post("/usage_meters", &dev, &count).await.0,
        StatusCode::CREATED
    );
    env.ok(&["meter", "deactivate", "--org", "acme", "solo"]);
    env.ok(&["meter", "deactivate-schema", "--org", "acme", "solo"]);
    let (status, got) = send(
        &server,
        Method::POST,
        "/usage_meters/solo/activate",
        &dev,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");
    assert!(
        message(&got).contains("event schema \"solo\", which is INACTIVE"),
        "{got}"
    );
    let mut again = count.clone();
    again["name"] = json!("Solo two");
    let (status, got) = server.post("/usage_meters", &dev, &again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{got}");

    // Another organisation's meter is not found, whatever the call.
    for (method, path) in [
        (Method::GET, "/usage_meters/solo"),
        (Method::PATCH, "/usage_meters/solo"),
        (Method::POST, "/usage_meters/solo/activate"),
        (Method::POST, "/usage_meters/solo/deactivate"),
        (Method::DELETE, "/usage_meters/solo"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({}));
        let (status, got) = send(&server, method.clone(), path, &globex, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {got}");
        assert_eq!(
            message(&got),
            "usage meter \"solo\" does not exist in organisation \"globex\""
        );
    }
    let (status, done) = send(&server, Method::DELETE, "/usage_meters/solo", &dev, None).await;
    assert_eq!((status, done), (StatusCode::OK, json!({"success": true})));
    assert_eq!(
        server.get("/usage_meters/solo", Some(&dev)).await.0,
        StatusCode::NOT_FOUND
    );

    // The audit rows: the API's (actor the token) and the CLI's, refusals included.
    assert_eq!(
        audit_rows(&env, "usage_meter.").await,
        [
            row("usage_meter.update", "api_calls", "SUCCESS"),
            row("usage_meter.update", "api_calls", "FAILURE"),
            row("usage_meter.update", "api_calls", "FAILURE"),
            row("usage_meter.deactivate", "api_calls", "FAILURE"),
            row("usage_meter.delete", "api_calls", "FAILURE"),
            row("usage_meter.create", "calls_eu", "SUCCESS"),
            row("usage_meter.update", "calls_eu", "SUCCESS"),
            row("usage_meter.update", "calls_eu", "FAILURE"),
            row("usage_meter.update", "calls_eu", "FAILURE"),
            row("usage_meter.update", "calls_eu", "FAILURE"),
            row("usage_meter.update", "calls_eu", "FAILURE"),
            row("usage_meter.deactivate", "calls_eu", "SUCCESS"),
            row("usage_meter.activate", "calls_eu", "SUCCESS"),
            row("usage_meter.delete", "calls_eu", "FAILURE"),
            row("usage_meter.create", "solo", "SUCCESS"),
            row("usage_meter.deactivate", "solo", "SUCCESS"),
            row("usage_meter.activate", "solo", "FAILURE"),
            row("usage_meter.create", "solo_two", "FAILURE"),
            row("usage_meter.delete", "solo", "SUCCESS"),
        ]
    );
}

/// The `llm` plan: growth's cycle and 99.00 fee in advance, no minimum, usage card on
/// meter `llm_tokens` (TIERED 0/1000/10000 at 0.10/0.05/0.01).
fn llm_plan() -> Value {
    let mut plan = crate::fixtures::growth_plan(0);
    plan["name"] = json!("llm");
    plan["usageRateCards"][0]["usageMeterId"] = json!("llm_tokens");
    plan.as_object_mut().unwrap().remove("minimumCommitment");
    plan
}

#[tokio::test]
async fn a_meter_computation_counts_tokens_times_two_for_model_large_through_a_bill_run() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(llm_plan()).await;
    let server = Server::start(&env).await;
    let dev = token(&env, "acme", "dev", "developer");
    let schema = json!({"name": "llm", "attributes": [{"name": "tokens"}],
                        "dimensions": [{"name": "model"}]});
    assert_eq!(
        server.post("/event_schema", &dev, &schema).await.0,
        StatusCode::CREATED
    );
    let large = r#"{"==": [{"var": "dimensions.model"}, "large"]}"#;
    let double = r#"{"*": [{"var": "attributes.tokens"}, 2]}"#;
    let meter = |computations: Value| {
        json!({"name": "llm tokens", "type": "COUNTER", "aggregation": "SUM",
               "eventSchemaName": "llm", "computations": computations})
    };

    // Refused: a matcher that does not parse (its index and position), a second
    // computation (Togai's UsageMeter holds one), an unknown operator (its position), a
    // bare name that is no attribute; nothing created.
    let (status, body) = server
        .post(
            "/usage_meters",
            &dev,
            &meter(json!([{"matcher": "{\"==\": [1,", "computation": "tokens", "order": 1}])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body)
            .starts_with("computations[0].matcher: usage meter \"llm_tokens\": not JSON-logic")
            && message(&body).contains("line 1, column 10"),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/usage_meters",
            &dev,
            &meter(
                json!([{"matcher": large, "computation": double, "order": 1},
                          {"computation": "tokens", "order": 2}]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).starts_with("computations[1]: usage meter \"llm_tokens\": at most 1"),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/usage_meters",
            &dev,
            &meter(json!([{"matcher": "{\"and\": [true, {\"frob\": 1}]}", "computation": double, "order": 1}])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("computations[0].matcher")
            && message(&body).contains("at \"/and/1\": unknown operator \"frob\""),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/usage_meters",
            &dev,
            &meter(json!([{"matcher": large, "computation": "calls", "order": 1}])),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        message(&body).contains("computations[0].computation"),
        "{body}"
    );
    assert_eq!(
        server.get("/usage_meters/llm_tokens", Some(&dev)).await.0,
        StatusCode::NOT_FOUND
    );

    let computations =
        json!([{"id": "large", "matcher": large, "computation": double, "order": 1}]);
    let (status, created) = server
        .post("/usage_meters", &dev, &meter(computations.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], "llm_tokens");
    assert_eq!(created["computations"], computations);

    // The plan names it: its computations cannot change.
    let (status, body) = send(
        &server,
        Method::PATCH,
        "/usage_meters/llm_tokens",
        &dev,
        Some(json!({"computations": [{"computation": "tokens", "order": 1}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    env.account("acme", "a1").on_plan("llm").await;
    for (id, ts, tokens, model) in [
        ("t1", "2026-01-05T10:00:00Z", "400", "large"),
        ("t2", "2026-01-10T10:00:00Z", "1000", "small"),
        ("t3", "2026-01-31T23:59:59Z", "250.5", "large"),
        ("t4", "2026-02-01T00:00:00Z", "100", "large"),
    ] {
        sqlx::query(
            "INSERT INTO usage_events (org_id, id, account_id, schema_name, ts, attributes, dimensions)
             VALUES ('acme', $1, 'a1', 'llm', $2::timestamptz, $3, $4)",
        )
        .bind(id)
        .bind(ts)
        .bind(json!({ "tokens": tokens }))
        .bind(json!({ "model": model }))
        .execute(env.pool())
        .await
        .unwrap();
    }
    let out = crate::harness::run({
        let mut c = env.command();
        c.args([
            "run",
            "cycle-close",
            "--now",
            "2026-02-01T00:00:00Z",
            "--json",
        ]);
        c
    });
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));

    // January: t1 400 x 2 = 800 and t3 250.5 x 2 = 501 (large); t2 is small (no
    // computation matches: nothing) and t4 is February's. 1,301 units: 1,000 x 0.10 =
    // 100.00 + 301 x 0.05 = 15.05 = 115.05 of usage, + 99.00 in advance = 214.05.
    let admin = token(&env, "acme", "admin", "administrator");
    let (status, invoices) = server.get("/invoices?owner_id=a1", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{invoices}");
    let totals: Vec<rust_decimal::Decimal> = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["totalAmount"].to_string().parse().unwrap())
        .collect();
    assert_eq!(
        totals,
        [
            rust_decimal_macros::dec!(214.05),
            rust_decimal_macros::dec!(99.00)
        ],
        "{invoices}"
    );
    let quantity: String = sqlx::query_scalar(
        "SELECT lines::text FROM invoices WHERE org_id = 'acme' AND boundary = '2026-02-01'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert!(quantity.contains("1301"), "{quantity}");
}
