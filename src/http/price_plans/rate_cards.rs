//! `/v2/price_plans/{price_plan_id}/rate_cards`: a plan's rate cards in Togai's
//! `RateCard` shape (GET) and Togai's bulk rate card operations (POST), applied by
//! `catalog::plans::apply_rate_card_operations` as `billrun plan rate-cards` does.
//!
//! Togai's wire shape differs from billrun's operations file (togai-api.md "Wire
//! shapes that differ"): each card is nested one level deeper, under the key of its
//! kind (`rateCard.rateCardDetails.usageRateCard`, `fixedFeeRateCard`,
//! `licenseRateCard`, `minimumCommitmentRateCard`, `creditGrantRateCard`,
//! `billingEntitlementRateCard`, `entitlementOverageRateCard`), and the
//! wrapper carries `billableId`, `invoiceTiming`, `displayName` and `tag`. The
//! translation ([`to_core_operations`]):
//! - the key must be the one of `rateCard.type` (or, without a type, names the kind);
//! - `displayName`, `tag` and `invoiceTiming` fill the card's own when it has none
//!   (a different `invoiceTiming` in both is refused; a minimum commitment is always
//!   IN_ARREARS);
//! - `billableId` is the usage card's `usageMeterId`, and the `id` of fixed fee,
//!   license and credit grant cards (the add-on, license or grant id), and the
//!   `featureId` of entitlement and overage cards, filled in when the card has none
//!   and refused when it differs.
//!
//! Errors of the operations are answered 400 with every failing operation and its
//! fields, the paths as the client sent them (`operations[0]`:
//! `rateCard.rateCardDetails.usageRateCard.ratePlan.slabs[1].startAfter`). Nothing is
//! written unless every operation succeeds.
//!
//! A card is answered ([`card_body`]) with `name` its name, `billableId` as above
//! (the name where the card has no id), `displayName` its display name or else its
//! name, `invoiceTiming` its timing (IN_ARREARS for the minimum commitment),
//! `referenceId` the plan's name and `referenceType` `PRICE_PLAN`, `pricePlanId` the
//! plan's name, `currencies` the currencies it prices; rates, slab starts, credit
//! amounts and license quantities are JSON numbers (digit for digit, never through a
//! float); the card kinds' own required `id` is the card's id or else its name.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use billrun_core::plan::CardKind;
use billrun_core::rate_card_ops::card_name;
use rust_decimal::Decimal;
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::super::error::{ApiError, ErrorBody};
use super::super::extract::{Body, Params};
use super::super::{audited, AppState, PageQuery};
use super::change;
use crate::catalog::plans::{self, PlanVersion, RateCardsError};
use crate::identity::Principal;

/// The key of each kind's card in Togai's `RateCardDetails`.
const KINDS: [(CardKind, &str); 7] = [
    (CardKind::Usage, "usageRateCard"),
    (CardKind::FixedFee, "fixedFeeRateCard"),
    (CardKind::License, "licenseRateCard"),
    (CardKind::MinimumCommitment, "minimumCommitmentRateCard"),
    (CardKind::CreditGrant, "creditGrantRateCard"),
    (CardKind::BillingEntitlement, "billingEntitlementRateCard"),
    (CardKind::EntitlementOverage, "entitlementOverageRateCard"),
];

/// Fields whose decimals (strings in billrun's stored plan) Togai's client wants as
/// JSON numbers. The string maps (`slabConfig`, `rateConfig`) stay strings.
const NUMBERS: [&str; 5] = [
    "rate",
    "startAfter",
    "creditAmount",
    "maxQuantity",
    "featureCreditLimit",
];

/// A card's JSON in Togai's shape: [`NUMBERS`] written as JSON numbers.
#[derive(Debug)]
pub struct WireCard(pub Value);

impl Serialize for WireCard {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Numbers(&self.0).serialize(s)
    }
}

struct Numbers<'a>(&'a Value);

impl Serialize for Numbers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    match v {
                        Value::String(t) if NUMBERS.contains(&k.as_str()) => {
                            let d: Decimal = t.parse().map_err(S::Error::custom)?;
                            let raw =
                                RawValue::from_string(d.to_string()).map_err(S::Error::custom)?;
                            map.serialize_entry(k, &raw)?;
                        }
                        _ => map.serialize_entry(k, &Numbers(v))?,
                    }
                }
                map.end()
            }
            Value::Array(a) => s.collect_seq(a.iter().map(Numbers)),
            other => other.serialize(s),
        }
    }
}

