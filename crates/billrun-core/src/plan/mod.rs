//! Price plans: Togai's Price Plan V2 JSON, parsed and validated into types.
//!
//! A team leaving Togai brings its plans as Togai-shaped JSON; [`Plan::from_json`]
//! reads that shape (camelCase field names, offsets and rates as numbers or strings)
//! and reports every problem at once as [`FieldErrors`] whose paths name the field
//! (`usageRateCards[0].ratePlan.slabs[2].startAfter`). A [`Plan`] that exists is
//! valid. [`Plan::to_json`] writes the canonical form that billrun stores; parsing
//! it again gives the same plan, and a golden test pins it so that stored plans keep
//! their meaning.
//!
//! Numbers are read exactly: rates given as strings are parsed digit for digit;
//! rates given as JSON numbers are read from serde_json's shortest representation
//! of them (`0.10` reads as `0.1`), never through arithmetic on floats. The canonical
//! form writes every decimal as a JSON string, so it survives any JSON tooling.
//!
//! Decisions where Togai's public material is silent:
//! - Card names are unique across all card kinds of a plan.
//! - A card may lack a rate for one of the plan's currencies (Togai's cards carry
//!   their own currency list); a currency that *no* card prices is an error, reported
//!   on every card. [`Plan::cards_without_rate`] lists the cards that cannot price a
//!   given invoice currency, so that an account is not attached in a currency the
//!   plan cannot fully bill.
//! - `invoiceTiming` defaults to IN_ARREARS. Usage cards can only be IN_ARREARS (usage
//!   is known after the cycle); PREPAID is only for credit grants; the minimum
//!   commitment is always settled in arrears.
//! - A license's `usageCycle` may not be longer than the plan's pricing cycle.
//! - `null` is the same as an absent field. Unknown fields are errors, and so are
//!   Togai's card kinds billrun does not bill yet (entitlement cards).
//! - A credit grant's `expiryDuration` is kept verbatim, not interpreted (credits are
//!   applied in a later stage).

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::cycle::{Interval, PricingCycleConfig};
use crate::error::{FieldError, FieldErrors};
use crate::money::Currency;
use crate::rating::{PriceType, PricingModel, RatePlan, Rates, Slab};

/// When a card's charge is invoiced (Togai's `invoiceTiming`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvoiceTiming {
    /// On the invoice that opens the cycle.
    InAdvance,
    /// On the invoice that closes the cycle.
    InArrears,
    /// Granted once the invoice that opens the cycle is paid (credit grants).
    Prepaid,
}

impl InvoiceTiming {
    /// Togai's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceTiming::InAdvance => "IN_ADVANCE",
            InvoiceTiming::InArrears => "IN_ARREARS",
            InvoiceTiming::Prepaid => "PREPAID",
        }
    }

    /// Whether the charge goes on the invoice that opens its cycle.
    pub fn is_billed_in_advance(&self) -> bool {
        !matches!(self, InvoiceTiming::InArrears)
    }
}

/// The kinds of rate card billrun bills: Togai's `RateCardType` (a bulk operation's
/// `rateCard.type`), less the entitlement kinds billrun does not bill yet. Serialized
/// as Togai writes it (`USAGE`, `FIXED_FEE`, `LICENSE`, `MINIMUM_COMMITMENT`,
/// `CREDIT_GRANT`, see [`Self::as_str`]); ordered as the plan JSON lists the kinds.
///
/// billrun says "kind" where Togai says "type" because a card's own `type` field
/// means something else (a fixed fee's ONE_TIME or RECURRING).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CardKind {
    /// A usage meter priced by a rate plan (`usageRateCards`).
    Usage,
    /// A flat fee, once or recurring (`fixedFeeRateCards`).
    FixedFee,
    /// Seats priced by a rate plan (`licenseRateCards`).
    License,
    /// The minimum the plan bills per cycle, its true-up (`minimumCommitment`, at
    /// most one).
    MinimumCommitment,
    /// Credits granted (and possibly sold) once or each cycle
    /// (`creditGrantRateCards`).
    CreditGrant,
}

impl CardKind {
    /// Every kind, in the order of the plan JSON.
    pub const ALL: [CardKind; 5] = [
        CardKind::Usage,
        CardKind::FixedFee,
        CardKind::License,
        CardKind::MinimumCommitment,
        CardKind::CreditGrant,
    ];

    /// Togai's name, as written in an operations file's `rateCard.type` (and by serde).
    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::Usage => "USAGE",
            CardKind::FixedFee => "FIXED_FEE",
            CardKind::License => "LICENSE",
            CardKind::MinimumCommitment => "MINIMUM_COMMITMENT",
            CardKind::CreditGrant => "CREDIT_GRANT",
        }
    }

    /// The key of the plan JSON that holds cards of this kind.
    pub fn plan_key(self) -> &'static str {
        match self {
            CardKind::Usage => "usageRateCards",
            CardKind::FixedFee => "fixedFeeRateCards",
            CardKind::License => "licenseRateCards",
            CardKind::MinimumCommitment => "minimumCommitment",
            CardKind::CreditGrant => "creditGrantRateCards",
        }
    }

    /// The cards of this kind in a plan's JSON (for the minimum commitment, none or
    /// one).
    pub fn cards_in(self, plan: &Value) -> Vec<&Value> {
        match (self, plan.get(self.plan_key())) {
            (CardKind::MinimumCommitment, Some(mc)) if mc.is_object() => vec![mc],
            (_, Some(Value::Array(cards))) => cards.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// [`Self::cards_in`], to edit them.
    pub fn cards_in_mut(self, plan: &mut Value) -> Vec<&mut Value> {
        match (self, plan.get_mut(self.plan_key())) {
            (CardKind::MinimumCommitment, Some(mc)) if mc.is_object() => vec![mc],
            (_, Some(Value::Array(cards))) => cards.iter_mut().collect(),
            _ => Vec::new(),
        }
    }
}

/// Fixed fees and credit grants: once, or every few cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Recurrence {
    /// `ONE_TIME`: only in the association's first cycle (index 0).
    OneTime,
    /// `RECURRING` with `recurrenceConfig{interval, offset}`: in cycles whose index
    /// is at least `offset` and a multiple of `interval` past it.
    Recurring {
        /// Every this many cycles, at least 1.
        interval: u32,
        /// The first cycle index charged.
        offset: u32,
    },
}

impl Recurrence {
    /// Whether the card charges in the cycle with this index (0 = first cycle).
    pub fn applies_in(&self, cycle_index: u32) -> bool {
        match *self {
            Recurrence::OneTime => cycle_index == 0,
            Recurrence::Recurring { interval, offset } => {
                cycle_index >= offset && (cycle_index - offset) % interval == 0
            }
        }
    }
}

/// What every card has: its identity on the plan and on invoices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CardInfo {
    /// Togai's `id` (optional; a license card's license id).
    pub id: Option<String>,
    /// Unique in the plan.
    pub name: String,
    /// Shown on invoices instead of the name.
    pub display_name: Option<String>,
    /// Groups the card's lines on invoices.
    pub tag: Option<String>,
    /// When the card is invoiced.
    pub invoice_timing: InvoiceTiming,
}

impl CardInfo {
    /// The name shown on invoices: `displayName`, else `name`.
    pub fn display(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

/// A `usageRateCards` entry: a usage meter's quantity priced by a rate plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRateCard {
    /// Identity and timing.
    pub card: CardInfo,
    /// The usage meter whose aggregate is priced.
    pub usage_meter_id: String,
    /// Slabs and pricing model.
    pub rate_plan: RatePlan,
    /// Prices per currency.
    pub rate_values: BTreeMap<Currency, Rates>,
}

/// A `fixedFeeRateCards` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedFeeRateCard {
    /// Identity and timing.
    pub card: CardInfo,
    /// Togai's `type` (ONE_TIME / RECURRING) and `recurrenceConfig`.
    pub recurrence: Recurrence,
    /// Charge billed days / cycle days in a partial cycle.
    pub enable_proration: bool,
    /// The fee per currency.
    pub rate_values: BTreeMap<Currency, Decimal>,
}

/// What happens when a license grant would exceed `maxQuantity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaxQuantityBreachAction {
    /// Refuse further grants.
    DoNothing,
}

/// How removed seats are refunded (Togai's `proratedRefundMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProratedRefundMode {
    /// No refund.
    None,
    /// As credits.
    Credits,
    /// As a payment.
    Payment,
    /// Into the wallet.
    Wallet,
}

/// A `licenseRateCards` entry: seats priced by a rate plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRateCard {
    /// Identity and timing. The license id is `id`, else `name`.
    pub card: CardInfo,
    /// Charge each quantity for the days it was in force.
    pub enable_proration: bool,
    /// Splits the pricing cycle into windows billed separately.
    pub usage_cycle: Option<Interval>,
    /// `config.maxQuantity`.
    pub max_quantity: Option<Decimal>,
    /// `config.maxQuantityBreachAction`.
    pub max_quantity_breach_action: Option<MaxQuantityBreachAction>,
    /// `proratedRefundMode`.
    pub prorated_refund_mode: Option<ProratedRefundMode>,
    /// Slabs and pricing model.
    pub rate_plan: RatePlan,
    /// Prices per currency.
    pub rate_values: BTreeMap<Currency, Rates>,
}

