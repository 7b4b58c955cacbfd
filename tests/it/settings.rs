//! Settings that feed invoice documents, set from the CLI: the logo (checked on
//! upload, drawn in the PDF), billing-details profiles, organisation templates per
//! account, and a DUE invoice keeping what it was rendered with.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rust_decimal_macros::dec;

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

/// A test organisation `acme` (USD, UTC, numbers INV-2026-0001...) on the growth
/// plan with accounts each using 15,000 API calls in January: their 1 Feb invoices
/// are $600.00 of usage + $99.00 platform fee = $699.00, their 1 Jan ones $99.00.
async fn setup(env: &TestEnv, accounts: &[&str]) {
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    for (i, a) in accounts.iter().enumerate() {
        env.account("acme", a)
            .with_usage(&format!("e{i}"), "2026-01-05T10:00:00Z", dec!(15000))
            .await;
    }
}

struct Cli<'a> {
    db: &'a TestDb,
    config: PathBuf,
    scratch: &'a Scratch,
}

impl Cli<'_> {
    fn run(&self, args: &[&str]) -> Output {
        let mut c = billrun(&self.db.url, &self.config);
        c.args(args);
        run(c)
    }
    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "billrun {args:?} failed:\n{}",
            stderr(&out)
        );
        stdout(&out)
    }
    /// Runs a command that must fail; its stderr.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "billrun {args:?} should have been refused:\n{}",
            stdout(&out)
        );
        stderr(&out)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.scratch.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }
    /// The stored HTML and the PDF's text (pdftotext -layout) of an invoice.
    fn documents(&self, invoice: &str) -> (String, String, PathBuf) {
        let pdf = self.scratch.path().join(format!("{invoice}.pdf"));
        let html = self.scratch.path().join(format!("{invoice}.html"));
        self.ok(&[
            "invoice",
            "show",
            "--org",
            "acme",
            invoice,
            "--pdf",
            pdf.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ]);
        (std::fs::read_to_string(&html).unwrap(), pdf_text(&pdf), pdf)
    }
}

fn pdf_text(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    assert!(
        out.status.success(),
        "pdftotext failed on {}",
        pdf.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The images of a PDF as `pdfimages -list` reports them: (width, height).
fn pdf_images(pdf: &Path) -> Vec<(u32, u32)> {
    let out = Command::new("pdfimages")
        .arg("-list")
        .arg(pdf)
        .output()
        .expect("pdfimages (apt-get install poppler-utils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 4 && f[2] == "image").then(|| (f[3].parse().unwrap(), f[4].parse().unwrap()))
        })
        .collect()
}

fn assert_shows(text: &str, what: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "the {what} should show {e:?}:\n{text}");
    }
}

