//! Whether a database's schema is exactly the one this binary was built for.
//!
//! Two migration histories make up billrun's schema: the application's
//! (`migrations/`, recorded in `public._sqlx_migrations`) and the job queue's
//! (apalis-postgres, recorded in `apalis._sqlx_migrations`). Only `billrun migrate`
//! and `billrun demo` apply them; every other command calls [`check`] first and
//! refuses to run on a schema that is behind (a migration not applied), ahead (a
//! migration this binary does not know: a newer billrun migrated it, or it is not
//! billrun's database), or damaged (a migration recorded as failed, or applied from
//! a different file than this binary's).

use std::collections::HashMap;
use std::fmt;

use sqlx::migrate::Migrator;
use sqlx::PgPool;

/// One migration, as named in messages: its version and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationName {
    /// The version (the file name's leading integer).
    pub version: i64,
    /// The description (the rest of the file name).
    pub description: String,
}

impl fmt::Display for MigrationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.version, self.description)
    }
}

/// How one migration history of a database compares with this binary's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct History {
    /// Whose history: `billrun` or `job queue`.
    pub owner: &'static str,
    /// The history table does not exist: nothing was ever applied.
    pub absent: bool,
    /// Migrations of this binary that the database has not applied, oldest first.
    pub missing: Vec<MigrationName>,
    /// Migrations the database applied that this binary does not know, oldest first.
    pub unknown: Vec<MigrationName>,
    /// Migrations recorded as failed (`success = false`): applied part-way.
    pub failed: Vec<MigrationName>,
    /// Migrations applied from a different file than this binary's (checksum differs).
    pub changed: Vec<MigrationName>,
}

impl History {
    /// True when the database has exactly this binary's migrations, all successful.
    pub fn is_current(&self) -> bool {
        !self.absent
            && self.missing.is_empty()
            && self.unknown.is_empty()
            && self.failed.is_empty()
            && self.changed.is_empty()
    }

    /// True when only migrations are missing: `billrun migrate` brings it up to date.
    pub fn is_only_behind(&self) -> bool {
        self.unknown.is_empty() && self.failed.is_empty() && self.changed.is_empty()
    }
}

/// Why a database's schema is not this binary's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// Neither history exists: the database was never migrated.
    #[error(
        "database {database:?} ({url}) has no billrun schema: it was never migrated. Run \
         `billrun migrate` to create the schema (or check DATABASE_URL, or database_url, if \
         this is not billrun's database)"
    )]
    NeverMigrated {
        /// The database's name.
        database: String,
        /// Its URL, password masked.
        url: String,
    },
    /// Migrations are missing and nothing else is wrong.
    #[error(
        "the schema of database {database:?} ({url}) is behind this billrun: {} not applied. \
         Run `billrun migrate`",
        list(histories, |h| &h.missing)
    )]
    Behind {
        /// The database's name.
        database: String,
        /// Its URL, password masked.
        url: String,
        /// Both histories.
        histories: Vec<History>,
    },
    /// Migrations unknown to this binary: a newer billrun migrated the database.
    #[error(
        "the schema of database {database:?} ({url}) is ahead of this billrun: it has \
         {} that this billrun does not know. A newer billrun migrated it: use that version \
         (or a newer one) on this database, not this one (or check DATABASE_URL if it is not \
         billrun's database)",
        list(histories, |h| &h.unknown)
    )]
    Ahead {
        /// The database's name.
        database: String,
        /// Its URL, password masked.
        url: String,
        /// Both histories.
        histories: Vec<History>,
    },
    /// A migration failed part-way, or was applied from another file.
    #[error(
        "the schema of database {database:?} ({url}) is not the one this billrun expects: \
         {}. Repair it by hand (the migration's SQL is in migrations/), then run \
         `billrun migrate`",
        damage(histories)
    )]
    Damaged {
        /// The database's name.
        database: String,
        /// Its URL, password masked.
        url: String,
        /// Both histories.
        histories: Vec<History>,
    },
}

