//! Email delivery of invoices: a real SMTP server (aiosmtpd) on a free local port,
//! the real `billrun` binary, messages parsed back with Python's `email` module.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use billrun::queue::JobKind;
use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::*;

/// A Python that has aiosmtpd (Debian's python3-aiosmtpd lives under /usr/bin).
fn python() -> &'static str {
    for p in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return p;
        }
    }
    panic!("no python3 with aiosmtpd: apt-get install python3-aiosmtpd (see .ci/run)");
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "SMTP server on {port} not up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// aiosmtpd storing every message in the Maildir `dir`.
pub(crate) fn mailbox_server(port: u16, dir: &Path, log: &Path) -> Proc {
    let mut c = Command::new(python());
    c.args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(dir);
    let p = Proc::spawn(c, log);
    wait_listening(port);
    p
}

/// aiosmtpd refusing every recipient with 550.
fn rejecting_server(port: u16, log: &Path) -> Proc {
    let script = r#"
import sys, time
from aiosmtpd.controller import Controller
class Reject:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return '550 5.1.1 mailbox unavailable'
c = Controller(Reject(), hostname='127.0.0.1', port=int(sys.argv[1]))
c.start()
while True:
    time.sleep(3600)
"#;
    let mut c = Command::new(python());
    c.args(["-c", script, &port.to_string()]);
    let p = Proc::spawn(c, log);
    wait_listening(port);
    p
}

