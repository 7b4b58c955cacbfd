//! `billrun meter ...`: event schemas and usage meters (catalog::meters): create,
//! list and show them; change, activate, deactivate and delete them with the rules of
//! `catalog::meters::changes` (README "HTTP API", "Event schemas and usage meters"),
//! as the HTTP API's `/event_schema/{name}` and `/usage_meters/{id}` routes do.

use std::collections::BTreeMap;

use billrun_core::meter_logic::Computation;
use billrun_core::FieldError;
use serde_json::json;
use sqlx::PgPool;

use super::output::{or_dash, print_json, Align, OrgArgs, OutputArgs, Table};
use crate::catalog::meters::changes::{self, SchemaChange};
use crate::catalog::meters::{self, Aggregation, EventSchema, UsageMeter};
use crate::store::status::CatalogStatus;

/// `billrun meter ...`: event schemas and usage meters.
#[derive(clap::Subcommand, Debug)]
pub enum MeterCommand {
    /// Create an event schema.
    CreateSchema {
        #[command(flatten)]
        org: OrgArgs,
        /// Its name (events carry it as schemaName).
        name: String,
        /// Numeric attributes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        attributes: Vec<String>,
        /// String dimensions, comma-separated.
        #[arg(long, value_delimiter = ',')]
        dimensions: Vec<String>,
    },
    /// Create a usage meter over an event schema.
    Create {
        #[command(flatten)]
        org: OrgArgs,
        /// Its id (what usage rate cards name as usageMeterId).
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// The event schema it aggregates.
        #[arg(long)]
        schema: String,
        /// COUNT or SUM.
        #[arg(long)]
        aggregation: String,
        /// The attribute summed (SUM only).
        #[arg(long)]
        attribute: Option<String>,
        /// Count only events with this dimension value: DIMENSION=VALUE (repeatable).
        #[arg(long = "filter", value_name = "DIMENSION=VALUE")]
        filters: Vec<String>,
        /// Togai's computations, a JSON array of {"matcher", "computation", "order"}
        /// (JSON-logic; README "Usage meter computations"), instead of --attribute.
        #[arg(long, value_name = "JSON", conflicts_with = "attribute")]
        computations: Option<String>,
    },
    /// The organisation's event schemas and usage meters.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Add attributes or dimensions to an event schema (its next version; none can be
    /// removed).
    UpdateSchema {
        #[command(flatten)]
        org: OrgArgs,
        /// The schema's name.
        name: String,
        /// Every attribute after the change, comma-separated (default: unchanged).
        #[arg(long, value_delimiter = ',')]
        attributes: Option<Vec<String>>,
        /// Every dimension after the change, comma-separated (default: unchanged).
        #[arg(long, value_delimiter = ',')]
        dimensions: Option<Vec<String>>,
    },
    /// Activate an event schema: it accepts events again.
    ActivateSchema {
        #[command(flatten)]
        org: OrgArgs,
        /// The schema's name.
        name: String,
    },
    /// Deactivate an event schema (refused while an ACTIVE meter measures it).
    DeactivateSchema {
        #[command(flatten)]
        org: OrgArgs,
        /// The schema's name.
        name: String,
    },
    /// Delete an event schema (refused while a meter measures it or events name it).
    DeleteSchema {
        #[command(flatten)]
        org: OrgArgs,
        /// The schema's name.
        name: String,
    },
    /// Every version of an event schema.
    SchemaVersions {
        #[command(flatten)]
        org: OrgArgs,
        /// The schema's name.
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One usage meter.
    Show {
        #[command(flatten)]
        org: OrgArgs,
        /// The meter's id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Change a usage meter (what it measures only while no price plan names it).
    Update {
        #[command(flatten)]
        org: OrgArgs,
        /// The meter's id.
        id: String,
        /// A new display name.
        #[arg(long)]
        name: Option<String>,
        /// The event schema it measures.
        #[arg(long)]
        schema: Option<String>,
        /// COUNT or SUM (with it, the attribute is --attribute's, else none).
        #[arg(long)]
        aggregation: Option<String>,
        /// The attribute summed (SUM only).
        #[arg(long)]
        attribute: Option<String>,
        /// Replace the computations: a JSON array as for `meter create` (`[]`: none).
        #[arg(long, value_name = "JSON", conflicts_with = "attribute")]
        computations: Option<String>,
        /// Replace the filters: DIMENSION=VALUE (repeatable).
        #[arg(long = "filter", value_name = "DIMENSION=VALUE")]
        filters: Vec<String>,
        /// Remove every filter.
        #[arg(long, conflicts_with = "filters")]
        no_filters: bool,
    },
    /// Activate a usage meter (its schema must be ACTIVE).
    Activate {
        #[command(flatten)]
        org: OrgArgs,
        /// The meter's id.
        id: String,
    },
    /// Deactivate a usage meter (refused while a price plan names it).
    Deactivate {
        #[command(flatten)]
        org: OrgArgs,
        /// The meter's id.
        id: String,
    },
    /// Delete a usage meter (refused while a price plan names it).
    Delete {
        #[command(flatten)]
        org: OrgArgs,
        /// The meter's id.
        id: String,
    },
}

/// Runs `billrun meter ...`.
pub async fn run(pool: &PgPool, cmd: MeterCommand) -> anyhow::Result<()> {
    match cmd {
        MeterCommand::CreateSchema {
            org,
            name,
            attributes,
            dimensions,
        } => {
            let trim = |v: Vec<String>| -> Vec<String> {
                v.into_iter().map(|s| s.trim().to_string()).collect()
            };
            let schema = EventSchema::new(name, trim(attributes), trim(dimensions));
            let s = meters::create_schema(pool, &org.id(), &schema).await?;
            println!("event schema {} created in {}", s.name, org.org);
        }
        MeterCommand::Create {
            org,
            id,
            name,
            schema,
            aggregation,
            attribute,
            filters,
            computations,
        } => {
            let filters = parse_filters(&filters)?;
            let meter = UsageMeter {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                event_schema_name: schema,
                aggregation: Aggregation::parse("aggregation", &aggregation)?,
                attribute,
                filters,
                computations: parse_computations(computations.as_deref())?,
                status: CatalogStatus::Active,
            }
            .simplify();
            let m = meters::create_meter(pool, &org.id(), &meter).await?;
            println!("usage meter {} created in {}", m.id, org.org);
        }
        MeterCommand::List { org, output } => {
            let org = org.id();
            let schemas = meters::schemas(pool, &org).await?;
            let list = meters::meters(pool, &org).await?;
            if output.json {
                return print_json(&json!({"eventSchemas": schemas, "usageMeters": list}));
            }
            schema_table(&schemas).print();
            println!();
            meter_table(&list).print();
        }
        MeterCommand::UpdateSchema {
            org,
            name,
            attributes,
            dimensions,
        } => {
            let trim = |v: Vec<String>| -> Vec<String> {
                v.into_iter().map(|s| s.trim().to_string()).collect()
            };
            let change = SchemaChange {
                attributes: attributes.map(trim),
                dimensions: dimensions.map(trim),
            };
            let s = changes::update_schema(pool, &org.id(), &name, &change).await?;
            println!("event schema {} is at version {}", s.name, s.version);
        }
        MeterCommand::ActivateSchema { org, name } => {
            changes::set_schema_status(pool, &org.id(), &name, CatalogStatus::Active).await?;
            println!("event schema {name} is ACTIVE");
        }
        MeterCommand::DeactivateSchema { org, name } => {
            changes::set_schema_status(pool, &org.id(), &name, CatalogStatus::Inactive).await?;
            println!("event schema {name} is INACTIVE");
        }
        MeterCommand::DeleteSchema { org, name } => {
            changes::delete_schema(pool, &org.id(), &name).await?;
            println!("event schema {name} deleted");
        }
        MeterCommand::SchemaVersions { org, name, output } => {
            let versions = changes::schema_versions(pool, &org.id(), &name).await?;
            if output.json {
                let list: Vec<_> = versions
                    .iter()
                    .map(|v| json!({"schema": v.schema, "current": v.current}))
                    .collect();
                return print_json(&list);
            }
            let mut t = Table::new(&[
                ("VERSION", 8, Align::Right),
                ("STATUS", 9, Align::Left),
                ("ATTRIBUTES", 30, Align::Left),
                ("DIMENSIONS", 0, Align::Left),
            ]);
            for v in versions {
                let status = if v.current {
                    v.schema.status.as_str()
                } else {
                    "ARCHIVED"
                };
                t.row(vec![
                    v.schema.version.to_string(),
                    status.to_string(),
                    v.schema.attributes.join(","),
                    v.schema.dimensions.join(","),
                ]);
            }
            t.print();
        }
        MeterCommand::Show { org, id, output } => {
            let m = meters::get_meter(pool, org.id().as_str(), &id).await?;
            if output.json {
                return print_json(&m);
            }
            meter_table(std::slice::from_ref(&m)).print();
        }
        MeterCommand::Update {
            org,
            id,
            name,
            schema,
            aggregation,
            attribute,
            computations,
            filters,
            no_filters,
        } => {
            let org = org.id();
            let current = meters::get_meter(pool, org.as_str(), &id).await?;
            let mut next = current.clone();
            if let Some(name) = name {
                next.name = name;
            }
            if let Some(schema) = schema {
                next.event_schema_name = schema;
            }
            if let Some(a) = aggregation {
                next.aggregation = Aggregation::parse("aggregation", &a)?;
                next.attribute = None;
                next.computations.clear();
            }
            if attribute.is_some() {
                next.attribute = attribute;
                next.computations.clear();
            }
            if computations.is_some() {
                next.computations = parse_computations(computations.as_deref())?;
                next.attribute = None;
            }
            if no_filters {
                next.filters.clear();
            } else if !filters.is_empty() {
                next.filters = parse_filters(&filters)?;
            }
            let m = changes::update_meter(pool, &org, &current, &next.simplify()).await?;
            println!("usage meter {} updated in {}", m.id, org);
        }
        MeterCommand::Activate { org, id } => {
            changes::set_meter_status(pool, &org.id(), &id, CatalogStatus::Active).await?;
            println!("usage meter {id} is ACTIVE");
        }
        MeterCommand::Deactivate { org, id } => {
            changes::set_meter_status(pool, &org.id(), &id, CatalogStatus::Inactive).await?;
            println!("usage meter {id} is INACTIVE");
        }
        MeterCommand::Delete { org, id } => {
            changes::delete_meter(pool, &org.id(), &id).await?;
            println!("usage meter {id} deleted");
        }
    }
    Ok(())
}

/// `--filter DIMENSION=VALUE`s as a map (the last value of a dimension wins).
fn parse_filters(filters: &[String]) -> Result<BTreeMap<String, String>, FieldError> {
    let mut parsed = BTreeMap::new();
    for f in filters {
        let Some((dimension, value)) = f.split_once('=') else {
            return Err(FieldError::new(
                "filters",
                format!("{f:?}: expected DIMENSION=VALUE"),
            ));
        };
        parsed.insert(dimension.trim().to_string(), value.to_string());
    }
    Ok(parsed)
}

/// `meter list`'s first table: an event schema a line.
fn schema_table(schemas: &[EventSchema]) -> Table {
    let mut t = Table::new(&[
        ("EVENT SCHEMA", 24, Align::Left),
        ("VERSION", 8, Align::Right),
        ("STATUS", 9, Align::Left),
        ("ATTRIBUTES", 30, Align::Left),
        ("DIMENSIONS", 0, Align::Left),
    ]);
    for s in schemas {
        t.row(vec![
            s.name.clone(),
            s.version.to_string(),
            s.status.as_str().to_string(),
            s.attributes.join(","),
            s.dimensions.join(","),
        ]);
    }
    t
}

/// `meter list`'s second table: a usage meter a line.
/// `--computations`: a JSON array of Togai's `Computation` (none when absent).
fn parse_computations(given: Option<&str>) -> Result<Vec<Computation>, FieldError> {
    given.map_or(Ok(Vec::new()), |text| {
        serde_json::from_str(text).map_err(|e| {
            FieldError::new(
                "computations",
                format!(
                    "expected a JSON array of {{\"matcher\", \"computation\", \"order\"}}: {e}"
                ),
            )
        })
    })
}

fn meter_table(list: &[UsageMeter]) -> Table {
    let mut t = Table::new(&[
        ("USAGE METER", 24, Align::Left),
        ("STATUS", 9, Align::Left),
        ("SCHEMA", 24, Align::Left),
        ("AGG", 6, Align::Left),
        ("ATTRIBUTE", 16, Align::Left),
        ("FILTERS", 0, Align::Left),
    ]);
    for m in list {
        let filters: Vec<_> = m.filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        t.row(vec![
            m.id.clone(),
            m.status.as_str().to_string(),
            m.event_schema_name.clone(),
            m.aggregation.as_str().to_string(),
            match m.computations.len() {
                0 => or_dash(m.attribute.as_deref()).to_string(),
                n => format!("{n} computation(s)"),
            },
            filters.join(","),
        ]);
    }
    t
}
