//! The HTTP API (`billrun serve`, issue 14): Togai's paths and shapes over billrun, a
//! front end beside the CLI (`src/cli/`). Like the CLI it parses, calls the
//! application layer (`crate::app`) and the areas' public functions, and answers:
//! no SQL and no business decisions here. The organisation of every call is the
//! caller's credential's ([`auth`]); what a role may do is decided by the route table
//! ([`routes::ROUTES`]) and identity's permission table; errors are Togai's shape with
//! statuses decided from their kind in one place ([`error::status_of`]); every change
//! writes an audit row ([`audited`]).
//!
//! The server: axum on tokio, plain HTTP (TLS is terminated by a proxy in front), a
//! request id on every request (`x-request-id`, taken from the request or made, and
//! returned), one structured log line per request with it, a body size limit (413) and
//! a deadline (408, [`deadline`]: the request itself runs to its end) from `[http]`, and
//! graceful shutdown: on the shutdown
//! signal it stops accepting connections and finishes the requests in flight.
//! Only this layer (and the CLI) reads the wall clock: handlers pass `now` down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::identity::Principal;

pub mod account_changes;
pub mod accounts;
pub mod addons;
pub mod aliases;
pub mod api_tokens;
pub mod audit_log;
pub mod auth;
pub mod billrun_jobs;
pub mod console;
pub mod credit_notes;
pub mod credits;
pub mod customer_changes;
pub mod customers;
pub mod deadline;
pub mod document_settings;
pub mod error;
pub mod event_schemas;
pub mod extract;
pub mod features;
pub mod imports;
pub mod ingest;
pub mod invites;
pub mod invoice_actions;
pub mod invoices;
pub mod jobs;
pub mod license_updates;
pub mod money;
pub mod openapi;
pub mod price_plans;
pub mod pricing_rules_logs;
pub mod routes;
pub mod schedules;
pub mod settings;
pub mod standalone_aliases;
pub mod taxes;
pub mod templates;
pub mod usage_meters;
pub mod users;

use error::{ApiError, ErrorBody};

/// What every handler can reach: the database and the configuration.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// The configuration (`[http]`, the mailer, ...).
    pub config: Arc<Config>,
}

/// The header carrying the request id.
const REQUEST_ID: &str = "x-request-id";

