//! The render step of the bill run: every finalized invoice gets its HTML and PDF,
//! once; exported from the CLI and parsed back.

use std::process::Command;

use crate::fixtures;
use crate::harness::*;

#[tokio::test]
async fn every_finalized_invoice_gets_its_documents_once_and_they_read_back() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    fixtures::org(pool, "acme", "UTC", "INV-{YYYY}-{SEQ:4}", 15).await;
    fixtures::plan(pool, "acme", &fixtures::growth_plan(0)).await;
    fixtures::account(pool, "acme", "a1", "growth", "2026-01-01", None).await;
    sqlx::query(
        "UPDATE customers SET name = 'Müller <script>alert(1)</script> & Co' WHERE id = 'cust-a1'",
    )
    .execute(pool)
    .await
    .unwrap();
    fixtures::event(
        pool,
        "acme",
        "e1",
        "a1",
        "2026-01-05T10:00:00Z",
        rust_decimal_macros::dec!(15000),
    )
    .await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let cli = |args: &[&str]| {
        run({
            let mut c = billrun(&db.url, &config);
            c.args(args);
            c
        })
    };
    let out = cli(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (invoices, documents): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM invoices WHERE status = 'DUE'), (SELECT count(*) FROM invoice_documents)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        (invoices, documents),
        (2, 2),
        "one document per finalized invoice"
    );

    let pdf = scratch.path().join("inv.pdf");
    let html = scratch.path().join("inv.html");
    let out = cli(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-2026-0002",
        "--pdf",
        pdf.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    let text = String::from_utf8_lossy(&text.stdout);
    // The customer's name is drawn literally (wrapped inside its column).
    for expected in [
        "INV-2026-0002",
        "API calls",
        "Platform fee",
        "$699.00",
        "Müller",
        "<script>alert(1)</script> &",
        "acme",
    ] {
        assert!(
            text.contains(expected),
            "the PDF should show {expected:?}:\n{text}"
        );
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Müller &lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; Co")
            || page.contains("Müller &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "escaped in HTML"
    );
    assert!(!page.contains("<script>alert(1)"));

    // Running the step again renders nothing; an explicit re-render does.
    let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT rendered_at FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id WHERE i.number = 'INV-2026-0002'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let id: String = sqlx::query_scalar("SELECT id FROM invoices WHERE number = 'INV-2026-0002'")
        .fetch_one(pool)
        .await
        .unwrap();
    let payload = serde_json::json!({"organisation": "acme", "invoices": [id]}).to_string();
    let out = cli(&[
        "run",
        "render-chunk",
        &payload,
        "--now",
        "2026-02-02T00:00:00Z",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let job: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(job["result"]["rendered"], 0);
    let out = cli(&["invoice", "rerender", "--org", "acme", "INV-2026-0002"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT rendered_at FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id WHERE i.number = 'INV-2026-0002'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(after > before, "re-rendered on request");
}
