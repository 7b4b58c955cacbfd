//! The route table: every route of the API, with the resource it touches and the
//! access it needs ([`ROUTES`]). The router is built from this table
//! ([`super::router`]) and every request is checked against it
//! ([`super::auth::authorize`]) with identity's one permission table
//! ([`crate::identity::roles::allows`]); a route missing from the table answers 500
//! rather than run unchecked. The README's "HTTP API" section shows the same table.

use axum::http::Method;

use crate::identity::{Access, Resource};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone, without credentials (`/health`, `/openapi.json`, `/authenticate`).
    Public,
    /// A token or session whose role may have this access to this resource.
    Needs(Resource, Access),
    /// Any signed-in user of the console, whatever its role (its own profile,
    /// signing out, the console's home page; README "Console").
    SignedIn,
}

/// One route: method, path (axum's syntax, `{id}` for a path parameter), guard, and
/// what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path, as registered.
    pub path: &'static str,
    /// Who may call it.
    pub guard: Guard,
    /// What it does, in a few words.
    pub summary: &'static str,
}

const fn route(method: Method, path: &'static str, guard: Guard, summary: &'static str) -> Route {
    Route {
        method,
        path,
        guard,
        summary,
    }
}

use Access::{Read, Write};
const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;
use Guard::{Needs, Public, SignedIn};
use Resource::{Accounts, Customers, EventSchemas, Imports, Invoices, Settings, UsageMeters};
use Resource::{Jobs, Schedules};

