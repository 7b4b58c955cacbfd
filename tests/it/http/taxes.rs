//! `/billrun/tax_rates` and `/billrun/{customers,accounts}/{id}/tax` (README "Taxes"):
//! the same rules as `billrun tax ...`, errors naming the field, audited.

use reqwest::Method;
use serde_json::json;

use super::{audit, row, token, Server};
use crate::env::TestEnv;

#[tokio::test]
async fn tax_rates_and_tax_settings_over_http() {
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.account("acme", "a1").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");

    let (status, body) = server
        .send(
            Method::PUT,
            "/billrun/tax_rates/DE_STANDARD",
            &admin,
            Some(&json!({"name": "VAT 19%", "percentage": "19", "isDefault": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"code": "DE_STANDARD", "name": "VAT 19%", "category": "S", "percentage": "19",
               "validFrom": null, "validUntil": null, "isDefault": true})
    );
    // Bad input names the field; nothing is stored.
    let (status, body) = server
        .send(
            Method::PUT,
            "/billrun/tax_rates/DE_REDUCED",
            &admin,
            Some(&json!({"name": "VAT 7%", "percentage": "7", "category": "X"})),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body.to_string().contains("category"), "{body}");
    let (status, body) = server
        .send(
            Method::PUT,
            "/billrun/tax_rates/DE_REDUCED",
            &admin,
            Some(&json!({"name": "VAT 7%"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("percentage"), "{body}");
    // A second default on the same days is a conflict naming the first.
    let (status, body) = server
        .send(
            Method::PUT,
            "/billrun/tax_rates/OTHER",
            &admin,
            Some(&json!({"name": "VAT 20%", "percentage": 20, "isDefault": true})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("DE_STANDARD"), "{body}");
    let (status, body) = server.get("/billrun/tax_rates", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");

    let (status, body) = server
        .send(
            Method::PUT,
            "/billrun/accounts/a1/tax",
            &admin,
            Some(&json!({"taxId": "FR40303265045", "taxTreatment": "REVERSE_CHARGE"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"taxId": "FR40303265045", "taxTreatment": "REVERSE_CHARGE"})
    );
    let (status, body) = server
        .send(
            Method::PUT,
            "/billrun/accounts/a1/tax",
            &admin,
            Some(&json!({"taxTreatment": "REVERSE"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("REVERSE_CHARGE"), "{body}");
    let (status, body) = server
        .send(
            Method::PUT,
            "/billrun/accounts/nope/tax",
            &admin,
            Some(&json!({"taxTreatment": "EXEMPT"})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let stored: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT tax_id, tax_treatment FROM accounts WHERE org_id = 'acme' AND id = 'a1'",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(
        stored,
        (Some("FR40303265045".into()), Some("REVERSE_CHARGE".into()))
    );

    // Audit rows are written just after the change: wait for them.
    let expected = vec![
        row("tax_rate.put", "DE_STANDARD", "SUCCESS"),
        row("tax_rate.put", "DE_REDUCED", "FAILURE"),
        row("tax_rate.put", "DE_REDUCED", "FAILURE"),
        row("tax_rate.put", "OTHER", "FAILURE"),
        row("account.set_tax", "a1", "SUCCESS"),
        row("account.set_tax", "a1", "FAILURE"),
        row("account.set_tax", "nope", "FAILURE"),
    ];
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = audit(&env, &["tax_rate.put", "account.set_tax"]).await;
        if rows.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rows, expected);
}
