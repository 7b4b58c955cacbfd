//! Operator safety: what the command line prints when things go wrong.

use crate::harness::*;

#[test]
fn the_database_password_is_never_printed_in_a_connection_error() {
    let scratch = Scratch::new();
    let config = scratch.config("", None);
    // Nothing listens on port 1: the connection fails, and the error names the URL.
    for url in [
        "postgres://postgres:s3cret-pw@127.0.0.1:1/billrun",
        "postgres://postgres:s3cret-pw@127.0.0.1:notaport/billrun",
    ] {
        let out = run({
            let mut c = billrun(url, &config);
            c.args(["invoice", "list", "--org", "acme"]);
            c
        });
        assert!(!out.status.success());
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(
            !o.contains("s3cret-pw") && !e.contains("s3cret-pw"),
            "{o}{e}"
        );
        assert!(e.contains("***"), "the URL is named, masked: {e}");
    }
    // The cause is named, not the pool's "timed out".
    let out = run({
        let mut c = billrun("postgres://postgres:s3cret-pw@127.0.0.1:1/billrun", &config);
        c.args(["invoice", "list", "--org", "acme"]);
        c
    });
    let e = stderr(&out);
    assert!(
        e.contains("Connection refused") && !e.contains("timed out"),
        "{e}"
    );
}

#[tokio::test]
async fn a_command_aimed_at_an_organisation_that_does_not_exist_fails_naming_it() {
    let cli = Cli::new().await;
    crate::fixtures::org(&cli.db.pool, "acme", "UTC", "INV-{SEQ:4}", 30).await;
    for args in [
        &["invoice", "list", "--org", "acme-typo"][..],
        &["account", "list", "--org", "acme-typo"],
        &["credit", "list", "--org", "acme-typo"],
        &["deliveries", "list", "--org", "acme-typo"],
        &["usage", "late", "--org", "acme-typo"],
    ] {
        let err = cli.fails(args);
        assert!(
            err.contains("organisation \"acme-typo\" does not exist"),
            "{args:?}: {err}"
        );
    }
    // The organisation that exists lists (nothing, successfully).
    cli.ok(&["invoice", "list", "--org", "acme"]);
}

#[tokio::test]
async fn a_listing_filtered_by_an_account_that_does_not_exist_fails_naming_it() {
    let env = crate::env::TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.account("acme", "a1").await;
    for args in [
        &["invoice", "list", "--org", "acme", "--account", "nobody"][..],
        &["credit", "balance", "--org", "acme", "--account", "nobody"],
    ] {
        let err = env.fails(args);
        assert!(
            err.contains("nobody") && err.contains("acme") && err.contains("account"),
            "{args:?}: {err}"
        );
    }
    // The account that exists lists (nothing, successfully).
    env.ok(&["invoice", "list", "--org", "acme", "--account", "a1"]);
    env.ok(&["credit", "balance", "--org", "acme", "--account", "a1"]);
}

#[tokio::test]
async fn a_plan_that_does_not_exist_is_named_as_missing_not_as_lacking_an_active_version() {
    let env = crate::env::TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.account("acme", "a1").await;
    let attach = env.fails(&[
        "account",
        "attach-plan",
        "a1",
        "--org",
        "acme",
        "--plan",
        "nosuch",
        "--from",
        "2026-01-01",
    ]);
    assert!(
        attach.contains("price plan \"nosuch\" does not exist in organisation \"acme\""),
        "{attach}"
    );
    let migrate = env.fails(&[
        "migrations",
        "create",
        "--org",
        "acme",
        "--source",
        "growth",
        "--target",
        "nosuch",
        "--mode",
        "NEXT_CYCLE",
    ]);
    assert!(
        migrate.contains("price plan \"nosuch\" does not exist in organisation \"acme\""),
        "{migrate}"
    );
}

#[tokio::test]
async fn jobs_list_shows_and_filters_the_organisation_with_times_in_utc() {
    let cli = Cli::new().await;
    for org in ["a", "b"] {
        crate::fixtures::org(&cli.db.pool, org, "UTC", "INV-{SEQ:4}", 30).await;
    }
    let a = cli.ok(&[
        "enqueue",
        "probe",
        r#"{"key":"ka"}"#,
        "--org",
        "a",
        "--at",
        "2030-01-01T10:00:00Z",
    ]);
    cli.ok(&[
        "enqueue",
        "probe",
        r#"{"key":"kb"}"#,
        "--org",
        "b",
        "--at",
        "2030-01-01T10:00:00Z",
    ]);
    let jobs = cli.json(&["jobs", "list", "--org", "a", "--json"]);
    let listed: Vec<(&str, &str)> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap(),
                j["organisation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [(a.trim(), "a")]);
    let text = cli.ok(&["jobs", "list"]);
    assert!(
        text.contains("ORG") && text.contains("RUN AT (UTC)"),
        "{text}"
    );
    assert!(text.contains("2030-01-01T10:00:00Z"), "{text}");
    assert!(cli
        .fails(&["jobs", "list", "--org", "nobody"])
        .contains("does not exist"));
}
