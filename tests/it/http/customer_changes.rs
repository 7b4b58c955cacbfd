//! Customers and accounts that change (README "HTTP API", "Customers and accounts that
//! change") through a real `billrun serve`: PATCH replaces the fields given, the
//! invoice currency changes only before an account is priced, DELETE keeps every
//! account with billing history (409, nothing deleted), contacts are kept and refused
//! portal access; the draft invoices eligible for a bill run, a license entry's
//! metadata and discarding schedules. Values worked out by hand; other
//! organisations' ids (404), roles (403) and audit rows.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{audit, customer, row, token, Server};
use crate::env::TestEnv;

fn message(body: &Value) -> &str {
    body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("an error: {body}"))
}

/// A DRAFT invoice of account `account` (on plan growth from 2025-12-01) for its
/// December 2025 cycle, 149.00 USD.
async fn draft_invoice(env: &TestEnv, id: &str, account: &str) {
    sqlx::query(
        "INSERT INTO invoices (org_id, id, account_id, association_from, boundary,
             plan_id, plan_version, currency, sub_total, total, lines, grace_ends_at,
             computed_at, closing_start, closing_end)
         VALUES ('acme', $1, $2, '2025-12-01', '2026-01-01', 'growth', 1, 'USD',
                 149.00, 149.00, '{}', now(), now(), '2025-12-01', '2026-01-01')",
    )
    .bind(id)
    .bind(account)
    .execute(env.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn customers_and_accounts_change_and_billing_history_is_never_deleted() {
    use reqwest::Method;
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.org("globex").await;
    // b1 (customer cust-b1) is on growth from 2025-12-01 and has a DRAFT invoice.
    env.account("acme", "b1").from("2025-12-01").await;
    draft_invoice(&env, "inv-b1", "b1").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let developer = token(&env, "acme", "dev", "developer");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");
    let mut c1 = customer("c1");
    c1["account"] = json!({"id": "a1", "name": "Initech main", "invoiceCurrency": "USD",
                           "aliases": ["dev-1"]});
    let (status, body) = server.post("/customers", &admin, &c1).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // PATCH a customer: the name and the address (whole) change, the email stays.
    let patch = json!({"name": "Initech Inc", "address": {"city": "Dallas", "country": "US"}});
    let (status, _) = server
        .send(Method::PATCH, "/customers/c1", &analyst, Some(&patch))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = server
        .send(Method::PATCH, "/customers/c1", &globex, Some(&patch))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, c) = server
        .send(Method::PATCH, "/customers/c1", &developer, Some(&patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["name"], "Initech Inc");
    assert_eq!(c["address"], json!({"city": "Dallas", "country": "US"}));
    assert_eq!(c["billingAddress"], "Dallas, US");
    assert_eq!(c["primaryEmail"], "billing@initech.test");
    assert!(
        c["updatedAt"].as_str().unwrap() > c["createdAt"].as_str().unwrap(),
        "{c}"
    );
    let (_, read) = server.get("/customers/c1", Some(&analyst)).await;
    assert_eq!(read["name"], "Initech Inc");
    let (status, body) = server
        .send(Method::PATCH, "/customers/c1", &admin, Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("nothing to change"), "{body}");
    let (status, body) = server
        .send(
            Method::PATCH,
            "/customers/c1",
            &admin,
            Some(&json!({"primaryEmail": "nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).starts_with("primaryEmail"), "{body}");

    // PATCH an account with no history: its currency may still change.
    let patch = json!({"netTermDays": 45, "invoiceCurrency": "EUR", "status": "ACTIVE",
                       "billingInformation": {"emailRecipients": ["ap@initech.test"]}});
    let (status, a) = server
        .send(Method::PATCH, "/accounts/a1", &developer, Some(&patch))
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["invoiceCurrency"], "EUR");
    assert_eq!(a["netTermDays"], 45);
    assert_eq!(
        a["billingInformation"],
        json!({"emailRecipients": ["ap@initech.test"], "additionalEmailRecipients": []})
    );
    assert_eq!(a["name"], "Initech main", "what is not given stays");
    for (patch, says) in [
        (json!({"invoiceCurrency": "GBP"}), "GBP is not enabled"),
        (json!({"status": "DRAFT"}), "status"),
        (json!({"tags": ["vip"]}), "tags"),
        (json!({"netTermDays": -1}), "netTermDays"),
    ] {
        let (status, body) = server
            .send(Method::PATCH, "/accounts/a1", &admin, Some(&patch))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {body}");
        assert!(message(&body).contains(says), "{patch}: {body}");
    }
    // b1 has 1 invoice and 1 plan period: its currency stays (the same one passes).
    let (status, body) = server
        .send(
            Method::PATCH,
            "/accounts/b1",
            &admin,
            Some(&json!({"invoiceCurrency": "EUR"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        message(&body).starts_with(
            "invoiceCurrency of account \"b1\" cannot change: it has 1 invoice, 1 plan period"
        ),
        "{body}"
    );
    let (status, b1) = server
        .send(
            Method::PATCH,
            "/accounts/b1",
            &admin,
            Some(&json!({"invoiceCurrency": "USD", "name": "Bee one"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b1}");
    assert_eq!(
        (b1["name"].as_str(), b1["invoiceCurrency"].as_str()),
        (Some("Bee one"), Some("USD"))
    );
    // The CLI refuses the timezone alike (exit status of a conflict), and updates.
    let err = env.fails(&[
        "account",
        "update",
        "b1",
        "--org",
        "acme",
        "--timezone",
        "Europe/Paris",
    ]);
    assert!(
        err.contains("timezone of account \"b1\" cannot change"),
        "{err}"
    );
    env.ok(&[
        "customer", "update", "cust-b1", "--org", "acme", "--name", "Bee Corp",
    ]);
    let (_, cust) = server.get("/customers/cust-b1", Some(&admin)).await;
    assert_eq!(cust["name"], "Bee Corp");

    // DELETE keeps history: nothing deleted, the account and customer still there.
    let history = "account \"b1\" has billing history (1 invoice, 1 plan period): billrun \
                   keeps billing history, so it cannot be deleted; to stop billing it, end \
                   its plan period";
    let (status, body) = server
        .send(Method::DELETE, "/accounts/b1", &admin, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(message(&body), history);
    let (status, body) = server
        .send(Method::DELETE, "/customers/cust-b1", &admin, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(message(&body), format!("customer \"cust-b1\": {history}"));
    let err = env.fails(&["account", "delete", "b1", "--org", "acme"]);
    assert!(err.contains("has billing history"), "{err}");
    assert_eq!(
        server.get("/accounts/b1", Some(&admin)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/invoices/inv-b1", Some(&admin)).await.0,
        StatusCode::OK
    );

    // Contacts: kept, never given portal access.
    let ann = json!({"name": "Ann Smith", "email": "ann@initech.test", "phone": "+1 512 555 0100"});
    let (status, contact) = server
        .post("/customers/c1/contacts", &developer, &ann)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert!(
        contact["username"].as_str().unwrap().starts_with("ct_"),
        "{contact}"
    );
    assert_eq!(contact["loginAccess"], false);
    assert_eq!(contact["verified"], false);
    assert_eq!(contact["phone"], "+1 512 555 0100");
    let (status, body) = server.post("/customers/c1/contacts", &admin, &ann).await;
    assert_eq!(status, StatusCode::CONFLICT, "the same email twice: {body}");
    for (extra, says) in [
        (json!({"loginAccess": true}), "loginAccess"),
        (json!({"password": "hunter2hunter2"}), "password"),
        (json!({"verified": true}), "verified"),
    ] {
        let mut bob = json!({"name": "Bob", "email": "bob@initech.test"});
        bob.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, body) = server.post("/customers/c1/contacts", &admin, &bob).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bob}: {body}");
        assert!(message(&body).starts_with(says), "{body}");
    }
    let (status, _) = server.post("/customers/c1/contacts", &globex, &ann).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listed = env.json(&["customer", "contacts", "c1", "--org", "acme", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        (listed[0]["email"].as_str(), listed[0]["username"].as_str()),
        (Some("ann@initech.test"), contact["username"].as_str())
    );
    env.fails(&["customer", "contacts", "nobody", "--org", "acme"]);

    // A customer without history goes with its account, alias ranges and contact.
    let (status, _) = server
        .send(Method::DELETE, "/customers/c1", &globex, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = server
        .send(Method::DELETE, "/customers/c1", &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"success": true}));
    assert_eq!(
        server.get("/customers/c1", Some(&admin)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/accounts/a1", Some(&admin)).await.0,
        StatusCode::NOT_FOUND
    );
    let left: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM customer_contacts WHERE org_id = 'acme'),
                (SELECT count(*) FROM aliases WHERE org_id = 'acme')",
    )
    .fetch_one(env.pool())
    .await
    .unwrap();
    assert_eq!(left, (0, 0));
    // An account alone.
    let a2 = json!({"id": "a2", "name": "Second", "customerId": "cust-b1"});
    assert_eq!(
        server.post("/accounts", &admin, &a2).await.0,
        StatusCode::CREATED
    );
    let (status, body) = server
        .send(Method::DELETE, "/accounts/a2", &admin, None)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (status, _) = server
        .send(Method::DELETE, "/accounts/a2", &admin, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(
        audit(
            &env,
            &[
                "customer.update",
                "account.update",
                "customer.delete",
                "account.delete",
                "customer.add_contact"
            ]
        )
        .await,
        vec![
            row("customer.update", "c1", "SUCCESS"),
            row("customer.update", "c1", "FAILURE"),
            row("customer.update", "c1", "FAILURE"),
            row("account.update", "a1", "SUCCESS"),
            row("account.update", "a1", "FAILURE"),
            row("account.update", "a1", "FAILURE"),
            row("account.update", "a1", "FAILURE"),
            row("account.update", "a1", "FAILURE"),
            row("account.update", "b1", "FAILURE"),
            row("account.update", "b1", "SUCCESS"),
            row("account.update", "b1", "FAILURE"),
            row("customer.update", "cust-b1", "SUCCESS"),
            row("account.delete", "b1", "FAILURE"),
            row("customer.delete", "cust-b1", "FAILURE"),
            row("account.delete", "b1", "FAILURE"),
            row("customer.add_contact", "c1", "SUCCESS"),
            row("customer.add_contact", "c1", "FAILURE"),
            row("customer.add_contact", "c1", "FAILURE"),
            row("customer.add_contact", "c1", "FAILURE"),
            row("customer.add_contact", "c1", "FAILURE"),
            row("customer.delete", "c1", "SUCCESS"),
            row("account.delete", "a2", "SUCCESS"),
            row("account.delete", "a2", "FAILURE"),
        ]
    );
}

#[tokio::test]
async fn drafts_are_eligible_for_a_bill_run_license_metadata_is_not_kept_and_discard_changes_nothing(
) {
    use reqwest::Method;
    let env = TestEnv::new().await;
    let plan = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/plan_growth.json"
    ))
    .unwrap();
    env.org("acme")
        .with_plan(serde_json::from_str(&plan).unwrap())
        .await;
    env.org("globex").await;
    env.account("acme", "b1").from("2025-12-01").await;
    env.account("acme", "b2").from("2025-12-01").await;
    draft_invoice(&env, "inv-b1", "b1").await;
    draft_invoice(&env, "inv-b2", "b2").await;
    // A finalized one is not eligible.
    sqlx::query("UPDATE invoices SET status = 'DUE', number = 'INV-1', invoice_date = '2026-01-01',
                 due_date = '2026-01-16', net_term_days = 15, finalized_at = now() WHERE id = 'inv-b2'")
        .execute(env.pool())
        .await
        .unwrap();
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let developer = token(&env, "acme", "dev", "developer");
    let globex = token(&env, "globex", "admin", "administrator");

    let (status, page) = server.get("/invoices/bill_runs", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["inv-b1"]);
    assert_eq!(page["data"][0]["status"], "DRAFT");
    assert_eq!(page["data"][0]["totalAmount"].as_f64(), Some(149.0));
    let (status, page) = server
        .get("/invoices/bill_runs?owner_id=b2", Some(&admin))
        .await;
    assert_eq!((status, page["data"].clone()), (StatusCode::OK, json!([])));
    let (status, body) = server
        .get("/invoices/bill_runs?status=DUE", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, page) = server.get("/invoices/bill_runs", Some(&globex)).await;
    assert_eq!(page["data"], json!([]));

    // A license entry: 5 seats from 2026-01-05T09:00Z, its metadata.
    let update = json!({"licenseId": "seats", "accountId": "b1", "updateType": "ABSOLUTE",
                        "quantity": 5, "effectiveFrom": "2026-01-05T09:00:00Z",
                        "idempotencyKey": "seats-1"});
    let (status, body) = server.post("/license_updates", &developer, &update).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entry = json!({"accountId": "b1", "effectiveFrom": "2026-01-05T09:00:00Z", "metadata": {}});
    // As Togai's client sends it: the path's template unfilled, the license in the query.
    let (status, body) = server
        .send(
            Method::PATCH,
            "/license_updates/%7Blicense_id%7D?licenseId=seats",
            &developer,
            Some(&entry),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["licenseId"].as_str(),
            body["accountId"].as_str(),
            body["quantity"].as_i64()
        ),
        (Some("seats"), Some("b1"), Some(5))
    );
    let mut tagged = entry.clone();
    tagged["metadata"] = json!({"po": "4711"});
    let (status, body) = server
        .send(
            Method::PATCH,
            "/license_updates/seats",
            &developer,
            Some(&tagged),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).starts_with("metadata"), "{body}");
    let mut elsewhen = entry.clone();
    elsewhen["effectiveFrom"] = json!("2026-01-05T10:00:00Z");
    let (status, body) = server
        .send(
            Method::PATCH,
            "/license_updates/seats",
            &developer,
            Some(&elsewhen),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = server
        .send(
            Method::PATCH,
            "/license_updates/seats",
            &globex,
            Some(&entry),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Discarding schedules: b1 keeps its plan period.
    let (status, body) = server
        .send(
            Method::DELETE,
            "/v2/accounts/b1/discard_schedules",
            &admin,
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let (_, schedules) = server.get("/v2/accounts/b1/schedules", Some(&admin)).await;
    assert_eq!(
        schedules["data"].as_array().unwrap().len(),
        1,
        "{schedules}"
    );
    let (status, _) = server
        .send(
            Method::DELETE,
            "/v2/accounts/b1/discard_schedules",
            &globex,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(
        audit(
            &env,
            &["license_update.update", "account.discard_schedules"]
        )
        .await,
        vec![
            row("license_update.update", "b1/seats", "SUCCESS"),
            row("license_update.update", "b1/seats", "FAILURE"),
            row("license_update.update", "b1/seats", "FAILURE"),
            row("account.discard_schedules", "b1", "SUCCESS"),
        ]
    );
}