/// The API's router, built from the route table: each route of
/// [`routes::ROUTES`] with its handler, [`auth::authorize`] in front of every one,
/// and the request id, log, body limit and timeout layers around them all.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes::ROUTES {
        router = router.route(route.path, endpoint(route));
    }
    let request_id = HeaderName::from_static(REQUEST_ID);
    let http = &state.config.http;
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        .on_response(
            |res: &axum::response::Response, latency: Duration, _span: &tracing::Span| {
                tracing::info!(
                    status = res.status().as_u16(),
                    ms = latency.as_millis() as u64,
                    "answered"
                );
            },
        );
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            deadline::run_to_the_end,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(http.body_limit_bytes))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// The handler of `route`. Every route of the table has one (a unit test builds the
/// router); a route without one is a programming error found at start-up.
fn endpoint(route: &routes::Route) -> MethodRouter<AppState> {
    let filter = MethodFilter::try_from(route.method.clone()).expect("a standard method");
    match (route.method.as_str(), route.path) {
        ("GET", "/health") => on(filter, health),
        ("GET", "/openapi.json") => on(filter, openapi::document),
        ("POST", "/authenticate") => on(filter, auth::authenticate_user),
        ("POST", "/customers") => on(filter, customers::create),
        ("GET", "/customers") => on(filter, customers::list),
        ("GET", "/customers/{customer_id}") => on(filter, customers::get),
        ("POST", "/accounts") => on(filter, accounts::create),
        ("GET", "/accounts") => on(filter, accounts::list),
        ("GET", "/accounts/{account_id}") => on(filter, accounts::get),
        ("POST", "/event_schema") => on(filter, event_schemas::create),
        ("GET", "/event_schema") => on(filter, event_schemas::list),
        ("POST", "/usage_meters") => on(filter, usage_meters::create),
        ("GET", "/usage_meters") => on(filter, usage_meters::list),
        ("GET", "/invoices") => on(filter, invoices::list),
        ("GET", "/invoices/{invoice_id}") => on(filter, invoices::get),
        ("GET", "/invoice/{invoice_id}/pricing_rules_logs") => on(filter, pricing_rules_logs::list),
        ("POST", "/accounts/{account_id}/add_aliases") => on(filter, aliases::add),
        ("POST", "/accounts/{account_id}/remove_aliases") => on(filter, aliases::remove),
        ("GET", "/accounts/{account_id}/account_aliases") => on(filter, aliases::list),
        ("POST", "/credits") => on(filter, credits::create),
        ("GET", "/credits") => on(filter, credits::list),
        ("GET", "/credits/{credit_id}") => on(filter, credits::get),
        ("POST", "/credits/{credit_id}/void") => on(filter, credits::void),
        ("GET", "/accounts/{account_id}/credit_balance") => on(filter, credits::balance),
        ("POST", "/license_updates") => on(filter, license_updates::create),
        ("GET", "/license_updates") => on(filter, license_updates::list),
        ("GET", "/settings") => on(filter, settings::list),
        ("POST", "/settings") => on(filter, settings::insert),
        ("GET", "/settings/{setting_id_str}") => on(filter, settings::get),
        ("PATCH", "/settings/{setting_id_str}") => on(filter, settings::update),
        ("PATCH", "/invoices/{invoice_id}") => on(filter, invoice_actions::update),
        ("GET", "/billrun/invoices/{invoice_id}/pdf") => on(filter, invoice_actions::pdf),
        ("GET", "/billrun/invoices/{invoice_id}/html") => on(filter, invoice_actions::html),
        ("POST", "/billrun/invoices/{invoice_id}/resend") => on(filter, invoice_actions::resend),
        ("POST", "/billrun/invoices/{invoice_id}/rerender") => {
            on(filter, invoice_actions::rerender)
        }
        ("GET", "/billrun/logo") => on(filter, document_settings::get_logo),
        ("PUT", "/billrun/logo") => on(filter, document_settings::set_logo),
        ("DELETE", "/billrun/logo") => on(filter, document_settings::remove_logo),
        ("GET", "/billrun/billing_details") => on(filter, document_settings::list_profiles),
        ("POST", "/billrun/billing_details") => on(filter, document_settings::create_profile),
        ("GET", "/billrun/billing_details/{profile_id}") => {
            on(filter, document_settings::get_profile)
        }
        ("PATCH", "/billrun/billing_details/{profile_id}") => {
            on(filter, document_settings::update_profile)
        }
        ("GET", "/billrun/templates") => on(filter, templates::list),
        ("POST", "/billrun/templates") => on(filter, templates::add),
        ("GET", "/billrun/templates/{template_id}") => on(filter, templates::get),
        ("PATCH", "/billrun/templates/{template_id}") => on(filter, templates::update),
        ("POST", "/billrun/templates/{template_id}/default") => on(filter, templates::set_default),
        ("PUT", "/billrun/accounts/{account_id}/template") => on(filter, templates::set_account),
        ("GET", "/billrun/tax_rates") => on(filter, taxes::list),
        ("PUT", "/billrun/tax_rates/{code}") => on(filter, taxes::put),
        ("PUT", "/billrun/customers/{customer_id}/tax") => on(filter, taxes::set_customer),
        ("PUT", "/billrun/accounts/{account_id}/tax") => on(filter, taxes::set_account),
        ("POST", "/billrun/credit_notes") => on(filter, credit_notes::create),
        ("GET", "/billrun/credit_notes") => on(filter, credit_notes::list),
        ("GET", "/billrun/credit_notes/{credit_note_id}") => on(filter, credit_notes::get),
        ("POST", "/features") => on(filter, features::create),
        ("GET", "/features") => on(filter, features::list),
        ("GET", "/features/{feature_id}") => on(filter, features::get),
        ("GET", "/accounts/{account_id}/features/{feature_id}") => on(filter, features::credits),
        ("PATCH", "/features/{feature_id}") => on(filter, features::update),
        ("GET", "/accounts/{account_id}/entitlements") => on(filter, features::entitlement_values),
        ("GET", "/accounts/{account_id}/entitlements/{feature_id}") => {
            on(filter, features::entitlement_value)
        }
        ("POST", "/accounts/{account_id}/entitlements/{feature_id}") => {
            on(filter, features::validate_value)
        }
        ("GET", "/billrun/credit_notes/{credit_note_id}/pdf") => on(filter, credit_notes::pdf),
        ("POST", "/addons") => on(filter, addons::create),
        ("GET", "/addons") => on(filter, addons::list),
        ("GET", "/addons/{addon_id}") => on(filter, addons::get),
        ("PATCH", "/addons/{addon_id}") => on(filter, addons::update),
        ("DELETE", "/addons/{addon_id}") => on(filter, addons::archive),
        ("POST", "/billrun/credit_notes/{credit_note_id}/resend") => {
            on(filter, credit_notes::resend)
        }
        ("POST", "/console/settings/credit_notes") => {
            on(filter, console::settings_page::credit_notes)
        }
        // The upload is streamed to disk and bound by `[http] upload_limit_bytes`
        // (checked by the handler), not by `body_limit_bytes`.
        ("POST", "/billrun/imports") => {
            on(filter, imports::upload).layer(axum::extract::DefaultBodyLimit::disable())
        }
        ("GET", "/billrun/imports/{import_id}") => on(filter, imports::get),
        ("GET", "/billrun/imports/{import_id}/errors") => on(filter, imports::errors),
        ("GET", "/jobs") => on(filter, jobs::list),
        ("GET", "/jobs/{job_id}") => on(filter, jobs::get),
        ("POST", "/jobs/{job_id}/confirm") => on(filter, jobs::confirm),
        ("POST", "/jobs/{job_id}/reject") => on(filter, jobs::reject),
        ("GET", "/jobs/{job_id}/entries") => on(filter, jobs::entries),
        ("POST", "/v2/price_plans/migration") => on(filter, jobs::create_migration),
        ("POST", "/invoices/bill_runs") => on(filter, jobs::bill_run),
        ("POST", "/billrun/jobs") => on(filter, billrun_jobs::enqueue),
        ("GET", "/billrun/jobs") => on(filter, billrun_jobs::list),
        ("GET", "/billrun/jobs/{job_id}") => on(filter, billrun_jobs::get),
        ("POST", "/billrun/jobs/{job_id}/retry") => on(filter, billrun_jobs::retry),
        ("POST", "/billrun/jobs/{job_id}/cancel") => on(filter, billrun_jobs::cancel),
        ("GET", "/v2/price_plans") => on(filter, price_plans::list),
        ("POST", "/v2/price_plans") => on(filter, price_plans::create),
        ("GET", "/v2/price_plans/{price_plan_id}") => on(filter, price_plans::get),
        ("PATCH", "/v2/price_plans/{price_plan_id}") => on(filter, price_plans::update),
        ("DELETE", "/v2/price_plans/{price_plan_id}/discard") => on(filter, price_plans::discard),
        ("POST", "/v2/price_plans/{price_plan_id}/finalize") => on(filter, price_plans::finalize),
        ("GET", "/v2/price_plans/{price_plan_id}/rate_cards") => {
            on(filter, price_plans::rate_cards::list)
        }
        ("POST", "/v2/price_plans/{price_plan_id}/rate_cards") => {
            on(filter, price_plans::rate_cards::bulk)
        }
        ("GET", "/v2/price_plans/{price_plan_id}/pricing_rules") => {
            on(filter, price_plans::pricing_rules)
        }
        ("PUT", "/v2/price_plans/{price_plan_id}/pricing_rules") => {
            on(filter, price_plans::update_pricing_rules)
        }
        ("GET", "/v2/price_plans/{price_plan_id}/errors") => on(filter, price_plans::errors),
        ("GET", "/v2/price_plans/{price_plan_id}/versions") => on(filter, price_plans::versions),
        ("POST", "/ingest") => on(filter, ingest::ingest),
        ("POST", "/ingestBatch") => on(filter, ingest::ingest_batch),
        ("GET", "/audit_log") => on(filter, audit_log::list),
        ("GET", "/invites/accept") => on(filter, invites::show),
        ("POST", "/invites/accept") => on(filter, invites::accept),
        ("POST", "/aliases") => on(filter, standalone_aliases::create),
        ("GET", "/aliases") => on(filter, standalone_aliases::list),
        ("GET", "/aliases/{alias}") => on(filter, standalone_aliases::get),
        ("DELETE", "/aliases/{alias}") => on(filter, standalone_aliases::delete),
        ("GET", "/v2/accounts/{account_id}/schedules") => on(filter, schedules::list),
        ("POST", "/v2/accounts/{account_id}/edit_schedules") => on(filter, schedules::edit),
        ("POST", "/v2/accounts/{account_id}/finalize_schedules") => on(filter, schedules::finalize),
        ("POST", "/billrun/api_tokens") => on(filter, api_tokens::create),
        ("GET", "/billrun/api_tokens") => on(filter, api_tokens::list),
        ("GET", "/billrun/api_tokens/{token_id}") => on(filter, api_tokens::get),
        ("POST", "/billrun/api_tokens/{token_id}/deactivate") => on(filter, api_tokens::deactivate),
        ("POST", "/billrun/api_tokens/{token_id}/activate") => on(filter, api_tokens::activate),
        ("DELETE", "/billrun/api_tokens/{token_id}") => on(filter, api_tokens::delete),
        ("POST", "/billrun/users/invite") => on(filter, users::invite),
        ("GET", "/billrun/users") => on(filter, users::list),
        ("GET", "/billrun/users/{email}") => on(filter, users::get),
        ("PATCH", "/billrun/users/{email}") => on(filter, users::update),
        ("DELETE", "/billrun/users/{email}") => on(filter, users::remove),
        ("PATCH", "/customers/{customer_id}") => on(filter, customer_changes::update),
        ("DELETE", "/customers/{customer_id}") => on(filter, customer_changes::delete),
        ("POST", "/customers/{customer_id}/contacts") => on(filter, customer_changes::add_contact),
        ("PATCH", "/accounts/{account_id}") => on(filter, account_changes::update),
        ("DELETE", "/accounts/{account_id}") => on(filter, account_changes::delete),
        ("GET", "/invoices/bill_runs") => on(filter, invoices::eligible),
        ("PATCH", "/license_updates/{license_id}") => on(filter, license_updates::update_entry),
        ("DELETE", "/v2/accounts/{account_id}/discard_schedules") => on(filter, schedules::discard),
        ("GET", "/event_schema/{event_schema_name}") => on(filter, event_schemas::get),
        ("PATCH", "/event_schema/{event_schema_name}") => on(filter, event_schemas::update),
        ("DELETE", "/event_schema/{event_schema_name}") => on(filter, event_schemas::delete),
        ("POST", "/event_schema/{event_schema_name}/activate") => {
            on(filter, event_schemas::activate)
        }
        ("POST", "/event_schema/{event_schema_name}/deactivate") => {
            on(filter, event_schemas::deactivate)
        }
        ("GET", "/event_schema/{event_schema_name}/versions") => {
            on(filter, event_schemas::versions)
        }
        ("GET", "/usage_meters/{usage_meter_id}") => on(filter, usage_meters::get),
        ("PATCH", "/usage_meters/{usage_meter_id}") => on(filter, usage_meters::update),
        ("DELETE", "/usage_meters/{usage_meter_id}") => on(filter, usage_meters::delete),
        ("POST", "/usage_meters/{usage_meter_id}/activate") => on(filter, usage_meters::activate),
        ("POST", "/usage_meters/{usage_meter_id}/deactivate") => {
            on(filter, usage_meters::deactivate)
        }
        ("GET", "/console/login") => on(filter, console::login::show),
        ("POST", "/console/login") => on(filter, console::login::login),
        ("POST", "/console/logout") => on(filter, console::login::logout),
        ("GET", "/console") => on(filter, console::login::home),
        ("GET", "/console/profile") => on(filter, console::login::profile),
        ("POST", "/console/profile/password") => on(filter, console::login::change_password),
        ("GET", "/console/api_tokens") => on(filter, console::tokens::list),
        ("POST", "/console/api_tokens") => on(filter, console::tokens::create),
        ("POST", "/console/api_tokens/{token_id}/deactivate") => {
            on(filter, console::tokens::deactivate)
        }
        ("POST", "/console/api_tokens/{token_id}/activate") => {
            on(filter, console::tokens::activate)
        }
        ("GET", "/console/api_tokens/{token_id}/delete") => {
            on(filter, console::tokens::confirm_delete)
        }
        ("POST", "/console/api_tokens/{token_id}/delete") => on(filter, console::tokens::delete),
        ("GET", "/console/users") => on(filter, console::users_page::list),
        ("POST", "/console/users/invite") => on(filter, console::users_page::invite),
        ("GET", "/console/invites/accept") => on(filter, console::login::show_invite),
        ("POST", "/console/invites/accept") => on(filter, console::login::accept_invite),
        ("GET", "/console/invoices") => on(filter, console::invoices::list),
        ("GET", "/console/invoices/{invoice_id}") => on(filter, console::invoices::show),
        ("GET", "/console/invoices/{invoice_id}/pdf") => on(filter, console::invoices::pdf),
        ("GET", "/console/invoices/{invoice_id}/mark_paid") => {
            on(filter, console::invoice_actions::confirm_mark_paid)
        }
        ("POST", "/console/invoices/{invoice_id}/mark_paid") => {
            on(filter, console::invoice_actions::mark_paid)
        }
        ("GET", "/console/invoices/{invoice_id}/void") => {
            on(filter, console::invoice_actions::confirm_void)
        }
        ("POST", "/console/invoices/{invoice_id}/void") => {
            on(filter, console::invoice_actions::void)
        }
        ("GET", "/console/invoices/{invoice_id}/resend") => {
            on(filter, console::invoice_actions::confirm_resend)
        }
        ("POST", "/console/invoices/{invoice_id}/resend") => {
            on(filter, console::invoice_actions::resend)
        }
        ("GET", "/console/jobs") => on(filter, console::jobs_page::list),
        ("GET", "/console/jobs/{job_id}") => on(filter, console::jobs_page::show),
        ("GET", "/console/jobs/{job_id}/retry") => on(filter, console::jobs_page::confirm_retry),
        ("POST", "/console/jobs/{job_id}/retry") => on(filter, console::jobs_page::retry),
        ("GET", "/console/jobs/{job_id}/cancel") => on(filter, console::jobs_page::confirm_cancel),
        ("POST", "/console/jobs/{job_id}/cancel") => on(filter, console::jobs_page::cancel),
        ("POST", "/console/jobs/bill_run") => on(filter, console::jobs_page::bill_run),
        ("POST", "/console/jobs/rerender") => on(filter, console::jobs_page::rerender),
        ("POST", "/console/jobs/resend") => on(filter, console::jobs_page::resend),
        ("GET", "/console/imports") => on(filter, console::imports_page::list),
        ("POST", "/console/imports") => on(filter, console::imports_page::upload)
            .layer(axum::extract::DefaultBodyLimit::disable()),
        ("GET", "/console/imports/{import_id}") => on(filter, console::imports_page::show),
        ("GET", "/console/imports/{import_id}/errors") => on(filter, console::imports_page::errors),
        ("GET", "/console/migrations") => on(filter, console::migrations_page::list),
        ("POST", "/console/migrations") => on(filter, console::migrations_page::create),
        ("GET", "/console/migrations/{migration_id}") => on(filter, console::migrations_page::show),
        ("POST", "/console/migrations/{migration_id}/confirm") => {
            on(filter, console::migrations_page::confirm)
        }
        ("POST", "/console/migrations/{migration_id}/reject") => {
            on(filter, console::migrations_page::reject)
        }
        ("GET", "/console/settings") => on(filter, console::settings_page::show),
        ("POST", "/console/settings/currencies") => on(filter, console::settings_page::currencies),
        ("POST", "/console/settings/net_term_days") => {
            on(filter, console::settings_page::net_term_days)
        }
        ("POST", "/console/settings/invoice_number_format") => {
            on(filter, console::settings_page::invoice_number_format)
        }
        ("GET", "/console/aliases") => on(filter, console::aliases_page::list),
        ("GET", "/console/aliases/{alias}/move") => on(filter, console::aliases_page::confirm_move),
        ("POST", "/console/aliases/{alias}/move") => on(filter, console::aliases_page::move_alias),
        ("GET", "/console/logo") => on(filter, console::documents_page::logo),
        ("GET", "/console/logo/image") => on(filter, console::documents_page::logo_image),
        ("POST", "/console/logo") => on(filter, console::documents_page::upload_logo),
        ("GET", "/console/billing_details") => on(filter, console::documents_page::profiles),
        ("POST", "/console/billing_details") => on(filter, console::documents_page::create_profile),
        ("GET", "/console/billing_details/{profile_id}") => {
            on(filter, console::documents_page::profile)
        }
        ("POST", "/console/billing_details/{profile_id}") => {
            on(filter, console::documents_page::update_profile)
        }
        ("POST", "/console/billing_details/{profile_id}/default") => {
            on(filter, console::documents_page::make_default)
        }
        (method, path) => panic!("the route {method} {path} of the route table has no handler"),
    }
}

