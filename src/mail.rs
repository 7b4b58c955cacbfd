//! Email: the transports (`[mail]`: `.eml` files in an outbox, or SMTP with STARTTLS
//! or implicit TLS), the invoice's and the credit note's email templates
//! (`templates/email/`, embedded in the binary) and the building of one message (text and HTML alternatives, the PDF
//! attached, a stable Message-ID). Who gets which message, and when, is
//! `bill_run::deliver`'s business.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;

use crate::config::{Config, MailTransport};

/// The email templates, embedded in the binary.
const SUBJECT_TEMPLATE: &str = include_str!("../templates/email/invoice_subject.tera");
const TEXT_TEMPLATE: &str = include_str!("../templates/email/invoice.txt.tera");
const HTML_TEMPLATE: &str = include_str!("../templates/email/invoice.html.tera");
/// The credit note's email templates (README "Credit notes").
const CN_SUBJECT_TEMPLATE: &str = include_str!("../templates/email/credit_note_subject.tera");
const CN_TEXT_TEMPLATE: &str = include_str!("../templates/email/credit_note.txt.tera");
const CN_HTML_TEMPLATE: &str = include_str!("../templates/email/credit_note.html.tera");

/// Where messages go.
pub enum Mailer {
    /// `<uuid>.eml` files in a folder.
    File(AsyncFileTransport<Tokio1Executor>),
    /// An SMTP server, and `[mail] timeout_secs`: the longest one message's whole
    /// exchange (connection, greeting, envelope, data, the server's acceptance) may
    /// take. lettre's own timeout is set too, but its async transport does not
    /// bound every read (a server that takes the message and then stays silent held
    /// a send for minutes), so [`Mailer::send`] also wraps the exchange in
    /// `tokio::time::timeout`.
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Duration),
}

/// Why a message was not sent.
#[derive(Debug)]
pub struct SendError {
    /// Trying again cannot help (SMTP 5xx, bad address).
    pub permanent: bool,
    /// What happened.
    pub message: String,
}

impl Mailer {
    /// The transport `[mail]` describes.
    pub fn from_config(config: &Config) -> anyhow::Result<Mailer> {
        let mail = &config.mail;
        match mail.transport {
            MailTransport::File => {
                let dir = config.outbox_dir();
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("creating outbox {}: {e}", dir.display()))?;
                Ok(Mailer::File(AsyncFileTransport::<Tokio1Executor>::new(dir)))
            }
            MailTransport::Smtp => {
                let raw = mail
                    .smtp_url
                    .as_deref()
                    .ok_or_else(|| anyhow::anyhow!("[mail] transport = \"smtp\" needs smtp_url"))?;
                let url = url::Url::parse(raw)
                    .map_err(|e| anyhow::anyhow!("[mail] smtp_url {raw:?}: {e}"))?;
                let host = url
                    .host_str()
                    .ok_or_else(|| anyhow::anyhow!("[mail] smtp_url {raw:?} has no host"))?;
                let plaintext = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
                // Public roots, plus the configured ones (a private CA, a relay's own).
                let tls = || -> anyhow::Result<TlsParameters> {
                    let mut params = TlsParameters::builder(host.to_string());
                    if let Some(file) = &mail.ca_file {
                        let pem = std::fs::read(file).map_err(|e| {
                            anyhow::anyhow!("[mail] ca_file {}: {e}", file.display())
                        })?;
                        let cert = Certificate::from_pem(&pem).map_err(|e| {
                            anyhow::anyhow!(
                                "[mail] ca_file {}: expected a PEM certificate: {e}",
                                file.display()
                            )
                        })?;
                        params = params.add_root_certificate(cert);
                    }
                    Ok(params.build()?)
                };
                let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host);
                let mut builder = match (url.scheme(), plaintext) {
                    ("smtp", true) => smtp.port(url.port().unwrap_or(25)),
                    ("smtp", false) => smtp
                        .port(url.port().unwrap_or(587))
                        .tls(Tls::Required(tls()?)),
                    ("smtps", _) => smtp
                        .port(url.port().unwrap_or(465))
                        .tls(Tls::Wrapper(tls()?)),
                    (s, _) => anyhow::bail!("[mail] smtp_url scheme {s:?}: expected smtp or smtps"),
                };
                if !url.username().is_empty() {
                    let decode = |s: &str| {
                        url::form_urlencoded::parse(format!("x={s}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    builder = builder.credentials(Credentials::new(
                        decode(url.username()),
                        decode(url.password().unwrap_or("")),
                    ));
                }
                let timeout = Duration::from_secs(mail.timeout_secs.max(1));
                Ok(Mailer::Smtp(
                    builder.timeout(Some(timeout)).build(),
                    timeout,
                ))
            }
        }
    }

    /// Sends one message. Over SMTP, an exchange that takes longer than the
    /// timeout is abandoned (its connection dropped) and is a transient failure:
    /// the server may or may not have accepted the message.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Mailer::File(t) => t.send(message).await.map(drop).map_err(|e| SendError {
                permanent: false,
                message: format!("writing the message: {e}"),
            }),
            Mailer::Smtp(t, timeout) => match tokio::time::timeout(*timeout, t.send(message)).await
            {
                Ok(sent) => sent.map(drop).map_err(|e| SendError {
                    permanent: e.is_permanent(),
                    message: format!("SMTP: {e}"),
                }),
                Err(_) => Err(SendError {
                    permanent: false,
                    message: format!(
                        "SMTP: no answer within {} s ([mail] timeout_secs); the exchange was abandoned",
                        timeout.as_secs()
                    ),
                }),
            },
        }
    }
}