/// The id of the invoice of `account` at `boundary`.
async fn invoice_id(db: &TestDb, account: &str, boundary: &str) -> String {
    sqlx::query_scalar(
        "SELECT id FROM invoices WHERE org_id = 'acme' AND account_id = $1 AND boundary = $2::date",
    )
    .bind(account)
    .bind(boundary)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

const LOGO: &[u8] = include_bytes!("../../crates/billrun-render/assets/sample-logo.png");

#[tokio::test]
async fn logo_is_checked_on_upload_and_drawn_with_the_billing_details_in_the_pdf() {
    let env = TestEnv::new().await;
    let db = env.db();
    setup(&env, &["a1"]).await;
    let cli = Cli {
        db,
        config: env.config().to_path_buf(),
        scratch: &env.scratch,
    };

    // Refused uploads name the file and say what was expected; nothing is stored.
    let not_image = cli.file("not-a-logo.pdf", b"%PDF-1.7\n1 0 obj << >> endobj\n");
    let err = cli.refused(&["logo", "set", "--org", "acme", &not_image]);
    assert_shows(
        &err,
        "error",
        &[
            "not-a-logo.pdf",
            "not a PNG or JPEG image (the file starts with 25 50 44 46",
            "expected a PNG or JPEG file of at most 1 MiB",
        ],
    );
    let mut huge = LOGO.to_vec();
    huge.resize(1_600_000, 0);
    let huge = cli.file("huge-logo.png", &huge);
    let err = cli.refused(&["logo", "set", "--org", "acme", &huge]);
    assert_shows(
        &err,
        "error",
        &["huge-logo.png", "logo is 1.5 MiB, at most 1 MiB"],
    );
    let err = cli.refused(&["logo", "show", "--org", "acme"]);
    assert!(err.contains("has no logo"), "{err}");

    // A valid PNG is stored as the current logo.
    let good = cli.file("northwind.png", LOGO);
    let out = cli.ok(&["logo", "set", "--org", "acme", &good]);
    assert!(out.contains("PNG 480x128 px"), "{out}");
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["logo", "show", "--org", "acme", "--json"])).unwrap();
    assert_eq!(shown["fileName"], "northwind.png");
    assert_eq!(
        (shown["width"].as_i64(), shown["height"].as_i64()),
        (Some(480), Some(128))
    );
    assert_eq!(shown["size"].as_i64(), Some(LOGO.len() as i64));

    // A profile for the built-in template.
    cli.ok(&[
        "billing-details",
        "create",
        "--org",
        "acme",
        "main",
        "--legal-name",
        "Acme Cloud Services GmbH",
        "--line1",
        "Friedrichstraße 10",
        "--postal-code",
        "10117",
        "--city",
        "Berlin",
        "--country",
        "DE",
        "--tax-id",
        "DE999888777",
        "--email",
        "invoices@acme.example",
        "--payment-instructions",
        "IBAN DE02 1203 0000 0000 2020 51",
        "--payment-instructions",
        "BIC BYLADEM1001",
        "--footer-note",
        "Paid within 15 days, with thanks.",
    ]);
    let err = cli.refused(&[
        "billing-details",
        "create",
        "--org",
        "acme",
        "other",
        "--legal-name",
        "X",
        "--country",
        "Germany",
    ]);
    assert!(err.contains("country"), "{err}");
    // Limits on every field (README "Input limits"): a 2,001-character footer note,
    // 21 payment-instruction lines, a 256-character line; nothing is written.
    let long_note = "n".repeat(2001);
    let err = cli.refused(&[
        "billing-details",
        "update",
        "--org",
        "acme",
        "main",
        "--footer-note",
        &long_note,
    ]);
    assert!(err.contains("footerNote") && err.contains("2000"), "{err}");
    let mut args = vec!["billing-details", "update", "--org", "acme", "main"];
    for _ in 0..21 {
        args.extend(["--payment-instructions", "IBAN"]);
    }
    let err = cli.refused(&args);
    assert!(
        err.contains("paymentInstructions: 21 lines, at most 20"),
        "{err}"
    );
    let long_line = "x".repeat(256);
    let err = cli.refused(&[
        "billing-details",
        "update",
        "--org",
        "acme",
        "main",
        "--payment-instructions",
        &long_line,
    ]);
    assert!(
        err.contains("paymentInstructions[1]") && err.contains("255"),
        "{err}"
    );
    let kept: serde_json::Value =
        serde_json::from_str(&cli.ok(&["billing-details", "list", "--org", "acme", "--json"]))
            .unwrap();
    assert_eq!(
        kept[0]["footerNote"].as_str(),
        Some("Paid within 15 days, with thanks."),
        "{kept}"
    );
    cli.ok(&[
        "template",
        "update",
        "--org",
        "acme",
        "builtin",
        "--billing-details",
        "main",
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&cli.ok(&["billing-details", "list", "--org", "acme", "--json"]))
            .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["taxId"], "DE999888777");
    assert_eq!(list[0]["address"]["postalCode"], "10117");

    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let feb = invoice_id(db, "a1", "2026-02-01").await;
    let (html, text, pdf) = cli.documents(&feb);
    assert_shows(
        &text,
        "PDF",
        &[
            "INV-2026-0002",
            "Acme Cloud Services GmbH",
            "Friedrichstraße 10",
            "10117 Berlin",
            "DE999888777",
            "invoices@acme.example",
            "IBAN DE02 1203 0000 0000 2020 51",
            "BIC BYLADEM1001",
            "Paid within 15 days, with thanks.",
            "$600.00",
            "$99.00",
            "$699.00",
        ],
    );
    assert_eq!(pdf_images(&pdf), vec![(480, 128)], "the logo, once");
    assert!(
        html.contains("src=\"data:image/png;base64,iVBORw0KGgo"),
        "logo in the HTML"
    );
    assert_shows(
        &html,
        "HTML",
        &["Acme Cloud Services GmbH", "DE999888777", "$699.00"],
    );
    let recorded: (
        String,
        Option<i32>,
        Option<String>,
        Option<i32>,
        serde_json::Value,
    ) = sqlx::query_as(
        "SELECT template, template_version, billing_details_profile, logo_version, billing_details
             FROM invoice_documents WHERE invoice_id = $1",
    )
    .bind(&feb)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        (
            recorded.0.as_str(),
            recorded.1,
            recorded.2.as_deref(),
            recorded.3
        ),
        ("builtin", None, Some("main"), Some(1))
    );
    assert_eq!(recorded.4["legal_name"], "Acme Cloud Services GmbH");

    // Removing the logo: invoices rendered from now on have none; a re-render of
    // this one keeps the logo it was rendered with.
    cli.ok(&["logo", "remove", "--org", "acme"]);
    cli.ok(&["invoice", "rerender", "--org", "acme", "INV-2026-0002"]);
    let (_, _, pdf) = cli.documents(&feb);
    assert_eq!(
        pdf_images(&pdf),
        vec![(480, 128)],
        "re-rendered with its logo"
    );
}

