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
//!   is known after the cycle); PREPAID is only for credit grants and entitlements;
//!   the minimum commitment and entitlement overage are always settled in arrears.
//! - A license's `usageCycle` may not be longer than the plan's pricing cycle.
//! - `null` is the same as an absent field. Unknown fields are errors.
//! - Entitlement and overage cards: see `entitlements` (README "Entitlements").
//! - `deferredRevenue` and `allowOngoingCycleUpdates` true are refused with the reason
//!   ([`REFUSED_PLAN_FLAGS`]); a license card's `proratedRefundMode` WALLET is refused
//!   naming the card (billrun has no wallet). How seats changed mid-cycle are billed
//!   is [`crate::charges`]' `seat_changes`.
//! - A credit grant's `expiryDuration` is kept verbatim, not interpreted (credits are
//!   applied in a later stage).
//!
//! This module owns the plan model (the types below and [`CardKind`], shared by
//! charges, invoices, credits and bulk operations). The rest is private:
//! `read` (JSON reading helpers that collect errors with their paths), `parse` (the
//! plan and its cards), `rates` (rate plans, slabs, rate values), `checks` (rules
//! across cards) and `write` (the canonical JSON of [`Plan::to_json`]); `entitlements`
//! owns the two feature cards (their types are re-exported here).

mod checks;
mod entitlements;
mod parse;
mod rates;
mod read;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cycle::{Interval, PricingCycleConfig};
use crate::error::FieldErrors;
use crate::money::Currency;
use crate::rating::{RatePlan, Rates};
pub use entitlements::{
    BillingConfig, BillingEntitlementRateCard, EffectiveAt, EntitlementOverageRateCard,
    FeatureConfig,
};
use parse::parse_plan;
use read::Errs;

/// When a card's charge is invoiced (Togai's `invoiceTiming`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvoiceTiming {
    /// On the invoice that opens the cycle.
    InAdvance,
    /// On the invoice that closes the cycle.
    InArrears,
    /// Granted once the invoice that opens the cycle is paid (credit grants,
    /// entitlements).
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
/// `rateCard.type`). Serialized as Togai writes it (`USAGE`, `FIXED_FEE`, `LICENSE`,
/// `MINIMUM_COMMITMENT`, `CREDIT_GRANT`, `BILLING_ENTITLEMENT`, `ENTITLEMENT_OVERAGE`,
/// see [`Self::as_str`]); ordered as the plan JSON lists the kinds.
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
    /// An allowance of a feature per cycle, sold (`billingEntitlementRateCards`).
    BillingEntitlement,
    /// Use of a feature beyond its allowance (`entitlementOverageRateCards`).
    EntitlementOverage,
}

impl CardKind {
    /// Every kind, in the order of the plan JSON.
    pub const ALL: [CardKind; 7] = [
        CardKind::Usage,
        CardKind::FixedFee,
        CardKind::License,
        CardKind::MinimumCommitment,
        CardKind::CreditGrant,
        CardKind::BillingEntitlement,
        CardKind::EntitlementOverage,
    ];