/// The messages of a Maildir, parsed: to, from, reply_to, subject, message_id, text,
/// html, attachments [{name, type, pdf}] (an XML attachment also has its `sha256`).
pub(crate) fn messages(maildir: &Path) -> Vec<Value> {
    let script = r#"
import email, hashlib, json, os, sys
from email import policy
out = []
d = os.path.join(sys.argv[1], 'new')
for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    with open(os.path.join(d, f), 'rb') as fh:
        m = email.message_from_binary_file(fh, policy=policy.default)
    r = {'to': str(m['To']), 'from': str(m['From']), 'reply_to': str(m['Reply-To']),
         'subject': str(m['Subject']), 'message_id': str(m['Message-ID']),
         'root': m.get_content_type(), 'text': None, 'html': None, 'attachments': []}
    for p in m.walk():
        ct = p.get_content_type()
        if p.get_filename():
            b = p.get_payload(decode=True)
            a = {'name': p.get_filename(), 'type': ct, 'pdf': b[:5] == b'%PDF-'}
            if ct == 'text/xml':
                a['sha256'] = hashlib.sha256(b).hexdigest()
            r['attachments'].append(a)
        elif ct == 'text/plain':
            r['text'] = p.get_content()
        elif ct == 'text/html':
            r['html'] = p.get_content()
    out.append(r)
print(json.dumps(out))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// Two accounts: a1 with billing and additional emails, a2 falling back to its
/// customer's primary email. Two finalized invoices each at 2026-02-01.
async fn setup(env: &TestEnv) {
    let pool = env.pool();
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    sqlx::query(
        "UPDATE organisations SET billing_email = 'billing@acme.test', name = 'Acme & Sons'",
    )
    .execute(pool)
    .await
    .unwrap();
    env.account("acme", "a1").await;
    env.account("acme", "a2").await;
    sqlx::query(
        "UPDATE accounts SET billing_emails = '{ap@a1.test}', additional_emails = '{cfo@a1.test}' WHERE id = 'a1'",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE customers SET primary_email = 'owner@a2.test' WHERE id = 'cust-a2'")
        .execute(pool)
        .await
        .unwrap();
}

/// (invoice count, delivery rows by status).
async fn delivery_counts(pool: &sqlx::PgPool) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT status, count(*) FROM invoice_deliveries GROUP BY status ORDER BY status",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The config's `[mail]` table for plain SMTP to 127.0.0.1:`port`, then `retry`
/// (TOML, e.g. a `[retry]` table).
pub(crate) fn smtp_config(port: u16, retry: &str) -> String {
    format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{port}?tls=none\"\ntimeout_secs = 5\n{retry}"
    )
}

/// The six finalized invoices' deliveries, sent by the file outbox (the default
/// config): `billrun run cycle-close` as of 2026-02-01.
fn bill_run(env: &TestEnv) {
    let out = env.run(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn each_recipient_gets_the_invoice_once_with_text_html_and_the_pdf() {
    let port = free_port();
    let env = TestEnv::with_config(&smtp_config(port, "")).await;
    let pool = env.pool();
    setup(&env).await;
    let maildir = env.scratch().join("maildir");
    let _smtp = mailbox_server(port, &maildir, &env.scratch().join("smtp.log"));
    let cli = |args: &[&str]| env.run(args);
    let out = cli(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let invoices: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices WHERE status = 'DUE'")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(invoices, 4);
    // a1's two invoices to two recipients, a2's two to one.
    assert_eq!(delivery_counts(pool).await, vec![("SENT".to_string(), 6)]);
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 6, "{msgs:#?}");
    let mut to: Vec<String> = msgs
        .iter()
        .map(|m| m["to"].as_str().unwrap().into())
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "ap@a1.test",
            "ap@a1.test",
            "cfo@a1.test",
            "cfo@a1.test",
            "owner@a2.test",
            "owner@a2.test"
        ]
    );
    let m = msgs
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("INV-2026-0002"))
        .expect("a message for INV-2026-0002");
    assert_eq!(m["subject"], "Invoice INV-2026-0002 from Acme & Sons");
    assert!(
        m["from"].as_str().unwrap().contains("billing@acme.test"),
        "{m}"
    );
    assert_eq!(m["from"], m["reply_to"]);
    assert_eq!(m["root"], "multipart/mixed");
    let text = m["text"].as_str().expect("a text part");
    assert!(
        text.contains("INV-2026-0002") && text.contains("Acme & Sons"),
        "{text}"
    );
    let html = m["html"].as_str().expect("an HTML part");
    assert!(
        html.contains("Acme &amp; Sons") && html.contains("<strong>INV-2026-0002</strong>"),
        "{html}"
    );
    // The PDF, a Factur-X PDF, and its e-invoice XML (README "E-invoices
    // (Factur-X)"): the attached XML is the one embedded in the stored PDF.
    let stored_pdf: Vec<u8> = sqlx::query_scalar(
        "SELECT d.pdf FROM invoice_documents d JOIN invoices i ON i.id = d.invoice_id
         WHERE i.number = 'INV-2026-0002'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let xml = billrun_render::facturx::extract(&stored_pdf).expect("factur-x.xml in the PDF");
    let xml_text = String::from_utf8(xml.clone()).unwrap();
    assert!(
        xml_text.contains("<ram:ID>INV-2026-0002</ram:ID>")
            && xml_text.contains("<ram:TypeCode>380</ram:TypeCode>")
            && xml_text.contains("<ram:Name>Acme &amp; Sons</ram:Name>"),
        "{xml_text}"
    );
    use sha2::Digest;
    assert_eq!(
        m["attachments"],
        serde_json::json!([
            {"name": "INV-2026-0002.pdf", "type": "application/pdf", "pdf": true},
            {"name": "factur-x.xml", "type": "text/xml", "pdf": false,
             "sha256": format!("{:x}", sha2::Sha256::digest(&xml))},
        ])
    );
    // The stored message ids are the ones received.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT message_id FROM invoice_deliveries ORDER BY message_id")
            .fetch_all(pool)
            .await
            .unwrap();
    let mut received: Vec<String> = msgs
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_string())
        .collect();
    received.sort();
    assert_eq!(stored, received);

    // Running the step again sends nothing: each invoice goes once per recipient.
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM invoices ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    let result = env
        .run_step(
            JobKind::DeliverChunk,
            json!({"organisation": "acme", "invoices": ids}),
            "2026-02-01T00:00:00Z",
        )
        .await;
    assert_eq!(result["sent"], 0, "{result}");
    assert_eq!(messages(&maildir).len(), 6);

    // A resend is on purpose: every recipient of that invoice again.
    let a1: String = sqlx::query_scalar(
        "SELECT number FROM invoices WHERE account_id = 'a1' ORDER BY number LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let out = cli(&["invoice", "resend", "--org", "acme", &a1]);
    assert!(out.status.success(), "{}", stderr(&out));
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 8);
    assert_eq!(
        msgs.iter()
            .filter(|m| m["subject"].as_str().unwrap().starts_with("[Copy] "))
            .count(),
        2
    );
    let out = cli(&["deliveries", "list", "--org", "acme", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list.len(), 6);
    assert!(list.iter().all(|d| d["status"] == "SENT"), "{list:#?}");
}

#[tokio::test]
async fn smtp_down_then_up_is_retried_and_each_message_is_delivered_once() {
    let port = free_port(); // nothing listens there yet
    let env = TestEnv::with_config(&smtp_config(
        port,
        "\n[retry]\nmax_attempts = 20\nbackoff_base_ms = 300\nbackoff_max_secs = 1\n",
    ))
    .await;
    let pool = env.pool();
    setup(&env).await;
    let _worker = env.worker().no_scheduler().spawn();
    env.enqueue(JobKind::CycleClose, json!({}), "2026-02-01T00:00:00Z")
        .await;
    // Connection refused: rows stay QUEUED with their attempts and error.
    wait_for(Duration::from_secs(60), "a deferred delivery", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM invoice_deliveries WHERE status = 'QUEUED' AND attempts >= 2 AND last_error IS NOT NULL",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        (n > 0).then_some(())
    })
    .await;
    let maildir = env.scratch().join("maildir");
    let _smtp = mailbox_server(port, &maildir, &env.scratch().join("smtp.log"));
    wait_for(Duration::from_secs(60), "every delivery SENT", || async {
        (delivery_counts(pool).await == vec![("SENT".to_string(), 6)]).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let msgs = messages(&maildir);
    assert_eq!(msgs.len(), 6, "each (invoice, recipient) once: {msgs:#?}");
    let mut pairs: Vec<(String, String)> = msgs
        .iter()
        .map(|m| (m["subject"].to_string(), m["to"].to_string()))
        .collect();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 6);
    let dead: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE job_type = 'billrun:deliver-chunk' AND status <> 'Done'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(dead, 0, "the deliver jobs finished after their retries");
}

#[tokio::test]
async fn a_permanent_rejection_is_failed_listed_and_not_retried() {
    let port = free_port();
    let env = TestEnv::with_config(&smtp_config(port, "")).await;
    let pool = env.pool();
    setup(&env).await;
    let _smtp = rejecting_server(port, &env.scratch().join("smtp.log"));
    let cli = |args: &[&str]| env.run(args);
    let out = cli(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(delivery_counts(pool).await, vec![("FAILED".to_string(), 6)]);
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT DISTINCT attempts FROM invoice_deliveries")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(attempts, [1], "tried once, not retried");
    let job_attempts: Vec<i32> = sqlx::query_scalar(
        "SELECT attempts FROM apalis.jobs WHERE job_type = 'billrun:deliver-chunk'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(job_attempts.iter().all(|a| *a <= 1), "{job_attempts:?}");
    let out = cli(&["deliveries", "list", "--org", "acme", "--status", "FAILED"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(
        table.contains("owner@a2.test") && table.contains("550") && table.contains("FAILED"),
        "{table}"
    );
    let out = cli(&[
        "deliveries",
        "list",
        "--org",
        "acme",
        "--status",
        "SENT",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]");
}

#[tokio::test]
async fn the_default_file_outbox_gets_one_eml_per_recipient() {
    let env = TestEnv::new().await;
    let pool = env.pool();
    setup(&env).await;
    bill_run(&env);
    assert_eq!(delivery_counts(pool).await, vec![("SENT".to_string(), 6)]);
    // Default outbox: <data_dir>/outbox.
    let outbox = env.scratch().join("data").join("outbox");
    let emls: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(emls.len(), 6, "{emls:?}");
    let mut to: Vec<String> = emls
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.contains("application/pdf"), "{text}");
            text.lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap()
                .to_string()
        })
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to, ["ap@a1.test", "cfo@a1.test", "owner@a2.test"]);
}

/// A test CA and a certificate it signed for 127.0.0.1 / localhost, made with the
/// openssl command: (CA certificate, server certificate, server key).
fn test_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (apt-get install openssl; see .ci/run)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=billrun test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// aiosmtpd with TLS (`starttls`: STARTTLS required; `smtps`: TLS from the first
/// byte) and AUTH required (user `billing`, password `s3cret`, only over TLS),
/// storing messages in the Maildir `dir`.
fn tls_server(mode: &str, port: u16, cert: &Path, key: &Path, dir: &Path, log: &Path) -> Proc {
    let script = r#"
import ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
mode, port, cert, key, maildir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
def check(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b'billing' and auth_data.password == b's3cret'
    return AuthResult(success=ok)
auth = dict(authenticator=check, auth_required=True, auth_require_tls=True)
if mode == 'starttls':
    c = Controller(Mailbox(maildir), hostname='127.0.0.1', port=port, server_hostname='localhost',
                   tls_context=ctx, require_starttls=True, **auth)
else:
    # Implicit TLS: aiosmtpd only counts STARTTLS as TLS for auth_require_tls, and
    # here every byte is encrypted anyway.
    auth['auth_require_tls'] = False
    c = Controller(Mailbox(maildir), hostname='127.0.0.1', port=port, server_hostname='localhost',
                   ssl_context=ctx, **auth)
c.start()
print('listening', flush=True)
while True:
    time.sleep(3600)
"#;
    let mut c = Command::new(python());
    c.args(["-c", script, mode, &port.to_string()])
        .arg(cert)
        .arg(key)
        .arg(dir);
    let p = Proc::spawn(c, log);
    wait_listening(port);
    p
}

#[tokio::test]
async fn starttls_and_smtps_with_auth_deliver_through_a_trusted_private_ca() {
    for mode in ["starttls", "smtps"] {
        let mut env = TestEnv::new().await;
        let pool = env.pool().clone();
        let pool = &pool;
        setup(&env).await;
        let (ca, cert, key) = test_certificates(env.scratch());
        let port = free_port();
        let maildir = env.scratch().join("maildir");
        let _smtp = tls_server(
            mode,
            port,
            &cert,
            &key,
            &maildir,
            &env.scratch().join("smtp.log"),
        );
        let scheme = if mode == "smtps" { "smtps" } else { "smtp" };
        // The CA is a file of the scratch folder: the config is written after it.
        env.configure(
            &format!(
                "[mail]\ntransport = \"smtp\"\nsmtp_url = \"{scheme}://billing:s3cret@127.0.0.1:{port}\"\n\
                 ca_file = \"{}\"\ntimeout_secs = 5\n",
                ca.display()
            ),
            None,
        );
        let out = env.run(&["run", "cycle-close", "--now", "2026-02-01T00:00:00Z"]);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let errors: Vec<Option<String>> =
            sqlx::query_scalar("SELECT DISTINCT last_error FROM invoice_deliveries")
                .fetch_all(pool)
                .await
                .unwrap();
        assert_eq!(
            delivery_counts(pool).await,
            vec![("SENT".to_string(), 6)],
            "{mode}: {errors:?} {}",
            std::fs::read_to_string(env.scratch().join("smtp.log")).unwrap_or_default()
        );
        let msgs = messages(&maildir);
        assert_eq!(msgs.len(), 6, "{mode}");
        assert!(
            msgs.iter().all(|m| m["attachments"][0]["pdf"] == true),
            "{mode}: {msgs:#?}"
        );
    }
}

/// An SMTP server on loopback that takes each message (greeting, EHLO, MAIL, RCPT,
/// DATA and the body) and then never answers the final dot, for `hold`.
fn silent_after_data(port: u16, hold: Duration) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 silent.test ESMTP\r\n");
                let mut line = String::new();
                let mut in_data = false;
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            // Accepted, and then silence.
                            std::thread::sleep(hold);
                            return;
                        }
                        b""
                    } else if cmd.starts_with("EHLO") {
                        b"250 silent.test\r\n"
                    } else if cmd.starts_with("DATA") {
                        in_data = true;
                        b"354 go ahead\r\n"
                    } else if cmd.starts_with("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = stream.write_all(reply);
                    line.clear();
                }
            });
        }
    });
}

