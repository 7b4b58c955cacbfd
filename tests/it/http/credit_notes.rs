//! `/billrun/credit_notes` (README "Credit notes"): the CLI's rules over HTTP, errors
//! naming the field or line, another organisation's notes answering 404, audited.

use reqwest::Method;
use serde_json::json;

use super::{audit, row, token, Server};
use crate::env::TestEnv;

#[tokio::test]
async fn credit_notes_over_http() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(crate::credit_notes::plan()).await;
    env.account("acme", "a1").on_plan("fees").await;
    for (code, pct) in [("DE_STANDARD", "19"), ("DE_REDUCED", "7")] {
        let mut args = vec![
            "tax",
            "put-rate",
            "--org",
            "acme",
            code,
            "--name",
            code,
            "--percentage",
            pct,
        ];
        if code == "DE_STANDARD" {
            args.push("--default");
        }
        env.ok(&args);
    }
    env.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    env.org("other").await;
    let list = env.json(&["invoice", "list", "--org", "acme", "--json"]);
    let invoice = list
        .as_array()
        .unwrap()
        .iter()
        .find_map(|i| i["number"].as_str())
        .unwrap_or_else(|| panic!("a finalized invoice: {list}"))
        .to_string();
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let analyst = token(&env, "acme", "analyst", "analyst");
    let stranger = token(&env, "other", "admin", "administrator");

    // Net 100.00 + 50.00 + 45.45 = 195.45; tax 150.00 x 19 % = 28.50 and 45.45 x 7 %
    // = 3.1815 -> 3.18; 227.13 due. Seats 10.00: tax 1.90, total 11.90; due 227.13 -
    // 11.90 = 215.23.
    let (status, body) = server
        .send(
            Method::POST,
            "/billrun/credit_notes",
            &admin,
            Some(
                &json!({"invoiceId": invoice, "lines": [{"line": "seats", "amount": "10.00"}],
                         "reason": "ORDER_CHANGE", "description": "one seat less"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            &body["number"],
            &body["total"],
            &body["invoiceAmountDue"],
            &body["description"]
        ),
        (
            &json!("CN-2026-0001"),
            &json!("11.90"),
            &json!("215.23"),
            &json!("one seat less")
        )
    );
    // More than is left (195.45 - 10.00 = 185.45 net) is a conflict naming both amounts.
    let (status, body) = server
        .send(
            Method::POST,
            "/billrun/credit_notes",
            &admin,
            Some(&json!({"invoiceId": invoice, "amount": "185.46", "reason": "OTHER"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.to_string().contains("185.46") && body.to_string().contains("185.45"),
        "{body}"
    );
    let (status, body) = server
        .send(
            Method::POST,
            "/billrun/credit_notes",
            &admin,
            Some(&json!({"invoiceId": invoice, "amount": "1", "reason": "BECAUSE"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("reason"), "{body}");
    // The analyst reads, does not issue.
    let (status, _) = server
        .send(
            Method::POST,
            "/billrun/credit_notes",
            &analyst,
            Some(&json!({"invoiceId": invoice, "amount": "1", "reason": "OTHER"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = server.get("/billrun/credit_notes", Some(&analyst)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = server
        .get("/billrun/credit_notes/CN-2026-0001", Some(&admin))
        .await;
    assert_eq!(
        (status.as_u16(), &body["reason"]),
        (200, &json!("ORDER_CHANGE"))
    );
    // Another organisation's note and invoice do not exist for it.
    let (status, _) = server
        .get("/billrun/credit_notes/CN-2026-0001", Some(&stranger))
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .send(
            Method::POST,
            "/billrun/credit_notes",
            &stranger,
            Some(&json!({"invoiceId": invoice, "amount": "1", "reason": "OTHER"})),
        )
        .await;
    assert_eq!(status, 404);

    let expected = vec![
        row("credit_note.create", &invoice, "SUCCESS"),
        row("credit_note.create", &invoice, "FAILURE"),
        row("credit_note.create", &invoice, "FAILURE"),
    ];
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = audit(&env, &["credit_note.create"]).await;
        if rows.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rows, expected);

    // An idempotency key: the first request issues (201), the same again answers the
    // same note (200) and writes nothing, the key with another body is refused (409).
    // Support 5.00 at 19 %: tax 0.95, total 5.95; due 215.23 - 5.95 = 209.28.
    let keyed = json!({"invoiceId": invoice, "lines": [{"line": "support", "amount": "5.00"}],
                       "reason": "OTHER", "idempotencyKey": "retry-1"});
    let (status, first) = server
        .send(Method::POST, "/billrun/credit_notes", &admin, Some(&keyed))
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        (
            &first["number"],
            &first["total"],
            &first["invoiceAmountDue"]
        ),
        (&json!("CN-2026-0002"), &json!("5.95"), &json!("209.28"))
    );
    let (status, again) = server
        .send(Method::POST, "/billrun/credit_notes", &admin, Some(&keyed))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (&again["id"], &again["invoiceAmountDue"]),
        (&first["id"], &json!("209.28"))
    );
    let mut other = keyed.clone();
    other["reason"] = json!("ORDER_CHANGE");
    let (status, body) = server
        .send(Method::POST, "/billrun/credit_notes", &admin, Some(&other))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(
            "already used for credit note CN-2026-0002, whose request differs in: reason"
        ),
        "{body}"
    );

    // `paidByCreditNotes` (billrun's own field): false while 209.28 is due; a note of
    // everything left, 195.45 - 10.00 - 5.00 = 180.45 net with the rates' whole
    // remaining tax (28.50 - 1.90 - 0.95 = 25.65, and 3.18): 180.45 + 25.65 + 3.18 =
    // 209.28, takes the balance to 0: PAID, and true.
    let path = format!("/invoices/{invoice}");
    let (status, before) = server.get(&path, Some(&analyst)).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        (&before["status"], &before["paidByCreditNotes"]),
        (&json!("DUE"), &json!(false))
    );
    let (status, rest) = server
        .send(
            Method::POST,
            "/billrun/credit_notes",
            &admin,
            Some(
                &json!({"invoiceId": invoice, "amount": "180.45", "reason": "ORDER_CANCELLATION"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{rest}");
    assert_eq!(
        (&rest["total"], &rest["invoiceAmountDue"]),
        (&json!("209.28"), &json!("0.00"))
    );
    let (_, after) = server.get(&path, Some(&analyst)).await;
    assert_eq!(
        (&after["status"], &after["paidByCreditNotes"]),
        (&json!("PAID"), &json!(true)),
        "{after}"
    );

    // Resend: nobody to send it to is a conflict; with the customer's email, one
    // recipient, sent (the file outbox), audited.
    let (status, body) = server
        .send(
            Method::POST,
            "/billrun/credit_notes/CN-2026-0001/resend",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("no recipient"),
        "{body}"
    );
    sqlx::query("UPDATE customers SET primary_email = 'owner@a1.test' WHERE id = 'cust-a1'")
        .execute(env.pool())
        .await
        .unwrap();
    let (status, body) = server
        .send(
            Method::POST,
            "/billrun/credit_notes/CN-2026-0001/resend",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // No sender yet (no [mail] from, no organisation billing email): refused for good,
    // counted and named, not an error.
    assert_eq!(
        (
            &body["number"],
            &body["recipients"],
            &body["sent"],
            &body["failed"]
        ),
        (&json!("CN-2026-0001"), &json!(1), &json!(0), &json!(1))
    );
    assert_eq!(body["failures"][0]["recipient"], "owner@a1.test");
    assert!(
        body["failures"][0]["error"]
            .as_str()
            .unwrap()
            .contains("no From address"),
        "{body}"
    );
    sqlx::query("UPDATE organisations SET billing_email = 'billing@acme.test' WHERE id = 'acme'")
        .execute(env.pool())
        .await
        .unwrap();
    let (status, body) = server
        .send(
            Method::POST,
            "/billrun/credit_notes/CN-2026-0001/resend",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["recipients"], &body["sent"], &body["failed"]),
        (&json!(1), &json!(1), &json!(0))
    );
    assert_eq!(body["failures"], json!([]));
    let (status, _) = server
        .send(
            Method::POST,
            "/billrun/credit_notes/CN-2026-0001/resend",
            &stranger,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // A document that cannot be made says why (409), not a bare 503.
    sqlx::query("DELETE FROM credit_note_documents WHERE org_id = 'acme'")
        .execute(env.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE credit_notes SET lines = '{}' WHERE number = 'CN-2026-0001'")
        .execute(env.pool())
        .await
        .unwrap();
    let (status, body) = server
        .get("/billrun/credit_notes/CN-2026-0001/pdf", Some(&admin))
        .await;
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("credit note CN-2026-0001: its document cannot be made: stored amounts:"),
        "{message}"
    );

    // The credit-note settings are organisation settings too (audited).
    let (status, body) = server
        .get("/settings/creditNoteNumberFormat", Some(&analyst))
        .await;
    assert_eq!(
        (status.as_u16(), &body["value"]),
        (200, &json!("CN-{YYYY}-{SEQ:4}"))
    );
    for (id, value) in [
        ("creditNoteNumberFormat", "NOTE-{YY}-{SEQ:3}"),
        ("voidIssuesCreditNote", "true"),
    ] {
        let (status, body) = server
            .send(
                Method::PATCH,
                &format!("/settings/{id}"),
                &admin,
                Some(&json!({ "value": value })),
            )
            .await;
        assert_eq!(
            (status.as_u16(), &body["value"]),
            (201, &json!(value)),
            "{body}"
        );
    }
    let (status, body) = server
        .send(
            Method::PATCH,
            "/settings/voidIssuesCreditNote",
            &admin,
            Some(&json!({ "value": "maybe" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let settings = env.json(&["credit-note", "configure", "--org", "acme", "--json"]);
    assert_eq!(
        (&settings["numberFormat"], &settings["voidIssuesCreditNote"]),
        (&json!("NOTE-{YY}-{SEQ:3}"), &json!(true))
    );
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = audit(&env, &["setting.update", "credit_note.resend"]).await;
        if rows.len() >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        rows,
        vec![
            row("credit_note.resend", "CN-2026-0001", "FAILURE"),
            row("credit_note.resend", "CN-2026-0001", "SUCCESS"),
            row("credit_note.resend", "CN-2026-0001", "SUCCESS"),
            row("setting.update", "creditNoteNumberFormat", "SUCCESS"),
            row("setting.update", "voidIssuesCreditNote", "SUCCESS"),
            row("setting.update", "voidIssuesCreditNote", "FAILURE"),
        ]
    );
}

#[tokio::test]
async fn the_console_settings_page_sets_the_credit_note_settings() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = super::console_session(&env, "acme", "admin@acme.test", "ADMINISTRATOR").await;
    let csrf = billrun::identity::sessions::csrf_token(&admin);
    let page = server
        .console(Method::GET, "/console/settings", Some(&admin), &[])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("data-testid=\"credit-note-number-format\">CN-{YYYY}-{SEQ:4}<"));
    assert!(page
        .body
        .contains("data-testid=\"void-issues-credit-note\">no<"));
    // A bad format is a 422 page naming it; nothing changes.
    let bad = server
        .console(
            Method::POST,
            "/console/settings/credit_notes",
            Some(&admin),
            &[("csrf", &csrf), ("number_format", "CN-{Q}")],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("credit note number format"),
        "{}",
        bad.body
    );
    let ok = server
        .console(
            Method::POST,
            "/console/settings/credit_notes",
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("number_format", "ACN-{YY}-{SEQ:3}"),
                ("void_issues_credit_note", "on"),
            ],
        )
        .await;
    assert_eq!(
        ok.location.as_deref(),
        Some("/console/settings?done=credit_notes"),
        "{}",
        ok.body
    );
    let page = server
        .console(
            Method::GET,
            "/console/settings?done=credit_notes",
            Some(&admin),
            &[],
        )
        .await;
    assert!(page
        .body
        .contains("data-testid=\"credit-note-number-format\">ACN-{YY}-{SEQ:3}<"));
    assert!(page
        .body
        .contains("data-testid=\"void-issues-credit-note\">yes<"));
    let settings = env.json(&["credit-note", "configure", "--org", "acme", "--json"]);
    assert_eq!(
        (&settings["numberFormat"], &settings["voidIssuesCreditNote"]),
        (&json!("ACN-{YY}-{SEQ:3}"), &json!(true))
    );
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = audit(&env, &["setting.update"]).await;
        if rows.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        rows,
        [
            row("setting.update", "creditNoteNumberFormat", "SUCCESS"),
            row("setting.update", "voidIssuesCreditNote", "SUCCESS"),
        ]
    );
}
