//! A credit note's email, idempotent issuing, and an invoice credited to nothing due
//! (README "Credit notes"): a real SMTP server (aiosmtpd) and the file outbox, the
//! real `billrun` binary, messages parsed back with Python's `email` module. Every
//! figure is worked by hand in the comments.

use billrun::queue::JobKind;
use serde_json::Value;

use crate::delivery::{free_port, mailbox_server, messages, smtp_config};
use crate::env::TestEnv;
use crate::harness::*;

/// Organisation `acme` (name "Acme & Sons", billing@acme.test) with the credit-note
/// plan (seats 100.00 and support 50.00 at 19 %, books 45.45 at 7 %), invoices
/// numbered INV-0001..., 30 days net; accounts a1 (billing ap@a1.test, additional
/// cfo@a1.test) and a2 (its customer's owner@a2.test); the bill run of 2026-02-01.
async fn setup(env: &TestEnv) {
    env.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(crate::credit_notes::plan())
        .await;
    env.account("acme", "a1").on_plan("fees").await;
    env.account("acme", "a2").on_plan("fees").await;
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
    for sql in [
        "UPDATE organisations SET billing_email = 'billing@acme.test', name = 'Acme & Sons'",
        "UPDATE accounts SET billing_emails = '{ap@a1.test}', additional_emails = '{cfo@a1.test}' WHERE id = 'a1'",
        "UPDATE customers SET primary_email = 'owner@a2.test' WHERE id = 'cust-a2'",
    ] {
        sqlx::query(sql).execute(env.pool()).await.unwrap();
    }
    env.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
}

fn number_of(env: &TestEnv, account: &str) -> String {
    let list = env.json(&["invoice", "list", "--org", "acme", "--json"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|i| i["accountId"] == account)
        .and_then(|i| i["number"].as_str())
        .unwrap_or_else(|| panic!("{account}'s invoice: {list}"))
        .to_string()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("a string: {v}"))
}

