//! `billrun bench bill-run`'s floor: bare set-based SQL that bills exactly what
//! billrun bills for the bench's data, and leaves nothing behind.

use billrun::bench::bill_run::{generate, totals, Billed};
use billrun::bench::floor::floor;
use rust_decimal_macros::dec;

use crate::fixtures;
use crate::harness::*;

/// The bench data for 3 accounts x 30 events, changed so that each slab and the
/// minimum commitment are reached. Event e of account a has (31 a + 17 e) mod 400
/// calls, all in January:
/// - acc0000001 keeps its first 4 events: 48 + 65 + 82 + 99 = 294 calls;
/// - acc0000002: sum of 62 + 17 e over e = 1..30 is 9,765, less 400 for each of the
///   11 values above 400 (e >= 20): 5,365 calls; its event on Feb 1 is February's;
/// - acc0000003: 10,695 less 400 x 12 (e >= 19) = 5,895 calls, plus one event of
///   6,000 on Jan 31: 11,895 calls.
async fn bench_data(pool: &sqlx::PgPool) {
    generate(pool, 3, 30).await.unwrap();
    sqlx::query(
        "DELETE FROM usage_events
         WHERE account_id = 'acc0000001' AND split_part(id, '-', 2)::int >= 5",
    )
    .execute(pool)
    .await
    .unwrap();
    let (feb, jan31) = ("2026-02-01T00:00:00Z", "2026-01-31T23:59:59Z");
    fixtures::event(pool, "bench", "feb", "acc0000002", feb, dec!(1000)).await;
    fixtures::event(pool, "bench", "big", "acc0000003", jan31, dec!(6000)).await;
}

#[tokio::test]
async fn the_bill_run_floor_bills_what_billrun_bills_and_is_rolled_back() {
    let c = Cli::new().await;
    let pool = &c.db.pool;
    bench_data(pool).await;

    // Jan 1: 3 x 99.00 in advance. Feb 1 (January's usage by slab of 0.10 / 0.05 /
    // 0.01 per call, above 0 / 1,000 / 10,000; then February's 99.00):
    // - acc0000001: 294 x 0.10 = 29.40; charges 29.40 + 99.00 = 128.40 < 300.00, so a
    //   true-up of 171.60: sub-total 128.40, total 300.00;
    // - acc0000002: 100.00 + 4,365 x 0.05 = 318.25; + 99.00 = 417.25;
    // - acc0000003: 100.00 + 450.00 + 1,895 x 0.01 = 568.95; + 99.00 = 667.95.
    // Sub-totals 297.00 + 128.40 + 417.25 + 667.95 = 1,510.60; total 1,682.20.
    let floor = floor(pool).await.unwrap();
    let expected = Billed {
        invoices: 6,
        finalized: 6,
        cycles: 6,
        closed_cycles: 3,
        sub_total: dec!(1510.60),
        true_up: dec!(171.60),
        total: dec!(1682.20),
        lines_bytes: floor.totals.lines_bytes,
    };
    assert_eq!(floor.totals, expected);
    assert!(floor.totals.lines_bytes > 0);

    // Rolled back: nothing written.
    let mut conn = pool.acquire().await.unwrap();
    let left = totals(&mut conn).await.unwrap();
    assert_eq!((left.invoices, left.cycles), (0, 0));
    let counters: i64 = sqlx::query_scalar("SELECT count(*) FROM invoice_number_sequences")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(counters, 0);

    // billrun's own bill run of the same data: the same invoices, amounts and cycles,
    // and lines of the same size (the floor writes the same tree).
    c.ok(&[
        "run",
        "cycle-close",
        "--now",
        "2026-02-01T00:00:00Z",
        "--json",
    ]);
    let billed = totals(&mut conn).await.unwrap();
    assert_eq!(billed, floor.totals);
}

/// `billrun bench pipeline` on 3 accounts x 5 events: every stage reaches all 6
/// invoices, the SMTP pass sends 6 emails, and the bench's database is dropped.
#[tokio::test]
async fn the_pipeline_bench_takes_every_invoice_through_every_stage_and_cleans_up() {
    let c = Cli::new().await;
    let out = c.run(&[
        "bench",
        "pipeline",
        "--accounts",
        "3",
        "--events-per-account",
        "5",
    ]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    // Event e of account a has (31 a + 17 e) mod 400 calls: 48 + 65 + 82 + 99 + 116 =
    // 410 (a = 1), 79 + 96 + 113 + 130 + 147 = 565 (a = 2), 110 + 127 + 144 + 161 + 178
    // = 720 (a = 3), at 0.10 in the first slab: 41.00, 56.50, 72.00; each plus the
    // 99.00 fee is under the 300.00 minimum, so each Feb 1 invoice is 300.00. With the
    // three Jan 1 invoices of 99.00: 900.00 + 297.00 = 1,197.00.
    assert!(
        text.contains("billed: 6 invoices, 6 finalized, 1197.00 USD in all"),
        "{text}"
    );
    for stage in ["close", "finalize", "render", "deliver"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(stage))
            .unwrap_or_else(|| panic!("no {stage} line in {text}"));
        assert_eq!(line.split_whitespace().nth(1), Some("6"), "{line}");
    }
    assert!(text.contains("documents: 6 stored"), "{text}");
    assert!(text.contains("6 emails in"), "the SMTP pass: {text}");
    let left: Option<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname = 'billrun_bench_pipeline'",
    )
    .fetch_optional(&c.db.pool)
    .await
    .unwrap();
    assert_eq!(left, None, "the bench's database is dropped");
}