/// Binds `listen` (the first step of [`serve_on`], done before anything else starts,
/// so that an address in use fails at once). Errors: the address cannot be bound.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))
}

/// Serves the API on `listen` until `shutdown` resolves ([`bind`], then [`serve_on`]).
pub async fn serve(
    pool: PgPool,
    config: Arc<Config>,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_on(bind(listen).await?, pool, config, shutdown).await
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes the requests
/// in flight and returns.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    pool: PgPool,
    config: Arc<Config>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(AppState { pool, config });
    let local = listener.local_addr()?;
    tracing::info!(listen = %local, "HTTP API listening");
    // The peer's address reaches handlers as `ConnectInfo` (login throttling per IP).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving the HTTP API")?;
    tracing::info!("HTTP API stopped");
    Ok(())
}

/// `/health`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// `ok` when the database answered.
    pub database: &'static str,
}

/// Whether the server and its database answer (no credentials needed).
#[utoipa::path(get, path = "/health", tag = "server",
    responses(
        (status = 200, description = "up", body = Health),
        (status = 503, description = "the database does not answer", body = ErrorBody),
    ))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match crate::store::ping(&state.pool).await {
        Ok(_) => Ok(Json(Health {
            status: "ok",
            database: "ok",
        })),
        Err(e) => {
            tracing::error!(error = %e, "health: the database does not answer");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            ))
        }
    }
}