impl LicenseRateCard {
    /// The license whose quantities this card prices: the card's `id`, else its name.
    pub fn license_id(&self) -> &str {
        self.card.id.as_deref().unwrap_or(&self.card.name)
    }
}

/// `minimumCommitment`: the least the plan bills per cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinimumCommitment {
    /// Optional name (the true-up line's card name defaults to `minimum_commitment`).
    pub name: Option<String>,
    /// Shown on the true-up line.
    pub display_name: Option<String>,
    /// Groups the true-up line.
    pub tag: Option<String>,
    /// The commitment per currency.
    pub rate_values: BTreeMap<Currency, Decimal>,
}

impl MinimumCommitment {
    /// The name used on charge lines.
    pub fn card_name(&self) -> &str {
        self.name.as_deref().unwrap_or("minimum_commitment")
    }

    /// The name shown on invoices.
    pub fn display(&self) -> &str {
        self.display_name.as_deref().unwrap_or("Minimum commitment")
    }
}

/// When granted credits expire (Togai's `expiryType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpiryType {
    /// At the end of the pricing cycle they were granted in.
    PricingCycle,
    /// Never.
    NoExpiry,
    /// After `expiryDuration`.
    Custom,
}

/// `grantDetails` of a credit grant card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantDetails {
    /// Lower numbers are consumed first; at least 1.
    pub priority: u32,
    /// When the credits expire.
    pub expiry_type: ExpiryType,
    /// Togai's `expiryDuration`, kept verbatim (required for CUSTOM).
    pub expiry_duration: Option<Value>,
    /// Which cards the credits apply to (empty = all).
    pub applicable_entity_ids: Vec<String>,
}

/// One currency of a credit grant: how many credits and what they cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditGrantRate {
    /// Credits granted, positive.
    pub credit_amount: Decimal,
    /// The price slabs, rated on `credit_amount`.
    pub rate_plan: RatePlan,
    /// Their rates.
    pub rates: Rates,
}

/// A `creditGrantRateCards` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditGrantRateCard {
    /// Identity and timing.
    pub card: CardInfo,
    /// Togai's `type` and `recurrenceConfig`.
    pub recurrence: Recurrence,
    /// Priority, expiry, eligibility.
    pub grant_details: GrantDetails,
    /// Credits and price per currency (`rateDetails.currencySlabRateDetails`).
    pub rate_details: BTreeMap<Currency, CreditGrantRate>,
}

/// A validated Togai Price Plan V2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The plan's name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The currencies accounts on this plan may be invoiced in.
    pub supported_currencies: Vec<Currency>,
    /// How the calendar is cut into cycles.
    pub pricing_cycle: PricingCycleConfig,
    /// `usageRateCards`.
    pub usage_cards: Vec<UsageRateCard>,
    /// `fixedFeeRateCards`.
    pub fixed_fee_cards: Vec<FixedFeeRateCard>,
    /// `licenseRateCards`.
    pub license_cards: Vec<LicenseRateCard>,
    /// `minimumCommitment`.
    pub minimum_commitment: Option<MinimumCommitment>,
    /// `creditGrantRateCards`.
    pub credit_grant_cards: Vec<CreditGrantRateCard>,
}

/// What a plan needs from storage to be billed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanRequirements {
    /// Usage meters whose aggregates the usage cards price.
    pub usage_meter_ids: BTreeSet<String>,
    /// Licenses whose daily quantities the license cards price.
    pub license_ids: BTreeSet<String>,
}

impl Plan {
    /// Parses and validates Togai's JSON shape, reporting every error found.
    pub fn from_json(v: &Value) -> Result<Plan, FieldErrors> {
        let mut errs = Errs::default();
        let plan = parse_plan(v, &mut errs);
        match plan {
            Some(plan) if errs.0.is_empty() => Ok(plan),
            _ => Err(FieldErrors(errs.0)),
        }
    }

    /// The canonical Togai-shaped JSON of this plan (decimals as strings).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        m.insert("type".into(), json!("BILLING"));
        let currencies: Vec<_> = self.supported_currencies.iter().map(|c| c.code()).collect();
        m.insert("supportedCurrencies".into(), json!(currencies));
        m.insert("pricingCycleConfig".into(), self.pricing_cycle.to_json());
        let lists = [
            (
                "usageRateCards",
                self.usage_cards.iter().map(usage_json).collect::<Vec<_>>(),
            ),
            (
                "fixedFeeRateCards",
                self.fixed_fee_cards.iter().map(fixed_fee_json).collect(),
            ),
            (
                "licenseRateCards",
                self.license_cards.iter().map(license_json).collect(),
            ),
        ];
        for (key, cards) in lists {
            if !cards.is_empty() {
                m.insert(key.into(), Value::Array(cards));
            }
        }
        if let Some(mc) = &self.minimum_commitment {
            m.insert("minimumCommitment".into(), commitment_json(mc));
        }
        if !self.credit_grant_cards.is_empty() {
            let cards = self
                .credit_grant_cards
                .iter()
                .map(credit_grant_json)
                .collect();
            m.insert("creditGrantRateCards".into(), Value::Array(cards));
        }
        Value::Object(m)
    }

    /// The usage meters and licenses whose quantities billing this plan needs.
    pub fn requirements(&self) -> PlanRequirements {
        PlanRequirements {
            usage_meter_ids: self
                .usage_cards
                .iter()
                .map(|c| c.usage_meter_id.clone())
                .collect(),
            license_ids: self
                .license_cards
                .iter()
                .map(|c| c.license_id().to_string())
                .collect(),
        }
    }

    /// Names of the cards that charge but have no rate in `currency` (the minimum
    /// commitment is not one: without a rate it simply does not apply). An account
    /// invoiced in `currency` can be billed on this plan only if this is empty.
    pub fn cards_without_rate(&self, currency: Currency) -> Vec<&str> {
        let usage = self
            .usage_cards
            .iter()
            .filter(|c| !c.rate_values.contains_key(&currency));
        let fixed = self
            .fixed_fee_cards
            .iter()
            .filter(|c| !c.rate_values.contains_key(&currency));
        let license = self
            .license_cards
            .iter()
            .filter(|c| !c.rate_values.contains_key(&currency));
        let credit = self
            .credit_grant_cards
            .iter()
            .filter(|c| !c.rate_details.contains_key(&currency));
        usage
            .map(|c| c.card.name.as_str())
            .chain(fixed.map(|c| c.card.name.as_str()))
            .chain(license.map(|c| c.card.name.as_str()))
            .chain(credit.map(|c| c.card.name.as_str()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------
// Reading JSON: small helpers that record errors with their paths and carry on, so
// that one pass reports everything.

#[derive(Default)]
struct Errs(Vec<FieldError>);

impl Errs {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    fn extend(&mut self, errors: FieldErrors, prefix: &str) {
        self.0
            .extend(errors.0.into_iter().map(|e| e.within(prefix)));
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// An object being read, with the path it sits at.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

/// Keys Togai has but billrun does not bill yet: a clearer error than "unknown".
const NOT_YET_SUPPORTED: &[&str] = &["billingEntitlementRateCards", "entitlementOverageRateCards"];

fn object<'a>(v: &'a Value, path: &str, allowed: &[&str], errs: &mut Errs) -> Option<Obj<'a>> {
    let Some(map) = v.as_object() else {
        errs.add(path, "expected an object");
        return None;
    };
    for key in map.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let message = if NOT_YET_SUPPORTED.contains(&key.as_str()) {
            format!("{key} are not supported by billrun yet")
        } else {
            format!("unknown field; expected one of: {}", allowed.join(", "))
        };
        errs.add(&join(path, key), message);
    }
    Some(Obj {
        map,
        path: path.to_string(),
    })
}

impl<'a> Obj<'a> {
    fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value of `key`, `None` if absent or null.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn opt<T>(
        &self,
        key: &str,
        errs: &mut Errs,
        parse: impl Fn(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let v = self.get(key)?;
        parse(v).map_err(|m| errs.add(&self.at(key), m)).ok()
    }

    fn req<T>(
        &self,
        key: &str,
        errs: &mut Errs,
        parse: impl Fn(&Value) -> Result<T, String>,
    ) -> Option<T> {
        if self.get(key).is_none() {
            errs.add(&self.at(key), "is required");
            return None;
        }
        self.opt(key, errs, parse)
    }

    /// The elements of the array at `key` with their paths (absent = empty).
    fn list(&self, key: &str, errs: &mut Errs) -> Vec<(String, &'a Value)> {
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{}[{i}]", self.at(key)), v))
                .collect(),
            Some(_) => {
                errs.add(&self.at(key), "expected an array");
                Vec::new()
            }
        }
    }
}

fn p_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err("expected a string".into()),
    }
}

fn p_name(v: &Value) -> Result<String, String> {
    let s = p_string(v)?;
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s)
}

fn p_bool(v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| "expected true or false".into())
}

