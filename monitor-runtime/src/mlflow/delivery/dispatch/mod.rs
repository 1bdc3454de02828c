//! The dispatcher thread: reads the journal in order, sends records to the server (or the
//! local store) in `log-batch` requests within MLflow's limits, retries as MLflow's client
//! does, and acknowledges in the journal what was delivered or refused.

// Owns: the dispatcher's loop, what it holds in memory (`Pending`) and how it settles
// records and backs off (here); `log-batch` requests, built within MLflow's limits and
// checked against the server's history after a possible duplicate (`batch.rs`); and the
// backend, the server or the local store, with one request per other kind of record
// (`backend.rs`).
//
// May call: the journal (read, settle) and the shared `State` of the delivery module,
// `retry` (backoff), the `client` (one attempt each) and the `local` store.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::journal::Loc;
use super::{error_chain, warn_loudly, Binding, Channel, Rejected, State};
use crate::mlflow::client::Failure;
use crate::mlflow::config::{redact_uri, Destination};
use crate::mlflow::op::{Op, RunKey};
use crate::mlflow::retry::{wait_before, Retry};

mod backend;
mod batch;

pub(crate) use self::backend::PreparedBackend;
use self::backend::{current_user, Backend};

/// Records read from the journal at a time (what the dispatcher holds in memory).
const READ_CHUNK: usize = 10_000;

/// A record read from the journal, with where it lives there (none if it waited in
/// memory because the disk refused it) and whether this process logged it.
struct Pending {
    op: Op,
    loc: Option<Loc>,
    own: bool,
}

/// The shortest wait between attempts once retries are exhausted and delivery is degraded.
const DEGRADED_MIN_WAIT: Duration = Duration::from_millis(100);

pub(crate) struct Dispatcher {
    ch: Arc<Channel>,
    /// Built when the thread starts; `None` if that failed (every record is then refused
    /// with the reason).
    backend: Option<Backend>,
    prepared: Option<PreparedBackend>,
    pending: VecDeque<Pending>,
    /// The journal holds records not read into `pending` yet.
    unread: bool,
    experiments: HashMap<String, String>,
    runs: HashMap<RunKey, Binding>,
    /// Ops of a run to send one per request, after its batch was refused.
    isolate: HashMap<RunKey, usize>,
    /// Runs whose next metric points may already be on the server (a replay, or a resend
    /// after a lost answer): checked against the server's history before sending.
    verify: HashSet<RunKey>,
    attempts: u32,
    next_try: Instant,
    warned: bool,
    seen_flush: u64,
    seen_commits: u64,
    /// Immediate retries left for a flush while the server is considered down (a stale
    /// pooled connection fails once after a server restart).
    probes_left: u32,
    /// A probe retry is due; the flush is not answered yet.
    probing: bool,
    /// A request was made since the last flush request.
    attempted: bool,
    user: String,
    source: String,
    /// Why there is no backend.
    unavailable: String,
}

impl Dispatcher {
    pub(crate) fn new(ch: Arc<Channel>, prepared: PreparedBackend) -> Self {
        Dispatcher {
            ch,
            backend: None,
            prepared: Some(prepared),
            pending: VecDeque::new(),
            unread: false,
            experiments: HashMap::new(),
            runs: HashMap::new(),
            isolate: HashMap::new(),
            verify: HashSet::new(),
            attempts: 0,
            next_try: Instant::now(),
            warned: false,
            seen_flush: 0,
            seen_commits: 0,
            probes_left: 0,
            probing: false,
            attempted: false,
            user: current_user(),
            source: std::env::args().next().unwrap_or_default(),
            unavailable: String::new(),
        }
    }

    fn where_to(&self) -> String {
        match &self.ch.dest {
            Destination::Server(b) => format!("mlflow server {}", redact_uri(b)),
            Destination::Local(p) => format!("local mlflow store {}", p.display()),
        }
    }

