//! One judge at work: its bounded queue, the thread that takes calls from it, a thread per
//! call being judged (at most `concurrency` alive, counting those past their timeout that
//! have not returned), timeouts, and the counts.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::judge::{Judge, JudgeFn, JudgeStats};
use super::sample;
use crate::record::finished::Record;
use crate::record::tracer::{ExecutionTracer, WeakTracer};
use crate::score::{Score, SourceKind};

/// How often an idle judge moves the threads' finished calls into the tracer (so a call
/// reaches its judge within about this long), and checks timeouts.
const TICK: Duration = Duration::from_millis(50);

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const TIMED_OUT: u8 = 2;

/// A judge's counts.
#[derive(Debug, Default)]
pub(super) struct Counts {
    sampled: AtomicU64,
    skipped: AtomicU64,
    judged: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    dropped: AtomicU64,
    pending: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counts {
    fn snapshot(&self) -> JudgeStats {
        // `pending` first, with the ordering `settle` releases: every call no longer
        // pending is then seen in the other counts.
        let pending = self.pending.load(Ordering::Acquire);
        let load = |count: &AtomicU64| count.load(Ordering::Relaxed);
        JudgeStats {
            sampled: load(&self.sampled),
            skipped: load(&self.skipped),
            judged: load(&self.judged),
            failed: load(&self.failed),
            timed_out: load(&self.timed_out),
            dropped: load(&self.dropped),
            pending,
            last_error: self.last_error.lock().clone(),
        }
    }

    fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(error);
    }

    fn settle(&self) {
        self.pending.fetch_sub(1, Ordering::Release);
    }
}

/// A call being judged: when it must be done, and who settled it first (the judge, or the
/// clock).
#[derive(Debug)]
struct InFlight {
    deadline: Instant,
    state: Arc<AtomicU8>,
}

/// What a judge's threads share.
struct Shared {
    name: String,
    run: Arc<JudgeFn>,
    timeout: Duration,
    concurrency: usize,
    counts: Counts,
    alive: AtomicUsize,
    in_flight: Mutex<Vec<InFlight>>,
    tracer: WeakTracer,
    max_field_bytes: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

/// A registered judge: the tap's side (sampling and the queue) and its threads.
#[derive(Debug)]
pub(super) struct Runner {
    threshold: u64,
    queue: SyncSender<Record>,
    shared: Arc<Shared>,
}

impl Runner {
    /// Starts `judge`'s thread; it ends when the tracer is dropped.
    pub(super) fn start(
        judge: Judge,
        fraction: f64,
        tracer: WeakTracer,
        max_field_bytes: usize,
    ) -> Arc<Runner> {
        let (queue, calls) = sync_channel(judge.queue);
        let shared = Arc::new(Shared {
            name: judge.name,
            run: judge.run,
            timeout: judge.timeout,
            concurrency: judge.concurrency,
            counts: Counts::default(),
            alive: AtomicUsize::new(0),
            in_flight: Mutex::new(Vec::new()),
            tracer,
            max_field_bytes,
        });
        let dispatcher = Arc::clone(&shared);
        let started = std::thread::Builder::new()
            .name(thread_name(&shared.name))
            .spawn(move || dispatch(&dispatcher, &calls));
        if let Err(error) = started {
            shared
                .counts
                .fail(format!("judge thread not started: {error}"));
        }
        Arc::new(Runner {
            threshold: sample::threshold(fraction),
            queue,
            shared,
        })
    }

    pub(super) fn counts(&self) -> &Counts {
        &self.shared.counts
    }

    /// Its tracer, while it exists.
    pub(super) fn tracer(&self) -> Option<ExecutionTracer> {
        self.shared.tracer.upgrade()
    }

