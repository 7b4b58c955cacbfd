//! The console in a real browser (issue 15): Debian's headless Chromium driven through
//! chromedriver (WebDriver) by fantoccini. One server, one browser, one flow: accept
//! an invitation and land signed in, create and deactivate an API token, invite a user
//! from the Users page and accept through the emailed link, the Analyst seeing no
//! write buttons and a forged POST from its browser refused, signing out and in, and
//! an invoice with its PDF. Each
//! page is screenshot at 1280 px (and the tokens page at a phone's 390 px) into
//! `target/console-screenshots/` (not committed).
//!
//! Needs `chromium` and `chromedriver` (`apt-get install chromium chromium-driver`;
//! `.ci/run` installs them); `BILLRUN_CHROMEDRIVER` names another chromedriver.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::login::link;
use crate::delivery::{free_port, messages};
use crate::env::TestEnv;
use crate::harness::wait_for;

/// A chromedriver process, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port and a headless Chromium session at 1280 × 900.
async fn browser() -> (Driver, Client) {
    let exe = std::env::var("BILLRUN_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let child = Command::new(&exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {exe} ({e}): the console's browser test needs Chromium and \
                 chromedriver (apt-get install chromium chromium-driver)"
            )
        });
    let driver = Driver(child);
    let status = format!("http://127.0.0.1:{port}/status");
    wait_for(
        Duration::from_secs(20),
        "chromedriver to answer",
        || async {
            reqwest::get(&status)
                .await
                .ok()
                .filter(|r| r.status().is_success())
        },
    )
    .await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,900",
                        "--hide-scrollbars"]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    client.set_window_size(1280, 900).await.unwrap();
    (driver, client)
}

/// `target/console-screenshots/`, made if missing.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the whole page as `<name>.png`.
async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The element `css`, waited for up to 30 s (a page may still be loading).
async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = element(c, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    element(c, css).await.click().await.unwrap();
}