/// The first credit note's request on `invoice`, with `key`.
fn create_args<'a>(invoice: &'a str, key: &'a str, seats: &'a str) -> Vec<String> {
    [
        "credit-note",
        "create",
        "--org",
        "acme",
        "--invoice",
        invoice,
        "--line",
        seats,
        "--line",
        "support=10.01",
        "--line",
        "books=20.00",
        "--reason",
        "DUPLICATED_CHARGE",
        "--at",
        "2026-02-05T10:00:00Z",
        "--idempotency-key",
        key,
        "--json",
    ]
    .map(str::to_string)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn a_credit_note_is_emailed_once_per_recipient_with_its_pdf_and_xml() {
    let port = free_port();
    let env = TestEnv::with_config(&smtp_config(port, "")).await;
    let maildir = env.scratch().join("maildir");
    let _smtp = mailbox_server(port, &maildir, &env.scratch().join("smtp.log"));
    setup(&env).await;
    let invoice = number_of(&env, "a1");
    assert_eq!(invoice, "INV-0001");

    // Seats 33.33 + support 10.01 = 43.34 at 19 % = 8.2346 -> 8.23; books 20.00 at
    // 7 % = 1.40. Net 63.34, tax 9.63, total 72.97, all off the balance due:
    // 227.13 - 72.97 = 154.16 still due.
    let cn = env.json(&strs(&create_args(&invoice, "k-1", "seats=33.33")));
    assert_eq!(
        (
            s(&cn["number"]),
            s(&cn["total"]),
            s(&cn["invoiceAmountDue"]),
            s(&cn["invoiceStatus"])
        ),
        ("CN-2026-0001", "72.97", "154.16", "DUE")
    );
    let id = s(&cn["id"]).to_string();

    // Its email is a job enqueued in the note's transaction, once.
    let jobs = env.queued(JobKind::CreditNoteEmail).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let (job, req) = &jobs[0];
    assert_eq!(req.payload["creditNote"], id.as_str());
    assert_eq!(req.payload["organisation"], "acme");

    // The job, then the same job again (a worker that died before recording its
    // outcome): the second sends nothing.
    let at = "2026-02-05T10:00:00Z";
    let first = env
        .run_attempt(JobKind::CreditNoteEmail, req.payload.clone(), at, job, 1)
        .await
        .unwrap();
    assert_eq!(
        (&first["recipientsQueued"], &first["sent"], &first["failed"]),
        (&Value::from(2), &Value::from(2), &Value::from(0))
    );
    let again = env
        .run_attempt(JobKind::CreditNoteEmail, req.payload.clone(), at, job, 2)
        .await
        .unwrap();
    assert_eq!(
        (&again["recipientsQueued"], &again["sent"]),
        (&Value::from(0), &Value::from(0))
    );

    let notes: Vec<Value> = messages(&maildir)
        .into_iter()
        .filter(|m| s(&m["subject"]).contains("Credit note"))
        .collect();
    assert_eq!(notes.len(), 2, "one per recipient: {notes:#?}");
    let mut to: Vec<&str> = notes.iter().map(|m| s(&m["to"])).collect();
    to.sort();
    assert_eq!(to, ["ap@a1.test", "cfo@a1.test"]);
    for m in &notes {
        assert_eq!(
            s(&m["subject"]),
            "Credit note CN-2026-0001 from Acme & Sons (invoice INV-0001)"
        );
        assert!(s(&m["from"]).contains("billing@acme.test"), "{m}");
        let names: Vec<(&str, &str)> = m["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (s(&a["name"]), s(&a["type"])))
            .collect();
        assert_eq!(
            names,
            [
                ("CN-2026-0001.pdf", "application/pdf"),
                ("factur-x.xml", "text/xml")
            ]
        );
        assert_eq!(m["attachments"][0]["pdf"], true);
        let text = s(&m["text"]);
        for line in [
            "  Credit note number: CN-2026-0001\n",
            "  Date:               5 Feb 2026\n",
            "  For invoice:        INV-0001\n",
            "  Reason:             Duplicated charge\n",
            "  Net credited:       $63.34\n",
            "  Tax credited:       $9.63\n",
            "  Total credited:     $72.97\n",
            "  Off the invoice:    $72.97\n",
            "  Invoice now due:    $154.16\n",
        ] {
            assert!(text.contains(line), "{line:?} in:\n{text}");
        }
        assert!(
            !text.contains("As credits") && !text.contains("Refunded"),
            "{text}"
        );
        assert!(s(&m["html"]).contains("Acme &amp; Sons"));
    }
    let rows: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT recipient, status, attempts FROM credit_note_deliveries ORDER BY recipient",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            ("ap@a1.test".to_string(), "SENT".to_string(), 1),
            ("cfo@a1.test".to_string(), "SENT".to_string(), 1)
        ]
    );

    // The same key and request again: the same note, nothing new (no second job).
    let out = env.run(&strs(&create_args(&invoice, "k-1", "seats=33.330")));
    assert!(out.status.success(), "{}", stderr(&out));
    let replay: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (s(&replay["id"]), s(&replay["number"])),
        (id.as_str(), "CN-2026-0001")
    );
    assert!(stderr(&out).contains("issued before with this idempotency key"));
    assert_eq!(env.queued(JobKind::CreditNoteEmail).await.len(), 1);
    // The key with another request is refused, naming what differs; nothing written.
    let err = env.fails(&strs(&create_args(&invoice, "k-1", "seats=33.34")));
    assert!(
        err.contains("idempotency key \"k-1\" was already used for credit note CN-2026-0001")
            && err.contains("credit"),
        "{err}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM credit_notes")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);

    // A resend on purpose: both recipients again, marked as a copy.
    let out = env.ok(&["credit-note", "resend", "--org", "acme", "CN-2026-0001"]);
    assert!(
        out.contains("credit note CN-2026-0001: sent again to 2 of 2 recipient(s), 0 failed"),
        "{out}"
    );
    let copies = messages(&maildir)
        .into_iter()
        .filter(|m| s(&m["subject"]).starts_with("[Copy] Credit note CN-2026-0001"))
        .count();
    assert_eq!(copies, 2);
    let list = env.json(&[
        "credit-note",
        "deliveries",
        "--org",
        "acme",
        "CN-2026-0001",
        "--json",
    ]);
    let rows: Vec<(&str, &str, i64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                s(&d["recipient"]),
                s(&d["status"]),
                d["attempts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("ap@a1.test", "SENT", 1), ("cfo@a1.test", "SENT", 1)]
    );
}

