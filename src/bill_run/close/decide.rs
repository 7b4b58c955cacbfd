//! What `close-chunk` decides, without I/O: from the loaded associations, the
//! boundaries to invoice and the cycles to record ([`plan_chunk`], through
//! [`billrun_core::boundary::plan_association`]); the usage windows to read
//! ([`usage_windows`]); and each boundary's lines ([`price`], through
//! [`billrun_core::charges::invoice_contents`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use billrun_core::boundary::{plan_association, Boundary, Progress};
use billrun_core::charges::{
    invoice_contents, CycleInput, EarlierCycle, LicenseChange, SeatCredit,
};
use billrun_core::cycle::{local_start_instant, CycleWindow};
use billrun_core::invoice::InvoiceLines;
use billrun_core::plan::Plan;
use billrun_core::pricing_rules::RuleLog;
use billrun_core::tax::{TaxRate, TaxSetup, TaxTreatment};
use billrun_core::RoundingMode;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;

use super::load::StaleDraft;
use crate::bill_run::load::{Association, BilledAccount, UsageWindow};

/// An account that could not be billed, and why (in `close-chunk`'s job result:
/// `{"accountId", "error"}`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The account.
    pub account_id: String,
    /// What went wrong.
    pub error: String,
}

/// One invoice to compute: a boundary of an association, or a stale draft's.
pub(super) struct Work<'a> {
    /// The plan association.
    pub association: &'a Association,
    /// Its plan (with its overrides).
    pub plan: &'a Plan,
    /// The account's timezone.
    pub tz: Tz,
    /// The account's invoice currency.
    pub currency: billrun_core::Currency,
    /// The account's tax treatment (its own, else its customer's).
    pub tax_treatment: TaxTreatment,
    /// The cycles the invoice closes and opens.
    pub boundary: Boundary,
    /// Set when recomputing a stale draft.
    pub draft_id: Option<String>,
    /// Index of its closing cycle's usage in [`usage_windows`]' list.
    pub usage_index: Option<usize>,
}

/// A cycle to record: its association, the account's timezone, the window, and
/// whether it is closed (`true`) or opened.
pub(super) type CycleWrite<'a> = (&'a Association, Tz, CycleWindow, bool);

/// What [`plan_chunk`] decided: the invoices to compute, the cycles to record, and
/// the accounts that cannot be billed.
pub(super) struct Planned<'a> {
    /// Invoices to compute, association by association.
    pub work: Vec<Work<'a>>,
    /// Cycles to record.
    pub cycles: Vec<CycleWrite<'a>>,
    /// Accounts that cannot be billed (an unreadable account or plan).
    pub failures: Vec<Failure>,
}

/// For each association of the chunk: the boundaries to invoice and cycles to record
/// as of `as_of` ([`plan_association`], in the account's timezone), and the stale
/// drafts to recompute. An association whose account or plan is unreadable is a
/// failure; one whose account or plan is missing is skipped.
pub(super) fn plan_chunk<'a>(
    associations: &'a [Association],
    accounts: &'a HashMap<String, Result<BilledAccount, String>>,
    plans: &'a HashMap<(String, NaiveDate), Result<Arc<Plan>, String>>,
    progress: &HashMap<(String, NaiveDate), Progress>,
    stale: &[StaleDraft],
    as_of: DateTime<Utc>,
) -> Planned<'a> {
    let mut failures = Vec::new();
    let mut work: Vec<Work> = Vec::new();
    let mut cycle_writes: Vec<(&Association, Tz, CycleWindow, bool)> = Vec::new();
    for a in associations {
        let account = match accounts.get(&a.account_id) {
            Some(Ok(acc)) => acc,
            Some(Err(e)) => {
                failures.push(Failure {
                    account_id: a.account_id.clone(),
                    error: e.clone(),
                });
                continue;
            }
            None => continue,
        };
        let plan = match plans.get(&a.key()) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                failures.push(Failure {
                    account_id: a.account_id.clone(),
                    error: e.clone(),
                });
                continue;
            }
            None => continue,
        };
        let key = (a.account_id.clone(), a.from);
        let p = progress.get(&key).copied().unwrap_or(Progress::NotOpened);
        let (cycle_config, billed_from) = a.billing(plan);
        let (boundaries, cycles) = plan_association(
            &cycle_config,
            billed_from,
            a.until,
            p,
            account.timezone,
            as_of,
        );
        for (w, closed) in cycles {
            cycle_writes.push((a, account.timezone, w, closed));
        }
        for boundary in boundaries {
            work.push(Work {
                association: a,
                plan,
                tz: account.timezone,
                currency: account.currency,
                tax_treatment: account.tax_treatment,
                boundary,
                draft_id: None,
                usage_index: None,
            });
        }
        for draft in stale
            .iter()
            .filter(|d| d.account_id == a.account_id && d.association_from == a.from)
        {
            let (cycle_config, billed_from) = a.billing(plan);
            let window = |i: Option<i32>| {
                i.and_then(|i| cycle_config.window_at(billed_from, a.until, i as u32))
            };
            work.push(Work {
                association: a,
                plan,
                tz: account.timezone,
                currency: account.currency,
                tax_treatment: account.tax_treatment,
                boundary: Boundary {
                    closing: window(draft.closing_index),
                    opening: window(draft.opening_index),
                },
                draft_id: Some(draft.id.clone()),
                usage_index: None,
            });
        }
    }

    Planned {
        work,
        cycles: cycle_writes,
        failures,
    }
}

