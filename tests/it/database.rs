//! Which commands may create or migrate a database (issue 12 item 9): only `migrate`
//! and `demo`. Every other command refuses a database that does not exist (naming it,
//! password masked, and the fix) and one whose schema is not exactly the binary's.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// Runs `cmd`, killing it after `secs` (a worker that wrongly starts would run forever).
fn exits_within(mut cmd: Command, secs: u64) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("billrun runs");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {secs} s:\n{}{}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// The commands tried against a database they must refuse: listings, a job, the
/// worker.
const COMMANDS: &[&[&str]] = &[
    &["invoice", "list", "--org", "acme"],
    &["deliveries", "list", "--org", "acme"],
    &["org", "list"],
    &["jobs", "list"],
    &["enqueue", "probe", r#"{"key":"k"}"#],
    &["worker", "--no-scheduler"],
];

async fn database_exists(cli: &Cli, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&cli.db.pool)
        .await
        .unwrap()
}

/// Tables in the public schema and whether the queue's schema exists: what a check
/// must never create.
async fn schema_objects(pool: &sqlx::PgPool) -> (i64, bool) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'),
                EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'apalis')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Drops the misspelt database if a failing assertion left it created.
struct DropOnExit(String);

impl Drop for DropOnExit {
    fn drop(&mut self) {
        drop_database(&server_url(), &self.0);
    }
}

#[tokio::test]
async fn a_misspelt_database_name_is_refused_naming_it_and_is_not_created() {
    let cli = Cli::new().await;
    let typo = format!("{}_typo", cli.db.name);
    let _cleanup = DropOnExit(typo.clone());
    // With a password in the URL (the server trusts local connections, so it is
    // ignored): every message shows it masked.
    let mut url = url::Url::parse(&format!("{}/{typo}", server_url())).unwrap();
    url.set_password(Some("s3cret-pw")).unwrap();
    let url = url.to_string();
    for args in COMMANDS {
        let out = exits_within(
            {
                let mut c = billrun(&url, &cli.config);
                c.args(*args);
                c
            },
            60,
        );
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(!out.status.success(), "{args:?} succeeded:\n{o}{e}");
        assert!(
            e.contains(&format!("database \"{typo}\" does not exist")),
            "{args:?}: {e}"
        );
        assert!(
            e.contains("run `billrun migrate`") && e.contains("DATABASE_URL"),
            "{args:?}: {e}"
        );
        assert!(e.contains(":***@"), "{args:?}: the URL, masked: {e}");
        assert!(
            !o.contains("s3cret-pw") && !e.contains("s3cret-pw"),
            "{o}{e}"
        );
        assert!(
            !database_exists(&cli, &typo).await,
            "{args:?} created the database"
        );
    }

    // `billrun migrate` is the one way to create it.
    let out = run({
        let mut c = billrun(&url, &cli.config);
        c.arg("migrate");
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(database_exists(&cli, &typo).await);
    let out = run({
        let mut c = billrun(&url, &cli.config);
        c.args(["org", "list"]);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn a_database_never_migrated_is_refused_until_billrun_migrate() {
    let cli = Cli::with_db(TestDb::unmigrated().await);
    for args in COMMANDS {
        let out = exits_within(
            {
                let mut c = billrun(&cli.db.url, &cli.config);
                c.args(*args);
                c
            },
            60,
        );
        let e = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded:\n{e}");
        assert!(
            e.contains(&format!(
                "database \"{}\" ({}) has no billrun schema: it was never migrated. Run `billrun migrate`",
                cli.db.name, cli.db.url
            )),
            "{args:?}: {e}"
        );
    }
    // The check created nothing (sqlx's migrator would create its history table).
    assert_eq!(schema_objects(&cli.db.pool).await, (0, false));

    // Every migration of both histories is applied, once.
    let all = billrun::store::MIGRATOR.iter().count()
        + apalis_postgres::PostgresStorage::migrations()
            .iter()
            .count();
    let out = cli.ok(&["migrate"]);
    assert!(
        out.contains(&format!(
            ": {all} migration(s) applied, the schema is up to date"
        )),
        "{out}"
    );
    let out = cli.ok(&["migrate"]);
    assert!(out.contains(": 0 migration(s) applied"), "{out}");
    cli.ok(&["org", "list"]);
    cli.ok(&["jobs", "list"]);
}

#[tokio::test]
async fn a_schema_migrated_part_way_is_behind_and_billrun_migrate_completes_it() {
    let cli = Cli::with_db(TestDb::unmigrated().await);
    // An older billrun's schema: the queue's, and the first three of billrun's.
    apalis_postgres::PostgresStorage::setup(&cli.db.pool)
        .await
        .unwrap();
    let older: Vec<_> = billrun::store::MIGRATOR.iter().take(3).cloned().collect();
    sqlx::migrate::Migrator::with_migrations(older)
        .run(&cli.db.pool)
        .await
        .unwrap();
    let fourth = billrun::store::MIGRATOR.iter().nth(3).unwrap();
    let behind = billrun::store::MIGRATOR.iter().count() - 3;

    for args in COMMANDS {
        let out = exits_within(
            {
                let mut c = billrun(&cli.db.url, &cli.config);
                c.args(*args);
                c
            },
            60,
        );
        let e = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded:\n{e}");
        assert!(
            e.contains(&format!(
                "the schema of database \"{}\" ({}) is behind this billrun: {behind} billrun \
                 migration(s) {} ({}), ",
                cli.db.name, cli.db.url, fourth.version, fourth.description
            )),
            "{args:?}: {e}"
        );
        assert!(e.contains("not applied. Run `billrun migrate`"), "{e}");
    }

    let out = cli.ok(&["migrate"]);
    assert!(
        out.contains(&format!(": {behind} migration(s) applied")),
        "{out}"
    );
    cli.ok(&["org", "list"]);
}

#[tokio::test]
async fn a_schema_ahead_of_the_binary_is_refused_by_every_command_and_by_migrate() {
    let cli = Cli::new().await;
    crate::fixtures::org(&cli.db.pool, "acme", "UTC", "INV-{SEQ:4}", 30).await;
    // What a newer billrun's migration leaves in the history.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (29991231000001, 'from a newer billrun', true, '\\x00', 0)",
    )
    .execute(&cli.db.pool)
    .await
    .unwrap();
    let expected = format!(
        "the schema of database \"{}\" ({}) is ahead of this billrun: it has 1 billrun \
         migration(s) 29991231000001 (from a newer billrun) that this billrun does not know",
        cli.db.name, cli.db.url
    );
    for args in COMMANDS.iter().chain([&["migrate"][..]].iter()) {
        let out = exits_within(
            {
                let mut c = billrun(&cli.db.url, &cli.config);
                c.args(*args);
                c
            },
            60,
        );
        let e = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded:\n{e}");
        assert!(e.contains(&expected), "{args:?}: {e}");
    }
}
