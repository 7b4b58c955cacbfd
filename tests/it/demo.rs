//! `billrun demo`: a second run replaces the first.

use crate::env::TestEnv;

#[tokio::test]
async fn a_second_demo_replaces_the_first_and_prints_the_same_invoices() {
    let env = TestEnv::new().await;
    let first = env.ok(&["demo"]);
    // 58 invoices of the first three plans, and 4 `team` accounts x 2: the allowance
    // billed in advance when attached on 1 Jan, then 1 Feb's (January's overage and
    // February's allowance) = 58 + 8 = 66.
    assert!(
        first.contains("66 invoices") || first.contains("INV-2026-00066"),
        "{first}"
    );
    assert!(first.contains("40 accounts on 4 plans"), "{first}");
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
    assert_eq!(invoices, 66);
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

/// The text of a PDF (pdftotext -layout) with its whitespace collapsed, so a
/// description wrapped over two lines reads as one.
fn pdf_words(env: &TestEnv, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("document.pdf");
    let mut args = args.to_vec();
    args.extend(["--pdf", pdf.to_str().unwrap()]);
    env.ok(&args);
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// No raw ids on a document (issue 16): no card, feature or reason code (snake_case
/// or SCREAMING_CASE: no `_` at all), no ULID (26 capitals and digits) or UUID.
fn assert_no_raw_ids(text: &str) {
    assert!(!text.contains('_'), "an identifier in:\n{text}");
    for word in text.split_whitespace() {
        let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        let ulid = w.len() >= 20
            && w.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
        let uuid = w.len() == 36 && w.matches('-').count() == 4;
        assert!(!ulid && !uuid, "a raw id {w:?} in:\n{text}");
    }
}

/// The demo's entitlement and pricing-rule invoices, and a credit note, as a finance
/// reader sees them (issue 17: "their lines read well on the PDF"; issue 16: "no raw
/// ids on any document"). The quantities used are the demo's seeded usage; the rest
/// is worked by hand:
/// - INV-2026-00057 (team-02, closing January): 20,167 calls used - 10,000 included
///   = 10,167 over x $0.02 = $203.34; February's allowance $149.00 (a flat price);
///   total $203.34 + $149.00 = $352.34.
/// - INV-2026-00032 (growth-01): API calls 13,411 = 1,000 x $0.10 + 9,000 x $0.05 +
///   35 packages of 100 (3,411 rounded up) x $1.00 = 100.00 + 450.00 + 35.00 = 585.00,
///   over 500.00 so the rule makes it 585.00 x 0.9 = 526.50 (an adjustment of
///   -58.50); seats 81.29 + 153.23 = 234.52; platform fee 99.00; sub-total 526.50 +
///   234.52 + 99.00 = 860.02; the commitment's true-up is measured before the rules:
///   1,000.00 - (585.00 + 234.52 + 99.00) = 81.48; credits 50.00; total 860.02 +
///   81.48 - 50.00 = 891.50.
/// - CN-2026-0001 credits 50.00 of INV-2026-00057's overage: reason "Order change".
#[tokio::test]
async fn the_demos_entitlement_and_pricing_rule_lines_read_well_on_the_pdf() {
    let env = TestEnv::new().await;
    env.ok(&["demo"]);
    let team = pdf_words(
        &env,
        &["invoice", "show", "--org", "demo", "INV-2026-00057"],
    );
    for expected in [
        "Entitlements $352.34",
        "API calls over the allowance 10,167 $0.02 $203.34",
        "1 Jan 2026 – 31 Jan 2026 · 20,167 used, 10,000 included: 10,167 over",
        "API calls included 10,000 $149.00",
        "1 Feb 2026 – 28 Feb 2026 · 10,000 included",
        "Amount due $352.34",
    ] {
        assert!(team.contains(expected), "{expected:?} in:\n{team}");
    }
    assert!(!team.contains("entitled"), "{team}");
    assert_no_raw_ids(&team);

    let growth = pdf_words(
        &env,
        &["invoice", "show", "--org", "demo", "INV-2026-00032"],
    );
    for expected in [
        "API calls 13,411 $526.50",
        "Tier 1 1,000 $0.10 $100.00",
        "Tier 2, above 1,000 9,000 $0.05 $450.00",
        "Tier 3, above 10,000: 35 packages of 100 at $1.00 3,411 $35.00",
        "1 Jan 2026 – 31 Jan 2026 · Pricing rule “10 % off API calls over $500”: $585.00 → $526.50",
        "Pricing rule “10 % off API calls over $500” -$58.50",
        "Subtotal $860.02",
        "Minimum commitment true-up $81.48",
        "Credits -$50.00",
        "Total $891.50",
    ] {
        assert!(growth.contains(expected), "{expected:?} in:\n{growth}");
    }
    assert!(
        !growth.contains("13411 units") && !growth.contains("->"),
        "{growth}"
    );
    assert_no_raw_ids(&growth);
    // `invoice show` (text) words the slabs and the rule as the documents do (issue
    // 16: it printed "slab 1 (above 0: ...)" and "pricing rule ... -> ...").
    let text = env.ok(&["invoice", "show", "--org", "demo", "INV-2026-00032"]);
    for expected in [
        // A tier keeps its quantity, as in the documents' column: 9,000 x 0.05 = 450.00.
        "Tier 2, above 1,000 x 9000 @ 0.05  450.00",
        "Tier 3, above 10,000: 35 packages of 100 at $1.00",
        "Pricing rule “10 % off API calls over $500”",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("slab ") && !text.contains("pricing rule ") && !text.contains("->"),
        "{text}"
    );

    env.ok(&[
        "credit-note",
        "create",
        "--org",
        "demo",
        "--invoice",
        "INV-2026-00057",
        "--line",
        "api_overage=50.00",
        "--reason",
        "order_change",
        "--description",
        "Overage billed before the plan change",
        "--at",
        "2026-02-20T10:00:00Z",
    ]);
    let note = pdf_words(
        &env,
        &["credit-note", "show", "--org", "demo", "CN-2026-0001"],
    );
    for expected in [
        "For invoice INV-2026-00057",
        "Reason Order change",
        "API calls over the allowance $50.00",
        "Total $50.00",
        // Issue 16: its free text, and where the credit went (DUE: off the balance).
        "Overage billed before the plan change",
        "Off the invoice's balance: $50.00",
    ] {
        assert!(note.contains(expected), "{expected:?} in:\n{note}");
    }
    assert!(
        !note.contains("PAYMENT") && !note.contains("this invoice"),
        "{note}"
    );
    assert_no_raw_ids(&note);
}
