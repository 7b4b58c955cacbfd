//! Test harness: a fresh database per test, the real `billrun` binary, and waits.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, PgPool};

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("BILLRUN_TEST_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh database, migrated, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
    server: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        Self::on_server(&server_url()).await
    }

    /// A copy of the server's migrated template ([`template`]): what `billrun migrate`
    /// gives, without running the migrations again for every test.
    pub async fn on_server(server: &str) -> TestDb {
        let template = template(server).await;
        Self::create(server, &format!("TEMPLATE {template}")).await
    }

    /// A fresh database without any schema (what `CREATE DATABASE` gives), for the
    /// tests of commands that must refuse it; dropped when the test ends.
    pub async fn unmigrated() -> TestDb {
        Self::unmigrated_on_server(&server_url()).await
    }

    async fn unmigrated_on_server(server: &str) -> TestDb {
        Self::create(server, "").await
    }

    /// `CREATE DATABASE <fresh name> <options>` on `server`, with a pool on it.
    async fn create(server: &str, options: &str) -> TestDb {
        let name = format!(
            "billrun_t_{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        let mut admin = admin(server).await;
        // Commits do not wait for the WAL to reach the disk (about 5 ms each here): what
        // every session sees is the same, only a crash of PostgreSQL itself could lose
        // the last commits, and no test crashes it (the restart test stops it cleanly).
        for statement in [
            format!("CREATE DATABASE {name} {options}"),
            format!("ALTER DATABASE {name} SET synchronous_commit = off"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        let url = format!("{server}/{name}");
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect(&url)
            .await
            .unwrap();
        TestDb {
            name,
            url,
            pool,
            server: server.to_string(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop_database(&self.server, &self.name);
    }
}

/// A connection to `server`'s `postgres` database, for creating and dropping others.
async fn admin(server: &str) -> sqlx::PgConnection {
    format!("{server}/postgres")
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .expect("test server reachable (start it: pg_ctlcluster ... main start)")
}

/// The name of `server`'s database migrated to exactly this build's schema, made once
/// (per schema, across test runs) and copied by every [`TestDb::new`].
///
/// The name carries a hash of both migration histories (the job queue's and
/// billrun's: versions and checksums), so a changed or added migration gets a new
/// template and a worktree on another schema never shares one. It is migrated under a
/// temporary name, closed to connections (`CREATE DATABASE ... TEMPLATE` needs none
/// open on it) and then renamed, so a half-migrated template is never copied; when two
/// test processes race, the loser drops its copy. Old templates are left on the
/// server (`DROP DATABASE billrun_tpl_...` removes them).
async fn template(server: &str) -> String {
    use std::hash::{Hash, Hasher};
    static MADE: tokio::sync::Mutex<Vec<(String, String)>> =
        tokio::sync::Mutex::const_new(Vec::new());
    let mut made = MADE.lock().await;
    if let Some((_, name)) = made.iter().find(|(s, _)| s == server) {
        return name.clone();
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for migrator in [
        &apalis_postgres::PostgresStorage::migrations(),
        &billrun::store::MIGRATOR,
    ] {
        for m in migrator.iter() {
            (m.version, &m.checksum[..]).hash(&mut hasher);
        }
    }
    let name = format!("billrun_tpl_{:016x}", hasher.finish());
    let mut admin = admin(server).await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    if !exists {
        let draft = TestDb::create(server, "").await;
        billrun::store::migrate(&draft.pool).await.unwrap();
        draft.pool.close().await;
        let renamed = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {0} WITH ALLOW_CONNECTIONS false; ALTER DATABASE {0} RENAME TO {name}",
            draft.name
        )))
        .execute(&mut admin)
        .await;
        // Renamed, the draft's name is gone and its drop does nothing; when another
        // test process made the template first, the draft is dropped.
        drop(draft);
        if let Err(e) = renamed {
            assert!(
                e.to_string().contains("already exists"),
                "making the template database {name}: {e}"
            );
        }
    }
    made.push((server.to_string(), name.clone()));
    name
}

/// Drops database `name` on `server` if it exists (callable outside async context:
/// it uses a thread with its own runtime).
pub fn drop_database(server: &str, name: &str) {
    let server = server.to_string();
    let name = name.to_string();
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Ok(mut c) = format!("{server}/postgres")
                .parse::<sqlx::postgres::PgConnectOptions>()
                .unwrap()
                .connect()
                .await
            {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut c)
                .await;
            }
        })
    })
    .join();
}

