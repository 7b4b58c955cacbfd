//! The console over HTTP (issue 15, README "Console"), without a browser: one server,
//! one flow. An invitation emailed by the CLI is accepted on the console's page (its
//! double-submit CSRF token checked), the session cookie's attributes, signing out and
//! in (a wrong password, `next`), API tokens created (secret shown once, and it works
//! on the API), deactivated and deleted with a confirmation, user data escaped, a user
//! invited from the Users page accepting through the emailed console link, an Analyst
//! seeing no forms and refused, forged POSTs (no or a wrong CSRF token) refused
//! writing nothing, and a password change.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::login::{link, serve_on};
use super::Page;
use crate::delivery::{free_port, mailbox_server, messages};
use crate::env::TestEnv;

/// The value of the hidden field `name` of the first form having it in `html`.
fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no field {name}: {html}"))
        + key.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// The value `name=value` sets in one of `page`'s Set-Cookie headers.
fn set_cookie<'a>(page: &'a Page, name: &str) -> Option<&'a str> {
    page.set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(String::as_str)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

/// The number of audit rows of `org`.
async fn audit_rows(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE org_id = 'acme'")
        .fetch_one(env.pool())
        .await
        .unwrap()
}

async fn token_count(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE org_id = 'acme'")
        .fetch_one(env.pool())
        .await
        .unwrap()
}

/// What the console tests start from: acme on the growth plan with a1's invoice of
/// 1 Feb 2026 (15,000 API calls in January: $600.00 of usage + $99.00 platform fee =
/// $699.00, DUE, rendered; no recipient, so nothing emailed), a test SMTP server
/// writing to `maildir`, and `billrun serve` whose `public_url` is its own address (so
/// invitation links point at it).
pub(super) struct Billed {
    pub(super) env: TestEnv,
    /// The server's port on 127.0.0.1.
    pub(super) http: u16,
    pub(super) maildir: std::path::PathBuf,
    pub(super) smtp: crate::harness::Proc,
    pub(super) server: super::Server,
}

pub(super) async fn billed_acme() -> Billed {
    let smtp = free_port();
    let http = free_port();
    let env = TestEnv::with_config(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{smtp}?tls=none\"\n\
         timeout_secs = 5\nfrom = \"billing@acme.test\"\n\n\
         [http]\npublic_url = \"http://127.0.0.1:{http}/\"\n"
    ))
    .await;
    let maildir = env.scratch().join("maildir");
    let smtp = mailbox_server(smtp, &maildir, &env.scratch().join("smtp.log"));
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.account("acme", "a1")
        .with_usage(
            "e1",
            "2026-01-05T10:00:00Z",
            rust_decimal_macros::dec!(15000),
        )
        .await;
    env.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let server = serve_on(&env, http).await;
    Billed {
        env,
        http,
        maildir,
        smtp,
        server,
    }
}

