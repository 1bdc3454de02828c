//! Delivery: from a log call to the server, with nothing lost or sent twice.
//!
//! A log call pushes its record onto an in-memory queue and returns (no I/O, one short
//! lock). Two background threads own the rest:
//! - the writer ([`writer`]) appends every queued record to the on-disk journal
//!   ([`journal`]) as soon as it can, in group commits, so a record is on disk within
//!   milliseconds whatever the network does;
//! - the dispatcher ([`dispatch`]) reads the journal in order, sends `log-batch` and the
//!   other requests, retries (`mlflow/retry.rs`), and acknowledges in the journal what the server
//!   took or refused.
//!
//! Runs carry a client identity (tag `monitor.run_key`) and the journal remembers which
//! runs exist, so a replay (a later process, or a resend after a lost answer) binds to the
//! run instead of creating a second one, and checks the server's metric history before
//! resending points it may already have.

// Owns: the queue between log calls and the background threads, with what they share and
// what flushes report (here: `Channel`, `State`, `FlushReport`); the writer thread
// (`writer.rs`); the spool (`journal/`); and the dispatcher and its batching
// (`dispatch/`), which retries by MLflow's policy (`mlflow/retry.rs`).
//
// May call: `config`, `op`, `retry`, and through the dispatcher only, `client` and `local`. Log
// calls reach it by `Channel::push`, which does no I/O.

pub(crate) mod dispatch;
pub(crate) mod journal;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use self::journal::Journal;
use super::config::{Destination, MlflowConfig};
use super::op::{Op, RunKey};
use crate::error::{Error, Result};

/// A record the server refused; it will not be retried.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// The run (client-side id; the server's id when known is in the message).
    pub run: String,
    /// What it was (`metric loss=0.5 (step 3)`).
    pub record: String,
    /// Why it was refused.
    pub reason: String,
}

/// What [`flush`](crate::mlflow::MlflowRun::flush) and shutdown report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Records delivered since the flush began (including earlier ones it waited for).
    pub delivered: u64,
    /// Records the server refused during the flush (bad values it caught, or a param
    /// changed by another client). Everything else in their batches was delivered.
    pub rejected: Vec<Rejected>,
    /// Records of this process neither delivered nor on disk: queued a moment ago, or
    /// kept in memory because the spool cannot be written. Lost if the process exits now.
    pub in_memory: u64,
    /// Records waiting in the spool on disk; a later flush or process delivers them.
    pub spooled: u64,
    /// Where the spool is.
    pub spool_dir: Option<PathBuf>,
    /// Records dropped because the spool could not be written and memory was full
    /// (see [`MlflowConfig::max_in_memory`]). They are lost.
    pub dropped: u64,
    /// Why the spool cannot be written (a full disk, no permission), while it cannot.
    pub spool_error: Option<String>,
}

impl FlushReport {
    /// Everything logged before the flush is on the server (or in the local store).
    pub fn is_complete(&self) -> bool {
        self.in_memory == 0
            && self.spooled == 0
            && self.rejected.is_empty()
            && self.dropped == 0
            && self.spool_error.is_none()
    }
}