/// The usage windows of the closing cycles of `work`, in order; sets each work's
/// `usage_index` into the returned list.
pub(super) fn usage_windows(work: &mut [Work<'_>]) -> Vec<UsageWindow> {
    let mut windows = Vec::new();
    for w in work.iter_mut() {
        if let Some(c) = w.boundary.closing {
            w.usage_index = Some(windows.len());
            windows.push(UsageWindow {
                account_id: w.association.account_id.clone(),
                starts_at: local_start_instant(c.billed.start, w.tz),
                ends_at: local_start_instant(c.billed.end, w.tz),
            });
        }
    }
    windows
}

/// The earlier cycles whose feature use the overage cards of `work`'s closing cycles
/// bill with them (`billingConfig` interval above 1,
/// [`billrun_core::plan::EntitlementOverageRateCard::cycles_billed_at`]): for each,
/// the index of its work in `work`, the cycle, and its usage window (its billed days
/// in the account's timezone). Empty when no plan's overage card bills several
/// cycles together, so such plans cost no extra query.
pub(super) fn earlier_windows(work: &[Work<'_>]) -> Vec<(usize, CycleWindow, UsageWindow)> {
    let mut out = Vec::new();
    for (k, w) in work.iter().enumerate() {
        let Some(c) = w.boundary.closing else {
            continue;
        };
        let last = w.boundary.opening.is_none();
        let needed: std::collections::BTreeSet<u32> = w
            .plan
            .overage_cards
            .iter()
            .filter_map(|card| card.cycles_billed_at(c.index, last))
            .flatten()
            .filter(|j| *j < c.index)
            .collect();
        if needed.is_empty() {
            continue;
        }
        let (cycle_config, billed_from) = w.association.billing(w.plan);
        for j in needed {
            if let Some(window) = cycle_config.window_at(billed_from, w.association.until, j) {
                out.push((
                    k,
                    window,
                    UsageWindow {
                        account_id: w.association.account_id.clone(),
                        starts_at: local_start_instant(window.billed.start, w.tz),
                        ends_at: local_start_instant(window.billed.end, w.tz),
                    },
                ));
            }
        }
    }
    out
}

/// [`earlier_windows`] with their feature use (`uses[i]` is window i's), grouped by
/// work index, in cycle order.
pub(super) fn earlier_cycles(
    windows: &[(usize, CycleWindow, UsageWindow)],
    uses: Vec<BTreeMap<String, billrun_core::charges::FeatureUse>>,
) -> HashMap<usize, Vec<EarlierCycle>> {
    let mut out: HashMap<usize, Vec<EarlierCycle>> = HashMap::new();
    for ((k, window, _), features) in windows.iter().zip(uses) {
        out.entry(*k).or_default().push(EarlierCycle {
            window: *window,
            features,
        });
    }
    out
}

/// The feature use [`price`] reads: of each closing cycle (by [`Work::usage_index`]),
/// and of the earlier cycles overage cards bill with it (by work index,
/// [`earlier_cycles`]).
pub(super) struct FeatureUses<'r> {
    /// Per usage window of [`usage_windows`].
    pub closing: &'r [BTreeMap<String, billrun_core::charges::FeatureUse>],
    /// Per work index.
    pub earlier: &'r HashMap<usize, Vec<EarlierCycle>>,
}

/// One priced invoice: the work, its lines, its pricing rules' log, and the seats its
/// closing cycle refunds as credits (granted when it is written).
pub(super) type PricedInvoice<'w, 'a> = (&'w Work<'a>, InvoiceLines, Vec<RuleLog>, Vec<SeatCredit>);

/// The invoices [`price`] computed.
#[derive(Default)]
pub(super) struct Priced<'w, 'a> {
    /// New invoices: the work, its lines and rules' log.
    pub new: Vec<PricedInvoice<'w, 'a>>,
    /// Recomputed stale drafts: the work (with its draft id), its new lines and log.
    pub recomputed: Vec<PricedInvoice<'w, 'a>>,
    /// Drafts recomputed to nothing, to remove.
    pub emptied: Vec<String>,
    /// Associations (account, start) that could not be priced: their cycles are not
    /// recorded.
    pub failed: HashSet<(String, NaiveDate)>,
}

/// Prices each boundary of `work` from its closing cycle's `usage` (by
/// [`Work::usage_index`]), its `features` ([`FeatureUses`]) and the accounts'
/// `licenses`; an association that cannot be
/// priced is added to `failures`.
pub(super) fn price<'w, 'a>(
    work: &'w [Work<'a>],
    usage: &[BTreeMap<String, Decimal>],
    features: &FeatureUses<'_>,
    licenses: &HashMap<String, BTreeMap<String, Vec<LicenseChange>>>,
    rounding: RoundingMode,
    tax_rates: &[TaxRate],
    failures: &mut Vec<Failure>,
) -> Priced<'w, 'a> {
    let mut priced = Priced::default();
    for (k, w) in work.iter().enumerate() {
        let a = w.association;
        let no_licenses = Default::default();
        let account_licenses = licenses.get(&a.account_id).unwrap_or(&no_licenses);
        let closing = w.boundary.closing.map(|window| CycleInput {
            window,
            usage: w.usage_index.map(|i| usage[i].clone()).unwrap_or_default(),
            features: w
                .usage_index
                .map(|i| features.closing[i].clone())
                .unwrap_or_default(),
            licenses: account_licenses.clone(),
            earlier: features.earlier.get(&k).cloned().unwrap_or_default(),
            last: w.boundary.opening.is_none(),
        });
        let opening = w.boundary.opening.map(|window| CycleInput {
            window,
            usage: Default::default(),
            features: Default::default(),
            licenses: account_licenses.clone(),
            earlier: Vec::new(),
            last: false,
        });
        let contents = match invoice_contents(
            w.plan,
            w.currency,
            rounding,
            closing.as_ref(),
            opening.as_ref(),
        ) {
            Ok(c) => c,
            Err(e) => {
                failures.push(Failure {
                    account_id: a.account_id.clone(),
                    error: e.to_string(),
                });
                priced.failed.insert((a.account_id.clone(), a.from));
                continue;
            }
        };
        // A boundary with nothing billed (no line, no true-up) gets no invoice: an
        // opening one with nothing in advance, a closing one with nothing in arrears
        // (e.g. after a plan migration or a detach). A draft recomputed to nothing is
        // removed (drafts have no number, so no gap is left).
        if contents.lines.is_empty() && contents.true_up.is_none() {
            if let Some(id) = &w.draft_id {
                priced.emptied.push(id.clone());
            }
            continue;
        }
        let mut lines = InvoiceLines::from_contents(&contents);
        let log = contents.pricing_rules_log;
        let seat_credits = contents.seat_credits;
        // Taxes per rate (README "Taxes"): the account's treatment, the organisation's
        // rates, the plan's cards' own rate codes.
        let setup = TaxSetup {
            rates: tax_rates.to_vec(),
            treatment: w.tax_treatment,
            card_rates: w.plan.tax_rate_codes(),
        };
        if let Err(e) = lines.apply_taxes(&setup, w.boundary.date()) {
            failures.push(Failure {
                account_id: a.account_id.clone(),
                error: e.to_string(),
            });
            priced.failed.insert((a.account_id.clone(), a.from));
            continue;
        }
        match &w.draft_id {
            Some(_) => priced.recomputed.push((w, lines, log, seat_credits)),
            None => priced.new.push((w, lines, log, seat_credits)),
        }
    }
    priced
}