/// Every route of the API: method, path, guard, summary; one line each, a table.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    route(GET, "/health", Public, "the server and its database are up"),
    route(GET, "/openapi.json", Public, "this API's OpenAPI document"),
    route(POST, "/authenticate", Public, "email and password, or the bearer API token (no body), to a session token"),
    route(POST, "/customers", Needs(Customers, Write), "create a customer"),
    route(GET, "/customers", Needs(Customers, Read), "list customers (nextToken, pageSize)"),
    route(GET, "/customers/{customer_id}", Needs(Customers, Read), "one customer"),
    route(POST, "/accounts", Needs(Accounts, Write), "create an account"),
    route(GET, "/accounts", Needs(Accounts, Read), "list accounts (nextToken, pageSize)"),
    route(GET, "/accounts/{account_id}", Needs(Accounts, Read), "one account"),
    route(POST, "/event_schema", Needs(EventSchemas, Write), "create an event schema"),
    route(GET, "/event_schema", Needs(EventSchemas, Read), "list event schemas (status, nextToken, pageSize)"),
    route(POST, "/usage_meters", Needs(UsageMeters, Write), "create a usage meter"),
    route(GET, "/usage_meters", Needs(UsageMeters, Read), "list usage meters (nextToken, pageSize)"),
    route(GET, "/invoices", Needs(Invoices, Read), "list invoices (status, owner_id, nextToken, pageSize)"),
    route(GET, "/invoices/{invoice_id}", Needs(Invoices, Read), "one invoice, by id or number"),
    route(POST, "/accounts/{account_id}/add_aliases", Needs(Accounts, Write), "point aliases at an account (moving them), with ranges"),
    route(POST, "/accounts/{account_id}/remove_aliases", Needs(Accounts, Write), "end an account's alias ranges"),
    route(GET, "/accounts/{account_id}/account_aliases", Needs(Accounts, Read), "an account's alias ranges"),
    route(POST, "/credits", Needs(Resource::Credits, Write), "grant credits"),
    route(GET, "/credits", Needs(Resource::Credits, Read), "list credits (status, account_id, id, nextToken, pageSize)"),
    route(GET, "/credits/{credit_id}", Needs(Resource::Credits, Read), "one credit with its transactions"),
    route(POST, "/credits/{credit_id}/void", Needs(Resource::Credits, Write), "void a credit"),
    route(GET, "/accounts/{account_id}/credit_balance", Needs(Resource::Credits, Read), "an account's credit balance"),
    route(POST, "/license_updates", Needs(Resource::Events, Write), "record a license update"),
    route(GET, "/license_updates", Needs(Resource::Events, Read), "list license updates (account_id, licenseId, effectiveFrom, nextToken, pageSize)"),
    route(GET, "/settings", Needs(Resource::Settings, Read), "the organisation's settings"),
    route(POST, "/settings", Needs(Resource::Settings, Write), "set an organisation setting"),
    route(GET, "/settings/{setting_id_str}", Needs(Resource::Settings, Read), "one organisation setting"),
    route(PATCH, "/settings/{setting_id_str}", Needs(Resource::Settings, Write), "change an organisation setting"),
    route(PATCH, "/invoices/{invoice_id}", Needs(Invoices, Write), "status PAID (mark paid) or VOID (void)"),
    route(GET, "/billrun/invoices/{invoice_id}/pdf", Needs(Invoices, Read), "the invoice's stored PDF"),
    route(GET, "/billrun/invoices/{invoice_id}/html", Needs(Invoices, Read), "the invoice's stored HTML"),
    route(POST, "/billrun/invoices/{invoice_id}/resend", Needs(Invoices, Write), "email the invoice again, and wait"),
    route(POST, "/billrun/invoices/{invoice_id}/rerender", Needs(Invoices, Write), "render the invoice's documents again, and wait"),
    route(GET, "/billrun/logo", Needs(Settings, Read), "the current logo's image"),
    route(PUT, "/billrun/logo", Needs(Settings, Write), "set the logo (the image's bytes)"),
    route(DELETE, "/billrun/logo", Needs(Settings, Write), "remove the current logo"),
    route(GET, "/billrun/billing_details", Needs(Settings, Read), "list billing-details profiles"),
    route(POST, "/billrun/billing_details", Needs(Settings, Write), "create a billing-details profile"),
    route(GET, "/billrun/billing_details/{profile_id}", Needs(Settings, Read), "one billing-details profile"),
    route(PATCH, "/billrun/billing_details/{profile_id}", Needs(Settings, Write), "change a billing-details profile"),
    route(GET, "/billrun/templates", Needs(Settings, Read), "list invoice templates"),
    route(POST, "/billrun/templates", Needs(Settings, Write), "add an invoice template (checked first)"),
    route(GET, "/billrun/templates/{template_id}", Needs(Settings, Read), "a template's text (version)"),
    route(PATCH, "/billrun/templates/{template_id}", Needs(Settings, Write), "a new version, or another profile"),
    route(POST, "/billrun/templates/{template_id}/default", Needs(Settings, Write), "make it the organisation's default"),
    route(PUT, "/billrun/accounts/{account_id}/template", Needs(Settings, Write), "the template an account uses"),
    route(POST, "/billrun/imports", Needs(Imports, Write), "upload a CSV import (multipart, kind, map)"),
    route(GET, "/billrun/imports/{import_id}", Needs(Imports, Read), "an import's status and progress"),
    route(GET, "/billrun/imports/{import_id}/errors", Needs(Imports, Read), "an import's errors file (CSV)"),
    route(GET, "/jobs", Needs(Schedules, Read), "Togai's jobs: plan migrations and bill runs (nextToken, pageSize)"),
    route(GET, "/jobs/{job_id}", Needs(Schedules, Read), "one Togai job, with its entry counts"),
    route(POST, "/jobs/{job_id}/confirm", Needs(Schedules, Write), "confirm a plan migration awaiting confirmation"),
    route(POST, "/jobs/{job_id}/reject", Needs(Schedules, Write), "reject a plan migration awaiting confirmation"),
    route(GET, "/jobs/{job_id}/entries", Needs(Schedules, Read), "a job's entries: a migration's accounts, a bill run's chunk jobs"),
    route(POST, "/v2/price_plans/migration", Needs(Schedules, Write), "create a plan migration"),
    route(POST, "/invoices/bill_runs", Needs(Invoices, Write), "run a bill run (asOf, default now)"),
    route(POST, "/billrun/jobs", Needs(Jobs, Write), "enqueue a job of the organisation"),
    route(GET, "/billrun/jobs", Needs(Jobs, Read), "list the organisation's jobs (kind, state, nextToken, pageSize)"),
    route(GET, "/billrun/jobs/{job_id}", Needs(Jobs, Read), "one job, with its fan-out's progress"),
    route(POST, "/billrun/jobs/{job_id}/retry", Needs(Jobs, Write), "retry a dead or cancelled job"),
    route(POST, "/billrun/jobs/{job_id}/cancel", Needs(Jobs, Write), "cancel a job that has not started"),
    route(GET, "/v2/price_plans", Needs(Resource::PricePlans, Read), "list price plans, each its latest version (nextToken, pageSize)"),
    route(POST, "/v2/price_plans", Needs(Resource::PricePlans, Write), "create a price plan: an empty DRAFT"),
    route(GET, "/v2/price_plans/{price_plan_id}", Needs(Resource::PricePlans, Read), "one price plan version (version, else the latest)"),
    route(PATCH, "/v2/price_plans/{price_plan_id}", Needs(Resource::PricePlans, Write), "update a price plan's DRAFT (a new one after finalizing)"),
    route(DELETE, "/v2/price_plans/{price_plan_id}/discard", Needs(Resource::PricePlans, Write), "discard a price plan's DRAFT"),
    route(POST, "/v2/price_plans/{price_plan_id}/finalize", Needs(Resource::PricePlans, Write), "finalize a price plan's DRAFT: ACTIVE"),
    route(GET, "/v2/price_plans/{price_plan_id}/rate_cards", Needs(Resource::PricePlans, Read), "the rate cards of a price plan's latest version (nextToken, pageSize)"),
    route(POST, "/v2/price_plans/{price_plan_id}/rate_cards", Needs(Resource::PricePlans, Write), "bulk rate card operations on a price plan, all or nothing"),
    route(GET, "/v2/price_plans/{price_plan_id}/pricing_rules", Needs(Resource::PricePlans, Read), "a price plan's pricing rules (version, else the latest)"),
    route(PUT, "/v2/price_plans/{price_plan_id}/pricing_rules", Needs(Resource::PricePlans, Write), "replace a price plan's pricing rules (in its DRAFT, a new one after finalizing)"),
    route(GET, "/v2/price_plans/{price_plan_id}/errors", Needs(Resource::PricePlans, Read), "what stands in the way of finalizing a price plan"),
    route(GET, "/v2/price_plans/{price_plan_id}/versions", Needs(Resource::PricePlans, Read), "a price plan's versions (nextToken, pageSize)"),
    route(POST, "/ingest", Needs(Resource::Events, Write), "ingest one usage event"),
    route(POST, "/ingestBatch", Needs(Resource::Events, Write), "ingest 1 to 1,000 usage events (207: some refused)"),
    route(GET, "/audit_log", Needs(Resource::AuditLog, Read), "the audit trail, newest first (actorKind, actor, action, objectType, objectId, since, nextToken, pageSize)"),
    route(GET, "/invites/accept", Public, "an invitation's form (the emailed link; ?token=)"),
    route(POST, "/invites/accept", Public, "accept an invitation: token and a new password"),
    route(POST, "/aliases", Needs(Accounts, Write), "standalone aliases: 400, not supported (use add_aliases)"),
    route(GET, "/aliases", Needs(Accounts, Read), "every alias the organisation routed (one page)"),
    route(GET, "/aliases/{alias}", Needs(Accounts, Read), "one alias"),
    route(DELETE, "/aliases/{alias}", Needs(Accounts, Write), "delete an alias: 400, not supported (use remove_aliases)"),
    route(GET, "/v2/accounts/{account_id}/schedules", Needs(Schedules, Read), "an account's plan periods (mode ACTIVE, the default; DRAFT is empty)"),
    route(POST, "/v2/accounts/{account_id}/edit_schedules", Needs(Schedules, Write), "attach price plans to an account, applied at once"),
    route(POST, "/v2/accounts/{account_id}/finalize_schedules", Needs(Schedules, Write), "finalize schedules: a no-op (edits are applied at once)"),
    route(POST, "/billrun/api_tokens", Needs(Resource::ApiTokens, Write), "create an API token (its secret shown this once)"),
    route(GET, "/billrun/api_tokens", Needs(Resource::ApiTokens, Read), "the organisation's API tokens, never their secrets"),
    route(GET, "/billrun/api_tokens/{token_id}", Needs(Resource::ApiTokens, Read), "one API token"),
    route(POST, "/billrun/api_tokens/{token_id}/deactivate", Needs(Resource::ApiTokens, Write), "deactivate an API token (not the caller's own)"),
    route(POST, "/billrun/api_tokens/{token_id}/activate", Needs(Resource::ApiTokens, Write), "activate a deactivated API token"),
    route(DELETE, "/billrun/api_tokens/{token_id}", Needs(Resource::ApiTokens, Write), "delete an API token (not the caller's own)"),
    route(POST, "/billrun/users/invite", Needs(Resource::Users, Write), "invite a user by email (the link is emailed)"),
    route(GET, "/billrun/users", Needs(Resource::Users, Read), "the organisation's users, active and invited"),
    route(GET, "/billrun/users/{email}", Needs(Resource::Users, Read), "one user"),
    route(PATCH, "/billrun/users/{email}", Needs(Resource::Users, Write), "give a user another role (not the last active Administrator)"),
    route(DELETE, "/billrun/users/{email}", Needs(Resource::Users, Write), "remove a user or revoke an invitation (not the last active Administrator)"),
    route(PATCH, "/customers/{customer_id}", Needs(Customers, Write), "change a customer's name, email or address"),
    route(DELETE, "/customers/{customer_id}", Needs(Customers, Write), "delete a customer and its accounts (409: billing history)"),
    route(POST, "/customers/{customer_id}/contacts", Needs(Customers, Write), "add a contact to a customer (no portal access)"),
    route(PATCH, "/accounts/{account_id}", Needs(Accounts, Write), "change an account (currency only before it is billed)"),
    route(DELETE, "/accounts/{account_id}", Needs(Accounts, Write), "delete an account (409: billing history)"),
    route(GET, "/invoices/bill_runs", Needs(Invoices, Read), "invoices eligible for a bill run: the DRAFT ones (owner_id, nextToken, pageSize)"),
    route(PATCH, "/license_updates/{license_id}", Needs(Resource::Events, Write), "a license update's metadata: only none (not kept)"),
    route(DELETE, "/v2/accounts/{account_id}/discard_schedules", Needs(Schedules, Write), "discard draft schedules: a no-op (edits are applied at once)"),
    route(GET, "/event_schema/{event_schema_name}", Needs(EventSchemas, Read), "one event schema (version, else the current one)"),
    route(PATCH, "/event_schema/{event_schema_name}", Needs(EventSchemas, Write), "add attributes or dimensions: the schema's next version"),
    route(DELETE, "/event_schema/{event_schema_name}", Needs(EventSchemas, Write), "delete an event schema no meter measures and no event names"),
    route(POST, "/event_schema/{event_schema_name}/activate", Needs(EventSchemas, Write), "activate an event schema: it accepts events again"),
    route(POST, "/event_schema/{event_schema_name}/deactivate", Needs(EventSchemas, Write), "deactivate an event schema no ACTIVE meter measures"),
    route(GET, "/event_schema/{event_schema_name}/versions", Needs(EventSchemas, Read), "every version of an event schema"),
    route(GET, "/usage_meters/{usage_meter_id}", Needs(UsageMeters, Read), "one usage meter (includeSchema)"),
    route(PATCH, "/usage_meters/{usage_meter_id}", Needs(UsageMeters, Write), "change a usage meter (what it measures: only while no plan names it)"),
    route(DELETE, "/usage_meters/{usage_meter_id}", Needs(UsageMeters, Write), "delete a usage meter no plan names"),
    route(POST, "/usage_meters/{usage_meter_id}/activate", Needs(UsageMeters, Write), "activate a usage meter"),
    route(POST, "/usage_meters/{usage_meter_id}/deactivate", Needs(UsageMeters, Write), "deactivate a usage meter no plan names"),
    route(GET, "/console/login", Public, "console: the sign-in form"),
    route(POST, "/console/login", Public, "console: sign in (email, password, organisation): a session cookie"),
    route(POST, "/console/logout", SignedIn, "console: sign out, ending the session"),
    route(GET, "/console", SignedIn, "console: the home page, linking what the role may use"),
    route(GET, "/console/profile", SignedIn, "console: your profile and the password form"),
    route(POST, "/console/profile/password", SignedIn, "console: change your password (the current one first)"),
    route(GET, "/console/api_tokens", Needs(Resource::ApiTokens, Read), "console: the API tokens"),
    route(POST, "/console/api_tokens", Needs(Resource::ApiTokens, Write), "console: create an API token, its secret shown once"),
    route(POST, "/console/api_tokens/{token_id}/deactivate", Needs(Resource::ApiTokens, Write), "console: deactivate an API token"),
    route(POST, "/console/api_tokens/{token_id}/activate", Needs(Resource::ApiTokens, Write), "console: activate an API token"),
    route(GET, "/console/api_tokens/{token_id}/delete", Needs(Resource::ApiTokens, Write), "console: confirm deleting an API token"),
    route(POST, "/console/api_tokens/{token_id}/delete", Needs(Resource::ApiTokens, Write), "console: delete an API token"),
    route(GET, "/console/users", Needs(Resource::Users, Read), "console: users, active and invited"),
    route(POST, "/console/users/invite", Needs(Resource::Users, Write), "console: invite a user (the link to the console is emailed)"),
    route(GET, "/console/invites/accept", Public, "console: an invitation's password form (?token=)"),
    route(POST, "/console/invites/accept", Public, "console: accept an invitation, then sign in"),
    route(GET, "/console/invoices", Needs(Invoices, Read), "console: invoices (status, account, number)"),
    route(GET, "/console/invoices/{invoice_id}", Needs(Invoices, Read), "console: an invoice, its lines and its PDF"),
    route(GET, "/console/invoices/{invoice_id}/pdf", Needs(Invoices, Read), "console: an invoice's PDF, inline"),
    route(GET, "/console/invoices/{invoice_id}/mark_paid", Needs(Invoices, Write), "console: confirm: mark an invoice paid"),
    route(POST, "/console/invoices/{invoice_id}/mark_paid", Needs(Invoices, Write), "console: mark an invoice paid"),
    route(GET, "/console/invoices/{invoice_id}/void", Needs(Invoices, Write), "console: confirm: void an invoice"),
    route(POST, "/console/invoices/{invoice_id}/void", Needs(Invoices, Write), "console: void an invoice"),
    route(GET, "/console/invoices/{invoice_id}/resend", Needs(Invoices, Write), "console: confirm: email an invoice again"),
    route(POST, "/console/invoices/{invoice_id}/resend", Needs(Invoices, Write), "console: email an invoice again"),
    route(GET, "/console/jobs", Needs(Jobs, Read), "console: jobs by state, the schedule's next fires, one-off job forms"),
    route(GET, "/console/jobs/{job_id}", Needs(Jobs, Read), "console: a job and its live progress (a bill run's invoices once done)"),
    route(GET, "/console/jobs/{job_id}/retry", Needs(Jobs, Write), "console: confirm: retry a dead or cancelled job"),
    route(POST, "/console/jobs/{job_id}/retry", Needs(Jobs, Write), "console: retry a dead or cancelled job"),
    route(GET, "/console/jobs/{job_id}/cancel", Needs(Jobs, Write), "console: confirm: cancel a job that has not started"),
    route(POST, "/console/jobs/{job_id}/cancel", Needs(Jobs, Write), "console: cancel a job that has not started"),
    route(POST, "/console/jobs/bill_run", Needs(Invoices, Write), "console: run a bill run as of a date"),
    route(POST, "/console/jobs/rerender", Needs(Invoices, Write), "console: render an invoice's documents again, and wait"),
    route(POST, "/console/jobs/resend", Needs(Invoices, Write), "console: email an invoice again, and wait"),
    route(GET, "/console/imports", Needs(Imports, Read), "console: the latest imports and the upload form"),
    route(POST, "/console/imports", Needs(Imports, Write), "console: upload a CSV import (multipart; csrf in the query)"),
    route(GET, "/console/imports/{import_id}", Needs(Imports, Read), "console: an import's progress and refused rows"),
    route(GET, "/console/imports/{import_id}/errors", Needs(Imports, Read), "console: an import's errors file (CSV)"),
    route(GET, "/console/migrations", Needs(Schedules, Read), "console: plan migrations and the wizard's form"),
    route(POST, "/console/migrations", Needs(Schedules, Write), "console: create a plan migration awaiting confirmation"),
    route(GET, "/console/migrations/{migration_id}", Needs(Schedules, Read), "console: a migration: the accounts to confirm, or its progress"),
    route(POST, "/console/migrations/{migration_id}/confirm", Needs(Schedules, Write), "console: confirm a plan migration"),
    route(POST, "/console/migrations/{migration_id}/reject", Needs(Schedules, Write), "console: reject a plan migration"),
    route(GET, "/console/settings", Needs(Settings, Read), "console: currencies, net term days, invoice number format and the next number's preview"),
    route(POST, "/console/settings/currencies", Needs(Settings, Write), "console: set the base and enabled currencies"),
    route(POST, "/console/settings/net_term_days", Needs(Settings, Write), "console: set the net term days"),
    route(POST, "/console/settings/invoice_number_format", Needs(Settings, Write), "console: set the invoice number format"),
    route(GET, "/console/aliases", Needs(Accounts, Read), "console: aliases and the account each routes to now"),
    route(GET, "/console/aliases/{alias}/move", Needs(Accounts, Write), "console: confirm: move an alias to another account"),
    route(POST, "/console/aliases/{alias}/move", Needs(Accounts, Write), "console: move an alias to another account from now on"),
    route(GET, "/console/logo", Needs(Settings, Read), "console: the current logo and the upload form"),
    route(GET, "/console/logo/image", Needs(Settings, Read), "console: the current logo's image"),
    route(POST, "/console/logo", Needs(Settings, Write), "console: upload a logo (multipart)"),
    route(GET, "/console/billing_details", Needs(Settings, Read), "console: billing-details profiles and the create form"),
    route(POST, "/console/billing_details", Needs(Settings, Write), "console: create a billing-details profile"),
    route(GET, "/console/billing_details/{profile_id}", Needs(Settings, Read), "console: a billing-details profile's form"),
    route(POST, "/console/billing_details/{profile_id}", Needs(Settings, Write), "console: change a billing-details profile"),
    route(POST, "/console/billing_details/{profile_id}/default", Needs(Settings, Write), "console: use a profile on the default template"),
    route(GET, "/invoice/{invoice_id}/pricing_rules_logs", Needs(Invoices, Read), "what each pricing rule did to an invoice"),
    route(GET, "/billrun/tax_rates", Needs(Settings, Read), "the organisation's tax rates"),
    route(PUT, "/billrun/tax_rates/{code}", Needs(Settings, Write), "create or replace a tax rate from its validFrom"),
    route(PUT, "/billrun/customers/{customer_id}/tax", Needs(Customers, Write), "a customer's tax id and treatment"),
    route(PUT, "/billrun/accounts/{account_id}/tax", Needs(Accounts, Write), "an account's tax id and treatment (overrides its customer's)"),
    route(POST, "/billrun/credit_notes", Needs(Invoices, Write), "issue a credit note against a DUE or PAID invoice"),
    route(GET, "/billrun/credit_notes", Needs(Invoices, Read), "the organisation's credit notes (invoiceId)"),
    route(GET, "/billrun/credit_notes/{credit_note_id}", Needs(Invoices, Read), "one credit note, by id or number"),
    route(POST, "/features", Needs(UsageMeters, Write), "create a feature (what entitlement cards name)"),
    route(GET, "/features", Needs(UsageMeters, Read), "list features"),
    route(GET, "/features/{feature_id}", Needs(UsageMeters, Read), "one feature"),
    route(GET, "/accounts/{account_id}/features/{feature_id}", Needs(Accounts, Read), "an account's entitlement to a feature now: granted, balance, overage"),
    route(GET, "/billrun/credit_notes/{credit_note_id}/pdf", Needs(Invoices, Read), "a credit note's Factur-X PDF"),
    route(POST, "/addons", Needs(Resource::PricePlans, Write), "create an add-on (what fixed fee, license and credit grant cards name as addOnId)"),
    route(GET, "/addons", Needs(Resource::PricePlans, Read), "list add-ons (status, nextToken, pageSize)"),
    route(GET, "/addons/{addon_id}", Needs(Resource::PricePlans, Read), "one add-on"),
    route(PATCH, "/addons/{addon_id}", Needs(Resource::PricePlans, Write), "change an add-on's name or billable name"),
    route(DELETE, "/addons/{addon_id}", Needs(Resource::PricePlans, Write), "archive an add-on"),
    route(PATCH, "/features/{feature_id}", Needs(UsageMeters, Write), "update a feature's name, billable name or schema associations"),
    route(GET, "/accounts/{account_id}/entitlements", Needs(Accounts, Read), "the balance of every feature of the account's plan now"),
    route(GET, "/accounts/{account_id}/entitlements/{feature_id}", Needs(Accounts, Read), "the balance of one feature of the account now"),
    route(POST, "/accounts/{account_id}/entitlements/{feature_id}", Needs(Accounts, Read), "may the account use this quantity of the feature now (changes nothing)"),
    route(POST, "/billrun/credit_notes/{credit_note_id}/resend", Needs(Invoices, Write), "email a credit note again, and wait"),
    route(POST, "/console/settings/credit_notes", Needs(Settings, Write), "console: set the credit note number format and whether a void issues a credit note"),
];

