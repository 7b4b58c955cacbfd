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
use Guard::{Needs, Public};
use Resource::{Accounts, Customers, EventSchemas, Invoices, UsageMeters};

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    route(
        Method::GET,
        "/health",
        Public,
        "the server and its database are up",
    ),
    route(
        Method::GET,
        "/openapi.json",
        Public,
        "this API's OpenAPI document",
    ),
    route(
        Method::POST,
        "/authenticate",
        Public,
        "email and password to a session token",
    ),
    route(
        Method::POST,
        "/customers",
        Needs(Customers, Write),
        "create a customer",
    ),
    route(
        Method::GET,
        "/customers",
        Needs(Customers, Read),
        "list customers (nextToken, pageSize)",
    ),
    route(
        Method::GET,
        "/customers/{customer_id}",
        Needs(Customers, Read),
        "one customer",
    ),
    route(
        Method::POST,
        "/accounts",
        Needs(Accounts, Write),
        "create an account",
    ),
    route(
        Method::GET,
        "/accounts",
        Needs(Accounts, Read),
        "list accounts (nextToken, pageSize)",
    ),
    route(
        Method::GET,
        "/accounts/{account_id}",
        Needs(Accounts, Read),
        "one account",
    ),
    route(
        Method::POST,
        "/event_schema",
        Needs(EventSchemas, Write),
        "create an event schema",
    ),
    route(
        Method::GET,
        "/event_schema",
        Needs(EventSchemas, Read),
        "list event schemas (status, nextToken, pageSize)",
    ),
    route(
        Method::POST,
        "/usage_meters",
        Needs(UsageMeters, Write),
        "create a usage meter",
    ),
    route(
        Method::GET,
        "/usage_meters",
        Needs(UsageMeters, Read),
        "list usage meters (nextToken, pageSize)",
    ),
    route(
        Method::GET,
        "/invoices",
        Needs(Invoices, Read),
        "list invoices (status, owner_id, nextToken, pageSize)",
    ),
    route(
        Method::GET,
        "/invoices/{invoice_id}",
        Needs(Invoices, Read),
        "one invoice, by id or number",
    ),
    route(
        Method::GET,
        "/audit_log",
        Needs(Resource::AuditLog, Read),
        "the audit trail, newest first (actorKind, actor, action, objectType, objectId, since, nextToken, pageSize)",
    ),
    route(
        Method::GET,
        "/invites/accept",
        Public,
        "an invitation's form (the emailed link; ?token=)",
    ),
    route(
        Method::POST,
        "/invites/accept",
        Public,
        "accept an invitation: token and a new password",
    ),
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
            .filter(|l| l.starts_with("| GET |") || l.starts_with("| POST |"))
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