#[tokio::test]
async fn a_note_taking_the_balance_due_to_zero_makes_the_invoice_paid_without_its_follow_up() {
    let env = TestEnv::new().await;
    setup(&env).await;
    let (n1, n2) = (number_of(&env, "a1"), number_of(&env, "a2"));

    // Everything net, 195.45 = 100.00 + 50.00 + 45.45: nothing of either rate left,
    // so the note takes the rates' whole tax, 28.50 + 3.18 = 31.68; total 227.13,
    // the whole balance due: 227.13 - 227.13 = 0.00 due, the invoice PAID.
    let cn = env.json(&[
        "credit-note",
        "create",
        "--org",
        "acme",
        "--invoice",
        &n1,
        "--amount",
        "195.45",
        "--reason",
        "ORDER_CANCELLATION",
        "--at",
        "2026-02-06T09:00:00Z",
        "--json",
    ]);
    assert_eq!(
        (
            s(&cn["tax"]),
            s(&cn["total"]),
            s(&cn["balanceAmount"]),
            s(&cn["invoiceAmountDue"]),
            s(&cn["invoiceStatus"])
        ),
        ("31.68", "227.13", "227.13", "0.00", "PAID")
    );
    let inv = env.json(&["invoice", "show", "--org", "acme", &n1, "--json"]);
    assert_eq!((s(&inv["status"]), s(&inv["amountDue"])), ("PAID", "0.00"));
    // Shown as such (issue 16): `paidByCreditNotes`, and in the text.
    assert_eq!(inv["paidByCreditNotes"], true, "{inv}");
    let text = env.ok(&["invoice", "show", "--org", "acme", &n1]);
    assert!(
        text.contains("status:       PAID (paid by credit notes: they took its balance to 0)"),
        "{text}"
    );
    let due = env.json(&["invoice", "show", "--org", "acme", &n2, "--json"]);
    assert_eq!(
        (s(&due["status"]), &due["paidByCreditNotes"]),
        ("DUE", &serde_json::json!(false))
    );
    let (paid_at, by_notes): (Option<chrono::DateTime<chrono::Utc>>, bool) =
        sqlx::query_as("SELECT paid_at, paid_by_credit_notes FROM invoices WHERE number = $1")
            .bind(&n1)
            .fetch_one(env.pool())
            .await
            .unwrap();
    assert_eq!(
        (paid_at.map(|t| t.to_rfc3339()), by_notes),
        (Some("2026-02-06T09:00:00+00:00".to_string()), true)
    );
    // Not a payment: no `invoice-paid` job (the PREPAID credits and entitlements it
    // would grant were not paid for), and it cannot be "paid" again.
    assert!(env.queued(JobKind::InvoicePaid).await.is_empty());
    env.fails(&["invoice", "mark-paid", "--org", "acme", &n1]);

    // A void's credit note is emailed too (the file outbox): everything left of a2's
    // invoice, 227.13, all of it off the balance due the void cancels.
    env.ok(&[
        "credit-note",
        "configure",
        "--org",
        "acme",
        "--void-issues-credit-note",
        "true",
    ]);
    env.ok(&["invoice", "void", "--org", "acme", &n2]);
    let jobs = env.queued(JobKind::CreditNoteEmail).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let (job, req) = &jobs[1];
    let r = env
        .run_attempt(
            JobKind::CreditNoteEmail,
            req.payload.clone(),
            "2026-02-06T09:00:00Z",
            job,
            1,
        )
        .await
        .unwrap();
    assert_eq!(r["sent"], 1, "{r}");
    // The outbox's .eml files, read as a Maildir to parse them.
    let outbox = env.scratch().join("data").join("outbox");
    let md = env.scratch().join("outbox-md");
    std::fs::create_dir_all(md.join("new")).unwrap();
    for e in std::fs::read_dir(&outbox).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, md.join("new").join(p.file_name().unwrap())).unwrap();
    }
    let notes: Vec<Value> = messages(&md)
        .into_iter()
        .filter(|m| s(&m["subject"]).starts_with("Credit note CN-2026-0002"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0]["to"], "owner@a2.test");
    let text = s(&notes[0]["text"]);
    for line in [
        "  Total credited:     $227.13\n",
        "  Off the invoice:    $227.13\n",
        "  The invoice is void: nothing is due.\n",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert_eq!(notes[0]["attachments"][0]["name"], "CN-2026-0002.pdf");
}

#[tokio::test]
async fn a_transient_smtp_failure_leaves_the_rows_queued_for_the_jobs_retry() {
    let port = free_port(); // nothing listens there yet
    let env = TestEnv::with_config(&smtp_config(
        port,
        "\n[retry]\nmax_attempts = 2\nbackoff_base_ms = 100\nbackoff_max_secs = 1\n",
    ))
    .await;
    setup(&env).await;
    let invoice = number_of(&env, "a2");
    env.ok(&strs(&create_args(&invoice, "k-2", "seats=33.33")));
    let jobs = env.queued(JobKind::CreditNoteEmail).await;
    let (job, req) = &jobs[0];
    let at = "2026-02-05T10:00:00Z";
    // Connection refused: retryable, the row QUEUED with its attempt and error.
    let e = env
        .run_attempt(JobKind::CreditNoteEmail, req.payload.clone(), at, job, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(e, billrun::queue::JobError::Retryable(_)) && e.to_string().contains("deferred"),
        "{e}"
    );
    let row: (String, i32, bool) = sqlx::query_as(
        "SELECT status, attempts, last_error IS NOT NULL FROM credit_note_deliveries",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(row, ("QUEUED".to_string(), 1, true));
    // The server is up for the retry: sent once.
    let maildir = env.scratch().join("maildir");
    let _smtp = mailbox_server(port, &maildir, &env.scratch().join("smtp.log"));
    let r = env
        .run_attempt(JobKind::CreditNoteEmail, req.payload.clone(), at, job, 2)
        .await
        .unwrap();
    assert_eq!(r["sent"], 1, "{r}");
    let got: Vec<Value> = messages(&maildir);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["to"], "owner@a2.test");
    let outcomes: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM credit_note_delivery_attempts ORDER BY id")
            .fetch_all(env.pool())
            .await
            .unwrap();
    assert_eq!(outcomes, ["DEFERRED", "SENT"]);
}
