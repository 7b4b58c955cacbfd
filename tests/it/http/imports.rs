//! CSV imports over the API, through a real `billrun worker --serve`: a multipart
//! upload streamed into the import store, the `csv-import` job run by the worker,
//! the import's progress and its errors file (the same as `billrun imports errors`),
//! roles (403), another organisation's import (404) and audit rows.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::documents::{audit, raw};
use super::{token, Server};
use crate::env::TestEnv;
use crate::fixtures;
use crate::harness::wait_for;

/// A `multipart/form-data` body with one file part: (content type, bytes).
fn multipart(part: &str, file_name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "billrun-test-7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"; \
         filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Three usage rows, the second bad (`calls` is not a number).
const USAGE: &str = "event_id,timestamp,account_id,schema,attribute.calls\n\
                     g1,2026-01-05T10:00:00Z,a1,api,100\n\
                     b1,2026-01-05T11:00:00Z,a1,api,lots\n\
                     g2,2026-01-06T10:00:00Z,a1,api,50\n";

#[tokio::test]
async fn an_uploaded_csv_keeps_its_good_rows_and_its_bad_row_is_in_the_errors_file() {
    let env = TestEnv::new().await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.org("globex").await;
    env.account("acme", "a1").await;
    let server = Server::start_with(&env, &["worker", "--serve", "--no-scheduler"]).await;
    let dev = token(&env, "acme", "dev", "developer");
    let analyst = token(&env, "acme", "reader", "analyst");
    let pm = token(&env, "acme", "pm", "product-manager");
    let globex = token(&env, "globex", "admin", "administrator");

    let upload = |token: String, query: &'static str, body: (String, Vec<u8>)| {
        let server = &server;
        async move {
            raw(
                server,
                Method::POST,
                &format!("/billrun/imports{query}"),
                &token,
                Some((body.0.as_str(), body.1)),
            )
            .await
        }
    };
    // Refused before anything is stored: a role that may not, a bad kind, not
    // multipart, a bad header.
    let r = upload(
        analyst.clone(),
        "?kind=usage",
        multipart("file", "usage.csv", USAGE.as_bytes()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = upload(
        dev.clone(),
        "?kind=invoices",
        multipart("file", "usage.csv", USAGE.as_bytes()),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"].as_str().unwrap().contains("kind"),
        "{}",
        r.text()
    );
    let r = raw(
        &server,
        Method::POST,
        "/billrun/imports?kind=usage",
        &dev,
        Some(("text/csv", USAGE.as_bytes().to_vec())),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = upload(
        dev.clone(),
        "?kind=usage",
        multipart("file", "nope.csv", b"id,when\n1,2\n"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains("nope.csv"), "{message}");
    assert!(message.contains("event_id"), "{message}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);

    // The upload: 202, PENDING, its job.
    let r = upload(
        dev.clone(),
        "?kind=usage",
        multipart("file", "../january usage.csv", USAGE.as_bytes()),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let created = r.json();
    assert_eq!(created["kind"], "usage");
    assert_eq!(created["fileName"], "januaryusage.csv");
    assert_eq!(created["fileBytes"], USAGE.len());
    assert!(created["jobId"].is_string(), "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    // The worker loads it: 3 rows read, 2 imported, 1 failed.
    let path = format!("/billrun/imports/{id}");
    let done: Value = wait_for(Duration::from_secs(60), "the import to finish", || async {
        let (status, v) = server.get(&path, Some(&analyst)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        (v["status"] == "DONE" || v["status"] == "FAILED").then_some(v)
    })
    .await;
    assert_eq!(done["status"], "DONE", "{done}");
    let counts: Vec<i64> = ["rowsRead", "rowsImported", "rowsSkipped", "rowsFailed"]
        .iter()
        .map(|k| done[k].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [3, 2, 0, 1], "{done}");
    let events: Vec<(String, Value)> =
        sqlx::query_as("SELECT id, attributes FROM usage_events WHERE org_id = 'acme' ORDER BY id")
            .fetch_all(env.pool())
            .await
            .unwrap();
    assert_eq!(
        events,
        [
            ("g1".to_string(), serde_json::json!({"calls": "100"})),
            ("g2".to_string(), serde_json::json!({"calls": "50"})),
        ]
    );

    // The errors file: the header plus `error`, the bad row naming its line and field.
    let r = raw(
        &server,
        Method::GET,
        &format!("{path}/errors"),
        &analyst,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.content_type().starts_with("text/csv"),
        "{}",
        r.content_type()
    );
    assert_eq!(
        r.text(),
        "event_id,timestamp,account_id,schema,attribute.calls,error\n\
         b1,2026-01-05T11:00:00Z,a1,api,lots,\"line 3, column attribute.calls: \"\"lots\"\" is not a number: \
         expected e.g. 12 or 12.5 (attribute calls)\"\n"
    );

    // Another organisation's import is not found; a Product Manager may not read imports.
    let (status, _) = server.get(&path, Some(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = raw(
        &server,
        Method::GET,
        &format!("{path}/errors"),
        &globex,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let (status, _) = server.get(&path, Some(&pm)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let rows = audit(&env, "acme", &["import."]).await;
    let outcomes: Vec<(&str, &str)> = rows
        .iter()
        .map(|(_, o, r)| (o.as_str(), r.as_str()))
        .collect();
    // A request that does not parse (bad kind, not multipart) is not an attempt; the
    // bad header is a failed one, named by its file; the upload by its import id.
    assert_eq!(
        outcomes,
        [("nope.csv", "FAILURE"), (id.as_str(), "SUCCESS")],
        "{rows:?}"
    );
}

#[tokio::test]
async fn an_upload_over_the_configured_limit_is_answered_413_and_stores_nothing() {
    let env = TestEnv::with_config("[http]\nupload_limit_bytes = 100\n").await;
    env.org("acme").with_plan(fixtures::growth_plan(0)).await;
    env.account("acme", "a1").await;
    let server = Server::start(&env).await;
    let dev = token(&env, "acme", "dev", "developer");
    let (content_type, body) = multipart("file", "usage.csv", USAGE.as_bytes());
    let r = raw(
        &server,
        Method::POST,
        "/billrun/imports?kind=usage",
        &dev,
        Some((&content_type, body)),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("upload_limit_bytes"));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
}
