//! A worker survives a database restart. Uses a private PostgreSQL cluster (the
//! same code as billrun's embedded default) so the shared server is not disturbed.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use billrun::queue::JobKind;
use billrun::store::private_pg;
use serde_json::json;

use crate::env::TestEnv;
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
    let env = TestEnv::on_server(&server).await;
    let db = env.db();

    let worker = env.worker().no_scheduler().spawn();
    let enqueue = |key: &str| {
        env.enqueue(
            JobKind::Probe,
            json!({ "key": key }),
            "2026-02-01T00:00:00Z",
        )
    };
    let before = enqueue("before").await;
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

    let after = enqueue("after").await;
    wait_for(
        Duration::from_secs(60),
        "the job after the restart",
        || async { (job_state(&db.pool, &after).await.as_deref() == Some("done")).then_some(()) },
    )
    .await;
    let log = worker.log();
    assert!(
        log.contains("restarting"),
        "the worker noticed the outage and restarted:\n{log}"
    );
    drop(worker);
    drop(env);
}
