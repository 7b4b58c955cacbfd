//! Identity: API tokens (created once, stored as a hash, deactivated, activated,
//! deleted, authenticated), the role table, users invited by a real email (aiosmtpd)
//! who accept with a password and authenticate, and the append-only audit trail.

use billrun::identity::{roles, tokens, users, Access, ActorKind, Resource, Role};
use billrun::store::OrgId;
use chrono::{Duration, Utc};
use serde_json::Value;

use crate::delivery::{free_port, mailbox_server, messages};
use crate::env::TestEnv;

/// Creates a token through the CLI as `alice`; the token printed on stdout.
fn create_token(env: &TestEnv, org: &str, name: &str, role: &str) -> String {
    let out = env.ok(&[
        "token", "create", "--org", org, "--name", name, "--role", role, "--actor", "alice",
    ]);
    let token = out.trim().to_string();
    assert!(token.starts_with("brt_"), "{out}");
    token
}

/// The token's id, from `token list --json`.
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

/// How many rows of the identity tables and the audit trail hold `text` anywhere.
async fn rows_containing(pool: &sqlx::PgPool, text: &str) -> i64 {
    let mut n = 0;
    for table in [
        "api_tokens",
        "users",
        "user_invites",
        "user_sessions",
        "audit_log",
    ] {
        let q = format!("SELECT count(*) FROM {table} t WHERE strpos(t::text, $1) > 0");
        let c: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .bind(text)
            .fetch_one(pool)
            .await
            .unwrap();
        n += c;
    }
    n
}

#[tokio::test]
async fn a_token_authenticates_until_deactivated_again_once_activated_and_never_once_deleted() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let pool = env.pool();
    let token = create_token(&env, "acme", "ci", "developer");
    let id = token_id(&env, "acme", "ci");

    // Stored only as a hash: neither the token nor its secret is in any row.
    let secret = token.rsplit('_').next().unwrap();
    assert_eq!(secret.len(), 64);
    assert_eq!(rows_containing(pool, secret).await, 0);
    assert_eq!(rows_containing(pool, &token).await, 0);
    let (prefix, hash): (String, String) =
        sqlx::query_as("SELECT prefix, token_sha256 FROM api_tokens WHERE id = $1")
            .bind(&id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(token, format!("brt_{prefix}_{secret}"));
    assert_eq!(hash.len(), 64);

    let at = Utc::now();
    let who = tokens::authenticate(pool, &token, at).await.unwrap();
    assert_eq!(who.org, OrgId::from("acme"));
    assert_eq!(who.role, Role::Developer);
    assert_eq!(who.actor.kind, ActorKind::Token);
    assert_eq!(who.actor.id, id);
    let listed = env.json(&["token", "list", "--org", "acme", "--json"]);
    assert_eq!(listed[0]["status"], "ACTIVE");
    assert_eq!(listed[0]["prefix"], prefix.as_str());
    assert_eq!(listed[0]["role"], "DEVELOPER");
    assert!(listed[0]["lastUsedAt"].is_string(), "{listed}");
    assert!(listed[0].get("token").is_none(), "{listed}");
    let table = env.ok(&["token", "list", "--org", "acme"]);
    assert!(table.contains(&format!("brt_{prefix}_...")), "{table}");
    assert!(!table.contains(secret), "{table}");

    // A wrong secret with a real prefix, and a made-up token, do not authenticate.
    let forged = format!("brt_{prefix}_{}", "0".repeat(64));
    assert!(tokens::authenticate(pool, &forged, at).await.is_err());
    assert!(tokens::authenticate(pool, "brt_nope", at).await.is_err());

    let out = env.ok(&[
        "token",
        "deactivate",
        &id,
        "--org",
        "acme",
        "--actor",
        "alice",
    ]);
    assert_eq!(out, format!("API token {id} (ci) deactivated\n"));
    let err = tokens::authenticate(pool, &token, at).await.unwrap_err();
    assert!(err.to_string().contains("inactive"), "{err}");
    let err = env.fails(&["token", "deactivate", &id, "--org", "acme"]);
    assert!(err.contains("inactive already"), "{err}");

    env.ok(&[
        "token", "activate", &id, "--org", "acme", "--actor", "alice",
    ]);
    assert!(tokens::authenticate(pool, &token, at).await.is_ok());

    env.ok(&["token", "delete", &id, "--org", "acme", "--actor", "alice"]);
    let err = tokens::authenticate(pool, &token, at).await.unwrap_err();
    assert!(err.to_string().contains("unknown or deleted"), "{err}");
    assert_eq!(
        env.json(&["token", "list", "--org", "acme", "--json"]),
        Value::Array(vec![])
    );
    // The secret never reached the audit trail either.
    assert_eq!(rows_containing(pool, secret).await, 0);
}

