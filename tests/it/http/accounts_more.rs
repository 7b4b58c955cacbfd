//! Togai's account aliases, credits, license updates, settings, a customer created
//! with its account, and keyset paging of customers and accounts, through a real
//! `billrun serve` (issue 14): values worked out by hand, roles (403), another
//! organisation's ids (404) and audit rows.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{answer, audit, customer, row, token, Server};
use crate::env::TestEnv;

impl Server {
    /// POST `body` (JSON text, sent as is: numbers keep their digits) to `path`:
    /// status, the answer's text and its JSON.
    async fn post_text(&self, path: &str, token: &str, body: &str) -> (StatusCode, String, Value) {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {e}: {text}"));
        (status, text, value)
    }

    /// GET `path`: status and the answer's text.
    async fn get_text(&self, path: &str, token: &str) -> (StatusCode, String) {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }

    /// PATCH `body` to `path`: status and JSON body.
    async fn patch(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let res = self
            .client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        answer(res).await
    }
}

/// Customer `c1` with account `id` (USD) through the API.
async fn account(server: &Server, admin: &str, customer_id: &str, id: &str) {
    let mut body = customer(customer_id);
    body["account"] = json!({"id": id, "name": "Main account", "invoiceCurrency": "USD"});
    let (status, answer) = server.post("/customers", admin, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn credits_are_granted_listed_voided_and_balanced_to_the_cent() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let pm = token(&env, "acme", "pm", "product-manager");
    let analyst = token(&env, "acme", "reader", "analyst");
    let developer = token(&env, "acme", "dev", "developer");
    let globex = token(&env, "globex", "admin", "administrator");
    account(&server, &admin, "c1", "a1").await;

    let grant = r#"{"creditRequests": [{"accountId": "a1", "purpose": "welcome",
        "effectiveFrom": "2026-01-01", "effectiveUntil": "2030-12-31",
        "creditAmount": 100.00, "priority": 1, "idempotencyKey": "welcome-a1"}]}"#;
    // Roles: a Product Manager grants, an Analyst and a Developer do not.
    let (status, _, _) = server.post_text("/credits", &analyst, grant).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = server.post_text("/credits", &developer, grant).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, text, created) = server.post_text("/credits", &pm, grant).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let credit = &created["credits"][0];
    let id = credit["id"].as_str().unwrap().to_string();
    assert!(
        text.contains(r#""creditAmount":100.00"#),
        "money with its scale: {text}"
    );
    assert_eq!(credit["accountId"], "a1");
    assert_eq!(credit["customerId"], "c1");
    assert_eq!(credit["status"], "ACTIVE");
    assert_eq!(credit["creditUnit"], "USD");
    assert_eq!(credit["effectiveFrom"], "2026-01-01");
    assert_eq!(credit["effectiveUntil"], "2030-12-31", "inclusive, as sent");
    assert_eq!(credit["idempotencyKey"], "welcome-a1");
    // The same key again grants nothing more.
    let (status, _, again) = server.post_text("/credits", &admin, grant).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["credits"][0]["id"], id.as_str());
    // Seen by the CLI: one grant, ending at 00:00 UTC the day after effectiveUntil.
    let listed = env.json(&["credit", "list", "--org", "acme", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        listed[0]["effectiveUntil"], "2031-01-01T00:00:00Z",
        "{listed}"
    );

    let (status, text) = server
        .get_text("/accounts/a1/credit_balance", &analyst)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    for field in ["activeCredits", "availableBalance", "runningBalance"] {
        assert!(text.contains(&format!(r#""{field}":100.00"#)), "{text}");
    }
    assert!(text.contains(r#""inapplicableCredits":0.00"#), "{text}");
    assert!(text.contains(r#""unit":"USD""#), "{text}");
    let (status, list) = server.get("/credits?account_id=a1", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["id"], id.as_str());
    let (_, none) = server.get("/credits?status=VOIDED", Some(&analyst)).await;
    assert_eq!(none["data"], json!([]), "{none}");

    // Another organisation's credit and account are not found; nothing for it.
    let (status, _) = server.get(&format!("/credits/{id}"), Some(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get("/accounts/a1/credit_balance", Some(&globex))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = server
        .post_text(&format!("/credits/{id}/void"), &globex, "")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = server.get("/credits", Some(&globex)).await;
    assert_eq!(theirs["data"], json!([]));

    // Void: 100.00 voided, balance 0.00; a second void is a conflict.
    let (status, text, voided) = server
        .post_text(&format!("/credits/{id}/void"), &admin, "")
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(voided["status"], "VOIDED");
    let (_, text) = server.get_text("/accounts/a1/credit_balance", &admin).await;
    assert!(text.contains(r#""availableBalance":0.00"#), "{text}");
    let (status, _, _) = server
        .post_text(&format!("/credits/{id}/void"), &admin, "")
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, text) = server.get_text(&format!("/credits/{id}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let details: Value = serde_json::from_str(&text).unwrap();
    let kinds: Vec<&str> = details["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["transactionType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["CREDITED", "VOIDED"], "{text}");
    assert!(text.contains(r#""amount":100.00"#), "{text}");
    assert!(text.contains(r#""consumedAmount":0.00"#), "{text}");

    // A refused request: an account that does not exist, a float with too many
    // decimals, a missing amount.
    let bad = |account: &str, amount: &str| {
        format!(
            r#"{{"creditRequests": [{{"accountId": "{account}", "purpose": "x",
            "effectiveFrom": "2026-01-01", {amount} "priority": 1}}]}}"#
        )
    };
    let (status, _, body) = server
        .post_text("/credits", &admin, &bad("nobody", r#""creditAmount": 5,"#))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) = server
        .post_text("/credits", &admin, &bad("a1", r#""creditAmount": 5.001,"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("amount"),
        "{body}"
    );
    let (status, _, body) = server.post_text("/credits", &admin, &bad("a1", "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    assert_eq!(
        audit(&env, &["credit.grant", "credit.void"]).await,
        [
            row("credit.grant", &id, "SUCCESS"),
            row("credit.grant", &id, "SUCCESS"),
            row("credit.void", &id, "SUCCESS"),
            row("credit.void", &id, "FAILURE"),
            row("credit.grant", "nobody", "FAILURE"),
            row("credit.grant", "a1", "FAILURE"),
            row("credit.grant", "a1", "FAILURE"),
        ]
    );
}

#[tokio::test]
async fn aliases_are_added_moved_and_removed_with_their_ranges() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");
    account(&server, &admin, "c1", "a1").await;
    let (status, _) = server
        .post(
            "/accounts",
            &admin,
            &json!({"id": "a2", "name": "Second", "customerId": "c1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let add = json!({"accountAliases": [{"value": "dev-1", "effectiveFrom": "2026-01-01T00:00:00Z"}],
                     "aliases": ["dev-2"]});
    let (status, _) = server
        .post("/accounts/a1/add_aliases", &analyst, &add)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server.post("/accounts/a1/add_aliases", &globex, &add).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, account) = server.post("/accounts/a1/add_aliases", &admin, &add).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["id"], "a1");
    assert_eq!(
        account["aliases"],
        json!([{"alias": "dev-1"}, {"alias": "dev-2"}])
    );
    let (status, list) = server
        .get("/accounts/a1/account_aliases", Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"][0]["id"], "dev-1@2026-01-01T00:00:00Z");
    assert_eq!(list["data"][0]["value"], "dev-1");
    assert_eq!(list["data"][0]["effectiveFrom"], "2026-01-01T00:00:00Z");
    assert_eq!(
        list["data"][0]["effectiveUntil"], "9999-12-31T23:59:59Z",
        "open-ended"
    );
    assert_eq!(list["data"][1]["value"], "dev-2");

    // Moving dev-1 to a2 on 1 March closes its range on a1 then.
    let (status, moved) = server
        .post(
            "/accounts/a2/add_aliases",
            &admin,
            &json!({"accountAliases": [{"value": "dev-1", "effectiveFrom": "2026-03-01T00:00:00Z"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let (_, list) = server
        .get("/accounts/a1/account_aliases", Some(&admin))
        .await;
    assert_eq!(list["data"][0]["effectiveUntil"], "2026-03-01T00:00:00Z");
    let (_, list2) = server
        .get("/accounts/a2/account_aliases", Some(&admin))
        .await;
    assert_eq!(list2["data"][0]["id"], "dev-1@2026-03-01T00:00:00Z");
    // Events are routed by their time: before the move to a1, after it to a2.
    let book = billrun::catalog::aliases::AliasBook::load(env.pool(), "acme", &["dev-1".into()])
        .await
        .unwrap();
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    use billrun::catalog::aliases::Resolution;
    assert_eq!(
        book.resolve("dev-1", at("2026-02-28T23:59:59Z")),
        Resolution::Account("a1")
    );
    assert_eq!(
        book.resolve("dev-1", at("2026-03-01T00:00:00Z")),
        Resolution::Account("a2")
    );

    // All or nothing: a good alias and a refused one (dev-1 has a later range).
    let (status, body) = server
        .post(
            "/accounts/a1/add_aliases",
            &admin,
            &json!({"aliases": ["dev-3"],
                    "accountAliases": [{"value": "dev-1", "effectiveFrom": "2026-02-01T00:00:00Z"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, list) = server
        .get("/accounts/a1/account_aliases", Some(&admin))
        .await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "no dev-3: {list}"
    );

    // Removing: a2's range of dev-1 ends on 1 June; dev-2 on a1 ends now.
    let (status, body) = server
        .post(
            "/accounts/a2/remove_aliases",
            &admin,
            &json!({"accountAliases": [{"id": "dev-1@2026-03-01T00:00:00Z", "from": "2026-06-01T00:00:00Z"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list2) = server
        .get("/accounts/a2/account_aliases", Some(&admin))
        .await;
    assert_eq!(list2["data"][0]["effectiveUntil"], "2026-06-01T00:00:00Z");
    let (status, body) = server
        .post(
            "/accounts/a1/remove_aliases",
            &admin,
            &json!({"aliases": ["dev-2"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["aliases"], json!([]), "{body}");
    let (_, list) = server
        .get("/accounts/a1/account_aliases", Some(&admin))
        .await;
    assert_ne!(list["data"][1]["effectiveUntil"], "9999-12-31T23:59:59Z");
    // Unknown and malformed ids.
    let (status, _) = server
        .post(
            "/accounts/a1/remove_aliases",
            &admin,
            &json!({"accountAliases": [{"id": "dev-9@2026-03-01T00:00:00Z"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .post(
            "/accounts/a1/remove_aliases",
            &admin,
            &json!({"accountAliases": [{"id": "dev-9"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .get("/accounts/a1/account_aliases", Some(&globex))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(
        audit(&env, &["account.add_aliases", "account.remove_aliases"]).await,
        [
            row("account.add_aliases", "a1", "SUCCESS"),
            row("account.add_aliases", "a2", "SUCCESS"),
            row("account.add_aliases", "a1", "FAILURE"),
            row("account.remove_aliases", "a2", "SUCCESS"),
            row("account.remove_aliases", "a1", "SUCCESS"),
            row("account.remove_aliases", "a1", "FAILURE"),
            row("account.remove_aliases", "a1", "FAILURE"),
        ]
    );
}

fn growth_with_seats() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan_growth.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn license_updates_are_recorded_with_their_absolute_quantity_and_listed() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(growth_with_seats()).await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let developer = token(&env, "acme", "dev", "developer");
    let pm = token(&env, "acme", "pm", "product-manager");
    let globex = token(&env, "globex", "admin", "administrator");
    account(&server, &admin, "c1", "a1").await;

    let update = |key: &str, kind: &str, qty: &str, from: &str| {
        format!(
            r#"{{"licenseId": "seats", "accountId": "a1", "updateType": "{kind}",
                "quantity": {qty}, "effectiveFrom": "{from}", "idempotencyKey": "{key}"}}"#
        )
    };
    let k1 = update("k1", "ABSOLUTE", "5", "2026-01-05T09:00:00Z");
    let (status, _, _) = server.post_text("/license_updates", &pm, &k1).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = server.post_text("/license_updates", &globex, &k1).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, text, first) = server.post_text("/license_updates", &developer, &k1).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(first["licenseId"], "seats");
    assert_eq!(first["accountId"], "a1");
    assert_eq!(first["quantity"], 5);
    assert_eq!(first["effectiveFrom"], "2026-01-05T09:00:00Z");
    // 5, then +3 = 8, then -2 = 6.
    let (status, _, second) = server
        .post_text(
            "/license_updates",
            &admin,
            &update("k2", "RELATIVE", "3", "2026-01-10T00:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["quantity"], 8);
    let (_, _, third) = server
        .post_text(
            "/license_updates",
            &admin,
            &update("k3", "RELATIVE", "-2", "2026-01-20T00:00:00Z"),
        )
        .await;
    assert_eq!(third["quantity"], 6, "{third}");
    // Again with the same key: nothing more; another update under it: a conflict.
    let (status, _, again) = server.post_text("/license_updates", &admin, &k1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["quantity"], 5);
    let (status, _, body) = server
        .post_text(
            "/license_updates",
            &admin,
            &update("k1", "ABSOLUTE", "7", "2026-01-05T09:00:00Z"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // A license no plan prices.
    let (status, _, body) = server
        .post_text(
            "/license_updates",
            &admin,
            &update("k4", "ABSOLUTE", "1", "2026-01-05T09:00:00Z").replace("seats", "seatz"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("seatz"),
        "{body}"
    );

    let (status, page) = server
        .get("/license_updates?pageSize=2&account_id=a1", Some(&pm))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let quantities: Vec<i64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["quantity"].as_i64().unwrap())
        .collect();
    assert_eq!(quantities, [5, 8]);
    assert_eq!(page["nextToken"], "k2");
    let (_, rest) = server
        .get("/license_updates?pageSize=2&nextToken=k2", Some(&pm))
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest.get("nextToken").is_none(), "{rest}");
    let (_, later) = server
        .get(
            "/license_updates?licenseId=seats&effectiveFrom=2026-01-10T00:00:00Z",
            Some(&pm),
        )
        .await;
    assert_eq!(later["data"].as_array().unwrap().len(), 2, "{later}");
    let (_, theirs) = server.get("/license_updates", Some(&globex)).await;
    assert_eq!(theirs["data"], json!([]));

    let audited = audit(&env, &["license_update.create"]).await;
    let outcomes: Vec<&str> = audited.iter().map(|(_, _, o)| o.as_str()).collect();
    assert_eq!(
        outcomes,
        ["SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS", "FAILURE", "FAILURE"]
    );
    assert_eq!(audited[0].1, "a1/seats");
}

#[tokio::test]
async fn settings_are_read_and_changed_and_unsupported_ids_are_named() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");

    let (status, list) = server.get("/settings", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let values: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        values,
        [
            ("baseCurrency", "USD"),
            ("creditNoteNumberFormat", "CN-{YYYY}-{SEQ:4}"),
            ("enabledCurrencies", r#"["USD","EUR","JPY"]"#),
            ("invoiceNumberFormat", "INV-{YYYY}-{SEQ:4}"),
            ("netTermDays", "15"),
            ("voidIssuesCreditNote", "false"),
        ]
    );
    assert_eq!(list["data"][0]["entityType"], "ORGANIZATION");
    assert_eq!(list["data"][0]["entityId"], "acme");
    assert_eq!(list["data"][4]["dataType"], "NUMERIC");

    let (status, _) = server
        .patch("/settings/netTermDays", &analyst, &json!({"value": "45"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, set) = server
        .patch("/settings/netTermDays", &admin, &json!({"value": "45"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{set}");
    assert_eq!(set["value"], "45");
    let (_, got) = server.get("/settings/netTermDays", Some(&analyst)).await;
    assert_eq!(got["value"], "45");
    let org = billrun::catalog::orgs::get(env.pool(), &"acme".into())
        .await
        .unwrap();
    assert_eq!(org.net_term_days, 45);
    // globex's are its own.
    let (_, theirs) = server.get("/settings/netTermDays", Some(&globex)).await;
    assert_eq!(theirs["value"], "15");

    let inserted = json!({"id": "enabledCurrencies", "value": "[\"USD\",\"EUR\"]",
                          "entityType": "ORGANIZATION", "entityId": "acme", "namespace": "USER",
                          "name": "Enabled currencies", "dataType": "JSON"});
    let (status, set) = server.post("/settings", &admin, &inserted).await;
    assert_eq!(status, StatusCode::CREATED, "{set}");
    assert_eq!(set["value"], r#"["USD","EUR"]"#);
    let mut elsewhere = inserted.clone();
    elsewhere["entityId"] = json!("globex");
    let (status, _) = server.post("/settings", &admin, &elsewhere).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Unsupported ids and bad values: 400 naming them, nothing changed.
    let (status, body) = server
        .get("/settings/timezoneOfTheMoon", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("timezoneOfTheMoon"),
        "{body}"
    );
    let (status, body) = server
        .patch(
            "/settings/timezoneOfTheMoon",
            &admin,
            &json!({"value": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = server
        .patch("/settings/netTermDays", &admin, &json!({"value": "-1"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("netTermDays"),
        "{body}"
    );
    let (_, got) = server.get("/settings/netTermDays", Some(&admin)).await;
    assert_eq!(got["value"], "45");

    assert_eq!(
        audit(&env, &["setting.update"]).await,
        [
            row("setting.update", "netTermDays", "SUCCESS"),
            row("setting.update", "enabledCurrencies", "SUCCESS"),
            row("setting.update", "enabledCurrencies", "FAILURE"),
            row("setting.update", "timezoneOfTheMoon", "FAILURE"),
            row("setting.update", "netTermDays", "FAILURE"),
        ]
    );
}

#[tokio::test]
async fn a_customer_with_an_inline_account_is_created_all_or_nothing() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");

    // GBP is not enabled: no account, and no customer either.
    let mut body = customer("c1");
    body["account"] = json!({"id": "a1", "name": "Main account", "invoiceCurrency": "GBP"});
    let (status, answer) = server.post("/customers", &admin, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("invoiceCurrency"),
        "{answer}"
    );
    assert_eq!(
        server.get("/customers/c1", Some(&admin)).await.0,
        StatusCode::NOT_FOUND
    );

    body["account"] = json!({"id": "a1", "name": "Main account", "netTermDays": 20,
                             "accountAliases": [{"value": "dev-1", "effectiveFrom": "2026-01-01T00:00:00Z"}]});
    let (status, answer) = server.post("/customers", &admin, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["id"], "c1");
    assert_eq!(answer["account"]["id"], "a1");
    assert_eq!(answer["account"]["customerId"], "c1");
    assert_eq!(answer["account"]["invoiceCurrency"], "USD");
    assert_eq!(answer["account"]["netTermDays"], 20);
    let (_, aliases) = server
        .get("/accounts/a1/account_aliases", Some(&admin))
        .await;
    assert_eq!(aliases["data"][0]["value"], "dev-1", "{aliases}");

    // The account id exists: the second customer is not created either.
    let mut again = customer("c2");
    again["account"] = json!({"id": "a1", "name": "Main account"});
    let (status, answer) = server.post("/customers", &admin, &again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(
        server.get("/customers/c2", Some(&admin)).await.0,
        StatusCode::NOT_FOUND
    );
    // Fields billrun does not keep are named.
    let mut tagged = customer("c3");
    tagged["account"] = json!({"id": "a3", "name": "Tagged", "tags": ["vip"]});
    let (status, answer) = server.post("/customers", &admin, &tagged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("tags"),
        "{answer}"
    );

    assert_eq!(
        audit(&env, &["customer.create"]).await,
        [
            row("customer.create", "c1", "FAILURE"),
            row("customer.create", "c1", "SUCCESS"),
            row("customer.create", "c2", "FAILURE"),
            row("customer.create", "c3", "FAILURE"),
        ]
    );
}

#[tokio::test]
async fn customers_and_accounts_page_by_keyset() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    for i in 0..25 {
        let (status, _) = server
            .post("/customers", &admin, &customer(&format!("c{i:02}")))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(t) => format!("/customers?pageSize=10&nextToken={t}"),
            None => "/customers?pageSize=10".to_string(),
        };
        let (status, page) = server.get(&path, Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["context"], json!({"pageSize": 10, "sortOrder": "ASC"}));
        let ids: Vec<String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        sizes.push(ids.len());
        seen.extend(ids);
        next = page["nextToken"].as_str().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    let expected: Vec<String> = (0..25).map(|i| format!("c{i:02}")).collect();
    assert_eq!(seen, expected);
    // Exactly a page's worth left: the page before it says so with a token, the
    // last page has none.
    let (_, page) = server
        .get("/customers?pageSize=5&nextToken=c19", Some(&admin))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 5);
    assert!(page.get("nextToken").is_none(), "{page}");
    let (status, _) = server.get("/customers?pageSize=51", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    for i in 0..3 {
        let (status, _) = server
            .post(
                "/accounts",
                &admin,
                &json!({"id": format!("a{i}"), "name": "Account", "customerId": "c00"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, first) = server.get("/accounts?pageSize=2", Some(&admin)).await;
    assert_eq!(first["data"][1]["id"], "a1");
    assert_eq!(first["nextToken"], "a1");
    let (_, second) = server
        .get("/accounts?pageSize=2&nextToken=a1", Some(&admin))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], "a2");
    assert!(second.get("nextToken").is_none(), "{second}");
}
