//! The floor of `billrun bench bill-run`: what billrun does as of 1 Feb 2026 for the
//! bench's data, as bare set-based SQL (README "Benchmarks", "The floor").

use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::bill_run::{
    totals, Billed, AS_OF, MINIMUM_COMMITMENT, PLATFORM_FEE, SLAB_RATES, SLAB_STARTS,
};

/// The floor of a bill run and what it billed.
#[derive(Debug, Clone)]
pub struct Floor {
    /// Time of its three statements (the reading of its totals and the rollback
    /// excluded).
    pub elapsed: Duration,
    /// What it wrote, read before the rollback.
    pub totals: Billed,
}

/// A SQL expression of one invoice line (`billrun_core::invoice::LineItem`'s JSON),
/// every field an SQL expression.
struct Line<'a> {
    kind: &'a str,
    card_name: &'a str,
    card_kind: Option<&'a str>,
    display_name: &'a str,
    description: &'a str,
    quantity: &'a str,
    unit_price: &'a str,
    amount: &'a str,
    period: &'a str,
    children: &'a str,
}

impl Line<'_> {
    /// A summary line (no card, no children): `kind`, its title and amount.
    fn summary<'a>(kind: &'a str, display_name: &'a str, amount: &'a str) -> Line<'a> {
        Line {
            kind,
            card_name: "NULL::text",
            card_kind: None,
            display_name,
            description: "NULL::text",
            quantity: "NULL::text",
            unit_price: "NULL::text",
            amount,
            period: "NULL::jsonb",
            children: "'[]'::jsonb",
        }
    }

    fn sql(&self) -> String {
        let card_kind = self
            .card_kind
            .map(|k| format!("'cardKind', {k}, "))
            .unwrap_or_default();
        format!(
            "jsonb_build_object('kind', {}, 'cardName', {}, {card_kind}'displayName', {}, \
             'description', {}, 'quantity', {}, 'unitPrice', {}, 'amount', {}, 'period', {}, \
             'children', {})",
            self.kind,
            self.card_name,
            self.display_name,
            self.description,
            self.quantity,
            self.unit_price,
            self.amount,
            self.period,
            self.children
        )
    }
}

/// An amount as the lines store it: a string with the currency's 2 decimals.
fn money(expr: &str) -> String {
    format!("round({expr}, 2)::text")
}

fn period(start: &str, end: &str) -> String {
    format!("jsonb_build_object('start', '{start}', 'end', '{end}')")
}

/// The lines of an invoice: the tree under its grand total and the summary lines.
fn invoice_lines(
    groups: &str,
    sub_total: &str,
    true_up: &str,
    true_up_line: &str,
    total: &str,
) -> String {
    let grand_total = Line {
        children: &format!(
            "jsonb_build_array({groups}) || CASE WHEN {true_up} > 0 THEN jsonb_build_array({true_up_line}) ELSE '[]'::jsonb END"
        ),
        ..Line::summary("'GRAND_TOTAL'", "'Total'", &money(total))
    }
    .sql();
    format!(
        "jsonb_build_object('currency', 'USD', 'grandTotal', {grand_total}, 'subTotal', {}, \
         'trueUp', CASE WHEN {true_up} > 0 THEN {true_up_line} END, 'totalCredits', {}, 'total', {})",
        Line::summary("'SUB_TOTAL'", "'Subtotal'", &money(sub_total)).sql(),
        Line::summary("'TOTAL_CREDITS'", "'Credits'", "'0.00'").sql(),
        Line::summary("'TOTAL'", "'Total'", &money(total)).sql(),
    )
}