fn list(histories: &[History], pick: impl Fn(&History) -> &Vec<MigrationName>) -> String {
    histories
        .iter()
        .filter(|h| !pick(h).is_empty())
        .map(|h| {
            let names: Vec<String> = pick(h).iter().map(|m| m.to_string()).collect();
            format!(
                "{} {} migration(s) {}",
                names.len(),
                h.owner,
                names.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn damage(histories: &[History]) -> String {
    let mut parts = Vec::new();
    for h in histories {
        for m in &h.failed {
            parts.push(format!(
                "{} migration {m} is recorded as failed (applied part-way)",
                h.owner
            ));
        }
        for m in &h.changed {
            parts.push(format!(
                "{} migration {m} was applied from a different file than this billrun's",
                h.owner
            ));
        }
    }
    parts.join("; ")
}

/// Compares one migration history with `migrator`'s migrations. Reads only: never
/// creates the history table (unlike `Migrator::run`).
async fn compare(
    pool: &PgPool,
    owner: &'static str,
    migrator: &Migrator,
) -> Result<History, sqlx::Error> {
    // The table as sqlx names it (schema-qualified for the queue's: apalis.…).
    let table = &*migrator.table_name;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await?;
    let expected: Vec<_> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let name = |version: i64, description: &str| MigrationName {
        version,
        description: description.to_string(),
    };
    if !exists {
        return Ok(History {
            owner,
            absent: true,
            missing: expected
                .iter()
                .map(|m| name(m.version, &m.description))
                .collect(),
            ..History::default()
        });
    }
    let applied: Vec<(i64, String, bool, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, description, success, checksum FROM {table} ORDER BY version"
    )))
    .fetch_all(pool)
    .await?;
    let by_version: HashMap<i64, &(i64, String, bool, Vec<u8>)> =
        applied.iter().map(|a| (a.0, a)).collect();
    let mut h = History {
        owner,
        ..History::default()
    };
    for m in &expected {
        match by_version.get(&m.version) {
            None => h.missing.push(name(m.version, &m.description)),
            Some((_, _, success, checksum)) => {
                if !success {
                    h.failed.push(name(m.version, &m.description));
                } else if checksum.as_slice() != &*m.checksum {
                    h.changed.push(name(m.version, &m.description));
                }
            }
        }
    }
    for (version, description, success, _) in &applied {
        if !expected.iter().any(|m| m.version == *version) {
            if *success {
                h.unknown.push(name(*version, description));
            } else {
                h.failed.push(name(*version, description));
            }
        }
    }
    Ok(h)
}

/// Both histories of the database behind `pool`: the job queue's, then billrun's.
pub async fn histories(pool: &PgPool) -> Result<Vec<History>, sqlx::Error> {
    let queue = apalis_postgres::PostgresStorage::migrations();
    Ok(vec![
        compare(pool, "job queue", &queue).await?,
        compare(pool, "billrun", &super::MIGRATOR).await?,
    ])
}

/// The verdict on `histories` of the database `database` (at `url`, password
/// masked): none when it is exactly this binary's schema.
pub fn verdict(database: &str, url: &str, histories: Vec<History>) -> Option<SchemaError> {
    if histories.iter().all(History::is_current) {
        return None;
    }
    let (database, url) = (database.to_string(), url.to_string());
    if histories
        .iter()
        .any(|h| !h.failed.is_empty() || !h.changed.is_empty())
    {
        return Some(SchemaError::Damaged {
            database,
            url,
            histories,
        });
    }
    if histories.iter().any(|h| !h.unknown.is_empty()) {
        return Some(SchemaError::Ahead {
            database,
            url,
            histories,
        });
    }
    debug_assert!(histories.iter().all(History::is_only_behind));
    if histories.iter().all(|h| h.absent) {
        return Some(SchemaError::NeverMigrated { database, url });
    }
    Some(SchemaError::Behind {
        database,
        url,
        histories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(version: i64, description: &str) -> MigrationName {
        MigrationName {
            version,
            description: description.into(),
        }
    }

    fn current(owner: &'static str) -> History {
        History {
            owner,
            ..History::default()
        }
    }

    #[test]
    fn a_current_schema_has_no_verdict() {
        assert_eq!(
            verdict("b", "u", vec![current("job queue"), current("billrun")]),
            None
        );
    }

    #[test]
    fn a_schema_behind_names_each_missing_migration_and_billrun_migrate() {
        let mut app = current("billrun");
        app.missing = vec![m(20261130040001, "delivery attempts")];
        let e = verdict(
            "billrun_x",
            "postgres://h/billrun_x",
            vec![current("job queue"), app],
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "the schema of database \"billrun_x\" (postgres://h/billrun_x) is behind this \
             billrun: 1 billrun migration(s) 20261130040001 (delivery attempts) not applied. \
             Run `billrun migrate`"
        );
    }

    #[test]
    fn unknown_migrations_are_ahead_even_when_others_are_missing() {
        let mut app = current("billrun");
        app.missing = vec![m(1, "a")];
        app.unknown = vec![m(99, "from the future")];
        let e = verdict("d", "u", vec![current("job queue"), app]).unwrap();
        assert!(matches!(e, SchemaError::Ahead { .. }), "{e}");
        assert!(e.to_string().contains("99 (from the future)"), "{e}");
        assert!(!e.to_string().contains("`billrun migrate`"), "{e}");
    }

    #[test]
    fn a_failed_migration_is_damage_not_ahead() {
        let mut queue = current("job queue");
        queue.failed = vec![m(7, "half")];
        let mut app = current("billrun");
        app.unknown = vec![m(99, "x")];
        let e = verdict("d", "u", vec![queue, app]).unwrap();
        assert!(
            e.to_string()
                .contains("job queue migration 7 (half) is recorded as failed"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_database_was_never_migrated() {
        let absent = |owner| History {
            owner,
            absent: true,
            missing: vec![m(1, "a")],
            ..History::default()
        };
        let e = verdict("d", "u", vec![absent("job queue"), absent("billrun")]).unwrap();
        assert_eq!(
            e,
            SchemaError::NeverMigrated {
                database: "d".into(),
                url: "u".into()
            }
        );
        assert!(e.to_string().contains("billrun migrate"), "{e}");
    }
}
