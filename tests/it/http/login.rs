//! The browser-free login flow (issue 14): `billrun user invite` emails a real
//! message (aiosmtpd), the link in it points at the API (`[http] public_url`), is
//! followed over HTTP, a password is set, `POST /authenticate` opens a session, and
//! the session token is authorised; the link used again is refused. And the audit
//! trail over HTTP (`GET /audit_log`): the API's and the CLI's changes, filters,
//! paging, roles, organisations.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{answer, customer, token, token_id, Server};
use crate::delivery::{free_port, mailbox_server, messages};
use crate::env::TestEnv;
use crate::harness::wait_for;

/// `billrun serve --listen 127.0.0.1:<port>`, once `/health` answers.
pub(super) async fn serve_on(env: &TestEnv, port: u16) -> Server {
    let listen = format!("127.0.0.1:{port}");
    let process = env.spawn(&["serve", "--listen", &listen]);
    let server = Server {
        base: format!("http://{listen}"),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        process,
    };
    wait_for(Duration::from_secs(30), "billrun serve", || async {
        match server.client.get(server.url("/health")).send().await {
            Ok(r) if r.status() == StatusCode::OK => Some(()),
            _ => None,
        }
    })
    .await;
    server
}

/// The first `http...` link of an email's text part.
pub(super) fn link(message: &Value) -> String {
    let text = message["text"].as_str().unwrap();
    let at = text
        .find("http")
        .unwrap_or_else(|| panic!("no link: {text}"));
    text[at..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test]
async fn an_invited_user_follows_the_emailed_link_sets_a_password_and_calls_the_api() {
    let smtp = free_port();
    let http = free_port();
    let env = TestEnv::with_config(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{smtp}?tls=none\"\n\
         timeout_secs = 5\nfrom = \"billing@acme.test\"\n\n\
         [http]\npublic_url = \"http://127.0.0.1:{http}/\"\n"
    ))
    .await;
    let maildir = env.scratch().join("maildir");
    let _smtp = mailbox_server(smtp, &maildir, &env.scratch().join("smtp.log"));
    env.org("acme").await;
    let server = serve_on(&env, http).await;

    env.ok(&[
        "user",
        "invite",
        "dev@acme.test",
        "--org",
        "acme",
        "--role",
        "developer",
        "--actor",
        "alice",
    ]);
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    let url = link(&msgs[0]);
    let prefix = format!("http://127.0.0.1:{http}/invites/accept?token=bri_");
    assert!(
        url.starts_with(&prefix),
        "the link points at the API: {url}"
    );
    let secret = url.split("token=").nth(1).unwrap().to_string();

    // Following the link: a form (HTML), or with Accept: application/json, what to POST.
    let res = server.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(
        page.contains("<form method=\"post\" action=\"/invites/accept\">"),
        "{page}"
    );
    assert!(
        page.contains(&format!("name=\"token\" value=\"{secret}\"")),
        "{page}"
    );
    assert!(page.contains("dev@acme.test, as Developer"), "{page}");
    let res = server
        .client
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let (status, info) = answer(res).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["email"], "dev@acme.test");
    assert_eq!(info["organisation"], "acme");
    assert_eq!(info["role"], "DEVELOPER");
    assert_eq!(info["method"], "POST");
    assert_eq!(info["fields"], json!(["token", "password"]));

    // A password too short is refused and the invitation stays usable.
    let accept = |body: Value| {
        server
            .client
            .post(server.url("/invites/accept"))
            .json(&body)
            .send()
    };
    let (status, body) = answer(
        accept(json!({"token": secret, "password": "short"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, user) = answer(
        accept(json!({"token": secret, "password": "correct horse battery"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(
        user,
        json!({"email": "dev@acme.test", "role": "DEVELOPER", "status": "ACTIVE"})
    );

    let res = server
        .client
        .post(server.url("/authenticate"))
        .json(&json!({"email": "dev@acme.test", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let (status, body) = answer(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap().to_string();
    let (status, list) = server.get("/customers", Some(&session)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let (status, _) = server.post("/customers", &session, &customer("c1")).await;
    assert_eq!(status, StatusCode::CREATED, "a Developer writes customers");

    // The link again: refused, to look at and to use (also as the HTML form posts it).
    let (status, body) = answer(server.client.get(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["message"].as_str().unwrap().contains("used"), "{body}");
    let res = server
        .client
        .post(server.url("/invites/accept"))
        .form(&[
            ("token", secret.as_str()),
            ("password", "another password!"),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = answer(res).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // The audit trail: invited by the CLI, accepted once, refused twice after that
    // (the short password, the second use), the customer created by the user.
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT actor_kind || ' ' || actor_id, action, object_id, outcome
         FROM audit_log WHERE org_id = 'acme' ORDER BY id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    let row = |a: &str, b: &str, c: &str, d: &str| (a.into(), b.into(), c.into(), d.into());
    assert_eq!(
        rows,
        vec![
            row("CLI alice", "user.invite", "dev@acme.test", "SUCCESS"),
            row(
                "USER dev@acme.test",
                "user.accept",
                "dev@acme.test",
                "FAILURE"
            ),
            row(
                "USER dev@acme.test",
                "user.accept",
                "dev@acme.test",
                "SUCCESS"
            ),
            row("USER dev@acme.test", "customer.create", "c1", "SUCCESS"),
            row(
                "USER dev@acme.test",
                "user.accept",
                "dev@acme.test",
                "FAILURE"
            ),
        ]
    );
}

#[tokio::test]
async fn the_audit_log_route_lists_api_and_cli_changes_newest_first_with_filters_and_pages() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let admin_id = token_id(&env, "acme", "admin");
    let analyst = token(&env, "acme", "reader", "analyst");
    let developer = token(&env, "acme", "dev", "developer");
    let pm = token(&env, "acme", "pm", "product-manager");
    let globex = token(&env, "globex", "admin", "administrator");

    let (status, _) = server.post("/customers", &admin, &customer("c1")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = server.post("/customers", &admin, &customer("c1")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    env.ok(&[
        "customer", "create", "c2", "--org", "acme", "--name", "Two", "--actor", "bob",
    ]);

    // Only the Administrator and the Analyst read the log.
    for t in [&developer, &pm] {
        let (status, body) = server.get("/audit_log", Some(t)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, all) = server.get("/audit_log?pageSize=50", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let data = all["data"].as_array().unwrap();
    // Four token.create rows (CLI), then the API's two customer rows and the CLI's one.
    assert_eq!(data.len(), 7, "{all}");
    assert_eq!(all["context"], json!({"pageSize": 50, "sortOrder": "DESC"}));
    assert!(all.get("nextToken").is_none(), "{all}");
    let newest = &data[0];
    assert_eq!(newest["actorKind"], "CLI");
    assert_eq!(newest["actorId"], "bob");
    assert_eq!(newest["action"], "customer.create");
    assert_eq!(newest["objectType"], "customer");
    assert_eq!(newest["objectId"], "c2");
    assert_eq!(newest["outcome"], "SUCCESS");
    assert_eq!(data[1]["outcome"], "FAILURE");
    assert_eq!(data[1]["actorKind"], "TOKEN");
    assert_eq!(data[1]["actorId"], admin_id.as_str());
    assert!(
        data[1]["details"]["error"].as_str().unwrap().contains("c1"),
        "{}",
        data[1]
    );
    let ids: Vec<i64> = data.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // Filters.
    let (_, by) = server
        .get(&format!("/audit_log?actor={admin_id}"), Some(&admin))
        .await;
    assert_eq!(by["data"].as_array().unwrap().len(), 2, "{by}");
    let (_, cli) = server
        .get(
            "/audit_log?actorKind=CLI&action=customer.create",
            Some(&admin),
        )
        .await;
    assert_eq!(cli["data"].as_array().unwrap().len(), 1, "{cli}");
    let (_, obj) = server
        .get("/audit_log?objectType=customer&objectId=c1", Some(&admin))
        .await;
    assert_eq!(obj["data"].as_array().unwrap().len(), 2, "{obj}");
    let since = data[1]["at"].as_str().unwrap().replace('+', "%2B");
    let (status, recent) = server
        .get(&format!("/audit_log?since={since}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{recent}");
    assert_eq!(recent["data"].as_array().unwrap().len(), 2, "{recent}");
    let (status, body) = server.get("/audit_log?actorKind=ROBOT", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = server.get("/audit_log?pageSize=51", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Pages of 3: 3, 3, 1, following nextToken.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let path = match &next {
            Some(n) => format!("/audit_log?pageSize=3&nextToken={n}"),
            None => "/audit_log?pageSize=3".to_string(),
        };
        let (status, page) = server.get(&path, Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let rows = page["data"].as_array().unwrap();
        sizes.push(rows.len());
        seen.extend(rows.iter().map(|r| r["id"].as_i64().unwrap()));
        match page["nextToken"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(sizes, vec![3, 3, 1]);
    assert_eq!(seen, ids);

    // Another organisation sees its own rows only.
    let (_, theirs) = server.get("/audit_log", Some(&globex)).await;
    let theirs = theirs["data"].as_array().unwrap();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["action"], "token.create");
}

#[tokio::test]
async fn an_api_token_is_exchanged_for_a_session_that_acts_as_it_until_the_token_is_deactivated() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let dev = token(&env, "acme", "ci", "developer");
    let id = token_id(&env, "acme", "ci");
    // Togai's client sends no body: the bearer credential is what authenticates.
    let exchange = |bearer: String| {
        let server = &server;
        async move {
            answer(
                server
                    .client
                    .post(server.url("/authenticate"))
                    .bearer_auth(bearer)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, body) = exchange(dev.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap().to_string();
    assert!(
        session.starts_with("brs_") && session.len() == 68,
        "{session}"
    );
    // It acts as the token: its role (a Developer writes customers, reads no jobs) and
    // its id in the audit trail.
    let (status, _) = server.post("/customers", &session, &customer("c1")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = server.get("/audit_log", Some(&session)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let actor: String = sqlx::query_scalar(
        "SELECT actor_kind || ' ' || actor_id FROM audit_log WHERE action = 'customer.create'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(actor, format!("TOKEN {id}"));
    // A session is answered back unchanged; no credential, or a wrong one, is 401.
    let (status, body) = exchange(session.clone()).await;
    assert_eq!(
        (status, body["token"].as_str()),
        (StatusCode::OK, Some(session.as_str()))
    );
    let (status, _) = exchange(format!("{dev}x")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let res = server
        .client
        .post(server.url("/authenticate"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer(res).await.0, StatusCode::UNAUTHORIZED);
    // Only the session's hash is stored.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM token_sessions WHERE token_id = $1 AND token_sha256 <> $2",
    )
    .bind(&id)
    .bind(&session)
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(stored, 1);
    // The token deactivated: its session stops; activated again: it works again;
    // deleted: gone with it.
    env.ok(&["token", "deactivate", "--org", "acme", &id]);
    let (status, body) = server.get("/customers", Some(&session)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    env.ok(&["token", "activate", "--org", "acme", &id]);
    let (status, _) = server.get("/customers", Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    env.ok(&["token", "delete", "--org", "acme", &id]);
    let (status, _) = server.get("/customers", Some(&session)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM token_sessions")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}