#[tokio::test]
async fn a_server_that_goes_silent_after_the_message_is_given_up_after_timeout_secs() {
    let port = free_port();
    let env = TestEnv::with_config(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{port}?tls=none\"\ntimeout_secs = 2\n\
         [retry]\nmax_attempts = 1\nbackoff_base_ms = 100\nbackoff_max_secs = 1\n"
    ))
    .await;
    let pool = env.pool();
    setup(&env).await;
    // The server holds each connection 120 s after the message: without the
    // timeout, the run below would wait that long for the first message.
    silent_after_data(port, Duration::from_secs(120));
    let started = Instant::now();
    let out = env.run(&[
        "run",
        "cycle-close",
        "--now",
        "2026-02-01T00:00:00Z",
        "--timeout",
        "100",
    ]);
    let took = started.elapsed();
    // 6 deliveries (a1: 2 invoices x 2 recipients, a2: 2 x 1), one attempt each
    // (max_attempts = 1), each abandoned after 2 s: 6 x 2 s = 12 s of waiting at
    // most, plus the bill run; far below the server's 120 s.
    assert!(
        took < Duration::from_secs(60),
        "took {took:?}: {}",
        stderr(&out)
    );
    let rows: Vec<(String, i32, Option<String>)> = sqlx::query_as(
        "SELECT status, attempts, last_error FROM invoice_deliveries ORDER BY invoice_id, recipient",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 6);
    for (status, attempts, error) in &rows {
        assert_eq!((status.as_str(), *attempts), ("FAILED", 1), "{rows:?}");
        assert!(
            error
                .as_deref()
                .unwrap_or("")
                .contains("no answer within 2 s"),
            "{rows:?}"
        );
    }
}