/// The page's HTML once it has loaded. A page still arriving (the reload of a
/// running job's page) serialises only its first part, so the state and the HTML
/// are read in one script, again until the state is `complete` (for up to 30 s).
async fn source(c: &Client) -> String {
    let read = "return [document.readyState, document.documentElement.outerHTML];";
    for _ in 0..300 {
        // A script run while the page is being replaced may fail: read again.
        if let Ok(v) = c.execute(read, vec![]).await {
            if v[0] == "complete" {
                return v[1].as_str().unwrap_or_default().to_string();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page did not finish loading in 30 s")
}

/// Waits until the browser shows `expected` (a path and query), for up to 30 s.
async fn wait_path(c: &Client, expected: &str) {
    let found = wait_for(Duration::from_secs(30), expected, || async {
        let p = path_of(c).await;
        (p == expected).then_some(p)
    })
    .await;
    assert_eq!(found, expected);
}

async fn path_of(c: &Client) -> String {
    let u = c.current_url().await.unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// Sets a password on the invitation page that is open and submits it with Enter
/// (the keyboard).
async fn accept_invitation(c: &Client, password: &str) {
    fill(c, "#password", password).await;
    fill(c, "#confirm", &format!("{password}\u{E007}")).await;
}

async fn tokens(env: &TestEnv) -> Vec<(String, String)> {
    sqlx::query_as("SELECT name, status FROM api_tokens WHERE org_id = 'acme' ORDER BY name")
        .fetch_all(env.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn in_chromium_an_admin_manages_tokens_and_invites_and_an_analyst_cannot_write() {
    // One rendered invoice: a1's of 1 Feb 2026, $699.00.
    let super::console::Billed {
        env,
        http,
        maildir,
        smtp: _smtp,
        server,
    } = super::console::billed_acme().await;
    let (_driver, c) = browser().await;
    let base = format!("http://127.0.0.1:{http}");

    // An Administrator invited by the CLI: the console's accept page signs them in.
    env.ok(&[
        "user",
        "invite",
        "admin@acme.test",
        "--org",
        "acme",
        "--role",
        "administrator",
    ]);
    let secret = link(&messages(&maildir)[0])
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    c.goto(&format!("{base}/console/invites/accept?token={secret}"))
        .await
        .unwrap();
    assert!(source(&c)
        .await
        .contains("admin@acme.test, as Administrator"));
    shot(&c, "accept-invitation").await;
    accept_invitation(&c, "correct horse battery").await;
    wait_path(&c, "/console").await;
    let home = source(&c).await;
    assert!(
        home.contains("admin@acme.test · Administrator · acme"),
        "{home}"
    );
    shot(&c, "home-administrator").await;

    // Invoices: the list, then the invoice with its PDF inline.
    click(&c, "nav a[href='/console/invoices']").await;
    assert!(source(&c).await.contains("$699.00"));
    shot(&c, "invoices").await;
    click(&c, "table a[href^='/console/invoices/']").await;
    let page = source(&c).await;
    assert!(page.contains("Lines") && page.contains("$600.00"), "{page}");
    element(&c, "iframe.pdf").await;
    shot(&c, "invoice").await;

    // API tokens: create (the secret shown once), then deactivate.
    click(&c, "nav a[href='/console/api_tokens']").await;
    fill(&c, "#token-name", "ci").await;
    click(&c, "#token-role option[value='ANALYST']").await;
    click(&c, "form[action='/console/api_tokens'] button[type=submit]").await;
    let shown = element(&c, "[data-testid=token-secret]")
        .await
        .text()
        .await
        .unwrap();
    assert!(shown.starts_with("brt_"), "{shown}");
    shot(&c, "token-created").await;
    let (status, _) = server.get("/billrun/api_tokens", Some(&shown)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "the shown token works");
    click(&c, "a[href='/console/api_tokens']").await;
    assert!(!source(&c).await.contains(&shown), "shown once");
    click(&c, "button[aria-label='Deactivate ci']").await;
    wait_path(&c, "/console/api_tokens?done=deactivated").await;
    assert_eq!(tokens(&env).await, [("ci".into(), "INACTIVE".into())]);
    let (status, _) = server.get("/billrun/api_tokens", Some(&shown)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    shot(&c, "api-tokens").await;
    click(&c, "a[aria-label='Delete ci']").await;
    shot(&c, "api-token-delete-confirmation").await;
    click(&c, "a.button.secondary").await; // Cancel
    assert_eq!(tokens(&env).await.len(), 1);

    // Phone width: the same page still fits.
    c.set_window_size(390, 844).await.unwrap();
    c.refresh().await.unwrap();
    let overflow: serde_json::Value = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    shot(&c, "api-tokens-phone").await;
    assert_eq!(overflow, json!(true), "the page is no wider than a phone");
    c.set_window_size(1280, 900).await.unwrap();

    // Users: invite an Analyst.
    click(&c, "nav a[href='/console/users']").await;
    fill(&c, "#invite-email", "ann@acme.test").await;
    click(&c, "#invite-role option[value='ANALYST']").await;
    click(
        &c,
        "form[action='/console/users/invite'] button[type=submit]",
    )
    .await;
    wait_path(&c, "/console/users?done=invited").await;
    shot(&c, "users").await;
    click(&c, "header form button").await; // Sign out
    wait_path(&c, "/console/login").await;

    // The Analyst follows the emailed link: the console's page.
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 2);
    let url = link(&msgs[1]);
    assert!(
        url.starts_with(&format!("{base}/console/invites/accept?token=bri_")),
        "{url}"
    );
    c.goto(&url).await.unwrap();
    accept_invitation(&c, "analyst password 1").await;
    wait_path(&c, "/console").await;
    shot(&c, "home-analyst").await;
    click(&c, "nav a[href='/console/api_tokens']").await;
    let page = source(&c).await;
    assert!(page.contains("ci"), "the Analyst reads the tokens");
    assert!(!page.contains("Create the token") && !page.contains("Deactivate"));
    shot(&c, "api-tokens-analyst").await;
    click(&c, "nav a[href='/console/users']").await;
    assert!(!source(&c).await.contains("Send the invitation"));

    // A forged POST from this browser (as another site's page would make: no token),
    // then one with a wrong token: refused, nothing written.
    let audit_before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(env.pool())
        .await
        .unwrap();
    for csrf in [None, Some("0".repeat(64))] {
        c.goto(&format!("{base}/console/users")).await.unwrap();
        let field = csrf
            .map(|t| format!("<input name='csrf' value='{t}'>"))
            .unwrap_or_default();
        c.execute(
            &format!(
                "const f = document.createElement('form'); f.method = 'post'; \
                 f.action = '/console/api_tokens'; \
                 f.innerHTML = \"<input name='name' value='forged'>\
                 <input name='role' value='ADMINISTRATOR'>{field}\"; \
                 document.body.appendChild(f); f.submit();"
            ),
            vec![],
        )
        .await
        .unwrap();
        wait_for(Duration::from_secs(30), "the refusal page", || async {
            source(&c).await.contains("Form refused").then_some(())
        })
        .await;
    }
    shot(&c, "forged-post-refused").await;
    let audit_after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(audit_after, audit_before, "a forged POST writes nothing");
    assert_eq!(tokens(&env).await.len(), 1);

    // Signing out and in with the keyboard; the profile page.
    c.goto(&format!("{base}/console")).await.unwrap();
    click(&c, "header form button").await;
    c.goto(&format!("{base}/console/profile")).await.unwrap();
    wait_path(&c, "/console/login?next=%2Fconsole%2Fprofile").await;
    shot(&c, "login").await;
    fill(&c, "#email", "ann@acme.test").await;
    fill(&c, "#password", "analyst password 1\u{E007}").await;
    wait_path(&c, "/console/profile").await;
    assert!(source(&c).await.contains("Change your password"));
    shot(&c, "profile").await;
    c.close().await.unwrap();
}

/// The operations pages in Chromium (issue 15): a CSV with one bad row uploaded and
/// its refused row shown; a bill run as of 1 Feb 2026 started from the Jobs page and
/// watched until its page (reloading itself every 2 s) shows the invoices; a plan
/// migration through the wizard, confirmed after the list of its accounts, watched
/// until COMPLETED. Screenshots `ops-*.png`.
#[tokio::test]
async fn in_chromium_an_admin_imports_a_csv_runs_a_bill_run_and_a_migration() {
    let (env, server, _worker) = super::console_ops::acme_with_usage().await;
    let admin = super::console_session(&env, "acme", "admin@acme.test", "ADMINISTRATOR").await;
    let (_driver, c) = browser().await;
    // Signed in: the session's cookie, set by a script of the console's own origin
    // (the sign-in form is the other test's).
    c.goto(&server.url("/console/login")).await.unwrap();
    c.execute(
        &format!("document.cookie = 'billrun_session={admin}; path=/console';"),
        vec![],
    )
    .await
    .unwrap();
    c.goto(&server.url("/console")).await.unwrap();
    for nav in ["Jobs", "Imports", "Plan migrations"] {
        assert!(source(&c).await.contains(&format!(">{nav}</a>")), "{nav}");
    }

    // Imports: usage with one bad row (line 3, calls "lots").
    let csv = env.scratch().join("february-usage.csv");
    std::fs::write(&csv, super::console_ops::USAGE).unwrap();
    click(&c, "nav a[href='/console/imports']").await;
    click(&c, "#import-kind option[value='usage']").await;
    element(&c, "#import-file")
        .await
        .send_keys(csv.to_str().unwrap())
        .await
        .unwrap();
    shot(&c, "ops-import-form").await;
    click(
        &c,
        "form[enctype='multipart/form-data'] button[type=submit]",
    )
    .await;
    let page = wait_for(Duration::from_secs(60), "the import to finish", || async {
        let s = source(&c).await;
        s.contains("Finished:").then_some(s)
    })
    .await;
    assert!(
        page.contains("3 read: 2 imported, 0 skipped, 1 failed"),
        "{page}"
    );
    assert!(page.contains("line 3, column attribute.calls"), "{page}");
    element(&c, "a[href$='/errors']").await;
    shot(&c, "ops-import-refused-row").await;

    // A bill run as of 1 Feb 2026, watched until it is finished.
    click(&c, "nav a[href='/console/jobs']").await;
    c.execute(
        "document.getElementById('bill-run-as-of').value = '2026-02-01';",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "ops-jobs").await;
    click(
        &c,
        "form[action='/console/jobs/bill_run'] button[type=submit]",
    )
    .await;
    let page = wait_for(
        Duration::from_secs(60),
        "the bill run to finish",
        || async {
            let s = source(&c).await;
            s.contains("Invoices finalized").then_some(s)
        },
    )
    .await;
    // January's 99.00 in advance; February 1's 600.00 of usage + 99.00 = 699.00.
    assert!(
        page.contains("INV-2026-0001") && page.contains("$99.00"),
        "{page}"
    );
    assert!(
        page.contains("INV-2026-0002") && page.contains("$699.00"),
        "{page}"
    );
    assert!(
        !page.contains("http-equiv=\"refresh\""),
        "it stops reloading"
    );
    shot(&c, "ops-bill-run-finished").await;

    // The migration wizard: growth to scale at the next cycle, after confirmation.
    click(&c, "nav a[href='/console/migrations']").await;
    click(&c, "#mig-source option[value='growth']").await;
    click(&c, "#mig-target option[value='scale']").await;
    click(&c, "input[name=migration_mode][value=NEXT_CYCLE]").await;
    shot(&c, "ops-migration-form").await;
    click(&c, "form[action='/console/migrations'] button[type=submit]").await;
    let page = wait_for(Duration::from_secs(30), "the confirmation step", || async {
        let s = source(&c).await;
        s.contains("would be migrated").then_some(s)
    })
    .await;
    assert!(page.contains("1 account would be migrated"), "{page}");
    assert!(page.contains("<td>a1</td>"), "{page}");
    shot(&c, "ops-migration-confirm").await;
    click(&c, "form[action$='/confirm'] button[type=submit]").await;
    let page = wait_for(
        Duration::from_secs(60),
        "the migration to finish",
        || async {
            let s = source(&c).await;
            s.contains("id=\"migration-status\">COMPLETED<")
                .then_some(s)
        },
    )
    .await;
    assert!(
        page.contains("Accounts migrated: <strong>1 / 1</strong>"),
        "{page}"
    );
    shot(&c, "ops-migration-completed").await;
    c.close().await.unwrap();
}

/// The images of the PDF `bytes` as `pdfimages -list` reports them: (width, height).
fn pdf_images(env: &TestEnv, bytes: &[u8]) -> Vec<(u32, u32)> {
    let path = env.scratch().join("browser-invoice.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("pdfimages")
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

/// Settings in Chromium (issue 15): an Administrator signs in, uploads a logo with the
/// Logo page's file input, and the next invoice's PDF (a1's of 1 Mar 2026, closed
/// after the upload) shows it: `pdfimages` lists the sample logo's 480 × 128 image.
/// Screenshots of the home page (with the chart), the settings, logo, billing details
/// and aliases pages and the invoices list go to `target/console-screenshots/`.
#[tokio::test]
async fn in_chromium_an_admin_uploads_a_logo_and_the_next_invoice_shows_it() {
    let super::console::Billed {
        env,
        http,
        smtp: _smtp,
        server,
        ..
    } = super::console::billed_acme().await;
    let (_driver, c) = browser().await;
    let base = format!("http://127.0.0.1:{http}");
    // An Administrator whose password is "correct horse battery" (argon2id).
    super::console_session(&env, "acme", "admin@acme.test", "ADMINISTRATOR").await;
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

    c.goto(&format!("{base}/console/login")).await.unwrap();
    fill(&c, "#email", "admin@acme.test").await;
    fill(&c, "#password", "correct horse battery\u{E007}").await;
    wait_path(&c, "/console").await;
    element(&c, "[data-testid=billed-chart]").await;
    shot(&c, "home-chart").await;

    click(&c, "nav a[href='/console/settings']").await;
    element(&c, "[data-testid=next-number]").await;
    shot(&c, "settings").await;
    click(&c, "nav a[href='/console/billing_details']").await;
    shot(&c, "billing-details").await;
    click(&c, "nav a[href='/console/aliases']").await;
    shot(&c, "aliases").await;

    click(&c, "nav a[href='/console/logo']").await;
    assert!(source(&c).await.contains("No logo yet"));
    let logo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/billrun-render/assets/sample-logo.png");
    element(&c, "#logo-file")
        .await
        .send_keys(logo.to_str().unwrap())
        .await
        .unwrap();
    click(&c, "form[action='/console/logo'] button[type=submit]").await;
    wait_path(&c, "/console/logo?done=uploaded").await;
    let page = source(&c).await;
    assert!(page.contains("data-testid=\"logo-version\">1<"), "{page}");
    assert!(page.contains("png, 480 × 128 px"), "{page}");
    shot(&c, "logo").await;

    // The next invoice: a1's cycle closing on 1 Mar 2026, rendered after the upload.
    env.ok(&["run", "cycle-close", "--now", "2026-03-01T00:00:00Z"]);
    let id: String = sqlx::query_scalar(
        "SELECT id FROM invoices WHERE org_id = 'acme' AND account_id = 'a1'
            AND invoice_date = '2026-03-01'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    click(&c, "nav a[href='/console/invoices']").await;
    shot(&c, "invoices-after-logo").await;
    c.goto(&format!("{base}/console/invoices/{id}"))
        .await
        .unwrap();
    element(&c, "iframe.pdf").await;
    shot(&c, "invoice-with-logo").await;
    let session = c
        .get_named_cookie("billrun_session")
        .await
        .unwrap()
        .value()
        .to_string();
    let res = reqwest::Client::new()
        .get(server.url(&format!("/console/invoices/{id}/pdf")))
        .header("cookie", format!("billrun_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let pdf = res.bytes().await.unwrap();
    assert!(
        pdf_images(&env, &pdf).contains(&(480, 128)),
        "the logo is on the next invoice's PDF"
    );
    // Phone width (390 px): every page of the console fits, no sideways scrolling.
    c.set_window_size(390, 844).await.unwrap();
    for path in [
        "/console",
        "/console/invoices",
        "/console/jobs",
        "/console/imports",
        "/console/migrations",
        "/console/settings",
        "/console/logo",
        "/console/billing_details",
        "/console/aliases",
        "/console/api_tokens",
        "/console/users",
        "/console/profile",
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let fits: serde_json::Value = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
                vec![],
            )
            .await
            .unwrap();
        let name = path
            .trim_start_matches("/console")
            .trim_start_matches('/')
            .replace('/', "-");
        shot(
            &c,
            &format!("phone-{}", if name.is_empty() { "home" } else { &name }),
        )
        .await;
        assert_eq!(
            fits,
            serde_json::json!(true),
            "{path} is no wider than a phone"
        );
    }
    c.set_window_size(1280, 900).await.unwrap();
    c.close().await.unwrap();
}
