//! CSV imports end to end: the real `billrun import` storing files in Postgres, the
//! `csv-import` job in real worker processes, then a bill run over what was imported.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/imports")
        .join(name)
}

/// The growth plan plus a seats license at 10.00 per seat and month, in arrears.
fn plan_with_seats() -> Value {
    let mut plan = fixtures::growth_plan(0);
    plan["licenseRateCards"] = json!([{
        "id": "seats", "name": "seats", "displayName": "Seats", "type": "LICENSE",
        "invoiceTiming": "IN_ARREARS", "enableProration": true, "usageCycle": "MONTHLY",
        "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
        "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 10}]}]
    }]);
    plan
}

/// An organisation `acme` (UTC, net 15) with the plan, and nothing else.
async fn acme(db: &TestDb) {
    fixtures::org(&db.pool, "acme", "UTC", "INV-{YYYY}-{SEQ:4}", 15).await;
    fixtures::plan(&db.pool, "acme", &plan_with_seats()).await;
}

/// `billrun import <kind> FILE --org acme --wait [extra]`.
fn import(
    db: &TestDb,
    config: &Path,
    kind: &str,
    file: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut c = billrun(&db.url, config);
    c.args(["import", kind])
        .arg(file)
        .args(["--org", "acme", "--wait"])
        .args(extra);
    run(c)
}

