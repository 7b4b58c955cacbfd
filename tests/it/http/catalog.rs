//! Togai's routes over billrun, one by one, through a real `billrun serve`: customers
//! and accounts (round trip, audit rows, paging), event schemas, usage meters and
//! invoices (shapes as Togai's client parses them, roles, another organisation's 404).

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{customer, token, token_id, Server};
use crate::env::TestEnv;

/// A DRAFT invoice written straight to the table (what is answered, not how it was
/// billed, is under test), for `account` of acme at `boundary`.
async fn draft_invoice(env: &TestEnv, id: &str, account: &str, boundary: &str) {
    sqlx::query(
        "INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id,
             plan_version, currency, sub_total, total, lines, grace_ends_at, computed_at,
             closing_start, closing_end)
         VALUES ('acme', $1, $2, '2025-12-01', $3::date, 'growth', 1, 'USD', 149, 149, '{}',
                 now(), now(), $3::date - 31, $3::date)",
    )
    .bind(id)
    .bind(account)
    .bind(boundary)
    .execute(env.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn a_customer_and_an_account_round_trip_in_togais_shapes_and_are_audited() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let token_id = token_id(&env, "acme", "admin");

    let (status, created) = server
        .post("/customers", &admin, &customer("initech"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({
            "id": "initech",
            "togaiCustomerId": "initech",
            "name": "Initech Corp",
            "primaryEmail": "billing@initech.test",
            "billingAddress": "1 Main St, 73301, Austin, US",
            "address": {"line1": "1 Main St", "postalCode": "73301", "city": "Austin", "country": "US"}
        })
    );
    let (status, got) = server.get("/customers/initech", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["name"], "Initech Corp");
    assert_eq!(got["primaryEmail"], "billing@initech.test");
    assert_eq!(got["status"], "ACTIVE");
    assert_eq!(got["address"]["city"], "Austin");
    assert_eq!(got["createdAt"], got["updatedAt"]);
    // Seen by the CLI too.
    assert!(env
        .ok(&["customer", "list", "--org", "acme"])
        .contains("Initech Corp"));

    // A duplicate is a conflict; a bad field a 400 naming it, in Togai's shape.
    let (status, body) = server
        .post("/customers", &admin, &customer("initech"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let mut bad = customer("x2");
    bad["address"]["country"] = json!("France");
    let (status, body) = server.post("/customers", &admin, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("country"),
        "{body}"
    );
    let (status, body) = server
        .post("/customers", &admin, &json!({"id": "x3"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Accounts: the organisation's base currency by default.
    let (status, account) = server
        .post(
            "/accounts",
            &admin,
            &json!({"id": "initech-main", "name": "Initech main", "customerId": "initech",
                    "netTermDays": 15,
                    "billingInformation": {"emailRecipients": ["ap@initech.test"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["togaiAccountId"], "initech-main");
    assert_eq!(account["customerId"], "initech");
    assert_eq!(account["invoiceCurrency"], "USD");
    assert_eq!(account["netTermDays"], 15);
    assert_eq!(account["status"], "ACTIVE");
    assert_eq!(
        account["billingInformation"]["emailRecipients"],
        json!(["ap@initech.test"])
    );
    let (_, got) = server.get("/accounts/initech-main", Some(&admin)).await;
    assert_eq!(got, account);

    // The audit rows: who, what, on which object, the outcome.
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT actor_kind, actor_id, action, object_id, outcome FROM audit_log
         WHERE org_id = 'acme' AND action IN ('customer.create', 'account.create') ORDER BY id",
    )
    .fetch_all(env.pool())
    .await
    .unwrap();
    let t = |a: &str, o: &str, out: &str| {
        (
            "TOKEN".to_string(),
            token_id.clone(),
            a.to_string(),
            o.to_string(),
            out.to_string(),
        )
    };
    assert_eq!(
        rows,
        [
            t("customer.create", "initech", "SUCCESS"),
            t("customer.create", "initech", "FAILURE"),
            t("customer.create", "x2", "FAILURE"),
            t("account.create", "initech-main", "SUCCESS"),
        ]
    );
}

#[tokio::test]
async fn lists_page_with_next_token() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    for id in ["c1", "c2", "c3"] {
        assert_eq!(
            server.post("/customers", &admin, &customer(id)).await.0,
            StatusCode::CREATED
        );
    }
    let (_, first) = server.get("/customers?pageSize=2", Some(&admin)).await;
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first), ["c1", "c2"]);
    assert_eq!(first["context"]["pageSize"], 2);
    let next = first["nextToken"].as_str().unwrap();
    let (_, second) = server
        .get(
            &format!("/customers?pageSize=2&nextToken={next}"),
            Some(&admin),
        )
        .await;
    assert_eq!(ids(&second), ["c3"]);
    assert!(second.get("nextToken").is_none(), "{second}");
    let (status, _) = server.get("/customers?pageSize=500", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn event_schemas_are_created_by_developers_and_listed_in_togais_shape() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let developer = token(&env, "acme", "dev", "developer");
    let pm = token(&env, "acme", "pm", "product-manager");
    let schema = json!({
        "name": "api_calls",
        "attributes": [{"name": "calls"}],
        "dimensions": [{"name": "region"}]
    });
    let (status, _) = server.post("/event_schema", &pm, &schema).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = server.post("/event_schema", &developer, &schema).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({"name": "api_calls", "version": 1, "status": "ACTIVE",
               "attributes": [{"name": "calls"}], "dimensions": [{"name": "region"}]})
    );
    let (status, list) = server.get("/event_schema", Some(&pm)).await;
    assert_eq!(status, StatusCode::OK);
    // The organisation's builder made a schema "api" too: listed by name.
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "api_calls"]);
    assert_eq!(list["data"][1], created);
    let (_, inactive) = server.get("/event_schema?status=INACTIVE", Some(&pm)).await;
    assert_eq!(inactive["data"], json!([]));
}

#[tokio::test]
async fn invoices_are_listed_and_read_in_togais_shape_by_the_roles_that_may() {
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(crate::fixtures::growth_plan(0))
        .await;
    env.org("globex").await;
    for a in ["a1", "a2"] {
        env.account("acme", a).from("2025-12-01").await;
    }
    draft_invoice(&env, "inv-1", "a1", "2026-01-01").await;
    draft_invoice(&env, "inv-2", "a2", "2026-01-01").await;
    draft_invoice(&env, "inv-3", "a1", "2026-02-01").await;
    let server = Server::start(&env).await;
    let pm = token(&env, "acme", "pm", "product-manager");
    let developer = token(&env, "acme", "dev", "developer");
    let globex = token(&env, "globex", "admin", "administrator");

    assert_eq!(
        server.get("/invoices", Some(&developer)).await.0,
        StatusCode::FORBIDDEN
    );
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, first) = server.get("/invoices?pageSize=2", Some(&pm)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(ids(&first), ["inv-3", "inv-1"]);
    let next = first["nextToken"].as_str().unwrap();
    let (_, second) = server
        .get(&format!("/invoices?pageSize=2&nextToken={next}"), Some(&pm))
        .await;
    assert_eq!(ids(&second), ["inv-2"]);
    assert!(second.get("nextToken").is_none(), "{second}");
    let (_, a2) = server.get("/invoices?owner_id=a2", Some(&pm)).await;
    assert_eq!(ids(&a2), ["inv-2"]);
    let (_, paid) = server.get("/invoices?status=PAID", Some(&pm)).await;
    assert_eq!(ids(&paid), Vec::<String>::new());
    assert_eq!(
        server.get("/invoices?customer_id=c1", Some(&pm)).await.0,
        StatusCode::BAD_REQUEST
    );
    let summary = &first["data"][0];
    assert_eq!(summary["ownerId"], "a1");
    assert_eq!(summary["pricePlanId"], "growth");
    assert_eq!(summary["status"], "DRAFT");
    assert_eq!(summary["invoiceClass"], "INVOICE");
    assert_eq!(summary["invoiceType"], "STANDARD");
    assert_eq!(summary["invoiceDate"], "2026-02-01T00:00:00Z");
    assert_eq!(summary["startDate"], "2026-01-01T00:00:00Z");
    assert_eq!(summary["endDate"], "2026-02-01T00:00:00Z");
    assert_eq!(summary["endDateInclusive"], "2026-01-31T00:00:00Z");
    // Togai's client requires the amounts and the net term on the summary too.
    assert_eq!(summary["totalAmount"].as_f64(), Some(149.0));
    assert_eq!(summary["paidAmount"].as_f64(), Some(0.0));
    assert_eq!(summary["netTermDays"], 0);

    // One invoice: amounts are JSON numbers with the currency's scale.
    let res = server
        .client
        .get(server.url("/invoices/inv-3"))
        .bearer_auth(&pm)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("\"totalAmount\":149.00"), "{text}");
    assert!(text.contains("\"paidAmount\":0"), "{text}");
    let one: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(one["id"], "inv-3");
    assert_eq!(one["netTermDays"], 0);
    assert!(one.get("usageInfo").is_none(), "{one}");

    let (status, body) = server.get("/invoices/inv-3", Some(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, none) = server.get("/invoices", Some(&globex)).await;
    assert_eq!(ids(&none), Vec::<String>::new());
}

#[tokio::test]
async fn usage_meters_are_created_from_togais_request_and_listed() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let developer = token(&env, "acme", "dev", "developer");
    let analyst = token(&env, "acme", "reader", "analyst");
    let schema = json!({"name": "storage", "attributes": [{"name": "gb"}],
                        "dimensions": [{"name": "region"}]});
    assert_eq!(
        server.post("/event_schema", &developer, &schema).await.0,
        StatusCode::CREATED
    );
    let meter = json!({
        "name": "Storage GB", "type": "COUNTER", "aggregation": "SUM",
        "computations": [{"computation": "gb", "order": 1}],
        "filters": [{"field": "dimensions.region", "value": "eu"}],
        "eventSchemaName": "storage"
    });
    assert_eq!(
        server.post("/usage_meters", &analyst, &meter).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, created) = server.post("/usage_meters", &developer, &meter).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({"id": "storage_gb", "name": "Storage GB", "displayName": "Storage GB",
               "filters": [{"field": "region", "value": "eu"}], "type": "COUNTER",
               "status": "ACTIVE", "aggregation": "SUM",
               "computations": [{"computation": "gb", "order": 1}]})
    );
    // Seen by the CLI's catalog too.
    let stored = billrun::catalog::meters::get_meter(env.pool(), "acme", "storage_gb")
        .await
        .unwrap();
    assert_eq!(stored.attribute.as_deref(), Some("gb"));

    let (status, body) = server.post("/usage_meters", &developer, &meter).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let mut bad = meter.clone();
    bad["name"] = json!("Storage TB");
    bad["computations"][0]["computation"] = json!("tb");
    let (status, body) = server.post("/usage_meters", &developer, &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("tb"), "{body}");

    let (status, list) = server.get("/usage_meters", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list["data"].as_array().unwrap().contains(&created),
        "{list}"
    );
}