/// A scratch folder for config and schedule files, removed at the end.
pub struct Scratch(pub tempfile::TempDir);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(tempfile::tempdir().unwrap())
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    /// Writes a config with fast heartbeats, polls and backoff (so tests take
    /// seconds), plus `extra` TOML, and an optional schedule.
    pub fn config(&self, extra: &str, schedule: Option<&str>) -> PathBuf {
        let schedule_path = self.path().join("schedule.toml");
        std::fs::write(&schedule_path, schedule.unwrap_or("")).unwrap();
        let config = format!(
            "schedule_file = {schedule_path:?}\n\
             data_dir = {data:?}\n\
             {extra}\n",
            data = self.path().join("data"),
        );
        let config = if config.contains("[worker]") {
            config
        } else {
            format!("{config}\n[worker]\nheartbeat_secs = 1\nmissed_heartbeats = 3\npoll_interval_ms = 50\n")
        };
        let config = if config.contains("[retry]") {
            config
        } else {
            format!("{config}\n[retry]\nmax_attempts = 4\nbackoff_base_ms = 400\nbackoff_max_secs = 5\n")
        };
        let path = self.path().join("billrun.toml");
        std::fs::write(&path, config).unwrap();
        path
    }
}

/// The `billrun` binary, pointed at `db` with `config`.
pub fn billrun(db_url: &str, config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_billrun"));
    c.env("DATABASE_URL", db_url)
        .env("RUST_LOG", "info,sqlx=warn")
        .env_remove("BILLRUN_CONFIG")
        .arg("--config")
        .arg(config);
    c
}

/// Runs a command to completion and returns its output.
pub fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("billrun runs")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A background process killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn spawn(mut cmd: Command, log: &Path) -> Proc {
        let f = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("spawn billrun");
        Proc(child)
    }
    pub fn kill9(&mut self) {
        let _ = self.0.kill(); // SIGKILL on Unix
        let _ = self.0.wait();
    }
    /// SIGTERM, then wait for a graceful exit.
    pub fn terminate(&mut self) {
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The derived state of a job, read like `billrun jobs show` does.
pub async fn job_state(pool: &PgPool, id: &str) -> Option<String> {
    billrun::queue::admin::show(pool, id)
        .await
        .unwrap()
        .map(|j| j.state.to_string())
}

/// A fresh database and a config pointing the binary at it: the command line as a
/// user types it, with assertions on the outcome. Test modules add their own
/// helpers in `impl Cli` blocks.
pub struct Cli {
    pub db: TestDb,
    pub scratch: Scratch,
    pub config: PathBuf,
}

impl Cli {
    pub async fn new() -> Cli {
        Self::with_db(TestDb::new().await)
    }

    /// The command line pointed at `db` (e.g. [`TestDb::unmigrated`]).
    pub fn with_db(db: TestDb) -> Cli {
        let scratch = Scratch::new();
        let config = scratch.config("", None);
        Cli {
            db,
            scratch,
            config,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run({
            let mut c = billrun(&self.db.url, &self.config);
            c.args(args);
            c
        })
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "billrun {args:?} failed:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs a command that must fail; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "billrun {args:?} should have failed:\n{}",
            stdout(&out)
        );
        stderr(&out)
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{out}"))
    }

    /// Writes `text` to a file of the scratch folder; its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.scratch.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }
}