/// What a change was, for its audit row.
pub struct Change<'a> {
    /// `object.verb`, e.g. `customer.create`.
    pub action: &'a str,
    /// The kind of object, e.g. `customer`.
    pub object_type: &'a str,
    /// The object's id.
    pub object_id: &'a str,
}

/// Writes the audit row of `change` made by `who` with `result` (SUCCESS, or FAILURE
/// with the error's message) and returns `result`, through the one function every
/// front end uses ([`crate::app::audit::record_result`]). A failure to write the row
/// is logged (the change is made already).
pub async fn audited<T, E: std::fmt::Display>(
    state: &AppState,
    who: &Principal,
    change: Change<'_>,
    details: serde_json::Value,
    result: Result<T, E>,
) -> Result<T, E> {
    let change = crate::app::audit::Change {
        action: change.action,
        object_type: change.object_type,
        object_id: change.object_id,
    };
    crate::app::audit::record_result(
        &state.pool,
        chrono::Utc::now(),
        &who.org,
        &who.actor,
        change,
        details,
        result,
    )
    .await
}

/// Togai's paging query: `nextToken` (where the previous page ended) and `pageSize`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    /// The `nextToken` of the previous page; none for the first page.
    pub next_token: Option<String>,
    /// Rows per page, 1 to 50 (default 10).
    pub page_size: Option<u32>,
}