    /// Togai's name, as written in an operations file's `rateCard.type` (and by serde).
    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::Usage => "USAGE",
            CardKind::FixedFee => "FIXED_FEE",
            CardKind::License => "LICENSE",
            CardKind::MinimumCommitment => "MINIMUM_COMMITMENT",
            CardKind::CreditGrant => "CREDIT_GRANT",
            CardKind::BillingEntitlement => "BILLING_ENTITLEMENT",
            CardKind::EntitlementOverage => "ENTITLEMENT_OVERAGE",
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
            CardKind::BillingEntitlement => "billingEntitlementRateCards",
            CardKind::EntitlementOverage => "entitlementOverageRateCards",
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
    /// Togai's `id` (optional; a license card's license id). Togai 1.0.3 documents
    /// it as the id of the attached add-on; billrun keeps it as the card's (license)
    /// id and links add-ons by `addOnId` instead, so plans written before add-ons
    /// existed keep their meaning.
    pub id: Option<String>,
    /// Unique in the plan.
    pub name: String,
    /// Shown on invoices instead of the name.
    pub display_name: Option<String>,
    /// Groups the card's lines on invoices.
    pub tag: Option<String>,
    /// When the card is invoiced.
    pub invoice_timing: InvoiceTiming,
    /// billrun's `taxRateCode`: the code of the organisation's tax rate for this
    /// card's lines (e.g. a reduced rate); `None`: the default rate (README "Taxes").
    pub tax_rate_code: Option<String>,
    /// billrun's `addOnId` (fixed fee, license and credit grant cards only): the
    /// organisation's add-on this card belongs to (README "Add-ons and named
    /// licenses"). Checked against the catalog when a plan is applied (the add-on
    /// exists, its type fits the card); on invoices the card's lines show the
    /// add-on's `billableName` (else its name). `None`: a plain card.
    pub add_on_id: Option<String>,
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

/// The plan flags of Togai's `CreatePricePlanV2Request` that billrun refuses when
/// `true`, each with the reason (issue 17 item 7); `false` or absent is accepted and
/// not written back. The CLI's `plan apply` (this parser) and HTTP `POST
/// /v2/price_plans` give the same message: `"<flag>: <reason>"`.
pub const REFUSED_PLAN_FLAGS: [(&str, &str); 2] = [
    (
        "deferredRevenue",
        "not supported by billrun (revenue is computed when a cycle closes)",
    ),
    (
        "allowOngoingCycleUpdates",
        "not supported by billrun (a finalized version never changes)",
    ),
];

/// What happens when a license grant would exceed `maxQuantity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaxQuantityBreachAction {
    /// Refuse further grants: a license update that would take the quantity above
    /// `maxQuantity` is refused (Togai's only action, `DO_NOTHING`).
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
    /// Into the wallet: refused when a plan is parsed (billrun has no wallet).
    Wallet,
}

/// A `licenseRateCards` entry: seats priced by a rate plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRateCard {
    /// Identity and timing. The license id is `id`, else `name`.
    pub card: CardInfo,
    /// `type` NAMED_LICENSE (Togai's `AddOnType`): the quantity on a day is the
    /// number of distinct named entities (e.g. user ids) of the account active that
    /// day, recorded by `billrun license named add|remove`; rated like a LICENSE card.
    /// `false`: `type` LICENSE or absent (quantities by license updates).
    pub named: bool,
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
    /// `pricingRules` (billrun keeps them in the plan version's definition; Togai
    /// edits them with `PUT /v2/price_plans/{id}/pricing_rules`), see
    /// [`crate::pricing_rules`].
    pub pricing_rules: Vec<crate::pricing_rules::PricingRule>,
    /// `billingEntitlementRateCards`.
    pub entitlement_cards: Vec<BillingEntitlementRateCard>,
    /// `entitlementOverageRateCards`.
    pub overage_cards: Vec<EntitlementOverageRateCard>,
}

/// What a plan needs from storage to be billed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanRequirements {
    /// Usage meters whose aggregates the usage cards price.
    pub usage_meter_ids: BTreeSet<String>,
    /// Licenses whose daily quantities the license cards price.
    pub license_ids: BTreeSet<String>,
    /// Features whose use the entitlement overage cards rate.
    pub feature_ids: BTreeSet<String>,
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
            feature_ids: self
                .overage_cards
                .iter()
                .map(|c| c.feature_id.clone())
                .collect(),
        }
    }

    /// Card name -> its `taxRateCode`, for the cards that name one (README "Taxes").
    pub fn tax_rate_codes(&self) -> std::collections::BTreeMap<String, String> {
        let infos = self
            .usage_cards
            .iter()
            .map(|c| &c.card)
            .chain(self.fixed_fee_cards.iter().map(|c| &c.card))
            .chain(self.license_cards.iter().map(|c| &c.card))
            .chain(self.credit_grant_cards.iter().map(|c| &c.card))
            .chain(self.entitlement_cards.iter().map(|c| &c.card))
            .chain(self.overage_cards.iter().map(|c| &c.card));
        infos
            .filter_map(|c| Some((c.name.clone(), c.tax_rate_code.clone()?)))
            .collect()
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
        let entitlement = self
            .entitlement_cards
            .iter()
            .filter(|c| !c.rate_values.contains_key(&currency))
            .map(|c| c.card.name.as_str());
        let overage = self
            .overage_cards
            .iter()
            .filter(|c| !c.rate_values.contains_key(&currency))
            .map(|c| c.card.name.as_str());
        usage
            .map(|c| c.card.name.as_str())
            .chain(fixed.map(|c| c.card.name.as_str()))
            .chain(license.map(|c| c.card.name.as_str()))
            .chain(credit.map(|c| c.card.name.as_str()))
            .chain(entitlement)
            .chain(overage)
            .collect()
    }
}

#[cfg(test)]
mod tests;