/// Togai's `RateCard`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateCardBody {
    /// The usage meter (usage cards), the card's id, or its name.
    pub billable_id: String,
    /// USAGE, FIXED_FEE, LICENSE, MINIMUM_COMMITMENT or CREDIT_GRANT.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its display name, else its name.
    pub display_name: String,
    /// IN_ADVANCE, IN_ARREARS or PREPAID.
    pub invoice_timing: String,
    /// `{"<kind>RateCard": the card}`, Togai's `RateCardDetails`.
    #[schema(value_type = Object)]
    pub rate_card_details: WireCard,
    /// Its tag, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Its name, unique in the plan.
    pub name: String,
    /// The plan's name.
    pub reference_id: String,
    /// `PRICE_PLAN`.
    pub reference_type: &'static str,
    /// The currencies it prices (ISO 4217).
    pub currencies: Vec<String>,
    /// The plan's name.
    pub price_plan_id: String,
}

/// Togai's `RateCardPaginatedResponse`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateCardPage {
    /// The page's cards, by name.
    pub data: Vec<RateCardBody>,
    /// The token of the next page, absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Togai's `BulkRateCardOperationsResponse`: every card of the resulting DRAFT.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkRateCardOperationsResponse {
    /// The DRAFT's cards, by name.
    pub rate_cards: Vec<RateCardBody>,
}

fn wire_key(kind: CardKind) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, key)| *key)
        .expect("every kind has a key")
}

fn currencies_of(card: &Value) -> Vec<String> {
    let rates = card["rateValues"]
        .as_array()
        .or_else(|| card["rateDetails"]["currencySlabRateDetails"].as_array());
    rates
        .into_iter()
        .flatten()
        .filter_map(|r| r["currency"].as_str().map(str::to_string))
        .collect()
}

/// One stored card (`kind`, billrun's canonical JSON) of `plan_id` in Togai's shape
/// (see the module documentation).
pub fn card_body(plan_id: &str, kind: CardKind, card: &Value) -> RateCardBody {
    let name = card_name(kind, card).unwrap_or_default();
    let mut wire = card.clone();
    match kind {
        CardKind::FixedFee | CardKind::License | CardKind::CreditGrant => {
            if wire.get("id").is_none() {
                wire["id"] = json!(name);
            }
        }
        CardKind::MinimumCommitment => {
            if wire.get("displayName").is_none() {
                wire["displayName"] = json!(name);
            }
        }
        CardKind::Usage | CardKind::BillingEntitlement | CardKind::EntitlementOverage => {}
    }
    let billable_id = match kind {
        CardKind::Usage => card["usageMeterId"].as_str(),
        CardKind::BillingEntitlement | CardKind::EntitlementOverage => card["featureId"].as_str(),
        _ => card["id"].as_str(),
    }
    .unwrap_or(&name)
    .to_string();
    RateCardBody {
        billable_id,
        kind: kind.as_str(),
        display_name: card["displayName"].as_str().unwrap_or(&name).to_string(),
        invoice_timing: card["invoiceTiming"]
            .as_str()
            .unwrap_or("IN_ARREARS")
            .to_string(),
        rate_card_details: WireCard(json!({ wire_key(kind): wire })),
        tag: card["tag"].as_str().map(str::to_string),
        currencies: currencies_of(card),
        reference_id: plan_id.to_string(),
        reference_type: "PRICE_PLAN",
        price_plan_id: plan_id.to_string(),
        name,
    }
}

/// Every card of a version, by name.
pub fn cards_of(v: &PlanVersion) -> Vec<RateCardBody> {
    let mut cards: Vec<RateCardBody> = CardKind::ALL
        .into_iter()
        .flat_map(|kind| {
            kind.cards_in(&v.definition)
                .into_iter()
                .map(move |c| card_body(&v.plan_id, kind, c))
        })
        .collect();
    cards.sort_by(|a, b| a.name.cmp(&b.name));
    cards
}

