//! The Admin Center over HTTP (issue 14): `/billrun/api_tokens` (created and shown
//! once, used, listed without the secret, deactivated, activated, deleted; a token
//! cannot deactivate or delete itself) and `/billrun/users` (invited through the API
//! with a real email to a test SMTP server, accepted through the emailed link, listed,
//! given another role, removed or their invitation revoked; never the last active
//! Administrator). Roles (403) and no credential (401) are the generic tests' in
//! `security.rs`, which have fixtures for `{token_id}` and `{email}`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{answer, customer, token, token_id, Server};
use crate::delivery::{free_port, mailbox_server, messages};
use crate::env::TestEnv;

/// The acme audit rows of the object `id`, oldest first: (action, outcome, actor id).
async fn audit_rows(env: &TestEnv, id: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT action, outcome, actor_id FROM audit_log
         WHERE org_id = 'acme' AND object_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(env.pool())
    .await
    .unwrap()
}

fn row(action: &str, outcome: &str, actor: &str) -> (String, String, String) {
    (action.into(), outcome.into(), actor.into())
}

#[tokio::test]
async fn an_api_token_is_shown_once_listed_without_its_secret_deactivated_activated_and_deleted() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let admin_id = token_id(&env, "acme", "admin");
    let globex = token(&env, "globex", "admin", "administrator");

    let (status, created) = server
        .post(
            "/billrun/api_tokens",
            &admin,
            &json!({"name": " ci ", "role": "DEVELOPER"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["token"].as_str().unwrap().to_string();
    let prefix = created["prefix"].as_str().unwrap();
    assert!(id.starts_with("tok_"), "{created}");
    assert_eq!(prefix.len(), 8, "{created}");
    // brt_ + 8 + _ + 64 hex digits.
    assert!(
        secret.starts_with(&format!("brt_{prefix}_")) && secret.len() == 4 + 8 + 1 + 64,
        "{created}"
    );
    assert_eq!(created["name"], "ci", "the name is trimmed");
    assert_eq!(created["role"], "DEVELOPER");
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["lastUsedAt"], Value::Null);
    let mut keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "createdAt",
            "id",
            "lastUsedAt",
            "name",
            "prefix",
            "role",
            "status",
            "token"
        ]
    );

    // The new token works, with its role: a Developer writes customers.
    let (status, body) = server.post("/customers", &secret, &customer("c1")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Listed, oldest first, never with a secret; its last use recorded.
    let (status, list) = server.get("/billrun/api_tokens", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{list}");
    assert_eq!(data[0]["id"], admin_id.as_str());
    assert_eq!(data[1]["id"], id.as_str());
    assert!(data[1]["lastUsedAt"].is_string(), "{list}");
    assert!(data.iter().all(|t| t.get("token").is_none()), "{list}");
    let tail = secret.rsplit('_').next().unwrap();
    assert!(!list.to_string().contains(tail), "{list}");
    let (status, one) = server
        .get(&format!("/billrun/api_tokens/{id}"), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["name"], "ci");
    assert!(one.get("token").is_none(), "{one}");

    // Another organisation's administrator does not find it.
    let (status, body) = server
        .get(&format!("/billrun/api_tokens/{id}"), Some(&globex))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let deactivate = format!("/billrun/api_tokens/{id}/deactivate");
    let activate = format!("/billrun/api_tokens/{id}/activate");
    let (status, body) = server.post(&deactivate, &globex, &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        server.get("/customers", Some(&secret)).await.0,
        StatusCode::OK
    );

    // Deactivated: 401 at once; twice: 409.
    let (status, body) = server.post(&deactivate, &admin, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "INACTIVE");
    let (status, body) = server.post(&deactivate, &admin, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = server.get("/customers", Some(&secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Activated again: 200 with the same secret; twice: 409.
    let (status, body) = server.post(&activate, &admin, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ACTIVE");
    let (status, _) = server.post(&activate, &admin, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        server.get("/customers", Some(&secret)).await.0,
        StatusCode::OK
    );

    // Deleted: 401 for good; a second delete finds nothing.
    let path = format!("/billrun/api_tokens/{id}");
    let (status, body) = server.send(Method::DELETE, &path, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(
        server.get("/customers", Some(&secret)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = server.send(Method::DELETE, &path, &admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The token making the request cannot deactivate or delete itself.
    let own = format!("/billrun/api_tokens/{admin_id}");
    let (status, body) = server
        .post(&format!("{own}/deactivate"), &admin, &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("the token making this request"),
        "{body}"
    );
    let (status, body) = server.send(Method::DELETE, &own, &admin, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        server.get("/billrun/api_tokens", Some(&admin)).await.0,
        StatusCode::OK,
        "still active"
    );

    // A name in use, a bad role, an empty name.
    let (status, body) = server
        .post(
            "/billrun/api_tokens",
            &admin,
            &json!({"name": "admin", "role": "ANALYST"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = server
        .post(
            "/billrun/api_tokens",
            &admin,
            &json!({"name": "x", "role": "OWNER"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("role"), "{body}");
    let (status, body) = server
        .post(
            "/billrun/api_tokens",
            &admin,
            &json!({"name": "  ", "role": "ANALYST"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("name"), "{body}");

    // Every change and refusal, in acme's trail (globex's refusal is in globex's).
    assert_eq!(
        audit_rows(&env, &id).await,
        vec![
            row("token.create", "SUCCESS", &admin_id),
            row("token.deactivate", "SUCCESS", &admin_id),
            row("token.deactivate", "FAILURE", &admin_id),
            row("token.activate", "SUCCESS", &admin_id),
            row("token.activate", "FAILURE", &admin_id),
            row("token.delete", "SUCCESS", &admin_id),
            row("token.delete", "FAILURE", &admin_id),
        ]
    );
    // The admin token's own rows: created by the CLI, then the two refusals.
    let own_rows = audit_rows(&env, &admin_id).await;
    assert_eq!(own_rows[0].0, "token.create");
    assert_eq!(
        own_rows[1..],
        [
            row("token.deactivate", "FAILURE", &admin_id),
            row("token.delete", "FAILURE", &admin_id),
        ]
    );
    let leaked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE strpos(details::text, $1) > 0")
            .bind(tail)
            .fetch_one(env.pool())
            .await
            .unwrap();
    assert_eq!(leaked, 0, "no secret in the audit trail");
    // Nor in the server's log, which has a line for each of these requests.
    let log = server.process.log();
    assert!(log.contains("/billrun/api_tokens"), "{log}");
    assert!(!log.contains(tail), "a secret in the log");
}

/// The emailed link to `to` (the newest message to that address).
fn link_to(maildir: &std::path::Path, to: &str) -> String {
    let msgs = messages(maildir);
    let msg = msgs
        .iter()
        .rev()
        .find(|m| m["to"] == to)
        .unwrap_or_else(|| panic!("no message to {to}: {msgs:#?}"));
    let text = msg["text"].as_str().unwrap();
    let at = text
        .find("http")
        .unwrap_or_else(|| panic!("no link: {text}"));
    text[at..].split_whitespace().next().unwrap().to_string()
}

/// Accepts the invitation of `link` with `password` over HTTP.
async fn accept(server: &Server, link: &str, password: &str) -> (StatusCode, Value) {
    let secret = link.split("token=").nth(1).unwrap();
    let res = server
        .client
        .post(server.url("/invites/accept"))
        .json(&json!({"token": secret, "password": password}))
        .send()
        .await
        .unwrap();
    answer(res).await
}

/// A session token for `email`.
async fn session(server: &Server, email: &str) -> String {
    let res = server
        .client
        .post(server.url("/authenticate"))
        .json(&json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let (status, body) = answer(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn users_are_invited_by_email_through_the_api_accept_change_role_and_are_removed() {
    let smtp = free_port();
    let env = TestEnv::with_config(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{smtp}?tls=none\"\n\
         timeout_secs = 5\nfrom = \"billing@acme.test\"\n"
    ))
    .await;
    let maildir = env.scratch().join("maildir");
    let _smtp = mailbox_server(smtp, &maildir, &env.scratch().join("smtp.log"));
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let admin_id = token_id(&env, "acme", "admin");
    let globex = token(&env, "globex", "admin", "administrator");
    let accept_url = server.url("/invites/accept");

    // Invited through the API: a real email with a link to the API, valid 2 hours.
    let invite = |email: &str, role: &str| json!({"email": email, "role": role, "acceptUrl": accept_url, "validHours": 2});
    let (status, invited) = server
        .post(
            "/billrun/users/invite",
            &admin,
            &invite("Dev@Acme.test", "DEVELOPER"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    assert_eq!(invited["email"], "dev@acme.test");
    assert_eq!(invited["role"], "DEVELOPER");
    assert_eq!(invited["status"], "INVITED");
    let at = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!(
        at(&invited["expiresAt"]) - at(&invited["createdAt"]),
        chrono::Duration::hours(2),
        "{invited}"
    );
    assert!(!invited.to_string().contains("bri_"), "{invited}");
    let link = link_to(&maildir, "dev@acme.test");
    assert!(
        link.starts_with(&format!("{accept_url}?token=bri_")),
        "{link}"
    );
    let log = server.process.log();
    assert!(log.contains("/billrun/users/invite"), "{log}");
    assert!(
        !log.contains(link.split("bri_").nth(1).unwrap()),
        "the link's secret in the log"
    );
    let (status, users) = server.get("/billrun/users", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(users["data"].as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users["data"][0]["email"], "dev@acme.test");
    assert_eq!(users["data"][0]["status"], "INVITED");

    // Refused with the field named, and no email sent.
    for (body, field) in [
        (json!({"email": "nope", "role": "ANALYST"}), "email"),
        (
            json!({"email": "x@acme.test", "role": "ANALYST", "validHours": 0}),
            "validHours",
        ),
        (
            json!({"email": "x@acme.test", "role": "ANALYST", "validHours": 8761}),
            "validHours",
        ),
        (
            json!({"email": "x@acme.test", "role": "ANALYST", "acceptUrl": "ftp://acme.test/a"}),
            "acceptUrl",
        ),
    ] {
        let (status, answer) = server.post("/billrun/users/invite", &admin, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{body}: {answer}"
        );
    }
    assert_eq!(messages(&maildir).len(), 1);

    // Accepted through the emailed link: ACTIVE; inviting again is refused.
    let (status, body) = accept(&server, &link, "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, dev) = server
        .get("/billrun/users/dev@acme.test", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{dev}");
    assert_eq!(dev["status"], "ACTIVE");
    let (status, body) = server
        .post(
            "/billrun/users/invite",
            &admin,
            &invite("dev@acme.test", "ANALYST"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A role changed applies to the user's session at once.
    let dev_session = session(&server, "dev@acme.test").await;
    let (status, _) = server
        .post("/customers", &dev_session, &customer("c1"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "a Developer writes customers");
    let (status, body) = server
        .send(
            Method::PATCH,
            "/billrun/users/dev@acme.test",
            &admin,
            Some(&json!({"role": "ANALYST"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "ANALYST");
    let (status, _) = server
        .post("/customers", &dev_session, &customer("c2"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an Analyst does not");

    // The last active Administrator can be neither removed nor demoted.
    let (status, _) = server
        .post(
            "/billrun/users/invite",
            &admin,
            &invite("boss@acme.test", "ADMINISTRATOR"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = accept(
        &server,
        &link_to(&maildir, "boss@acme.test"),
        "correct horse battery",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let boss_session = session(&server, "boss@acme.test").await;
    let boss = "/billrun/users/boss@acme.test";
    let (status, body) = server.send(Method::DELETE, boss, &admin, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("last active Administrator"),
        "{body}"
    );
    let demote = json!({"role": "ANALYST"});
    let (status, body) = server
        .send(Method::PATCH, boss, &admin, Some(&demote))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // With a second one, the first can go: its session ends at once.
    let (status, _) = server
        .send(
            Method::PATCH,
            "/billrun/users/dev@acme.test",
            &boss_session,
            Some(&json!({"role": "ADMINISTRATOR"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.send(Method::DELETE, boss, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(
        server.get("/customers", Some(&boss_session)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = server
        .send(
            Method::PATCH,
            "/billrun/users/dev@acme.test",
            &admin,
            Some(&json!({"role": "DEVELOPER"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "now dev is the last: {body}");

    // An invitation revoked: its link no longer works.
    let (status, _) = server
        .post(
            "/billrun/users/invite",
            &admin,
            &invite("temp@acme.test", "ANALYST"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let temp_link = link_to(&maildir, "temp@acme.test");
    let (status, body) = server
        .send(
            Method::DELETE,
            "/billrun/users/TEMP@acme.test",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "INVITED");
    let (status, body) = accept(&server, &temp_link, "correct horse battery").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Another organisation finds none of them.
    let dev = "/billrun/users/dev@acme.test";
    assert_eq!(
        server.get(dev, Some(&globex)).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = server
        .send(Method::PATCH, dev, &globex, Some(&demote))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.send(Method::DELETE, dev, &globex, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, users) = server.get("/billrun/users", Some(&globex)).await;
    assert_eq!(users["data"], json!([]));
    let (_, users) = server.get("/billrun/users", Some(&admin)).await;
    let emails: Vec<&str> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["dev@acme.test"]);

    // The trail of boss: invited and refused by the token, accepted by the user.
    assert_eq!(
        audit_rows(&env, "boss@acme.test").await,
        vec![
            row("user.invite", "SUCCESS", &admin_id),
            row("user.accept", "SUCCESS", "boss@acme.test"),
            row("user.remove", "FAILURE", &admin_id),
            row("user.set_role", "FAILURE", &admin_id),
            row("user.remove", "SUCCESS", &admin_id),
        ]
    );
    assert_eq!(
        audit_rows(&env, "dev@acme.test").await.last().unwrap(),
        &row("user.set_role", "FAILURE", &admin_id)
    );
}