    pub(crate) fn run(mut self) {
        let mut unavailable = None;
        match self.prepared.take().map(PreparedBackend::build) {
            Some(Ok(backend)) => self.backend = Some(backend),
            Some(Err(e)) => {
                warn_loudly(&format!("mlflow records cannot be delivered: {e}"));
                unavailable = Some(e.to_string());
            }
            None => {}
        }
        if let Some(why) = unavailable {
            self.unavailable = format!("the HTTP client could not be built: {why}");
        }
        {
            let mut journal = self.ch.journal.lock();
            let claimed = journal.claim_orphans();
            for (run, (run_id, artifact_uri)) in journal.known_runs() {
                self.runs.insert(
                    run,
                    Binding::Created {
                        run_id,
                        artifact_uri,
                    },
                );
            }
            self.unread = journal.has_unread();
            let mut s = self.ch.state.lock();
            s.mirror(&journal);
            s.started = true;
            drop(s);
            let dir = journal.dir().to_owned();
            // Said with the journal let go: a subscriber may call back into MLflow.
            drop(journal);
            if claimed > 0 {
                crate::record::subscriber::emit!(
                    tracing::info!(target: "monitor::mlflow", "delivering {claimed} records left in the spool {} by an earlier process", dir.display())
                );
            }
        }
        self.publish(|_| {});
        loop {
            let flushing = self.wait_for_work();
            if flushing {
                // A flush tries at once rather than after the backoff.
                self.next_try = Instant::now();
                self.probes_left = 2;
                self.attempted = false;
            }
            self.probing = false;
            if Instant::now() >= self.next_try {
                self.refill();
                if !self.pending.is_empty() {
                    self.step();
                }
            }
            if self.pending.is_empty() && !self.unread {
                let mut journal = self.ch.journal.lock();
                journal.close_if_settled();
                self.unread = journal.has_unread();
                self.ch.state.lock().mirror(&journal);
            }
            // A flush is answered once a request was tried (or there is nothing to send).
            let answered =
                !self.probing && (self.attempted || (self.pending.is_empty() && !self.unread));
            let acked = self.seen_flush;
            self.publish(|s| {
                if answered {
                    s.flush_acked = acked;
                }
            });
        }
    }

    /// Blocks until there is something to do; returns whether a flush asked for it.
    fn wait_for_work(&mut self) -> bool {
        let mut s = self.ch.state.lock();
        loop {
            let flushing = s.flush_requests != self.seen_flush;
            let more = s.commits != self.seen_commits;
            let ready = Instant::now() >= self.next_try
                && (!self.pending.is_empty() || self.unread || more);
            if flushing || ready {
                self.seen_flush = s.flush_requests;
                self.seen_commits = s.commits;
                return flushing;
            }
            s.dispatcher_idle = true;
            if self.pending.is_empty() && !self.unread {
                self.ch.dispatcher_wake.wait(&mut s);
            } else {
                let until = self
                    .next_try
                    .min(Instant::now() + Duration::from_millis(200));
                self.ch.dispatcher_wake.wait_until(&mut s, until);
            }
            s.dispatcher_idle = false;
        }
    }

    /// Reads more records from the journal, keeping at most a chunk in memory.
    fn refill(&mut self) {
        if self.pending.len() >= READ_CHUNK / 2 {
            return;
        }
        let mut journal = self.ch.journal.lock();
        let read = journal.read(READ_CHUNK - self.pending.len());
        self.unread = journal.has_unread();
        for (op, loc) in read {
            let own = loc.is_none_or(|l| journal.is_own(l));
            if !own {
                self.verify.insert(op.run());
            }
            self.pending.push_back(Pending { op, loc, own });
        }
        self.ch.state.lock().mirror(&journal);
    }

    /// Updates the shared counters and wakes flush waiters.
    fn publish(&mut self, f: impl FnOnce(&mut State)) {
        let mut s = self.ch.state.lock();
        f(&mut s);
        for (k, b) in &self.runs {
            s.bindings.entry(*k).or_insert_with(|| b.clone());
        }
        drop(s);
        self.ch.progress.notify_all();
    }

    fn binding_of(&self, run: RunKey) -> Option<Binding> {
        self.runs.get(&run).cloned()
    }

