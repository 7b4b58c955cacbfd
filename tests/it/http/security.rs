//! Security tests over the whole route table (issue 14), written over
//! `billrun::http::routes::ROUTES` so that a route added later is covered without
//! touching this file: every non-public route answers 401 (Togai's shape) without a
//! valid credential; every role the permission table denies a route's (resource,
//! access) gets 403; no secret of a token, session or invitation is in any text column
//! of the database; and every GET route with a path parameter answers 404 for another
//! organisation's object. The 404 test needs a way to make an object for each path
//! parameter's name ([`fixture`]): a new parameter without one fails the test, naming
//! it, so that its author adds one.

use billrun::http::routes::{Guard, Route, ROUTES};
use billrun::identity::{roles, Role};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{console_session, customer, token, token_id, Page, Server};
use crate::env::TestEnv;

/// The CLI's name of `role` (`product-manager`).
fn cli_role(role: Role) -> String {
    role.as_str().to_ascii_lowercase().replace('_', "-")
}

/// `path` with each `{name}` replaced by `fill(name)`.
fn fill(path: &str, mut fill: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(&rest[..open]);
        out.push_str(&fill(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The names of `path`'s parameters.
fn params(path: &str) -> Vec<String> {
    let mut names = Vec::new();
    fill(path, |n| {
        names.push(n.to_string());
        String::new()
    });
    names
}

/// Calls `route` at `path` with `authorization` (a raw header value, if any); a
/// non-GET route gets the body `{}`. Status and JSON body (`null` if not JSON).
async fn call(
    server: &Server,
    route: &Route,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
    let is_get = method == reqwest::Method::GET;
    let mut req = server.client.request(method, server.url(path));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    if !is_get {
        req = req.json(&json!({}));
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Togai's error shape: `{"message": "..."}` and nothing else.
fn togai_error(body: &Value) -> bool {
    body.as_object()
        .is_some_and(|o| o.len() == 1 && o["message"].as_str().is_some_and(|m| !m.is_empty()))
}

/// A console route refused for want of a session: a GET is sent to the sign-in page
/// (303, with where to come back), a POST answers a 401 page.
fn assert_console_refuses(route: &Route, path: &str, what: &str, page: &Page) {
    if route.method == axum::http::Method::GET {
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "GET {path} with {what}: {}",
            page.body
        );
        let next = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", path)
            .finish();
        assert_eq!(
            page.location.as_deref(),
            Some(format!("/console/login?{next}").as_str()),
            "GET {path} with {what}"
        );
    } else {
        assert_eq!(
            page.status,
            StatusCode::UNAUTHORIZED,
            "{} {path} with {what}: {}",
            route.method,
            page.body
        );
        assert!(page.body.contains("sign in again"), "{}", page.body);
    }
}

fn guarded() -> impl Iterator<Item = (&'static Route, roles::Resource, roles::Access)> {
    ROUTES.iter().filter_map(|r| match r.guard {
        Guard::Public | Guard::SignedIn => None,
        Guard::Needs(res, acc) => Some((r, res, acc)),
    })
}

/// Whether `route` is the console's: a cookie and a CSRF token, HTML answers.
fn is_console(route: &Route) -> bool {
    route.path == "/console" || route.path.starts_with("/console/")
}

/// Every route that needs a credential: the guarded ones and those for any
/// signed-in user.
fn signed_in_or_guarded() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(|r| r.guard != Guard::Public)
}

/// Calls the console's `route` at `path` with the session `session` (if any) and,
/// for a POST, the session's CSRF token.
async fn console_call(server: &Server, route: &Route, path: &str, session: Option<&str>) -> Page {
    let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
    let csrf = session.map(billrun::identity::sessions::csrf_token);
    let fields: Vec<(&str, &str)> = csrf.iter().map(|c| ("csrf", c.as_str())).collect();
    server.console(method, path, session, &fields).await
}

#[tokio::test]
async fn every_guarded_route_answers_401_without_a_valid_credential() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let good = token(&env, "acme", "ci", "administrator");
    let paused = token(&env, "acme", "paused", "administrator");
    let gone = token(&env, "acme", "gone", "administrator");
    env.ok(&[
        "token",
        "deactivate",
        &token_id(&env, "acme", "paused"),
        "--org",
        "acme",
    ]);
    env.ok(&[
        "token",
        "delete",
        &token_id(&env, "acme", "gone"),
        "--org",
        "acme",
    ]);
    let mut wrong = good.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("a wrong token", Some(format!("Bearer {wrong}"))),
        ("a deactivated token", Some(format!("Bearer {paused}"))),
        ("a deleted token", Some(format!("Bearer {gone}"))),
        (
            "an unknown session",
            Some(format!("Bearer brs_{}", "0".repeat(64))),
        ),
        ("not a bearer", Some(format!("Basic {good}"))),
    ];
    // The console: sessions in a cookie. An expired one, and a valid API token sent as
    // a bearer (the console ignores Authorization).
    let expired = console_session(&env, "acme", "old@acme.test", "ADMINISTRATOR").await;
    sqlx::query(
        "UPDATE user_sessions SET created_at = now() - interval '2 hours',
                expires_at = now() - interval '1 hour' WHERE email = 'old@acme.test'",
    )
    .execute(env.pool())
    .await
    .unwrap();
    let unknown = format!("brs_{}", "0".repeat(64));
    let mut checked = 0;
    let mut console_checked = 0;
    for route in signed_in_or_guarded().filter(|r| is_console(r)) {
        let path = fill(route.path, |_| "x1".into());
        for (what, cookie) in [
            ("no cookie", None),
            ("an unknown session", Some(unknown.as_str())),
            ("an expired session", Some(expired.as_str())),
        ] {
            let page = console_call(&server, route, &path, cookie).await;
            assert_console_refuses(route, &path, what, &page);
            console_checked += 1;
        }
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .request(
                reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap(),
                server.url(&path),
            )
            .bearer_auth(&good)
            .send()
            .await
            .unwrap();
        let page = Page {
            status: res.status(),
            location: res
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string()),
            set_cookies: Vec::new(),
            body: res.text().await.unwrap(),
        };
        assert_console_refuses(route, &path, "an API token as a bearer", &page);
        // A valid session passes (a fresh one each time: one route signs out).
        let session = console_session(&env, "acme", "ana@acme.test", "ADMINISTRATOR").await;
        let page = console_call(&server, route, &path, Some(&session)).await;
        assert!(
            page.status != StatusCode::UNAUTHORIZED
                && !page
                    .location
                    .as_deref()
                    .is_some_and(|l| l.starts_with("/console/login?")),
            "{} {path} with a session: {} {}",
            route.method,
            page.status,
            page.body
        );
    }
    assert!(
        console_checked >= 3 * 10,
        "only {console_checked} console calls"
    );
    for (route, _, _) in guarded().filter(|(r, _, _)| !is_console(r)) {
        let path = fill(route.path, |_| "x1".into());
        for (what, auth) in &cases {
            let (status, body) = call(&server, route, &path, auth.as_deref()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {path} with {what}: {body}",
                route.method
            );
            assert!(
                togai_error(&body),
                "{} {path} with {what}: {body}",
                route.method
            );
            checked += 1;
        }
        // The good token passes authentication (the check above can fail).
        let (status, body) = call(&server, route, &path, Some(&format!("Bearer {good}"))).await;
        assert_ne!(
            status,
            StatusCode::UNAUTHORIZED,
            "{} {path}: {body}",
            route.method
        );
    }
    assert!(
        checked >= 6 * 10,
        "only {checked} calls: the table lost its routes?"
    );
}