#[tokio::test]
async fn another_organisations_token_is_not_found_and_names_are_unique_per_organisation() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    create_token(&env, "acme", "ci", "administrator");
    create_token(&env, "globex", "ci", "analyst");
    let acme = token_id(&env, "acme", "ci");
    let err = env.fails(&["token", "delete", &acme, "--org", "globex"]);
    assert!(
        err.contains("organisation globex has no API token"),
        "{err}"
    );
    let err = env.fails(&[
        "token", "create", "--org", "acme", "--name", "ci", "--role", "analyst",
    ]);
    assert!(err.contains("has a token named \"ci\" already"), "{err}");
    let err = env.fails(&[
        "token", "create", "--org", "acme", "--name", "x", "--role", "owner",
    ]);
    assert!(err.contains("expected one of administrator"), "{err}");
    assert_eq!(
        env.json(&["token", "list", "--org", "acme", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn each_role_is_given_to_its_token_and_the_table_decides_what_it_may_do() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    for (spelling, role) in [
        ("administrator", Role::Administrator),
        ("Analyst", Role::Analyst),
        ("DEVELOPER", Role::Developer),
        ("product-manager", Role::ProductManager),
    ] {
        let token = create_token(&env, "acme", spelling, spelling);
        let who = tokens::authenticate(env.pool(), &token, Utc::now())
            .await
            .unwrap();
        assert_eq!(who.role, role);
    }
    // Togai's Admin Center, row by row (the whole table is unit-tested in roles.rs).
    let may = |role, resource, access| roles::allows(role, resource, access);
    assert!(may(Role::Administrator, Resource::Users, Access::Write));
    assert!(may(Role::Analyst, Resource::Invoices, Access::Read));
    assert!(!may(Role::Analyst, Resource::Invoices, Access::Write));
    assert!(may(Role::Developer, Resource::UsageMeters, Access::Write));
    assert!(!may(Role::Developer, Resource::PricePlans, Access::Read));
    assert!(may(
        Role::ProductManager,
        Resource::PricePlans,
        Access::Write
    ));
    assert!(may(Role::ProductManager, Resource::Customers, Access::Read));
    assert!(!may(
        Role::ProductManager,
        Resource::Customers,
        Access::Write
    ));
}

#[tokio::test]
async fn every_change_is_audited_and_the_database_refuses_to_change_the_trail() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let pool = env.pool();
    create_token(&env, "acme", "ci", "developer");
    create_token(&env, "globex", "other", "developer");
    let id = token_id(&env, "acme", "ci");
    env.ok(&[
        "token",
        "deactivate",
        &id,
        "--org",
        "acme",
        "--actor",
        "bob",
    ]);
    env.fails(&[
        "token",
        "deactivate",
        &id,
        "--org",
        "acme",
        "--actor",
        "bob",
    ]);
    env.ok(&["token", "delete", &id, "--org", "acme", "--actor", "bob"]);

    let rows = env.json(&["audit", "list", "--org", "acme", "--json"]);
    let rows = rows.as_array().unwrap();
    let summary: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().into(),
                format!(
                    "{} {}",
                    r["actorKind"].as_str().unwrap(),
                    r["actorId"].as_str().unwrap()
                ),
                r["objectId"].as_str().unwrap().into(),
                r["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    let row =
        |a: &str, by: &str, o: &str| (a.to_string(), by.to_string(), id.clone(), o.to_string());
    // Newest first; globex's row is not acme's business.
    assert_eq!(
        summary,
        vec![
            row("token.delete", "CLI bob", "SUCCESS"),
            row("token.deactivate", "CLI bob", "FAILURE"),
            row("token.deactivate", "CLI bob", "SUCCESS"),
            row("token.create", "CLI alice", "SUCCESS"),
        ]
    );
    assert_eq!(rows[3]["details"]["name"], "ci");
    assert_eq!(rows[3]["details"]["role"], "DEVELOPER");
    assert!(
        rows[1]["details"]["error"]
            .as_str()
            .unwrap()
            .contains("inactive already"),
        "{}",
        rows[1]
    );

    // Filters and pages.
    let only = env.json(&[
        "audit",
        "list",
        "--org",
        "acme",
        "--action",
        "token.deactivate",
        "--json",
    ]);
    assert_eq!(only.as_array().unwrap().len(), 2);
    let out = env.run(&["audit", "list", "--org", "acme", "--limit", "1"]);
    assert!(out.status.success());
    let note = crate::harness::stderr(&out);
    assert!(
        note.contains("1 of 4 audit rows (1-1, newest first); next page: --after"),
        "{note}"
    );
    let table = crate::harness::stdout(&out);
    assert!(table.starts_with("    ID AT (UTC)"), "{table}");
    assert!(table.contains("CLI bob"), "{table}");

    // The default actor is the OS user ($USER).
    let out = crate::harness::run({
        let mut c = env.command();
        c.args([
            "token", "create", "--org", "acme", "--name", "n2", "--role", "analyst",
        ])
        .env("USER", "carol");
        c
    });
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let last = env.json(&["audit", "list", "--org", "acme", "--limit", "1", "--json"]);
    assert_eq!(last[0]["actorKind"], "CLI");
    assert_eq!(last[0]["actorId"], "carol");

    // Append-only, whatever connects to the database.
    for sql in [
        "UPDATE audit_log SET outcome = 'FAILURE'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("audit_log is append-only"),
            "{sql}: {err}"
        );
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(n, 6);
}

/// The `token` parameter of the link in an invitation's text part.
fn invite_token(message: &Value) -> String {
    let text = message["text"].as_str().unwrap();
    let at = text
        .find("token=")
        .unwrap_or_else(|| panic!("no link: {text}"));
    text[at + "token=".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_invited_user_gets_an_email_accepts_with_a_password_and_authenticates() {
    let port = free_port();
    let env = TestEnv::with_config(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{port}?tls=none\"\ntimeout_secs = 5\n"
    ))
    .await;
    let maildir = env.scratch().join("maildir");
    let _smtp = mailbox_server(port, &maildir, &env.scratch().join("smtp.log"));
    env.org("acme").await;
    let pool = env.pool();
    env.ok(&[
        "org",
        "configure",
        "acme",
        "--billing-email",
        "billing@acme.test",
    ]);

    let out = env.ok(&[
        "user",
        "invite",
        "Ana@Example.com",
        "--org",
        "acme",
        "--role",
        "analyst",
        "--accept-url",
        "https://billing.acme.test/accept",
        "--actor",
        "alice",
    ]);
    assert!(
        out.starts_with(
            "invited ana@example.com to acme as ANALYST: the invitation was emailed, valid until "
        ),
        "{out}"
    );
    assert!(!out.contains("bri_"), "the link is a secret: {out}");
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert_eq!(msgs[0]["to"], "ana@example.com");
    assert_eq!(msgs[0]["from"], "acme <billing@acme.test>");
    assert_eq!(msgs[0]["subject"], "You are invited to acme on billrun");
    let text = msgs[0]["text"].as_str().unwrap();
    assert!(
        text.contains("alice invited you to acme on billrun, as Analyst."),
        "{text}"
    );
    assert!(
        text.contains("https://billing.acme.test/accept?token=bri_"),
        "{text}"
    );
    let first = invite_token(&msgs[0]);
    assert_eq!(rows_containing(pool, &first).await, 0, "stored hashed");

    let listed = env.json(&["user", "list", "--org", "acme", "--json"]);
    assert_eq!(listed[0]["email"], "ana@example.com");
    assert_eq!(listed[0]["status"], "INVITED");
    assert_eq!(listed[0]["role"], "ANALYST");

    // Invited again (as developer): the first link is replaced.
    env.ok(&[
        "user",
        "invite",
        "ana@example.com",
        "--org",
        "acme",
        "--role",
        "developer",
        "--accept-url",
        "https://billing.acme.test/accept",
    ]);
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 2);
    let second = msgs.iter().map(invite_token).find(|t| *t != first).unwrap();
    let now = Utc::now();
    let err = users::accept(pool, &first, "correct horse battery", now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("used or replaced"), "{err}");
    let err = users::accept(pool, &second, "short", now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 10 characters"), "{err}");
    // Valid for 72 hours from the invitation: not at its end.
    let err = users::accept(
        pool,
        &second,
        "correct horse battery",
        now + Duration::hours(73),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    let user = users::accept(pool, &second, "correct horse battery", now)
        .await
        .unwrap();
    assert_eq!(user.status, "ACTIVE");
    assert_eq!(user.role, Role::Developer);
    let err = users::accept(pool, &second, "another good password", now)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("used or replaced"),
        "single use: {err}"
    );
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'ana@example.com'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_eq!(rows_containing(pool, "correct horse battery").await, 0);
    let err = env.fails(&[
        "user",
        "invite",
        "ana@example.com",
        "--org",
        "acme",
        "--role",
        "analyst",
    ]);
    assert!(
        err.contains("is an active user of organisation acme already"),
        "{err}"
    );

    // Authenticate: a session for the user's organisation and role.
    let wrong = users::authenticate(
        pool,
        "ana@example.com",
        "wrong password!",
        None,
        Duration::hours(12),
        now,
    )
    .await
    .unwrap_err();
    assert!(
        wrong.to_string().contains("wrong email or password"),
        "{wrong}"
    );
    let unknown = users::authenticate(
        pool,
        "bob@example.com",
        "correct horse battery",
        None,
        Duration::hours(12),
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.to_string(), wrong.to_string());
    let session = users::authenticate(
        pool,
        "ANA@example.com",
        "correct horse battery",
        None,
        Duration::hours(12),
        now,
    )
    .await
    .unwrap();
    assert!(session.token.starts_with("brs_"));
    assert_eq!(rows_containing(pool, &session.token).await, 0);
    let who = users::session(pool, &session.token, now).await.unwrap();
    assert_eq!(who.org, OrgId::from("acme"));
    assert_eq!(who.role, Role::Developer);
    assert_eq!(who.actor.kind, ActorKind::User);
    assert_eq!(who.actor.id, "ana@example.com");
    let err = users::session(pool, &session.token, session.expires_at)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(users::session(pool, "brs_nope", now).await.is_err());

    let listed = env.json(&["user", "list", "--org", "acme", "--json"]);
    assert_eq!(listed[0]["status"], "ACTIVE");
    let audit = env.json(&[
        "audit",
        "list",
        "--org",
        "acme",
        "--object-type",
        "user",
        "--json",
    ]);
    let actions: Vec<(&str, &str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap(),
                r["actorKind"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("user.invite", "CLI", "FAILURE"),
            ("user.accept", "USER", "FAILURE"),
            ("user.accept", "USER", "SUCCESS"),
            ("user.accept", "USER", "FAILURE"),
            ("user.accept", "USER", "FAILURE"),
            ("user.accept", "USER", "FAILURE"),
            ("user.invite", "CLI", "SUCCESS"),
            ("user.invite", "CLI", "SUCCESS"),
        ]
    );
}

#[tokio::test]
async fn an_invitation_the_mail_server_refuses_is_not_stored() {
    // Nothing listens on this port: the transport fails, and nothing is kept but the
    // audit row of the failure.
    let port = free_port();
    let env = TestEnv::with_config(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{port}?tls=none\"\ntimeout_secs = 5\n"
    ))
    .await;
    env.org("acme").await;
    env.ok(&[
        "org",
        "configure",
        "acme",
        "--billing-email",
        "billing@acme.test",
    ]);
    let err = env.fails(&[
        "user",
        "invite",
        "ana@example.com",
        "--org",
        "acme",
        "--role",
        "analyst",
    ]);
    assert!(err.contains("sending the invitation email"), "{err}");
    assert_eq!(
        env.json(&["user", "list", "--org", "acme", "--json"]),
        Value::Array(vec![])
    );
    let audit = env.json(&["audit", "list", "--org", "acme", "--json"]);
    assert_eq!(audit[0]["action"], "user.invite");
    assert_eq!(audit[0]["outcome"], "FAILURE");
}

#[tokio::test]
async fn a_tokens_last_use_is_written_at_most_once_a_minute() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let pool = env.pool();
    let token = create_token(&env, "acme", "busy", "developer");
    let id = token_id(&env, "acme", "busy");
    let last_used = || async {
        let (at,): (Option<chrono::DateTime<Utc>>,) =
            sqlx::query_as("SELECT last_used_at FROM api_tokens WHERE id = $1")
                .bind(&id)
                .fetch_one(pool)
                .await
                .unwrap();
        at
    };
    let t0 = "2026-11-30T10:00:00Z"
        .parse::<chrono::DateTime<Utc>>()
        .unwrap();
    assert_eq!(last_used().await, None);
    tokens::authenticate(pool, &token, t0).await.unwrap();
    assert_eq!(last_used().await, Some(t0));
    // 59 s later: the recorded use stands (no write).
    tokens::authenticate(pool, &token, t0 + chrono::TimeDelta::seconds(59))
        .await
        .unwrap();
    assert_eq!(last_used().await, Some(t0));
    // A minute later: written again.
    let t1 = t0 + chrono::TimeDelta::seconds(60);
    tokens::authenticate(pool, &token, t1).await.unwrap();
    assert_eq!(last_used().await, Some(t1));
}

#[tokio::test]
async fn the_cli_changes_a_users_role_and_removes_users_but_never_the_last_active_administrator() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let mut config = env.load_config();
    config.mail.from = Some("billing@acme.test".into());
    let options = users::InviteOptions {
        accept_url: "https://billing.acme.test/accept".into(),
        valid_for: Duration::hours(1),
    };
    let now = Utc::now();
    let cli = billrun::identity::Actor::cli("test");
    let acme = OrgId::from("acme");
    for (email, role) in [
        ("boss@acme.test", Role::Administrator),
        ("ann@acme.test", Role::Analyst),
    ] {
        let invitation =
            users::invite(env.pool(), &config, &acme, email, role, &options, &cli, now)
                .await
                .unwrap();
        users::accept(env.pool(), &invitation.token, "correct horse battery", now)
            .await
            .unwrap();
    }
    // The one active Administrator: neither demoted nor removed.
    let err = env.fails(&[
        "user",
        "set-role",
        "boss@acme.test",
        "--org",
        "acme",
        "--role",
        "analyst",
    ]);
    assert!(err.contains("last active Administrator"), "{err}");
    let err = env.fails(&["user", "remove", "Boss@acme.test", "--org", "acme"]);
    assert!(err.contains("last active Administrator"), "{err}");
    // Another one made, the first can go.
    let out = env.ok(&[
        "user",
        "set-role",
        "ann@acme.test",
        "--org",
        "acme",
        "--role",
        "administrator",
        "--actor",
        "alice",
    ]);
    assert_eq!(out.trim(), "ann@acme.test is now ADMINISTRATOR in acme");
    let out = env.ok(&[
        "user",
        "remove",
        "boss@acme.test",
        "--org",
        "acme",
        "--actor",
        "alice",
    ]);
    assert_eq!(out.trim(), "boss@acme.test (ADMINISTRATOR): removed");
    let err = env.fails(&["user", "remove", "boss@acme.test", "--org", "acme"]);
    assert!(err.contains("has no user boss@acme.test"), "{err}");
    let listed = env.json(&["user", "list", "--org", "acme", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["email"], "ann@acme.test");
    assert_eq!(listed[0]["role"], "ADMINISTRATOR");
    // Audited by identity, newest first: removed, the role set (from ANALYST), refusals.
    let audit = env.json(&[
        "audit",
        "list",
        "--org",
        "acme",
        "--object-type",
        "user",
        "--json",
    ]);
    let rows: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .take(5)
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["objectId"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let row = |a: &str, o: &str, r: &str| (a.to_string(), o.to_string(), r.to_string());
    assert_eq!(
        rows,
        vec![
            row("user.remove", "boss@acme.test", "FAILURE"),
            row("user.remove", "boss@acme.test", "SUCCESS"),
            row("user.set_role", "ann@acme.test", "SUCCESS"),
            row("user.remove", "boss@acme.test", "FAILURE"),
            row("user.set_role", "boss@acme.test", "FAILURE"),
        ]
    );
    assert_eq!(audit[2]["details"]["previousRole"], "ANALYST");
    assert_eq!(audit[2]["actorId"], "alice");
}

#[tokio::test]
async fn two_administrators_removing_each_other_at_once_leave_one() {
    use billrun::identity::{user_admin, Actor};

    let env = TestEnv::new().await;
    env.org("acme").await;
    let pool = env.pool();
    let acme = OrgId::from("acme");
    let now = Utc::now();
    // Ten rounds, each with two fresh active Administrators (and none other) who remove
    // each other concurrently: the rows' locks let exactly one removal through.
    for round in 0..10 {
        sqlx::query("DELETE FROM users WHERE org_id = 'acme'")
            .execute(pool)
            .await
            .unwrap();
        let (a, b) = (format!("a{round}@acme.test"), format!("b{round}@acme.test"));
        for email in [&a, &b] {
            sqlx::query(
                "INSERT INTO users (org_id, email, role, status, password_hash, created_at)
                 VALUES ('acme', $1, 'ADMINISTRATOR', 'ACTIVE', 'not-a-hash', now())",
            )
            .bind(email)
            .execute(pool)
            .await
            .unwrap();
        }
        let (by_a, by_b) = (Actor::cli(a.clone()), Actor::cli(b.clone()));
        let (x, y) = tokio::join!(
            user_admin::remove(pool, &acme, &b, &by_a, now),
            user_admin::remove(pool, &acme, &a, &by_b, now),
        );
        assert_eq!(
            u8::from(x.is_ok()) + u8::from(y.is_ok()),
            1,
            "round {round}: {x:?} {y:?}"
        );
        let err = x.err().or(y.err()).unwrap();
        assert!(
            err.to_string().contains("last active Administrator"),
            "{err}"
        );
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE org_id = 'acme' AND role = 'ADMINISTRATOR'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(left, 1, "round {round}");
    }
}
