//! Taxes through a bill run (README "Taxes"): rates and treatments set with the CLI,
//! taxes computed at cycle close, credits applied after tax at finalization, and the
//! same net / tax / gross in the invoice's JSON, text, HTML and PDF. Every figure is
//! worked by hand in the comments.

use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::fixtures;
use crate::invoicing::pdf_text;

/// Monthly (day 1), in arrears: 1.00 per API call (standard rate), a "books" fee of
/// 45.45 at the reduced rate (`taxRateCode`), and a 1000.00 minimum commitment.
fn plan() -> Value {
    json!({
        "name": "usage", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}},
        "usageRateCards": [{
            "name": "calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "1.00"}]}]
        }],
        "fixedFeeRateCards": [{
            "name": "books", "displayName": "E-books", "type": "RECURRING", "taxRateCode": "DE_REDUCED",
            "rateValues": [{"currency": "USD", "rate": "45.45"}]
        }],
        "minimumCommitment": {"displayName": "Monthly minimum",
                              "rateValues": [{"currency": "USD", "rate": 1000}]}
    })
}

fn invoice_of(cli: &TestEnv, account: &str) -> Value {
    cli.json(&["invoice", "list", "--org", "acme", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["accountId"] == account && i["boundary"] == "2026-02-01")
        .cloned()
        .unwrap_or_else(|| panic!("{account}'s invoice"))
}

fn pdf_and_html(cli: &TestEnv, number: &str) -> (String, String) {
    let (pdf, html) = (
        cli.scratch.path().join(format!("{number}.pdf")),
        cli.scratch.path().join(format!("{number}.html")),
    );
    cli.ok(&[
        "invoice",
        "show",
        "--org",
        "acme",
        number,
        "--pdf",
        pdf.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    (pdf_text(&pdf), std::fs::read_to_string(&html).unwrap())
}

#[tokio::test]
async fn a_german_seller_taxes_a_standard_and_a_reduced_card_and_reverse_charges_an_eu_business() {
    let cli = TestEnv::new().await;
    let pool = &cli.db.pool;
    cli.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(plan())
        .await;
    cli.account("acme", "a1").on_plan("usage").await;
    cli.account("acme", "a2").on_plan("usage").await;
    cli.ok(&[
        "tax",
        "put-rate",
        "--org",
        "acme",
        "DE_STANDARD",
        "--name",
        "VAT 19%",
        "--percentage",
        "19",
        "--default",
    ]);
    cli.ok(&[
        "tax",
        "put-rate",
        "--org",
        "acme",
        "DE_REDUCED",
        "--name",
        "VAT 7%",
        "--category",
        "AA",
        "--percentage",
        "7",
    ]);
    // A second default overlapping the first is refused, naming it.
    let err = cli.fails(&[
        "tax",
        "put-rate",
        "--org",
        "acme",
        "OTHER",
        "--name",
        "VAT 20%",
        "--percentage",
        "20",
        "--default",
    ]);
    assert!(err.contains("DE_STANDARD"), "{err}");
    cli.ok(&[
        "tax",
        "set-account",
        "--org",
        "acme",
        "a2",
        "--tax-id",
        "FR40303265045",
        "--treatment",
        "REVERSE_CHARGE",
    ]);
    let bad = cli.fails(&[
        "tax",
        "set-account",
        "--org",
        "acme",
        "a2",
        "--treatment",
        "REVERSE",
    ]);
    assert!(bad.contains("REVERSE_CHARGE"), "{bad}");
    let rates = cli.json(&["tax", "rates", "--org", "acme", "--json"]);
    assert_eq!(rates.as_array().unwrap().len(), 2, "{rates}");

    fixtures::event(pool, "acme", "e1", "a1", "2026-01-15T00:00:00Z", dec!(600)).await;
    fixtures::event(pool, "acme", "e2", "a2", "2026-01-15T00:00:00Z", dec!(600)).await;
    cli.ok(&[
        "credit",
        "grant",
        "--org",
        "acme",
        "--account",
        "a1",
        "--amount",
        "100.00",
        "--currency",
        "USD",
        "--from",
        "2026-01-01",
        "--key",
        "k1",
    ]);
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);

    // a1 (STANDARD): calls 600 x 1.00 = 600.00; books 45.45; sub-total 645.45;
    // true-up 1000.00 - 645.45 = 354.55 (a charge: the default rate).
    // 19 %: 600.00 + 354.55 = 954.55 x 0.19 = 181.3645 -> 181.36 (shares 114.00 and
    //       67.3645 -> 67.36).
    //  7 %: 45.45 x 0.07 = 3.1815 -> 3.18.
    // Tax 181.36 + 3.18 = 184.54; net 1000.00; gross 1184.54; credits after tax
    // 100.00; total 1184.54 - 100.00 = 1084.54.
    let inv = invoice_of(&cli, "a1");
    let lines = &inv["lines"];
    let taxes: Vec<(&str, &str, &str, &str)> = lines["taxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["code"].as_str().unwrap(),
                t["category"].as_str().unwrap(),
                t["taxableAmount"].as_str().unwrap(),
                t["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        taxes,
        [
            ("DE_STANDARD", "S", "954.55", "181.36"),
            ("DE_REDUCED", "AA", "45.45", "3.18")
        ]
    );
    assert_eq!(
        (
            inv["subTotal"].as_str(),
            inv["trueUp"].as_str(),
            inv["tax"].as_str(),
            inv["credits"].as_str(),
            inv["total"].as_str(),
            lines["grandTotal"]["amount"].as_str(),
        ),
        (
            Some("645.45"),
            Some("354.55"),
            Some("184.54"),
            Some("100.00"),
            Some("1084.54"),
            Some("1084.54")
        )
    );
    assert_eq!(lines["trueUp"]["tax"]["amount"], "67.36");
    let number = inv["number"].as_str().unwrap().to_string();
    let text = cli.ok(&["invoice", "show", "--org", "acme", &number]);
    assert!(text.contains("net:          1000.00 USD"), "{text}");
    assert!(
        text.contains("tax:          181.36 USD VAT 19% (19% on 954.55, category S)"),
        "{text}"
    );
    assert!(
        text.contains("tax:          3.18 USD VAT 7% (7% on 45.45, category AA)"),
        "{text}"
    );
    assert!(text.contains("gross:        1184.54 USD"), "{text}");
    assert!(text.contains("total:        1084.54 USD"), "{text}");
    let (pdf, html) = pdf_and_html(&cli, &number);
    for doc in [&pdf, &html] {
        assert!(doc.contains("Net total"), "{doc}");
        assert!(doc.contains("VAT 19% on $954.55"), "{doc}");
        // The rate once (issue 16: it was "VAT 19% (19%) on $954.55").
        assert!(!doc.contains("(19%)") && !doc.contains("(7%)"), "{doc}");
        assert!(doc.contains("$181.36"), "{doc}");
        assert!(doc.contains("VAT 7% on $45.45"), "{doc}");
        assert!(doc.contains("$3.18"), "{doc}");
        assert!(doc.contains("$1,184.54"), "{doc}");
        assert!(doc.contains("$1,084.54"), "{doc}");
        assert!(doc.contains("VAT 19%: $114.00"), "{doc}");
        assert!(!doc.contains("Reverse charge"), "{doc}");
    }

    // a2 (REVERSE_CHARGE, VAT id FR40303265045): the same net 1000.00, 0 % (AE) on
    // all of it, the reduced card included; tax 0.00; total 1000.00 (no credits).
    let inv = invoice_of(&cli, "a2");
    assert_eq!(inv["tax"], "0.00");
    assert_eq!(inv["total"], "1000.00");
    assert_eq!(inv["lines"]["taxes"][0]["category"], "AE");
    assert_eq!(inv["lines"]["taxes"][0]["taxableAmount"], "1000.00");
    let number = inv["number"].as_str().unwrap().to_string();
    let (pdf, html) = pdf_and_html(&cli, &number);
    for doc in [&pdf, &html] {
        assert!(
            doc.contains("Reverse charge: VAT to be accounted for by the recipient"),
            "{doc}"
        );
        assert!(doc.contains("VAT ID FR40303265045"), "{doc}");
        assert!(doc.contains("$1,000.00"), "{doc}");
    }

    // Every change was audited.
    let actions: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, outcome FROM audit_log WHERE org_id = 'acme' AND action LIKE '%tax%' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = actions
        .iter()
        .map(|(a, o)| (a.as_str(), o.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("tax_rate.put", "SUCCESS"),
            ("tax_rate.put", "SUCCESS"),
            ("tax_rate.put", "FAILURE"),
            ("account.set_tax", "SUCCESS"),
            ("account.set_tax", "FAILURE"),
        ]
    );
}

#[tokio::test]
async fn an_organisation_without_tax_rates_invoices_as_before() {
    let cli = TestEnv::new().await;
    let mut plan = plan();
    plan["fixedFeeRateCards"][0]
        .as_object_mut()
        .unwrap()
        .remove("taxRateCode");
    cli.org("acme")
        .number_format("INV-{SEQ:4}")
        .with_plan(plan)
        .await;
    cli.account("acme", "a1").on_plan("usage").await;
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    // No rates: books 45.45, true-up 1000.00 - 45.45 = 954.55, no tax, total 1000.00,
    // and no tax lines anywhere.
    let inv = invoice_of(&cli, "a1");
    assert_eq!(
        (inv["tax"].as_str(), inv["total"].as_str()),
        (Some("0.00"), Some("1000.00"))
    );
    assert!(inv["lines"].get("taxes").is_none(), "{inv}");
    assert!(inv["lines"].get("totalTax").is_none(), "{inv}");
    let number = inv["number"].as_str().unwrap().to_string();
    let text = cli.ok(&["invoice", "show", "--org", "acme", &number]);
    assert!(!text.contains("net:"), "{text}");
    let (pdf, _) = pdf_and_html(&cli, &number);
    assert!(
        !pdf.contains("Net total") && !pdf.contains("Gross total"),
        "{pdf}"
    );
}