#[tokio::test]
async fn every_role_the_permission_table_denies_a_route_gets_403() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let name = cli_role(role);
        tokens.push((role, token(&env, "acme", &name, &name)));
    }
    let (mut denied, mut allowed) = (0, 0);
    let mut denied_changes = Vec::new();
    for (route, resource, access) in guarded() {
        let path = fill(route.path, |_| "x1".into());
        if is_console(route) {
            // A session of a user of each role (fresh each call), with its CSRF token.
            for role in Role::ALL {
                let email = format!("{}@acme.test", cli_role(role));
                let session = console_session(&env, "acme", &email, role.as_str()).await;
                let page = console_call(&server, route, &path, Some(&session)).await;
                if roles::allows(role, resource, access) {
                    allowed += 1;
                    assert!(
                        page.status != StatusCode::FORBIDDEN
                            && page.status != StatusCode::UNAUTHORIZED
                            && !page
                                .location
                                .as_deref()
                                .is_some_and(|l| l.starts_with("/console/login")),
                        "{} {path} as {role:?} is allowed by the table, got {}: {}",
                        route.method,
                        page.status,
                        page.body
                    );
                    continue;
                }
                denied += 1;
                let verb = match access {
                    roles::Access::Read => "read",
                    roles::Access::Write => "change",
                };
                let message = format!(
                    "the role {} may not {verb} {}",
                    role.title(),
                    billrun::http::routes::resource_name(resource)
                );
                assert_eq!(
                    page.status,
                    StatusCode::FORBIDDEN,
                    "{} {path} as {role:?}: {}",
                    route.method,
                    page.body
                );
                assert!(page.body.contains(&message), "{message}: {}", page.body);
                if access == roles::Access::Write {
                    denied_changes.push(format!(
                        "{} {}|{message}: {} {path}",
                        route.method, route.path, route.method
                    ));
                }
            }
            continue;
        }
        for (role, token) in &tokens {
            let (status, body) =
                call(&server, route, &path, Some(&format!("Bearer {token}"))).await;
            if roles::allows(*role, resource, access) {
                allowed += 1;
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{} {path} as {role:?} is allowed by the table, got {status}: {body}",
                    route.method
                );
            } else {
                denied += 1;
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {path} as {role:?}: {body}",
                    route.method
                );
                assert!(togai_error(&body), "{body}");
                assert!(
                    body["message"].as_str().unwrap().contains(role.title()),
                    "the message names the role: {body}"
                );
                if access == roles::Access::Write {
                    denied_changes.push(format!(
                        "{} {}|{}: {} {path}",
                        route.method,
                        route.path,
                        body["message"].as_str().unwrap(),
                        route.method
                    ));
                }
            }
        }
    }
    // Not vacuous: the table denies some routes to some roles, and allows others.
    assert!(denied >= 10, "only {denied} denials over the route table");
    assert!(allowed >= 20, "only {allowed} allowed calls");
    // Each refused change has its audit row (FAILURE, the route, the message and the
    // path); refused reads have none.
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT object_id || '|' || (details->>'error') FROM audit_log
          WHERE action = 'request.forbidden' AND object_type = 'route'
            AND outcome = 'FAILURE' AND org_id = 'acme'",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    rows.sort();
    denied_changes.sort();
    assert!(denied_changes.len() >= 10, "{denied_changes:?}");
    assert_eq!(rows, denied_changes);
    // Nothing was created by the refused (or malformed) calls.
    let (_, list) = server.get("/customers", Some(&tokens[0].1)).await;
    assert_eq!(list["data"], json!([]));
}

