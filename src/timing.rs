//! Process-wide time counters by phase of the bill run, for `billrun bench bill-run`'s
//! profile (README "Benchmarks").
//!
//! Always on and cheap: a phase ends with one `Instant::now()` and two relaxed atomic
//! additions, a handful of times per chunk of hundreds of accounts (never per account
//! or per row). The counters only grow; a reader takes a [`Snapshot`] before and after
//! what it measures and subtracts. Times of jobs that run at the same time add up, so
//! a total can exceed the wall-clock time it was measured in.
//!
//! This module imports nothing from the crate: the queue, the bill run and the bench
//! all sit above it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The step of the bill run a phase belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `cycle-close`: the scan for due work and its fan-out.
    Scan,
    /// `close-chunk`: cycles closed and opened, DRAFT invoices written.
    Close,
    /// `finalize-chunk`: credits, numbers, DRAFT -> DUE.
    Finalize,
    /// The queue machinery of the workers, whatever the kind: claims and acks.
    Queue,
}

impl Step {
    /// Every step, in the order a report lists them.
    pub const ALL: [Step; 4] = [Step::Scan, Step::Close, Step::Finalize, Step::Queue];

    /// Its name in a report.
    pub fn name(self) -> &'static str {
        match self {
            Step::Scan => "cycle-close",
            Step::Close => "close-chunk",
            Step::Finalize => "finalize-chunk",
            Step::Queue => "queue",
        }
    }
}

/// What a step spends its time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Row locks taken before reading (accounts, number counters): includes the wait
    /// for another transaction holding them.
    Lock,
    /// Queries that read (and for finalization also lock the drafts they read).
    Read,
    /// Billing decisions in the process: cycles, rating, invoice trees, numbers, and
    /// the (de)serialisation of stored invoice lines.
    Core,
    /// Inserts, updates and deletes of billing rows.
    Write,
    /// Follow-up jobs enqueued in the step's transaction.
    Enqueue,
    /// `COMMIT` of the step's transaction.
    Commit,
    /// Whole job, from the worker's call of the handler to its return (the phases
    /// above, plus what none of them covers: payload parsing, pool acquire, `BEGIN`).
    Job,
    /// Queue: a claim that returned a job (`UPDATE ... FOR UPDATE SKIP LOCKED`).
    Claim,
    /// Queue: a claim that found nothing (an idle worker's poll).
    EmptyPoll,
    /// Queue: results and locks acknowledged after jobs ran.
    Ack,
}

impl Phase {
    /// Every phase, in the order a report lists them.
    pub const ALL: [Phase; 10] = [
        Phase::Lock,
        Phase::Read,
        Phase::Core,
        Phase::Write,
        Phase::Enqueue,
        Phase::Commit,
        Phase::Job,
        Phase::Claim,
        Phase::EmptyPoll,
        Phase::Ack,
    ];

    /// Its name in a report.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Lock => "lock",
            Phase::Read => "read",
            Phase::Core => "core",
            Phase::Write => "write",
            Phase::Enqueue => "enqueue",
            Phase::Commit => "commit",
            Phase::Job => "job",
            Phase::Claim => "claim",
            Phase::EmptyPoll => "empty poll",
            Phase::Ack => "ack",
        }
    }
}

const STEPS: usize = Step::ALL.len();
const PHASES: usize = Phase::ALL.len();

#[allow(clippy::declare_interior_mutable_const)] // only to initialise the statics
const ZERO: AtomicU64 = AtomicU64::new(0);
static NANOS: [AtomicU64; STEPS * PHASES] = [ZERO; STEPS * PHASES];
static COUNTS: [AtomicU64; STEPS * PHASES] = [ZERO; STEPS * PHASES];

fn slot(step: Step, phase: Phase) -> usize {
    step as usize * PHASES + phase as usize
}

/// Adds `elapsed` to the time of `phase` of `step`, and one to its count.
pub fn add(step: Step, phase: Phase, elapsed: Duration) {
    let i = slot(step, phase);
    NANOS[i].fetch_add(
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    COUNTS[i].fetch_add(1, Ordering::Relaxed);
}

/// Times consecutive phases of one run of a step: each [`Stopwatch::lap`] charges the
/// time since the previous lap (or the start) to a phase.
#[derive(Debug)]
pub struct Stopwatch {
    step: Step,
    last: Instant,
}

impl Stopwatch {
    /// Starts timing a run of `step` now.
    pub fn start(step: Step) -> Self {
        Self {
            step,
            last: Instant::now(),
        }
    }

    /// Charges the time since the previous lap to `phase`.
    pub fn lap(&mut self, phase: Phase) {
        let now = Instant::now();
        add(self.step, phase, now - self.last);
        self.last = now;
    }
}

/// The counters at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    nanos: [u64; STEPS * PHASES],
    counts: [u64; STEPS * PHASES],
}

impl Snapshot {
    /// The counters now.
    pub fn now() -> Self {
        Self {
            nanos: std::array::from_fn(|i| NANOS[i].load(Ordering::Relaxed)),
            counts: std::array::from_fn(|i| COUNTS[i].load(Ordering::Relaxed)),
        }
    }

    /// What was added between `earlier` and this snapshot.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Self {
            nanos: std::array::from_fn(|i| self.nanos[i].saturating_sub(earlier.nanos[i])),
            counts: std::array::from_fn(|i| self.counts[i].saturating_sub(earlier.counts[i])),
        }
    }

    /// Total time charged to `phase` of `step`.
    pub fn time(&self, step: Step, phase: Phase) -> Duration {
        Duration::from_nanos(self.nanos[slot(step, phase)])
    }

    /// How many times `phase` of `step` was charged.
    pub fn count(&self, step: Step, phase: Phase) -> u64 {
        self.counts[slot(step, phase)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The counters are process-wide and other tests may run steps at the same time:
    // this test uses the scan step, which no unit test runs.
    #[test]
    fn laps_charge_the_time_between_them_and_snapshots_subtract() {
        let before = Snapshot::now();
        let mut sw = Stopwatch::start(Step::Scan);
        std::thread::sleep(Duration::from_millis(200));
        sw.lap(Phase::Read);
        sw.lap(Phase::Write);
        add(Step::Scan, Phase::Write, Duration::from_millis(5));
        let d = Snapshot::now().since(&before);
        assert!(d.time(Step::Scan, Phase::Read) >= Duration::from_millis(200));
        assert_eq!(d.count(Step::Scan, Phase::Read), 1);
        // The second lap started where the first ended: the 5 ms added by hand and the
        // moment between the two laps, not the 200 ms sleep before the first.
        assert!(d.time(Step::Scan, Phase::Write) >= Duration::from_millis(5));
        assert!(d.time(Step::Scan, Phase::Write) < Duration::from_millis(100));
        assert_eq!(d.count(Step::Scan, Phase::Write), 2);
        // Slots are separate: nothing ever charges a lock to the queue.
        assert_eq!(d.time(Step::Queue, Phase::Lock), Duration::ZERO);
        assert_eq!(d.count(Step::Queue, Phase::Lock), 0);
    }
}
