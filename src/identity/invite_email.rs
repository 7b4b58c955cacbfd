//! The invitation email: its templates (`templates/email/invite*.tera`, embedded in the
//! binary), the message (text and HTML alternatives) and its sending through
//! [`crate::mail::Mailer`], the transport `[mail]` configures.

use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use serde::Serialize;

use super::IdentityError;
use crate::config::Config;
use crate::mail::Mailer;

const SUBJECT_TEMPLATE: &str = include_str!("../../templates/email/invite_subject.tera");
const TEXT_TEMPLATE: &str = include_str!("../../templates/email/invite.txt.tera");
const HTML_TEMPLATE: &str = include_str!("../../templates/email/invite.html.tera");

/// What the invitation templates see.
#[derive(Debug, Serialize)]
pub(crate) struct InviteView<'a> {
    /// The organisation's name.
    pub organisation: &'a str,
    /// Who invited (the actor's id).
    pub invited_by: &'a str,
    /// The role's title (`Product Manager`).
    pub role: &'a str,
    /// The link to accept the invitation (holds its secret).
    pub link: &'a str,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub expires_at: String,
}

/// Subject, text and HTML of the invitation (the HTML autoescaped).
pub(crate) fn render(view: &InviteView<'_>) -> Result<(String, String, String), tera::Error> {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![".html.tera"]);
    tera.add_raw_templates(vec![
        ("invite_subject.tera", SUBJECT_TEMPLATE),
        ("invite.txt.tera", TEXT_TEMPLATE),
        ("invite.html.tera", HTML_TEMPLATE),
    ])?;
    let ctx = tera::Context::from_serialize(view)?;
    let subject = tera.render("invite_subject.tera", &ctx)?;
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((
        subject,
        tera.render("invite.txt.tera", &ctx)?,
        tera.render("invite.html.tera", &ctx)?,
    ))
}

/// Sends the invitation to `to`, from `[mail] from`, else the organisation's
/// `billing_email` (with its name). Errors: `Invalid` when there is no usable From
/// or recipient address, `Mail` when the transport fails.
pub(crate) async fn send(
    config: &Config,
    org_name: &str,
    billing_email: Option<&str>,
    to: &str,
    view: &InviteView<'_>,
) -> Result<(), IdentityError> {
    let from: Mailbox = match (config.mail.from.as_deref(), billing_email) {
        (Some(f), _) => f
            .parse()
            .map_err(|e| IdentityError::Invalid(format!("[mail] from {f:?}: {e}")))?,
        (None, Some(b)) => Mailbox::new(
            Some(org_name.to_string()),
            b.parse().map_err(|e| {
                IdentityError::Invalid(format!("the organisation's billing_email {b:?}: {e}"))
            })?,
        ),
        (None, None) => {
            return Err(IdentityError::Invalid(
                "no From address for the invitation: set the organisation's billing_email \
                 (billrun org configure ID --billing-email E) or [mail] from"
                    .into(),
            ))
        }
    };
    let to: Mailbox = to
        .parse()
        .map_err(|e| IdentityError::Invalid(format!("email {to:?} is not an address: {e}")))?;
    let (subject, text, html) =
        render(view).map_err(|e| IdentityError::Mail(format!("rendering: {e}")))?;
    let message = Message::builder()
        .from(from.clone())
        .reply_to(from)
        .to(to)
        .subject(subject)
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| IdentityError::Mail(format!("building the message: {e}")))?;
    let mailer = Mailer::from_config(config).map_err(|e| IdentityError::Mail(format!("{e:#}")))?;
    mailer
        .send(message)
        .await
        .map_err(|e| IdentityError::Mail(e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invitation_names_the_organisation_role_link_and_expiry() {
        let view = InviteView {
            organisation: "A&B",
            invited_by: "alice",
            role: "Product Manager",
            link: "https://billing.example/invites/accept?token=bri_x",
            expires_at: "2026-12-04 10:00 UTC".into(),
        };
        let (subject, text, html) = render(&view).unwrap();
        assert_eq!(subject, "You are invited to A&B on billrun");
        assert!(text.contains("alice invited you to A&B on billrun, as Product Manager."));
        assert!(text.contains("  https://billing.example/invites/accept?token=bri_x\n"));
        assert!(text.contains("valid until 2026-12-04 10:00 UTC"));
        assert!(html.contains("A&amp;B"), "{html}");
    }
}