/// Togai's `PaginationOptions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageContext {
    /// Rows per page.
    pub page_size: u32,
    /// `ASC`: by id.
    pub sort_order: &'static str,
}

/// The default and largest `pageSize`.
const DEFAULT_PAGE_SIZE: u32 = 10;
const MAX_PAGE_SIZE: u32 = 50;

impl PageQuery {
    /// One page of `rows` (ordered by `key`, ascending and unique): the rows after
    /// `nextToken`, at most `pageSize`, and the next token when more follow (the last
    /// row's key). Errors: `pageSize` out of 1..=50.
    pub fn page<T>(
        &self,
        rows: Vec<T>,
        key: impl Fn(&T) -> &str,
    ) -> Result<(Vec<T>, Option<String>, PageContext), ApiError> {
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::invalid(format!(
                "pageSize {size}: expected 1 to {MAX_PAGE_SIZE}"
            )));
        }
        let mut after: Vec<T> = match &self.next_token {
            Some(t) => rows.into_iter().filter(|r| key(r) > t.as_str()).collect(),
            None => rows,
        };
        let next = if after.len() > size as usize {
            after.truncate(size as usize);
            after.last().map(|r| key(r).to_string())
        } else {
            None
        };
        Ok((
            after,
            next,
            PageContext {
                page_size: size,
                sort_order: "ASC",
            },
        ))
    }

    /// The validated `pageSize` (1 to 50, default 10) and the row limit to ask a keyset
    /// query for: one more than the page, to know whether another page follows
    /// ([`PageQuery::keyset_page`]). Errors: `pageSize` out of 1..=50.
    pub fn keyset_limit(&self) -> Result<(u32, i64), ApiError> {
        let size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::invalid(format!(
                "pageSize {size}: expected 1 to {MAX_PAGE_SIZE}"
            )));
        }
        Ok((size, i64::from(size) + 1))
    }

    /// A page from the rows a keyset query answered for [`PageQuery::keyset_limit`]
    /// (those after `nextToken`, ordered by `key`, at most `pageSize + 1`): the first
    /// `pageSize`, and the next token (the last one's key) when a row was left over.
    /// The same `nextToken` semantics as [`PageQuery::page`].
    pub fn keyset_page<T>(
        &self,
        size: u32,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> &str,
    ) -> (Vec<T>, Option<String>, PageContext) {
        let next = if rows.len() > size as usize {
            rows.truncate(size as usize);
            rows.last().map(|r| key(r).to_string())
        } else {
            None
        };
        (
            rows,
            next,
            PageContext {
                page_size: size,
                sort_order: "ASC",
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_by_key() {
        let rows: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let q = PageQuery {
            next_token: None,
            page_size: Some(2),
        };
        let (page, next, _) = q.page(rows.clone(), |s| s.as_str()).unwrap();
        assert_eq!(page, ["a", "b"]);
        assert_eq!(next.as_deref(), Some("b"));
        let q = PageQuery {
            next_token: next,
            page_size: Some(2),
        };
        let (page, next, _) = q.page(rows.clone(), |s| s.as_str()).unwrap();
        assert_eq!(page, ["c"]);
        assert_eq!(next, None);
        let q = PageQuery {
            next_token: None,
            page_size: Some(0),
        };
        assert!(q.page(rows, |s| s.as_str()).is_err());
    }

    #[tokio::test]
    async fn every_route_of_the_table_has_a_handler_and_the_router_builds() {
        for route in routes::ROUTES {
            let _ = endpoint(route);
        }
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let _ = router(AppState {
            pool,
            config: Arc::new(Config::default()),
        });
    }
}