/// What the email templates see (`templates/email/*.tera`): every value already
/// formatted for display as the invoice's PDF shows it (dates as `1 Feb 2026`, the
/// account's local dates; the total as `$1,234.50`, with its currency's symbol or
/// code and minor units).
#[derive(Serialize)]
pub struct EmailView {
    /// The seller's (organisation's) name.
    pub organisation: String,
    /// The billed account's name.
    pub account: String,
    /// The account's customer's name.
    pub customer: String,
    /// The invoice number.
    pub number: String,
    /// The invoice date.
    pub invoice_date: String,
    /// The due date (none when paid already).
    pub due_date: Option<String>,
    /// The grand total, e.g. `"$1,234.50"`.
    pub total: String,
    /// Net, tax and gross (`"€1,334.60"`...), when the invoice is taxed (README
    /// "Taxes").
    pub taxes: Option<EmailTaxes>,
    /// The tax treatment's note (reverse charge...), if any.
    pub tax_note: Option<String>,
    /// ISO 4217 code.
    pub currency: String,
    /// Paid already (e.g. finalized at 0.00): nothing to pay, no due date shown.
    pub paid: bool,
    /// A resend (`billrun invoice resend`): the subject says so.
    pub resend: bool,
}

/// The tax summary of a taxed invoice's email, formatted like the total.
#[derive(Serialize)]
pub struct EmailTaxes {
    /// Net: before tax and credits.
    pub net: String,
    /// The tax.
    pub tax: String,
    /// Gross: net + tax.
    pub gross: String,
}

/// An email's subject, text and HTML bodies.
pub fn render_email(view: &EmailView) -> Result<(String, String, String), tera::Error> {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![".html.tera"]);
    tera.add_raw_templates(vec![
        ("invoice_subject.tera", SUBJECT_TEMPLATE),
        ("invoice.txt.tera", TEXT_TEMPLATE),
        ("invoice.html.tera", HTML_TEMPLATE),
    ])?;
    let ctx = tera::Context::from_serialize(view)?;
    let subject = tera.render("invoice_subject.tera", &ctx)?;
    // A header is one line.
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((
        subject,
        tera.render("invoice.txt.tera", &ctx)?,
        tera.render("invoice.html.tera", &ctx)?,
    ))
}

/// What the credit note's email templates see (`templates/email/credit_note*.tera`):
/// every value formatted as the note's PDF shows it (the issue date as `5 Feb 2026`,
/// the account's local date; amounts as `$72.97`, with the currency's symbol or code
/// and minor units).
#[derive(Serialize)]
pub struct CreditNoteEmailView {
    /// The seller's (organisation's) name.
    pub organisation: String,
    /// The account's name.
    pub account: String,
    /// The credit note's number.
    pub number: String,
    /// The credited invoice's number (its id if it has none).
    pub invoice_number: String,
    /// The note's date.
    pub issue_date: String,
    /// The reason, in words (`Duplicated charge`).
    pub reason: String,
    /// The note's free text (empty: none).
    pub description: String,
    /// Net credited (before tax).
    pub net: String,
    /// Tax credited.
    pub tax: String,
    /// Total credited (net + tax).
    pub total: String,
    /// Of the total, what it took off the invoice's balance due (none when 0).
    pub balance: Option<String>,
    /// Of the total, what became credits for the account (none when 0).
    pub credit: Option<String>,
    /// Of the total, what was recorded as a refund (none when 0).
    pub refund: Option<String>,
    /// What the invoice has left to pay now.
    pub invoice_amount_due: String,
    /// Issued by a void: the invoice is void, nothing is due.
    pub voided: bool,
    /// A resend (`billrun credit-note resend`): the subject says so.
    pub resend: bool,
}

/// A credit note's email: subject, text and HTML bodies.
pub fn render_credit_note_email(
    view: &CreditNoteEmailView,
) -> Result<(String, String, String), tera::Error> {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![".html.tera"]);
    tera.add_raw_templates(vec![
        ("credit_note_subject.tera", CN_SUBJECT_TEMPLATE),
        ("credit_note.txt.tera", CN_TEXT_TEMPLATE),
        ("credit_note.html.tera", CN_HTML_TEMPLATE),
    ])?;
    let ctx = tera::Context::from_serialize(view)?;
    let subject = tera.render("credit_note_subject.tera", &ctx)?;
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((
        subject,
        tera.render("credit_note.txt.tera", &ctx)?,
        tera.render("credit_note.html.tera", &ctx)?,
    ))
}

