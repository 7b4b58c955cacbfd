//! `billrun meter ...`: event schemas and usage meters.

use super::*;

/// `billrun meter ...`: event schemas and usage meters.
#[derive(clap::Subcommand, Debug)]
pub enum MeterCommand {
    /// Create an event schema.
    CreateSchema {
        /// Organisation.
        #[arg(long)]
        org: String,
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
        /// Organisation.
        #[arg(long)]
        org: String,
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
        /// Organisation.
        #[arg(long)]
        org: String,
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

// ---------------------------------------------------------------------------------
// Meters.

/// Runs `billrun meter ...`.
pub async fn run_meter(pool: &PgPool, cmd: MeterCommand) -> anyhow::Result<()> {
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
            let s = meters::create_schema(
                pool,
                &org,
                &EventSchema {
                    name,
                    attributes: trim(attributes),
                    dimensions: trim(dimensions),
                },
            )
            .await?;
            println!("event schema {} created in {org}", s.name);
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
            let mut parsed = BTreeMap::new();
            for f in &filters {
                let Some((dimension, value)) = f.split_once('=') else {
                    return Err(FieldError::new(
                        "filters",
                        format!("{f:?}: expected DIMENSION=VALUE"),
                    )
                    .into());
                };
                parsed.insert(dimension.trim().to_string(), value.to_string());
            }
            let m = meters::create_meter(
                pool,
                &org,
                &UsageMeter {
                    name: name.unwrap_or_else(|| id.clone()),
                    id,
                    event_schema_name: schema,
                    aggregation: Aggregation::parse("aggregation", &aggregation)?,
                    attribute,
                    filters: parsed,
                },
            )
            .await?;
            println!("usage meter {} created in {org}", m.id);
        }
        MeterCommand::List { org, json } => {
            let schemas = meters::schemas(pool, &org).await?;
            let list = meters::meters(pool, &org).await?;
            if json {
                return print_json(&json!({"eventSchemas": schemas, "usageMeters": list}));
            }
            println!("{:<24} {:<30} DIMENSIONS", "EVENT SCHEMA", "ATTRIBUTES");
            for s in schemas {
                println!(
                    "{:<24} {:<30} {}",
                    s.name,
                    s.attributes.join(","),
                    s.dimensions.join(",")
                );
            }
            println!();
            println!(
                "{:<24} {:<24} {:<6} {:<16} FILTERS",
                "USAGE METER", "SCHEMA", "AGG", "ATTRIBUTE"
            );
            for m in list {
                let filters: Vec<_> = m.filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "{:<24} {:<24} {:<6} {:<16} {}",
                    m.id,
                    m.event_schema_name,
                    m.aggregation.as_str(),
                    or_dash(m.attribute.as_deref()),
                    filters.join(",")
                );
            }
        }
    }
    Ok(())
}
