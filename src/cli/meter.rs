//! `billrun meter ...`: event schemas and usage meters (catalog::meters).

use std::collections::BTreeMap;

use billrun_core::FieldError;
use serde_json::json;
use sqlx::PgPool;

use super::output::{or_dash, print_json, Align, OrgArgs, OutputArgs, Table};
use crate::catalog::meters::{self, Aggregation, EventSchema, UsageMeter};

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
    },
    /// The organisation's event schemas and usage meters.
    List {
        #[command(flatten)]
        org: OrgArgs,
        #[command(flatten)]
        output: OutputArgs,
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
            let schema = EventSchema {
                name,
                attributes: trim(attributes),
                dimensions: trim(dimensions),
            };
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
        } => {
            let filters = parse_filters(&filters)?;
            let meter = UsageMeter {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                event_schema_name: schema,
                aggregation: Aggregation::parse("aggregation", &aggregation)?,
                attribute,
                filters,
            };
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
        ("ATTRIBUTES", 30, Align::Left),
        ("DIMENSIONS", 0, Align::Left),
    ]);
    for s in schemas {
        t.row(vec![
            s.name.clone(),
            s.attributes.join(","),
            s.dimensions.join(","),
        ]);
    }
    t
}

/// `meter list`'s second table: a usage meter a line.
fn meter_table(list: &[UsageMeter]) -> Table {
    let mut t = Table::new(&[
        ("USAGE METER", 24, Align::Left),
        ("SCHEMA", 24, Align::Left),
        ("AGG", 6, Align::Left),
        ("ATTRIBUTE", 16, Align::Left),
        ("FILTERS", 0, Align::Left),
    ]);
    for m in list {
        let filters: Vec<_> = m.filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        t.row(vec![
            m.id.clone(),
            m.event_schema_name.clone(),
            m.aggregation.as_str().to_string(),
            or_dash(m.attribute.as_deref()).to_string(),
            filters.join(","),
        ]);
    }
    t
}
