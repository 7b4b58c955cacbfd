//! Roles and what they may do: Togai's Admin Center roles, and the one permission
//! table every front end enforces (the CLI's operators are trusted and not checked;
//! the HTTP API checks each route's resource and access against [`allows`]).
//!
//! Togai's Admin Center defines the four roles:
//! Administrator, full read and write access to all features; Analyst, read-only
//! access to all features; Developer, full access to event schemas, usage meters,
//! customers, accounts and settings; Product Manager, full access to price plans,
//! schedules, invoices and credits, read-only access to event schemas, usage meters,
//! customers, accounts and settings. Tokens have the same roles.
//!
//! The table ([`PERMISSIONS`]; README "Identity: tokens, users, roles, audit"), `R` read,
//! `W` read and write, `-` nothing:
//!
//! | resource | Administrator | Analyst | Developer | Product Manager |
//! |---|---|---|---|---|
//! | price plans (versions, rate cards) | W | R | - | W |
//! | schedules (plan associations, plan migrations) | W | R | - | W |
//! | invoices (bill runs, documents, deliveries) | W | R | - | W |
//! | credits | W | R | - | W |
//! | event schemas | W | R | W | R |
//! | usage meters | W | R | W | R |
//! | customers | W | R | W | R |
//! | accounts (aliases) | W | R | W | R |
//! | settings (organisation, logo, billing details, templates) | W | R | W | R |
//! | usage events and license updates (billrun: as usage meters) | W | R | W | R |
//! | imports (CSV; billrun) | W | R | W | - |
//! | jobs (billrun) | W | R | R | R |
//! | users | W | R | - | - |
//! | API tokens | W | R | - | - |
//! | audit log (read only for all) | R | R | - | - |
//!
//! The rows Togai names follow its text word for word; the rows marked billrun are
//! billrun's additions: usage events and license updates go with the usage meters that
//! aggregate them, imports (which write accounts, usage and licenses) with the
//! Developer's resources, jobs are readable by every role (each watches the jobs its
//! own requests started) and written by administrators only, and users, tokens and the
//! audit log are administration ("all features": Administrator writes, Analyst reads).
//! Nobody writes the audit log: it is written by the changes themselves.

use std::fmt;
use std::str::FromStr;

/// One of Togai's Admin Center roles (of a user or a token).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Full read and write access to all features.
    Administrator,
    /// Read-only access to all features.
    Analyst,
    /// Full access to event schemas, usage meters, customers, accounts and settings.
    Developer,
    /// Full access to price plans, schedules, invoices and credits; read-only access
    /// to event schemas, usage meters, customers, accounts and settings.
    ProductManager,
}

impl Role {
    /// Every role, in Togai's order.
    pub const ALL: [Role; 4] = [
        Role::Administrator,
        Role::Analyst,
        Role::Developer,
        Role::ProductManager,
    ];

    /// The stored and JSON text: `ADMINISTRATOR`, `ANALYST`, `DEVELOPER`,
    /// `PRODUCT_MANAGER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "ADMINISTRATOR",
            Role::Analyst => "ANALYST",
            Role::Developer => "DEVELOPER",
            Role::ProductManager => "PRODUCT_MANAGER",
        }
    }

    /// The name people read: `Administrator`, ..., `Product Manager`.
    pub fn title(self) -> &'static str {
        match self {
            Role::Administrator => "Administrator",
            Role::Analyst => "Analyst",
            Role::Developer => "Developer",
            Role::ProductManager => "Product Manager",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    /// Reads a role in any case, with `_`, `-` or a space between words
    /// (`PRODUCT_MANAGER`, `product-manager`, `Product Manager`).
    fn from_str(s: &str) -> Result<Role, String> {
        let norm: String = s
            .trim()
            .chars()
            .map(|c| match c {
                '-' | ' ' => '_',
                c => c.to_ascii_uppercase(),
            })
            .collect();
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == norm)
            .ok_or_else(|| {
                format!(
                    "role {s:?}: expected one of administrator, analyst, developer, product-manager"
                )
            })
    }
}

