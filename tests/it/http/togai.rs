//! Togai's official Python client, unmodified (`togai-client==1.0.3`, in a virtual
//! environment), against a live `billrun serve`: the acceptance test of the API's
//! shapes. Each script in `tests/togai/` drives one area; the client validates every
//! answer against Togai's models, so a field name, type or status Togai's client does
//! not accept fails the script, and so the test.
//!
//! The virtual environment is `target/togai-venv` (or `$BILLRUN_TOGAI_VENV`). `.ci/run`
//! creates it; when it is missing, the first test here creates it (`python3 -m venv`,
//! then `pip install togai-client==1.0.3`), which needs the package index.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{token, Server};
use crate::env::TestEnv;

/// The client's version every script runs against.
const TOGAI_CLIENT: &str = "togai-client==1.0.3";

/// Serialises the creation of the virtual environment between tests.
static VENV: Mutex<()> = Mutex::new(());

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The virtual environment's python, created with the client when missing.
fn python() -> PathBuf {
    let venv = std::env::var_os("BILLRUN_TOGAI_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/togai-venv"));
    let python = venv.join("bin/python");
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let ready = |python: &Path| {
        std::process::Command::new(python)
            .args(["-c", "import togai_client"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready(&python) {
        let run = |cmd: &mut std::process::Command| {
            let out = cmd.output().expect("running python3");
            assert!(
                out.status.success(),
                "{cmd:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(std::process::Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv));
        run(std::process::Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            TOGAI_CLIENT,
        ]));
        assert!(
            ready(&python),
            "{TOGAI_CLIENT} did not install into {venv:?}"
        );
    }
    python
}

/// Runs `tests/togai/<script>` against `server` with an Administrator token of `org`
/// and fails the test, with the script's output, unless it exits 0.
pub(crate) async fn run_script(env: &TestEnv, server: &Server, org: &str, script: &str) {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let admin = token(env, org, &format!("togai-{script}"), "administrator");
    let dir = workspace().join("tests/togai");
    let out = tokio::process::Command::new(python)
        .arg(dir.join(script))
        .current_dir(&dir)
        .env("BILLRUN_URL", server.url(""))
        .env("BILLRUN_TOKEN", admin)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .await
        .expect("running the client script");
    assert!(
        out.status.success(),
        "tests/togai/{script} failed ({}):\n{}{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.process.log()
    );
}

#[tokio::test]
async fn togais_client_creates_and_reads_customers_accounts_schemas_meters_and_invoices() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    run_script(&env, &server, "acme", "catalog.py").await;
}

#[tokio::test]
async fn togais_client_manages_aliases_credits_license_updates_settings_and_inline_accounts() {
    let env = TestEnv::new().await;
    let plan =
        std::fs::read_to_string(workspace().join("tests/fixtures/plan_growth.json")).unwrap();
    env.org("acme")
        .with_plan(serde_json::from_str(&plan).unwrap())
        .await;
    let server = Server::start(&env).await;
    run_script(&env, &server, "acme", "accounts.py").await;
}

#[tokio::test]
async fn togais_client_migrates_plans_confirms_and_rejects_jobs_and_runs_a_bill_run() {
    use chrono::Datelike;
    let env = TestEnv::new().await;
    let mut scale = crate::fixtures::growth_plan(0);
    scale["name"] = serde_json::json!("scale");
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .with_plan(scale)
        .await;
    // From the first day of this month (UTC): the bill run "now" bills the month's
    // opening invoice only.
    let month = chrono::Utc::now()
        .date_naive()
        .with_day(1)
        .unwrap()
        .to_string();
    for account in ["b1", "m1", "m2"] {
        env.account("acme", account).from(&month).await;
    }
    let server = Server::start(&env).await;
    let _worker = env.worker().no_scheduler().spawn();
    run_script(&env, &server, "acme", "jobs.py").await;
}

#[tokio::test]
async fn togais_client_creates_fills_finalizes_and_versions_price_plans() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    run_script(&env, &server, "acme", "price_plans.py").await;
}

#[tokio::test]
async fn togais_client_ingests_one_event_and_batches_and_parses_the_answers() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    run_script(&env, &server, "acme", "ingest.py").await;
}

#[tokio::test]
async fn togais_client_sees_401_and_404_in_togais_shape() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    run_script(&env, &server, "acme", "security.py").await;
}

#[tokio::test]
async fn togais_client_edits_finalizes_and_lists_schedules_and_reads_aliases() {
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    let server = Server::start(&env).await;
    run_script(&env, &server, "acme", "schedules.py").await;
}

#[tokio::test]
async fn togais_client_updates_features_and_reads_and_validates_entitlements() {
    use rust_decimal_macros::dec;
    let env = TestEnv::new().await;
    let now = chrono::Utc::now();
    let today = now.date_naive().to_string();
    let plan = serde_json::json!({
        "name": "api", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}, "gracePeriod": 0},
        "billingEntitlementRateCards": [{
            "name": "api_allowance", "featureId": "api_calls", "invoiceTiming": "IN_ADVANCE",
            "featureConfigs": [{"effectiveUntil": "P1M", "featureCreditLimit": 1000}],
            "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "FLAT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 49}]}]
        }],
        "entitlementOverageRateCards": [{
            "name": "api_overage", "featureId": "api_calls", "maxQuantity": 500,
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "0.05"}]}]
        }]
    });
    env.org("acme").with_plan(plan).await;
    env.account("acme", "a1")
        .on_plan("api")
        .from(&today)
        .with_usage("e1", &format!("{today}T00:00:01Z"), dec!(400))
        .await;
    env.ok(&["run", "cycle-close", "--now", &now.to_rfc3339()]);
    env.ok(&[
        "feature",
        "create",
        "--org",
        "acme",
        "api_calls",
        "--schema",
        "api.calls",
    ]);
    let server = Server::start(&env).await;
    run_script(&env, &server, "acme", "entitlements.py").await;
}
