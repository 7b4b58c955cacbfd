//! The render step of the bill run: every finalized invoice gets its HTML and PDF,
//! once; exported from the CLI and parsed back.

use std::process::Command;
use std::time::Duration;

use billrun::queue::JobKind;

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

#[tokio::test]
async fn every_finalized_invoice_gets_its_documents_once_and_they_read_back() {
    let env = TestEnv::new().await;
    let pool = env.pool();
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "a1")
        .with_usage(
            "e1",
            "2026-01-05T10:00:00Z",
            rust_decimal_macros::dec!(15000),
        )
        .await;
    sqlx::query(
        "UPDATE customers SET name = 'Müller <script>alert(1)</script> & Co' WHERE id = 'cust-a1'",
    )
    .execute(pool)
    .await
    .unwrap();
    let cli = |args: &[&str]| env.cli().run(args);
    let out = cli(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (invoices, documents): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM invoices WHERE status = 'DUE'), (SELECT count(*) FROM invoice_documents)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        (invoices, documents),
        (2, 2),
        "one document per finalized invoice"
    );

    let pdf = env.scratch().join("inv.pdf");
    let html = env.scratch().join("inv.html");
    let out = cli(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-2026-0002",
        "--pdf",
        pdf.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    let text = String::from_utf8_lossy(&text.stdout);
    // The customer's name is drawn literally (wrapped inside its column).
    for expected in [
        "INV-2026-0002",
        "API calls",
        "Platform fee",
        "$699.00",
        "Müller",
        "<script>alert(1)</script> &",
        "acme",
    ] {
        assert!(
            text.contains(expected),
            "the PDF should show {expected:?}:\n{text}"
        );
    }
    // Each line's numbers, by hand: 15,000 calls over three slabs at different
    // prices (1,000 x $0.10 = $100.00, 9,000 x $0.05 = $450.00, 5,000 x $0.01 =
    // $50.00: $600.00, no single unit price); the fee in advance: 1 x $99.00.
    let row = |what: &str| {
        text.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("{what:?} not in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("API calls"), "API calls 15,000 $600.00");
    assert_eq!(row("Tier 3"), "Tier 3, above 10,000 5,000 $0.01 $50.00");
    assert_eq!(row("Platform fee"), "Platform fee 1 $99.00 $99.00");
    assert!(text.contains("Usage"), "the tag as a word: {text}");
    assert!(!text.contains("Credits"), "no credits, no row: {text}");
    // The PDF's metadata: its title, the seller as author, and the instant the
    // invoice was finalized as its creation date.
    let finalized: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT finalized_at FROM invoices WHERE number = 'INV-2026-0002'")
            .fetch_one(pool)
            .await
            .unwrap();
    let info = Command::new("pdfinfo")
        .arg("-isodates")
        .arg(&pdf)
        .output()
        .expect("pdfinfo (apt-get install poppler-utils)");
    let info = String::from_utf8_lossy(&info.stdout);
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {info}"))
    };
    assert_eq!(field("Title:"), "Invoice INV-2026-0002");
    assert_eq!(field("Author:"), "acme");
    assert_eq!(
        field("CreationDate:"),
        finalized.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    assert!(!field("CreationDate:").starts_with("1970"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Müller &lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; Co")
            || page.contains("Müller &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"),
        "escaped in HTML"
    );
    assert!(!page.contains("<script>alert(1)"));

    // Running the step again renders nothing; an explicit re-render does.
    let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT rendered_at FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id WHERE i.number = 'INV-2026-0002'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let id: String = sqlx::query_scalar("SELECT id FROM invoices WHERE number = 'INV-2026-0002'")
        .fetch_one(pool)
        .await
        .unwrap();
    let payload = serde_json::json!({"organisation": "acme", "invoices": [id]}).to_string();
    let out = cli(&[
        "run",
        "render-chunk",
        &payload,
        "--now",
        "2026-02-02T00:00:00Z",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let job: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(job["result"]["rendered"], 0);
    let out = cli(&["invoice", "rerender", "--org", "acme", "INV-2026-0002"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT rendered_at FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id WHERE i.number = 'INV-2026-0002'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(after > before, "re-rendered on request");
}

/// The environment variable the worker carries in the hostile-template test: it
/// must appear in no document and no email.
const PROBE: &str = "BILLRUN_LEAK_PROBE";
const SECRET: &str = "s3cret-postgres-password-7731";

/// Recurses without end, but only on a real invoice (the sample's customer is
/// "Müller Analytics GmbH"), so it passes the upload check.
const RECURSES_ON_REAL_DATA: &str = "{% macro deeper(n) %}{{ self::deeper(n=n+1) }}{% endmacro deeper %}\
<p>{{ number }}</p>{% if customer.name != \"Müller Analytics GmbH\" %}{{ self::deeper(n=1) }}{% endif %}";
/// Tera's range has no bound: a hundred million items only on real invoices.
const HUGE_RANGE_ON_REAL_DATA: &str =
    "<p>{{ number }}</p>{% if customer.name != \"Müller Analytics GmbH\" %}\
{% for i in range(end=100000000) %}{{ i }}{% endfor %}{% endif %}";

#[tokio::test]
async fn hostile_templates_are_refused_on_upload_and_contained_when_invoices_render() {
    let cli = TestEnv::new().await;
    let pool = &cli.db.pool;
    // Two organisations: "evil" with four accounts (three on hostile templates, one
    // on the built-in template), "good" with one account on its own benign template.
    for org in ["evil", "good"] {
        cli.org(org).with_plan(fixtures::growth_plan(0)).await;
        cli.ok(&[
            "billing-details",
            "create",
            "--org",
            org,
            "main",
            "--legal-name",
            org,
        ]);
    }
    for a in ["e1", "e2", "e3", "e4"] {
        cli.account("evil", a).await;
    }
    cli.account("good", "g1").await;
    sqlx::query("UPDATE accounts SET billing_emails = ARRAY[id || '@x.test']")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE organisations SET billing_email = 'billing@' || id || '.test'")
        .execute(pool)
        .await
        .unwrap();
    let add = |org: &str, id: &str, file: &str| {
        let file = cli.write(&format!("{id}.html.tera"), file);
        cli.run(&[
            "template",
            "add",
            "--org",
            org,
            id,
            "--file",
            &file,
            "--billing-details",
            "main",
        ])
    };

    // Refused on upload, each with its reason, exit 1 (never an abort: 134).
    for (id, text, why) in [
        (
            "env",
            "<p>{{ get_env(name=\"DATABASE_URL\", default=\"none\") }}</p>",
            "function get_env(): it would read the process environment",
        ),
        (
            "recursive",
            "{% macro r(n) %}{{ self::r(n=n+1) }}{% endmacro r %}{{ self::r(n=1) }}",
            "stack overflow",
        ),
        (
            "range",
            "{% for i in range(end=100000000) %}{{ i }}{% endfor %}",
            "100000000 items, organisation templates may have at most 10000",
        ),
        (
            "include",
            "{% include \"invoice.html\" %}",
            "cannot include another",
        ),
    ] {
        let out = add("evil", id, text);
        assert_eq!(out.status.code(), Some(1), "{id}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{id}.html.tera refused")),
            "{id}: {err}"
        );
        assert!(err.contains(why), "{id}: {err}");
    }

    // What passes the upload check and turns hostile on real invoices; and a
    // template that reads the environment, stored before uploads were checked
    // (written straight to its table as version 2 of a benign one).
    for (id, text) in [
        ("deep", RECURSES_ON_REAL_DATA),
        ("huge", HUGE_RANGE_ON_REAL_DATA),
        ("leak", "<p>{{ number }}</p>"),
    ] {
        let out = add("evil", id, text);
        assert!(out.status.success(), "{id}: {}", stderr(&out));
    }
    sqlx::query(
        "INSERT INTO invoice_template_versions (org_id, template_id, version, body, file_name, sha256)
         VALUES ('evil', 'leak', 2, $1, 'leak.html.tera', 'x')",
    )
    .bind(format!("<p>{{{{ number }}}} {{{{ get_env(name=\"{PROBE}\", default=\"none\") }}}}</p>"))
    .execute(pool)
    .await
    .unwrap();
    for (account, template) in [("e1", "deep"), ("e2", "huge"), ("e3", "leak")] {
        cli.ok(&[
            "account",
            "set-template",
            "--org",
            "evil",
            account,
            template,
        ]);
    }
    let out = add(
        "good",
        "plain",
        "<h1>Invoice {{ number }}</h1><p>{{ total.display }}</p>",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    cli.ok(&["template", "set-default", "--org", "good", "plain"]);

    // A real bill run through a worker that carries the secret in its environment.
    let mut worker = cli.worker().no_scheduler().env(PROBE, SECRET).spawn();
    cli.enqueue(
        JobKind::CycleClose,
        serde_json::json!({}),
        "2026-02-01T00:00:00Z",
    )
    .await;
    // Each account has two invoices (1 Jan opens January, 1 Feb closes it): g1's
    // and e4's four are rendered and emailed; e1..e3's six fail, each reported.
    let sent = |org: &'static str| async move {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM invoice_deliveries WHERE org_id = $1 AND status = 'SENT'",
        )
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap();
        n
    };
    for _ in 0..600 {
        if sent("good").await == 2 && sent("evil").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = worker.log();
    assert!(
        sent("good").await == 2 && sent("evil").await == 2,
        "good's and e4's emails:\n{log}"
    );
    let failed = wait_for(
        Duration::from_secs(120),
        "evil's render-chunk dead",
        || async {
            let jobs = cli.json(&[
                "jobs",
                "list",
                "--kind",
                "render-chunk",
                "--state",
                "dead",
                "--json",
            ]);
            jobs.as_array().unwrap().first().cloned()
        },
    )
    .await;
    let job = cli.json(&["jobs", "show", failed["id"].as_str().unwrap(), "--json"]);
    let error = job["lastError"].as_str().unwrap().to_string();
    assert!(
        error.contains("6 of 8 invoices not rendered (2 rendered)"),
        "{error}"
    );
    assert!(error.contains("template deep version 1: render refused: the template recursed deeper than its 64 MiB stack"), "{error}");
    assert!(
        error.contains("template huge version 1: template:") && error.contains("at most 10000"),
        "{error}"
    );
    assert!(
        error.contains("template leak version 2: template refused: function get_env()"),
        "{error}"
    );
    assert!(worker.0.try_wait().unwrap().is_none(), "the worker died");

    // No document for e1..e3; nothing anywhere shows the secret.
    let documents: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT i.account_id, d.html, d.pdf FROM invoice_documents d JOIN invoices i
           ON i.org_id = d.org_id AND i.id = d.invoice_id ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let accounts: Vec<&str> = documents.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(accounts, ["e4", "e4", "g1", "g1"]);
    for (account, html, pdf) in &documents {
        let path = cli.scratch.path().join(format!("{account}.pdf"));
        std::fs::write(&path, pdf).unwrap();
        let text = Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("INV-2026-"), "{account}: {text}");
        // Both routes (e4 the built-in layout, g1 its organisation's template in
        // the sandbox) store a Factur-X PDF: the e-invoice XML is in it.
        let xml = billrun_render::facturx::extract(pdf).expect("factur-x.xml in the PDF");
        let xml = String::from_utf8(xml).unwrap();
        assert!(
            xml.contains("<ram:ID>INV-2026-") && xml.contains("urn:cen.eu:en16931:2017"),
            "{account}: {xml}"
        );
        assert!(
            !text.contains(SECRET) && !html.contains(SECRET),
            "{account} leaks"
        );
    }
    for e in std::fs::read_dir(cli.scratch.path().join("data").join("outbox")).unwrap() {
        let eml = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!eml.contains(SECRET));
    }
    worker.terminate();
}

/// Issue 12 item 5: an organisation and a customer named at the 255-character
/// limit (one of them a single word) and an account named with an emoji go through
/// the bill run into a PDF whose words all lie inside the page margins, clear of
/// the INVOICE title and of each other, with the emoji printed as U+FFFD.
#[tokio::test]
async fn long_names_and_emoji_stay_inside_the_page_of_a_billed_invoice() {
    let env = TestEnv::new().await;
    let pool = env.pool();
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "a1").await;
    let org_name: String = "Acme Worldwide Holdings "
        .repeat(11)
        .chars()
        .take(255)
        .collect();
    let customer_name = "WMW".repeat(85);
    for (sql, value) in [
        (
            "UPDATE organisations SET name = $1 WHERE id = 'acme'",
            org_name.as_str(),
        ),
        (
            "UPDATE customers SET name = $1 WHERE id = 'cust-a1'",
            &customer_name,
        ),
        (
            "UPDATE accounts SET name = $1 WHERE id = 'a1'",
            "Production 🚀 eu-west",
        ),
    ] {
        sqlx::query(sql).bind(value).execute(pool).await.unwrap();
    }
    let out = env.run(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pdf = env.scratch().join("inv.pdf");
    let out = env.run(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-2026-0002",
        "--pdf",
        pdf.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let poppler = |args: &[&str]| {
        let out = Command::new("pdftotext")
            .args(args)
            .arg(&pdf)
            .arg("-")
            .output()
            .expect("pdftotext (apt-get install poppler-utils)");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = poppler(&["-layout"]);
    for expected in [
        "Acme Worldwide Holdings",
        "Account: Production \u{FFFD} eu-west",
        "WMWWMW",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert!(!text.contains('🚀'));
    // Every word's box (points from the top-left of its page): inside A4 less the
    // built-in layout's 48 pt side margins, and overlapping no other word.
    let mut words: Vec<(usize, String, [f32; 4])> = Vec::new();
    let mut page = 0;
    for line in poppler(&["-bbox"]).lines().map(str::trim) {
        if line.starts_with("<page ") {
            page += 1;
        } else if let Some(rest) = line.strip_prefix("<word ") {
            let attr = |name: &str| -> f32 {
                let at = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                rest[at..at + rest[at..].find('"').unwrap()]
                    .parse()
                    .unwrap()
            };
            let word = &rest[rest.find('>').unwrap() + 1..rest.rfind("</word>").unwrap()];
            words.push((
                page,
                word.to_string(),
                [attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax")],
            ));
        }
    }
    assert!(words.len() > 20, "{words:?}");
    for (page, word, [x0, y0, x1, y1]) in &words {
        assert!(
            *x0 >= 47.95 && *x1 <= 595.28 - 47.95 && *y0 >= 20.0 && *y1 <= 841.89 - 20.0,
            "page {page}: {word:?} at {x0},{y0}..{x1},{y1} is outside the margins"
        );
    }
    for (i, (p, a, ra)) in words.iter().enumerate() {
        for (q, b, rb) in &words[i + 1..] {
            let overlap = p == q
                && ra[0] + 0.3 < rb[2]
                && rb[0] + 0.3 < ra[2]
                && ra[1] + 0.3 < rb[3]
                && rb[1] + 0.3 < ra[3];
            assert!(!overlap, "page {p}: {a:?} {ra:?} overlaps {b:?} {rb:?}");
        }
    }
    let title = words.iter().find(|w| w.1 == "INVOICE").expect("the title");
    let beside = words
        .iter()
        .filter(|w| w.0 == 1 && w.2[1] < title.2[3] && w.1.starts_with("Acme"))
        .count();
    assert!(beside >= 1, "the organisation's name is beside the title");
}

/// `[documents] store = "files"` (README "Where documents live"): the bytes are files
/// named by their content, the row holds their URLs and hashes, every reader (the
/// CLI's export, the email) gets the same PDF, and a file changed on the disk is
/// refused with its name, never served.
#[tokio::test]
async fn documents_stored_as_files_read_back_the_same_and_a_changed_file_is_refused() {
    let mut env = TestEnv::new().await;
    let dir = env.scratch().join("docs");
    env.configure(
        &format!(
            "[documents]\nstore = \"files\"\ndir = {:?}\n",
            dir.to_str().unwrap()
        ),
        None,
    );
    let pool = env.pool().clone();
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "a1")
        .with_usage(
            "e1",
            "2026-01-05T10:00:00Z",
            rust_decimal_macros::dec!(15000),
        )
        .await;
    let cli = |args: &[&str]| env.cli().run(args);
    let out = cli(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // (number, pdf bytes, html, pdf URL, pdf SHA-256)
    type Row = (String, Option<Vec<u8>>, Option<String>, String, String);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT i.number, d.pdf, d.html, d.pdf_url, d.pdf_sha256 FROM invoice_documents d
         JOIN invoices i ON i.org_id = d.org_id AND i.id = d.invoice_id ORDER BY i.number",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "one document per finalized invoice");
    let (number, pdf, html, url, sha) = rows[1].clone();
    assert_eq!(number, "INV-2026-0002");
    assert_eq!((pdf, html), (None, None), "no bytes in the row");
    // Rendered as of Feb 1 2026: under <dir>/acme/2026/02/, named <id>.<16 hex>.pdf.
    let path = url::Url::parse(&url).unwrap().to_file_path().unwrap();
    assert!(
        path.starts_with(dir.join("acme/2026/02")),
        "{}",
        path.display()
    );
    assert!(path
        .to_str()
        .unwrap()
        .ends_with(&format!(".{}.pdf", &sha[..16])));
    let on_disk = std::fs::read(&path).unwrap();
    assert!(on_disk.starts_with(b"%PDF-"));

    // The CLI's export is the file's content.
    let export = env.scratch().join("inv.pdf");
    let out = cli(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-2026-0002",
        "--pdf",
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&export).unwrap(), on_disk);
    let text = Command::new("pdftotext")
        .arg(&export)
        .arg("-")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("$699.00"));

    // Changed on the disk: the export fails, naming the file, and writes nothing.
    let mut changed = on_disk.clone();
    changed.extend_from_slice(b"% tampered\n");
    std::fs::write(&path, &changed).unwrap();
    std::fs::remove_file(&export).unwrap();
    let out = cli(&[
        "invoice",
        "show",
        "--org",
        "acme",
        "INV-2026-0002",
        "--pdf",
        export.to_str().unwrap(),
    ]);
    assert!(
        !out.status.success(),
        "a changed document must not be served"
    );
    let err = stderr(&out);
    assert!(
        err.contains(path.file_name().unwrap().to_str().unwrap())
            && err.contains("content changed"),
        "{err}"
    );
    assert!(!export.exists());

    // Back to the database: a re-render puts the bytes in the row again, and the
    // file that was sent stays where it was.
    std::fs::write(&path, &on_disk).unwrap();
    env.configure("", None);
    let cli = |args: &[&str]| env.cli().run(args);
    let out = cli(&["invoice", "rerender", "--org", "acme", "INV-2026-0002"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (pdf, url): (Option<Vec<u8>>, Option<String>) = sqlx::query_as(
        "SELECT d.pdf, d.pdf_url FROM invoice_documents d
         JOIN invoices i ON i.org_id = d.org_id AND i.id = d.invoice_id WHERE i.number = 'INV-2026-0002'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(pdf.is_some_and(|p| p.starts_with(b"%PDF-")) && url.is_none());
    assert!(path.exists());
}