    /// Sends one request built from the front of `pending`.
    fn step(&mut self) {
        if self.backend.is_none() {
            let items: Vec<Pending> = self.pending.drain(..).collect();
            self.reject(items, self.unavailable.clone());
            return;
        }
        let Some(front) = self.pending.front() else {
            return;
        };
        let run = front.op.run();
        let is_create = matches!(front.op, Op::CreateRun { .. });
        let (run_id, artifact_uri) = match (is_create, self.binding_of(run)) {
            (true, Some(Binding::Created { .. })) => {
                // Created already (by an earlier process, before it could acknowledge).
                let item = self.pending.pop_front().expect("front exists");
                self.settle(vec![item], None);
                return;
            }
            (true, _) => (String::new(), String::new()),
            (
                false,
                Some(Binding::Created {
                    run_id,
                    artifact_uri,
                }),
            ) => (run_id, artifact_uri),
            (false, Some(Binding::Failed(why))) => {
                let item = self.pending.pop_front().expect("front exists");
                self.reject(vec![item], format!("the run was not created: {why}"));
                return;
            }
            (false, None) => {
                let item = self.pending.pop_front().expect("front exists");
                self.reject(
                    vec![item],
                    "the run is unknown (its creation record was lost)".into(),
                );
                return;
            }
        };
        if front.op.is_batchable() {
            self.send_batch(run, &run_id);
            return;
        }
        let item = self.pending.pop_front().expect("front exists");
        let result = match &item.op {
            Op::CreateRun {
                experiment,
                name,
                start_time,
                tags,
                parent,
                ..
            } => self.create_run(run, experiment, name, *start_time, tags, *parent),
            Op::Artifact { path, source, .. } => self.upload(&run_id, &artifact_uri, path, source),
            Op::EndRun {
                status, end_time, ..
            } => self.end_run(&run_id, *status, *end_time),
            Op::Otlp {
                experiment, body, ..
            } => self.send_otlp(&run_id, experiment, body),
            Op::Assessment { trace_id, body, .. } => self.send_assessment(trace_id, body),
            _ => Ok(()),
        };
        match result {
            Ok(()) => self.delivered(vec![item]),
            Err(Failure::Rejected(e)) => {
                if let Op::CreateRun { .. } = item.op {
                    self.runs.insert(run, Binding::Failed(e.to_string()));
                }
                self.reject(vec![item], error_chain(&e));
            }
            Err(Failure::Retryable(r)) => {
                self.pending.push_front(item);
                self.retry_later(r);
            }
        }
    }

    /// Acknowledges records in the journal and counts them.
    fn settle(&mut self, items: Vec<Pending>, rejected: Option<Vec<Rejected>>) {
        let locs: Vec<Loc> = items.iter().filter_map(|p| p.loc).collect();
        let own = items.iter().filter(|p| p.own).count() as u64;
        let n = items.len() as u64;
        let mut journal = self.ch.journal.lock();
        if !locs.is_empty() {
            journal.settle(&locs);
        }
        journal.memory_settled(items.len() - locs.len());
        let mut s = self.ch.state.lock();
        s.settled += own;
        match rejected {
            Some(r) => s.rejected.extend(r),
            None => {
                s.delivered += n;
                s.degraded = false;
            }
        }
        s.mirror(&journal);
    }

    fn delivered(&mut self, items: Vec<Pending>) {
        self.attempts = 0;
        self.attempted = true;
        if std::mem::take(&mut self.warned) {
            crate::record::subscriber::emit!(
                tracing::info!(target: "monitor::mlflow", "the {} is reachable again; delivering waiting records", self.where_to())
            );
        }
        self.settle(items, None);
        self.publish(|_| {});
    }

    fn reject(&mut self, items: Vec<Pending>, reason: String) {
        let rejected: Vec<Rejected> = items
            .iter()
            .map(|p| {
                let run = p.op.run();
                crate::record::subscriber::emit!(tracing::warn!(target: "monitor::mlflow", "mlflow refused {} of run {run}: {reason}", p.op.describe()));
                Rejected {
                    run: run.to_string(),
                    record: p.op.describe(),
                    reason: reason.clone(),
                }
            })
            .collect();
        self.attempted = true;
        self.settle(items, Some(rejected));
        self.publish(|_| {});
    }

    fn retry_later(&mut self, r: Retry) {
        self.attempts += 1;
        self.attempted = true;
        let cfg = &self.ch.config;
        if !self.warned {
            self.warned = true;
            warn_loudly(&format!(
                "cannot reach the {} ({}); the program goes on, records wait on disk in {} and are retried with backoff",
                self.where_to(),
                error_chain(&r.error),
                self.ch.spool_dir.display()
            ));
        }
        let (factor, jitter) = (cfg.backoff_factor, cfg.backoff_jitter);
        if self.attempts > cfg.max_retries && self.probes_left > 0 && r.after.is_none() {
            self.probes_left -= 1;
            self.probing = true;
            self.next_try = Instant::now() + Duration::from_millis(50);
        } else if self.attempts > cfg.max_retries {
            // MLflow's client would give up here; the records are on disk and we keep trying,
            // never faster than every `DEGRADED_MIN_WAIT` (a backoff factor of 0 would
            // otherwise retry a down server in a busy loop).
            let wait = wait_before(cfg.max_retries.max(1) + 1, factor, jitter, r.after);
            self.next_try = crate::deadline::after(wait.max(DEGRADED_MIN_WAIT));
            self.publish(|s| s.degraded = true);
        } else {
            self.next_try =
                crate::deadline::after(wait_before(self.attempts, factor, jitter, r.after));
        }
    }
}