/// A resource's name in messages and the README's route table.
pub fn resource_name(resource: Resource) -> &'static str {
    match resource {
        Resource::PricePlans => "price plans",
        Resource::Schedules => "schedules",
        Resource::Invoices => "invoices",
        Resource::Credits => "credits",
        Resource::EventSchemas => "event schemas",
        Resource::UsageMeters => "usage meters",
        Resource::Customers => "customers",
        Resource::Accounts => "accounts",
        Resource::Settings => "settings",
        Resource::Events => "usage events",
        Resource::Imports => "imports",
        Resource::Jobs => "jobs",
        Resource::Users => "users",
        Resource::ApiTokens => "API tokens",
        Resource::AuditLog => "the audit log",
    }
}

/// The route registered as `path` for `method`, if the table has it.
pub fn find(method: &Method, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.method == *method && r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{roles, Role};

    /// The README's row of `route`, up to its roles column.
    fn readme_row(route: &Route) -> String {
        let (resource, access, roles) = match route.guard {
            Public => ("-".to_string(), "public", "anyone".to_string()),
            SignedIn => ("-".to_string(), "signed in", "all four".to_string()),
            Needs(resource, access) => {
                let allowed: Vec<&str> = Role::ALL
                    .into_iter()
                    .filter(|r| roles::allows(*r, resource, access))
                    .map(Role::title)
                    .collect();
                let roles = if allowed.len() == Role::ALL.len() {
                    "all four".to_string()
                } else {
                    allowed.join(", ")
                };
                let access = match access {
                    Read => "read",
                    Write => "write",
                };
                (resource_name(resource).to_string(), access, roles)
            }
        };
        format!(
            "| {} | `{}` | {resource} | {access} | {roles}",
            route.method, route.path
        )
    }

    #[test]
    fn the_readme_shows_this_table() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let section = readme
            .split("## HTTP API")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has a section HTTP API");
        for route in ROUTES {
            let row = readme_row(route);
            assert!(section.contains(&row), "README lacks the row: {row}");
        }
        let rows = section
            .lines()
            .filter(|l| {
                ["GET", "POST", "PUT", "PATCH", "DELETE"]
                    .iter()
                    .any(|m| l.starts_with(&format!("| {m} |")))
            })
            .count();
        assert_eq!(
            rows,
            ROUTES.len(),
            "the README's route table has other rows"
        );
    }

    #[test]
    fn each_method_and_path_is_in_the_table_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
        assert_eq!(
            find(&Method::GET, "/customers").unwrap().guard,
            Needs(Customers, Read)
        );
        assert!(find(&Method::DELETE, "/customers").is_none());
    }
}
