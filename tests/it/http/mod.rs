//! The HTTP API (`billrun serve`): the real binary on a free loopback port, called
//! over TCP with an HTTP client. Here: the server (`/health`, `/openapi.json`, request
//! ids and logs, body limits, a graceful stop, `worker --serve`), authentication (401),
//! the role table (403), tenant isolation (404) and `/authenticate`; in [`catalog`],
//! Togai's routes one by one (shapes, paging, audit rows).

mod accounts_more;
mod addons;
mod catalog;
mod console;
mod console_browser;
mod console_ops;
mod console_settings;
mod credit_notes;
mod customer_changes;
mod documents;
mod features;
mod identity;
mod imports;
mod ingest;
mod jobs;
mod login;
mod meters;
mod price_plans;
mod pricing_rules;
mod schedules;
mod security;
mod taxes;
mod togai;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::delivery::free_port;
use crate::env::{Spawned, TestEnv};
use crate::harness::wait_for;

/// A running `billrun serve` and a client for it.
pub(crate) struct Server {
    base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) process: Spawned,
}

impl Server {
    /// Starts `billrun serve --listen 127.0.0.1:<free port>` on `env` and waits until
    /// `/health` answers 200.
    pub(crate) async fn start(env: &TestEnv) -> Server {
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

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET `path` with `token` (if any): status and JSON body.
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        answer(req.send().await.unwrap()).await
    }

    /// POST `body` as JSON to `path` with `token`: status and JSON body.
    pub(crate) async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
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

pub(crate) async fn answer(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text}"));
    (status, body)
}

/// Creates a token through the CLI; the token printed on stdout.
pub(crate) fn token(env: &TestEnv, org: &str, name: &str, role: &str) -> String {
    let out = env.ok(&[
        "token", "create", "--org", org, "--name", name, "--role", role,
    ]);
    out.trim().to_string()
}

/// The id of the token named `name`.
pub(crate) fn token_id(env: &TestEnv, org: &str, name: &str) -> String {
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

pub(crate) fn customer(id: &str) -> Value {
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

#[tokio::test]
async fn a_request_past_its_deadline_is_answered_408_and_its_change_still_finishes() {
    let env = TestEnv::with_config("[http]\nrequest_timeout_secs = 1\n").await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    // Inserts into customers wait while another transaction holds this lock.
    let mut blocker = env.pool().begin().await.unwrap();
    sqlx::query("LOCK TABLE customers IN SHARE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let (status, body) = server.post("/customers", &admin, &customer("c1")).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("no answer within 1 s") && message.contains("goes on to its end"),
        "{body}"
    );
    // Not cut short: once the lock goes, the customer is created and then audited (the
    // row is written just after the change: waited for, not raced).
    blocker.commit().await.unwrap();
    let rows = wait_for(Duration::from_secs(30), "the audit row", || async {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT object_id, outcome FROM audit_log WHERE action = 'customer.create'",
        )
        .fetch_all(env.pool())
        .await
        .unwrap();
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(rows, vec![("c1".to_string(), "SUCCESS".to_string())]);
    let (status, body) = server.get("/customers/c1", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

impl Server {
    /// `method` `path` with `token` and, if any, the JSON `body`: status and JSON body.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        answer(req.send().await.unwrap()).await
    }
}

/// The (action, object id, outcome) of acme's audit rows of `actions`, in order.
pub(crate) async fn audit(env: &TestEnv, actions: &[&str]) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT action, object_id, outcome FROM audit_log
         WHERE org_id = 'acme' AND action = ANY($1) ORDER BY id",
    )
    .bind(actions.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    .fetch_all(env.pool())
    .await
    .unwrap()
}

/// An expected audit row: (action, object id, outcome).
pub(crate) fn row(action: &str, object: &str, outcome: &str) -> (String, String, String) {
    (action.into(), object.into(), outcome.into())
}

/// A user `email` of `org` with `role` (`ADMINISTRATOR`, ...), ACTIVE (made if
/// missing, with a password nobody knows), and a new session of it valid for an hour,
/// written to the database as identity writes them: the session's token (`brs_...`),
/// for the console's cookie. Fast: no argon2 (the console's own sign-in is tested in
/// `console`).
pub(crate) async fn console_session(env: &TestEnv, org: &str, email: &str, role: &str) -> String {
    use sha2::{Digest, Sha256};
    sqlx::query(
        "INSERT INTO users (org_id, email, role, status, password_hash, created_at)
         VALUES ($1, $2, $3, 'ACTIVE', '$argon2id$v=19$m=19456,t=2,p=1$fixture$fixture', now())
         ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(email)
    .bind(role)
    .execute(env.pool())
    .await
    .unwrap();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let token = format!("brs_{secret}");
    let hash: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sqlx::query(
        "INSERT INTO user_sessions (id, org_id, email, token_sha256, created_at, expires_at)
         VALUES ($1, $2, $3, $4, now(), now() + interval '1 hour')",
    )
    .bind(format!("ses_{}", uuid::Uuid::new_v4().simple()))
    .bind(org)
    .bind(email)
    .bind(hash)
    .execute(env.pool())
    .await
    .unwrap();
    token
}

/// A console answer: status, `Location` (redirects are not followed), the
/// `Set-Cookie` values and the body.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) set_cookies: Vec<String>,
    pub(crate) body: String,
}

impl Server {
    /// A console request: `method` `path` with the session cookie `session` (if any)
    /// and, for a POST, the form `fields` (urlencoded). Redirects are not followed.
    pub(crate) async fn console(
        &self,
        method: reqwest::Method,
        path: &str,
        session: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Page {
        let cookie = session.map(|s| format!("billrun_session={s}"));
        self.console_with(method, path, cookie.as_deref(), fields)
            .await
    }

    /// [`Server::console`] with a whole `Cookie` header (if any).
    pub(crate) async fn console_with(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Page {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut req = client.request(method.clone(), self.url(path));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if method != reqwest::Method::GET {
            let body: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish();
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let set_cookies = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect();
        Page {
            status,
            location,
            set_cookies,
            body: res.text().await.unwrap(),
        }
    }
}
