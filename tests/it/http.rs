//! The HTTP API (`billrun serve`): the real binary on a free loopback port, called
//! over TCP with an HTTP client: authentication (401), the role table (403), tenant
//! isolation (404), a create and get round trip, its audit row, `/health`,
//! `/openapi.json`, and a graceful stop on SIGTERM.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::delivery::free_port;
use crate::env::{Spawned, TestEnv};
use crate::harness::wait_for;

/// A running `billrun serve` and a client for it.
struct Server {
    base: String,
    client: reqwest::Client,
    process: Spawned,
}

impl Server {
    /// Starts `billrun serve --listen 127.0.0.1:<free port>` on `env` and waits until
    /// `/health` answers 200.
    async fn start(env: &TestEnv) -> Server {
        Server::start_with(env, &["serve"]).await
    }

    /// Starts `billrun <args> --listen 127.0.0.1:<free port>` (`serve`, or `worker
    /// --serve`) and waits until `/health` answers 200.
    async fn start_with(env: &TestEnv, args: &[&str]) -> Server {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut args = args.to_vec();
        args.extend(["--listen", &listen]);
        let process = env.spawn(&args);
        let server = Server {
            base: format!("http://{listen}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            process,
        };
        wait_for(
            Duration::from_secs(30),
            "billrun serve to answer /health",
            || async {
                match server.client.get(server.url("/health")).send().await {
                    Ok(r) if r.status() == StatusCode::OK => Some(()),
                    _ => None,
                }
            },
        )
        .await;
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path` with `token` (if any): status and JSON body.
    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        answer(req.send().await.unwrap()).await
    }

    /// POST `body` as JSON to `path` with `token`: status and JSON body.
    async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        answer(res).await
    }
}

async fn answer(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text}"));
    (status, body)
}

/// Creates a token through the CLI; the token printed on stdout.
fn token(env: &TestEnv, org: &str, name: &str, role: &str) -> String {
    let out = env.ok(&[
        "token", "create", "--org", org, "--name", name, "--role", role,
    ]);
    out.trim().to_string()
}

/// The id of the token named `name`.
fn token_id(env: &TestEnv, org: &str, name: &str) -> String {
    let list = env.json(&["token", "list", "--org", org, "--json"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no token {name}: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn customer(id: &str) -> Value {
    json!({
        "id": id,
        "name": "Initech Corp",
        "primaryEmail": "billing@initech.test",
        "address": {"line1": "1 Main St", "city": "Austin", "postalCode": "73301", "country": "US"}
    })
}

#[tokio::test]
async fn the_server_answers_health_and_its_openapi_document_lists_the_routes() {
    let env = TestEnv::new().await;
    let mut server = Server::start(&env).await;

    let (status, health) = server.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health, json!({"status": "ok", "database": "ok"}));

    let res = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("x-request-id").is_some(),
        "a request id is returned"
    );

    let (status, doc) = server.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    for (path, method) in [
        ("/health", "get"),
        ("/authenticate", "post"),
        ("/customers", "post"),
        ("/customers", "get"),
        ("/customers/{customer_id}", "get"),
        ("/accounts", "post"),
        ("/accounts", "get"),
        ("/accounts/{account_id}", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from /openapi.json"
        );
    }

    // SIGTERM: a graceful stop, status 0.
    server.process.signal(libc::SIGTERM);
    let status = server
        .process
        .exits_within(Duration::from_secs(15))
        .await
        .expect("billrun serve stops on SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.process.log());
    let log = server.process.log();
    assert!(log.contains("HTTP API listening"), "{log}");
    assert!(
        log.contains("request_id"),
        "structured request logs with the id: {log}"
    );
}

#[tokio::test]
async fn without_a_valid_token_every_route_answers_401_in_togais_shape() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let good = token(&env, "acme", "ci", "administrator");
    let doomed = token(&env, "acme", "old", "administrator");
    let paused = token(&env, "acme", "paused", "administrator");
    assert_eq!(
        server.get("/customers", Some(&good)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/customers", Some(&doomed)).await.0,
        StatusCode::OK
    );

    let (status, body) = server.get("/customers", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("Bearer"),
        "{body}"
    );

    let mut wrong = good.clone();
    wrong.pop();
    wrong.push(if good.ends_with('0') { '1' } else { '0' });
    let (status, body) = server.get("/customers", Some(&wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only a message: {body}");
    assert_eq!(
        server.get("/customers", Some("not-a-token")).await.0,
        StatusCode::UNAUTHORIZED
    );

    env.ok(&[
        "token",
        "deactivate",
        &token_id(&env, "acme", "paused"),
        "--org",
        "acme",
    ]);
    let (status, body) = server.get("/customers", Some(&paused)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("inactive"),
        "{body}"
    );

    env.ok(&[
        "token",
        "delete",
        &token_id(&env, "acme", "old"),
        "--org",
        "acme",
    ]);
    let (status, _) = server.get("/customers", Some(&doomed)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.post("/customers", &doomed, &customer("c1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The good token still works.
    assert_eq!(
        server.get("/customers", Some(&good)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_decide_what_a_token_may_do_and_other_organisations_ids_are_not_found() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let analyst = token(&env, "acme", "reader", "analyst");
    let developer = token(&env, "acme", "dev", "developer");
    let pm = token(&env, "acme", "pm", "product-manager");
    let globex = token(&env, "globex", "admin", "administrator");

    // An Analyst reads but does not write; a Product Manager reads customers only.
    let (status, body) = server.post("/customers", &analyst, &customer("c1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Analyst"),
        "{body}"
    );
    let (status, _) = server.post("/customers", &pm, &customer("c1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        server.get("/customers", Some(&analyst)).await.0,
        StatusCode::OK
    );
    assert_eq!(server.get("/customers", Some(&pm)).await.0, StatusCode::OK);

    // Nothing was created by the refused calls.
    let (_, list) = server.get("/customers", Some(&developer)).await;
    assert_eq!(list["data"], json!([]));

    // A Developer writes customers; globex's administrator cannot see them.
    let (status, _) = server.post("/customers", &developer, &customer("c1")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server.get("/customers/c1", Some(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["message"].as_str().unwrap().contains("c1"), "{body}");
    let (_, list) = server.get("/customers", Some(&globex)).await;
    assert_eq!(list["data"], json!([]));
    let account =
        json!({"id": "a1", "name": "Initech main", "customerId": "c1", "invoiceCurrency": "USD"});
    let (status, body) = server.post("/accounts", &globex, &account).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = server.post("/accounts", &developer, &account).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        server.get("/accounts/a1", Some(&globex)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/accounts/a1", Some(&analyst)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_customer_and_an_account_round_trip_in_togais_shapes_and_are_audited() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let token_id = token_id(&env, "acme", "admin");

    let (status, created) = server
        .post("/customers", &admin, &customer("initech"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({
            "id": "initech",
            "togaiCustomerId": "initech",
            "name": "Initech Corp",
            "primaryEmail": "billing@initech.test",
            "billingAddress": "1 Main St, 73301, Austin, US",
            "address": {"line1": "1 Main St", "postalCode": "73301", "city": "Austin", "country": "US"}
        })
    );
    let (status, got) = server.get("/customers/initech", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["name"], "Initech Corp");
    assert_eq!(got["primaryEmail"], "billing@initech.test");
    assert_eq!(got["status"], "ACTIVE");
    assert_eq!(got["address"]["city"], "Austin");
    assert_eq!(got["createdAt"], got["updatedAt"]);
    // Seen by the CLI too.
    assert!(env
        .ok(&["customer", "list", "--org", "acme"])
        .contains("Initech Corp"));

    // A duplicate is a conflict; a bad field a 400 naming it, in Togai's shape.
    let (status, body) = server
        .post("/customers", &admin, &customer("initech"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let mut bad = customer("x2");
    bad["address"]["country"] = json!("France");
    let (status, body) = server.post("/customers", &admin, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("country"),
        "{body}"
    );
    let (status, body) = server
        .post("/customers", &admin, &json!({"id": "x3"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Accounts: the organisation's base currency by default.
    let (status, account) = server
        .post(
            "/accounts",
            &admin,
            &json!({"id": "initech-main", "name": "Initech main", "customerId": "initech",
                    "netTermDays": 15,
                    "billingInformation": {"emailRecipients": ["ap@initech.test"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["togaiAccountId"], "initech-main");
    assert_eq!(account["customerId"], "initech");
    assert_eq!(account["invoiceCurrency"], "USD");
    assert_eq!(account["netTermDays"], 15);
    assert_eq!(account["status"], "ACTIVE");
    assert_eq!(
        account["billingInformation"]["emailRecipients"],
        json!(["ap@initech.test"])
    );
    let (_, got) = server.get("/accounts/initech-main", Some(&admin)).await;
    assert_eq!(got, account);

    // The audit rows: who, what, on which object, the outcome.
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT actor_kind, actor_id, action, object_id, outcome FROM audit_log
         WHERE org_id = 'acme' AND action IN ('customer.create', 'account.create') ORDER BY id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    let t = |a: &str, o: &str, out: &str| {
        (
            "TOKEN".to_string(),
            token_id.clone(),
            a.to_string(),
            o.to_string(),
            out.to_string(),
        )
    };
    assert_eq!(
        rows,
        [
            t("customer.create", "initech", "SUCCESS"),
            t("customer.create", "initech", "FAILURE"),
            t("customer.create", "x2", "FAILURE"),
            t("account.create", "initech-main", "SUCCESS"),
        ]
    );
}

#[tokio::test]
async fn lists_page_with_next_token() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    for id in ["c1", "c2", "c3"] {
        assert_eq!(
            server.post("/customers", &admin, &customer(id)).await.0,
            StatusCode::CREATED
        );
    }
    let (_, first) = server.get("/customers?pageSize=2", Some(&admin)).await;
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first), ["c1", "c2"]);
    assert_eq!(first["context"]["pageSize"], 2);
    let next = first["nextToken"].as_str().unwrap();
    let (_, second) = server
        .get(
            &format!("/customers?pageSize=2&nextToken={next}"),
            Some(&admin),
        )
        .await;
    assert_eq!(ids(&second), ["c3"]);
    assert!(second.get("nextToken").is_none(), "{second}");
    let (status, _) = server.get("/customers?pageSize=500", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn event_schemas_are_created_by_developers_and_listed_in_togais_shape() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let developer = token(&env, "acme", "dev", "developer");
    let pm = token(&env, "acme", "pm", "product-manager");
    let schema = json!({
        "name": "api_calls",
        "attributes": [{"name": "calls"}],
        "dimensions": [{"name": "region"}]
    });
    let (status, _) = server.post("/event_schema", &pm, &schema).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = server.post("/event_schema", &developer, &schema).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({"name": "api_calls", "version": 1, "status": "ACTIVE",
               "attributes": [{"name": "calls"}], "dimensions": [{"name": "region"}]})
    );
    let (status, list) = server.get("/event_schema", Some(&pm)).await;
    assert_eq!(status, StatusCode::OK);
    // The organisation's builder made a schema "api" too: listed by name.
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "api_calls"]);
    assert_eq!(list["data"][1], created);
    let (_, inactive) = server.get("/event_schema?status=INACTIVE", Some(&pm)).await;
    assert_eq!(inactive["data"], json!([]));
}

#[tokio::test]
async fn a_user_authenticates_with_a_password_and_acts_with_the_session_token() {
    use billrun::identity::{users, Actor, Role};
    use billrun::store::OrgId;

    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let mut config = env.load_config();
    config.mail.from = Some("billing@acme.test".into());
    let now = chrono::Utc::now();
    let options = users::InviteOptions {
        accept_url: "https://billing.acme.test/accept".into(),
        valid_for: chrono::Duration::hours(1),
    };
    let invitation = users::invite(
        env.pool(),
        &config,
        &OrgId::from("acme"),
        "ann@acme.test",
        Role::Analyst,
        &options,
        &Actor::cli("test"),
        now,
    )
    .await
    .unwrap();
    users::accept(env.pool(), &invitation.token, "correct horse battery", now)
        .await
        .unwrap();

    let login = |password: &str| {
        server
            .client
            .post(server.url("/authenticate"))
            .json(&json!({"email": "ann@acme.test", "password": password}))
            .send()
    };
    let (status, body) = answer(login("wrong password!").await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = answer(login("correct horse battery").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap().to_string();
    assert!(session.starts_with("brs_"), "{body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "Togai's TokenResponse: {body}"
    );

    // An Analyst's session reads, and may not write.
    assert_eq!(
        server.get("/customers", Some(&session)).await.0,
        StatusCode::OK
    );
    let (status, _) = server.post("/customers", &session, &customer("c1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn worker_serve_runs_jobs_and_the_api_in_one_process_and_stops_both_on_sigterm() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let mut server = Server::start_with(&env, &["worker", "--serve", "--no-scheduler"]).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let (status, _) = server.post("/customers", &admin, &customer("c1")).await;
    assert_eq!(status, StatusCode::CREATED);

    server.process.signal(libc::SIGTERM);
    let status = server
        .process
        .exits_within(Duration::from_secs(20))
        .await
        .expect("billrun worker --serve stops on SIGTERM");
    let log = server.process.log();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("worker starting"), "{log}");
    assert!(log.contains("HTTP API stopped"), "{log}");
}

/// A DRAFT invoice written straight to the table (what is answered, not how it was
/// billed, is under test), for `account` of acme at `boundary`.
async fn draft_invoice(env: &TestEnv, id: &str, account: &str, boundary: &str) {
    sqlx::query(
        "INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id,
             plan_version, currency, sub_total, total, lines, grace_ends_at, computed_at,
             closing_start, closing_end)
         VALUES ('acme', $1, $2, '2025-12-01', $3::date, 'growth', 1, 'USD', 149, 149, '{}',
                 now(), now(), $3::date - 31, $3::date)",
    )
    .bind(id)
    .bind(account)
    .bind(boundary)
    .execute(env.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn invoices_are_listed_and_read_in_togais_shape_by_the_roles_that_may() {
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.org("globex").await;
    for a in ["a1", "a2"] {
        env.account("acme", a).from("2025-12-01").await;
    }
    draft_invoice(&env, "inv-1", "a1", "2026-01-01").await;
    draft_invoice(&env, "inv-2", "a2", "2026-01-01").await;
    draft_invoice(&env, "inv-3", "a1", "2026-02-01").await;
    let server = Server::start(&env).await;
    let pm = token(&env, "acme", "pm", "product-manager");
    let developer = token(&env, "acme", "dev", "developer");
    let globex = token(&env, "globex", "admin", "administrator");

    assert_eq!(
        server.get("/invoices", Some(&developer)).await.0,
        StatusCode::FORBIDDEN
    );
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, first) = server.get("/invoices?pageSize=2", Some(&pm)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(ids(&first), ["inv-3", "inv-1"]);
    let next = first["nextToken"].as_str().unwrap();
    let (_, second) = server
        .get(&format!("/invoices?pageSize=2&nextToken={next}"), Some(&pm))
        .await;
    assert_eq!(ids(&second), ["inv-2"]);
    assert!(second.get("nextToken").is_none(), "{second}");
    let (_, a2) = server.get("/invoices?owner_id=a2", Some(&pm)).await;
    assert_eq!(ids(&a2), ["inv-2"]);
    let (_, paid) = server.get("/invoices?status=PAID", Some(&pm)).await;
    assert_eq!(ids(&paid), Vec::<String>::new());
    assert_eq!(
        server.get("/invoices?customer_id=c1", Some(&pm)).await.0,
        StatusCode::BAD_REQUEST
    );
    let summary = &first["data"][0];
    assert_eq!(summary["ownerId"], "a1");
    assert_eq!(summary["pricePlanId"], "growth");
    assert_eq!(summary["status"], "DRAFT");
    assert_eq!(summary["invoiceClass"], "INVOICE");
    assert_eq!(summary["invoiceType"], "STANDARD");
    assert_eq!(summary["invoiceDate"], "2026-02-01T00:00:00Z");
    assert_eq!(summary["startDate"], "2026-01-01T00:00:00Z");
    assert_eq!(summary["endDate"], "2026-02-01T00:00:00Z");
    assert_eq!(summary["endDateInclusive"], "2026-01-31T00:00:00Z");
    // Togai's client requires the amounts and the net term on the summary too.
    assert_eq!(summary["totalAmount"].as_f64(), Some(149.0));
    assert_eq!(summary["paidAmount"].as_f64(), Some(0.0));
    assert_eq!(summary["netTermDays"], 0);

    // One invoice: amounts are JSON numbers with the currency's scale.
    let res = server
        .client
        .get(server.url("/invoices/inv-3"))
        .bearer_auth(&pm)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("\"totalAmount\":149.00"), "{text}");
    assert!(text.contains("\"paidAmount\":0"), "{text}");
    let one: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(one["id"], "inv-3");
    assert_eq!(one["netTermDays"], 0);
    assert!(one.get("usageInfo").is_none(), "{one}");

    let (status, body) = server.get("/invoices/inv-3", Some(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, none) = server.get("/invoices", Some(&globex)).await;
    assert_eq!(ids(&none), Vec::<String>::new());
}

#[tokio::test]
async fn usage_meters_are_created_from_togais_request_and_listed() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let developer = token(&env, "acme", "dev", "developer");
    let analyst = token(&env, "acme", "reader", "analyst");
    let schema = json!({"name": "storage", "attributes": [{"name": "gb"}],
                        "dimensions": [{"name": "region"}]});
    assert_eq!(
        server.post("/event_schema", &developer, &schema).await.0,
        StatusCode::CREATED
    );
    let meter = json!({
        "name": "Storage GB", "type": "COUNTER", "aggregation": "SUM",
        "computations": [{"computation": "gb", "order": 1}],
        "filters": [{"field": "dimensions.region", "value": "eu"}],
        "eventSchemaName": "storage"
    });
    assert_eq!(
        server.post("/usage_meters", &analyst, &meter).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, created) = server.post("/usage_meters", &developer, &meter).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({"id": "storage_gb", "name": "Storage GB", "displayName": "Storage GB",
               "filters": [{"field": "region", "value": "eu"}], "type": "COUNTER",
               "status": "ACTIVE", "aggregation": "SUM",
               "computations": [{"computation": "gb", "order": 1}]})
    );
    // Seen by the CLI's catalog too.
    let stored = billrun::catalog::meters::get_meter(env.pool(), "acme", "storage_gb")
        .await
        .unwrap();
    assert_eq!(stored.attribute.as_deref(), Some("gb"));

    let (status, body) = server.post("/usage_meters", &developer, &meter).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let mut bad = meter.clone();
    bad["name"] = json!("Storage TB");
    bad["computations"][0]["computation"] = json!("tb");
    let (status, body) = server.post("/usage_meters", &developer, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("tb"), "{body}");

    let (status, list) = server.get("/usage_meters", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list["data"].as_array().unwrap().contains(&created),
        "{list}"
    );
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_answered_413_in_togais_shape() {
    let env = TestEnv::with_config("[http]\nbody_limit_bytes = 2000\n").await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let mut big = customer("c1");
    big["name"] = json!("x".repeat(5000));
    let (status, body) = server.post("/customers", &admin, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["message"].is_string(), "{body}");
    // A malformed body is a 400 in the same shape, not axum's plain-text 422.
    let (status, body) = server.post("/customers", &admin, &json!({"id": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("id"), "{body}");
}
