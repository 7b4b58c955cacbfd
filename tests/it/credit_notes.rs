//! Credit notes through the CLI (README "Credit notes"): a partial note of some lines
//! on a taxed DUE invoice, an amount on a PAID one becoming credits, over-credit
//! refused with nothing written, a void issuing a note for what is left, and gapless
//! numbers across them. Every figure is worked by hand in the comments.

use serde_json::{json, Value};

use crate::env::TestEnv;

/// Monthly (day 1), in arrears: seats 100.00 and support 50.00 at the default 19 %,
/// books 45.45 at the reduced 7 % (`taxRateCode`).
pub(crate) fn plan() -> Value {
    let fee = |name: &str, rate: &str| {
        json!({"name": name, "displayName": name, "type": "RECURRING",
               "rateValues": [{"currency": "USD", "rate": rate}]})
    };
    let mut books = fee("books", "45.45");
    books["taxRateCode"] = json!("DE_REDUCED");
    json!({
        "name": "fees", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"}},
        "fixedFeeRateCards": [fee("seats", "100.00"), fee("support", "50.00"), books]
    })
}

fn invoice_of(cli: &TestEnv, account: &str) -> Value {
    cli.json(&["invoice", "list", "--org", "acme", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["accountId"] == account)
        .cloned()
        .unwrap_or_else(|| panic!("{account}'s invoice"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("a string: {v}"))
}

#[tokio::test]
async fn partial_amount_and_void_credit_notes_on_taxed_invoices() {
    let cli = TestEnv::new().await;
    cli.org("acme")
        .number_format("INV-{SEQ:4}")
        .net_terms(30)
        .with_plan(plan())
        .await;
    cli.account("acme", "a1").on_plan("fees").await;
    cli.account("acme", "a2").on_plan("fees").await;
    for (code, name, cat, pct, default) in [
        ("DE_STANDARD", "VAT 19%", "S", "19", true),
        ("DE_REDUCED", "VAT 7%", "AA", "7", false),
    ] {
        let mut args = vec![
            "tax",
            "put-rate",
            "--org",
            "acme",
            code,
            "--name",
            name,
            "--category",
            cat,
            "--percentage",
            pct,
        ];
        if default {
            args.push("--default");
        }
        cli.ok(&args);
    }
    // Billing details with payment instructions and a closing note written for
    // invoices: the credit note leaves the first out and words the second for itself.
    cli.ok(&[
        "billing-details",
        "create",
        "--org",
        "acme",
        "main",
        "--legal-name",
        "Acme GmbH",
        "--country",
        "DE",
        "--payment-instructions",
        "IBAN DE02 1203 0000 0000 2020 51",
        "--footer-note",
        "Questions about this invoice: billing@acme.example",
    ]);
    cli.ok(&[
        "template",
        "update",
        "--org",
        "acme",
        "builtin",
        "--billing-details",
        "main",
    ]);
    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);

    // Each invoice: net 100.00 + 50.00 + 45.45 = 195.45; 19 %: 150.00 x 0.19 = 28.50;
    // 7 %: 45.45 x 0.07 = 3.1815 -> 3.18; tax 31.68; total 227.13.
    let (i1, i2) = (invoice_of(&cli, "a1"), invoice_of(&cli, "a2"));
    for i in [&i1, &i2] {
        assert_eq!(
            (s(&i["tax"]), s(&i["total"]), s(&i["amountDue"])),
            ("31.68", "227.13", "227.13")
        );
    }
    let (n1, n2) = (s(&i1["number"]).to_string(), s(&i2["number"]).to_string());
    let settings = cli.json(&["credit-note", "configure", "--org", "acme", "--json"]);
    assert_eq!(settings["numberFormat"], "CN-{YYYY}-{SEQ:4}");
    assert_eq!(settings["voidIssuesCreditNote"], false);

    // 1. A partial note of three lines on the DUE invoice: seats 33.33 + support 10.01
    // = 43.34 at 19 % = 8.2346 -> 8.23; books 20.00 at 7 % = 1.40. Net 63.34, tax
    // 9.63, total 72.97, all off the balance due: 227.13 - 72.97 = 154.16.
    let cn = cli.json(&[
        "credit-note",
        "create",
        "--org",
        "acme",
        "--invoice",
        &n1,
        "--line",
        "seats=33.33",
        "--line",
        "support=10.01",
        "--line",
        "books=20.00",
        "--reason",
        "duplicated_charge",
        "--description",
        "Seats counted twice in January",
        "--at",
        "2026-02-05T10:00:00Z",
        "--json",
    ]);
    assert_eq!(
        (
            s(&cn["number"]),
            s(&cn["net"]),
            s(&cn["tax"]),
            s(&cn["total"])
        ),
        ("CN-2026-0001", "63.34", "9.63", "72.97")
    );
    assert_eq!(
        (
            s(&cn["balanceAmount"]),
            s(&cn["creditAmount"]),
            s(&cn["refundAmount"])
        ),
        ("72.97", "0.00", "0.00")
    );
    assert_eq!(
        (s(&cn["invoiceAmountDue"]), s(&cn["reason"])),
        ("154.16", "DUPLICATED_CHARGE")
    );
    credit_note_document_shows_the_note(&cli, &n1);
    let taxes: Vec<(&str, &str, &str)> = cn["lines"]["taxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (s(&t["code"]), s(&t["taxableAmount"]), s(&t["amount"])))
        .collect();
    assert_eq!(
        taxes,
        [
            ("DE_STANDARD", "43.34", "8.23"),
            ("DE_REDUCED", "20.00", "1.40")
        ]
    );
    assert_eq!(s(&invoice_of(&cli, "a1")["amountDue"]), "154.16");

    // 2. Over-credit: seats has 100.00 - 33.33 = 66.67 left; 66.68 is refused, naming
    // the line, and nothing is written (no note, no number used, balance unchanged).
    let err = cli.fails(&[
        "credit-note",
        "create",
        "--org",
        "acme",
        "--invoice",
        &n1,
        "--line",
        "seats=66.68",
        "--reason",
        "OTHER",
    ]);
    assert!(
        err.contains("line 1 (seats): 66.68 is more than the 66.67 left to credit of its 100.00 (earlier credit notes took 33.33)"),
        "{err}"
    );
    let bad = cli.fails(&[
        "credit-note",
        "create",
        "--org",
        "acme",
        "--invoice",
        &n1,
        "--line",
        "nope=1.00",
        "--reason",
        "OTHER",
    ]);
    assert!(
        bad.contains("line \"nope\"") && bad.contains("seats (66.67 left)"),
        "{bad}"
    );
    let reason = cli.fails(&[
        "credit-note",
        "create",
        "--org",
        "acme",
        "--invoice",
        &n1,
        "--amount",
        "1",
        "--reason",
        "WHY",
    ]);
    assert!(
        reason.contains("--reason") && reason.contains("ORDER_CANCELLATION"),
        "{reason}"
    );
    assert_eq!(
        cli.json(&["credit-note", "list", "--org", "acme", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s(&invoice_of(&cli, "a1")["amountDue"]), "154.16");

    // 3. An amount on the PAID invoice: 39.09 spread over 195.45 left (a fifth):
    // seats 20.00, support 10.00, books 9.09. Tax: 30.00 x 19 % = 5.70; 9.09 x 7 % =
    // 0.6363 -> 0.64; 6.34. Total 45.43, nothing due: all of it credits, a grant of
    // 45.43 for a2 (its balance).
    cli.ok(&["invoice", "mark-paid", "--org", "acme", &n2]);
    let cn2 = cli.json(&[
        "credit-note",
        "create",
        "--org",
        "acme",
        "--invoice",
        &n2,
        "--amount",
        "39.09",
        "--reason",
        "PRODUCT_UNSATISFACTORY",
        "--at",
        "2026-02-06T10:00:00Z",
        "--json",
    ]);
    assert_eq!(
        (
            s(&cn2["number"]),
            s(&cn2["net"]),
            s(&cn2["tax"]),
            s(&cn2["total"])
        ),
        ("CN-2026-0002", "39.09", "6.34", "45.43")
    );
    let nets: Vec<&str> = cn2["lines"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| s(&l["net"]))
        .collect();
    assert_eq!(nets, ["20.00", "10.00", "9.09"]);
    assert_eq!(
        (s(&cn2["balanceAmount"]), s(&cn2["creditAmount"])),
        ("0.00", "45.43")
    );
    assert!(cn2["creditGrantId"].is_string(), "{cn2}");
    let balance = cli.ok(&["credit", "balance", "--org", "acme", "--account", "a2"]);
    assert!(balance.contains("45.43"), "{balance}");

    // 4. A void with the setting on: a note for everything left of a1's invoice:
    // seats 66.67 + support 39.99 = 106.66 and books 25.45, net 132.11; the rates are
    // closed, so their tax is what is left: 28.50 - 8.23 = 20.27 and 3.18 - 1.40 = 1.78,
    // 22.05. Total 154.16 = 227.13 - 72.97, all of it off the balance due (0.00 now).
    cli.ok(&[
        "credit-note",
        "configure",
        "--org",
        "acme",
        "--void-issues-credit-note",
        "true",
    ]);
    let v = cli.json(&[
        "invoice",
        "void",
        "--org",
        "acme",
        &n1,
        "--at",
        "2026-02-07T10:00:00Z",
        "--json",
    ]);
    assert_eq!(v["creditNote"], "CN-2026-0003", "{v}");
    let cn3 = cli.json(&[
        "credit-note",
        "show",
        "--org",
        "acme",
        "CN-2026-0003",
        "--json",
    ]);
    assert_eq!(
        (
            s(&cn3["net"]),
            s(&cn3["tax"]),
            s(&cn3["total"]),
            s(&cn3["balanceAmount"])
        ),
        ("132.11", "22.05", "154.16", "154.16")
    );
    assert_eq!(
        (s(&cn3["reason"]), cn3["fromVoid"].as_bool()),
        ("ORDER_CANCELLATION", Some(true))
    );
    assert_eq!(s(&cn3["invoiceAmountDue"]), "0.00");
    // Gapless, in order, across both invoices; one invoice's only.
    let all = cli.json(&["credit-note", "list", "--org", "acme", "--json"]);
    let numbers: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(&n["number"]))
        .collect();
    assert_eq!(numbers, ["CN-2026-0001", "CN-2026-0002", "CN-2026-0003"]);
    let of_a1 = cli.json(&[
        "credit-note",
        "list",
        "--org",
        "acme",
        "--invoice",
        &n1,
        "--json",
    ]);
    assert_eq!(of_a1.as_array().unwrap().len(), 2);
    // Nothing left to credit of the voided invoice.
    let none = cli.fails(&[
        "credit-note",
        "create",
        "--org",
        "acme",
        "--invoice",
        &n1,
        "--amount",
        "1.00",
        "--reason",
        "OTHER",
    ]);
    assert!(none.contains("is VOID"), "{none}");
    // Another organisation sees none of it.
    cli.org("other").await;
    let hidden = cli.fails(&["credit-note", "show", "--org", "other", "CN-2026-0001"]);
    assert!(
        hidden.contains("organisation other has no credit note CN-2026-0001"),
        "{hidden}"
    );
}

/// CN-2026-0001's document (README "Credit notes"): `show --pdf` writes its stored
/// Factur-X PDF; pdftotext shows the title, its number, the invoice's, and the
/// totals worked out above (net 43.34 + 20.00 = 63.34; tax per rate 8.23 and 1.40,
/// 9.63 in all; total 63.34 + 9.63 = 72.97; seats' share of the 19 % tax:
/// 8.23 x 33.33 / 43.34 = 6.329 -> 6.33); the `factur-x` library (target/facturx-venv, see
/// crates/billrun-render/tests/facturx.rs) finds a valid factur-x.xml in it (XSD
/// EN 16931) of type 381 whose BT-25 is the invoice's number.
fn credit_note_document_shows_the_note(cli: &TestEnv, invoice: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("cn.pdf");
    cli.ok(&[
        "credit-note",
        "show",
        "--org",
        "acme",
        "CN-2026-0001",
        "--pdf",
        pdf.to_str().unwrap(),
    ]);
    let text = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    let text = String::from_utf8_lossy(&text.stdout);
    for expected in [
        "CREDIT NOTE",
        "CN-2026-0001",
        "For invoice",
        invoice,
        "Net total",
        "$63.34",
        "VAT 19% on $43.34",
        "$8.23",
        "VAT 7% on $20.00",
        "$1.40",
        "Total",
        "$72.97",
        "VAT 19%: $6.33",
        // The reason in words, not its code (issue 16: no raw ids on documents).
        "Duplicated charge",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert!(!text.contains("DUPLICATED_CHARGE"), "{text}");
    // Issue 16: the free text and how the note was applied (all 72.97 off the
    // balance, nothing refunded or made credits) in its CREDIT block; no PAYMENT block
    // (nothing is to be paid), the closing note worded for a credit note, the tax rate
    // once.
    for expected in [
        "CREDIT",
        "Seats counted twice in January",
        "Off the invoice's balance: $72.97",
        "Questions about this credit note: billing@acme.example",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    for gone in [
        "PAYMENT",
        "IBAN DE02",
        "Refunded",
        "Added to the account's credits",
        "this invoice",
        "(19%)",
    ] {
        assert!(!text.contains(gone), "{gone:?} in:\n{text}");
    }
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/facturx-venv/bin/python");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, facturx\n\
             name, xml = facturx.get_facturx_xml_from_pdf(open(sys.argv[1], 'rb').read(), check_xsd=True)\n\
             assert name == 'factur-x.xml', name\n\
             sys.stdout.write(xml.decode('utf-8'))",
        ])
        .arg(&pdf)
        .output()
        .expect("target/facturx-venv (cargo test -p billrun-render --test facturx makes it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.contains("<ram:TypeCode>381</ram:TypeCode>"), "{xml}");
    assert!(
        xml.contains(&format!(
            "<ram:IssuerAssignedID>{invoice}</ram:IssuerAssignedID>"
        )),
        "{xml}"
    );
}
