//! Paged listings (issue 12 item 15): `invoice list` and `deliveries list` are
//! newest first in a stable order, say when they are cut ("3 of 7 invoices") on
//! stderr, and page with `--limit N --after CURSOR` so that every row is listed
//! exactly once, even when rows arrive between pages.

use serde_json::Value;

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

/// A DRAFT invoice written straight to the table (what is listed, not how it was
/// billed, is under test): `id` for `account` at `boundary`, associated from `from`.
async fn invoice(cli: &Cli, id: &str, account: &str, from: &str, boundary: &str) {
    sqlx::query(
        "INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id,
             plan_version, currency, sub_total, total, lines, grace_ends_at, computed_at)
         VALUES ('acme', $1, $2, $3::date, $4::date, 'growth', 1, 'USD', 10, 10, '{}', now(), now())",
    )
    .bind(id)
    .bind(account)
    .bind(from)
    .bind(boundary)
    .execute(&cli.db.pool)
    .await
    .unwrap();
}

async fn delivery(cli: &Cli, invoice: &str, recipient: &str) {
    sqlx::query(
        "INSERT INTO invoice_deliveries (org_id, invoice_id, recipient, status)
         VALUES ('acme', $1, $2, 'SENT')",
    )
    .bind(invoice)
    .bind(recipient)
    .execute(&cli.db.pool)
    .await
    .unwrap();
}

/// Seven invoices. In listing order (boundary descending, then account, then id
/// descending): inv-6 (Mar 1); at Feb 1 a1's inv-5 and inv-3 (two associations of
/// a1 end there: the newer id first), then a2's inv-4; inv-7 (Jan 15); at Jan 1
/// a1's inv-1, then a2's inv-2.
const ORDER: [&str; 7] = [
    "inv-6", "inv-5", "inv-3", "inv-4", "inv-7", "inv-1", "inv-2",
];

async fn seven_invoices() -> TestEnv {
    let cli = TestEnv::new().await;
    cli.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(fixtures::growth_plan(0))
        .await;
    for a in ["a1", "a2", "a3"] {
        cli.account("acme", a).from("2025-12-01").await;
    }
    // Written in an order unlike the listing's, so that insertion order cannot pass.
    invoice(&cli, "inv-1", "a1", "2025-12-01", "2026-01-01").await;
    invoice(&cli, "inv-7", "a3", "2025-12-01", "2026-01-15").await;
    invoice(&cli, "inv-2", "a2", "2025-12-01", "2026-01-01").await;
    invoice(&cli, "inv-6", "a1", "2025-12-01", "2026-03-01").await;
    invoice(&cli, "inv-3", "a1", "2025-12-01", "2026-02-01").await;
    invoice(&cli, "inv-4", "a2", "2025-12-01", "2026-02-01").await;
    invoice(&cli, "inv-5", "a1", "2026-01-20", "2026-02-01").await;
    cli
}

/// `invoice list` with `args`: (the ids listed, stderr).
fn page(cli: &Cli, args: &[&str]) -> (Vec<String>, String) {
    let mut all = vec!["invoice", "list", "--org", "acme", "--json"];
    all.extend_from_slice(args);
    let out = cli.run(&all);
    assert!(out.status.success(), "{all:?}: {}", stderr(&out));
    let rows: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let ids = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    (ids, stderr(&out))
}

