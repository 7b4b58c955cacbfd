//! Form input of the console's pages (issue 15, README "Console"): a form that
//! cannot be read, or a value that is not what the field expects, answers an HTML
//! page, 422, naming the field and what was expected, never the API's JSON.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use serde::de::DeserializeOwned;

use super::{message, ConsoleSession};

/// A urlencoded form whose rejection (a missing field, a value of the wrong type)
/// is the 422 page of [`invalid`] instead of axum's plain text.
#[derive(Debug)]
pub struct ConsoleForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ConsoleForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let session = req.extensions().get::<ConsoleSession>().cloned();
        let path = req.uri().path().to_string();
        match Form::<T>::from_request(req, state).await {
            Ok(Form(v)) => Ok(ConsoleForm(v)),
            Err(rejection) => {
                let text = rejection.body_text();
                let why = text
                    .strip_prefix("Failed to deserialize form body: ")
                    .unwrap_or(&text);
                Err(message(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    session.as_ref(),
                    "Please check the form",
                    &format!("the form sent to {path} could not be read: {why}"),
                ))
            }
        }
    }
}

/// The 422 page of a form's field `field` whose value is not what it expects
/// (`why`: what was expected, naming the value).
pub fn invalid(session: &ConsoleSession, field: &str, why: &str) -> Response {
    message(
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(session),
        "Please check the form",
        &format!("{field}: {why}"),
    )
}

/// An error of an application function answering a form: 422 when it names a bad
/// value (the area's 400), else as [`super::error_page`] decides.
pub fn failed<E: crate::error::Classify + std::fmt::Display>(
    session: &ConsoleSession,
    e: E,
) -> Response {
    let api = crate::http::error::ApiError::from_app(e);
    api_failed(session, api)
}

/// [`failed`] for an error the API's functions answered already.
pub fn api_failed(session: &ConsoleSession, api: crate::http::error::ApiError) -> Response {
    if api.status == StatusCode::BAD_REQUEST || api.status == StatusCode::UNPROCESSABLE_ENTITY {
        return message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(session),
            "Please check the form",
            &api.message,
        );
    }
    let title = match api.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Not possible now",
        _ => "Something went wrong",
    };
    message(api.status, Some(session), title, &api.message)
}
