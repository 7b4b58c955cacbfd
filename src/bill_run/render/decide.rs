//! What `render-chunk` decides, without I/O: what each invoice is rendered with
//! ([`choices`]: what was recorded, else the current settings), which template
//! versions and logos to read ([`wanted_templates`], [`wanted_logos`]), each
//! invoice's document and how it is drawn ([`prepare`]: built-in, or a request for
//! the sandbox), whether the chunk goes on to delivery ([`deliver_after`]) and the
//! job's error when some invoices failed ([`failure_error`]).

use std::collections::{BTreeSet, HashMap};

use billrun_render::sandbox::SandboxRequest;
use billrun_render::{
    Address, BillingDetails, EInvoiceKind, InvoiceDocument, InvoiceHeader, InvoiceStatus, Logo,
    Party, PdfInfo,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;

use super::load::Row;
use crate::documents::settings::{Choice, ChunkSettings, BUILTIN};
use crate::store::status::InvoiceStatus as StoredStatus;

/// How an invoice's document is drawn.
pub(super) enum Prepared {
    /// With the built-in template, in this process.
    Builtin(Box<InvoiceDocument>),
    /// With an organisation template, in the render sandbox; `what` names the
    /// template for errors (`template T version V`).
    Sandbox {
        /// The template, for errors.
        what: String,
        /// The request for the sandbox.
        request: SandboxRequest,
        /// The e-invoice XML to embed in the sandbox's PDF (a Factur-X PDF), and
        /// the PDF's document information.
        facturx: (Vec<u8>, PdfInfo),
    },
}

/// The accounts of `rows`, each once, in id order.
pub(super) fn accounts(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .map(|r| r.account_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// What each invoice of `rows` is rendered with, in order: what was recorded when it
/// was first rendered (a re-render never takes the current settings), else what
/// `chunk` chooses for its account now. Errors: recorded billing details that do not
/// parse (`invoice ID: stored billing details: ...`).
pub(super) fn choices(rows: &[Row], chunk: &ChunkSettings) -> Result<Vec<Choice>, String> {
    rows.iter()
        .map(|r| {
            if r.has_document {
                recorded(r)
            } else {
                Ok(chunk.choose(&r.account_id))
            }
        })
        .collect()
}

/// What was recorded when the invoice was first rendered (the built-in template is
/// recorded as `builtin`, with no version).
fn recorded(r: &Row) -> Result<Choice, String> {
    let details: BillingDetails = match &r.stored_details {
        Some(d) => serde_json::from_value(d.clone())
            .map_err(|e| format!("invoice {}: stored billing details: {e}", r.id))?,
        None => BillingDetails::default(),
    };
    let template = match (&r.stored_template, r.stored_template_version) {
        (Some(t), Some(v)) if t != BUILTIN => Some((t.clone(), v)),
        _ => None,
    };
    Ok(Choice {
        template,
        details,
        profile: r.stored_profile.clone(),
        logo_version: r.stored_logo,
    })
}

/// The organisation template versions `choices` use, each once, in order.
pub(super) fn wanted_templates(choices: &[Choice]) -> Vec<(String, i32)> {
    choices
        .iter()
        .filter_map(|c| c.template.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The logo versions `choices` use, each once, in order.
pub(super) fn wanted_logos(choices: &[Choice]) -> Vec<i32> {
    choices
        .iter()
        .filter_map(|c| c.logo_version)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// How an invoice is named in errors: its number, else its id.
pub(super) fn name(r: &Row) -> String {
    r.number.clone().unwrap_or(r.id.clone())
}

/// An address's lines; none when there is no address or it does not parse.
fn lines_of(address: &Option<Value>) -> Vec<String> {
    address_of(address).map(|a| a.lines()).unwrap_or_default()
}

/// An address, field by field (for the e-invoice); none when there is none or it
/// does not parse.
fn address_of(address: &Option<Value>) -> Option<Address> {
    address
        .as_ref()
        .and_then(|a| serde_json::from_value::<Address>(a.clone()).ok())
}

/// The document's status for a stored one. MERGED drafts are never rendered (their
/// lines are on the invoice they went into; the query leaves them out).
fn status(s: StoredStatus) -> InvoiceStatus {
    match s {
        StoredStatus::Draft | StoredStatus::Merged => InvoiceStatus::Draft,
        StoredStatus::Due => InvoiceStatus::Due,
        StoredStatus::Paid => InvoiceStatus::Paid,
        StoredStatus::Void => InvoiceStatus::Void,
    }
}

/// The document header of `r`, rendered with `choice` and `logo`.
fn header(r: &Row, org_name: &str, choice: &Choice, logo: Option<Logo>) -> InvoiceHeader {
    let period = |s: Option<NaiveDate>, e: Option<NaiveDate>| match (s, e) {
        (Some(s), Some(e)) => Some(billrun_core::Period::new(s, e)),
        _ => None,
    };
    InvoiceHeader {
        organisation_name: org_name.to_string(),
        logo,
        billing_details: choice.details.clone(),
        customer: Party {
            id: r.customer_id.clone(),
            name: r.customer_name.clone(),
            address_lines: lines_of(&r.customer_address),
            emails: r.customer_email.iter().cloned().collect(),
            tax_id: r.customer_tax_id.clone(),
            address: address_of(&r.customer_address),
        },
        account: Party {
            id: r.account_id.clone(),
            name: r.account_name.clone(),
            address_lines: lines_of(&r.account_address),
            emails: r.billing_emails.clone(),
            tax_id: r.account_tax_id.clone(),
            address: address_of(&r.account_address),
        },
        number: r.number.clone(),
        status: status(r.status),
        invoice_date: r.invoice_date,
        // A void invoice is owed by nobody: its document shows no due date (the
        // invoice row keeps it), and the view model's amount due is 0.
        due_date: r.due_date.filter(|_| r.status != StoredStatus::Void),
        finalized_at: r.finalized_at,
        net_term_days: r.net_term_days.map(|n| n.max(0) as u32),
        in_arrears: period(r.closing_start, r.closing_end),
        in_advance: period(r.opening_start, r.opening_end),
        amount_paid: Decimal::ZERO,
    }
}

/// The document of `r` rendered with `choice`, and how it is drawn: with the
/// built-in template, or in the sandbox with the organisation template's text from
/// `bodies` (by template and version). `logos` are the chunk's parsed logos by
/// version. Errors (the reason, without the invoice's name): a logo that is missing
/// or does not parse, stored lines that do not parse, a template version that is
/// missing or whose request cannot be built.
pub(super) fn prepare(
    r: &Row,
    choice: &Choice,
    org_name: &str,
    logos: &HashMap<i32, Result<Logo, String>>,
    bodies: &HashMap<(String, i32), String>,
) -> Result<Prepared, String> {
    let logo = match choice.logo_version {
        Some(v) => match logos.get(&v) {
            Some(Ok(l)) => Some(l.clone()),
            Some(Err(e)) => return Err(format!("logo version {v}: {e}")),
            None => return Err(format!("logo version {v} is missing")),
        },
        None => None,
    };
    let doc = InvoiceDocument::from_stored_lines(header(r, org_name, choice, logo), &r.lines)
        .map_err(|e| e.to_string())?;
    match &choice.template {
        None => Ok(Prepared::Builtin(Box::new(doc))),
        Some((t, v)) => {
            let body = bodies
                .get(&(t.clone(), *v))
                .ok_or_else(|| format!("template {t} version {v} is missing"))?;
            let request = SandboxRequest::render(body, &doc)
                .map_err(|e| format!("template {t} version {v}: {e}"))?;
            let xml = billrun_render::cii_xml(&doc, &EInvoiceKind::invoice())
                .map_err(|e| e.to_string())?;
            Ok(Prepared::Sandbox {
                what: format!("template {t} version {v}"),
                request,
                facturx: (xml, PdfInfo::of(&doc)),
            })
        }
    }
}

/// Whether the invoices `written` go on to `deliver-chunk`: those rendered for the
/// first time do; a re-render is not a reason to email again (`billrun invoice
/// resend` is).
pub(super) fn deliver_after(rerender: bool, written: &[String]) -> bool {
    !rerender && !written.is_empty()
}

/// The job's error when some invoices were not rendered (`failures`, one
/// `invoice NAME: reason` each, sorted) while `written` were stored; none when all
/// were rendered.
pub(super) fn failure_error(failures: &[String], written: usize) -> Option<String> {
    if failures.is_empty() {
        return None;
    }
    Some(format!(
        "{} of {} invoices not rendered ({} rendered): {}",
        failures.len(),
        failures.len() + written,
        written,
        failures.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_core::invoice::InvoiceLines;
    use billrun_core::Currency;
    use serde_json::json;

    fn row(id: &str, account: &str) -> Row {
        Row {
            id: id.into(),
            status: StoredStatus::Due,
            number: Some(format!("INV-{id}")),
            invoice_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            due_date: NaiveDate::from_ymd_opt(2026, 3, 3),
            finalized_at: None,
            net_term_days: Some(30),
            closing_start: NaiveDate::from_ymd_opt(2026, 1, 1),
            closing_end: NaiveDate::from_ymd_opt(2026, 2, 1),
            opening_start: None,
            opening_end: None,
            lines: serde_json::to_value(InvoiceLines::build(Currency::USD, &[], None)).unwrap(),
            account_id: account.into(),
            account_name: format!("Account {account}"),
            account_address: None,
            billing_emails: vec!["ap@example.test".into()],
            customer_id: "c1".into(),
            customer_name: "Customer".into(),
            customer_address: None,
            customer_email: Some("owner@example.test".into()),
            customer_tax_id: None,
            account_tax_id: None,
            has_document: false,
            stored_template: None,
            stored_template_version: None,
            stored_details: None,
            stored_profile: None,
            stored_logo: None,
        }
    }

    fn details(name: &str) -> BillingDetails {
        BillingDetails {
            legal_name: name.into(),
            ..Default::default()
        }
    }

    /// Organisation "Acme": default template t1 (version 3, profile p1 unknown),
    /// logo version 2; account a2 names the built-in template.
    fn chunk() -> ChunkSettings {
        ChunkSettings {
            org_name: "Acme".into(),
            fallback_details: details("Acme"),
            logo_version: Some(2),
            default_template: Some("t1".into()),
            builtin_profile: None,
            profiles: HashMap::new(),
            templates: HashMap::from([("t1".to_string(), ("p1".to_string(), 3))]),
            account_templates: HashMap::from([("a2".to_string(), None)]),
        }
    }

    #[test]
    fn accounts_are_listed_once_in_order() {
        let rows = vec![row("i1", "b"), row("i2", "a"), row("i3", "b")];
        assert_eq!(accounts(&rows), vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn a_first_render_takes_the_current_settings_a_rerender_what_was_recorded() {
        let first = row("i1", "a1");
        let builtin = row("i2", "a2");
        let mut again = row("i3", "a1");
        again.has_document = true;
        again.stored_template = Some("t0".into());
        again.stored_template_version = Some(1);
        again.stored_details = Some(json!({"legal_name": "Acme Ltd (2025)"}));
        again.stored_profile = Some("old".into());
        again.stored_logo = Some(1);
        let mut recorded_builtin = row("i4", "a1");
        recorded_builtin.has_document = true;
        recorded_builtin.stored_template = Some(BUILTIN.into());
        let got = choices(&[first, builtin, again, recorded_builtin], &chunk()).unwrap();
        assert_eq!(
            got,
            vec![
                Choice {
                    template: Some(("t1".into(), 3)),
                    details: details("Acme"),
                    profile: None,
                    logo_version: Some(2),
                },
                Choice {
                    template: None,
                    details: details("Acme"),
                    profile: None,
                    logo_version: Some(2),
                },
                Choice {
                    template: Some(("t0".into(), 1)),
                    details: details("Acme Ltd (2025)"),
                    profile: Some("old".into()),
                    logo_version: Some(1),
                },
                Choice {
                    template: None,
                    details: BillingDetails::default(),
                    profile: None,
                    logo_version: None,
                },
            ]
        );
        assert_eq!(
            wanted_templates(&got),
            vec![("t0".to_string(), 1), ("t1".to_string(), 3)]
        );
        assert_eq!(wanted_logos(&got), vec![1, 2]);
    }

    #[test]
    fn recorded_billing_details_that_do_not_parse_are_an_error() {
        let mut r = row("i1", "a1");
        r.has_document = true;
        r.stored_details = Some(json!(42));
        let e = choices(&[r], &chunk()).unwrap_err();
        assert!(e.starts_with("invoice i1: stored billing details: "), "{e}");
    }

    #[test]
    fn a_void_invoice_shows_no_due_date_and_periods_come_from_its_cycles() {
        let mut r = row("i1", "a1");
        r.status = StoredStatus::Void;
        r.net_term_days = Some(-5);
        r.opening_start = NaiveDate::from_ymd_opt(2026, 2, 1);
        r.opening_end = NaiveDate::from_ymd_opt(2026, 3, 1);
        let choice = chunk().choose("a2");
        let h = header(&r, "Acme", &choice, None);
        assert_eq!(h.status, InvoiceStatus::Void);
        assert_eq!(h.due_date, None);
        assert_eq!(h.net_term_days, Some(0));
        let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert_eq!(
            h.in_arrears,
            Some(billrun_core::Period::new(d(1, 1), d(2, 1)))
        );
        assert_eq!(
            h.in_advance,
            Some(billrun_core::Period::new(d(2, 1), d(3, 1)))
        );
        assert_eq!(h.account.emails, vec!["ap@example.test".to_string()]);
        assert_eq!(h.customer.emails, vec!["owner@example.test".to_string()]);
        assert_eq!(name(&r), "INV-i1");
        r.number = None;
        assert_eq!(name(&r), "i1");
    }

    #[test]
    fn built_in_invoices_are_drawn_here_others_go_to_the_sandbox_or_fail_with_a_reason() {
        let r = row("i1", "a1");
        let no_logos = HashMap::new();
        let no_bodies = HashMap::new();
        let builtin = Choice {
            template: None,
            details: details("Acme"),
            profile: None,
            logo_version: None,
        };
        assert!(matches!(
            prepare(&r, &builtin, "Acme", &no_logos, &no_bodies),
            Ok(Prepared::Builtin(_))
        ));
        let with_logo = Choice {
            logo_version: Some(7),
            ..builtin.clone()
        };
        assert_eq!(
            prepare(&r, &with_logo, "Acme", &no_logos, &no_bodies).err(),
            Some("logo version 7 is missing".to_string())
        );
        let broken = HashMap::from([(7, Err("not a PNG".to_string()))]);
        assert_eq!(
            prepare(&r, &with_logo, "Acme", &broken, &no_bodies).err(),
            Some("logo version 7: not a PNG".to_string())
        );
        let template = Choice {
            template: Some(("t1".into(), 3)),
            ..builtin.clone()
        };
        assert_eq!(
            prepare(&r, &template, "Acme", &no_logos, &no_bodies).err(),
            Some("template t1 version 3 is missing".to_string())
        );
        let bodies = HashMap::from([(("t1".to_string(), 3), "<p>{{ number }}</p>".to_string())]);
        match prepare(&r, &template, "Acme", &no_logos, &bodies) {
            Ok(Prepared::Sandbox { what, .. }) => assert_eq!(what, "template t1 version 3"),
            _ => panic!("a sandbox request"),
        }
        let mut bad_lines = row("i2", "a1");
        bad_lines.lines = json!("no lines");
        assert!(prepare(&bad_lines, &builtin, "Acme", &no_logos, &no_bodies).is_err());
    }

    #[test]
    fn only_a_first_render_is_delivered_and_failures_are_counted_against_the_written() {
        let written = vec!["i1".to_string()];
        assert!(deliver_after(false, &written));
        assert!(!deliver_after(true, &written));
        assert!(!deliver_after(false, &[]));
        assert_eq!(failure_error(&[], 3), None);
        assert_eq!(
            failure_error(
                &[
                    "invoice INV-1: logo version 7 is missing".to_string(),
                    "invoice INV-2: template t1 version 3: boom".to_string()
                ],
                1
            ),
            Some(
                "2 of 3 invoices not rendered (1 rendered): invoice INV-1: logo version 7 is \
                 missing; invoice INV-2: template t1 version 3: boom"
                    .to_string()
            )
        );
    }
}