const FANCY_V1: &str = r#"<html><body>
<h1>FANCY-MARK-V1 {{ number }}</h1>
<p>From {{ billing_details.legal_name }}{% if billing_details.tax_id %}, VAT {{ billing_details.tax_id }}{% endif %}</p>
<p>Bill to {{ customer.name }}</p>
{% for g in groups %}{% for l in g.lines %}<p>{{ l.display_name }}: {{ l.amount.display }}</p>
{% endfor %}{% endfor %}<p>Total due {{ amount_due.display }}</p>
</body></html>
"#;

#[tokio::test]
async fn an_account_uses_its_template_and_a_due_invoice_keeps_what_it_was_rendered_with() {
    let env = TestEnv::new().await;
    let db = env.db();
    setup(&env, &["a1", "a2"]).await;
    let cli = Cli {
        db,
        config: env.config().to_path_buf(),
        scratch: &env.scratch,
    };
    for (id, name, tax) in [
        ("main", "Acme Main GmbH", "DE111"),
        ("uk", "Acme UK Ltd", "GB222"),
    ] {
        cli.ok(&[
            "billing-details",
            "create",
            "--org",
            "acme",
            id,
            "--legal-name",
            name,
            "--tax-id",
            tax,
        ]);
    }
    cli.ok(&[
        "template",
        "update",
        "--org",
        "acme",
        "builtin",
        "--billing-details",
        "main",
    ]);

    // A template that names a field the view model lacks is refused with Tera's error.
    let bad = cli.file("typo.html.tera", b"<p>{{ customer.nmae }}</p>");
    let err = cli.refused(&[
        "template",
        "add",
        "--org",
        "acme",
        "fancy",
        "--file",
        &bad,
        "--billing-details",
        "uk",
    ]);
    assert_shows(
        &err,
        "error",
        &["typo.html.tera", "customer.nmae", "not found in context"],
    );
    let bad = cli.file("syntax.html.tera", b"<p>{% for x in groups %}</p>");
    let err = cli.refused(&[
        "template",
        "add",
        "--org",
        "acme",
        "fancy",
        "--file",
        &bad,
        "--billing-details",
        "uk",
    ]);
    assert!(err.contains("syntax.html.tera refused: template:"), "{err}");

    let fancy = cli.file("fancy.html.tera", FANCY_V1.as_bytes());
    let err = cli.refused(&[
        "template",
        "add",
        "--org",
        "acme",
        "fancy",
        "--file",
        &fancy,
        "--billing-details",
        "nope",
    ]);
    assert!(err.contains("profile \"nope\" does not exist"), "{err}");
    cli.ok(&[
        "template",
        "add",
        "--org",
        "acme",
        "fancy",
        "--file",
        &fancy,
        "--billing-details",
        "uk",
    ]);
    cli.ok(&["account", "set-template", "--org", "acme", "a1", "fancy"]);
    let err = cli.refused(&["account", "set-template", "--org", "acme", "a2", "nope"]);
    assert!(err.contains("template \"nope\" does not exist"), "{err}");
    let list: serde_json::Value =
        serde_json::from_str(&cli.ok(&["template", "list", "--org", "acme", "--json"])).unwrap();
    assert_eq!(list[0]["id"], "builtin");
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[0]["billingDetails"], "main");
    assert_eq!(list[1]["id"], "fancy");
    assert_eq!(list[1]["version"], 1);
    assert_eq!(list[1]["billingDetails"], "uk");
    assert_eq!(list[1]["accounts"], serde_json::json!(["a1"]));

    cli.ok(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    let a1 = invoice_id(db, "a1", "2026-02-01").await;
    let a2 = invoice_id(db, "a2", "2026-02-01").await;
    let (html1, text1, _) = cli.documents(&a1);
    let number1: String = sqlx::query_scalar("SELECT number FROM invoices WHERE id = $1")
        .bind(&a1)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    // a1: its own template, its profile, in the HTML and (HTML route) in the PDF.
    for (what, text) in [("HTML", &html1), ("PDF", &text1)] {
        assert_shows(
            text,
            what,
            &[
                &format!("FANCY-MARK-V1 {number1}"),
                "From Acme UK Ltd, VAT GB222",
                "Bill to cust-a1",
                "API calls: $600.00",
                "Platform fee: $99.00",
                "Total due $699.00",
            ],
        );
    }
    // a2: the organisation's default, the built-in template, with its profile.
    let (html2, text2, _) = cli.documents(&a2);
    assert!(!html2.contains("FANCY-MARK") && !text2.contains("FANCY-MARK"));
    assert_shows(
        &text2,
        "PDF",
        &["INVOICE", "Acme Main GmbH", "DE111", "$699.00"],
    );

    // Editing the profile and the template afterwards changes nothing rendered.
    let stored = |id: String| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, Vec<u8>, String, Option<i32>)>(
                "SELECT html, pdf, template, template_version FROM invoice_documents WHERE invoice_id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = stored(a1.clone()).await;
    assert_eq!((before.2.as_str(), before.3), ("fancy", Some(1)));
    cli.ok(&[
        "billing-details",
        "update",
        "--org",
        "acme",
        "uk",
        "--legal-name",
        "Renamed Holdings plc",
        "--clear",
        "tax-id",
    ]);
    let v2 = cli.file(
        "fancy-v2.html.tera",
        FANCY_V1.replace("V1", "V2").as_bytes(),
    );
    let out = cli.ok(&[
        "template", "update", "--org", "acme", "fancy", "--file", &v2,
    ]);
    assert!(out.contains("version 2"), "{out}");
    assert_eq!(
        cli.ok(&[
            "template",
            "show",
            "--org",
            "acme",
            "fancy",
            "--version",
            "1"
        ]),
        FANCY_V1
    );
    // The rendering step run again renders nothing; the document is as it was.
    let payload = serde_json::json!({"organisation": "acme", "invoices": [a1]}).to_string();
    let job: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "run",
        "render-chunk",
        &payload,
        "--now",
        "2026-02-02T00:00:00Z",
        "--json",
    ]))
    .unwrap();
    assert_eq!(job["result"]["rendered"], 0);
    assert_eq!(stored(a1.clone()).await, before);

    // An explicit re-render uses what was recorded: template version 1 and the
    // billing details as they were.
    cli.ok(&["invoice", "rerender", "--org", "acme", &number1]);
    let (html1b, text1b, _) = cli.documents(&a1);
    for (what, text) in [("HTML", &html1b), ("PDF", &text1b)] {
        assert_shows(
            text,
            what,
            &[
                "FANCY-MARK-V1",
                "From Acme UK Ltd, VAT GB222",
                "Total due $699.00",
            ],
        );
        assert!(!text.contains("V2") && !text.contains("Renamed"), "{text}");
    }
    assert_eq!(html1b, html1, "the same HTML, rendered again");
    let after = stored(a1.clone()).await;
    assert_eq!((after.2.as_str(), after.3), ("fancy", Some(1)));

    // The next invoice takes the current settings: version 2, the renamed profile.
    cli.ok(&["run", "cycle-close", "--now", "2026-03-01T00:00:00Z"]);
    let mar = invoice_id(db, "a1", "2026-03-01").await;
    let (html3, text3, _) = cli.documents(&mar);
    for (what, text) in [("HTML", &html3), ("PDF", &text3)] {
        assert_shows(text, what, &["FANCY-MARK-V2", "From Renamed Holdings plc"]);
    }
    assert!(!html3.contains("VAT"), "the tax id was cleared");
    assert_eq!(stored(mar).await.3, Some(2));

    // Template versions are immutable in the database too.
    let e =
        sqlx::query("UPDATE invoice_template_versions SET body = 'x' WHERE template_id = 'fancy'")
            .execute(&db.pool)
            .await
            .unwrap_err();
    assert!(e.to_string().contains("immutable"), "{e}");

    // Back to the organisation's default; the default can be the org template.
    cli.ok(&[
        "account",
        "set-template",
        "--org",
        "acme",
        "a1",
        "--default",
    ]);
    cli.ok(&["template", "set-default", "--org", "acme", "fancy"]);
    let list: serde_json::Value =
        serde_json::from_str(&cli.ok(&["template", "list", "--org", "acme", "--json"])).unwrap();
    assert_eq!(list[0]["default"], false);
    assert_eq!(list[1]["default"], true);
    assert_eq!(list[1]["version"], 2);
    assert_eq!(list[1]["accounts"], serde_json::json!([]));
}