    /// Takes a finished call for judging when it is in the sample and the queue has room:
    /// an enqueue, under the shard's lock, never a wait.
    pub(super) fn offer(&self, record: &Record) {
        let counts = &self.shared.counts;
        if !sample::sampled(record.trace_id, self.threshold) {
            counts.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        counts.sampled.fetch_add(1, Ordering::Relaxed);
        counts.pending.fetch_add(1, Ordering::Relaxed);
        match self.queue.try_send(record.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                counts.settle();
            }
        }
    }
}

thread_local! {
    static ON_JUDGE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is one of the judges' own: a tracer handle it held briefly may be
/// the last one, and waiting there for the judges would be a judge waiting for itself.
pub(super) fn on_judge_thread() -> bool {
    ON_JUDGE_THREAD
        .try_with(std::cell::Cell::get)
        .unwrap_or(false)
}

fn mark_judge_thread() {
    let _ = ON_JUDGE_THREAD.try_with(|on| on.set(true));
}

/// The judge's thread: takes queued calls and starts one thread per call within the
/// concurrency bound; when idle, moves finished calls into the tracer and checks timeouts.
fn dispatch(shared: &Arc<Shared>, calls: &Receiver<Record>) {
    mark_judge_thread();
    loop {
        expire(shared);
        match calls.recv_timeout(TICK) {
            Ok(record) => {
                if !wait_for_room(shared) {
                    return;
                }
                judge_in_background(shared, record);
            }
            Err(RecvTimeoutError::Timeout) => match shared.tracer.upgrade() {
                Some(tracer) => tracer.drain_to_tap(),
                None => return,
            },
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Waits until fewer than `concurrency` judging threads are alive; `false` when the tracer
/// went meanwhile.
fn wait_for_room(shared: &Shared) -> bool {
    while shared.alive.load(Ordering::Acquire) >= shared.concurrency {
        expire(shared);
        if shared.tracer.upgrade().is_none() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Counts the calls past their deadline as timed out (their late results will be thrown
/// away) and forgets settled ones.
fn expire(shared: &Shared) {
    let now = Instant::now();
    shared.in_flight.lock().retain(|call| {
        if call.deadline <= now
            && call
                .state
                .compare_exchange(RUNNING, TIMED_OUT, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            shared.counts.timed_out.fetch_add(1, Ordering::Relaxed);
            shared.counts.settle();
        }
        call.state.load(Ordering::Acquire) == RUNNING
    });
}

fn judge_in_background(shared: &Arc<Shared>, record: Record) {
    let state = Arc::new(AtomicU8::new(RUNNING));
    shared.in_flight.lock().push(InFlight {
        deadline: crate::deadline::after(shared.timeout),
        state: Arc::clone(&state),
    });
    shared.alive.fetch_add(1, Ordering::AcqRel);
    let worker = Arc::clone(shared);
    let started = std::thread::Builder::new()
        .name(thread_name(&shared.name))
        .spawn(move || {
            mark_judge_thread();
            let outcome = judge_one(&worker, &record);
            if state
                .compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // The outcome is counted before the call stops being pending, so a
                // `flush_judges` that sees nothing pending sees this call judged.
                settle(&worker, &record, outcome);
                worker.counts.settle();
            }
            worker.alive.fetch_sub(1, Ordering::AcqRel);
        });
    if let Err(error) = started {
        shared.alive.fetch_sub(1, Ordering::AcqRel);
        shared
            .counts
            .fail(format!("judge thread not started: {error}"));
        shared.counts.settle();
    }
}

/// The name of a judge's threads: a NUL byte in it would make `std` panic when spawning.
fn thread_name(judge: &str) -> String {
    format!("monitor-judge-{}", judge.replace('\0', ""))
}

/// Runs the judge on one call, its panic caught.
fn judge_one(shared: &Shared, record: &Record) -> Result<Score, String> {
    let entry = record.to_entry(shared.max_field_bytes);
    match catch_unwind(AssertUnwindSafe(|| (shared.run)(&entry))) {
        Ok(outcome) => outcome,
        Err(panic) => Err(format!(
            "judge panicked: {}",
            crate::capture::payload_message(&*panic)
        )),
    }
}

/// Attaches the judge's score to its call as feedback, or counts why not.
fn settle(shared: &Shared, record: &Record, outcome: Result<Score, String>) {
    let score = match outcome {
        Ok(score) => by_this_judge(score, &shared.name),
        Err(error) => return shared.counts.fail(error),
    };
    let Some(tracer) = shared.tracer.upgrade() else {
        return shared.counts.fail("the tracer was dropped".to_owned());
    };
    match give_feedback(&tracer, record, score) {
        Ok(()) => {
            shared.counts.judged.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => shared.counts.fail(error.to_string()),
    }
}

fn give_feedback(
    tracer: &ExecutionTracer,
    record: &Record,
    score: Score,
) -> Result<(), crate::error::Error> {
    let trace = format!("{:032x}", record.trace_id);
    let span = format!("{:016x}", record.span_id);
    tracer.feedback(&trace, Some(&span), score).map(|_| ())
}

/// The score, from this judge unless it names another source.
fn by_this_judge(score: Score, judge: &str) -> Score {
    if score.source.kind == SourceKind::Code && score.source.id.is_none() {
        score.by_llm_judge(judge)
    } else {
        score
    }
}

impl Counts {
    pub(super) fn add_to(&self, total: &mut JudgeStats) {
        let mine = self.snapshot();
        total.sampled += mine.sampled;
        total.skipped += mine.skipped;
        total.judged += mine.judged;
        total.failed += mine.failed;
        total.timed_out += mine.timed_out;
        total.dropped += mine.dropped;
        total.pending += mine.pending;
        if mine.last_error.is_some() {
            total.last_error = mine.last_error;
        }
    }
}
