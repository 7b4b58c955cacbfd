//! The console's operations pages over HTTP (issue 15, README "Console"): one server
//! (`billrun serve`) and one worker. A bill run as of 1 Feb 2026 started from the
//! Jobs page, followed until its page stops reloading, with its invoices' numbers and
//! totals; a scheduled job cancelled and retried after confirmation pages; the
//! Analyst seeing no forms and refused (audited); the invoices list paged (next,
//! previous) and filtered by period; a CSV upload with one bad row (its CSRF token in
//! the form's action), its refused row named by line and column and its errors file;
//! and a plan migration through the wizard: the accounts listed before the
//! confirmation, then its progress to COMPLETED.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use rust_decimal_macros::dec;
use serde_json::json;

use super::{audit, console_session, row, Page, Server};
use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::wait_for;

/// The value of the hidden field `csrf` of the first form having it in `html`.
fn csrf(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let at = html
        .find(key)
        .unwrap_or_else(|| panic!("no csrf field: {html}"))
        + key.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// growth's twin: the same cycle (monthly on the 1st), a 149.00 platform fee.
pub(super) fn scale_plan() -> serde_json::Value {
    let mut plan = fixtures::growth_plan(0);
    plan["name"] = json!("scale");
    plan["fixedFeeRateCards"][0]["rateValues"][0]["rate"] = json!(149);
    plan
}

/// acme on growth (and scale, for migrations) with a1's 15,000 API calls of 5 Jan
/// 2026, a schedule `nightly-close` (02:00 UTC daily), a server and a worker (no
/// scheduler).
pub(super) async fn acme_with_usage() -> (TestEnv, Server, crate::env::Spawned) {
    let env = TestEnv::with_schedule(
        "",
        "[[schedule]]\nname = \"nightly-close\"\ncron = \"0 0 2 * * *\"\n\
         job = \"cycle-close\"\n",
    )
    .await;
    env.org("acme")
        .with_plan(fixtures::growth_plan(0))
        .with_plan(scale_plan())
        .await;
    env.account("acme", "a1")
        .with_usage("e1", "2026-01-05T10:00:00Z", dec!(15000))
        .await;
    let server = Server::start(&env).await;
    let worker = env.worker().no_scheduler().spawn();
    (env, server, worker)
}

/// GETs `path` until its page no longer reloads itself (at most 60 s).
async fn until_finished(server: &Server, path: &str, session: &str) -> Page {
    wait_for(Duration::from_secs(60), path, || async {
        let p = server.console(Method::GET, path, Some(session), &[]).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        (!p.body.contains("http-equiv=\"refresh\"")).then_some(p)
    })
    .await
}

/// A `multipart/form-data` body: text fields, then the file part `file`.
fn multipart(fields: &[(&str, &str)], file_name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "billrun-console-9XkT2";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POSTs a multipart body to `path` with the session cookie: status, Location, body.
async fn upload(server: &Server, path: &str, session: &str, body: (String, Vec<u8>)) -> Page {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(server.url(path))
        .header("cookie", format!("billrun_session={session}"))
        .header("content-type", body.0)
        .body(body.1)
        .send()
        .await
        .unwrap();
    Page {
        status: res.status(),
        location: res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string()),
        set_cookies: Vec::new(),
        body: res.text().await.unwrap(),
    }
}

/// Three usage rows of February (a cycle still open), the second bad on line 3
/// (`calls` is not a number): 2 imported, 1 refused.
pub(super) const USAGE: &str = "event_id,timestamp,account_id,schema,attribute.calls\n\
                                g1,2026-02-05T10:00:00Z,a1,api,100\n\
                                b1,2026-02-05T11:00:00Z,a1,api,lots\n\
                                g2,2026-02-06T10:00:00Z,a1,api,50\n";

#[tokio::test]
async fn the_console_runs_a_bill_run_jobs_an_import_and_a_plan_migration() {
    let (env, server, _worker) = acme_with_usage().await;
    let admin = console_session(&env, "acme", "admin@acme.test", "ADMINISTRATOR").await;
    let analyst = console_session(&env, "acme", "ann@acme.test", "ANALYST").await;
    let get = |path: String, session: String| {
        let server = &server;
        async move {
            server
                .console(Method::GET, &path, Some(&session), &[])
                .await
        }
    };

    // --- Jobs: the page, the schedule, a bill run as of 1 Feb 2026. ----------------
    let jobs = get("/console/jobs".into(), admin.clone()).await;
    assert_eq!(jobs.status, StatusCode::OK, "{}", jobs.body);
    for needle in [
        "Run the bill run",
        "Schedule: the next fire times",
        "nightly-close",
        // Every day at 02:00 in UTC (the default timezone).
        "02:00:00 UTC<br>",
    ] {
        assert!(jobs.body.contains(needle), "{needle}: {}", jobs.body);
    }
    let token = csrf(&jobs.body);
    let bad = server
        .console(
            Method::POST,
            "/console/jobs/bill_run",
            Some(&admin),
            &[("csrf", &token), ("as_of", "1 Feb 2026")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad
        .body
        .contains("as of &quot;1 Feb 2026&quot;: expected a date as YYYY-MM-DD"));
    let run = server
        .console(
            Method::POST,
            "/console/jobs/bill_run",
            Some(&admin),
            &[("csrf", &token), ("as_of", "2026-02-01")],
        )
        .await;
    assert_eq!(run.status, StatusCode::SEE_OTHER, "{}", run.body);
    let job_path = run.location.unwrap();
    assert!(job_path.starts_with("/console/jobs/"), "{job_path}");
    let job_id = job_path.rsplit('/').next().unwrap().to_string();
    let done = until_finished(&server, &job_path, &admin).await;
    // a1's two invoices: January's opening one, the 99.00 platform fee in advance;
    // and 1 Feb's: 1,000 x 0.10 + 9,000 x 0.05 + 5,000 x 0.01 = 100 + 450 + 50 =
    // 600.00 of usage for 15,000 calls, + 99.00 = 699.00. One account, closed.
    let body = &done.body;
    assert!(
        body.contains("Accounts closed: <strong>1 / 1</strong>"),
        "{body}"
    );
    assert!(body.contains("1 Feb 2026 00:00:00 UTC"), "as of: {body}");
    let billed = body
        .split("id=\"billed\"")
        .nth(1)
        .expect("the invoices table");
    let at1 = billed.find("INV-2026-0001").expect("INV-2026-0001");
    let at2 = billed.find("INV-2026-0002").expect("INV-2026-0002");
    assert!(billed[at1..at2].contains("$99.00"), "{billed}");
    assert!(billed[at2..].contains("$699.00"), "{billed}");

    // --- One-off jobs from the Jobs page's forms: render again, email again. ------
    let (inv_id, rendered_before): (String, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT i.id, d.rendered_at FROM invoices i
         JOIN invoice_documents d ON d.org_id = i.org_id AND d.invoice_id = i.id
         WHERE i.org_id = 'acme' AND i.number = 'INV-2026-0002'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    let empty = server
        .console(
            Method::POST,
            "/console/jobs/rerender",
            Some(&admin),
            &[("csrf", &token), ("invoice", " ")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("invoice: required"), "{}", empty.body);
    let again = server
        .console(
            Method::POST,
            "/console/jobs/rerender",
            Some(&admin),
            &[("csrf", &token), ("invoice", "INV-2026-0002")],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(
        again.location.as_deref(),
        Some(format!("/console/invoices/{inv_id}?done=rerendered").as_str())
    );
    let rendered_after: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT rendered_at FROM invoice_documents WHERE org_id = 'acme' AND invoice_id = $1",
    )
    .bind(&inv_id)
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert!(
        rendered_after > rendered_before,
        "rendered again, and waited for"
    );
    // a1 had no address when the bill run emailed it (nor acme a sender); with them, "email again" sends
    // INV-2026-0002 to it once, and waits for it.
    sqlx::query("UPDATE accounts SET billing_emails = '{billing@a1.test}' WHERE org_id = 'acme' AND id = 'a1'")
        .execute(env.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE organisations SET billing_email = 'billing@acme.test' WHERE id = 'acme'")
        .execute(env.pool())
        .await
        .unwrap();
    let sent = server
        .console(
            Method::POST,
            "/console/jobs/resend",
            Some(&admin),
            &[("csrf", &token), ("invoice", "INV-2026-0002")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert!(sent
        .location
        .as_deref()
        .unwrap_or_default()
        .starts_with(&format!("/console/invoices/{inv_id}?done=")));
    let deliveries: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT recipient, status, last_error FROM invoice_deliveries WHERE org_id = 'acme' AND invoice_id = $1",
    )
    .bind(&inv_id)
    .fetch_all(env.pool())
    .await
    .unwrap();
    assert_eq!(
        deliveries,
        vec![("billing@a1.test".to_string(), "SENT".to_string(), None)]
    );
    let rows = audit(&env, &["invoice.rerender", "invoice.resend"]).await;
    let seen: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.2.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("invoice.rerender", "SUCCESS"),
            ("invoice.resend", "SUCCESS")
        ],
        "{rows:?}"
    );

    // --- Invoices: one per page, next then previous; a period filter. ---------------
    let first = get("/console/invoices?size=1".into(), admin.clone()).await;
    assert!(first.body.contains("INV-2026-0002") && !first.body.contains("INV-2026-0001"));
    assert!(!first.body.contains("rel=\"prev\""));
    let next = first
        .body
        .split("rel=\"next\"")
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x2F;", "/");
    let second = get(next, admin.clone()).await;
    assert!(second.body.contains("INV-2026-0001") && !second.body.contains("INV-2026-0002"));
    assert!(
        !second.body.contains("rel=\"next\""),
        "two invoices: the last page"
    );
    let prev = second
        .body
        .split("rel=\"prev\"")
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#x2F;", "/");
    assert_eq!(prev, "/console/invoices?size=1");
    // Dated 1 Feb 2026 only: INV-2026-0002.
    let feb = get(
        "/console/invoices?from=2026-02-01&to=2026-02-28".into(),
        admin.clone(),
    )
    .await;
    assert!(feb.body.contains("INV-2026-0002") && !feb.body.contains("INV-2026-0001"));
    let bad = get("/console/invoices?from=February".into(), admin.clone()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad
        .body
        .contains("from &quot;February&quot;: expected a date as YYYY-MM-DD"));

    // --- A scheduled job: cancel, then retry, each after its confirmation page. ------
    let api = super::token(&env, "acme", "admin", "administrator");
    let (status, job) = server
        .post(
            "/billrun/jobs",
            &api,
            &json!({"kind": "credit-expiry", "runAt": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let later = job["id"].as_str().unwrap().to_string();
    let jobs = get("/console/jobs".into(), admin.clone()).await;
    assert!(jobs
        .body
        .contains(&format!("href=\"/console/jobs/{later}/cancel\"")));
    let ask = get(format!("/console/jobs/{later}/cancel"), admin.clone()).await;
    assert!(
        ask.body.contains("Cancel the credit-expiry job"),
        "{}",
        ask.body
    );
    let cancelled = server
        .console(
            Method::POST,
            &format!("/console/jobs/{later}/cancel"),
            Some(&admin),
            &[("csrf", &csrf(&ask.body))],
        )
        .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.body
    );
    let page = get(format!("/console/jobs/{later}"), admin.clone()).await;
    assert!(
        page.body.contains("id=\"job-state\">cancelled<"),
        "{}",
        page.body
    );
    let ask = get(format!("/console/jobs/{later}/retry"), admin.clone()).await;
    assert!(ask.body.contains("Give the credit-expiry job"));
    let retried = server
        .console(
            Method::POST,
            &format!("/console/jobs/{later}/retry"),
            Some(&admin),
            &[("csrf", &csrf(&ask.body))],
        )
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER);
    // Retrying a job that is not dead or cancelled: a 409 page.
    let again = server
        .console(
            Method::POST,
            &format!("/console/jobs/{job_id}/retry"),
            Some(&admin),
            &[("csrf", &csrf(&ask.body))],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    // --- The Analyst reads without forms, and is refused (audited). -----------------
    let seen = get("/console/jobs".into(), analyst.clone()).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.body.contains("Run the bill run") && !seen.body.contains("Retry…"));
    let refused = server
        .console(
            Method::POST,
            "/console/jobs/bill_run",
            Some(&analyst),
            &[("csrf", &csrf(&seen.body)), ("as_of", "2026-03-01")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let imports = get("/console/imports".into(), analyst.clone()).await;
    assert_eq!(imports.status, StatusCode::OK);
    assert!(!imports.body.contains("Upload and import"));
    let migrations = get("/console/migrations".into(), analyst.clone()).await;
    assert!(!migrations.body.contains("Next: see the accounts"));

    // --- An import with one bad row. -------------------------------------------------
    let page = get("/console/imports".into(), admin.clone()).await;
    assert!(page.body.contains("Upload and import"));
    let token = csrf(&page.body);
    let file = || {
        multipart(
            &[("kind", "usage"), ("map", "")],
            "feb.csv",
            USAGE.as_bytes(),
        )
    };
    // Without its token in the action: refused, nothing stored.
    let forged = upload(&server, "/console/imports", &admin, file()).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(forged.body.contains("Form refused"));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let up = upload(
        &server,
        &format!("/console/imports?csrf={token}"),
        &admin,
        file(),
    )
    .await;
    assert_eq!(up.status, StatusCode::SEE_OTHER, "{}", up.body);
    let import_path = up.location.unwrap();
    let import = until_finished(&server, &import_path, &admin).await;
    let body = &import.body;
    assert!(
        body.contains("3 read: 2 imported, 0 skipped, 1 failed"),
        "{body}"
    );
    assert!(body.contains("Rows refused (1)"), "{body}");
    assert!(
        body.contains("line 3, column attribute.calls"),
        "the error names line 3 and the column: {body}"
    );
    let errors = get(format!("{import_path}/errors"), admin.clone()).await;
    assert_eq!(errors.status, StatusCode::OK);
    let mut lines = errors.body.lines();
    assert_eq!(
        lines.next(),
        Some("event_id,timestamp,account_id,schema,attribute.calls,error")
    );
    let bad_row = lines.next().unwrap();
    assert!(
        bad_row.starts_with("b1,2026-02-05T11:00:00Z,a1,api,lots,"),
        "{bad_row}"
    );
    assert_eq!(lines.next(), None);

    // --- A plan migration through the wizard. ----------------------------------------
    let wizard = get("/console/migrations".into(), admin.clone()).await;
    assert!(
        wizard.body.contains("Next: see the accounts"),
        "{}",
        wizard.body
    );
    let token = csrf(&wizard.body);
    let created = server
        .console(
            Method::POST,
            "/console/migrations",
            Some(&admin),
            &[
                ("csrf", &token),
                ("source_id", "growth"),
                ("source_version", "LATEST"),
                ("target_id", "scale"),
                ("target_version", ""),
                ("migration_mode", "NEXT_CYCLE"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let mig_path = created.location.unwrap();
    let mig_id = mig_path.rsplit('/').next().unwrap().to_string();
    let confirm = get(mig_path.clone(), admin.clone()).await;
    assert!(
        confirm.body.contains("1 account would be migrated"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("<td>a1</td>"));
    assert!(confirm.body.contains("AWAITING_CONFIRMATION"));
    let confirmed = server
        .console(
            Method::POST,
            &format!("{mig_path}/confirm"),
            Some(&admin),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );
    let done = until_finished(&server, &mig_path, &admin).await;
    assert!(
        done.body.contains("id=\"migration-status\">COMPLETED<"),
        "{}",
        done.body
    );
    assert!(done
        .body
        .contains("Accounts migrated: <strong>1 / 1</strong>"));

    // --- The audit trail. ------------------------------------------------------------
    let rows = wait_for(Duration::from_secs(20), "the audit rows", || async {
        let rows = audit(
            &env,
            &[
                "bill_run.create",
                "job.cancel",
                "job.retry",
                "import.create",
                "plan_migration.create",
                "plan_migration.confirm",
                "request.forbidden",
            ],
        )
        .await;
        (rows.len() >= 8).then_some(rows)
    })
    .await;
    let import_id = import_path.rsplit('/').next().unwrap();
    assert_eq!(
        rows,
        [
            row("bill_run.create", &job_id, "SUCCESS"),
            row("job.cancel", &later, "SUCCESS"),
            row("job.retry", &later, "SUCCESS"),
            row("job.retry", &job_id, "FAILURE"),
            row(
                "request.forbidden",
                "POST /console/jobs/bill_run",
                "FAILURE"
            ),
            row("import.create", import_id, "SUCCESS"),
            row("plan_migration.create", &mig_id, "SUCCESS"),
            row("plan_migration.confirm", &mig_id, "SUCCESS"),
        ]
    );
}
