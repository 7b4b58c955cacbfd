//! `billrun demo`: a second run replaces the first.

use crate::env::TestEnv;

#[tokio::test]
async fn a_second_demo_replaces_the_first_and_prints_the_same_invoices() {
    let env = TestEnv::new().await;
    let first = env.ok(&["demo"]);
    assert!(
        first.contains("58 invoices") || first.contains("INV-2026-00058"),
        "{first}"
    );
    let second = env.ok(&["demo"]);
    // The same sample data billed the same way: the same summary (the documents'
    // folder and times aside, which the summary does not print).
    let summary = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| !l.contains("outbox") && !l.contains(".eml") && !l.contains("password"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(summary(&first), summary(&second));
    let invoices: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices WHERE org_id = 'demo'")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(invoices, 58);
    // Each run ends with the console's URL and a login of the demo organisation's
    // Administrator: the second run's password signs in, the first one's no more.
    let password = |out: &str| -> String {
        let at = out.find("with the password ").expect("a password printed") + 18;
        out[at..].split_whitespace().next().unwrap().to_string()
    };
    assert!(
        second.contains("console:   http://127.0.0.1:8080/console"),
        "{second}"
    );
    assert!(second.contains("sign in as admin@demo.example"), "{second}");
    let sign_in = |p: String| {
        let pool = env.pool().clone();
        async move {
            billrun::identity::users::authenticate(
                &pool,
                "admin@demo.example",
                &p,
                None,
                chrono::Duration::hours(1),
                chrono::Utc::now(),
            )
            .await
        }
    };
    let session = sign_in(password(&second))
        .await
        .expect("the printed login works");
    assert_eq!(
        session.principal.role,
        billrun::identity::Role::Administrator
    );
    assert!(
        sign_in(password(&first)).await.is_err(),
        "the first run's password is replaced"
    );
}

#[tokio::test]
async fn every_table_of_an_organisation_is_purged_by_the_demo_or_kept_on_purpose() {
    let env = TestEnv::new().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
         WHERE column_name = 'org_id' AND table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    let listed = |t: &str| {
        billrun::demo::PURGED_TABLES.contains(&t) || billrun::demo::KEPT_TABLES.contains(&t)
    };
    let missing: Vec<&String> = tables.iter().filter(|t| !listed(t)).collect();
    assert!(
        missing.is_empty(),
        "tables with org_id that billrun demo neither purges nor keeps: {missing:?}"
    );
}
