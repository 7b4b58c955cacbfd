//! The sample document settings: the demo organisation's billing-details profile and
//! logo, also used by `billrun bench pipeline` so that its documents are the demo's.

use anyhow::Result;
use serde_json::json;

/// The demo organisation's logo (`templates/demo-logo.png`, 480x128 px).
pub const LOGO_PNG: &[u8] = include_bytes!("../../templates/demo-logo.png");

/// The demo's document settings for organisation `org`: a billing-details profile used
/// by the built-in template, and the logo (checked like an upload). Also the set-up of
/// `billrun bench pipeline`, so that its documents are the demo's.
pub async fn document_settings(tx: &mut sqlx::PgConnection, org: &str) -> Result<()> {
    let logo = billrun_render::Logo::from_bytes(LOGO_PNG)
        .map_err(|e| anyhow::anyhow!("the demo logo: {e}"))?;
    sqlx::query(
        "INSERT INTO billing_details_profiles (org_id, id, legal_name, address, tax_id, email, phone,
             payment_instructions, footer_note)
         VALUES ($1, 'acme-gmbh', 'Acme Analytics GmbH', $2, 'DE 312 456 789', 'billing@acme-analytics.example',
                 '+49 30 1234 5678', $3, 'Thank you for your business. Questions about this invoice: billing@acme-analytics.example')",
    )
    .bind(org)
    .bind(json!({"line1": "Friedrichstraße 123", "postalCode": "10117", "city": "Berlin", "country": "DE"}))
    .bind(vec![
        "Bank transfer to Berliner Handelsbank",
        "IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX",
        "Reference: the invoice number",
    ])
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO organisation_logos (org_id, version, file_name, format, width, height, bytes)
         VALUES ($1, 1, 'demo-logo.png', 'png', $2, $3, $4)",
    )
    .bind(org)
    .bind(logo.width() as i32)
    .bind(logo.height() as i32)
    .bind(LOGO_PNG)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO document_settings (org_id, logo_version, builtin_billing_details)
         VALUES ($1, 1, 'acme-gmbh')",
    )
    .bind(org)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