#[tokio::test]
async fn invoice_list_is_newest_first_says_3_of_7_and_pages_through_every_invoice_once() {
    let cli = seven_invoices().await;

    // Everything fits: newest first, and no note.
    let (ids, err) = page(&cli, &[]);
    assert_eq!(ids, ORDER);
    assert!(!err.contains(" of "), "{err}");

    // The text table: the same order, the note on stderr (the table stays parseable).
    let out = cli.run(&["invoice", "list", "--org", "acme", "--limit", "3"]);
    assert!(out.status.success());
    let accounts: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    assert_eq!(accounts, ["a1", "a1", "a1"], "inv-6, inv-5, inv-3");
    assert!(!stdout(&out).contains(" of 7"), "{}", stdout(&out));
    assert_eq!(
        stderr(&out).trim(),
        "3 of 7 invoices (1-3, newest first); next page: --after inv-3"
    );

    // Paging by 3: pages [6 5 3] [4 7 1] [2].
    let (first, err) = page(&cli, &["--limit", "3"]);
    assert_eq!(first, ["inv-6", "inv-5", "inv-3"]);
    assert!(err.contains("3 of 7 invoices (1-3, newest first); next page: --after inv-3"));
    // A newer invoice arrives between pages: it lands before the cursor, so the
    // following pages neither repeat nor skip anything (only the count grows).
    invoice(&cli, "inv-8", "a2", "2025-12-01", "2026-04-01").await;
    let (second, err) = page(&cli, &["--limit", "3", "--after", "inv-3"]);
    assert_eq!(second, ["inv-4", "inv-7", "inv-1"]);
    assert!(
        err.contains("3 of 8 invoices (5-7, newest first); next page: --after inv-1"),
        "{err}"
    );
    let (third, err) = page(&cli, &["--limit", "3", "--after", "inv-1"]);
    assert_eq!(third, ["inv-2"]);
    assert!(
        err.contains("1 of 8 invoices (8-8, newest first); last page"),
        "{err}"
    );
    let visited: Vec<String> = [first, second, third].concat();
    assert_eq!(visited, ORDER, "each of the seven exactly once, in order");

    // By 2, the cursor falls between a1's two Feb invoices (the id tie-break), and
    // inv-8 is now the newest.
    let mut visited = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["--limit", "2"];
        if let Some(a) = &after {
            args.extend(["--after", a.as_str()]);
        }
        let (ids, err) = page(&cli, &args);
        visited.extend(ids);
        match err.split("--after ").nth(1) {
            Some(c) => after = Some(c.trim().to_string()),
            None => break,
        }
    }
    assert_eq!(
        visited,
        ["inv-8", "inv-6", "inv-5", "inv-3", "inv-4", "inv-7", "inv-1", "inv-2"]
    );

    // Filters apply to the page and to the count.
    let (ids, err) = page(&cli, &["--account", "a1", "--limit", "2"]);
    assert_eq!(ids, ["inv-6", "inv-5"]);
    assert!(err.contains("2 of 4 invoices (1-2, newest first)"), "{err}");

    // A cursor that names no invoice, and a limit below 1, are refused.
    let err = cli.fails(&["invoice", "list", "--org", "acme", "--after", "inv-9"]);
    assert!(
        err.contains("--after inv-9: organisation acme has no invoice with that id"),
        "{err}"
    );
    let err = cli.fails(&["invoice", "list", "--org", "acme", "--limit", "0"]);
    assert!(
        err.contains("--limit 0: expected a number of rows, 1 or more"),
        "{err}"
    );
}

/// `deliveries list` with `args`: ("invoice recipient" of each row, stderr).
fn deliveries_page(cli: &Cli, args: &[&str]) -> (Vec<String>, String) {
    let mut all = vec!["deliveries", "list", "--org", "acme", "--json"];
    all.extend_from_slice(args);
    let out = cli.run(&all);
    assert!(out.status.success(), "{all:?}: {}", stderr(&out));
    let rows: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["invoice_id"]
                    .as_str()
                    .or(d["invoiceId"].as_str())
                    .unwrap(),
                d["recipient"].as_str().unwrap()
            )
        })
        .collect();
    (listed, stderr(&out))
}

#[tokio::test]
async fn deliveries_list_follows_the_invoice_order_and_pages_through_every_delivery_once() {
    let cli = seven_invoices().await;
    // Seven deliveries: inv-1 to b and a, inv-6 to a and b, inv-3 to c, a and b.
    for (inv, to) in [
        ("inv-1", "b@x.example"),
        ("inv-6", "b@x.example"),
        ("inv-3", "c@x.example"),
        ("inv-1", "a@x.example"),
        ("inv-3", "a@x.example"),
        ("inv-6", "a@x.example"),
        ("inv-3", "b@x.example"),
    ] {
        delivery(&cli, inv, to).await;
    }
    // The invoices' order (inv-6, inv-3, inv-1), each invoice's recipients A to Z.
    let order = [
        "inv-6 a@x.example",
        "inv-6 b@x.example",
        "inv-3 a@x.example",
        "inv-3 b@x.example",
        "inv-3 c@x.example",
        "inv-1 a@x.example",
        "inv-1 b@x.example",
    ];
    let (all, err) = deliveries_page(&cli, &[]);
    assert_eq!(all, order);
    assert!(!err.contains(" of "), "{err}");

    let (first, err) = deliveries_page(&cli, &["--limit", "3"]);
    assert_eq!(first, order[..3]);
    assert!(
        err.contains("3 of 7 deliveries (1-3, newest first); next page: --after inv-3:a@x.example"),
        "{err}"
    );
    // A retry updates a row already listed: it does not move.
    sqlx::query(
        "UPDATE invoice_deliveries SET attempts = 2, updated_at = now() WHERE invoice_id = 'inv-6'",
    )
    .execute(&cli.db.pool)
    .await
    .unwrap();
    let (second, err) = deliveries_page(&cli, &["--limit", "3", "--after", "inv-3:a@x.example"]);
    assert_eq!(second, order[3..6]);
    assert!(
        err.contains("3 of 7 deliveries (4-6, newest first); next page: --after inv-1:a@x.example"),
        "{err}"
    );
    let (third, err) = deliveries_page(&cli, &["--limit", "3", "--after", "inv-1:a@x.example"]);
    assert_eq!(third, order[6..]);
    assert!(
        err.contains("1 of 7 deliveries (7-7, newest first); last page"),
        "{err}"
    );

    // The text table says the same on stderr.
    let out = cli.run(&["deliveries", "list", "--org", "acme", "--limit", "3"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).lines().count(), 4, "header and 3 rows");
    assert!(
        stderr(&out).contains("3 of 7 deliveries"),
        "{}",
        stderr(&out)
    );

    let err = cli.fails(&["deliveries", "list", "--org", "acme", "--after", "inv-3"]);
    assert!(
        err.contains("--after inv-3: expected INVOICE_ID:RECIPIENT"),
        "{err}"
    );
}