/// One operation of Togai's request translated to billrun's operations file, or why
/// it cannot be (a 400 message naming `operations[i]` and the field).
fn to_core_operation(i: usize, op: &Value) -> Result<(Value, Option<&'static str>), String> {
    let at = format!("operations[{i}]");
    let Some(op) = op.as_object() else {
        return Err(format!("{at}: expected an object"));
    };
    let mut out = op.clone();
    let Some(data) = op.get("rateCard").filter(|v| !v.is_null()) else {
        return Ok((Value::Object(out), None));
    };
    let Some(data) = data.as_object() else {
        return Err(format!("{at}.rateCard: expected an object"));
    };
    let label = op
        .get("rateCardName")
        .and_then(Value::as_str)
        .map_or(String::new(), |n| format!(" (card {n})"));
    let type_name = data.get("type").and_then(Value::as_str);
    let Some(details) = data.get("rateCardDetails").and_then(Value::as_object) else {
        return Err(format!(
            "{at}.rateCard.rateCardDetails{label}: required, an object with the card under \
             its kind's key (usageRateCard, fixedFeeRateCard, ...)"
        ));
    };
    let mut keys = details.iter().filter(|(_, v)| !v.is_null());
    let (Some((key, inner)), None) = (keys.next(), keys.next()) else {
        return Err(format!(
            "{at}.rateCard.rateCardDetails{label}: expected exactly one card (usageRateCard, \
             fixedFeeRateCard, licenseRateCard, minimumCommitmentRateCard or creditGrantRateCard)"
        ));
    };
    let path = format!("{at}.rateCard.rateCardDetails.{key}");
    let Some(&(kind, key)) = KINDS.iter().find(|(_, k)| *k == key.as_str()) else {
        return Err(format!(
            "{path}{label}: unknown kind of rate card; expected usageRateCard, \
             fixedFeeRateCard, licenseRateCard, minimumCommitmentRateCard, creditGrantRateCard, \
             billingEntitlementRateCard or entitlementOverageRateCard"
        ));
    };
    if let Some(t) = type_name {
        if t != kind.as_str() {
            return Err(format!(
                "{at}.rateCard.type{label}: {t} does not match rateCardDetails.{key} (a {} card)",
                kind.as_str()
            ));
        }
    }
    let Some(inner) = inner.as_object() else {
        return Err(format!("{path}{label}: expected an object"));
    };
    let mut card: Map<String, Value> = inner.clone();
    for field in ["displayName", "tag"] {
        if let Some(v) = data.get(field).filter(|v| !v.is_null()) {
            card.entry(field).or_insert_with(|| v.clone());
        }
    }
    let timing = data.get("invoiceTiming").and_then(Value::as_str);
    if kind == CardKind::MinimumCommitment {
        if let Some(t) = timing.filter(|t| *t != "IN_ARREARS") {
            return Err(format!(
                "{at}.rateCard.invoiceTiming{label}: {t}: a minimum commitment is settled \
                 IN_ARREARS"
            ));
        }
    } else if let Some(t) = timing {
        match card.get("invoiceTiming").and_then(Value::as_str) {
            Some(own) if own != t => {
                return Err(format!(
                    "{at}.rateCard.invoiceTiming{label}: {t} differs from the card's own \
                     invoiceTiming {own}"
                ))
            }
            _ => {
                card.insert("invoiceTiming".into(), json!(t));
            }
        }
    }
    let id_field = match kind {
        CardKind::Usage => Some("usageMeterId"),
        CardKind::FixedFee | CardKind::License | CardKind::CreditGrant => Some("id"),
        CardKind::BillingEntitlement | CardKind::EntitlementOverage => Some("featureId"),
        CardKind::MinimumCommitment => None,
    };
    if let (Some(field), Some(billable)) =
        (id_field, data.get("billableId").and_then(Value::as_str))
    {
        match card.get(field).and_then(Value::as_str) {
            Some(own) if own != billable => {
                return Err(format!(
                    "{at}.rateCard.billableId{label}: {billable:?} differs from the card's \
                     {field} {own:?}"
                ))
            }
            _ => {
                card.insert(field.into(), json!(billable));
            }
        }
    }
    let mut core = Map::new();
    if type_name.is_some() {
        core.insert("type".into(), json!(kind.as_str()));
    }
    core.insert("rateCardDetails".into(), Value::Object(card));
    out.insert("rateCard".into(), Value::Object(core));
    Ok((Value::Object(out), Some(key)))
}

/// Togai's `BulkRateCardOperationsRequest` as billrun's operations file, with each
/// operation's `RateCardDetails` key (to give error paths back as the client sent
/// them). Errors: every operation that cannot be translated, one a line.
pub fn to_core_operations(request: &Value) -> Result<(Value, Vec<Option<&'static str>>), String> {
    let Some(ops) = request.get("operations").and_then(Value::as_array) else {
        return Err("operations: required, a list of rate card operations".into());
    };
    let mut out = Vec::new();
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match to_core_operation(i, op) {
            Ok((op, key)) => {
                out.push(op);
                keys.push(key);
            }
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok((json!({ "operations": out }), keys))
    } else {
        Err(problems.join("\n"))
    }
}