/// Every text column (text, varchar, char, json, jsonb) of every table of the
/// database but the system's: (schema, table, column).
async fn text_columns(pool: &sqlx::PgPool) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT c.table_schema::text, c.table_name::text, c.column_name::text
         FROM information_schema.columns c
         JOIN information_schema.tables t
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE t.table_type = 'BASE TABLE'
           AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
           AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The (table.column)s of the database holding `needle` in some row.
async fn columns_holding(pool: &sqlx::PgPool, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (schema, table, column) in text_columns(pool).await {
        let q = format!(
            "SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE strpos(\"{column}\"::text, $1) > 0"
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .bind(needle)
            .fetch_one(pool)
            .await
            .unwrap();
        if n > 0 {
            found.push(format!("{schema}.{table}.{column}"));
        }
    }
    found
}

#[tokio::test]
async fn no_token_session_or_invitation_secret_is_stored_in_any_text_column() {
    use billrun::identity::{users, Actor};
    use billrun::store::OrgId;

    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "ci", "administrator");
    let paused = token(&env, "acme", "paused", "analyst");
    env.ok(&[
        "token",
        "deactivate",
        &token_id(&env, "acme", "paused"),
        "--org",
        "acme",
    ]);
    // A change through the API, so that its audit row is scanned too.
    let (status, _) = server.post("/customers", &admin, &customer("c1")).await;
    assert_eq!(status, StatusCode::CREATED);

    let mut config = env.load_config();
    config.mail.from = Some("billing@acme.test".into());
    let now = chrono::Utc::now();
    let options = users::InviteOptions {
        accept_url: server.url("/invites/accept"),
        valid_for: chrono::Duration::hours(1),
    };
    let acme = OrgId::from("acme");
    let cli = Actor::cli("test");
    let invite = |email: &'static str| {
        users::invite(
            env.pool(),
            &config,
            &acme,
            email,
            Role::Analyst,
            &options,
            &cli,
            now,
        )
    };
    let accepted = invite("ann@acme.test").await.unwrap();
    let pending = invite("bob@acme.test").await.unwrap();
    let (status, _) = server
        .client
        .post(server.url("/invites/accept"))
        .json(&json!({"token": accepted.token, "password": "correct horse battery"}))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let res = server
        .client
        .post(server.url("/authenticate"))
        .json(&json!({"email": "ann@acme.test", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let (status, body) = super::answer(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap().to_string();
    assert_eq!(
        server.get("/customers", Some(&session)).await.0,
        StatusCode::OK
    );

    let pool = env.pool();
    // The scan finds what is stored: a token's public prefix is.
    let prefix = admin.split('_').nth(1).unwrap();
    assert!(
        !columns_holding(pool, prefix).await.is_empty(),
        "the scan finds the stored prefix {prefix}"
    );
    for secret in [&admin, &paused, &session, &accepted.token, &pending.token] {
        let tail = secret.rsplit('_').next().unwrap();
        assert_eq!(tail.len(), 64, "{secret}");
        for needle in [secret.as_str(), tail] {
            let found = columns_holding(pool, needle).await;
            assert!(found.is_empty(), "a secret is stored in {found:?}");
        }
    }
    assert!(!columns_holding(pool, "correct horse battery")
        .await
        .iter()
        .any(|_| true));
}

/// An object of the organisation `org` for the path parameter `param` of a GET route,
/// made through `admin` (an Administrator token of `org`) or the test fixtures: its id.
/// A parameter with no fixture fails the test: add one here.
async fn fixture(env: &TestEnv, server: &Server, admin: &str, org: &str, param: &str) -> String {
    match param {
        "customer_id" => {
            let (status, body) = server.post("/customers", admin, &customer("gc1")).await;
            assert!(
                status == StatusCode::CREATED || status == StatusCode::CONFLICT,
                "{body}"
            );
            "gc1".into()
        }
        "account_id" => {
            env.account(org, "ga1").from("2025-12-01").await;
            "ga1".into()
        }
        "invoice_id" => {
            env.account(org, "ga2").from("2025-12-01").await;
            sqlx::query(
                "INSERT INTO invoices (org_id, id, account_id, association_from, boundary,
                     plan_id, plan_version, currency, sub_total, total, lines, grace_ends_at,
                     computed_at, closing_start, closing_end)
                 VALUES ($1, 'ginv-1', 'ga2', '2025-12-01', '2026-01-01', 'growth', 1, 'USD',
                         149, 149, '{}', now(), now(), '2025-12-01', '2026-01-01')",
            )
            .bind(org)
            .execute(env.pool())
            .await
            .unwrap();
            "ginv-1".into()
        }
        "price_plan_id" => "growth".into(), // the organisation's plan (`with_plan`)
        "job_id" => {
            // A bill run: Togai's BILL_RUN job and billrun's cycle-close job at once.
            let (status, body) = server.post("/invoices/bill_runs", admin, &json!({})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let (status, jobs) = server.get("/jobs", Some(admin)).await;
            assert_eq!(status, StatusCode::OK, "{jobs}");
            jobs["data"][0]["id"].as_str().unwrap().to_string()
        }
        "credit_id" => {
            env.account(org, "ga3").from("2025-12-01").await;
            let grant = json!({"creditRequests": [{"accountId": "ga3",
                "purpose": "welcome", "effectiveFrom": "2026-01-01",
                "effectiveUntil": "2030-12-31", "creditAmount": 10, "priority": 1,
                "idempotencyKey": "g-welcome"}]});
            let (status, body) = server.post("/credits", admin, &grant).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["credits"][0]["id"].as_str().unwrap().to_string()
        }
        "profile_id" => {
            env.ok(&[
                "billing-details",
                "create",
                "--org",
                org,
                "--legal-name",
                "G",
                "gp1",
            ]);
            "gp1".into()
        }
        "template_id" => {
            // The profile the template uses (already there when `profile_id` came first).
            let _ = env.run(&[
                "billing-details",
                "create",
                "--org",
                org,
                "--legal-name",
                "G",
                "gp1",
            ]);
            let (_, builtin) = server.get("/billrun/templates/builtin", Some(admin)).await;
            let file = env.scratch().join("gtpl.html.tera");
            std::fs::write(&file, builtin["body"].as_str().unwrap()).unwrap();
            env.ok(&[
                "template",
                "add",
                "--org",
                org,
                "--file",
                file.to_str().unwrap(),
                "--billing-details",
                "gp1",
                "gtpl",
            ]);
            "gtpl".into()
        }
        "import_id" => {
            let file = env.scratch().join("g-accounts.csv");
            std::fs::write(
                &file,
                "account_id,customer_id,account_name,invoice_currency\nga9,gc9,G,USD\n",
            )
            .unwrap();
            env.ok(&["import", "accounts", file.to_str().unwrap(), "--org", org]);
            sqlx::query_scalar("SELECT id FROM imports WHERE org_id = $1")
                .bind(org)
                .fetch_one(env.pool())
                .await
                .unwrap()
        }
        "alias" => {
            env.account(org, "ga4").from("2025-12-01").await;
            let (status, body) = server
                .post(
                    "/accounts/ga4/add_aliases",
                    admin,
                    &serde_json::json!({"aliases": ["galias-1"]}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            "galias-1".into()
        }
        "token_id" => {
            let (status, body) = server
                .post(
                    "/billrun/api_tokens",
                    admin,
                    &json!({"name": "gt1", "role": "ANALYST"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["id"].as_str().unwrap().to_string()
        }
        "email" => {
            // Invited through the API: the default mailer writes to the outbox folder.
            env.ok(&[
                "org",
                "configure",
                org,
                "--billing-email",
                "billing@globex.test",
            ]);
            let (status, body) = server
                .post(
                    "/billrun/users/invite",
                    admin,
                    &json!({"email": "gu1@globex.test", "role": "ANALYST"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            "gu1@globex.test".into()
        }
        "license_id" => {
            // A license with one update (PATCH /license_updates/{license_id} names it).
            env.account(org, "ga5").from("2025-12-01").await;
            sqlx::query(
                "INSERT INTO license_updates (org_id, idempotency_key, license_id, account_id,
                     update_type, quantity, effective_from)
                 VALUES ($1, 'g-seats-1', 'gseats', 'ga5', 'ABSOLUTE', 3, '2026-01-01T00:00:00Z')",
            )
            .bind(org)
            .execute(env.pool())
            .await
            .unwrap();
            "gseats".into()
        }
        "event_schema_name" => {
            let (status, body) = server
                .post(
                    "/event_schema",
                    admin,
                    &json!({"name": "gschema", "attributes": [{"name": "calls"}], "dimensions": []}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            "gschema".into()
        }
        "usage_meter_id" => {
            let (status, body) = server
                .post(
                    "/event_schema",
                    admin,
                    &json!({"name": "gmetered", "attributes": [], "dimensions": []}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let (status, body) = server
                .post(
                    "/usage_meters",
                    admin,
                    &json!({"name": "gmeter", "type": "COUNTER", "aggregation": "COUNT",
                            "eventSchemaName": "gmetered"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["id"].as_str().unwrap().to_string()
        }
        "migration_id" => {
            // A plan migration awaiting confirmation, growth to a twin plan.
            let mut twin = crate::fixtures::growth_plan(0);
            twin["name"] = json!("gtwin");
            crate::fixtures::plan(env.pool(), org, &twin).await;
            let (status, body) = server
                .post(
                    "/v2/price_plans/migration",
                    admin,
                    &json!({"sourceId": "growth", "targetId": "gtwin",
                            "migrationMode": "NEXT_CYCLE", "requireConfirmation": true}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            sqlx::query_scalar("SELECT id FROM plan_migrations WHERE org_id = $1")
                .bind(org)
                .fetch_one(env.pool())
                .await
                .unwrap()
        }
        "credit_note_id" => {
            // A credit note of 10.00 against a DUE invoice of its own (rows as the
            // credit-note issuing writes them; its lines are `NoteAmounts`).
            env.account(org, "ga6").from("2025-12-01").await;
            sqlx::query(
                "INSERT INTO invoices (org_id, id, account_id, association_from, boundary,
                     plan_id, plan_version, currency, sub_total, total, lines, grace_ends_at,
                     computed_at, closing_start, closing_end, credited, status, number,
                     invoice_date, due_date, net_term_days, finalized_at)
                 VALUES ($1, 'ginv-cn', 'ga6', '2025-12-01', '2026-01-01', 'growth', 1, 'USD',
                         149, 149, '{}', now(), now(), '2025-12-01', '2026-01-01', 10, 'DUE',
                         'GINV-1', '2026-01-01', '2026-01-31', 30, now())",
            )
            .bind(org)
            .execute(env.pool())
            .await
            .unwrap();
            let lines = json!({"lines": [{"line": 1, "cardName": null, "displayName": "Fee",
                "net": "10.00", "rate": null, "tax": "0.00"}], "taxes": [],
                "net": "10.00", "tax": "0.00", "total": "10.00"});
            sqlx::query(
                "INSERT INTO credit_notes (org_id, id, number, invoice_id, account_id, currency,
                     reason, method, issue_date, net, tax, total, balance_amount, credit_amount,
                     refund_amount, lines, created_at)
                 VALUES ($1, 'gcn-1', 'CN-2026-0001', 'ginv-cn', 'ga6', 'USD', 'OTHER', 'CREDIT',
                         '2026-01-02', 10, 0, 10, 10, 0, 0, $2, now())",
            )
            .bind(org)
            .bind(&lines)
            .execute(env.pool())
            .await
            .unwrap();
            // Its document as stored (the fixture invoice has no lines to render from).
            sqlx::query(
                "INSERT INTO credit_note_documents (org_id, credit_note_id, html, pdf, xml, rendered_at)
                 VALUES ($1, 'gcn-1', '<p>CN</p>', '%PDF-1.7', '<x/>', now())",
            )
            .bind(org)
            .execute(env.pool())
            .await
            .unwrap();
            "gcn-1".into()
        }
        "feature_id" => {
            let (status, body) = server
                .post(
                    "/event_schema",
                    admin,
                    &json!({"name": "gfeatured", "attributes": [{"name": "calls"}], "dimensions": []}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let (status, body) = server
                .post(
                    "/features",
                    admin,
                    &json!({"name": "gfeature", "schemaAssociations":
                            [{"schemaName": "gfeatured", "attributeName": "calls"}]}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            "gfeature".into()
        }
        "addon_id" => {
            let (status, body) = server
                .post(
                    "/addons",
                    admin,
                    &json!({"name": "gaddon", "type": "FIXED_FEE"}),
                )
                .await;
            assert!(
                status == StatusCode::OK || status == StatusCode::CONFLICT,
                "{body}"
            );
            "gaddon".into()
        }
        other => panic!(
            "no fixture for the path parameter {{{other}}}: add one to `fixture` in \
             tests/it/http/security.rs (make an object of organisation {org}, return its id)"
        ),
    }
}

#[tokio::test]
async fn every_get_route_with_a_path_parameter_answers_404_for_another_organisations_object() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    let server = Server::start(&env).await;
    let acme = token(&env, "acme", "admin", "administrator");
    let globex = token(&env, "globex", "admin", "administrator");
    let acme_session = console_session(&env, "acme", "ana@acme.test", "ADMINISTRATOR").await;
    let globex_session = console_session(&env, "globex", "gus@globex.test", "ADMINISTRATOR").await;
    let mut checked = 0;
    // Each parameter's object, made once.
    let mut made: std::collections::HashMap<String, String> = Default::default();
    for (route, _, _) in guarded().filter(|(r, _, _)| r.method == axum::http::Method::GET) {
        let names = params(route.path);
        // `/settings/{setting_id_str}` names a setting every organisation has
        // (`baseCurrency`, ...), not an object of one organisation.
        if names.is_empty() || route.path.starts_with("/settings/") {
            continue;
        }
        let mut ids = std::collections::HashMap::new();
        for n in &names {
            if !made.contains_key(n) {
                let id = fixture(&env, &server, &globex, "globex", n).await;
                made.insert(n.clone(), id);
            }
            ids.insert(n.clone(), made[n].clone());
        }
        let path = fill(route.path, |n| ids[n].clone());
        if is_console(route) {
            // 200; 409 for an invoice's PDF before it is rendered.
            let own = console_call(&server, route, &path, Some(&globex_session)).await;
            assert!(
                own.status == StatusCode::OK || own.status == StatusCode::CONFLICT,
                "GET {path}: {} {}",
                own.status,
                own.body
            );
            let other = console_call(&server, route, &path, Some(&acme_session)).await;
            assert_eq!(
                other.status,
                StatusCode::NOT_FOUND,
                "GET {path} from another organisation: {}",
                other.body
            );
            assert!(other.body.contains("Not found"), "{}", other.body);
            checked += 1;
            continue;
        }
        // In its own organisation the object is found (200; 409 for an invoice's
        // documents before they are rendered).
        let res = server
            .client
            .get(server.url(&path))
            .bearer_auth(&globex)
            .send()
            .await
            .unwrap();
        let (status, body) = (res.status(), res.text().await.unwrap());
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "GET {path} in its own organisation: {status} {body}"
        );
        let (status, body) = server.get(&path, Some(&acme)).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "GET {path} from another organisation: {body}"
        );
        assert!(togai_error(&body), "{body}");
        checked += 1;
    }
    assert!(
        checked >= 3,
        "only {checked} GET routes with a path parameter"
    );
}