impl sqlx::Type<sqlx::Postgres> for Role {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for Role {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Role {
    /// A stored role this binary does not know is an error, never another role.
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let s = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Ok(Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown stored role {s:?}"))?)
    }
}

/// What a request touches (a row of [`PERMISSIONS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Price plans, their versions and rate cards.
    PricePlans,
    /// Schedules: accounts' plan associations and plan migrations.
    Schedules,
    /// Invoices, bill runs, invoice documents and deliveries.
    Invoices,
    /// Credits.
    Credits,
    /// Event schemas.
    EventSchemas,
    /// Usage meters.
    UsageMeters,
    /// Customers.
    Customers,
    /// Accounts and their aliases.
    Accounts,
    /// Settings: the organisation's, logo, billing details, templates.
    Settings,
    /// Usage events and license updates (billrun).
    Events,
    /// CSV imports (billrun).
    Imports,
    /// Jobs (billrun).
    Jobs,
    /// Users and invitations.
    Users,
    /// API tokens.
    ApiTokens,
    /// The audit log.
    AuditLog,
}

/// Reading, or changing (which includes reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// GET: list and show.
    Read,
    /// Create, update, delete, and every action with an effect.
    Write,
}

use Role::{Administrator as A, Analyst as N, Developer as D, ProductManager as P};

/// The permission table: for each resource, the roles that may read it and the roles
/// that may write it. A role that may write may read. The module documentation shows
/// it as a table.
pub const PERMISSIONS: &[(Resource, &[Role], &[Role])] = &[
    // (resource, read, write)
    (Resource::PricePlans, &[A, N, P], &[A, P]),
    (Resource::Schedules, &[A, N, P], &[A, P]),
    (Resource::Invoices, &[A, N, P], &[A, P]),
    (Resource::Credits, &[A, N, P], &[A, P]),
    (Resource::EventSchemas, &[A, N, D, P], &[A, D]),
    (Resource::UsageMeters, &[A, N, D, P], &[A, D]),
    (Resource::Customers, &[A, N, D, P], &[A, D]),
    (Resource::Accounts, &[A, N, D, P], &[A, D]),
    (Resource::Settings, &[A, N, D, P], &[A, D]),
    (Resource::Events, &[A, N, D, P], &[A, D]),
    (Resource::Imports, &[A, N, D], &[A, D]),
    (Resource::Jobs, &[A, N, D, P], &[A]),
    (Resource::Users, &[A, N], &[A]),
    (Resource::ApiTokens, &[A, N], &[A]),
    (Resource::AuditLog, &[A, N], &[]),
];