/// The floor of the bench's bill run, in a transaction rolled back at the end: what
/// billrun does as of 1 Feb 2026 for the data of [`super::bill_run::generate`], as
/// three set-based statements that know the bench plan (`SLAB_*`, `PLATFORM_FEE`, `MINIMUM_COMMITMENT`):
/// January's usage aggregated per account and meter; two invoices per account (Jan 1:
/// January's fee in advance; Feb 1: January's usage by slab, its true-up, February's
/// fee) with their lines, numbered, dated and DUE (PAID when the total is 0); cycle 0
/// closed and cycle 1 open per account; the number counter.
/// No queue, no locks, no checks, no credits, no catching up, no timezones.
pub async fn floor(pool: &PgPool) -> Result<Floor> {
    let slab = Line {
        kind: "'SLAB'",
        card_name: "'api_calls'",
        card_kind: None,
        display_name: "'API calls'",
        // billrun stores a rate as its plan's decimal without trailing zeros.
        description: "format('slab %s (above %s: %s x %s)', s.n, s.start_after, s.quantity, trim_scale(s.rate))",
        quantity: "s.quantity::text",
        unit_price: "trim_scale(s.rate)::text",
        amount: &money("s.quantity * s.rate"),
        period: &period("2026-01-01", "2026-02-01"),
        children: "'[]'::jsonb",
    }
    .sql();
    let usage_line = Line {
        kind: "'PRICE_PLAN'",
        card_name: "'api_calls'",
        card_kind: Some("'USAGE'"),
        display_name: "'API calls'",
        description: "c.quantity || ' units'",
        quantity: "c.quantity::text",
        unit_price: "NULL::text",
        amount: &money("c.usage"),
        period: &period("2026-01-01", "2026-02-01"),
        children: "c.slabs",
    }
    .sql();
    let fee_line = |start: &str, end: &str| {
        Line {
            kind: "'PRICE_PLAN'",
            card_name: "'platform_fee'",
            card_kind: Some("'FIXED_FEE'"),
            display_name: "'Platform fee'",
            description: "$5::text",
            quantity: "'1'",
            unit_price: "$5::text",
            amount: &money("$5"),
            period: &period(start, end),
            children: "'[]'::jsonb",
        }
        .sql()
    };
    let true_up_line = Line {
        kind: "'TRUE_UP'",
        card_name: "'minimum_commitment'",
        card_kind: Some("'MINIMUM_COMMITMENT'"),
        display_name: "'Minimum commitment'",
        description: "format('minimum %s, charges %s', round($6, 2), round(c.usage + $5, 2))",
        quantity: "'1'",
        unit_price: "$6::text",
        amount: &money("c.true_up"),
        period: &period("2026-01-01", "2026-02-01"),
        children: "'[]'::jsonb",
    }
    .sql();
    let group = |cards: &str, amount: &str| {
        Line {
            children: &format!("jsonb_build_array({cards})"),
            ..Line::summary("'GROUP'", "'Charges'", &money(amount))
        }
        .sql()
    };
    let january = invoice_lines(
        &group(&fee_line("2026-01-01", "2026-02-01"), "$5"),
        "$5",
        "0",
        "NULL::jsonb",
        "$5",
    );
    let february = invoice_lines(
        &group(
            &format!("{usage_line}, {}", fee_line("2026-02-01", "2026-03-01")),
            "c.usage + $5",
        ),
        "c.usage + $5",
        "c.true_up",
        &true_up_line,
        "c.usage + $5 + c.true_up",
    );
    let invoices = format!(
        "WITH used AS (
             SELECT e.account_id, m.id AS meter, sum((e.attributes ->> 'calls')::numeric) AS quantity
             FROM usage_events e
             JOIN usage_meters m
               ON m.org_id = e.org_id AND m.event_schema = e.schema_name AND e.dimensions @> m.filters
             WHERE e.org_id = 'bench' AND e.ts >= $1 AND e.ts < $2
             GROUP BY e.account_id, m.id
         ), slabs AS (
             SELECT p.account_id, coalesce(u.quantity, 0) AS total, n, ($3::numeric[])[n] AS start_after,
                    ($4::numeric[])[n] AS rate,
                    greatest(least(coalesce(u.quantity, 0),
                                   coalesce(($3::numeric[])[n + 1], coalesce(u.quantity, 0)))
                             - ($3::numeric[])[n], 0) AS quantity
             FROM plan_associations p
             LEFT JOIN used u ON u.account_id = p.account_id AND u.meter = 'api_calls'
             CROSS JOIN generate_series(1, cardinality($3::numeric[])) AS n
             WHERE p.org_id = 'bench'
         ), rated AS (
             SELECT s.account_id, s.total AS quantity, sum(round(s.quantity * s.rate, 2)) AS usage,
                    coalesce(jsonb_agg({slab} ORDER BY s.n) FILTER (WHERE s.quantity > 0), '[]') AS slabs
             FROM slabs s GROUP BY s.account_id, s.total
         ), charged AS (
             SELECT r.*, greatest(round($6, 2) - (r.usage + $5), 0) AS true_up
             FROM rated r
         ), billed AS (
             SELECT c.account_id, DATE '2026-01-01' AS boundary, NULL::int AS closing_index,
                    0 AS opening_index, DATE '2026-01-01' AS opening_start, DATE '2026-02-01' AS opening_end,
                    round($5, 2) AS sub_total, 0::numeric AS true_up, round($5, 2) AS total,
                    {january} AS lines
             FROM charged c
             UNION ALL
             SELECT c.account_id, DATE '2026-02-01', 0, 1, DATE '2026-02-01', DATE '2026-03-01',
                    c.usage + round($5, 2), c.true_up, c.usage + round($5, 2) + c.true_up,
                    {february}
             FROM charged c
         )
         INSERT INTO invoices (org_id, id, account_id, association_from, boundary, plan_id, plan_version,
             status, currency, closing_index, closing_start, closing_end, closing_starts_at,
             closing_ends_at, opening_index, opening_start, opening_end, sub_total, true_up, credits,
             total, lines, grace_ends_at, computed_at, number, invoice_date, due_date, net_term_days,
             finalized_at, paid_at)
         SELECT 'bench', b.account_id || '/' || b.boundary, b.account_id, p.effective_from, b.boundary,
                p.plan_id, p.plan_version, CASE WHEN b.total = 0 THEN 'PAID' ELSE 'DUE' END,
                a.invoice_currency, b.closing_index,
                CASE WHEN b.closing_index = 0 THEN DATE '2026-01-01' END,
                CASE WHEN b.closing_index = 0 THEN DATE '2026-02-01' END,
                CASE WHEN b.closing_index = 0 THEN $1 END,
                CASE WHEN b.closing_index = 0 THEN $2 END,
                b.opening_index, b.opening_start, b.opening_end, b.sub_total, b.true_up, 0, b.total,
                b.lines, b.boundary::timestamp AT TIME ZONE 'UTC', $2,
                'B-2026-' || lpad((row_number() OVER (ORDER BY b.boundary, b.account_id))::text, 7, '0'),
                DATE '2026-02-01', DATE '2026-02-01' + coalesce(a.net_term_days, o.net_term_days),
                coalesce(a.net_term_days, o.net_term_days), $2,
                CASE WHEN b.total = 0 THEN $2 END
         FROM billed b
         JOIN plan_associations p ON p.org_id = 'bench' AND p.account_id = b.account_id
         JOIN accounts a ON a.org_id = 'bench' AND a.id = b.account_id
         JOIN organisations o ON o.id = 'bench'"
    );
    let starts: Vec<Decimal> = SLAB_STARTS.iter().map(|&s| Decimal::from(s)).collect();
    let rates: Vec<Decimal> = SLAB_RATES
        .iter()
        .map(|r| r.parse().expect("a decimal rate"))
        .collect();
    let (jan, feb) = ("2026-01-01T00:00:00Z", AS_OF);
    let jan: DateTime<Utc> = jan.parse()?;
    let feb: DateTime<Utc> = feb.parse()?;

    let mut tx = pool.begin().await?;
    let start = Instant::now();
    sqlx::query(sqlx::AssertSqlSafe(invoices))
        .bind(jan)
        .bind(feb)
        .bind(&starts)
        .bind(&rates)
        .bind(Decimal::from(PLATFORM_FEE))
        .bind(Decimal::from(MINIMUM_COMMITMENT))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO billing_cycles (org_id, account_id, association_from, cycle_index, full_start,
             full_end, billed_start, billed_end, starts_at, ends_at, status, closed_at)
         SELECT 'bench', p.account_id, p.effective_from, c.i, c.s, c.e, c.s, c.e,
                c.s::timestamp AT TIME ZONE 'UTC', c.e::timestamp AT TIME ZONE 'UTC', c.status,
                CASE WHEN c.status = 'CLOSED' THEN $1::timestamptz END
         FROM plan_associations p
         CROSS JOIN (VALUES (0, DATE '2026-01-01', DATE '2026-02-01', 'CLOSED'),
                            (1, DATE '2026-02-01', DATE '2026-03-01', 'OPEN')) AS c(i, s, e, status)
         WHERE p.org_id = 'bench'",
    )
    .bind(feb)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO invoice_number_sequences (org_id, sequence_key, last_value)
         SELECT 'bench', '2026', count(*) FROM invoices WHERE org_id = 'bench'
         ON CONFLICT (org_id, sequence_key) DO UPDATE SET last_value = EXCLUDED.last_value",
    )
    .execute(&mut *tx)
    .await?;
    let elapsed = start.elapsed();
    let totals = totals(&mut tx).await?;
    tx.rollback().await?;
    Ok(Floor { elapsed, totals })
}