/// Every page of a listing (`args` then `--limit 2 [--after C]`): the ids in the
/// order listed, and the notes printed.
fn every_page(cli: &Cli, args: &[&str]) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut notes) = (Vec::new(), Vec::new());
    let mut after: Option<String> = None;
    loop {
        let mut all = args.to_vec();
        all.extend(["--json", "--limit", "2"]);
        if let Some(a) = &after {
            all.extend(["--after", a.as_str()]);
        }
        let out = cli.run(&all);
        assert!(out.status.success(), "{all:?}: {}", stderr(&out));
        let rows: Value = serde_json::from_str(&stdout(&out)).unwrap();
        ids.extend(
            rows.as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        let note = stderr(&out).trim().to_string();
        after = note.split("--after ").nth(1).map(|c| c.trim().to_string());
        notes.push(note);
        if after.is_none() {
            return (ids, notes);
        }
    }
}

#[tokio::test]
async fn jobs_imports_and_late_usage_are_paged_the_same_way() {
    let cli = TestEnv::new().await;
    let pool = &cli.db.pool;
    cli.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .await;

    // Five jobs, enqueued one after the other (job ids are ULIDs: creation order).
    let jobs: Vec<String> = (1..=5)
        .map(|i| {
            cli.ok(&[
                "enqueue",
                "probe",
                &format!(r#"{{"key":"k{i}"}}"#),
                "--org",
                "acme",
                "--at",
                "2030-01-01T00:00:00Z",
            ])
            .trim()
            .to_string()
        })
        .collect();
    let (ids, notes) = every_page(&cli, &["jobs", "list", "--org", "acme"]);
    let newest_first: Vec<String> = jobs.iter().rev().cloned().collect();
    assert_eq!(ids, newest_first);
    assert_eq!(
        notes,
        [
            format!(
                "2 of 5 jobs (1-2, newest first); next page: --after {}",
                jobs[3]
            ),
            format!(
                "2 of 5 jobs (3-4, newest first); next page: --after {}",
                jobs[1]
            ),
            "1 of 5 jobs (5-5, newest first); last page".to_string(),
        ]
    );

    let err = cli.fails(&["jobs", "list", "--after", "inv-1"]);
    assert!(err.contains("--after inv-1: expected a job id"), "{err}");

    // Three imports (stored, not run: no worker).
    let csv = cli.write("usage.csv", &fixtures_usage_csv());
    let imports: Vec<String> = (0..3)
        .map(|_| {
            cli.ok(&["import", "usage", &csv, "--org", "acme"])
                .trim()
                .to_string()
        })
        .collect();
    let (ids, notes) = every_page(&cli, &["imports", "list", "--org", "acme"]);
    assert_eq!(ids, [imports[2].as_str(), &imports[1], &imports[0]]);
    assert_eq!(
        notes[0],
        format!(
            "2 of 3 imports (1-2, newest first); next page: --after {}",
            imports[1]
        )
    );
    assert_eq!(notes[1], "1 of 3 imports (3-3, newest first); last page");

    // Three late events, ingested at known instants (e2 and e3 at the same one: by
    // id), and one event that is not late.
    fixtures::plan(pool, "acme", &fixtures::growth_plan(0)).await;
    cli.account("acme", "a1").await;
    for (id, ingested, late) in [
        ("e1", "2026-02-10T00:00:00Z", true),
        ("e3", "2026-02-12T00:00:00Z", true),
        ("e2", "2026-02-12T00:00:00Z", true),
        ("e4", "2026-02-13T00:00:00Z", false),
    ] {
        sqlx::query(
            "INSERT INTO usage_events (org_id, id, account_id, schema_name, ts, attributes,
                 dimensions, ingested_at, late)
             VALUES ('acme', $1, 'a1', 'api', '2026-01-15T00:00:00Z', '{\"calls\": \"1\"}',
                 '{}', $2::timestamptz, $3)",
        )
        .bind(id)
        .bind(ingested)
        .bind(late)
        .execute(pool)
        .await
        .unwrap();
    }
    let (ids, notes) = every_page(&cli, &["usage", "late", "--org", "acme"]);
    assert_eq!(ids, ["e2", "e3", "e1"]);
    assert_eq!(
        notes,
        [
            "2 of 3 late events (1-2, newest first); next page: --after e3",
            "1 of 3 late events (3-3, newest first); last page",
        ]
    );
}

/// A usage CSV of one row (its content does not matter: the import is not run).
fn fixtures_usage_csv() -> String {
    "event_id,timestamp,account_id,schema,attribute.calls\n\
     u1,2026-01-05T10:00:00Z,a1,api,3\n"
        .to_string()
}