/// The import's id (first line of stdout) and `imports show --json`.
fn show(db: &TestDb, config: &Path, out: &std::process::Output) -> Value {
    let id = stdout(out)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(!id.is_empty(), "no import id: {}", stderr(out));
    let mut c = billrun(&db.url, config);
    c.args(["imports", "show", &id, "--json"]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn counts(v: &Value) -> [i64; 4] {
    ["rowsRead", "rowsImported", "rowsSkipped", "rowsFailed"].map(|k| v[k].as_i64().unwrap())
}

#[tokio::test]
async fn each_kind_is_imported_then_billed_to_the_cent() {
    let db = TestDb::new().await;
    acme(&db).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);

    for (kind, file, n) in [
        ("accounts", "accounts.csv", 3),
        ("usage", "usage.csv", 5),
        ("licenses", "licenses.csv", 3),
    ] {
        let out = import(&db, &config, kind, &fixture(file), &[]);
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
        let v = show(&db, &config, &out);
        assert_eq!(v["status"], "DONE", "{kind}: {v}");
        assert_eq!(counts(&v), [n, n, 0, 0], "{kind}: {v}");
        if kind == "accounts" {
            // a1-staging moves to a2 on Jan 25: usage routes by the event's instant.
            let mut c = billrun(&db.url, &config);
            c.args(["account", "add-alias", "a2", "--org", "acme", "a1-staging"])
                .args(["--from", "2026-01-25T00:00:00Z"]);
            let o = run(c);
            assert!(o.status.success(), "{}", stderr(&o));
        }
    }

    // What the account file says, stored as the catalog stores it.
    let (name, emails, address, terms): (String, Vec<String>, Value, Option<i32>) = sqlx::query_as(
        "SELECT name, billing_emails, address, net_term_days FROM accounts WHERE org_id = 'acme' AND id = 'a1'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(name, "Acme, Europe");
    assert_eq!(emails, vec!["billing@acme.example", "ap@acme.example"]);
    assert_eq!(
        address,
        json!({"line1": "Hauptstrasse 1", "postalCode": "10115", "city": "Berlin", "country": "DE"})
    );
    assert_eq!(terms, None);
    let aliases: Vec<(String, String)> = sqlx::query_as(
        "SELECT alias, account_id FROM aliases WHERE org_id = 'acme' ORDER BY alias",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(aliases.len(), 4, "{aliases:?}");
    // Events routed through aliases, by their timestamp.
    let routed: Vec<(String, String)> =
        sqlx::query_as("SELECT id, account_id FROM usage_events WHERE org_id = 'acme' ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let routed: Vec<(&str, &str)> = routed
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        routed,
        vec![
            ("e1", "a1"),
            ("e2", "a1"),
            ("e3", "a1"),
            ("e4", "a2"),
            ("e5", "a2")
        ]
    );

    let mut c = billrun(&db.url, &config);
    c.args([
        "run",
        "cycle-close",
        "--now",
        "2026-02-01T00:00:00Z",
        "--json",
    ]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Vec<(String, String, String, String, String)> = fixtures::invoices(&db.pool, "acme")
        .await
        .into_iter()
        .map(|r| (r.0, r.1, r.4, r.5, r.6))
        .collect();
    let row = |a: &str, b: &str, sub: &str, up: &str, total: &str| {
        (
            a.to_string(),
            b.to_string(),
            sub.to_string(),
            up.to_string(),
            total.to_string(),
        )
    };
    let normalise = |mut v: Vec<(String, String, String, String, String)>| {
        for r in &mut v {
            if r.3 == "0.00" {
                r.3 = "0".into();
            }
        }
        v
    };
    assert_eq!(
        normalise(got),
        vec![
            row("a1", "2026-01-01", "99.00", "0", "99.00"),
            row("a3", "2026-01-01", "99.00", "0", "99.00"),
            // a2 from Jan 16: the fee prorated 16/31.
            row("a2", "2026-01-16", "51.10", "0", "51.10"),
            // a1: 1000 x 0.10 + 9000 x 0.05 + 5000 x 0.01 = 600.00 of January's usage
            // (e4 is February's), 5 seats x 10.00 = 50.00, February's fee 99.00.
            row("a1", "2026-02-01", "749.00", "0", "749.00"),
            // a2: 1000 x 0.10 + 1500 x 0.05 = 175.00, + 99.00; no seats.
            row("a2", "2026-02-01", "274.00", "0", "274.00"),
            // a3: 2 seats (20.00) + 99.00 = 119.00 in January, below the 300.00
            // minimum: true-up 181.00.
            row("a3", "2026-02-01", "119.00", "181.00", "300.00"),
        ]
    );

    // January's invoices are DUE now: January usage imported later is kept, flagged
    // late, and never changes them.
    let before = fixtures::invoices(&db.pool, "acme").await;
    let late = scratch.path().join("late.csv");
    std::fs::write(
        &late,
        "event_id,timestamp,account_id,schema,attribute.calls\nlate-1,2026-01-30T12:00:00Z,a1-prod,api,4000\n",
    )
    .unwrap();
    let out = import(&db, &config, "usage", &late, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(show(&db, &config, &out)["eventsLate"], 1);
    let flagged: Vec<String> =
        sqlx::query_scalar("SELECT id FROM usage_events WHERE org_id = 'acme' AND late")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(flagged, vec!["late-1"]);
    assert_eq!(fixtures::invoices(&db.pool, "acme").await, before);
}

#[tokio::test]
async fn every_bad_row_is_reported_by_line_and_every_good_row_is_in() {
    let db = TestDb::new().await;
    acme(&db).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let out = import(&db, &config, "accounts", &fixture("accounts.csv"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = import(&db, &config, "usage", &fixture("bad_usage.csv"), &[]);
    // Bad rows make the command fail, after every good row is in.
    assert!(!out.status.success());
    let v = show(&db, &config, &out);
    assert_eq!(v["status"], "DONE", "{v}");
    assert_eq!(counts(&v), [12, 4, 0, 8], "{v}");

    let events: Vec<(String, String, Value, Value)> = sqlx::query_as(
        "SELECT id, account_id, attributes, dimensions FROM usage_events WHERE org_id = 'acme' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![
            (
                "g1".into(),
                "a1".into(),
                json!({"calls": "100"}),
                json!({"region": "eu, west"})
            ),
            (
                "g2".into(),
                "a1".into(),
                json!({"calls": "200"}),
                json!({"region": "multi\r\nline"})
            ),
            (
                "g3".into(),
                "a2".into(),
                json!({"calls": "300"}),
                json!({"region": "us"})
            ),
            ("g4".into(), "a3".into(), json!({"calls": "0.5"}), json!({})),
        ]
    );

    let id = v["id"].as_str().unwrap();
    let errors_file = scratch.path().join("bad.csv");
    let mut c = billrun(&db.url, &config);
    c.args(["imports", "errors", id, "--out"]).arg(&errors_file);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&errors_file).unwrap();
    // Flexible: a row with a missing comma comes back with its own field count.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&bytes[..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "event_id",
            "timestamp",
            "account_id",
            "schema",
            "attribute.calls",
            "dimension.region",
            "error"
        ]
    );
    let mut reported = Vec::new();
    for r in reader.byte_records() {
        let r = r.unwrap();
        let error = String::from_utf8(r.get(r.len() - 1).unwrap().to_vec()).unwrap();
        let id = String::from_utf8_lossy(&r[0]).into_owned();
        reported.push((id, error));
    }
    let expect = [
        (
            "b1",
            "line 3, column account_id: unknown account or alias \"nobody\"",
        ),
        (
            "b2",
            "line 4, column timestamp: \"05/01/2026 10:00\" is not a timestamp",
        ),
        ("b3", "line 5, column attribute.calls: -5 is negative"),
        (
            "b4",
            "line 6, column attribute.calls: \"lots\" is not a number",
        ),
        (
            "g1",
            "line 9, column event_id: duplicate \"g1\": line 2 of this file has it already",
        ),
        ("b5", "line 10, column account_id: is empty"),
        ("b6", "line 11: 5 fields, expected 6"),
        ("b7", "line 12, column dimension.region: is not UTF-8 text"),
    ];
    assert_eq!(reported.len(), 8, "{reported:#?}");
    for ((id, error), (want_id, want)) in reported.iter().zip(expect) {
        assert_eq!(id, want_id);
        assert!(
            error.starts_with(want),
            "{error:?} should start with {want:?}"
        );
    }
    // The bad row with a Latin-1 byte comes back with that byte, to fix in place.
    assert!(bytes.windows(6).any(|w| w == b"r\xe9gion"));

    // Files that are not CSV at all are refused before anything is written.
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty.csv", b"", "is empty"),
        (
            "book.xlsx",
            b"PK\x03\x04\x14\0\x06\0\x08\0\0\0!\0",
            "binary",
        ),
        (
            "semicolons.csv",
            b"event_id;timestamp;account_id;schema\ne1;2026-01-05T10:00:00Z;a1;api\n",
            "separated by ';'",
        ),
        (
            "headless.csv",
            b"e1,2026-01-05T10:00:00Z,a1,api\ne2,2026-01-05T10:00:00Z,a1,api\n",
            "header line",
        ),
        (
            "partial.csv",
            b"event_id,timestamp,schema\ne1,2026-01-05T10:00:00Z,api\n",
            "missing required column account_id",
        ),
    ];
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    for (name, bytes, why) in cases {
        let path = scratch.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = import(&db, &config, "usage", &path, &[]);
        assert!(!out.status.success(), "{name} was accepted");
        assert!(stderr(&out).contains(why), "{name}: {}", stderr(&out));
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(before, after, "a refused file writes nothing");
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM import_file_chunks i JOIN imports m ON m.id = i.import_id WHERE m.file_name LIKE '%.xlsx'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(chunks, 0);

    // --map: their column names onto ours.
    let theirs = scratch.path().join("theirs.csv");
    std::fs::write(
        &theirs,
        "Event,When,Customer,Type,Calls,Notes\nm1,2026-01-10T00:00:00Z,a1,api,7,free text\n",
    )
    .unwrap();
    let out = import(
        &db,
        &config,
        "usage",
        &theirs,
        &["--map", "Event=event_id,When=timestamp,Customer=account_id,Type=schema,Calls=attribute.calls,Notes=-"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let calls: String =
        sqlx::query_scalar("SELECT attributes->>'calls' FROM usage_events WHERE id = 'm1'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(calls, "7");
}

#[tokio::test]
async fn the_same_files_twice_change_nothing_the_second_time_and_say_so() {
    let db = TestDb::new().await;
    acme(&db).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let snapshot = |db: &TestDb| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_as::<_, (i64, i64, i64, i64, i64, Option<String>)>(
                "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM accounts),
                        (SELECT count(*) FROM aliases), (SELECT count(*) FROM plan_associations),
                        (SELECT count(*) FROM usage_events) + (SELECT count(*) FROM license_updates),
                        (SELECT md5(string_agg(id || account_id || ts::text || attributes::text, ',' ORDER BY id)) FROM usage_events)",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    for (kind, file, n) in [
        ("accounts", "accounts.csv", 3),
        ("usage", "usage.csv", 5),
        ("licenses", "licenses.csv", 3),
    ] {
        let out = import(&db, &config, kind, &fixture(file), &[]);
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
        let first = snapshot(&db).await;
        let out = import(&db, &config, kind, &fixture(file), &[]);
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nothing new"),
            "{kind}: {}",
            stderr(&out)
        );
        let v = show(&db, &config, &out);
        assert_eq!(counts(&v), [n, 0, n, 0], "{kind}: {v}");
        assert_eq!(
            snapshot(&db).await,
            first,
            "{kind}: the second import changed something"
        );
    }
    // A changed account row is an update, not a duplicate.
    let changed = scratch.path().join("changed.csv");
    std::fs::write(
        &changed,
        "account_id,customer_id,account_name,invoice_currency,net_term_days\na3,globex,Globex Ltd,USD,45\n",
    )
    .unwrap();
    let out = import(&db, &config, "accounts", &changed, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(counts(&show(&db, &config, &out)), [1, 1, 0, 0]);
    let (name, terms): (String, Option<i32>) =
        sqlx::query_as("SELECT name, net_term_days FROM accounts WHERE id = 'a3'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), terms), ("Globex Ltd", Some(45)));
    // The same idempotency key for a different update is a bad row, not a change.
    let reused = scratch.path().join("reused.csv");
    std::fs::write(
        &reused,
        "license_id,account_id,update_type,quantity,effective_from,idempotency_key\nseats,a1,ABSOLUTE,9,2026-01-01,a1-seats-1\n",
    )
    .unwrap();
    let out = import(&db, &config, "licenses", &reused, &[]);
    assert!(!out.status.success());
    assert_eq!(counts(&show(&db, &config, &out)), [1, 0, 0, 1]);
}

/// A usage file of `rows` events over 100 accounts, one bad row in 10,000.
fn big_usage_file(path: &Path, rows: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "event_id,timestamp,account_id,schema,attribute.calls,dimension.region"
    )
    .unwrap();
    for i in 0..rows {
        let account = format!("acc{:03}", i % 100);
        let calls = if i % 10_000 == 5_000 {
            "-1".to_string()
        } else {
            (i % 97).to_string()
        };
        writeln!(
            f,
            "ev{i:07},2026-01-{:02}T{:02}:{:02}:00Z,{account},api,{calls},\"eu, {}\"",
            1 + i % 28,
            i % 24,
            i % 60,
            i % 3
        )
        .unwrap();
    }
}

async fn big_setup(db: &TestDb) {
    acme(db).await;
    sqlx::query("INSERT INTO customers (org_id, id, name) VALUES ('acme', 'c', 'C')")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO accounts (org_id, id, customer_id, name, invoice_currency)
         SELECT 'acme', 'acc' || lpad(g::text, 3, '0'), 'c', 'A', 'USD' FROM generate_series(0, 99) g",
    )
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn end_state(db: &TestDb) -> (i64, String, Vec<(i64, String)>, [i64; 4]) {
    let (n, sum): (i64, String) = sqlx::query_as(
        "SELECT count(*), md5(string_agg(id || account_id || ts::text || attributes::text || dimensions::text, ',' ORDER BY id))
         FROM usage_events",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let errors: Vec<(i64, String)> =
        sqlx::query_as("SELECT line, reason FROM import_errors ORDER BY line")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let c: (i64, i64, i64, i64) =
        sqlx::query_as("SELECT rows_read, rows_imported, rows_skipped, rows_failed FROM imports")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    (n, sum, errors, [c.0, c.1, c.2, c.3])
}

#[tokio::test]
async fn a_worker_killed_mid_import_resumes_to_the_same_end_state() {
    // 8 batches of 10,000 rows: the worker is killed after the third commits, so
    // at least a fifth of the file is still ahead of it (one bad row per 10,000).
    const ROWS: usize = 80_000;
    const BAD: usize = ROWS / 10_000;
    let reference_env = TestEnv::new().await;
    let reference = reference_env.db();
    let file = reference_env.scratch().join("big.csv");
    big_usage_file(&file, ROWS);

    big_setup(reference).await;
    let out = import(reference, reference_env.config(), "usage", &file, &[]);
    assert!(!out.status.success(), "8 bad rows make it exit non-zero");
    let expected = end_state(reference).await;
    assert_eq!(expected.0, (ROWS - BAD) as i64);
    assert_eq!(
        expected.3,
        [ROWS as i64, (ROWS - BAD) as i64, 0, BAD as i64]
    );

    let env = TestEnv::new().await;
    let db = env.db();
    big_setup(db).await;
    let out = env.run(&["import", "usage", file.to_str().unwrap(), "--org", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spawn_worker = || env.worker().no_scheduler().kinds("csv-import").spawn();
    let mut first = spawn_worker();
    wait_for(
        Duration::from_secs(120),
        "a few committed batches",
        || async {
            let b: i64 = sqlx::query_scalar("SELECT batches FROM imports")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            (b >= 3).then_some(())
        },
    )
    .await;
    first.kill9();
    let (batches, status): (i64, String) = sqlx::query_as("SELECT batches, status FROM imports")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        status, "RUNNING",
        "killed mid-import (after {batches} batches)"
    );
    let partial: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(partial < (ROWS - BAD) as i64);

    let _second = spawn_worker();
    wait_for(
        Duration::from_secs(240),
        "the import to finish after the restart",
        || async {
            let s: String = sqlx::query_scalar("SELECT status FROM imports")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            (s == "DONE").then_some(())
        },
    )
    .await;
    assert_eq!(
        end_state(db).await,
        expected,
        "killed after {batches} batches ({partial} events)"
    );
}

#[tokio::test]
async fn account_rows_that_contradict_the_catalog_are_bad_rows_and_the_rest_is_applied() {
    let db = TestDb::new().await;
    acme(&db).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let out = import(&db, &config, "accounts", &fixture("accounts.csv"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let file = scratch.path().join("accounts2.csv");
    std::fs::write(
        &file,
        "account_id,customer_id,account_name,invoice_currency,aliases,plan_id,plan_version,plan_from\n\
         a4,globex,Globex Two,USD,a1-prod,,,\n\
         a1,acme,Acme Europe,EUR,,,,\n\
         a2,acme,Acme US,USD,a2-prod,growth,,2026-01-10\n\
         a5,globex,Globex Five,USD,,nope,,2026-01-01\n\
         a6,globex,Globex Six,USD,a6-x,growth,,2026-03-01\n\
         a6,globex,Globex Six again,USD,,,,\n\
         a3,globex,Globex,USD,,growth,1,2026-03-01\n",
    )
    .unwrap();
    let out = import(&db, &config, "accounts", &file, &[]);
    assert!(!out.status.success());
    let v = show(&db, &config, &out);
    assert_eq!(counts(&v), [7, 2, 0, 5], "{v}");
    let bad: Vec<(i64, Option<String>, String)> =
        sqlx::query_as("SELECT line, column_name, reason FROM import_errors ORDER BY line")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let bad: Vec<(i64, &str, &str)> = bad
        .iter()
        .map(|(l, c, r)| (*l, c.as_deref().unwrap_or(""), r.as_str()))
        .collect();
    let want = [
        (2, "aliases", "alias a1-prod already routes to account a1"),
        (
            3,
            "invoice_currency",
            "the account exists with invoice currency USD",
        ),
        (
            4,
            "plan_from",
            "the account is already on growth v1 from 2026-01-16",
        ),
        (5, "plan_id", "unknown price plan \"nope\""),
        (
            7,
            "account_id",
            "duplicate \"a6\": line 6 of this file has it already",
        ),
    ];
    assert_eq!(bad.len(), want.len(), "{bad:#?}");
    for (got, want) in bad.iter().zip(want) {
        assert_eq!((got.0, got.1), (want.0, want.1), "{got:?}");
        assert!(
            got.2.starts_with(want.2),
            "{got:?} should start with {want:?}"
        );
    }
    let accounts: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, invoice_currency FROM accounts WHERE org_id = 'acme' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let accounts: Vec<(&str, &str)> = accounts
        .iter()
        .map(|(a, c)| (a.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        accounts,
        vec![("a1", "USD"), ("a2", "USD"), ("a3", "USD"), ("a6", "USD")]
    );
    // a3 changed plans on Mar 1: its open period was closed there.
    let periods: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT account_id, effective_from::text, effective_until::text FROM plan_associations
         WHERE org_id = 'acme' AND account_id IN ('a3', 'a6') ORDER BY account_id, effective_from",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        periods,
        vec![
            ("a3".into(), "2026-01-01".into(), Some("2026-03-01".into())),
            ("a3".into(), "2026-03-01".into(), None),
            ("a6".into(), "2026-03-01".into(), None),
        ]
    );
}

/// `imports errors ID` of the import `out` started: its `error` column, row by row.
fn error_column(db: &TestDb, config: &Path, out: &std::process::Output) -> Vec<String> {
    let v = show(db, config, out);
    let mut c = billrun(&db.url, config);
    c.args(["imports", "errors", v["id"].as_str().unwrap()]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&o.stdout[..]);
    reader
        .records()
        .map(|r| r.unwrap().iter().next_back().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_event_id_resent_with_other_values_is_a_conflict_row_and_the_same_event_is_skipped() {
    let db = TestDb::new().await;
    acme(&db).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    for (kind, file) in [("accounts", "accounts.csv"), ("usage", "usage.csv")] {
        let out = import(&db, &config, kind, &fixture(file), &[]);
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
    }
    // e1 again with 5000.0 calls (the same number) and e5 through a2's own id instead
    // of its alias a2-prod (the same account): the same events, skipped. e3 with 1001
    // calls instead of 1000: a conflict. e6: new.
    let file = scratch.path().join("resent.csv");
    std::fs::write(
        &file,
        "event_id,timestamp,account_id,schema,attribute.calls,dimension.region\n\
         e1,2026-01-05T10:00:00Z,a1,api,5000.0,eu\n\
         e3,2026-01-31T23:59:59Z,a1,api,1001,\n\
         e5,2026-01-20T12:00:00Z,a2,api,2500,us\n\
         e6,2026-01-21T00:00:00Z,a1,api,7,eu\n",
    )
    .unwrap();
    let out = import(&db, &config, "usage", &file, &[]);
    assert!(!out.status.success(), "a conflict fails the command");
    let v = show(&db, &config, &out);
    assert_eq!(v["status"], "DONE", "{v}");
    // read 4: imported 1 (e6), skipped 2 (e1, e5), failed 1 (e3).
    assert_eq!(counts(&v), [4, 1, 2, 1], "{v}");
    assert_eq!(
        error_column(&db, &config, &out),
        vec![
            "line 3, column event_id: conflict: event id \"e3\" is already recorded with other \
             values (attribute calls: 1001, recorded 1000); the recorded event is kept: give a \
             changed event a new id"
                .to_string()
        ]
    );
    let calls: String =
        sqlx::query_scalar("SELECT attributes->>'calls' FROM usage_events WHERE id = 'e3'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(calls, "1000", "the recorded event is kept");
}

/// One bad event per case, sent through `usage ingest` (JSON lines) and the CSV
/// usage import: the same verdict and the same message, field named each way's way.
/// Returns the JSONL stderr and the CSV `error` column, for more checks.
async fn same_verdict_both_ways(
    db: &TestDb,
    scratch: &Scratch,
    config: &Path,
    // (id, timestamp, account, schema, calls, region, JSON path, CSV column, reason)
    cases: &[[&str; 9]],
) {
    let mut jsonl = String::new();
    let mut csv_text =
        String::from("event_id,timestamp,account_id,schema,attribute.calls,dimension.region\n");
    for [id, ts, account, schema, calls, region, ..] in cases {
        // A number stays a JSON number when it is one.
        let value = serde_json::from_str::<Value>(calls).unwrap_or(json!(calls));
        jsonl += &json!({"schemaName": schema, "id": id, "timestamp": ts, "accountId": account,
                         "attributes": [{"name": "calls", "value": value}],
                         "dimensions": {"region": region}})
        .to_string();
        jsonl.push('\n');
        csv_text += &format!("{id},{ts},{account},{schema},{calls},{region}\n");
    }
    let jsonl_file = scratch.path().join("bad.jsonl");
    std::fs::write(&jsonl_file, jsonl).unwrap();
    let mut c = billrun(&db.url, config);
    c.args(["usage", "ingest", "--org", "acme"])
        .arg(&jsonl_file);
    let out = run(c);
    assert!(!out.status.success());
    let jsonl_err = stderr(&out);
    let csv_file = scratch.path().join("bad.csv");
    std::fs::write(&csv_file, csv_text).unwrap();
    let out = import(db, config, "usage", &csv_file, &[]);
    assert!(!out.status.success());
    let csv_errors = error_column(db, config, &out);
    assert_eq!(csv_errors.len(), cases.len(), "{csv_errors:#?}");
    for (i, [.., path, column, reason]) in cases.iter().enumerate() {
        let want = format!("line {}: {path}: {reason}", i + 1);
        assert!(
            jsonl_err.lines().any(|l| l == want),
            "JSONL: {want:?} not in\n{jsonl_err}"
        );
        // The CSV file's line is one more (its header).
        assert_eq!(
            csv_errors[i],
            format!("line {}, column {column}: {reason}", i + 2)
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "no bad event is stored, by either way");
}

#[tokio::test]
async fn a_bad_event_gets_the_same_verdict_and_message_from_jsonl_and_csv() {
    let db = TestDb::new().await;
    acme(&db).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let out = import(&db, &config, "accounts", &fixture("accounts.csv"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ts = "2026-01-05T10:00:00Z";
    let (long_id, long_region) = ("i".repeat(51), "r".repeat(256));
    same_verdict_both_ways(
        &db,
        &scratch,
        &config,
        &[
            [
                "n1",
                ts,
                "a1",
                "api",
                "-500",
                "eu",
                "attributes[0].value",
                "attribute.calls",
                "-500 is negative: usage quantities must be 0 or more (attribute calls)",
            ],
            [
                "n2",
                ts,
                "a1",
                "api",
                "ten",
                "eu",
                "attributes[0].value",
                "attribute.calls",
                "\"ten\" is not a number: expected e.g. 12 or 12.5 (attribute calls)",
            ],
            [
                "n3",
                "05/01/2026",
                "a1",
                "api",
                "1",
                "eu",
                "timestamp",
                "timestamp",
                "\"05/01/2026\" is not a timestamp: expected ISO 8601 with a UTC offset such \
                 as 2026-01-31T23:59:59Z",
            ],
            [
                "n4",
                ts,
                "a1",
                "web",
                "1",
                "eu",
                "schemaName",
                "schema",
                "unknown event schema \"web\" (schemas: api)",
            ],
            [
                &long_id,
                ts,
                "a1",
                "api",
                "1",
                "eu",
                "id",
                "event_id",
                "is 51 characters long, at most 50 are allowed (starts \"iiiiiiiiiiiiiiiiiiii\
                 iiiiiiiiiiiiiiiiiiii\"...)",
            ],
            [
                "n7",
                ts,
                "a1",
                "api",
                "1",
                &long_region,
                "dimensions.region",
                "dimension.region",
                "is 256 characters long, at most 255 are allowed (starts \"rrrrrrrrrrrrrrrrrrrr\
                 rrrrrrrrrrrrrrrrrrrr\"...) (dimension region)",
            ],
            [
                "n5",
                "2016-12-31T23:59:60Z",
                "a1",
                "api",
                "1",
                "eu",
                "timestamp",
                "timestamp",
                "\"2016-12-31T23:59:60Z\": second 60 is a leap second, which billrun's times \
                 (like PostgreSQL's and Unix time) do not have: use 23:59:59 or the next second",
            ],
            [
                "n6",
                "+12026-01-05T10:00:00Z",
                "a1",
                "api",
                "1",
                "eu",
                "timestamp",
                "timestamp",
                "\"+12026-01-05T10:00:00Z\": the year must have exactly 4 digits (0000 to \
                 9999), as RFC 3339 requires",
            ],
        ],
    )
    .await;
}

#[tokio::test]
async fn text_fields_over_their_limits_are_bad_rows_naming_column_and_limit() {
    let db = TestDb::new().await;
    acme(&db).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let header = std::fs::read_to_string(fixture("accounts.csv")).unwrap();
    let header = header.lines().next().unwrap();
    // 17 columns: id, customer, customer name, name, currency, billing emails,
    // additional emails, net terms, timezone, line1, postal code, city, country,
    // aliases, plan id, plan version, plan from.
    let row = |cells: [&str; 6]| {
        let [id, customer_name, name, emails, postal, aliases] = cells;
        format!("{id},c1,{customer_name},{name},USD,{emails},,,,,{postal},,,{aliases},,,\n")
    };
    let big_name = "n".repeat(10 << 20); // the issue's 10 MiB account name
    let long_email = format!("{}@x.example", "e".repeat(250)); // 250 + 10 = 260 characters
    let many_emails = (1..=21)
        .map(|i| format!("b{i}@x.example"))
        .collect::<Vec<_>>()
        .join(";");
    let mut text = format!("{header}\n");
    text += &row(["ok1", "", "Fine", "", "", ""]);
    text += &row(["big", "", &big_name, "", "", ""]);
    text += &row([&"a".repeat(51), "", "A", "", "", ""]);
    text += &row(["c3", &"c".repeat(256), "A", "", "", ""]);
    text += &row(["c4", "", "A", &long_email, "", ""]);
    text += &row(["c5", "", "A", &many_emails, "", ""]);
    text += &row(["c6", "", "A", "", &"1".repeat(21), ""]);
    text += &row(["c7", "", "A", "", "", &"x".repeat(51)]);
    let file = scratch.path().join("limits.csv");
    std::fs::write(&file, text).unwrap();
    let out = import(&db, &config, "accounts", &file, &[]);
    assert!(!out.status.success());
    let v = show(&db, &config, &out);
    // read 8: ok1 imported, the 7 others failed.
    assert_eq!(counts(&v), [8, 1, 0, 7], "{v}");
    let starts = |c: &str| format!("(starts {:?}...)", c.repeat(40));
    assert_eq!(
        error_column(&db, &config, &out),
        vec![
            format!(
                "line 3, column account_name: is 10485760 characters long, at most 255 are \
                 allowed {}",
                starts("n")
            ),
            format!(
                "line 4, column account_id: is 51 characters long, at most 50 are allowed {}",
                starts("a")
            ),
            format!(
                "line 5, column customer_name: is 256 characters long, at most 255 are allowed {}",
                starts("c")
            ),
            format!(
                "line 6, column billing_emails: is 260 characters long, at most 254 are allowed {}",
                starts("e")
            ),
            "line 7, column billing_emails: 21 addresses, at most 20 are allowed".to_string(),
            "line 8, column postal_code: is 21 characters long, at most 20 are allowed (starts \
             \"111111111111111111111\")"
                .to_string(),
            format!(
                "line 9, column aliases: is 51 characters long, at most 50 are allowed {}",
                starts("x")
            ),
        ]
    );
    let names: Vec<String> = sqlx::query_scalar("SELECT id FROM accounts ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(names, vec!["ok1"]);
}

#[tokio::test]
async fn a_license_row_for_a_license_no_plan_has_is_a_bad_row() {
    let db = TestDb::new().await;
    acme(&db).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let out = import(&db, &config, "accounts", &fixture("accounts.csv"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = scratch.path().join("licenses.csv");
    std::fs::write(
        &file,
        "license_id,account_id,update_type,quantity,effective_from,idempotency_key\n\
         seats,a1,ABSOLUTE,5,2026-01-01,k1\n\
         seatz,a1,ABSOLUTE,5,2026-01-01,k2\n\
         seats,a1,ABSOLUTE,5,2026-01-31T23:59:60Z,k3\n\
         seats,a1,ABSOLUTE,5,+12026-01-01,k4\n",
    )
    .unwrap();
    let out = import(&db, &config, "licenses", &file, &[]);
    assert!(!out.status.success());
    let v = show(&db, &config, &out);
    // read 4: k1 imported; k2 (unknown license), k3 (leap second), k4 (year) failed.
    assert_eq!(counts(&v), [4, 1, 0, 3], "{v}");
    assert_eq!(
        error_column(&db, &config, &out),
        vec![
            "line 3, column license_id: no price plan has a license rate card \"seatz\", so \
             its quantities would never be billed (licenses: seats)",
            "line 4, column effective_from: \"2026-01-31T23:59:60Z\": second 60 is a leap \
             second, which billrun's times (like PostgreSQL's and Unix time) do not have: use \
             23:59:59 or the next second",
            "line 5, column effective_from: \"+12026-01-01\": the year must have exactly 4 \
             digits (0000 to 9999), as RFC 3339 requires",
        ]
    );
}

#[tokio::test]
async fn a_license_row_above_max_quantity_is_a_bad_row_and_the_next_rows_are_checked_without_it() {
    let db = TestDb::new().await;
    fixtures::org(&db.pool, "acme", "UTC", "INV-{YYYY}-{SEQ:4}", 15).await;
    let mut plan = plan_with_seats();
    plan["licenseRateCards"][0]["config"] =
        json!({"maxQuantity": 10, "maxQuantityBreachAction": "DO_NOTHING"});
    fixtures::plan(&db.pool, "acme", &plan).await;
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let out = import(&db, &config, "accounts", &fixture("accounts.csv"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = scratch.path().join("licenses.csv");
    std::fs::write(
        &file,
        "license_id,account_id,update_type,quantity,effective_from,idempotency_key\n\
         seats,a1,ABSOLUTE,8,2026-01-01,k1\n\
         seats,a1,RELATIVE,3,2026-01-10,k2\n\
         seats,a1,RELATIVE,2,2026-01-10,k3\n\
         seats,a3,ABSOLUTE,12,2026-01-01,k4\n",
    )
    .unwrap();
    let out = import(&db, &config, "licenses", &file, &[]);
    assert!(!out.status.success());
    let v = show(&db, &config, &out);
    // a1: k1 sets 8 (<= 10, kept); k2 adds 3: 8 + 3 = 11 > 10, refused; k3 adds 2 to
    // what is left without k2: 8 + 2 = 10 <= 10, kept. a3: k4 sets 12 > 10, refused.
    assert_eq!(counts(&v), [4, 2, 0, 2], "{v}");
    let errors = error_column(&db, &config, &out);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with(
            "line 3, column quantity: RELATIVE 3 would make license \"seats\" of account a1 11 \
             from 2026-01-10T00:00:00+00:00, above the maxQuantity 10 of rate card \"seats\""
        ),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with(
            "line 5, column quantity: ABSOLUTE 12 would make license \"seats\" of account a3 12 \
             from 2026-01-01T00:00:00+00:00, above the maxQuantity 10"
        ),
        "{errors:?}"
    );
    let kept: Vec<(String, rust_decimal::Decimal)> = sqlx::query_as(
        "SELECT idempotency_key, quantity FROM license_updates WHERE org_id = 'acme' ORDER BY idempotency_key",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(kept, vec![("k1".into(), 8.into()), ("k3".into(), 2.into())]);
}
