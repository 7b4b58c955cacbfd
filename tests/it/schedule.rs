//! The cron schedule as `billrun schedule list` shows it (the scheduler enqueues the
//! same fire times: both call `ScheduleEntry::next_fire_times`).

use crate::env::TestEnv;
use crate::harness::*;

/// `billrun schedule list` with `schedule` as the configured schedule file. It reads
/// no database.
fn schedule_list(scratch: &Scratch, schedule: &str, args: &[&str]) -> std::process::Output {
    let config = scratch.config("", Some(schedule));
    run({
        let mut c = billrun("postgres://nobody@127.0.0.1:1/none", &config);
        c.args(["schedule", "list"]).args(args);
        c
    })
}

#[test]
fn schedule_list_fires_a_berlin_night_job_once_per_local_day_across_dst() {
    let scratch = Scratch::new();
    let out = schedule_list(
        &scratch,
        r#"
        [[schedule]]
        name = "nightly"
        cron = "0 30 2 * * *"
        timezone = "Europe/Berlin"
        job = "queue-retention"
        "#,
        &["--from", "2027-01-01T00:00:00Z", "--count", "400", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let next: Vec<&str> = list[0]["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(next.len(), 400);
    // 1 Jan 2027 02:30 CET = 01:30Z, the first fire after 00:00Z.
    assert_eq!(next[0], "2027-01-01T01:30:00Z");
    // 28 Mar: 02:30 is skipped by the jump from 02:00 CET to 03:00 CEST: it fires at
    // the jump, 03:00 CEST = 01:00Z.
    assert!(next.contains(&"2027-03-28T01:00:00Z"), "{next:?}");
    // 31 Oct: 02:30 happens twice (00:30Z CEST, 01:30Z CET); it fires at the first only.
    let oct31: Vec<&&str> = next
        .iter()
        .filter(|t| t.starts_with("2027-10-31"))
        .collect();
    assert_eq!(oct31, [&"2027-10-31T00:30:00Z"]);
    // 400 fires, 400 consecutive local days: 1 Jan 2027 + 399 days = 4 Feb 2028
    // (365 days of 2027, then 34 more); 4 Feb 2028 02:30 CET = 01:30Z.
    assert_eq!(next[399], "2028-02-04T01:30:00Z");
}

/// A config file with no `schedule_file`, in the folder `dir` (without `jobs/`).
fn config_without_schedule(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("no-schedule.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\n[worker]\nheartbeat_secs = 1\npoll_interval_ms = 50\n",
            dir.join("data")
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn a_worker_without_a_schedule_file_runs_the_built_in_schedule() {
    let mut env = TestEnv::new().await;
    env.use_config_file(config_without_schedule(env.scratch()));
    // `schedule list` from a folder without jobs/schedule.toml: the built-in entries.
    let out = run({
        let mut c = env.command();
        c.current_dir(env.scratch())
            .args(["schedule", "list", "--json"]);
        c
    });
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cycle-close", "credit-expiry", "queue-retention"]);
    // The worker runs it (and does not warn about a missing file).
    let mut w = env.worker().current_dir(env.scratch()).spawn();
    let log = w.log_path().to_path_buf();
    let text = wait_for(
        std::time::Duration::from_secs(30),
        "the scheduler to start",
        || async {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.contains("scheduler running").then_some(text)
        },
    )
    .await;
    w.terminate();
    assert!(
        text.contains("schedules=3") && text.contains("the built-in schedule"),
        "{text}"
    );
    assert!(!text.contains("no schedule"), "{text}");
}

#[tokio::test]
async fn a_named_schedule_file_that_is_missing_is_an_error() {
    // Workers that must refuse to start: run to their exit status, not spawned.
    let mut env = TestEnv::new().await;
    let missing = env.scratch().join("nope/schedule.toml");
    // Named in the configuration.
    let config = env.scratch().join("named.toml");
    std::fs::write(
        &config,
        format!(
            "schedule_file = {missing:?}\ndata_dir = {:?}\n",
            env.scratch().join("data")
        ),
    )
    .unwrap();
    env.use_config_file(config);
    for args in [&["worker"][..], &["schedule", "list"][..]] {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "schedule file {} does not exist",
                missing.display()
            )),
            "{args:?}: {err}"
        );
    }
    // Named by flag.
    env.use_config_file(config_without_schedule(env.scratch()));
    let out = env.run(&["worker", "--schedule", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "schedule file {} does not exist",
            missing.display()
        )),
        "{}",
        stderr(&out)
    );
}
