//! `GET /invoice/{invoice_id}/pricing_rules_logs` (Togai's path, singular
//! `invoice`): what each pricing rule did to an invoice, in Togai's
//! `PricingRulesLogsPaginatedResponse` of `PricingRulesLog`, through
//! `bill_run::rules_log`. Amounts and usage are JSON numbers written from the decimal
//! as stored; `variablesValue` maps each variable the rule reads to
//! `{"name", "value"}` (the value as text, absent when the invoice has no such line).
//! Semantics: [`billrun_core::pricing_rules`], README "Price plans", "Pricing rules".

use axum::extract::{Path, State};
use axum::{Extension, Json};
use billrun_core::pricing_rules::{LogType, RuleLog};
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

use super::error::{ApiError, ErrorBody};
use super::money::number;
use super::AppState;
use crate::identity::Principal;

/// Togai's `PricingRuleChangesLog`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangesLog {
    /// The card (UPDATE) or the line added (ADD: the rule's name).
    pub key: String,
    /// Its title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Its amount before the rule (major unit).
    #[schema(value_type = f64)]
    pub old_revenue: Box<RawValue>,
    /// Its amount after the rule (major unit).
    #[schema(value_type = f64)]
    pub new_revenue: Box<RawValue>,
    /// Its quantity before.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub old_usage: Option<Box<RawValue>>,
    /// Its quantity after.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub new_usage: Option<Box<RawValue>>,
    /// Why the rule changed nothing, on an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// Togai's `PricingRuleInfo`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleInfo {
    /// The rule's name (its id).
    pub id: String,
    /// The rule's name.
    pub name: String,
    /// Its JSON-logic condition, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Its JSON-logic computation.
    pub computation: String,
}

/// Togai's `PricingRulesValues`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VariableValue {
    /// The variable (`revenue.api_calls`).
    pub name: String,
    /// Its value, as text; absent when the invoice has no such line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Togai's `PricingRulesLog`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingRulesLog {
    /// `<timing>.<order>`: unique in the invoice.
    pub id: String,
    /// CONDITION_TRUE, CONDITION_FALSE, CONDITION_ERROR or COMPUTATION_ERROR.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: LogType,
    /// The rule's order.
    pub order: i64,
    /// What it changed.
    pub changes: ChangesLog,
    /// The rule.
    pub rule: RuleInfo,
    /// The variables it reads.
    pub variables_value: BTreeMap<String, VariableValue>,
}

/// Togai's `PricingRulesLogsPaginatedResponse` (one page: all of them).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PricingRulesLogsPage {
    /// In the order the rules ran.
    pub data: Vec<PricingRulesLog>,
}

fn togai(l: RuleLog) -> PricingRulesLog {
    PricingRulesLog {
        id: l.id,
        kind: l.kind,
        order: l.order,
        changes: ChangesLog {
            key: l.changes.key,
            key_name: l.changes.key_name,
            old_revenue: number(l.changes.old_revenue),
            new_revenue: number(l.changes.new_revenue),
            old_usage: l.changes.old_usage.map(number),
            new_usage: l.changes.new_usage.map(number),
            error_message: l.changes.error_message,
        },
        rule: RuleInfo {
            id: l.rule.name.clone(),
            name: l.rule.name,
            condition: l.rule.condition,
            computation: l.rule.computation,
        },
        variables_value: l
            .variables_value
            .into_iter()
            .map(|(name, value)| (name.clone(), VariableValue { name, value }))
            .collect(),
    }
}

/// The pricing rules log of one invoice of the caller's organisation (by id or
/// number; 404 for any other), with those of the drafts merged into it.
#[utoipa::path(get, path = "/invoice/{invoice_id}/pricing_rules_logs", tag = "invoices",
    params(("invoice_id" = String, Path, description = "the invoice's id or number")),
    responses(
        (status = 200, description = "one entry per rule evaluated", body = PricingRulesLogsPage),
        (status = 404, description = "no such invoice in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<PricingRulesLogsPage>, ApiError> {
    let log = crate::bill_run::rules_log::pricing_rules_log(&state.pool, &who.org, &id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("organisation {} has no invoice {id}", who.org),
            )
        })?;
    Ok(Json(PricingRulesLogsPage {
        data: log.into_iter().map(togai).collect(),
    }))
}