impl std::fmt::Display for FlushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} delivered", self.delivered)?;
        if !self.rejected.is_empty() {
            write!(f, ", {} rejected", self.rejected.len())?;
            for r in self.rejected.iter().take(10) {
                write!(f, "\n  rejected {} (run {}): {}", r.record, r.run, r.reason)?;
            }
        }
        if self.spooled > 0 {
            let dir = self
                .spool_dir
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            write!(
                f,
                ", {} waiting on disk in {dir} (delivered by the next flush or process)",
                self.spooled
            )?;
        }
        if self.in_memory > 0 {
            write!(f, ", {} not delivered (still in memory)", self.in_memory)?;
        }
        if self.dropped > 0 {
            write!(
                f,
                ", {} lost (the spool is unwritable and memory was full)",
                self.dropped
            )?;
        }
        if let Some(e) = &self.spool_error {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

/// A run as the worker knows it.
#[derive(Clone, Debug)]
pub(crate) enum Binding {
    Created {
        run_id: String,
        artifact_uri: String,
    },
    Failed(String),
}

/// What the log calls, the writer, the dispatcher and flushes share.
#[derive(Default)]
pub(crate) struct State {
    /// Records queued by log calls, not yet taken by the writer.
    incoming: Vec<Op>,
    writer_idle: bool,
    /// Records queued by this process.
    enqueued: u64,
    /// Records of this process the writer has taken (on disk, in memory or dropped).
    committed: u64,
    /// Records of this process delivered, refused or dropped.
    settled: u64,
    /// Bumped by the writer after each commit, so the dispatcher knows there is more.
    commits: u64,
    dispatcher_idle: bool,
    flush_requests: u64,
    /// The last flush request the dispatcher has made a delivery attempt for.
    flush_acked: u64,
    delivered: u64,
    rejected: Vec<Rejected>,
    dropped: u64,
    /// The last delivery attempt failed after its retries: flushes stop waiting.
    degraded: bool,
    bindings: HashMap<RunKey, Binding>,
    /// Both threads are running.
    alive: bool,
    /// The dispatcher has claimed what earlier processes left (flushes wait for it).
    started: bool,
    /// The journal as of its last change (read by flushes without touching the journal).
    spooled: u64,
    own_spooled: u64,
    memory: u64,
    spool_error: Option<String>,
}

impl State {
    /// Copies the journal's counts; called with the journal locked, so the copy and the
    /// other counters change together.
    pub(crate) fn mirror(&mut self, journal: &Journal) {
        let (all, own) = journal.unsettled();
        self.spooled = all;
        self.own_spooled = own;
        self.memory = journal.in_memory();
        self.spool_error = journal.error().map(str::to_owned);
    }
}

/// The shared end of the queue; the writer and dispatcher threads own the other.
pub(crate) struct Channel {
    state: Mutex<State>,
    /// Wakes the writer (new records).
    writer_wake: Condvar,
    /// Wakes the dispatcher (new records on disk, a flush).
    dispatcher_wake: Condvar,
    /// Wakes flushes and `run_id` waiters.
    progress: Condvar,
    journal: Mutex<Journal>,
    pub(crate) config: MlflowConfig,
    pub(crate) dest: Destination,
    spool_dir: PathBuf,
    pub(crate) active_runs: AtomicUsize,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("dest", &self.dest)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Starts the writer and the dispatcher for `config`.
    pub(crate) fn start(config: MlflowConfig) -> Result<Arc<Channel>> {
        let dest = config.destination()?;
        let backend = dispatch::PreparedBackend::new(&config, &dest)?;
        let spool_dir = config.spool_directory(&dest);
        let channel = Arc::new(Channel {
            state: Mutex::new(State {
                alive: true,
                ..State::default()
            }),
            writer_wake: Condvar::new(),
            dispatcher_wake: Condvar::new(),
            progress: Condvar::new(),
            journal: Mutex::new(Journal::new(spool_dir.clone(), config.max_in_memory)),
            config,
            dest,
            spool_dir,
            active_runs: AtomicUsize::new(0),
        });
        let ch = channel.clone();
        spawn("monitor-mlflow-writer", move || writer::run(&ch), &channel)?;
        let ch = channel.clone();
        let dispatcher = dispatch::Dispatcher::new(ch, backend);
        spawn("monitor-mlflow", move || dispatcher.run(), &channel)?;
        Ok(channel)
    }

    /// Queues one op. Never blocks on I/O; wakes the writer only if it sleeps idle.
    #[inline]
    pub(crate) fn push(&self, op: Op) {
        let mut s = self.state.lock();
        s.incoming.push(op);
        s.enqueued += 1;
        let wake = std::mem::take(&mut s.writer_idle);
        drop(s);
        if wake {
            self.writer_wake.notify_one();
        }
    }

    /// The server's id of a run, waiting up to `timeout` for the worker to create it.
    pub(crate) fn binding(&self, run: RunKey, timeout: Duration) -> Option<Binding> {
        let deadline = crate::deadline::after(timeout);
        let mut s = self.state.lock();
        loop {
            if let Some(b) = s.bindings.get(&run) {
                return Some(b.clone());
            }
            if !s.alive {
                return None;
            }
            s.flush_requests += 1; // deliver now rather than after a backoff
            self.dispatcher_wake.notify_one();
            if self.progress.wait_until(&mut s, deadline).timed_out() {
                return s.bindings.get(&run).cloned();
            }
        }
    }

    /// Waits until every op queued before the call is delivered or refused, or delivery
    /// has failed (then they are on disk, or reported in memory), or `timeout` passes.
    pub(crate) fn flush(&self, timeout: Duration) -> FlushReport {
        let deadline = crate::deadline::after(timeout);
        let mut s = self.state.lock();
        let target = s.enqueued;
        let rejected_from = s.rejected.len();
        let delivered_from = s.delivered;
        s.flush_requests += 1;
        let request = s.flush_requests;
        let wake_writer = std::mem::take(&mut s.writer_idle);
        self.dispatcher_wake.notify_one();
        if wake_writer {
            self.writer_wake.notify_one();
        }
        let done = |s: &State| {
            (s.started && s.settled >= target && s.spooled == 0 && s.memory == 0)
                || (s.degraded && s.flush_acked >= request && s.committed >= target)
                || !s.alive
        };
        while !done(&s) {
            if self.progress.wait_until(&mut s, deadline).timed_out() {
                break;
            }
        }
        FlushReport {
            delivered: s.delivered - delivered_from,
            rejected: s.rejected[rejected_from..].to_vec(),
            in_memory: s
                .enqueued
                .saturating_sub(s.settled)
                .saturating_sub(s.own_spooled),
            spooled: s.spooled,
            spool_dir: (s.spooled > 0 || s.spool_error.is_some()).then(|| self.spool_dir.clone()),
            dropped: s.dropped,
            spool_error: s.spool_error.clone(),
        }
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static, ch: &Arc<Channel>) -> Result<()> {
    let ch = ch.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
            ch.state.lock().alive = false;
            ch.progress.notify_all();
            if result.is_err() {
                crate::record::subscriber::emit!(tracing::error!(target: "monitor::mlflow", "an mlflow delivery thread stopped after a panic"));
            }
        })
        .map(drop)
        .map_err(|e| Error::Mlflow(format!("cannot start the mlflow worker thread: {e}")))
}

/// An error and its sources, one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// Prints a warning through `tracing`, and on stderr when no subscriber is installed (a
/// program that never set one up must still hear that records are at risk).
pub(crate) fn warn_loudly(msg: &str) {
    crate::record::subscriber::emit!(tracing::warn!(target: "monitor::mlflow", "{msg}"));
    if !tracing::dispatcher::has_been_set() {
        eprintln!("monitor: warning: {msg}");
    }
}