#[tokio::test]
async fn the_console_signs_in_manages_tokens_and_users_and_refuses_forged_posts() {
    let Billed {
        env,
        http,
        maildir,
        smtp: _smtp,
        server,
    } = billed_acme().await;
    let get = |path: &'static str, session: Option<String>| {
        let server = &server;
        async move {
            server
                .console(Method::GET, path, session.as_deref(), &[])
                .await
        }
    };

    // --- An Administrator invited by the CLI accepts on the console's page. ---------
    env.ok(&[
        "user",
        "invite",
        "admin@acme.test",
        "--org",
        "acme",
        "--role",
        "administrator",
    ]);
    let msgs = messages(&maildir);
    let secret = link(&msgs[0]).split("token=").nth(1).unwrap().to_string();
    let path = format!("/console/invites/accept?token={secret}");
    let form = server.console(Method::GET, &path, None, &[]).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(
        form.body.contains("admin@acme.test, as Administrator"),
        "{}",
        form.body
    );
    let form_cookie = set_cookie(&form, "billrun_form").expect("a form cookie");
    assert!(form_cookie.contains("HttpOnly") && form_cookie.contains("SameSite=Strict"));
    let form_token = cookie_value(form_cookie);
    assert_eq!(hidden(&form.body, "csrf"), form_token);
    let cookie = format!("billrun_form={form_token}");
    let accept = |csrf: String, confirm: &'static str| {
        let (server, cookie, secret) = (&server, cookie.clone(), secret.clone());
        async move {
            let fields = [
                ("csrf", csrf.as_str()),
                ("token", secret.as_str()),
                ("password", "correct horse battery"),
                ("confirm", confirm),
            ];
            server
                .console_with(
                    Method::POST,
                    "/console/invites/accept",
                    Some(&cookie),
                    &fields,
                )
                .await
        }
    };
    // A wrong double-submit token: 403, the user still INVITED, no audit row.
    let before = audit_rows(&env).await;
    let forged = accept("0".repeat(64), "correct horse battery").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(forged.body.contains("CSRF token (field csrf) is wrong"));
    let status: String =
        sqlx::query_scalar("SELECT status FROM users WHERE email = 'admin@acme.test'")
            .fetch_one(env.pool())
            .await
            .unwrap();
    assert_eq!(status, "INVITED");
    assert_eq!(audit_rows(&env).await, before);
    let differ = accept(form_token.clone(), "another password").await;
    assert_eq!(differ.status, StatusCode::BAD_REQUEST, "{}", differ.body);
    let accepted = accept(form_token.clone(), "correct horse battery").await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.body);
    assert_eq!(accepted.location.as_deref(), Some("/console"));
    let session_cookie = set_cookie(&accepted, "billrun_session").expect("a session cookie");
    // 24 hours ([http] session_hours' default) = 86,400 seconds; plain http: no Secure.
    let admin = cookie_value(session_cookie);
    assert_eq!(
        session_cookie,
        format!("billrun_session={admin}; HttpOnly; SameSite=Strict; Path=/console; Max-Age=86400")
    );
    assert!(admin.starts_with("brs_"));

    // --- Home, signing out and in. -----------------------------------------------------
    let home = get("/console", Some(admin.clone())).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    for nav in [
        "href=\"/console/api_tokens\"",
        "href=\"/console/users\"",
        "href=\"/console/profile\"",
    ] {
        assert!(home.body.contains(nav), "{nav}: {}", home.body);
    }
    assert!(home.body.contains("admin@acme.test · Administrator · acme"));
    // The dashboard: a1's two invoices of the run (its 1 Jan and 1 Feb cycles) are DUE
    // by 16 Feb 2026, before today: both overdue; none emailed (no recipient), no job
    // dead.
    for (id, n) in [
        ("due", 2),
        ("overdue", 2),
        ("failed-deliveries", 0),
        ("dead-jobs", 0),
    ] {
        let shown = format!("data-testid=\"{id}\">{n}<");
        assert!(home.body.contains(&shown), "{shown}: {}", home.body);
    }
    let csrf = hidden(&home.body, "csrf");
    assert_eq!(csrf, billrun::identity::sessions::csrf_token(&admin));
    let out = server
        .console(
            Method::POST,
            "/console/logout",
            Some(&admin),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some("/console/login"));
    assert!(set_cookie(&out, "billrun_session")
        .unwrap()
        .contains("Max-Age=0"));
    let after = get("/console", Some(admin.clone())).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the session ended");
    assert_eq!(
        after.location.as_deref(),
        Some("/console/login?next=%2Fconsole")
    );

    let login_form = get("/console/login", None).await;
    let login_token = cookie_value(set_cookie(&login_form, "billrun_form").unwrap());
    let login = |password: &'static str, next: &'static str| {
        let server = &server;
        let (cookie, csrf) = (format!("billrun_form={login_token}"), login_token.clone());
        async move {
            let fields = [
                ("csrf", csrf.as_str()),
                ("email", "Admin@Acme.test"),
                ("password", password),
                ("organisation", ""),
                ("next", next),
            ];
            server
                .console_with(Method::POST, "/console/login", Some(&cookie), &fields)
                .await
        }
    };
    let wrong = login("not my password", "/console").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body.contains("wrong email or password"),
        "{}",
        wrong.body
    );
    assert!(set_cookie(&wrong, "billrun_session").is_none());
    // `next` to another site is ignored.
    let elsewhere = login("correct horse battery", "https://evil.test/").await;
    assert_eq!(elsewhere.location.as_deref(), Some("/console"));
    let signed = login("correct horse battery", "/console/api_tokens").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/console/api_tokens"));
    let admin = cookie_value(set_cookie(&signed, "billrun_session").unwrap());
    let csrf = billrun::identity::sessions::csrf_token(&admin);
    let post = |path: String, fields: Vec<(&'static str, String)>, session: String| {
        let server = &server;
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            server
                .console(Method::POST, &path, Some(&session), &fields)
                .await
        }
    };

    // --- API tokens. -------------------------------------------------------------------
    let created = post(
        "/console/api_tokens".into(),
        vec![
            ("csrf", csrf.clone()),
            ("name", "<script>alert(1)</script>".into()),
            ("role", "ANALYST".into()),
        ],
        admin.clone(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created
        .body
        .contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
    assert!(!created.body.contains("<script>"), "escaped");
    let at = created.body.find("brt_").unwrap();
    let bearer: String = created.body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_eq!(bearer.len(), "brt_".len() + 8 + 1 + 64, "{bearer}");
    let (status, listed) = server.get("/billrun/api_tokens", Some(&bearer)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new token works on the API: {listed}"
    );
    let id = listed["data"][0]["id"].as_str().unwrap().to_string();
    let list = get("/console/api_tokens", Some(admin.clone())).await;
    assert!(
        !list.body.contains(&bearer[12..]),
        "the secret is shown once"
    );
    assert!(list
        .body
        .contains(&format!("/console/api_tokens/{id}/deactivate")));
    let off = post(
        format!("/console/api_tokens/{id}/deactivate"),
        vec![("csrf", csrf.clone())],
        admin.clone(),
    )
    .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    assert_eq!(
        off.location.as_deref(),
        Some("/console/api_tokens?done=deactivated")
    );
    assert_eq!(
        server.get("/billrun/api_tokens", Some(&bearer)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let list = get("/console/api_tokens?done=deactivated", Some(admin.clone())).await;
    assert!(list.body.contains("The token was deactivated"));
    assert!(list
        .body
        .contains(&format!("/console/api_tokens/{id}/activate")));
    let confirm = server
        .console(
            Method::GET,
            &format!("/console/api_tokens/{id}/delete"),
            Some(&admin),
            &[],
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("this cannot be undone"));
    assert_eq!(token_count(&env).await, 1, "asking deletes nothing");

    // --- Forged POSTs are refused before anything runs, and write nothing. ------------
    let before = audit_rows(&env).await;
    let create = |csrf: Option<String>| {
        let mut f = vec![
            ("name", "forged".to_string()),
            ("role", "ADMINISTRATOR".into()),
        ];
        if let Some(c) = csrf {
            f.push(("csrf", c));
        }
        f
    };
    for (what, fields, message) in [
        ("no token", create(None), "is missing"),
        ("a wrong token", create(Some("f".repeat(64))), "is wrong"),
        (
            "another session's token",
            create(Some(billrun::identity::sessions::csrf_token("brs_other"))),
            "is wrong",
        ),
    ] {
        let page = post("/console/api_tokens".into(), fields, admin.clone()).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{what}: {}", page.body);
        assert!(page.body.contains(message), "{what}: {}", page.body);
    }
    assert_eq!(audit_rows(&env).await, before);
    assert_eq!(token_count(&env).await, 1);

    let deleted = post(
        format!("/console/api_tokens/{id}/delete"),
        vec![("csrf", csrf.clone())],
        admin.clone(),
    )
    .await;
    assert_eq!(
        deleted.location.as_deref(),
        Some("/console/api_tokens?done=deleted")
    );
    assert_eq!(token_count(&env).await, 0);
    let actions: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT action, actor_kind, actor_id FROM audit_log
          WHERE org_id = 'acme' AND action LIKE 'token.%' ORDER BY id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    let user = |a: &str| {
        (
            a.to_string(),
            "USER".to_string(),
            "admin@acme.test".to_string(),
        )
    };
    assert_eq!(
        actions,
        vec![
            user("token.create"),
            user("token.deactivate"),
            user("token.delete")
        ]
    );

    // --- Users: invite from the console, accept through the emailed console link. ----
    let invited = post(
        "/console/users/invite".into(),
        vec![
            ("csrf", csrf.clone()),
            ("email", "Ann@Acme.test".into()),
            ("role", "ANALYST".into()),
        ],
        admin.clone(),
    )
    .await;
    assert_eq!(
        invited.location.as_deref(),
        Some("/console/users?done=invited"),
        "{}",
        invited.body
    );
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    let url = link(&msgs[1]);
    let prefix = format!("http://127.0.0.1:{http}/console/invites/accept?token=bri_");
    assert!(url.starts_with(&prefix), "{url}");
    let users = get("/console/users", Some(admin.clone())).await;
    let invited_at = users.body.find("Invited, not accepted yet").unwrap();
    assert!(users.body[invited_at..].contains("ann@acme.test"));
    let path = url
        .trim_start_matches(&format!("http://127.0.0.1:{http}"))
        .to_string();
    let form = server.console(Method::GET, &path, None, &[]).await;
    let token = cookie_value(set_cookie(&form, "billrun_form").unwrap());
    let fields = [
        ("csrf", token.as_str()),
        ("token", url.split("token=").nth(1).unwrap()),
        ("password", "analyst password 1"),
        ("confirm", "analyst password 1"),
    ];
    let ann = server
        .console_with(
            Method::POST,
            "/console/invites/accept",
            Some(&format!("billrun_form={token}")),
            &fields,
        )
        .await;
    assert_eq!(ann.status, StatusCode::SEE_OTHER, "{}", ann.body);
    let ann = cookie_value(set_cookie(&ann, "billrun_session").unwrap());
    let ann_csrf = billrun::identity::sessions::csrf_token(&ann);

    // --- The Analyst reads, without forms, and is refused a change. ------------------
    let tokens_page = get("/console/api_tokens", Some(ann.clone())).await;
    assert_eq!(tokens_page.status, StatusCode::OK);
    assert!(!tokens_page.body.contains("Create the token"));
    assert!(!tokens_page.body.contains("/deactivate"));
    let users_page = get("/console/users", Some(ann.clone())).await;
    assert!(users_page.body.contains("admin@acme.test"));
    assert!(!users_page.body.contains("Send the invitation"));
    let before = audit_rows(&env).await;
    let page = post("/console/api_tokens".into(), create(None), ann.clone()).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("is missing"));
    assert_eq!(
        audit_rows(&env).await,
        before,
        "a forged POST writes nothing"
    );
    let page = post(
        "/console/api_tokens".into(),
        create(Some(ann_csrf.clone())),
        ann.clone(),
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page
        .body
        .contains("the role Analyst may not change API tokens"));
    let forbidden: Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE org_id = 'acme' AND action = 'request.forbidden'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(
        forbidden["error"],
        "the role Analyst may not change API tokens: POST /console/api_tokens"
    );
    assert_eq!(token_count(&env).await, 0);

    // --- Invoices: the Analyst reads them. -----------------------------------------------
    let (id, number): (String, String) = sqlx::query_as(
        "SELECT id, number FROM invoices WHERE org_id = 'acme' AND account_id = 'a1'
            AND boundary = '2026-02-01'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    let home = get("/console", Some(ann.clone())).await;
    assert!(home.body.contains("href=\"/console/invoices\""));
    let list = get("/console/invoices", Some(ann.clone())).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body.contains(&number) && list.body.contains("$699.00"),
        "{}",
        list.body
    );
    let filtered = |q: String| {
        let (server, ann) = (&server, ann.clone());
        async move {
            server
                .console(
                    Method::GET,
                    &format!("/console/invoices?{q}"),
                    Some(&ann),
                    &[],
                )
                .await
        }
    };
    let due = filtered("status=DUE&account=a1&number=".into()).await;
    assert!(due.body.contains(&number));
    let paid = filtered("status=PAID&account=&number=".into()).await;
    assert!(paid.body.contains("No invoices match.") && !paid.body.contains(&number));
    let other = filtered("status=&account=a2&number=".into()).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(
        other
            .body
            .contains("account &quot;a2&quot; does not exist in organisation &quot;acme&quot;"),
        "{}",
        other.body
    );
    let bad = filtered("status=LATE".into()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("status &quot;LATE&quot;: expected DRAFT"),
        "{}",
        bad.body
    );
    let by_number = filtered(format!("number={number}")).await;
    assert_eq!(by_number.status, StatusCode::SEE_OTHER);
    let detail_path = format!("/console/invoices/{id}");
    assert_eq!(by_number.location.as_deref(), Some(detail_path.as_str()));
    let missing = filtered("number=INV-NOPE".into()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let detail = server
        .console(Method::GET, &detail_path, Some(&ann), &[])
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    // 15,000 calls: $600.00; the platform fee $99.00; due $699.00; dated 1 Feb 2026.
    // Graduated: 1,000 at $0.10, 9,000 at $0.05, 5,000 at $0.01 = $100 + $450 + $50.
    for text in [
        "$600.00",
        "$99.00",
        "$699.00",
        "1 Feb 2026",
        "DUE",
        "15,000",
        "9,000",
        "$0.10",
        "$450.00",
    ] {
        assert!(detail.body.contains(text), "{text}: {}", detail.body);
    }
    assert!(detail.body.contains(&format!(
        "<iframe class=\"pdf\" src=\"/console/invoices/{id}/pdf\""
    )));
    let res = reqwest::Client::new()
        .get(server.url(&format!("/console/invoices/{id}/pdf")))
        .header("cookie", format!("billrun_session={ann}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.bytes().await.unwrap().starts_with(b"%PDF"));

    // Actions: not for the Analyst; the Administrator marks it paid after confirming.
    assert!(!detail.body.contains("Mark paid") && !detail.body.contains("Void…"));
    let paid_path = format!("/console/invoices/{id}/mark_paid");
    let refused = post(
        paid_path.clone(),
        vec![("csrf", ann_csrf.clone())],
        ann.clone(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused
        .body
        .contains("the role Analyst may not change invoices"));
    let admin_detail = server
        .console(Method::GET, &detail_path, Some(&admin), &[])
        .await;
    assert!(admin_detail.body.contains(&format!("href=\"{paid_path}\"")));
    let asked = server
        .console(Method::GET, &paid_path, Some(&admin), &[])
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked
        .body
        .contains(&format!("Record that {number} ($699.00) was paid")));
    let status_of = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM invoices WHERE id = $1")
            .bind(&id)
            .fetch_one(env.pool())
            .await
            .unwrap()
    };
    assert_eq!(status_of().await, "DUE", "asking changes nothing");
    let paid = post(
        paid_path.clone(),
        vec![("csrf", csrf.clone())],
        admin.clone(),
    )
    .await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    assert_eq!(
        paid.location,
        Some(format!("/console/invoices/{id}?done=paid"))
    );
    assert_eq!(status_of().await, "PAID");
    let row: (String, String, String) = sqlx::query_as(
        "SELECT actor_id, object_id, outcome FROM audit_log WHERE action = 'invoice.mark_paid'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(
        row,
        ("admin@acme.test".into(), id.clone(), "SUCCESS".into())
    );
    // PAID with a total above 0: no more mark paid nor void; paying again is refused.
    let after = server
        .console(
            Method::GET,
            &format!("{detail_path}?done=paid"),
            Some(&admin),
            &[],
        )
        .await;
    assert!(after.body.contains("The invoice was marked paid."));
    assert!(!after.body.contains("Mark paid…") && !after.body.contains("Void…"));
    let again = post(paid_path, vec![("csrf", csrf.clone())], admin.clone()).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    // --- Profile: the password. --------------------------------------------------------
    let change = |current: &'static str, new: &'static str, confirm: &'static str| {
        post(
            "/console/profile/password".into(),
            vec![
                ("csrf", ann_csrf.clone()),
                ("current", current.into()),
                ("new", new.into()),
                ("confirm", confirm.into()),
            ],
            ann.clone(),
        )
    };
    let page = change("not it at all", "a new password 2", "a new password 2").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page
        .body
        .contains("current password: it is not your password"));
    let page = change("analyst password 1", "a new password 2", "a new password 3").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = change("analyst password 1", "short", "short").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = change("analyst password 1", "a new password 2", "a new password 2").await;
    assert_eq!(
        page.location.as_deref(),
        Some("/console/profile?done=password")
    );
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM audit_log WHERE action = 'user.password' ORDER BY id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    // The wrong current password and the short one are recorded; the mismatch is
    // refused by the page before identity is asked.
    assert_eq!(outcomes, ["FAILURE", "FAILURE", "SUCCESS"]);
    let res = server
        .client
        .post(server.url("/authenticate"))
        .json(&serde_json::json!({"email": "ann@acme.test", "password": "a new password 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = server
        .client
        .post(server.url("/authenticate"))
        .json(&serde_json::json!({"email": "ann@acme.test", "password": "analyst password 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
