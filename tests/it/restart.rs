//! A worker survives a database restart. Uses a private PostgreSQL cluster (the
//! same code as billrun's embedded default) so the shared server is not disturbed.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use billrun::store::private_pg;

use crate::harness::*;

struct Cluster {
    dir: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = private_pg::stop(&self.dir.join("pg"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn jobs_enqueued_after_a_postgres_restart_still_run() {
    let dir = std::env::temp_dir().join(format!("billrun-restart-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    // The server runs as the postgres user when tests run as root: let it in.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cluster = Cluster { dir: dir.clone() };
    let url = private_pg::ensure_running(&cluster.dir.join("pg"))
        .await
        .unwrap();
    let server = url.trim_end_matches("/billrun").to_string();
    let db = TestDb::on_server(&server).await;

    let scratch = Scratch::new();
    let config = scratch.config("", None);
    let _worker = Proc::spawn(
        {
            let mut c = billrun(&db.url, &config);
            c.args(["worker", "--no-scheduler"]);
            c
        },
        &scratch.path().join("worker.log"),
    );
    let enqueue = |key: &str| {
        let out = run({
            let mut c = billrun(&db.url, &config);
            c.args(["enqueue", "probe", &format!(r#"{{"key":"{key}"}}"#)]);
            c
        });
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    let before = enqueue("before");
    wait_for(
        Duration::from_secs(30),
        "the job before the restart",
        || async { (job_state(&db.pool, &before).await.as_deref() == Some("done")).then_some(()) },
    )
    .await;

    assert!(
        private_pg::stop(&cluster.dir.join("pg")).unwrap(),
        "server stopped"
    );
    // Longer than the pool's acquire timeout (10 s): the workers' polls fail, apalis
    // stops them, and the monitor must bring them back.
    tokio::time::sleep(Duration::from_secs(13)).await;
    private_pg::ensure_running(&cluster.dir.join("pg"))
        .await
        .unwrap();

    let after = enqueue("after");
    wait_for(
        Duration::from_secs(60),
        "the job after the restart",
        || async { (job_state(&db.pool, &after).await.as_deref() == Some("done")).then_some(()) },
    )
    .await;
    let log = std::fs::read_to_string(scratch.path().join("worker.log")).unwrap();
    assert!(
        log.contains("restarting"),
        "the worker noticed the outage and restarted:\n{log}"
    );
    drop(db);
}
