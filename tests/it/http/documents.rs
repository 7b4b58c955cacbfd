//! billrun's own routes for invoices and their documents, through a real `billrun
//! serve`: the stored PDF and HTML, `PATCH /invoices/{id}` (PAID, VOID), resend and
//! re-render; the logo, billing-details profiles and templates. Statuses, bodies,
//! roles (403), another organisation's ids (404) and audit rows.

use std::path::Path;
use std::process::Command;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use super::{token, Server};
use crate::env::TestEnv;
use crate::fixtures;

/// An answer as it came: status, headers, bytes.
pub(super) struct Raw {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) bytes: Vec<u8>,
}

impl Raw {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "status {}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }
    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    pub(super) fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// `method path` with `token`, a body of `content_type` if given.
pub(super) async fn raw(
    server: &Server,
    method: Method,
    path: &str,
    token: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Raw {
    let mut req = server
        .client
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some((content_type, bytes)) = body {
        req = req.header("content-type", content_type).body(bytes);
    }
    let res = req.send().await.unwrap();
    Raw {
        status: res.status(),
        headers: res.headers().clone(),
        bytes: res.bytes().await.unwrap().to_vec(),
    }
}

/// `method path` with a JSON body.
async fn send(server: &Server, method: Method, path: &str, token: &str, body: &Value) -> Raw {
    raw(
        server,
        method,
        path,
        token,
        Some(("application/json", serde_json::to_vec(body).unwrap())),
    )
    .await
}

/// (action, object_id, outcome) of the organisation's audit rows whose action starts
/// with one of `prefixes`, in order.
pub(super) async fn audit(
    env: &TestEnv,
    org: &str,
    prefixes: &[&str],
) -> Vec<(String, String, String)> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT action, object_id, outcome FROM audit_log WHERE org_id = $1 ORDER BY id",
    )
    .bind(org)
    .fetch_all(env.pool())
    .await
    .unwrap();
    rows.into_iter()
        .filter(|(a, _, _)| prefixes.iter().any(|p| a.starts_with(p)))
        .collect()
}

fn row(action: &str, object: &str, outcome: &str) -> (String, String, String) {
    (action.into(), object.into(), outcome.into())
}

fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    assert!(
        out.status.success(),
        "pdftotext failed on {}",
        pdf.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `.eml` files in the default file outbox.
fn outbox(env: &TestEnv) -> Vec<String> {
    let dir = env.scratch().join("data").join("outbox");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .map(|p| std::fs::read_to_string(p).unwrap())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// acme (numbers INV-...) on the growth plan, accounts a1 and a2 each using 15,000
/// API calls in January, billed as of 2026-02-01: their 1 Feb invoices are $600.00 of
/// usage + $99.00 platform fee = $699.00 (DUE, rendered, emailed to the file outbox).
/// Returns (a1's, a2's) 1 Feb invoice numbers.
async fn billed(env: &TestEnv) -> (String, String) {
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.org("globex").await;
    for (i, a) in ["a1", "a2"].iter().enumerate() {
        env.account("acme", a)
            .with_usage(&format!("e{i}"), "2026-01-05T10:00:00Z", dec!(15000))
            .await;
    }
    sqlx::query("UPDATE accounts SET billing_emails = '{ap@a1.test}' WHERE id = 'a1'")
        .execute(env.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE organisations SET billing_email = 'billing@acme.test' WHERE id = 'acme'")
        .execute(env.pool())
        .await
        .unwrap();
    let out = env.run(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let number = |account: &'static str| async move {
        let (number, total, status): (String, rust_decimal::Decimal, String) = sqlx::query_as(
            "SELECT number, total, status FROM invoices
             WHERE org_id = 'acme' AND account_id = $1 AND boundary = '2026-02-01'",
        )
        .bind(account)
        .fetch_one(env.pool())
        .await
        .unwrap();
        assert_eq!((total, status.as_str()), (dec!(699.00), "DUE"));
        number
    };
    (number("a1").await, number("a2").await)
}

#[tokio::test]
async fn invoice_documents_download_and_paid_void_resend_rerender_act_on_the_callers_invoices() {
    let env = TestEnv::new().await;
    let (n1, n2) = billed(&env).await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let analyst = token(&env, "acme", "reader", "analyst");
    let pm = token(&env, "acme", "pm", "product-manager");
    let developer = token(&env, "acme", "dev", "developer");
    let globex = token(&env, "globex", "admin", "administrator");

    // The PDF: application/pdf, %PDF, the invoice number in its text.
    let pdf = raw(
        &server,
        Method::GET,
        &format!("/billrun/invoices/{n1}/pdf"),
        &analyst,
        None,
    )
    .await;
    assert_eq!(pdf.status, StatusCode::OK, "{}", pdf.text());
    assert_eq!(pdf.content_type(), "application/pdf");
    assert!(pdf.bytes.starts_with(b"%PDF"), "not a PDF");
    let file = env.scratch().join("a1.pdf");
    std::fs::write(&file, &pdf.bytes).unwrap();
    let text = pdf_text(&file);
    assert!(text.contains(&n1), "{text}");
    assert!(text.contains("699.00"), "{text}");
    // The HTML: the total.
    let html = raw(
        &server,
        Method::GET,
        &format!("/billrun/invoices/{n1}/html"),
        &analyst,
        None,
    )
    .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.content_type().starts_with("text/html"),
        "{}",
        html.content_type()
    );
    assert!(html.text().contains("699.00"), "{}", html.text());
    assert!(!html.text().contains("VOID"));

    // Another organisation's invoice is not found; a role without invoices is refused.
    let other = raw(
        &server,
        Method::GET,
        &format!("/billrun/invoices/{n1}/pdf"),
        &globex,
        None,
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text());
    assert!(other.json()["message"].as_str().unwrap().contains(&n1));
    let dev = raw(
        &server,
        Method::GET,
        &format!("/billrun/invoices/{n1}/html"),
        &developer,
        None,
    )
    .await;
    assert_eq!(dev.status, StatusCode::FORBIDDEN);
    let void = json!({"status": "VOID"});
    let r = send(
        &server,
        Method::PATCH,
        &format!("/invoices/{n1}"),
        &analyst,
        &void,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &server,
        Method::PATCH,
        &format!("/invoices/{n1}"),
        &globex,
        &void,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = raw(
        &server,
        Method::POST,
        &format!("/billrun/invoices/{n1}/resend"),
        &globex,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Resend: one recipient, one more message in the outbox, to ap@a1.test.
    let before = outbox(&env);
    let r = raw(
        &server,
        Method::POST,
        &format!("/billrun/invoices/{n1}/resend"),
        &pm,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    let errors: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, last_error FROM invoice_deliveries ORDER BY 1, 2")
            .fetch_all(env.pool())
            .await
            .unwrap();
    assert_eq!(
        (
            body["number"].as_str(),
            body["recipients"].as_u64(),
            body["sent"].as_u64(),
            body["failed"].as_u64()
        ),
        (Some(n1.as_str()), Some(1), Some(1), Some(0)),
        "{body} {errors:?}"
    );
    let after = outbox(&env);
    assert_eq!(after.len(), before.len() + 1);
    let new: Vec<&String> = after.iter().filter(|m| !before.contains(m)).collect();
    assert!(new[0].contains("To: ap@a1.test"), "{}", new[0]);

    // Void: VOID, its documents read VOID; again: 409, nothing done.
    let r = send(
        &server,
        Method::PATCH,
        &format!("/invoices/{n1}"),
        &admin,
        &void,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["status"], "VOID", "{body}");
    assert_eq!(body["sequenceId"], n1.as_str());
    let html = raw(
        &server,
        Method::GET,
        &format!("/billrun/invoices/{n1}/html"),
        &admin,
        None,
    )
    .await;
    assert!(html.text().contains("VOID"), "the documents read VOID");
    let r = send(
        &server,
        Method::PATCH,
        &format!("/invoices/{n1}"),
        &admin,
        &void,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("VOID already"));
    // Paid: a DUE invoice; a VOID one refuses.
    let paid = json!({"status": "PAID"});
    let r = send(
        &server,
        Method::PATCH,
        &format!("/invoices/{n1}"),
        &admin,
        &paid,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = send(
        &server,
        Method::PATCH,
        &format!("/invoices/{n2}"),
        &pm,
        &paid,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["status"], "PAID");
    assert_eq!(body["paidAmount"], json!(699.00));
    assert_eq!(body["totalAmount"], json!(699.00));
    let (status, got) = server.get(&format!("/invoices/{n2}"), Some(&analyst)).await;
    assert_eq!((status, &got["status"]), (StatusCode::OK, &json!("PAID")));
    // What billrun does not apply is a 400 naming it, nothing changed.
    let r = send(
        &server,
        Method::PATCH,
        &format!("/invoices/{n2}"),
        &admin,
        &json!({"status": "DUE"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["message"].as_str().unwrap().contains("DUE"));
    let r = send(
        &server,
        Method::PATCH,
        &format!("/invoices/{n2}"),
        &admin,
        &json!({"autoAdvance": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("autoAdvance"));
    // Re-render.
    let r = raw(
        &server,
        Method::POST,
        &format!("/billrun/invoices/{n2}/rerender"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["number"], n2.as_str());
    let r = raw(
        &server,
        Method::GET,
        "/billrun/invoices/NOPE-1/pdf",
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    assert_eq!(
        audit(&env, "acme", &["invoice."]).await,
        [
            row("invoice.resend", &n1, "SUCCESS"),
            row("invoice.void", &n1, "SUCCESS"),
            row("invoice.void", &n1, "FAILURE"),
            row("invoice.mark_paid", &n1, "FAILURE"),
            row("invoice.mark_paid", &n2, "SUCCESS"),
            row("invoice.rerender", &n2, "SUCCESS"),
        ]
    );
    assert_eq!(
        audit(&env, "globex", &["invoice."]).await,
        [
            row("invoice.void", &n1, "FAILURE"),
            row("invoice.resend", &n1, "FAILURE"),
        ]
    );
}

const LOGO: &[u8] = include_bytes!("../../../crates/billrun-render/assets/sample-logo.png");

#[tokio::test]
async fn the_logo_is_uploaded_checked_read_back_and_removed() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");

    let r = raw(&server, Method::GET, "/billrun/logo", &admin, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // Not an image: 400 naming the rule, nothing stored.
    let r = raw(
        &server,
        Method::PUT,
        "/billrun/logo?fileName=not-a-logo.pdf",
        &admin,
        Some(("image/png", b"%PDF-1.7\n1 0 obj << >> endobj\n".to_vec())),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("not-a-logo.pdf"), "{message}");
    assert!(message.contains("not a PNG or JPEG"), "{message}");
    assert!(message.contains("at most 1 MiB"), "{message}");
    // An Analyst may not change settings.
    let r = raw(
        &server,
        Method::PUT,
        "/billrun/logo",
        &analyst,
        Some(("image/png", LOGO.to_vec())),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = raw(
        &server,
        Method::PUT,
        "/billrun/logo?fileName=northwind.png",
        &admin,
        Some(("image/png", LOGO.to_vec())),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let info = r.json();
    assert_eq!(
        (
            &info["version"],
            &info["fileName"],
            &info["format"],
            &info["width"],
            &info["height"],
            &info["size"]
        ),
        (
            &json!(1),
            &json!("northwind.png"),
            &json!("png"),
            &json!(480),
            &json!(128),
            &json!(LOGO.len())
        ),
        "{info}"
    );
    // Read back byte for byte, by a reader; globex has none.
    let r = raw(&server, Method::GET, "/billrun/logo", &analyst, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), "image/png");
    assert_eq!(r.bytes, LOGO);
    let r = raw(&server, Method::GET, "/billrun/logo", &globex, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = raw(&server, Method::DELETE, "/billrun/logo", &admin, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = raw(&server, Method::GET, "/billrun/logo", &admin, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = raw(&server, Method::DELETE, "/billrun/logo", &admin, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    assert_eq!(
        audit(&env, "acme", &["logo."]).await,
        [
            row("logo.set", "acme", "FAILURE"),
            row("logo.set", "acme", "SUCCESS"),
            row("logo.remove", "acme", "SUCCESS"),
            row("logo.remove", "acme", "FAILURE"),
        ]
    );
}

#[tokio::test]
async fn billing_details_and_templates_are_managed_with_the_clis_checks() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.org("globex").await;
    env.account("acme", "a1").await;
    let server = Server::start(&env).await;
    let dev = token(&env, "acme", "dev", "developer");
    let pm = token(&env, "acme", "pm", "product-manager");
    let globex = token(&env, "globex", "admin", "administrator");

    let main = json!({
        "id": "main", "legalName": "Acme Cloud Services GmbH",
        "address": {"line1": "Friedrichstraße 10", "postalCode": "10117", "city": "Berlin", "country": "DE"},
        "taxId": "DE999888777", "paymentInstructions": ["IBAN DE00 1234 5678"]
    });
    let r = send(
        &server,
        Method::POST,
        "/billrun/billing_details",
        &pm,
        &main,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        &server,
        Method::POST,
        "/billrun/billing_details",
        &dev,
        &main,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let p = r.json();
    assert_eq!(p["legalName"], "Acme Cloud Services GmbH");
    assert_eq!(p["address"]["city"], "Berlin");
    assert_eq!(p["paymentInstructions"], json!(["IBAN DE00 1234 5678"]));
    let r = send(
        &server,
        Method::POST,
        "/billrun/billing_details",
        &dev,
        &main,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = send(
        &server,
        Method::POST,
        "/billrun/billing_details",
        &dev,
        &json!({"id": "bad", "legalName": "X", "email": "not-an-email"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap().contains("email"));
    // Changed: a field cleared with null, one set.
    let r = send(
        &server,
        Method::PATCH,
        "/billrun/billing_details/main",
        &dev,
        &json!({"taxId": null, "phone": "+49 30 1234"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = r.json();
    assert!(p.get("taxId").is_none(), "{p}");
    assert_eq!(p["phone"], "+49 30 1234");
    assert_eq!(p["address"]["city"], "Berlin", "untouched: {p}");
    let (status, list) = server.get("/billrun/billing_details", Some(&pm)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["phone"], "+49 30 1234");
    let (status, _) = server
        .get("/billrun/billing_details/main", Some(&globex))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = send(
        &server,
        Method::PATCH,
        "/billrun/billing_details/main",
        &globex,
        &json!({"phone": "1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Templates: a Tera error is a 400 naming the file and the line; nothing stored.
    let bad = json!({"id": "fancy", "billingDetails": "main",
                     "body": "<html>\n<p>\n{{ 1 + }}</p>\n</html>"});
    let r = send(&server, Method::POST, "/billrun/templates", &dev, &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("fancy.html.tera refused"), "{message}");
    // Tera's position: line 3.
    assert!(message.contains("--> 3:"), "{message}");
    let (_, builtin) = server.get("/billrun/templates/builtin", Some(&pm)).await;
    let body = builtin["body"].as_str().unwrap().to_string();
    assert!(body.contains("{{"), "{builtin}");
    let fancy =
        json!({"id": "fancy", "billingDetails": "main", "body": format!("{{# fancy #}}\n{body}")});
    let r = send(&server, Method::POST, "/billrun/templates", &pm, &fancy).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&server, Method::POST, "/billrun/templates", &dev, &fancy).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let t = r.json();
    assert_eq!(
        (&t["version"], &t["billingDetails"], &t["default"]),
        (&json!(1), &json!("main"), &json!(false))
    );
    let r = send(&server, Method::POST, "/billrun/templates", &dev, &fancy).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // The same text again is no new version; another text is version 2.
    let same = json!({"body": fancy["body"]});
    let r = send(
        &server,
        Method::PATCH,
        "/billrun/templates/fancy",
        &dev,
        &same,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["newVersion"], false);
    let v2 = json!({"body": format!("{{# fancy v2 #}}\n{body}")});
    let r = send(
        &server,
        Method::PATCH,
        "/billrun/templates/fancy",
        &dev,
        &v2,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (&r.json()["newVersion"], &r.json()["template"]["version"]),
        (&json!(true), &json!(2))
    );
    let (_, v1) = server
        .get("/billrun/templates/fancy?version=1", Some(&pm))
        .await;
    assert!(
        v1["body"].as_str().unwrap().starts_with("{# fancy #}"),
        "{v1}"
    );
    // The default, and an account's own.
    let r = raw(
        &server,
        Method::POST,
        "/billrun/templates/fancy/default",
        &dev,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["default"], true);
    let r = send(
        &server,
        Method::PUT,
        "/billrun/accounts/a1/template",
        &dev,
        &json!({"templateId": "builtin"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (_, list) = server.get("/billrun/templates", Some(&pm)).await;
    let ids: Vec<(&str, bool, Value)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap(),
                t["default"].as_bool().unwrap(),
                t["accounts"].clone(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("builtin", false, json!(["a1"])),
            ("fancy", true, json!([]))
        ]
    );
    let r = send(
        &server,
        Method::PUT,
        "/billrun/accounts/a1/template",
        &globex,
        &json!({"templateId": "builtin"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let (status, _) = server.get("/billrun/templates/fancy", Some(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(
        audit(
            &env,
            "acme",
            &["billing_details.", "template.", "account.set_template"]
        )
        .await,
        [
            row("billing_details.create", "main", "SUCCESS"),
            row("billing_details.create", "main", "FAILURE"),
            row("billing_details.create", "bad", "FAILURE"),
            row("billing_details.update", "main", "SUCCESS"),
            row("template.add", "fancy", "FAILURE"),
            row("template.add", "fancy", "SUCCESS"),
            row("template.add", "fancy", "FAILURE"),
            row("template.update", "fancy", "SUCCESS"),
            row("template.update", "fancy", "SUCCESS"),
            row("template.set_default", "fancy", "SUCCESS"),
            row("account.set_template", "a1", "SUCCESS"),
        ]
    );
}