/// (To, Message-ID) of every `.eml` in `outbox`, sorted.
fn outbox_ids(outbox: &Path) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String)> = std::fs::read_dir(outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|text| {
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {text}"))
                    .trim()
                    .to_string()
            };
            (header("To: "), header("Message-ID: "))
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_delivery_sent_again_after_a_crash_keeps_its_message_id_and_a_resend_gets_a_new_one() {
    let env = TestEnv::new().await;
    let pool = env.pool();
    setup(&env).await;
    bill_run(&env);
    let outbox = env.scratch().join("data").join("outbox");
    let first = outbox_ids(&outbox);
    assert_eq!(first.len(), 6, "{first:?}");
    // What a worker killed after the server accepted the messages and before the
    // SENT commit leaves: the rows QUEUED, with the Message-IDs stored before sending.
    sqlx::query("UPDATE invoice_deliveries SET status = 'QUEUED', sent_at = NULL")
        .execute(pool)
        .await
        .unwrap();
    let invoices: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT invoice_id FROM invoice_deliveries ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    std::fs::remove_dir_all(&outbox).unwrap();
    env.run_step(
        JobKind::DeliverChunk,
        json!({"organisation": "acme", "invoices": invoices}),
        "2026-02-01T00:00:00Z",
    )
    .await;
    // The same six (recipient, Message-ID) pairs: each copy is recognisable.
    assert_eq!(outbox_ids(&outbox), first);

    // A resend on purpose is a new message: a new Message-ID.
    std::fs::remove_dir_all(&outbox).unwrap();
    let number: String = sqlx::query_scalar(
        "SELECT number FROM invoices WHERE account_id = 'a2' ORDER BY number DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    env.ok(&["invoice", "resend", "--org", "acme", &number]);
    let again = outbox_ids(&outbox);
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(first.iter().all(|(_, id)| *id != again[0].1), "{again:?}");

    // Every attempt is kept: a2's delivery of that invoice was sent three times
    // (first, after the crash with the same Message-ID, the resend with a new one).
    let out = env.run(&["deliveries", "list", "--org", "acme", "--json"]);
    let list: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let row = list
        .iter()
        .find(|d| d["number"] == number.as_str())
        .expect("a2's delivery");
    let history = row["history"].as_array().unwrap();
    let ids: Vec<&str> = history
        .iter()
        .map(|a| a["messageId"].as_str().unwrap())
        .collect();
    let outcomes: Vec<(&str, bool)> = history
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap(),
                a["resend"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes, [("SENT", false), ("SENT", false), ("SENT", true)]);
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    assert_eq!(row["messageId"].as_str().unwrap(), ids[2]);
    assert_eq!(ids[2], again[0].1);
}

#[tokio::test]
async fn invoice_resend_with_the_mail_server_down_says_so_and_fails() {
    let mut env = TestEnv::new().await;
    let pool = env.pool().clone();
    let pool = &pool;
    setup(&env).await;
    bill_run(&env);
    // a2's invoice has one recipient (its customer's primary email); nothing
    // listens on the SMTP port, and one attempt is all the job has.
    let number: String = sqlx::query_scalar(
        "SELECT number FROM invoices WHERE account_id = 'a2' ORDER BY number DESC LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    env.configure(
        &smtp_config(
            free_port(),
            "\n[retry]\nmax_attempts = 1\nbackoff_base_ms = 100\nbackoff_max_secs = 1\n",
        ),
        None,
    );
    let out = env.run(&["invoice", "resend", "--org", "acme", &number]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!(
            "invoice {number}: sent again to 0 of 1 recipient(s), 1 failed"
        )),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("1 of 1 recipient(s) not sent"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_worker_refuses_to_start_with_a_mail_configuration_it_cannot_send_with() {
    for (mail, why) in [
        (
            "transport = \"smtp\"\n",
            "[mail] transport = \"smtp\" needs smtp_url",
        ),
        (
            "transport = \"smtp\"\nsmtp_url = \"http://x\"\n",
            "[mail] smtp_url scheme \"http\": expected smtp or smtps",
        ),
    ] {
        let env = TestEnv::with_config(&format!("[mail]\n{mail}")).await;
        let out = env.run(&["worker", "--no-scheduler"]);
        assert!(!out.status.success(), "{mail}");
        let err = crate::harness::stderr(&out);
        assert!(err.contains("the worker cannot send email"), "{err}");
        assert!(err.contains(why), "{err}");
    }
}

#[tokio::test]
async fn invoice_resend_with_a_mail_configuration_that_cannot_send_changes_nothing() {
    let mut env = TestEnv::new().await;
    let pool = env.pool().clone();
    setup(&env).await;
    bill_run(&env);
    let number: String = sqlx::query_scalar(
        "SELECT number FROM invoices WHERE account_id = 'a2' ORDER BY number DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let rows = || async {
        sqlx::query_as::<_, (String, String, i32, Option<String>)>(
            "SELECT recipient, status, attempts, message_id FROM invoice_deliveries
             ORDER BY invoice_id, recipient",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = rows().await;
    assert!(before.iter().all(|r| r.1 == "SENT"), "{before:?}");
    env.configure(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"http://x\"\n",
        None,
    );
    let err = env.fails(&["invoice", "resend", "--org", "acme", &number]);
    assert!(
        err.contains("cannot send email: [mail] smtp_url scheme \"http\": expected smtp or smtps"),
        "{err}"
    );
    assert_eq!(rows().await, before);
}