/// Whether `role` may have `access` to `resource`, by [`PERMISSIONS`].
pub fn allows(role: Role, resource: Resource, access: Access) -> bool {
    PERMISSIONS
        .iter()
        .find(|(r, _, _)| *r == resource)
        .map(|(_, read, write)| match access {
            Access::Read => read.contains(&role) || write.contains(&role),
            Access::Write => write.contains(&role),
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line of the documented table: `W`, `R` or `-` for Administrator, Analyst,
    /// Developer, Product Manager.
    fn row(resource: Resource, expected: [&str; 4]) {
        for (role, want) in Role::ALL.into_iter().zip(expected) {
            let got = match (
                allows(role, resource, Access::Read),
                allows(role, resource, Access::Write),
            ) {
                (true, true) => "W",
                (true, false) => "R",
                (false, false) => "-",
                (false, true) => "write without read",
            };
            assert_eq!(got, want, "{resource:?} for {role}");
        }
    }

    #[test]
    fn price_plans() {
        row(Resource::PricePlans, ["W", "R", "-", "W"]);
    }
    #[test]
    fn schedules() {
        row(Resource::Schedules, ["W", "R", "-", "W"]);
    }
    #[test]
    fn invoices() {
        row(Resource::Invoices, ["W", "R", "-", "W"]);
    }
    #[test]
    fn credits() {
        row(Resource::Credits, ["W", "R", "-", "W"]);
    }
    #[test]
    fn event_schemas() {
        row(Resource::EventSchemas, ["W", "R", "W", "R"]);
    }
    #[test]
    fn usage_meters() {
        row(Resource::UsageMeters, ["W", "R", "W", "R"]);
    }
    #[test]
    fn customers() {
        row(Resource::Customers, ["W", "R", "W", "R"]);
    }
    #[test]
    fn accounts() {
        row(Resource::Accounts, ["W", "R", "W", "R"]);
    }
    #[test]
    fn settings() {
        row(Resource::Settings, ["W", "R", "W", "R"]);
    }
    #[test]
    fn events() {
        row(Resource::Events, ["W", "R", "W", "R"]);
    }
    #[test]
    fn imports() {
        row(Resource::Imports, ["W", "R", "W", "-"]);
    }
    #[test]
    fn jobs() {
        row(Resource::Jobs, ["W", "R", "R", "R"]);
    }
    #[test]
    fn users() {
        row(Resource::Users, ["W", "R", "-", "-"]);
    }
    #[test]
    fn api_tokens() {
        row(Resource::ApiTokens, ["W", "R", "-", "-"]);
    }
    #[test]
    fn audit_log() {
        row(Resource::AuditLog, ["R", "R", "-", "-"]);
    }

    #[test]
    fn every_resource_has_exactly_one_row_and_the_analyst_never_writes() {
        for (i, (r, _, write)) in PERMISSIONS.iter().enumerate() {
            assert!(
                PERMISSIONS[i + 1..].iter().all(|(o, _, _)| o != r),
                "{r:?} twice"
            );
            assert!(!write.contains(&Role::Analyst), "{r:?}");
        }
        assert_eq!(PERMISSIONS.len(), 15);
    }

    #[test]
    fn the_readme_and_module_tables_are_this_table() {
        let code: Vec<[&str; 4]> = PERMISSIONS
            .iter()
            .map(|(r, _, _)| {
                Role::ALL.map(|role| {
                    match (
                        allows(role, *r, Access::Read),
                        allows(role, *r, Access::Write),
                    ) {
                        (_, true) => "W",
                        (true, false) => "R",
                        _ => "-",
                    }
                })
            })
            .collect();
        for (doc, text) in [
            ("README.md", include_str!("../../README.md")),
            ("roles.rs", include_str!("roles.rs")),
        ] {
            let documented: Vec<[String; 4]> = text
                .lines()
                .map(|l| l.trim_start_matches("//! "))
                .skip_while(|l| !l.starts_with("| resource | Administrator | Analyst"))
                .skip(2)
                .take_while(|l| l.starts_with('|'))
                .map(|l| {
                    let cells: Vec<String> = l.split('|').map(|c| c.trim().to_string()).collect();
                    [1, 2, 3, 4].map(|i| cells[cells.len() - 6 + i].clone())
                })
                .collect();
            let documented: Vec<[&str; 4]> = documented
                .iter()
                .map(|r| r.each_ref().map(String::as_str))
                .collect();
            assert_eq!(documented, code, "the role table in {doc}");
        }
    }

    #[test]
    fn roles_read_in_any_spelling() {
        for (text, role) in [
            ("administrator", Role::Administrator),
            ("ANALYST", Role::Analyst),
            ("Developer", Role::Developer),
            ("product-manager", Role::ProductManager),
            ("Product Manager", Role::ProductManager),
            ("PRODUCT_MANAGER", Role::ProductManager),
        ] {
            assert_eq!(text.parse::<Role>().unwrap(), role);
        }
        assert!("owner".parse::<Role>().is_err());
        assert_eq!(
            serde_json::to_string(&Role::ProductManager).unwrap(),
            "\"PRODUCT_MANAGER\""
        );
    }
}
