//! `/addons` and `/addons/{addon_id}` (README "Add-ons and named licenses"): Togai's
//! shapes (200 on create, `displayName`, paging by id with Togai's `status` filter,
//! DELETE archives and answers `{"success": true}`), errors naming the field, another
//! organisation's add-on a 404, every change audited.

use reqwest::Method;
use serde_json::json;

use super::{audit, row, token, Server};
use crate::env::TestEnv;

#[tokio::test]
async fn add_ons_over_http() {
    let env = TestEnv::new().await;
    env.org("acme").await;
    env.org("other").await;
    env.ok(&[
        "addon", "create", "--org", "other", "secret", "--type", "LICENSE",
    ]);
    let server = Server::start(&env).await;
    let admin = token(&env, "acme", "admin", "administrator");

    let (status, body) = server
        .post(
            "/addons",
            &admin,
            &json!({"name": "support", "type": "FIXED_FEE", "billableName": "Priority support"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "support");
    assert_eq!(body["type"], "FIXED_FEE");
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(body["displayName"], "Priority support");
    for name in ["a_seats", "b_users"] {
        let (status, body) = server
            .post(
                "/addons",
                &admin,
                &json!({"name": name, "type": "NAMED_LICENSE"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = server
        .post("/addons", &admin, &json!({"name": "bad", "type": "USAGE"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("type: unknown add-on type"),
        "{body}"
    );
    let (status, body) = server
        .post(
            "/addons",
            &admin,
            &json!({"name": "support", "type": "FIXED_FEE"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    // Two a page, by id: a_seats, b_users | support.
    let (status, body) = server.get("/addons?pageSize=2", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a_seats", "b_users"]);
    assert_eq!(body["nextToken"], "b_users");
    let (status, body) = server
        .get("/addons?pageSize=2&nextToken=b_users", Some(&admin))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["id"], "support");
    assert!(body.get("nextToken").is_none(), "{body}");

    let (status, body) = server
        .send(
            Method::PATCH,
            "/addons/support",
            &admin,
            Some(&json!({"billableName": "Premium support"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Premium support");
    assert_eq!(body["name"], "support");
    let (status, body) = server
        .send(Method::DELETE, "/addons/a_seats", &admin, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"success": true}));
    let (status, body) = server.get("/addons/a_seats", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ARCHIVED");
    let (status, body) = server.get("/addons?status=ACTIVE", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2, "{body}");

    // Another organisation's add-on does not exist here.
    let (status, _) = server.get("/addons/secret", Some(&admin)).await;
    assert_eq!(status, 404);
    let (status, _) = server
        .send(Method::DELETE, "/addons/secret", &admin, None)
        .await;
    assert_eq!(status, 404);

    let rows = audit(&env, &["addon.create", "addon.update", "addon.archive"]).await;
    assert_eq!(
        rows,
        [
            row("addon.create", "support", "SUCCESS"),
            row("addon.create", "a_seats", "SUCCESS"),
            row("addon.create", "b_users", "SUCCESS"),
            row("addon.create", "bad", "FAILURE"),
            row("addon.create", "support", "FAILURE"),
            row("addon.update", "support", "SUCCESS"),
            row("addon.archive", "a_seats", "SUCCESS"),
            row("addon.archive", "secret", "FAILURE"),
        ]
    );
}
