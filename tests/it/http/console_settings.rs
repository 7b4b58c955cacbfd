//! The console's settings pages over HTTP (issue 15, README "Console"): currencies,
//! net term days (-> the next invoice's due date), the invoice number format and its
//! preview (-> the next invoice's number), an alias moved (-> usage from the move on
//! routes to the new account), a logo uploaded as a multipart form (-> the next
//! invoice's PDF shows it), billing-details profiles, the dashboard's chart, form
//! errors as 422 pages, an Analyst seeing no forms and refused, and login throttling
//! (the 6th failed sign-in -> 429).

use chrono::{Datelike, Utc};
use reqwest::{Method, StatusCode};

use super::console::{billed_acme, Billed};
use super::{audit, console_session, row, Page};
use crate::env::TestEnv;

const LOGO: &[u8] = include_bytes!("../../../crates/billrun-render/assets/sample-logo.png");

/// `POST path` as `multipart/form-data` with the session `session`: the field
/// `csrf` and the file `logo` (`name`, `bytes`). Redirects are not followed.
async fn upload(
    server: &super::Server,
    path: &str,
    session: &str,
    csrf: &str,
    name: &str,
    bytes: &[u8],
) -> Page {
    let boundary = "billrun-test-boundary-7d1f";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"{name}\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}--\r\n"
        )
        .as_bytes(),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(server.url(path))
        .header("cookie", format!("billrun_session={session}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    Page {
        status: res.status(),
        location: res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        set_cookies: vec![],
        body: res.text().await.unwrap(),
    }
}

/// The images of the PDF `bytes` as `pdfimages -list` reports them: (width, height).
fn pdf_images(env: &TestEnv, bytes: &[u8]) -> Vec<(u32, u32)> {
    let path = env.scratch().join("invoice.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdfimages")
        .arg("-list")
        .arg(&path)
        .output()
        .expect("pdfimages (apt-get install poppler-utils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 4 && f[2] == "image").then(|| (f[3].parse().unwrap(), f[4].parse().unwrap()))
        })
        .collect()
}