/// A whole number, as a JSON number or a string of digits.
fn p_u32(v: &Value) -> Result<u32, String> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{v} is not a whole number >= 0"))
}

/// An exact decimal from a JSON number or string (module docs: no float arithmetic).
fn p_decimal(v: &Value) -> Result<Decimal, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("expected a number or a numeric string".into()),
    };
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text)
    } else {
        Decimal::from_str_exact(&text)
    };
    parsed.map_err(|_| format!("{v} is not a decimal number of at most 28 significant digits"))
}

fn p_non_negative(v: &Value) -> Result<Decimal, String> {
    let d = p_decimal(v)?;
    if d < Decimal::ZERO {
        return Err(format!("{d} must not be negative"));
    }
    Ok(d)
}

fn p_positive(v: &Value) -> Result<Decimal, String> {
    let d = p_decimal(v)?;
    if d <= Decimal::ZERO {
        return Err(format!("{d} must be positive"));
    }
    Ok(d)
}

fn p_currency(v: &Value) -> Result<Currency, String> {
    Currency::parse(&p_string(v)?).map_err(|e| e.message)
}

fn p_choice<T: Copy>(v: &Value, choices: &[(&str, T)]) -> Result<T, String> {
    let s = p_string(v)?;
    choices
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<_> = choices.iter().map(|(n, _)| *n).collect();
            format!("unknown value {s:?}: expected one of {}", names.join(", "))
        })
}

fn p_interval(v: &Value) -> Result<Interval, String> {
    Interval::parse(&p_string(v)?).map_err(|e| e.message)
}

const TIMINGS: &[(&str, InvoiceTiming)] = &[
    ("IN_ADVANCE", InvoiceTiming::InAdvance),
    ("IN_ARREARS", InvoiceTiming::InArrears),
    ("PREPAID", InvoiceTiming::Prepaid),
];

#[derive(Clone, Copy, PartialEq)]
enum RecurrenceType {
    OneTime,
    Recurring,
}

const RECURRENCE_TYPES: &[(&str, RecurrenceType)] = &[
    ("ONE_TIME", RecurrenceType::OneTime),
    ("RECURRING", RecurrenceType::Recurring),
];

const PRICING_MODELS: &[(&str, PricingModel)] = &[
    ("TIERED", PricingModel::Tiered),
    ("VOLUME", PricingModel::Volume),
];

#[derive(Clone, Copy)]
enum PriceKind {
    PerUnit,
    Flat,
    Package,
}

const PRICE_TYPES: &[(&str, PriceKind)] = &[
    ("PER_UNIT", PriceKind::PerUnit),
    ("FLAT", PriceKind::Flat),
    ("PACKAGE", PriceKind::Package),
];

const EXPIRY_TYPES: &[(&str, ExpiryType)] = &[
    ("PRICING_CYCLE", ExpiryType::PricingCycle),
    ("NO_EXPIRY", ExpiryType::NoExpiry),
    ("CUSTOM", ExpiryType::Custom),
];

const BREACH_ACTIONS: &[(&str, MaxQuantityBreachAction)] =
    &[("DO_NOTHING", MaxQuantityBreachAction::DoNothing)];

const REFUND_MODES: &[(&str, ProratedRefundMode)] = &[
    ("NONE", ProratedRefundMode::None),
    ("CREDITS", ProratedRefundMode::Credits),
    ("PAYMENT", ProratedRefundMode::Payment),
    ("WALLET", ProratedRefundMode::Wallet),
];

