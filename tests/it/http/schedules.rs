//! Togai's account schedules (plan associations) and `/aliases` through a real
//! `billrun serve`: edits applied at once and seen by `associations::for_account`,
//! finalize a no-op, the list's shape, roles, another organisation's 404, what is not
//! supported (400), audit rows.

use billrun::catalog::associations;
use billrun::store::OrgId;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{audit, row, token, Server};
use crate::env::TestEnv;
use crate::fixtures::growth_plan;

fn scale_plan() -> Value {
    let mut plan = growth_plan(0);
    plan["name"] = json!("scale");
    plan
}

fn associate(plan: &str, from: &str, until: &str) -> Value {
    json!({"edits": [{"mode": "ASSOCIATE", "effectiveFrom": from, "effectiveUntil": until,
                      "associationConfig": {"pricePlanId": plan}}]})
}

async fn new_account(env: &TestEnv, server: &Server, admin: &str, id: &str) {
    let mut body = super::customer(&format!("c-{id}"));
    body["account"] = json!({"id": id, "name": "Main account", "invoiceCurrency": "USD"});
    let (status, answer) = server.post("/customers", admin, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let _ = env;
}

#[tokio::test]
async fn edit_schedules_attaches_plans_at_once_and_finalize_changes_nothing() {
    let env = TestEnv::new().await;
    env.org("acme")
        .with_plan(growth_plan(0))
        .with_plan(scale_plan())
        .await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let pm = token(&env, "acme", "pm", "product-manager");
    let dev = token(&env, "acme", "dev", "developer");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");
    new_account(&env, &server, &admin, "a1").await;

    let edit = associate("growth", "2026-01-01", "9999-12-31");
    let (status, _) = server
        .post("/v2/accounts/a1/edit_schedules", &dev, &edit)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .post("/v2/accounts/a1/edit_schedules", &analyst, &edit)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = server
        .post("/v2/accounts/a1/edit_schedules", &globex, &edit)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = server
        .post("/v2/accounts/a1/edit_schedules", &pm, &edit)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"accountId": "a1", "accountName": "Main account", "pricingSchedules": [
            {"id": "growth@v1@2026-01-01", "pricePlanId": "growth", "pricePlanName": "growth",
             "startDate": "2026-01-01T00:00:00Z", "endDate": "9999-12-31T00:00:00Z"}]})
    );
    // A plan change from March: the open-ended growth period ends on 2026-03-01.
    let (status, body) = server
        .post(
            "/v2/accounts/a1/edit_schedules?discard=true",
            &admin,
            &associate("scale", "2026-03-01", "2026-06-01"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["pricingSchedules"][0]["endDate"],
        "2026-03-01T00:00:00Z"
    );
    assert_eq!(body["pricingSchedules"][1]["id"], "scale@v1@2026-03-01");
    assert_eq!(
        body["pricingSchedules"][1]["endDate"],
        "2026-06-01T00:00:00Z"
    );

    let periods = associations::for_account(env.pool(), &OrgId::from("acme"), "a1")
        .await
        .unwrap();
    let seen: Vec<(String, String, Option<String>)> = periods
        .iter()
        .map(|a| {
            (
                a.plan_id.clone(),
                a.effective_from.to_string(),
                a.effective_until.map(|u| u.to_string()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "growth".into(),
                "2026-01-01".into(),
                Some("2026-03-01".into())
            ),
            (
                "scale".into(),
                "2026-03-01".into(),
                Some("2026-06-01".into())
            ),
        ]
    );

    // Finalize: nothing left to do; its unsupported options are named.
    let (status, body) = server
        .post("/v2/accounts/a1/finalize_schedules", &pm, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["id"], "growth@v1@2026-01-01");
    assert_eq!(body["data"][1]["id"], "scale@v1@2026-03-01");
    let (status, body) = server
        .post(
            "/v2/accounts/a1/finalize_schedules",
            &pm,
            &json!({"mergeSchedules": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("mergeSchedules"));
    let (status, _) = server
        .post("/v2/accounts/a1/finalize_schedules", &dev, &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .post("/v2/accounts/a1/finalize_schedules", &globex, &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What billrun cannot keep answers 400 naming it, and changes nothing.
    let mut dis = associate("growth", "2026-06-01", "9999-12-31");
    dis["edits"][0]["mode"] = json!("DISASSOCIATE");
    let mut sched = associate("growth", "2026-06-01", "9999-12-31");
    sched["edits"][0]["associationConfig"]["scheduleId"] = json!("s1");
    for (bad, named) in [
        (dis, "DISASSOCIATE"),
        (sched, "scheduleId"),
        (associate("nope", "2026-06-01", "9999-12-31"), "nope"),
        (
            associate("growth", "2026-06-01", "2026-05-01"),
            "effectiveUntil",
        ),
    ] {
        let (status, body) = server
            .post("/v2/accounts/a1/edit_schedules", &admin, &bad)
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{status} {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains(named),
            "{named}: {body}"
        );
    }
    assert_eq!(
        associations::for_account(env.pool(), &OrgId::from("acme"), "a1")
            .await
            .unwrap()
            .len(),
        2
    );
    // All or none: a good edit before a refused one is not applied either.
    let mut two = associate("growth", "2026-06-01", "9999-12-31");
    let refused = associate("scale", "2026-05-01", "2026-07-01")["edits"][0].clone();
    two["edits"].as_array_mut().unwrap().push(refused);
    let (status, body) = server
        .post("/v2/accounts/a1/edit_schedules", &admin, &two)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("edits[1]: "),
        "{body}"
    );
    let periods = associations::for_account(env.pool(), &OrgId::from("acme"), "a1")
        .await
        .unwrap();
    assert_eq!(periods.len(), 2, "{periods:?}");
    assert_eq!(
        periods[1].effective_until.map(|u| u.to_string()),
        Some("2026-06-01".to_string())
    );

    // The list in Togai's AccountSchedule shape; DRAFT is empty.
    let (status, list) = server
        .get("/v2/accounts/a1/schedules?mode=ACTIVE", Some(&analyst))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let first = &list["data"][0];
    assert_eq!(first["id"], "growth@v1@2026-01-01");
    assert_eq!(first["accountId"], "a1");
    assert_eq!(first["pricePlanId"], "growth");
    assert_eq!(first["version"], 1);
    assert_eq!(first["deferredRevenue"], false);
    assert_eq!(first["pricePlanInfo"]["name"], "growth");
    assert_eq!(
        first["accountScheduleInfo"]["supportedCurrencies"],
        json!(["USD"])
    );
    assert_eq!(
        first["accountScheduleInfo"]["pricingCycleConfig"]["startOffset"]["monthOffset"],
        "NIL"
    );
    assert_eq!(first["isOverridden"], false);
    assert_eq!(first["startDate"], "2026-01-01T00:00:00Z");
    assert_eq!(first["endDate"], "2026-03-01T00:00:00Z");
    assert_eq!(list["data"][1]["pricePlanId"], "scale");
    let (status, list) = server
        .get("/v2/accounts/a1/schedules?mode=DRAFT", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!({"data": []}));
    let (status, _) = server
        .get("/v2/accounts/a1/schedules?mode=ACTIVE", Some(&dev))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .get("/v2/accounts/a1/schedules?mode=ACTIVE", Some(&globex))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(
        audit(
            &env,
            &["account.edit_schedules", "account.finalize_schedules"]
        )
        .await,
        vec![
            row("account.edit_schedules", "a1", "SUCCESS"),
            row("account.edit_schedules", "a1", "SUCCESS"),
            row("account.finalize_schedules", "a1", "SUCCESS"),
            row("account.finalize_schedules", "a1", "FAILURE"),
            row("account.edit_schedules", "a1", "FAILURE"),
            row("account.edit_schedules", "a1", "FAILURE"),
            row("account.edit_schedules", "a1", "FAILURE"),
            row("account.edit_schedules", "a1", "FAILURE"),
            // The two edits refused all or none.
            row("account.edit_schedules", "a1", "FAILURE"),
        ]
    );
}

#[tokio::test]
async fn aliases_are_listed_across_accounts_and_standalone_ones_are_refused() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("globex").await;
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");
    let analyst = token(&env, "acme", "reader", "analyst");
    let globex = token(&env, "globex", "admin", "administrator");
    new_account(&env, &server, &admin, "a1").await;
    let (status, body) = server
        .post(
            "/accounts/a1/add_aliases",
            &admin,
            &json!({"aliases": ["dev-2", "dev-1"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, list) = server.get("/aliases", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["value"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dev-1", "dev-2"]);
    assert!(list["data"][0]["createdAt"].is_string());
    assert!(list.get("nextToken").is_none());
    let (status, list) = server.get("/aliases?pageSize=10", Some(&globex)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!({"data": []}));

    let (status, one) = server.get("/aliases/dev-1", Some(&analyst)).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["value"], "dev-1");
    let (status, _) = server.get("/aliases/dev-1", Some(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = server
        .post("/aliases", &admin, &json!({"aliases": [{"value": "x-1"}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("standalone"),
        "{body}"
    );
    let (status, _) = server
        .post(
            "/aliases",
            &analyst,
            &json!({"aliases": [{"value": "x-1"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let client = reqwest::Client::new();
    let delete = |path: &str, token: &str| {
        client
            .delete(server.url(path))
            .bearer_auth(token.to_string())
            .send()
    };
    let (status, body) = super::answer(delete("/aliases/dev-1", &admin).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("remove_aliases"),
        "{body}"
    );
    let (status, _) = super::answer(delete("/aliases/dev-1", &globex).await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = super::answer(delete("/aliases/dev-1", &analyst).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nothing was dropped.
    let (status, _) = server.get("/aliases/dev-1", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(
        audit(&env, &["alias.create", "alias.delete"]).await,
        vec![
            row("alias.create", "x-1", "FAILURE"),
            row("alias.delete", "dev-1", "FAILURE"),
        ]
    );
}