/// The email of invoice (or credit note) `number` to `recipient`: `text` and `html` as alternatives,
/// the PDF attached as `NUMBER.pdf`, and the e-invoice XML embedded in it (if any:
/// `billrun_render::facturx::extract`) attached as `factur-x.xml` (`text/xml`).
/// Errors (permanent): no From address, a recipient that is not an address.
#[allow(clippy::too_many_arguments)]
pub fn build_message(
    from: Option<&Mailbox>,
    recipient: &str,
    subject: &str,
    text: &str,
    html: &str,
    number: &str,
    pdf: &[u8],
    message_id: &str,
) -> Result<Message, SendError> {
    let permanent = |message: String| SendError {
        permanent: true,
        message,
    };
    let from = from.ok_or_else(|| {
        permanent("no From address: set the organisation's billing_email or [mail] from".into())
    })?;
    let to: Mailbox = recipient
        .parse()
        .map_err(|e| permanent(format!("recipient {recipient:?} is not an address: {e}")))?;
    let pdf_type = ContentType::parse("application/pdf").expect("a valid content type");
    let mut parts = MultiPart::mixed()
        .multipart(MultiPart::alternative_plain_html(
            text.to_string(),
            html.to_string(),
        ))
        .singlepart(Attachment::new(format!("{number}.pdf")).body(pdf.to_vec(), pdf_type));
    // The e-invoice: the Factur-X XML embedded in the PDF, attached as it is there
    // (README "E-invoices (Factur-X)"); a PDF without one attaches nothing more.
    if let Some(xml) = billrun_render::facturx::extract(pdf) {
        let xml_type = ContentType::parse("text/xml; charset=utf-8").expect("a valid content type");
        parts = parts.singlepart(
            Attachment::new(billrun_render::facturx::FILE_NAME.to_string()).body(xml, xml_type),
        );
    }
    Message::builder()
        .from(from.clone())
        .reply_to(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.to_string()))
        .multipart(parts)
        .map_err(|e| permanent(format!("building the message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let view = EmailView {
            organisation: "A&B <Ltd>".into(),
            account: "Acme".into(),
            customer: "Acme".into(),
            number: "INV-1".into(),
            invoice_date: "1 Jan 2026".into(),
            due_date: None,
            total: "$10.00".into(),
            taxes: None,
            tax_note: None,
            currency: "USD".into(),
            paid: false,
            resend: false,
        };
        let (subject, text, html) = render_email(&view).unwrap();
        assert_eq!(subject, "Invoice INV-1 from A&B <Ltd>");
        assert!(text.contains("A&B <Ltd>"), "{text}");
        assert!(html.contains("A&amp;B &lt;Ltd&gt;"), "{html}");
        assert!(!html.contains("Due date"), "{html}");
        assert!(text.contains("Amount due:     $10.00\n"), "{text}");
        assert!(text.contains("Invoice date:   1 Jan 2026\n"), "{text}");
    }

    #[test]
    fn a_credit_notes_email_names_the_invoice_and_shows_only_the_parts_it_has() {
        let mut view = CreditNoteEmailView {
            organisation: "A&B".into(),
            account: "Acme".into(),
            number: "CN-2026-0001".into(),
            invoice_number: "INV-0001".into(),
            issue_date: "5 Feb 2026".into(),
            reason: "Duplicated charge".into(),
            description: String::new(),
            net: "$63.34".into(),
            tax: "$9.63".into(),
            total: "$72.97".into(),
            balance: Some("$72.97".into()),
            credit: None,
            refund: None,
            invoice_amount_due: "$154.16".into(),
            voided: false,
            resend: false,
        };
        let (subject, text, html) = render_credit_note_email(&view).unwrap();
        assert_eq!(
            subject,
            "Credit note CN-2026-0001 from A&B (invoice INV-0001)"
        );
        assert!(text.contains("  Total credited:     $72.97\n"), "{text}");
        assert!(text.contains("  Off the invoice:    $72.97\n"), "{text}");
        assert!(text.contains("  Invoice now due:    $154.16\n"), "{text}");
        assert!(
            !text.contains("As credits") && !text.contains("Refunded"),
            "{text}"
        );
        assert!(html.contains("A&amp;B"), "{html}");
        view.voided = true;
        view.resend = true;
        let (subject, text, _) = render_credit_note_email(&view).unwrap();
        assert!(subject.starts_with("[Copy] Credit note"), "{subject}");
        assert!(
            text.contains("The invoice is void: nothing is due."),
            "{text}"
        );
        assert!(!text.contains("Invoice now due"), "{text}");
    }
}