fn choice_name<T: Copy + PartialEq>(choices: &[(&'static str, T)], t: T) -> &'static str {
    choices
        .iter()
        .find(|(_, c)| *c == t)
        .map(|(n, _)| *n)
        .expect("every variant is listed")
}

// ---------------------------------------------------------------------------------
// The plan and its cards.

const PLAN_KEYS: &[&str] = &[
    "name",
    "description",
    "type",
    "supportedCurrencies",
    "pricingCycleConfig",
    "usageRateCards",
    "fixedFeeRateCards",
    "licenseRateCards",
    "minimumCommitment",
    "creditGrantRateCards",
];

fn parse_plan(v: &Value, errs: &mut Errs) -> Option<Plan> {
    let o = object(v, "", PLAN_KEYS, errs)?;
    let name = o.req("name", errs, p_name);
    let description = o.opt("description", errs, p_string);
    o.opt("type", errs, |v| p_choice(v, &[("BILLING", ())]));
    let supported_currencies = parse_supported_currencies(&o, errs);
    let pricing_cycle = match o.get("pricingCycleConfig") {
        None => {
            errs.add("pricingCycleConfig", "is required");
            None
        }
        Some(pc) => PricingCycleConfig::from_json(pc)
            .map_err(|e| errs.0.push(e.within("pricingCycleConfig")))
            .ok(),
    };
    let usage_cards = parse_list(&o, "usageRateCards", errs, parse_usage_card);
    let fixed_fee_cards = parse_list(&o, "fixedFeeRateCards", errs, parse_fixed_fee_card);
    let license_cards = parse_list(&o, "licenseRateCards", errs, parse_license_card);
    let minimum_commitment = o
        .get("minimumCommitment")
        .and_then(|mc| parse_commitment(mc, &o.at("minimumCommitment"), errs));
    let credit_grant_cards = parse_list(&o, "creditGrantRateCards", errs, parse_credit_grant_card);

    let plan = Plan {
        name: name?,
        description,
        supported_currencies: supported_currencies?,
        pricing_cycle: pricing_cycle?,
        usage_cards,
        fixed_fee_cards,
        license_cards,
        minimum_commitment,
        credit_grant_cards,
    };
    check_unique_names(&plan, errs);
    check_currencies(&plan, errs);
    check_usage_cycles(&plan, errs);
    Some(plan)
}

fn parse_supported_currencies(o: &Obj, errs: &mut Errs) -> Option<Vec<Currency>> {
    if o.get("supportedCurrencies").is_none() {
        errs.add(
            "supportedCurrencies",
            "is required: list at least one currency",
        );
        return None;
    }
    let items = o.list("supportedCurrencies", errs);
    if items.is_empty() {
        errs.add("supportedCurrencies", "list at least one currency");
    }
    let mut out = Vec::new();
    for (path, v) in items {
        match p_currency(v) {
            Ok(c) if out.contains(&c) => errs.add(&path, format!("{c} is listed twice")),
            Ok(c) => out.push(c),
            Err(m) => errs.add(&path, m),
        }
    }
    Some(out)
}

/// Parses every element of the array at `key`; elements with errors are dropped
/// (their errors are recorded, so the plan is refused anyway).
fn parse_list<T>(
    o: &Obj,
    key: &str,
    errs: &mut Errs,
    parse: fn(&Value, &str, &mut Errs) -> Option<T>,
) -> Vec<T> {
    o.list(key, errs)
        .into_iter()
        .filter_map(|(path, v)| parse(v, &path, errs))
        .collect()
}

/// Reads the fields every card has. `timings` are those allowed for this kind.
fn parse_card_info(o: &Obj, errs: &mut Errs, timings: &[InvoiceTiming]) -> Option<CardInfo> {
    let id = o.opt("id", errs, p_name);
    let name = o.req("name", errs, p_name);
    let display_name = o.opt("displayName", errs, p_string);
    let tag = o.opt("tag", errs, p_string);
    let invoice_timing = o
        .opt("invoiceTiming", errs, |v| {
            let t = p_choice(v, TIMINGS)?;
            if timings.contains(&t) {
                Ok(t)
            } else {
                let allowed: Vec<_> = timings.iter().map(|t| t.as_str()).collect();
                Err(format!(
                    "{} is not possible for this card: expected {}",
                    t.as_str(),
                    allowed.join(" or ")
                ))
            }
        })
        .unwrap_or(InvoiceTiming::InArrears);
    Some(CardInfo {
        id,
        name: name?,
        display_name,
        tag,
        invoice_timing,
    })
}

/// `type` on usage and license cards names the card kind; only this kind is valid.
fn check_kind_type(o: &Obj, errs: &mut Errs, expected: &str) {
    o.opt("type", errs, |v| {
        let s = p_string(v)?;
        if s == expected {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not the type of this card: expected {expected} (or no type)"
            ))
        }
    });
}

const USAGE_KEYS: &[&str] = &[
    "id",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "usageMeterId",
    "ratePlan",
    "rateValues",
];

fn parse_usage_card(v: &Value, path: &str, errs: &mut Errs) -> Option<UsageRateCard> {
    let o = object(v, path, USAGE_KEYS, errs)?;
    check_kind_type(&o, errs, "USAGE");
    let card = parse_card_info(&o, errs, &[InvoiceTiming::InArrears]);
    let usage_meter_id = o.req("usageMeterId", errs, p_name);
    let rate_plan = parse_rate_plan(&o, errs);
    let rate_values = parse_slab_rate_values(&o, rate_plan.as_ref(), errs);
    Some(UsageRateCard {
        card: card?,
        usage_meter_id: usage_meter_id?,
        rate_plan: rate_plan?,
        rate_values,
    })
}

const FIXED_FEE_KEYS: &[&str] = &[
    "id",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "enableProration",
    "recurrenceConfig",
    "rateValues",
];

fn parse_fixed_fee_card(v: &Value, path: &str, errs: &mut Errs) -> Option<FixedFeeRateCard> {
    let o = object(v, path, FIXED_FEE_KEYS, errs)?;
    let card = parse_card_info(
        &o,
        errs,
        &[InvoiceTiming::InAdvance, InvoiceTiming::InArrears],
    );
    let recurrence = parse_recurrence(&o, errs);
    let enable_proration = o.opt("enableProration", errs, p_bool).unwrap_or(false);
    let rate_values = parse_flat_rate_values(&o, errs);
    Some(FixedFeeRateCard {
        card: card?,
        recurrence: recurrence?,
        enable_proration,
        rate_values,
    })
}

const LICENSE_KEYS: &[&str] = &[
    "id",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "enableProration",
    "usageCycle",
    "config",
    "proratedRefundMode",
    "ratePlan",
    "rateValues",
];

fn parse_license_card(v: &Value, path: &str, errs: &mut Errs) -> Option<LicenseRateCard> {
    let o = object(v, path, LICENSE_KEYS, errs)?;
    check_kind_type(&o, errs, "LICENSE");
    let card = parse_card_info(
        &o,
        errs,
        &[InvoiceTiming::InAdvance, InvoiceTiming::InArrears],
    );
    let enable_proration = o.opt("enableProration", errs, p_bool).unwrap_or(false);
    let usage_cycle = o.opt("usageCycle", errs, p_interval);
    let (mut max_quantity, mut max_quantity_breach_action) = (None, None);
    if let Some(c) = o.get("config") {
        if let Some(c) = object(
            c,
            &o.at("config"),
            &["maxQuantity", "maxQuantityBreachAction"],
            errs,
        ) {
            max_quantity = c.opt("maxQuantity", errs, p_non_negative);
            max_quantity_breach_action = c.opt("maxQuantityBreachAction", errs, |v| {
                p_choice(v, BREACH_ACTIONS)
            });
        }
    }
    let prorated_refund_mode = o.opt("proratedRefundMode", errs, |v| p_choice(v, REFUND_MODES));
    let rate_plan = parse_rate_plan(&o, errs);
    let rate_values = parse_slab_rate_values(&o, rate_plan.as_ref(), errs);
    Some(LicenseRateCard {
        card: card?,
        enable_proration,
        usage_cycle,
        max_quantity,
        max_quantity_breach_action,
        prorated_refund_mode,
        rate_plan: rate_plan?,
        rate_values,
    })
}

fn parse_commitment(v: &Value, path: &str, errs: &mut Errs) -> Option<MinimumCommitment> {
    let o = object(v, path, &["name", "displayName", "tag", "rateValues"], errs)?;
    let name = o.opt("name", errs, p_name);
    let display_name = o.opt("displayName", errs, p_string);
    let tag = o.opt("tag", errs, p_string);
    let rate_values = parse_flat_rate_values(&o, errs);
    Some(MinimumCommitment {
        name,
        display_name,
        tag,
        rate_values,
    })
}

const CREDIT_GRANT_KEYS: &[&str] = &[
    "id",
    "name",
    "displayName",
    "tag",
    "type",
    "invoiceTiming",
    "recurrenceConfig",
    "grantDetails",
    "rateDetails",
];

fn parse_credit_grant_card(v: &Value, path: &str, errs: &mut Errs) -> Option<CreditGrantRateCard> {
    let o = object(v, path, CREDIT_GRANT_KEYS, errs)?;
    let all_timings = [
        InvoiceTiming::InAdvance,
        InvoiceTiming::InArrears,
        InvoiceTiming::Prepaid,
    ];
    let card = parse_card_info(&o, errs, &all_timings);
    let recurrence = parse_recurrence(&o, errs);
    let grant_details = match o.get("grantDetails") {
        Some(g) => parse_grant_details(g, &o.at("grantDetails"), errs),
        None => {
            errs.add(&o.at("grantDetails"), "is required");
            None
        }
    };
    let rate_details = match o.get("rateDetails") {
        Some(r) => parse_credit_rate_details(r, &o.at("rateDetails"), errs),
        None => {
            errs.add(&o.at("rateDetails"), "is required");
            BTreeMap::new()
        }
    };
    Some(CreditGrantRateCard {
        card: card?,
        recurrence: recurrence?,
        grant_details: grant_details?,
        rate_details,
    })
}

fn parse_grant_details(v: &Value, path: &str, errs: &mut Errs) -> Option<GrantDetails> {
    let keys = [
        "priority",
        "expiryType",
        "expiryDuration",
        "applicableEntityIds",
    ];
    let o = object(v, path, &keys, errs)?;
    let priority = o.req("priority", errs, |v| match p_u32(v)? {
        0 => Err("must be at least 1".into()),
        p => Ok(p),
    });
    let expiry_type = o.req("expiryType", errs, |v| p_choice(v, EXPIRY_TYPES));
    let expiry_duration = o.get("expiryDuration").cloned();
    if expiry_type == Some(ExpiryType::Custom) && expiry_duration.is_none() {
        errs.add(
            &o.at("expiryDuration"),
            "is required when expiryType is CUSTOM",
        );
    }
    let applicable_entity_ids = o
        .list("applicableEntityIds", errs)
        .into_iter()
        .filter_map(|(p, v)| p_name(v).map_err(|m| errs.add(&p, m)).ok())
        .collect();
    Some(GrantDetails {
        priority: priority?,
        expiry_type: expiry_type?,
        expiry_duration,
        applicable_entity_ids,
    })
}

fn parse_credit_rate_details(
    v: &Value,
    path: &str,
    errs: &mut Errs,
) -> BTreeMap<Currency, CreditGrantRate> {
    let mut out = BTreeMap::new();
    let Some(o) = object(v, path, &["pricingModel", "currencySlabRateDetails"], errs) else {
        return out;
    };
    let model = o.req("pricingModel", errs, |v| p_choice(v, PRICING_MODELS));
    let items = o.list("currencySlabRateDetails", errs);
    if items.is_empty() {
        errs.add(
            &o.at("currencySlabRateDetails"),
            "list the credits and price of at least one currency",
        );
    }
    for (path, v) in items {
        let Some(c) = object(v, &path, &["currency", "creditAmount", "slabDetails"], errs) else {
            continue;
        };
        let currency = c.req("currency", errs, p_currency);
        let credit_amount = c.req("creditAmount", errs, p_positive);
        let mut slabs = Vec::new();
        let mut rates = Vec::new();
        let keys = ["order", "startAfter", "priceType", "slabConfig", "rate"];
        for (i, (spath, sv)) in c.list("slabDetails", errs).into_iter().enumerate() {
            let Some(s) = object(sv, &spath, &keys, errs) else {
                continue;
            };
            let default_order = i as u32 + 1;
            if let (Some(slab), Some(rate)) = (
                parse_slab(&s, errs, default_order),
                s.req("rate", errs, p_non_negative),
            ) {
                slabs.push(slab);
                rates.push(rate);
            }
        }
        let rate_plan = model.and_then(|m| {
            RatePlan::new(m, slabs)
                .map_err(|e| errs.extend(rename_slabs(e, "slabDetails"), &path))
                .ok()
        });
        let rates = rate_plan.as_ref().and_then(|p| {
            Rates::new(p, rates, None, None)
                .map_err(|e| errs.extend(rename_slabs(e, "slabDetails"), &path))
                .ok()
        });
        if let (Some(currency), Some(credit_amount), Some(rate_plan), Some(rates)) =
            (currency, credit_amount, rate_plan, rates)
        {
            let rate = CreditGrantRate {
                credit_amount,
                rate_plan,
                rates,
            };
            if out.insert(currency, rate).is_some() {
                errs.add(&c.at("currency"), format!("{currency} is listed twice"));
            }
        }
    }
    out
}

/// Credit grants name their slabs `slabDetails`, not `slabs`/`slabRates`.
fn rename_slabs(errors: FieldErrors, to: &str) -> FieldErrors {
    let rename = |p: String| {
        for from in ["slabs", "slabRates"] {
            if let Some(rest) = p.strip_prefix(from) {
                return format!("{to}{rest}");
            }
        }
        p
    };
    FieldErrors(
        errors
            .0
            .into_iter()
            .map(|e| FieldError::new(rename(e.path), e.message))
            .collect(),
    )
}

/// `type` ONE_TIME | RECURRING and `recurrenceConfig{interval, offset}`.
fn parse_recurrence(o: &Obj, errs: &mut Errs) -> Option<Recurrence> {
    let kind = o.req("type", errs, |v| p_choice(v, RECURRENCE_TYPES))?;
    let config = o.get("recurrenceConfig");
    match (kind, config) {
        (RecurrenceType::OneTime, None) => Some(Recurrence::OneTime),
        (RecurrenceType::OneTime, Some(_)) => {
            errs.add(
                &o.at("recurrenceConfig"),
                "only a RECURRING card has a recurrenceConfig",
            );
            None
        }
        (RecurrenceType::Recurring, None) => Some(Recurrence::Recurring {
            interval: 1,
            offset: 0,
        }),
        (RecurrenceType::Recurring, Some(c)) => {
            let c = object(c, &o.at("recurrenceConfig"), &["interval", "offset"], errs)?;
            let interval = c.opt("interval", errs, |v| match p_u32(v)? {
                0 => Err("must be at least 1 (every cycle)".into()),
                n => Ok(n),
            });
            let offset = c.opt("offset", errs, p_u32).unwrap_or(0);
            let interval = match c.get("interval") {
                None => 1,
                Some(_) => interval?,
            };
            Some(Recurrence::Recurring { interval, offset })
        }
    }
}

const RATE_PLAN_KEYS: &[&str] = &["pricingModel", "slabs"];
const SLAB_KEYS: &[&str] = &["order", "startAfter", "priceType", "slabConfig"];

fn parse_rate_plan(o: &Obj, errs: &mut Errs) -> Option<RatePlan> {
    let Some(v) = o.get("ratePlan") else {
        errs.add(&o.at("ratePlan"), "is required");
        return None;
    };
    let path = o.at("ratePlan");
    let rp = object(v, &path, RATE_PLAN_KEYS, errs)?;
    let model = rp.req("pricingModel", errs, |v| p_choice(v, PRICING_MODELS));
    let mut slabs = Vec::new();
    let mut complete = true;
    for (i, (spath, sv)) in rp.list("slabs", errs).into_iter().enumerate() {
        let slab =
            object(sv, &spath, SLAB_KEYS, errs).and_then(|s| parse_slab(&s, errs, i as u32 + 1));
        match slab {
            Some(slab) => slabs.push(slab),
            None => complete = false,
        }
    }
    let model = model?;
    if !complete {
        return None;
    }
    RatePlan::new(model, slabs)
        .map_err(|e| errs.extend(e, &path))
        .ok()
}

/// A slab; `order` defaults to its position (credit grants omit it).
fn parse_slab(s: &Obj, errs: &mut Errs, default_order: u32) -> Option<Slab> {
    let order = s.opt("order", errs, p_u32).unwrap_or(default_order);
    let start_after = s.req("startAfter", errs, p_decimal);
    let kind = s.req("priceType", errs, |v| p_choice(v, PRICE_TYPES));
    let package_size = match s.get("slabConfig") {
        None => None,
        Some(c) => object(c, &s.at("slabConfig"), &["packageSize"], errs).and_then(|c| {
            c.opt("packageSize", errs, p_decimal)
                .map(|p| (p, c.at("packageSize")))
        }),
    };
    let price_type = match (kind?, package_size) {
        (PriceKind::Package, Some((size, _))) => PriceType::Package { package_size: size },
        (PriceKind::Package, None) => {
            errs.add(
                &s.at("slabConfig.packageSize"),
                "a PACKAGE slab needs a positive packageSize",
            );
            return None;
        }
        (_, Some((_, path))) => {
            errs.add(&path, "only a PACKAGE slab has a packageSize");
            return None;
        }
        (PriceKind::PerUnit, None) => PriceType::PerUnit,
        (PriceKind::Flat, None) => PriceType::Flat,
    };
    Some(Slab {
        order,
        start_after: start_after?,
        price_type,
    })
}

/// `rateValues[{currency, slabRates[{order, rate}], rateConfig{minimumRate, maximumRate}}]`.
fn parse_slab_rate_values(
    o: &Obj,
    plan: Option<&RatePlan>,
    errs: &mut Errs,
) -> BTreeMap<Currency, Rates> {
    let mut out = BTreeMap::new();
    let items = o.list("rateValues", errs);
    if items.is_empty() {
        errs.add(
            &o.at("rateValues"),
            "list the rates of at least one currency",
        );
    }
    for (path, v) in items {
        let Some(r) = object(v, &path, &["currency", "slabRates", "rateConfig"], errs) else {
            continue;
        };
        let currency = r.req("currency", errs, p_currency);
        let (mut minimum, mut maximum) = (None, None);
        if let Some(c) = r.get("rateConfig") {
            if let Some(c) = object(
                c,
                &r.at("rateConfig"),
                &["minimumRate", "maximumRate"],
                errs,
            ) {
                minimum = c.opt("minimumRate", errs, p_non_negative);
                maximum = c.opt("maximumRate", errs, p_non_negative);
            }
        }
        let by_order = parse_slab_rates(&r, errs);
        let (Some(plan), Some(currency), Some(by_order)) = (plan, currency, by_order) else {
            continue;
        };
        let mut slab_rates = Vec::new();
        for slab in plan.slabs() {
            match by_order.get(&slab.order) {
                Some(rate) => slab_rates.push(*rate),
                None => errs.add(
                    &r.at("slabRates"),
                    format!("no rate for slab order {}", slab.order),
                ),
            }
        }
        if slab_rates.len() != plan.slabs().len() {
            continue;
        }
        match Rates::new(plan, slab_rates, minimum, maximum) {
            Ok(rates) => {
                if out.insert(currency, rates).is_some() {
                    errs.add(&r.at("currency"), format!("{currency} is listed twice"));
                }
            }
            Err(e) => errs.extend(e, &path),
        }
    }
    out
}

/// `slabRates` keyed by slab order; `None` if any entry is unreadable.
fn parse_slab_rates(r: &Obj, errs: &mut Errs) -> Option<BTreeMap<u32, Decimal>> {
    if r.get("slabRates").is_none() {
        errs.add(&r.at("slabRates"), "is required");
        return None;
    }
    let mut by_order = BTreeMap::new();
    let mut ok = true;
    for (path, v) in r.list("slabRates", errs) {
        let Some(s) = object(v, &path, &["order", "rate"], errs) else {
            ok = false;
            continue;
        };
        match (
            s.req("order", errs, p_u32),
            s.req("rate", errs, p_non_negative),
        ) {
            (Some(order), Some(rate)) => {
                if by_order.insert(order, rate).is_some() {
                    errs.add(&s.at("order"), format!("slab order {order} has two rates"));
                }
            }
            _ => ok = false,
        }
    }
    ok.then_some(by_order)
}

/// `rateValues[{currency, rate}]` of fixed fees and the minimum commitment.
fn parse_flat_rate_values(o: &Obj, errs: &mut Errs) -> BTreeMap<Currency, Decimal> {
    let mut out = BTreeMap::new();
    let items = o.list("rateValues", errs);
    if items.is_empty() {
        errs.add(
            &o.at("rateValues"),
            "list the rates of at least one currency",
        );
    }
    for (path, v) in items {
        let Some(r) = object(v, &path, &["currency", "rate"], errs) else {
            continue;
        };
        let currency = r.req("currency", errs, p_currency);
        let rate = r.req("rate", errs, p_non_negative);
        if let (Some(currency), Some(rate)) = (currency, rate) {
            if out.insert(currency, rate).is_some() {
                errs.add(&r.at("currency"), format!("{currency} is listed twice"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Checks across cards.

/// Every card with its path prefix, name and the currencies it has rates for.
fn card_index(plan: &Plan) -> Vec<(String, &str, Vec<Currency>)> {
    let mut out = Vec::new();
    for (i, c) in plan.usage_cards.iter().enumerate() {
        out.push((
            format!("usageRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_values.keys().copied().collect(),
        ));
    }
    for (i, c) in plan.fixed_fee_cards.iter().enumerate() {
        out.push((
            format!("fixedFeeRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_values.keys().copied().collect(),
        ));
    }
    for (i, c) in plan.license_cards.iter().enumerate() {
        out.push((
            format!("licenseRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_values.keys().copied().collect(),
        ));
    }
    if let Some(mc) = &plan.minimum_commitment {
        out.push((
            "minimumCommitment".to_string(),
            mc.card_name(),
            mc.rate_values.keys().copied().collect(),
        ));
    }
    for (i, c) in plan.credit_grant_cards.iter().enumerate() {
        out.push((
            format!("creditGrantRateCards[{i}]"),
            c.card.name.as_str(),
            c.rate_details.keys().copied().collect(),
        ));
    }
    out
}

fn check_unique_names(plan: &Plan, errs: &mut Errs) {
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for (path, name, _) in card_index(plan) {
        if let Some(first) = seen.get(name) {
            errs.add(
                &join(&path, "name"),
                format!(
                    "{name:?} is already the name of {first}: card names must be unique in a plan"
                ),
            );
        } else {
            seen.insert(name, path);
        }
    }
}

fn check_currencies(plan: &Plan, errs: &mut Errs) {
    let cards = card_index(plan);
    for (path, _, currencies) in &cards {
        for c in currencies {
            if !plan.supported_currencies.contains(c) {
                let key = if path.starts_with("creditGrantRateCards") {
                    "rateDetails.currencySlabRateDetails"
                } else {
                    "rateValues"
                };
                errs.add(
                    &join(path, key),
                    format!("has a rate for {c}, which is not in the plan's supportedCurrencies"),
                );
            }
        }
    }
    for c in &plan.supported_currencies {
        if cards.iter().any(|(_, _, cs)| cs.contains(c)) {
            continue;
        }
        for (path, _, _) in &cards {
            errs.add(
                &join(path, "rateValues"),
                format!("no rate for {c}, which the plan supports"),
            );
        }
    }
}

fn interval_rank(i: Interval) -> u8 {
    match i {
        Interval::Weekly => 0,
        Interval::Monthly => 1,
        Interval::Quarterly => 2,
        Interval::HalfYearly => 3,
        Interval::Annually => 4,
    }
}

fn check_usage_cycles(plan: &Plan, errs: &mut Errs) {
    let cycle = plan.pricing_cycle.interval;
    for (i, c) in plan.license_cards.iter().enumerate() {
        if let Some(u) = c.usage_cycle {
            if interval_rank(u) > interval_rank(cycle) {
                errs.add(
                    &format!("licenseRateCards[{i}].usageCycle"),
                    format!(
                        "{} is longer than the plan's {} pricing cycle",
                        u.as_str(),
                        cycle.as_str()
                    ),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Writing the canonical JSON.

/// Decimals are written as strings, normalised (`0.10` -> `"0.1"`), so that the
/// stored form is exact and stable.
fn dec(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

fn card_json(c: &CardInfo, m: &mut Map<String, Value>) {
    if let Some(id) = &c.id {
        m.insert("id".into(), json!(id));
    }
    m.insert("name".into(), json!(c.name));
    if let Some(d) = &c.display_name {
        m.insert("displayName".into(), json!(d));
    }
    if let Some(t) = &c.tag {
        m.insert("tag".into(), json!(t));
    }
    m.insert("invoiceTiming".into(), json!(c.invoice_timing.as_str()));
}

fn recurrence_json(r: &Recurrence, m: &mut Map<String, Value>) {
    match r {
        Recurrence::OneTime => {
            m.insert("type".into(), json!("ONE_TIME"));
        }
        Recurrence::Recurring { interval, offset } => {
            m.insert("type".into(), json!("RECURRING"));
            m.insert(
                "recurrenceConfig".into(),
                json!({"interval": interval, "offset": offset}),
            );
        }
    }
}

fn slab_json(s: &Slab) -> Value {
    let mut v = json!({"order": s.order, "startAfter": dec(s.start_after), "priceType": s.price_type.as_str()});
    if let PriceType::Package { package_size } = s.price_type {
        v["slabConfig"] = json!({"packageSize": dec(package_size)});
    }
    v
}

fn rate_plan_json(p: &RatePlan) -> Value {
    let slabs: Vec<_> = p.slabs().iter().map(slab_json).collect();
    json!({"pricingModel": p.pricing_model().as_str(), "slabs": slabs})
}

fn slab_rate_values_json(plan: &RatePlan, values: &BTreeMap<Currency, Rates>) -> Value {
    let list = values
        .iter()
        .map(|(c, r)| {
            let slab_rates: Vec<_> = plan
                .slabs()
                .iter()
                .zip(r.slab_rates())
                .map(|(s, rate)| json!({"order": s.order, "rate": dec(*rate)}))
                .collect();
            let mut v = json!({"currency": c.code(), "slabRates": slab_rates});
            let mut config = Map::new();
            if let Some(min) = r.minimum_rate() {
                config.insert("minimumRate".into(), dec(min));
            }
            if let Some(max) = r.maximum_rate() {
                config.insert("maximumRate".into(), dec(max));
            }
            if !config.is_empty() {
                v["rateConfig"] = Value::Object(config);
            }
            v
        })
        .collect();
    Value::Array(list)
}

fn flat_rate_values_json(values: &BTreeMap<Currency, Decimal>) -> Value {
    values
        .iter()
        .map(|(c, r)| json!({"currency": c.code(), "rate": dec(*r)}))
        .collect()
}

fn usage_json(c: &UsageRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    m.insert("usageMeterId".into(), json!(c.usage_meter_id));
    m.insert("ratePlan".into(), rate_plan_json(&c.rate_plan));
    m.insert(
        "rateValues".into(),
        slab_rate_values_json(&c.rate_plan, &c.rate_values),
    );
    Value::Object(m)
}

fn fixed_fee_json(c: &FixedFeeRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    recurrence_json(&c.recurrence, &mut m);
    m.insert("enableProration".into(), json!(c.enable_proration));
    m.insert("rateValues".into(), flat_rate_values_json(&c.rate_values));
    Value::Object(m)
}

fn license_json(c: &LicenseRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    m.insert("type".into(), json!("LICENSE"));
    m.insert("enableProration".into(), json!(c.enable_proration));
    if let Some(u) = c.usage_cycle {
        m.insert("usageCycle".into(), json!(u.as_str()));
    }
    let mut config = Map::new();
    if let Some(q) = c.max_quantity {
        config.insert("maxQuantity".into(), dec(q));
    }
    if let Some(a) = c.max_quantity_breach_action {
        config.insert(
            "maxQuantityBreachAction".into(),
            json!(choice_name(BREACH_ACTIONS, a)),
        );
    }
    if !config.is_empty() {
        m.insert("config".into(), Value::Object(config));
    }
    if let Some(r) = c.prorated_refund_mode {
        m.insert(
            "proratedRefundMode".into(),
            json!(choice_name(REFUND_MODES, r)),
        );
    }
    m.insert("ratePlan".into(), rate_plan_json(&c.rate_plan));
    m.insert(
        "rateValues".into(),
        slab_rate_values_json(&c.rate_plan, &c.rate_values),
    );
    Value::Object(m)
}

fn commitment_json(c: &MinimumCommitment) -> Value {
    let mut m = Map::new();
    if let Some(n) = &c.name {
        m.insert("name".into(), json!(n));
    }
    if let Some(d) = &c.display_name {
        m.insert("displayName".into(), json!(d));
    }
    if let Some(t) = &c.tag {
        m.insert("tag".into(), json!(t));
    }
    m.insert("rateValues".into(), flat_rate_values_json(&c.rate_values));
    Value::Object(m)
}

fn credit_grant_json(c: &CreditGrantRateCard) -> Value {
    let mut m = Map::new();
    card_json(&c.card, &mut m);
    recurrence_json(&c.recurrence, &mut m);
    let g = &c.grant_details;
    let mut grant = json!({
        "priority": g.priority,
        "expiryType": choice_name(EXPIRY_TYPES, g.expiry_type),
    });
    if let Some(d) = &g.expiry_duration {
        grant["expiryDuration"] = d.clone();
    }
    if !g.applicable_entity_ids.is_empty() {
        grant["applicableEntityIds"] = json!(g.applicable_entity_ids);
    }
    m.insert("grantDetails".into(), grant);
    // Togai has one pricing model per card; every currency was parsed with it.
    let model = c
        .rate_details
        .values()
        .next()
        .map(|r| r.rate_plan.pricing_model());
    let details: Vec<_> = c
        .rate_details
        .iter()
        .map(|(cur, r)| {
            let slabs: Vec<_> = r
                .rate_plan
                .slabs()
                .iter()
                .zip(r.rates.slab_rates())
                .map(|(s, rate)| {
                    let mut v = slab_json(s);
                    v["rate"] = dec(*rate);
                    v
                })
                .collect();
            json!({"currency": cur.code(), "creditAmount": dec(r.credit_amount), "slabDetails": slabs})
        })
        .collect();
    let mut rate_details = json!({"currencySlabRateDetails": details});
    if let Some(model) = model {
        rate_details["pricingModel"] = json!(model.as_str());
    }
    m.insert("rateDetails".into(), rate_details);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// The example of `billing-model.md` ("The JSON shape of a plan"), verbatim.
    const EXAMPLE: &str = r#"
{
  "name": "growth",
  "type": "BILLING",
  "supportedCurrencies": ["USD", "EUR"],
  "pricingCycleConfig": {
    "interval": "MONTHLY",
    "startOffset": {"dayOffset": "1"},
    "gracePeriod": 3,
    "anniversaryCycle": false
  },
  "usageRateCards": [{
    "name": "api_calls", "displayName": "API calls", "tag": "usage",
    "usageMeterId": "api_calls_meter",
    "ratePlan": {"pricingModel": "TIERED", "slabs": [
      {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
      {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"},
      {"order": 3, "startAfter": 10000, "priceType": "PACKAGE", "slabConfig": {"packageSize": "100"}}
    ]},
    "rateValues": [
      {"currency": "USD", "slabRates": [{"order": 1, "rate": 0.10}, {"order": 2, "rate": 0.05}, {"order": 3, "rate": 1.00}],
       "rateConfig": {"minimumRate": "5", "maximumRate": "5000"}},
      {"currency": "EUR", "slabRates": [{"order": 1, "rate": 0.09}, {"order": 2, "rate": 0.045}, {"order": 3, "rate": 0.90}]}
    ]
  }],
  "fixedFeeRateCards": [{
    "id": "platform_fee", "name": "platform_fee", "displayName": "Platform fee",
    "invoiceTiming": "IN_ADVANCE", "type": "RECURRING", "enableProration": true,
    "recurrenceConfig": {"interval": 1, "offset": 0},
    "rateValues": [{"currency": "USD", "rate": 99}, {"currency": "EUR", "rate": 89}]
  }],
  "licenseRateCards": [{
    "id": "seats", "name": "seats", "displayName": "Seats", "type": "LICENSE",
    "invoiceTiming": "IN_ARREARS", "enableProration": true, "usageCycle": "MONTHLY",
    "config": {"maxQuantity": 500, "maxQuantityBreachAction": "DO_NOTHING"},
    "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": 0, "priceType": "PER_UNIT"}]},
    "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": 10}]}]
  }],
  "minimumCommitment": {
    "displayName": "Monthly minimum",
    "rateValues": [{"currency": "USD", "rate": 1000}]
  },
  "creditGrantRateCards": [{
    "id": "monthly_credits", "name": "monthly_credits", "invoiceTiming": "IN_ADVANCE",
    "type": "RECURRING", "recurrenceConfig": {"interval": 1, "offset": 0},
    "grantDetails": {"priority": 1, "expiryType": "PRICING_CYCLE",
                     "applicableEntityIds": ["ALL_USAGE_METER_RATE_CARDS"]},
    "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
      {"currency": "USD", "creditAmount": 50,
       "slabDetails": [{"startAfter": 0, "priceType": "FLAT", "rate": 0}]}
    ]}
  }]
}
"#;

    /// One `CardKind` serves the plan model, the invoice lines and the bulk operations:
    /// its serde name is Togai's name, the one operations files and stored lines use.
    #[test]
    fn card_kinds_serialize_as_togai_names_them() {
        let names: Vec<Value> = CardKind::ALL
            .iter()
            .map(|k| serde_json::to_value(k).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "USAGE",
                "FIXED_FEE",
                "LICENSE",
                "MINIMUM_COMMITMENT",
                "CREDIT_GRANT"
            ]
        );
        for kind in CardKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            let back: CardKind = serde_json::from_value(json!(kind.as_str())).unwrap();
            assert_eq!(back, kind);
        }
    }

    fn example() -> Value {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    /// The canonical form billrun stores for [`EXAMPLE`]. Changing this changes the
    /// meaning of stored plans: only ever extend it.
    const GOLDEN: &str = r#"{
      "name": "growth",
      "type": "BILLING",
      "supportedCurrencies": ["USD", "EUR"],
      "pricingCycleConfig": {"interval": "MONTHLY", "startOffset": {"dayOffset": "1"},
                             "gracePeriod": 3, "anniversaryCycle": false},
      "usageRateCards": [{
        "name": "api_calls", "displayName": "API calls", "tag": "usage",
        "invoiceTiming": "IN_ARREARS", "usageMeterId": "api_calls_meter",
        "ratePlan": {"pricingModel": "TIERED", "slabs": [
          {"order": 1, "startAfter": "0", "priceType": "PER_UNIT"},
          {"order": 2, "startAfter": "1000", "priceType": "PER_UNIT"},
          {"order": 3, "startAfter": "10000", "priceType": "PACKAGE", "slabConfig": {"packageSize": "100"}}
        ]},
        "rateValues": [
          {"currency": "EUR", "slabRates": [{"order": 1, "rate": "0.09"}, {"order": 2, "rate": "0.045"}, {"order": 3, "rate": "0.9"}]},
          {"currency": "USD", "slabRates": [{"order": 1, "rate": "0.1"}, {"order": 2, "rate": "0.05"}, {"order": 3, "rate": "1"}],
           "rateConfig": {"minimumRate": "5", "maximumRate": "5000"}}
        ]
      }],
      "fixedFeeRateCards": [{
        "id": "platform_fee", "name": "platform_fee", "displayName": "Platform fee",
        "invoiceTiming": "IN_ADVANCE", "type": "RECURRING", "enableProration": true,
        "recurrenceConfig": {"interval": 1, "offset": 0},
        "rateValues": [{"currency": "EUR", "rate": "89"}, {"currency": "USD", "rate": "99"}]
      }],
      "licenseRateCards": [{
        "id": "seats", "name": "seats", "displayName": "Seats", "type": "LICENSE",
        "invoiceTiming": "IN_ARREARS", "enableProration": true, "usageCycle": "MONTHLY",
        "config": {"maxQuantity": "500", "maxQuantityBreachAction": "DO_NOTHING"},
        "ratePlan": {"pricingModel": "VOLUME", "slabs": [{"order": 1, "startAfter": "0", "priceType": "PER_UNIT"}]},
        "rateValues": [{"currency": "USD", "slabRates": [{"order": 1, "rate": "10"}]}]
      }],
      "minimumCommitment": {
        "displayName": "Monthly minimum",
        "rateValues": [{"currency": "USD", "rate": "1000"}]
      },
      "creditGrantRateCards": [{
        "id": "monthly_credits", "name": "monthly_credits", "invoiceTiming": "IN_ADVANCE",
        "type": "RECURRING", "recurrenceConfig": {"interval": 1, "offset": 0},
        "grantDetails": {"priority": 1, "expiryType": "PRICING_CYCLE",
                         "applicableEntityIds": ["ALL_USAGE_METER_RATE_CARDS"]},
        "rateDetails": {"pricingModel": "TIERED", "currencySlabRateDetails": [
          {"currency": "USD", "creditAmount": "50",
           "slabDetails": [{"order": 1, "startAfter": "0", "priceType": "FLAT", "rate": "0"}]}
        ]}
      }]
    }"#;

    #[test]
    fn example_plan_has_a_stable_canonical_form() {
        let plan = Plan::from_json(&example()).unwrap();
        let golden: Value = serde_json::from_str(GOLDEN).unwrap();
        assert_eq!(plan.to_json(), golden);
        let again = Plan::from_json(&plan.to_json()).unwrap();
        assert_eq!(again, plan);
        assert_eq!(again.to_json(), golden);
    }

    #[test]
    fn example_plan_is_typed() {
        let plan = Plan::from_json(&example()).unwrap();
        assert_eq!(plan.supported_currencies, [Currency::USD, Currency::EUR]);
        let usage = &plan.usage_cards[0];
        assert_eq!(usage.card.tag.as_deref(), Some("usage"));
        assert_eq!(
            usage.rate_plan.slabs()[2].price_type,
            PriceType::Package {
                package_size: dec!(100)
            }
        );
        let usd = &usage.rate_values[&Currency::USD];
        assert_eq!(usd.slab_rates(), [dec!(0.1), dec!(0.05), dec!(1)]);
        assert_eq!(
            (usd.minimum_rate(), usd.maximum_rate()),
            (Some(dec!(5)), Some(dec!(5000)))
        );
        let fee = &plan.fixed_fee_cards[0];
        assert_eq!(
            fee.recurrence,
            Recurrence::Recurring {
                interval: 1,
                offset: 0
            }
        );
        assert_eq!(fee.card.invoice_timing, InvoiceTiming::InAdvance);
        assert_eq!(fee.rate_values[&Currency::EUR], dec!(89));
        let seats = &plan.license_cards[0];
        assert_eq!(
            (seats.license_id(), seats.usage_cycle),
            ("seats", Some(Interval::Monthly))
        );
        assert_eq!(seats.max_quantity, Some(dec!(500)));
        let mc = plan.minimum_commitment.as_ref().unwrap();
        assert_eq!(
            (mc.display(), mc.rate_values[&Currency::USD]),
            ("Monthly minimum", dec!(1000))
        );
        let grant = &plan.credit_grant_cards[0];
        assert_eq!(grant.rate_details[&Currency::USD].credit_amount, dec!(50));
        assert_eq!(grant.grant_details.expiry_type, ExpiryType::PricingCycle);
    }

    #[test]
    fn requirements_and_currency_coverage() {
        let plan = Plan::from_json(&example()).unwrap();
        let needs = plan.requirements();
        assert_eq!(
            needs.usage_meter_ids.into_iter().collect::<Vec<_>>(),
            ["api_calls_meter"]
        );
        assert_eq!(needs.license_ids.into_iter().collect::<Vec<_>>(), ["seats"]);
        assert!(plan.cards_without_rate(Currency::USD).is_empty());
        assert_eq!(
            plan.cards_without_rate(Currency::EUR),
            ["seats", "monthly_credits"]
        );
    }

    #[test]
    fn rates_are_read_exactly_from_numbers_and_strings() {
        for (raw, expected) in [
            (json!(0.10), "0.1"),
            (json!("0.10"), "0.10"),
            (
                json!("0.1000000000000000055511151231"),
                "0.1000000000000000055511151231",
            ),
            (json!(0.3), "0.3"),
            (json!(1e-7), "0.0000001"),
            (json!("2.5E3"), "2500"),
            (json!(12345678901234567u64), "12345678901234567"),
        ] {
            assert_eq!(p_decimal(&raw).unwrap().to_string(), expected, "{raw}");
        }
        assert!(p_decimal(&json!("ten")).is_err());
        // More digits than a Decimal holds are refused, not silently rounded.
        assert!(p_decimal(&json!("0.1000000000000000055511151231257827")).is_err());
        assert!(p_decimal(&json!(true)).is_err());
    }

    /// The errors of the example after `change`, as "path: message".
    fn errors_after(change: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut v = example();
        change(&mut v);
        match Plan::from_json(&v) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn assert_error(errors: &[String], path: &str, fragment: &str) {
        let prefix = format!("{path}: ");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&prefix) && e.contains(fragment)),
            "no error at {path} containing {fragment:?} in {errors:#?}"
        );
    }

    #[test]
    fn invalid_plans_are_refused_naming_the_field() {
        type Change = fn(&mut Value);
        let cases: &[(Change, &str, &str)] = &[
            (|v| v["fooRateCards"] = json!([]), "fooRateCards", "unknown field"),
            (|v| v["billingEntitlementRateCards"] = json!([]), "billingEntitlementRateCards", "not supported"),
            (|v| v["usageRateCards"][0]["type"] = json!("METERED"), "usageRateCards[0].type", "expected USAGE"),
            (|v| v["licenseRateCards"][0]["type"] = json!("NAMED_LICENSE"), "licenseRateCards[0].type", "expected LICENSE"),
            (|v| v["usageRateCards"][0]["colour"] = json!("red"), "usageRateCards[0].colour", "unknown field"),
            (|v| v["usageRateCards"][0]["name"] = json!(" "), "usageRateCards[0].name", "must not be empty"),
            (|v| v["fixedFeeRateCards"][0]["name"] = json!("api_calls"), "fixedFeeRateCards[0].name", "already the name of usageRateCards[0]"),
            (|v| v["usageRateCards"][0]["ratePlan"]["slabs"][2]["startAfter"] = json!(500), "usageRateCards[0].ratePlan.slabs[2].startAfter", "ascending"),
            (|v| v["usageRateCards"][0]["ratePlan"]["slabs"][1]["order"] = json!(1), "usageRateCards[0].ratePlan.slabs[1].order", "ascending"),
            (|v| v["usageRateCards"][0]["ratePlan"]["slabs"] = json!([]), "usageRateCards[0].ratePlan.slabs", "expected 1 to 100"),
            (|v| v["usageRateCards"][0]["ratePlan"]["slabs"][2]["slabConfig"] = Value::Null, "usageRateCards[0].ratePlan.slabs[2].slabConfig.packageSize", "positive packageSize"),
            (|v| v["usageRateCards"][0]["ratePlan"]["slabs"][2]["slabConfig"]["packageSize"] = json!("0"), "usageRateCards[0].ratePlan.slabs[2].slabConfig.packageSize", "positive packageSize"),
            (|v| v["usageRateCards"][0]["ratePlan"]["slabs"][0]["slabConfig"] = json!({"packageSize": 5}), "usageRateCards[0].ratePlan.slabs[0].slabConfig.packageSize", "only a PACKAGE slab"),
            (|v| v["usageRateCards"][0]["ratePlan"]["pricingModel"] = json!("STAIRSTEP"), "usageRateCards[0].ratePlan.pricingModel", "TIERED, VOLUME"),
            (|v| v["supportedCurrencies"] = json!(["USD", "EUR", "GBP"]), "usageRateCards[0].rateValues", "no rate for GBP, which the plan supports"),
            (|v| v["supportedCurrencies"] = json!(["USD", "EUR", "GBP"]), "minimumCommitment.rateValues", "no rate for GBP"),
            (|v| v["supportedCurrencies"] = json!(["USD", "USD"]), "supportedCurrencies[1]", "listed twice"),
            (|v| v["supportedCurrencies"] = json!(["USD", "usd"]), "supportedCurrencies[1]", "ISO 4217"),
            (|v| v["fixedFeeRateCards"][0]["rateValues"][1]["currency"] = json!("JPY"), "fixedFeeRateCards[0].rateValues", "JPY, which is not in the plan's supportedCurrencies"),
            (|v| v["usageRateCards"][0]["rateValues"][0]["slabRates"][1]["rate"] = json!(-0.01), "usageRateCards[0].rateValues[0].slabRates[1].rate", "must not be negative"),
            (|v| v["fixedFeeRateCards"][0]["rateValues"][0]["rate"] = json!("-1"), "fixedFeeRateCards[0].rateValues[0].rate", "must not be negative"),
            (|v| v["usageRateCards"][0]["rateValues"][0]["rateConfig"]["minimumRate"] = json!(6000), "usageRateCards[0].rateValues[0].rateConfig.minimumRate", "above the maximumRate"),
            (|v| v["usageRateCards"][0]["rateValues"][1]["slabRates"] = json!([{"order": 1, "rate": 1}]), "usageRateCards[0].rateValues[1].slabRates", "no rate for slab order 2"),
            (|v| v["usageRateCards"][0]["invoiceTiming"] = json!("IN_ADVANCE"), "usageRateCards[0].invoiceTiming", "not possible for this card"),
            (|v| v["fixedFeeRateCards"][0]["invoiceTiming"] = json!("LATER"), "fixedFeeRateCards[0].invoiceTiming", "IN_ADVANCE, IN_ARREARS, PREPAID"),
            (|v| v["fixedFeeRateCards"][0]["type"] = json!("MONTHLY"), "fixedFeeRateCards[0].type", "ONE_TIME, RECURRING"),
            (|v| v["fixedFeeRateCards"][0]["recurrenceConfig"]["interval"] = json!(0), "fixedFeeRateCards[0].recurrenceConfig.interval", "at least 1"),
            (|v| v["fixedFeeRateCards"][0]["type"] = json!("ONE_TIME"), "fixedFeeRateCards[0].recurrenceConfig", "only a RECURRING card"),
            (|v| v["licenseRateCards"][0]["usageCycle"] = json!("ANNUALLY"), "licenseRateCards[0].usageCycle", "longer than the plan's MONTHLY"),
            (|v| v["usageRateCards"][0]["usageMeterId"] = Value::Null, "usageRateCards[0].usageMeterId", "is required"),
            (|v| v["pricingCycleConfig"]["interval"] = json!("DAILY"), "pricingCycleConfig.interval", "WEEKLY"),
            (|v| v["creditGrantRateCards"][0]["grantDetails"]["expiryType"] = json!("CUSTOM"), "creditGrantRateCards[0].grantDetails.expiryDuration", "required when expiryType is CUSTOM"),
            (|v| v["creditGrantRateCards"][0]["rateDetails"]["currencySlabRateDetails"][0]["slabDetails"][0]["rate"] = json!(-2), "creditGrantRateCards[0].rateDetails.currencySlabRateDetails[0].slabDetails[0].rate", "must not be negative"),
            (|v| v["creditGrantRateCards"][0]["rateDetails"]["currencySlabRateDetails"][0]["slabDetails"] = json!([]), "creditGrantRateCards[0].rateDetails.currencySlabRateDetails[0].slabDetails", "expected 1 to 100"),
            (|v| v["type"] = json!("ENTITLEMENT"), "type", "BILLING"),
            (|v| { v.as_object_mut().unwrap().remove("name"); }, "name", "is required"),
        ];
        for (change, path, fragment) in cases {
            assert_error(&errors_after(change), path, fragment);
        }
    }

    #[test]
    fn too_many_slabs_are_refused() {
        let errors = errors_after(|v| {
            let slabs: Vec<_> = (1..=101)
                .map(|i| json!({"order": i, "startAfter": i * 10, "priceType": "PER_UNIT"}))
                .collect();
            v["licenseRateCards"][0]["ratePlan"]["slabs"] = json!(slabs);
        });
        assert_error(
            &errors,
            "licenseRateCards[0].ratePlan.slabs",
            "has 101 slabs: expected 1 to 100",
        );
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let errors = errors_after(|v| {
            v["name"] = json!("");
            v["usageRateCards"][0]["ratePlan"]["slabs"][2]["startAfter"] = json!(10);
            v["fixedFeeRateCards"][0]["type"] = json!("SOMETIMES");
            v["licenseRateCards"][0]["rateValues"][0]["slabRates"][0]["rate"] = json!(-1);
        });
        assert_eq!(errors.len(), 4, "{errors:#?}");
    }

    #[test]
    fn minimal_plan_gets_defaults() {
        let plan = Plan::from_json(&json!({
            "name": "tiny",
            "supportedCurrencies": ["JPY"],
            "pricingCycleConfig": {"interval": "WEEKLY"},
            "fixedFeeRateCards": [{"name": "base", "type": "ONE_TIME", "rateValues": [{"currency": "JPY", "rate": 500}]}]
        }))
        .unwrap();
        let fee = &plan.fixed_fee_cards[0];
        assert_eq!(fee.recurrence, Recurrence::OneTime);
        assert_eq!(fee.card.invoice_timing, InvoiceTiming::InArrears);
        assert!(!fee.enable_proration);
        assert_eq!(fee.card.display(), "base");
        assert_eq!(Plan::from_json(&plan.to_json()).unwrap(), plan);
    }

    #[test]
    fn recurrence_schedules() {
        let every_third_from_two = Recurrence::Recurring {
            interval: 3,
            offset: 2,
        };
        let charged: Vec<u32> = (0..10)
            .filter(|i| every_third_from_two.applies_in(*i))
            .collect();
        assert_eq!(charged, [2, 5, 8]);
        let once: Vec<u32> = (0..5)
            .filter(|i| Recurrence::OneTime.applies_in(*i))
            .collect();
        assert_eq!(once, [0]);
    }
}
