//! The audit rows of the CLI's changes (issue 14): each command that changes data
//! writes one row, actor `CLI` with `--actor` or the OS user, with its action, object
//! and outcome; a refused change a FAILURE row with the error; a run of `usage ingest`
//! one row with its counts; a command that only reads, none.

use serde_json::{json, Value};

use crate::env::TestEnv;

/// The audit rows of `org`, oldest first: (actor kind, actor id, action, object
/// type, object id, outcome, details).
async fn rows(
    env: &TestEnv,
    org: &str,
) -> Vec<(String, String, String, String, String, String, Value)> {
    sqlx::query_as::<
        _,
        (
            String,
            String,
            String,
            String,
            String,
            String,
            sqlx::types::Json<Value>,
        ),
    >(
        "SELECT actor_kind, actor_id, action, object_type, object_id, outcome, details
         FROM audit_log WHERE org_id = $1 ORDER BY id",
    )
    .bind(org)
    .fetch_all(env.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(a, b, c, d, e, f, g)| (a, b, c, d, e, f, g.0))
    .collect()
}

fn event(id: &str, account: &str, calls: Value) -> String {
    json!({"schemaName": "api", "id": id, "timestamp": "2026-01-10T12:00:00Z",
           "accountId": account, "attributes": [{"name": "calls", "value": calls}],
           "dimensions": {"region": "eu"}})
    .to_string()
}

#[tokio::test]
async fn each_cli_change_leaves_one_audit_row_with_its_actor_object_and_outcome() {
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.account("acme", "a1").from("2025-12-01").await;
    assert!(rows(&env, "acme").await.is_empty());

    env.ok(&[
        "customer", "create", "c1", "--org", "acme", "--name", "One", "--actor", "bob",
    ]);
    let err = env.fails(&[
        "customer", "create", "c1", "--org", "acme", "--name", "One", "--actor", "bob",
    ]);
    env.ok(&[
        "account",
        "add-alias",
        "a1",
        "device-7",
        "--org",
        "acme",
        "--actor",
        "carol",
    ]);
    env.fails(&[
        "account",
        "add-alias",
        "ghost",
        "device-8",
        "--org",
        "acme",
        "--actor",
        "carol",
    ]);
    // Without --actor: the OS user.
    env.ok(&[
        "org",
        "configure",
        "acme",
        "--billing-email",
        "billing@acme.test",
    ]);
    // Reads write nothing.
    env.ok(&["customer", "list", "--org", "acme"]);
    env.ok(&["account", "show", "a1", "--org", "acme"]);
    // Usage: one row per run, with the counts; a run with a bad line is a FAILURE.
    let good = env.write(
        "good.jsonl",
        &format!(
            "{}\n{}\n",
            event("e1", "a1", json!(3)),
            event("e2", "a1", json!(4))
        ),
    );
    env.ok(&["usage", "ingest", "--org", "acme", &good, "--actor", "etl"]);
    let bad = env.write(
        "bad.jsonl",
        &format!(
            "{}\n{}\n",
            event("e3", "a1", json!(1)),
            event("e4", "ghost", json!(1))
        ),
    );
    env.fails(&["usage", "ingest", "--org", "acme", &bad, "--actor", "etl"]);

    let got = rows(&env, "acme").await;
    assert_eq!(got.len(), 7, "{got:#?}");
    let short: Vec<(&str, &str, &str, &str, &str, &str)> = got
        .iter()
        .map(|r| {
            (
                r.0.as_str(),
                r.1.as_str(),
                r.2.as_str(),
                r.3.as_str(),
                r.4.as_str(),
                r.5.as_str(),
            )
        })
        .collect();
    assert_eq!(
        short[0],
        ("CLI", "bob", "customer.create", "customer", "c1", "SUCCESS")
    );
    assert_eq!(
        short[1],
        ("CLI", "bob", "customer.create", "customer", "c1", "FAILURE")
    );
    assert_eq!(
        short[2],
        (
            "CLI",
            "carol",
            "account.add_alias",
            "account",
            "a1",
            "SUCCESS"
        )
    );
    assert_eq!(
        short[3],
        (
            "CLI",
            "carol",
            "account.add_alias",
            "account",
            "ghost",
            "FAILURE"
        )
    );
    assert_eq!(
        (short[4].2, short[4].3, short[4].4, short[4].5),
        ("org.configure", "organisation", "acme", "SUCCESS")
    );
    assert_eq!(short[4].0, "CLI");
    assert!(
        !short[4].1.is_empty() && short[4].1 != "bob",
        "the OS user: {:?}",
        short[4]
    );
    assert_eq!(
        short[5],
        (
            "CLI",
            "etl",
            "usage.ingest",
            "usage_file",
            good.as_str(),
            "SUCCESS"
        )
    );
    assert_eq!(
        short[6],
        (
            "CLI",
            "etl",
            "usage.ingest",
            "usage_file",
            bad.as_str(),
            "FAILURE"
        )
    );

    // A FAILURE row says why, as the command did.
    let why = got[1].6["error"].as_str().unwrap();
    assert!(
        !why.is_empty() && err.contains(why.lines().next().unwrap()),
        "{why} / {err}"
    );
    assert!(
        got[3].6["error"].as_str().unwrap().contains("ghost"),
        "{:?}",
        got[3].6
    );
    assert_eq!(
        got[5].6["counts"],
        json!({"read": 2, "inserted": 2, "duplicates": 0, "rejected": 0, "conflicts": 0})
    );
    assert!(
        got[6].6["error"].as_str().unwrap().contains("rejected"),
        "{:?}",
        got[6].6
    );

    // A change refused because the organisation does not exist is recorded too, and
    // a job cancelled that does not exist (no organisation: `-`).
    env.fails(&[
        "customer", "create", "c9", "--org", "nowhere", "--name", "N",
    ]);
    let nowhere = rows(&env, "nowhere").await;
    assert_eq!(nowhere.len(), 1, "{nowhere:?}");
    assert_eq!(
        (nowhere[0].2.as_str(), nowhere[0].5.as_str()),
        ("customer.create", "FAILURE")
    );
    env.fails(&["jobs", "cancel", "no-such-job", "--actor", "ops"]);
    let none = rows(&env, "-").await;
    assert_eq!(none.len(), 1, "{none:?}");
    assert_eq!(
        (
            none[0].1.as_str(),
            none[0].2.as_str(),
            none[0].4.as_str(),
            none[0].5.as_str()
        ),
        ("ops", "job.cancel", "no-such-job", "FAILURE")
    );

    // `billrun audit list` shows them, filtered by actor and since.
    let listed = env.json(&["audit", "list", "--org", "acme", "--by", "carol", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let listed = env.json(&[
        "audit",
        "list",
        "--org",
        "acme",
        "--since",
        "2999-01-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(listed, json!([]));
}