/// Audit rows are written just after the change: wait until `actions` has `n` rows.
async fn audited(env: &TestEnv, actions: &[&str], n: usize) -> Vec<(String, String, String)> {
    for _ in 0..100 {
        let rows = audit(env, actions).await;
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    audit(env, actions).await
}

#[tokio::test]
async fn the_console_changes_settings_moves_aliases_uploads_a_logo_and_throttles_sign_ins() {
    let Billed {
        env,
        smtp: _smtp,
        server,
        ..
    } = billed_acme().await;
    let admin = console_session(&env, "acme", "admin@acme.test", "ADMINISTRATOR").await;
    let csrf = billrun::identity::sessions::csrf_token(&admin);
    let get = |path: String| {
        let (server, admin) = (&server, admin.clone());
        async move { server.console(Method::GET, &path, Some(&admin), &[]).await }
    };
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let (server, admin, csrf) = (&server, admin.clone(), csrf.clone());
        async move {
            let mut f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            f.push(("csrf", &csrf));
            server.console(Method::POST, path, Some(&admin), &f).await
        }
    };

    // --- Home: the chart of billed amounts per month, in USD. --------------------------
    // billed_acme's cycle close of 1 Feb 2026 finalized a1's invoices of its 1 Jan and
    // 1 Feb cycles, both dated 1 Feb 2026: $99.00 (January's platform fee, in
    // advance) + $699.00 ($600.00 of January's usage + February's $99.00 fee) =
    // $798.00 in February; March and the other months of the last 12: $0.00.
    let home = get("/console".into()).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home
        .body
        .contains("<title id=\"billed-svg-title\">Billed per month in USD"));
    if Utc::now().year() == 2026 {
        assert!(
            home.body
                .contains("data-testid=\"billed-Feb 2026\">$798.00<"),
            "{}",
            home.body
        );
        assert!(home.body.contains("data-testid=\"billed-Mar 2026\">$0.00<"));
        assert!(home.body.contains("Feb 2026: $798.00"), "the SVG's desc");
    }
    for nav in [
        "/console/settings",
        "/console/aliases",
        "/console/logo",
        "/console/billing_details",
    ] {
        assert!(home.body.contains(&format!("href=\"{nav}\"")), "{nav}");
    }

    // --- Settings: currencies, net term days, number format with its preview. ----------
    let page = get("/console/settings".into()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("data-testid=\"base-currency\">USD<"));
    assert!(
        page.body.contains("data-testid=\"net-term-days\">15<"),
        "{}",
        page.body
    );
    // A bad value: a 422 page naming the field, nothing changed, no JSON.
    let bad = post(
        "/console/settings/net_term_days",
        vec![("net_term_days", "thirty".into())],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body
            .contains("net term days: &quot;thirty&quot; is not a whole number of days"),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("<!doctype html>"), "an HTML page");
    let bad = post(
        "/console/settings/currencies",
        vec![
            ("base_currency", "USD".into()),
            ("enabled_currencies", "EUR, XYZ".into()),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("XYZ"), "{}", bad.body);
    // A missing field: 422 page too.
    let bad = post("/console/settings/invoice_number_format", vec![]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("format"), "{}", bad.body);

    let ok = post(
        "/console/settings/currencies",
        vec![
            ("base_currency", "usd".into()),
            ("enabled_currencies", "EUR, JPY".into()),
        ],
    )
    .await;
    assert_eq!(
        ok.location.as_deref(),
        Some("/console/settings?done=currencies"),
        "{}",
        ok.body
    );
    let ok = post(
        "/console/settings/net_term_days",
        vec![("net_term_days", "30".into())],
    )
    .await;
    assert_eq!(
        ok.location.as_deref(),
        Some("/console/settings?done=net_term_days"),
        "{}",
        ok.body
    );
    // The preview of a format, not saved: the counter of key "2026" is at 2 (the two
    // invoices numbered on 1 Feb 2026), so an invoice finalized today (2026) would be
    // ACME-2026-0003 (in another year, its counter is new: 0001).
    let expected = if Utc::now().year() == 2026 {
        "ACME-2026-0003".to_string()
    } else {
        format!("ACME-{}-0001", Utc::now().year())
    };
    let preview = get("/console/settings?format=ACME-%7BYYYY%7D-%7BSEQ%3A4%7D".into()).await;
    assert!(
        preview
            .body
            .contains(&format!("data-testid=\"next-number\">{expected}<")),
        "{}",
        preview.body
    );
    assert!(
        preview
            .body
            .contains("data-testid=\"number-format\">INV-{YYYY}-{SEQ:4}<"),
        "not saved: {}",
        preview.body
    );
    let bad = get("/console/settings?format=ACME-%7BQ%7D".into()).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("unknown token {Q}"), "{}", bad.body);
    let ok = post(
        "/console/settings/invoice_number_format",
        vec![("format", "ACME-{YYYY}-{SEQ:4}".into())],
    )
    .await;
    assert_eq!(
        ok.location.as_deref(),
        Some("/console/settings?done=invoice_number_format"),
        "{}",
        ok.body
    );
    let page = get("/console/settings?done=currencies".into()).await;
    assert!(
        page.body
            .contains("data-testid=\"enabled-currencies\">USD, EUR, JPY<"),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-testid=\"net-term-days\">30<"));
    assert!(page
        .body
        .contains(&format!("data-testid=\"next-number\">{expected}<")));
    let rows = audited(&env, &["setting.update"], 6).await;
    assert_eq!(
        rows,
        vec![
            row("setting.update", "baseCurrency", "FAILURE"),
            row("setting.update", "enabledCurrencies", "FAILURE"),
            row("setting.update", "baseCurrency", "SUCCESS"),
            row("setting.update", "enabledCurrencies", "SUCCESS"),
            row("setting.update", "netTermDays", "SUCCESS"),
            row("setting.update", "invoiceNumberFormat", "SUCCESS"),
        ]
    );

    // --- Logo: uploaded as a multipart form, its CSRF token checked. --------------------
    let forged = upload(
        &server,
        "/console/logo",
        &admin,
        &"0".repeat(64),
        "acme.png",
        LOGO,
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let not_png = upload(
        &server,
        "/console/logo",
        &admin,
        &csrf,
        "notes.txt",
        b"hello",
    )
    .await;
    assert_eq!(
        not_png.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        not_png.body
    );
    assert!(
        not_png.body.contains("a PNG or JPEG file of at most 1 MiB"),
        "{}",
        not_png.body
    );
    let up = upload(&server, "/console/logo", &admin, &csrf, "acme.png", LOGO).await;
    assert_eq!(
        up.location.as_deref(),
        Some("/console/logo?done=uploaded"),
        "{}",
        up.body
    );
    let logo = get("/console/logo".into()).await;
    assert!(
        logo.body.contains("data-testid=\"logo-version\">1<"),
        "{}",
        logo.body
    );
    assert!(logo.body.contains("png, 480 × 128 px"), "{}", logo.body);

    // --- Billing details: create, edit, make default. -----------------------------------
    let created = post(
        "/console/billing_details",
        vec![
            ("id", "acme-eu".into()),
            ("legal_name", "Acme Europe GmbH".into()),
            ("line1", "Friedrichstraße 10".into()),
            ("city", "Berlin".into()),
            ("country", "de".into()),
            ("email", "not an address".into()),
            (
                "payment_instructions",
                "IBAN DE02 1203 0000 0000 2020 51\nBIC BYLADEM1001".into(),
            ),
        ],
    )
    .await;
    assert_eq!(
        created.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        created.body
    );
    assert!(created.body.contains("email"), "{}", created.body);
    let created = post(
        "/console/billing_details",
        vec![
            ("id", "acme-eu".into()),
            ("legal_name", "Acme Europe GmbH".into()),
            ("line1", "Friedrichstraße 10".into()),
            ("city", "Berlin".into()),
            ("country", "de".into()),
            ("email", "invoices@acme.example".into()),
            (
                "payment_instructions",
                "IBAN DE02 1203 0000 0000 2020 51\nBIC BYLADEM1001".into(),
            ),
        ],
    )
    .await;
    assert_eq!(
        created.location.as_deref(),
        Some("/console/billing_details/acme-eu?done=created"),
        "{}",
        created.body
    );
    let edited = post(
        "/console/billing_details/acme-eu",
        vec![
            ("legal_name", "Acme Europe GmbH".into()),
            ("line1", "Unter den Linden 1".into()),
            ("city", "Berlin".into()),
            ("country", "DE".into()),
            ("footer_note", "Danke!".into()),
        ],
    )
    .await;
    assert_eq!(
        edited.location.as_deref(),
        Some("/console/billing_details/acme-eu?done=saved"),
        "{}",
        edited.body
    );
    let def = post("/console/billing_details/acme-eu/default", vec![]).await;
    assert_eq!(
        def.location.as_deref(),
        Some("/console/billing_details/acme-eu?done=default"),
        "{}",
        def.body
    );
    let shown = get("/console/billing_details/acme-eu".into()).await;
    assert!(
        shown.body.contains("value=\"Unter den Linden 1\""),
        "{}",
        shown.body
    );
    assert!(
        shown.body.contains("data-testid=\"default-profile\""),
        "{}",
        shown.body
    );
    assert!(
        !shown.body.contains("BIC BYLADEM1001"),
        "an emptied field is cleared"
    );
    let list = get("/console/billing_details".into()).await;
    assert!(list.body.contains("Acme Europe GmbH"));

    // --- Aliases: device-7 routes to a1 since 1 Jan 2026; moved to a2 now. -------------
    // a2: an account on no plan (its invoices would take numbers from the counter).
    sqlx::query(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency)
         VALUES ('acme', 'a2', 'cust-a1', 'a2', 'USD')",
    )
    .execute(env.pool())
    .await
    .unwrap();
    let jan = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    billrun::catalog::aliases::assign(env.pool(), &"acme".into(), "device-7", "a1", jan)
        .await
        .unwrap();
    let list = get("/console/aliases".into()).await;
    assert!(list.body.contains("<code>device-7</code>"), "{}", list.body);
    assert!(list
        .body
        .contains("action=\"/console/aliases/device-7/move\""));
    let confirm = get("/console/aliases/device-7/move?account=a2".into()).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(
        confirm
            .body
            .contains("from the account a1 to the account a2"),
        "{}",
        confirm.body
    );
    let same = get("/console/aliases/device-7/move?account=a1".into()).await;
    assert_eq!(same.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = get("/console/aliases/device-9/move?account=a2".into()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let before = Utc::now();
    let moved = server
        .console(
            Method::POST,
            "/console/aliases/device-7/move",
            Some(&admin),
            &[("csrf", &csrf), ("account", "a2")],
        )
        .await;
    assert_eq!(
        moved.location.as_deref(),
        Some("/console/aliases?done=moved"),
        "{}",
        moved.body
    );
    let after = Utc::now() + chrono::Duration::seconds(1);
    let book = billrun::catalog::aliases::AliasBook::load(env.pool(), "acme", &["device-7".into()])
        .await
        .unwrap();
    use billrun::catalog::aliases::Resolution;
    // Usage before the move stays with a1; usage after it goes to a2.
    assert_eq!(
        book.resolve("device-7", before - chrono::Duration::seconds(1)),
        Resolution::Account("a1")
    );
    assert_eq!(book.resolve("device-7", after), Resolution::Account("a2"));
    assert_eq!(
        audited(&env, &["account.add_aliases"], 1).await,
        vec![row("account.add_aliases", "a2", "SUCCESS")]
    );

    // --- The next invoice: 30 net term days, the new number, the logo. ----------------
    // a1's cycle of 1 Feb to 1 Mar 2026 closes on 1 Mar 2026: dated 1 Mar 2026, due 30
    // days later, 31 Mar 2026 (1 Mar + 30 days); numbered by the key "2026" counter,
    // at 2: ACME-2026-0003.
    env.ok(&["run", "cycle-close", "--now", "2026-03-01T00:00:00Z"]);
    let (id, number, due): (String, String, String) = sqlx::query_as(
        "SELECT id, number, due_date::text FROM invoices
          WHERE org_id = 'acme' AND account_id = 'a1' AND invoice_date = '2026-03-01'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(
        (number.as_str(), due.as_str()),
        ("ACME-2026-0003", "2026-03-31")
    );
    let res = reqwest::Client::new()
        .get(server.url(&format!("/console/invoices/{id}/pdf")))
        .header("cookie", format!("billrun_session={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let pdf = res.bytes().await.unwrap();
    assert!(
        pdf_images(&env, &pdf).contains(&(480, 128)),
        "the logo is on the PDF"
    );

    // --- An Analyst sees no forms, and its POSTs are refused and audited. -------------
    let analyst = console_session(&env, "acme", "ann@acme.test", "ANALYST").await;
    for path in [
        "/console/settings",
        "/console/logo",
        "/console/billing_details",
        "/console/aliases",
    ] {
        let p = server.console(Method::GET, path, Some(&analyst), &[]).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        assert!(
            !p.body
                .contains("method=\"post\" action=\"/console/settings")
                && !p.body.contains("action=\"/console/logo\"")
                && !p.body.contains("action=\"/console/billing_details\"")
                && !p.body.contains("/move\""),
            "{path}: {}",
            p.body
        );
    }
    let acsrf = billrun::identity::sessions::csrf_token(&analyst);
    let refused = server
        .console(
            Method::POST,
            "/console/settings/net_term_days",
            Some(&analyst),
            &[("csrf", &acsrf), ("net_term_days", "1")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let rows = audited(&env, &["request.forbidden"], 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");

    // --- Login throttling: 5 failures for one address, the 6th attempt is refused. -----
    // admin@acme.test's password is "correct horse battery" (argon2id).
    let hash = {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0c2FsdA").unwrap();
        argon2::Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string()
    };
    sqlx::query("UPDATE users SET password_hash = $1 WHERE email = 'admin@acme.test'")
        .bind(hash)
        .execute(env.pool())
        .await
        .unwrap();
    let form = server
        .console(Method::GET, "/console/login", None, &[])
        .await;
    let token = form
        .set_cookies
        .iter()
        .find(|c| c.starts_with("billrun_form="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("billrun_form=")
        .to_string();
    let cookie = format!("billrun_form={token}");
    let attempt = |password: &'static str| {
        let (server, cookie, token) = (&server, cookie.clone(), token.clone());
        async move {
            let fields = [
                ("csrf", token.as_str()),
                ("email", "admin@acme.test"),
                ("password", password),
                ("organisation", ""),
                ("next", "/console"),
            ];
            server
                .console_with(Method::POST, "/console/login", Some(&cookie), &fields)
                .await
        }
    };
    for i in 1..=5 {
        let p = attempt("wrong password").await;
        assert_eq!(
            p.status,
            StatusCode::UNAUTHORIZED,
            "attempt {i}: {}",
            p.body
        );
    }
    // The 6th is refused before the password is checked: the right one too.
    let sixth = attempt("correct horse battery").await;
    assert_eq!(
        sixth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        sixth.body
    );
    assert!(
        sixth
            .body
            .contains("too many failed sign-ins (5 in 15 minutes for this address)"),
        "{}",
        sixth.body
    );
    let rows = audited(&env, &["session.throttled"], 1).await;
    assert_eq!(
        rows,
        vec![row("session.throttled", "admin@acme.test", "FAILURE")]
    );
}
