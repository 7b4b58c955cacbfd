//! What migrating one account means, without I/O: the switch date, the new
//! period's overrides, the target checked in the account's currency, and for
//! IMMEDIATE modes the cycles cut and the unused advance credited back.

use billrun_core::charges::{cycle_charges, CycleInput};
use billrun_core::cycle::local_date;
use billrun_core::overrides::Overrides;
use billrun_core::plan_migration::{switch_date, unused_advance};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{ChunkInputs, Outcome, StoredCycle, Switch};
use crate::bill_run::load::{Association, BilledAccount};
use crate::store::status::CycleStatus;

/// What migrating one account means (no I/O).
pub(super) fn decide(
    inputs: &ChunkInputs<'_>,
    a: &Association,
    account: &BilledAccount,
    source_plan: Option<&Result<std::sync::Arc<billrun_core::plan::Plan>, String>>,
    cycles: &[StoredCycle],
    licenses: &std::collections::BTreeMap<String, Vec<billrun_core::charges::LicenseChange>>,
) -> Outcome {
    let m = inputs.migration;
    if a.plan_id != m.source_plan_id || m.source_version.is_some_and(|v| v != a.plan_version) {
        return Outcome::Failed(format!(
            "it is now on {} v{}, not on the source plan",
            a.plan_id, a.plan_version
        ));
    }
    let source = match source_plan {
        Some(Ok(p)) => p,
        Some(Err(e)) => return Outcome::Failed(e.clone()),
        None => {
            return Outcome::Failed(format!("plan {} v{} not found", a.plan_id, a.plan_version))
        }
    };
    let on = local_date(inputs.effective_at, account.timezone);
    // An account in its trial has no cycle to switch in yet: billing starts after it.
    let (cycle_config, billed_from) = a.billing(source);
    if on < billed_from {
        return Outcome::Failed(format!(
            "it is in its trial until {} (billed from {billed_from}): nothing to migrate yet",
            billed_from.pred_opt().unwrap_or(billed_from)
        ));
    }
    let switch = match switch_date(inputs.mode, &cycle_config, billed_from, a.until, on) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    // A cycle already closed past the switch has been invoiced on the old plan.
    if let Some(c) = cycles
        .iter()
        .find(|c| c.status == CycleStatus::Closed && c.billed_end > switch)
    {
        return Outcome::Failed(format!(
            "its cycle {} - {} is already closed and invoiced on the old plan: the switch \
             date {switch} is too early",
            c.billed_start,
            c.billed_end.pred_opt().unwrap_or(c.billed_end)
        ));
    }
    // NEXT_CYCLE: the next cycle must not have been opened (and billed in advance)
    // on the old plan already; a migration dated in the past comes too late for it.
    if !inputs.mode.is_immediate() {
        if let Some(c) = cycles.iter().find(|c| c.billed_start >= switch) {
            return Outcome::Failed(format!(
                "its cycle from {} has already been opened on the old plan: a {} migration \
                 dated {on} comes too late for it",
                c.billed_start, inputs.mode
            ));
        }
    }

    // The new period's overrides.
    let old = match Overrides::from_json(a.overrides.as_ref().unwrap_or(&Value::Null)) {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(format!("its overrides are unreadable: {e}")),
    };
    let (mut overrides, dropped) = if inputs.mode.carries_overrides() {
        let carried = old.carried_to(inputs.target_definition);
        (carried.overrides, carried.dropped)
    } else {
        (Overrides::default(), Vec::new())
    };
    if m.retain_start_offsets {
        let target_cycle = match overrides.apply_to(inputs.target_definition) {
            Ok(p) => p.pricing_cycle,
            Err(e) => return Outcome::Failed(format!("the target plan with its overrides: {e}")),
        };
        match target_cycle.aligned_with(&source.pricing_cycle, a.from) {
            Ok(aligned) => overrides.pricing_cycle = Some(aligned.to_json()),
            Err(e) => return Outcome::Failed(e.message),
        }
    }
    let target = match overrides.apply_to(inputs.target_definition) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(format!("the target plan with its overrides: {e}")),
    };
    if !target.supported_currencies.contains(&account.currency) {
        return Outcome::Failed(format!(
            "it invoices in {} and {} v{} does not support it",
            account.currency, m.target_plan_id, m.target_version
        ));
    }
    let missing = target.cards_without_rate(account.currency);
    if !missing.is_empty() {
        return Outcome::Failed(format!(
            "{} v{} has no {} rate for {}",
            m.target_plan_id,
            m.target_version,
            account.currency,
            missing.join(", ")
        ));
    }

    // IMMEDIATE: cut the open cycles at the switch and credit their unused advance.
    let mut shorten = None;
    let mut unbilled = Vec::new();
    let mut credit = Decimal::ZERO;
    let mut credit_detail = Vec::new();
    if inputs.mode.is_immediate() {
        for c in cycles
            .iter()
            .filter(|c| c.status == CycleStatus::Open && c.billed_end > switch)
        {
            if c.billed_start < switch {
                shorten = Some((c.cycle_index, switch));
            } else {
                unbilled.push(c.cycle_index);
            }
            let input = CycleInput {
                window: c.window(),
                usage: Default::default(),
                licenses: licenses.clone(),
            };
            let charges =
                match cycle_charges(source, account.currency, inputs.settings.rounding, &input) {
                    Ok(ch) => ch,
                    Err(e) => {
                        return Outcome::Failed(format!("its current cycle cannot be priced: {e}"))
                    }
                };
            for u in unused_advance(
                source,
                &charges,
                switch,
                account.currency,
                inputs.settings.rounding,
            ) {
                credit += u.amount;
                credit_detail.push(format!(
                    "{} {} of {} for {} - {}",
                    u.display_name,
                    u.amount,
                    u.billed,
                    u.period.start,
                    u.period.last_day()
                ));
            }
        }
    }
    Outcome::Migrated(Box::new(Switch {
        account_id: a.account_id.clone(),
        source_from: a.from,
        switch,
        until: a.until,
        tz: account.timezone,
        overrides: Some(overrides.to_json()).filter(|o| !o.is_null()),
        dropped,
        shorten,
        unbilled,
        credit,
        credit_detail,
        currency: account.currency,
    }))
}