/// The rate cards of the plan's latest version, by name, a page at a time.
#[utoipa::path(get, path = "/v2/price_plans/{price_plan_id}/rate_cards", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name"), PageQuery),
    responses(
        (status = 200, description = "a page of rate cards", body = RateCardPage),
        (status = 404, description = "no such plan in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> Result<Json<RateCardPage>, ApiError> {
    let v = plans::get_version(&state.pool, &who.org, &id, None).await?;
    let (data, next_token, _) = q.page(cards_of(&v), |c| c.name.as_str())?;
    Ok(Json(RateCardPage { data, next_token }))
}

/// Applies Togai's bulk rate card operations to the plan's DRAFT, all or nothing
/// (audited as `plan.rate_cards`); on a plan whose latest version is finalized they
/// open the next version as a DRAFT. Answers every card of the DRAFT.
#[utoipa::path(post, path = "/v2/price_plans/{price_plan_id}/rate_cards", tag = "price plans",
    params(("price_plan_id" = String, Path, description = "the plan's name")),
    request_body(content = Object, description = "Togai's BulkRateCardOperationsRequest"),
    responses(
        (status = 200, description = "applied", body = BulkRateCardOperationsResponse),
        (status = 400, description = "operations refused, each named with its fields; nothing changed", body = ErrorBody),
        (status = 404, description = "no such plan in the organisation", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn bulk(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Body(request): Body<Value>,
) -> Result<Json<BulkRateCardOperationsResponse>, ApiError> {
    let count = request["operations"].as_array().map_or(0, Vec::len);
    let applied = match to_core_operations(&request) {
        Err(message) => Err(ApiError::invalid(message)),
        Ok((ops, keys)) => {
            match plans::apply_rate_card_operations(&state.pool, &who.org, &id, &ops).await {
                Ok(a) => Ok(a),
                Err(RateCardsError::Operations(mut errors)) => {
                    for e in &mut errors.0 {
                        let key = e.operation.and_then(|i| keys.get(i).copied().flatten());
                        if let Some(key) = key {
                            for f in &mut e.errors {
                                if let Some(rest) = f.path.strip_prefix("rateCard.rateCardDetails")
                                {
                                    f.path = format!("rateCard.rateCardDetails.{key}{rest}");
                                }
                            }
                        }
                    }
                    Err(ApiError::invalid(format!(
                        "the rate card operations were refused, nothing was changed:\n{errors}"
                    )))
                }
                Err(e) => Err(ApiError::from(e)),
            }
        }
    };
    let details = match &applied {
        Ok(a) => json!({ "operations": count, "version": a.version }),
        Err(_) => json!({ "operations": count }),
    };
    let applied = audited(
        &state,
        &who,
        change("plan.rate_cards", &id),
        details,
        applied,
    )
    .await?;
    let v = plans::get_version(&state.pool, &who.org, &id, Some(applied.version)).await?;
    Ok(Json(BulkRateCardOperationsResponse {
        rate_cards: cards_of(&v),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_json_numbers_and_string_maps_stay_strings() {
        let card = json!({"rateValues": [{"currency": "USD", "rate": "0.10", "rateConfig":
            {"minimumRate": "5"}}], "startAfter": "1000", "name": "x"});
        let text = serde_json::to_string(&WireCard(card)).unwrap();
        assert_eq!(
            text,
            r#"{"name":"x","rateValues":[{"currency":"USD","rate":0.10,"rateConfig":{"minimumRate":"5"}}],"startAfter":1000}"#
        );
    }

    #[test]
    fn a_togai_operation_is_nested_one_level_less_for_billrun() {
        let req = json!({"operations": [{
            "actionType": "CREATE", "rateCardName": "calls",
            "rateCard": {"billableId": "api_calls", "type": "USAGE", "invoiceTiming": "IN_ARREARS",
                         "displayName": "API calls",
                         "rateCardDetails": {"usageRateCard": {"name": "calls", "ratePlan": {}, "rateValues": []}}}
        }]});
        let (ops, keys) = to_core_operations(&req).unwrap();
        assert_eq!(keys, [Some("usageRateCard")]);
        assert_eq!(
            ops["operations"][0]["rateCard"],
            json!({"type": "USAGE", "rateCardDetails": {"name": "calls", "ratePlan": {}, "rateValues": [],
                   "usageMeterId": "api_calls", "invoiceTiming": "IN_ARREARS", "displayName": "API calls"}})
        );
    }

    #[test]
    fn entitlement_cards_take_their_feature_and_mismatched_kinds_are_refused_by_name() {
        let op = |t: &str, key: &str| {
            json!({"operations": [{"actionType": "CREATE", "rateCardName": "e1",
                "rateCard": {"billableId": "f", "type": t, "invoiceTiming": "IN_ARREARS",
                             "rateCardDetails": {key: {"name": "e1"}}}}]})
        };
        let (ops, _) =
            to_core_operations(&op("BILLING_ENTITLEMENT", "billingEntitlementRateCard")).unwrap();
        assert_eq!(
            ops["operations"][0]["rateCard"]["rateCardDetails"]["featureId"],
            json!("f")
        );
        let (ops, _) =
            to_core_operations(&op("ENTITLEMENT_OVERAGE", "entitlementOverageRateCard")).unwrap();
        assert_eq!(
            ops["operations"][0]["rateCard"]["type"],
            json!("ENTITLEMENT_OVERAGE")
        );
        let e = to_core_operations(&op("USAGE", "fixedFeeRateCard")).unwrap_err();
        assert!(
            e.contains("USAGE does not match rateCardDetails.fixedFeeRateCard"),
            "{e}"
        );
    }
}
