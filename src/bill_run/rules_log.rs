//! An invoice's pricing rules log (Togai's `GET /invoice/{id}/pricing_rules_logs`,
//! README "Price plans", "Pricing rules"): what each rule of the plan did when the
//! invoice was computed, written with its lines by `close-chunk`.

use billrun_core::pricing_rules::RuleLog;
use serde_json::Value;
use sqlx::PgPool;

use crate::store::OrgId;

/// The log of invoice `id_or_number` of `org`, then those of the drafts merged into
/// it (a plan change on its date), in that order; `None` when the organisation has no
/// such invoice. An entry that no longer reads is skipped (the log is informative).
pub async fn pricing_rules_log(
    pool: &PgPool,
    org: &OrgId,
    id_or_number: &str,
) -> Result<Option<Vec<RuleLog>>, sqlx::Error> {
    let rows: Vec<(Value,)> = sqlx::query_as(
        "WITH i AS (SELECT id FROM invoices WHERE org_id = $1 AND (id = $2 OR number = $2) LIMIT 1)
         SELECT v.pricing_rules_log FROM invoices v, i
         WHERE v.org_id = $1 AND (v.id = i.id OR v.merged_into = i.id)
         ORDER BY (v.id = i.id) DESC, v.association_from, v.id",
    )
    .bind(org)
    .bind(id_or_number)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .flat_map(|(v,)| serde_json::from_value::<Vec<RuleLog>>(v).unwrap_or_default())
            .collect(),
    ))
}
