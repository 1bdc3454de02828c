//! The queue between log calls and the one background thread that delivers them in
//! batches, retries, and spills to the spool when the server stays away.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde_json::{json, Value};

use super::client::{backoff, Failure, MlflowClient};
use super::config::{redact_uri, Destination, MlflowConfig};
use super::local::LocalStore;
use super::record::{ArtifactSource, Op, RunKey, RunStatus};
use super::spool::Spool;
use crate::error::{Error, Result};

/// MLflow's `log-batch` limits, and a size well under its 1 MB request limit.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_ITEMS: usize = 1000;
const MAX_BYTES: usize = 512 * 1024;
/// How far past other runs' records a batch looks for more of its own.
const MAX_SCAN: usize = 4096;
/// Ops loaded back from the spool at a time.
const SPOOL_CHUNK: usize = 10_000;

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

/// What [`flush`](crate::MlflowRun::flush) and shutdown report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Records delivered since the flush began (including earlier ones it waited for).
    pub delivered: u64,
    /// Records the server refused during the flush (bad values it caught, or a param
    /// changed by another client). Everything else in their batches was delivered.
    pub rejected: Vec<Rejected>,
    /// Records still in memory when the flush gave up (lost if the process exits now).
    pub in_memory: u64,
    /// Records waiting in the spool on disk; a later flush or process delivers them.
    pub spooled: u64,
    /// Where the spool is.
    pub spool_dir: Option<std::path::PathBuf>,
}

impl FlushReport {
    /// Everything logged before the flush is on the server (or in the local store).
    pub fn is_complete(&self) -> bool {
        self.in_memory == 0 && self.spooled == 0 && self.rejected.is_empty()
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

#[derive(Default)]
struct State {
    incoming: Vec<Op>,
    enqueued: u64,
    settled: u64,
    idle: bool,
    flush_requests: u64,
    /// The last flush request the worker has made a delivery attempt for.
    flush_acked: u64,
    spill_now: bool,
    delivered: u64,
    rejected: Vec<Rejected>,
    spooled: u64,
    degraded: bool,
    bindings: HashMap<RunKey, Binding>,
    alive: bool,
}

/// The shared end of the queue; the worker thread owns the other.
pub(crate) struct Channel {
    state: Mutex<State>,
    wake: Condvar,
    progress: Condvar,
    pub(crate) config: MlflowConfig,
    pub(crate) dest: Destination,
    spool_dir: std::path::PathBuf,
    pub(crate) active_runs: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("dest", &self.dest)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Starts a worker for `config`.
    pub(crate) fn start(config: MlflowConfig) -> Result<Arc<Channel>> {
        let dest = config.destination()?;
        let backend = match &dest {
            Destination::Server(base) => {
                Backend::Server(MlflowClient::for_server(&config, base.clone())?)
            }
            Destination::Local(root) => Backend::Local(LocalStore::new(root.clone())),
        };
        let spool_dir = config.spool_directory(&dest);
        let channel = Arc::new(Channel {
            state: Mutex::new(State {
                alive: true,
                ..State::default()
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
            config,
            dest,
            spool_dir,
            active_runs: std::sync::atomic::AtomicUsize::new(0),
        });
        let worker = Worker::new(channel.clone(), backend);
        let ch = channel.clone();
        std::thread::Builder::new()
            .name("monitor-mlflow".into())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.run()));
                let mut s = ch.state.lock();
                s.alive = false;
                drop(s);
                ch.progress.notify_all();
                if result.is_err() {
                    tracing::error!(target: "monitor::mlflow", "the mlflow worker stopped after a panic");
                }
            })
            .map_err(|e| Error::Mlflow(format!("cannot start the mlflow worker thread: {e}")))?;
        Ok(channel)
    }

    /// Queues one op. Never blocks on I/O; wakes the worker only if it sleeps idle.
    #[inline]
    pub(crate) fn push(&self, op: Op) {
        let mut s = self.state.lock();
        s.incoming.push(op);
        s.enqueued += 1;
        let wake = std::mem::take(&mut s.idle);
        drop(s);
        if wake {
            self.wake.notify_one();
        }
    }

    /// The server's id of a run, waiting up to `timeout` for the worker to create it.
    pub(crate) fn binding(&self, run: RunKey, timeout: Duration) -> Option<Binding> {
        let deadline = Instant::now() + timeout;
        let mut s = self.state.lock();
        loop {
            if let Some(b) = s.bindings.get(&run) {
                return Some(b.clone());
            }
            if !s.alive {
                return None;
            }
            s.flush_requests += 1; // deliver now rather than after a backoff
            self.wake.notify_one();
            if self.progress.wait_until(&mut s, deadline).timed_out() {
                return s.bindings.get(&run).cloned();
            }
        }
    }

    /// Waits until every op queued before the call is delivered, refused or on disk, or
    /// `timeout` passes. With `spill`, whatever is still in memory then goes to the spool.
    pub(crate) fn flush(&self, timeout: Duration, spill: bool) -> FlushReport {
        let deadline = Instant::now() + timeout;
        let mut s = self.state.lock();
        let target = s.enqueued;
        let rejected_from = s.rejected.len();
        let delivered_from = s.delivered;
        s.flush_requests += 1;
        let request = s.flush_requests;
        s.idle = false;
        self.wake.notify_one();
        let done = |s: &State| {
            s.flush_acked >= request && s.settled >= target && (s.spooled == 0 || s.degraded)
                || !s.alive
        };
        while !done(&s) {
            if self.progress.wait_until(&mut s, deadline).timed_out() {
                break;
            }
        }
        if spill && !done(&s) {
            s.spill_now = true;
            self.wake.notify_one();
            let grace = Instant::now() + Duration::from_secs(2);
            while s.settled < target && s.alive {
                if self.progress.wait_until(&mut s, grace).timed_out() {
                    break;
                }
            }
        }
        FlushReport {
            delivered: s.delivered - delivered_from,
            rejected: s.rejected[rejected_from..].to_vec(),
            in_memory: target.saturating_sub(s.settled),
            spooled: s.spooled,
            spool_dir: (s.spooled > 0).then(|| self.spool_dir.clone()),
        }
    }
}

/// The proto3 JSON form of a metric value.
pub(crate) fn wire_f64(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v == f64::INFINITY {
        json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(v)
    }
}

enum Backend {
    Server(MlflowClient),
    Local(LocalStore),
}

/// A pending op and whether it counts toward the flush target (ops loaded back from the
/// spool were already counted when they were spooled).
type Pending = (Op, bool);

struct Worker {
    ch: Arc<Channel>,
    backend: Backend,
    pending: VecDeque<Pending>,
    experiments: HashMap<String, String>,
    runs: HashMap<RunKey, Binding>,
    /// Ops of a run to send one per request, after its batch was refused.
    isolate: HashMap<RunKey, usize>,
    spool: Spool,
    attempts: u32,
    next_try: Instant,
    warned: bool,
    seen_flush: u64,
    /// Immediate retries left for a flush while the server is considered down (a stale
    /// pooled connection fails once after a server restart).
    probes_left: u32,
    /// A probe retry is due; the flush is not answered yet.
    probing: bool,
    /// A request was made since the last flush request.
    attempted: bool,
    /// Ops loaded back from the spool, still in `pending`.
    reloaded: u64,
    user: String,
    source: String,
}

fn current_user() -> String {
    std::env::var("MLFLOW_TRACKING_USERNAME")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

impl Worker {
    fn new(ch: Arc<Channel>, backend: Backend) -> Self {
        let spool = Spool::new(ch.spool_dir.clone());
        Worker {
            ch,
            backend,
            pending: VecDeque::new(),
            experiments: HashMap::new(),
            runs: HashMap::new(),
            isolate: HashMap::new(),
            spool,
            attempts: 0,
            next_try: Instant::now(),
            warned: false,
            seen_flush: 0,
            probes_left: 0,
            probing: false,
            attempted: false,
            reloaded: 0,
            user: current_user(),
            source: std::env::args().next().unwrap_or_default(),
        }
    }

    fn where_to(&self) -> String {
        match &self.ch.dest {
            Destination::Server(b) => format!("mlflow server {}", redact_uri(b)),
            Destination::Local(p) => format!("local mlflow store {}", p.display()),
        }
    }

    fn run(mut self) {
        let claimed = self.spool.claim_orphans();
        if claimed > 0 {
            tracing::info!(target: "monitor::mlflow", "delivering {claimed} records left in the spool by an earlier process");
        }
        self.publish(|_| {});
        loop {
            let (ops, flushing, spill_now) = self.wait_for_work();
            self.route(ops);
            if flushing {
                // A flush tries at once rather than after the backoff.
                self.next_try = Instant::now();
                self.probes_left = 2;
                self.attempted = false;
            }
            self.probing = false;
            if spill_now {
                self.spill();
                self.ch.state.lock().spill_now = false;
            }
            let now = Instant::now();
            if now >= self.next_try {
                if self.pending.is_empty() && !self.spool.is_empty() {
                    self.reload();
                }
                if !self.pending.is_empty() {
                    self.step();
                }
            }
            // Memory stays bounded: past the limit, records wait on disk and come back in chunks.
            if self.pending.len() > self.ch.config.max_in_memory {
                self.spill();
            }
            // A flush is answered once a request was tried (or there is nothing to send).
            let answered = !self.probing
                && (self.attempted || (self.pending.is_empty() && self.spool.is_empty()));
            let acked = self.seen_flush;
            self.publish(|s| {
                if answered {
                    s.flush_acked = acked;
                }
            });
        }
    }

    /// Blocks until there is something to do; returns new ops and the flush/spill flags.
    fn wait_for_work(&mut self) -> (Vec<Op>, bool, bool) {
        let mut s = self.ch.state.lock();
        loop {
            let flushing = s.flush_requests != self.seen_flush;
            let ready = Instant::now() >= self.next_try
                && (!self.pending.is_empty() || (!self.spool.is_empty() && !s.degraded));
            if !s.incoming.is_empty() || flushing || s.spill_now || ready {
                self.seen_flush = s.flush_requests;
                let ops = std::mem::take(&mut s.incoming);
                return (ops, flushing, s.spill_now);
            }
            if self.pending.is_empty() && self.spool.is_empty() {
                s.idle = true;
                self.ch.wake.wait(&mut s);
            } else {
                let until = self
                    .next_try
                    .min(Instant::now() + Duration::from_millis(200));
                s.idle = true;
                self.ch.wake.wait_until(&mut s, until);
            }
            s.idle = false;
        }
    }

    /// Updates the shared counters and wakes flush waiters.
    fn publish(&mut self, f: impl FnOnce(&mut State)) {
        let mut s = self.ch.state.lock();
        f(&mut s);
        s.spooled = self.spool.len() + self.reloaded;
        for (k, b) in self.runs.drain() {
            s.bindings.insert(k, b);
        }
        drop(s);
        self.ch.progress.notify_all();
    }

    fn route(&mut self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        if self.spool.is_empty() {
            self.pending.extend(ops.into_iter().map(|op| (op, true)));
            return;
        }
        // Records already wait on disk: new ones go after them, in order.
        let refs: Vec<&Op> = ops.iter().collect();
        match self.spool.append(&refs) {
            Ok(()) => {
                let n = ops.len() as u64;
                self.publish(|s| s.settled += n);
            }
            Err(e) => {
                tracing::error!(target: "monitor::mlflow", "cannot write the spool in {}: {e}; records stay in memory", self.spool.dir().display());
                self.pending.extend(ops.into_iter().map(|op| (op, true)));
            }
        }
    }

    /// Moves everything pending to the spool.
    fn spill(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        // Bindings first, so another process can continue these runs.
        let mut binds: Vec<Op> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (op, _) in &self.pending {
            let run = op.run();
            if seen.insert(run) {
                if let Some(Binding::Created {
                    run_id,
                    artifact_uri,
                }) = self.binding_of(run)
                {
                    binds.push(Op::Bind {
                        run,
                        run_id,
                        artifact_uri,
                    });
                }
            }
        }
        let (fresh, reloaded): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(|(_, counted)| *counted);
        let mut result = Ok(());
        self.reloaded = 0;
        if !reloaded.is_empty() {
            let ops: Vec<&Op> = binds
                .iter()
                .chain(reloaded.iter().map(|(op, _)| op))
                .collect();
            result = self.spool.push_front(&ops);
        }
        if result.is_ok() && !fresh.is_empty() {
            let ops: Vec<&Op> = binds.iter().chain(fresh.iter().map(|(op, _)| op)).collect();
            result = self.spool.append(&ops);
        }
        match result {
            Ok(()) => {
                let n = fresh.len() as u64;
                tracing::info!(
                    target: "monitor::mlflow",
                    "{} records wait on disk in {} for the {}",
                    self.spool.len(),
                    self.spool.dir().display(),
                    self.where_to()
                );
                self.publish(|s| s.settled += n);
            }
            Err(e) => {
                tracing::error!(target: "monitor::mlflow", "cannot write the spool in {}: {e}; records stay in memory", self.spool.dir().display());
                self.reloaded = reloaded.len() as u64;
                self.pending.extend(reloaded);
                self.pending.extend(fresh);
            }
        }
    }

    fn reload(&mut self) {
        match self
            .spool
            .load(SPOOL_CHUNK.min(self.ch.config.max_in_memory).max(1))
        {
            Ok(ops) => {
                self.reloaded += ops.len() as u64;
                self.pending.extend(ops.into_iter().map(|op| (op, false)));
            }
            Err(e) => {
                tracing::error!(target: "monitor::mlflow", "cannot read the spool in {}: {e}", self.spool.dir().display())
            }
        }
    }

    fn binding_of(&self, run: RunKey) -> Option<Binding> {
        self.runs
            .get(&run)
            .cloned()
            .or_else(|| self.ch.state.lock().bindings.get(&run).cloned())
    }

    /// Sends one request built from the front of `pending`.
    fn step(&mut self) {
        let Some((front, _)) = self.pending.front() else {
            return;
        };
        let run = front.run();
        if let Op::Bind {
            run_id,
            artifact_uri,
            ..
        } = front
        {
            let b = Binding::Created {
                run_id: run_id.clone(),
                artifact_uri: artifact_uri.clone(),
            };
            self.runs.insert(run, b);
            if let Some((_, false)) = self.pending.pop_front() {
                self.reloaded -= 1;
            }
            return;
        }
        let binding = if matches!(front, Op::CreateRun { .. }) {
            None
        } else {
            self.binding_of(run)
        };
        let (run_id, artifact_uri) = match (&binding, front) {
            (_, Op::CreateRun { .. }) => (String::new(), String::new()),
            (
                Some(Binding::Created {
                    run_id,
                    artifact_uri,
                }),
                _,
            ) => (run_id.clone(), artifact_uri.clone()),
            (Some(Binding::Failed(why)), _) => {
                let why = format!("the run was not created: {why}");
                let (op, counted) = self.pending.pop_front().expect("front exists");
                self.reject(run, &op, counted, why);
                return;
            }
            (None, _) => {
                let (op, counted) = self.pending.pop_front().expect("front exists");
                self.reject(
                    run,
                    &op,
                    counted,
                    "the run is unknown (its creation record was lost)".into(),
                );
                return;
            }
        };
        if front.is_batchable() {
            self.send_batch(run, &run_id);
            return;
        }
        let (op, counted) = self.pending.pop_front().expect("front exists");
        let result = match &op {
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
            Ok(()) => self.delivered(vec![(op, counted)]),
            Err(Failure::Rejected(e)) => {
                if let Op::CreateRun { .. } = op {
                    self.runs.insert(run, Binding::Failed(e.to_string()));
                }
                self.reject(run, &op, counted, error_chain(&e));
            }
            Err(Failure::Retryable(e)) => {
                self.pending.push_front((op, counted));
                self.retry_later(e);
            }
        }
    }

    fn experiment_id(&mut self, name: &str) -> std::result::Result<String, Failure> {
        if let Some(id) = self.experiments.get(name) {
            return Ok(id.clone());
        }
        let id = match &mut self.backend {
            Backend::Server(c) => c.try_experiment(name)?,
            Backend::Local(l) => l.experiment(name)?,
        };
        self.experiments.insert(name.to_owned(), id.clone());
        Ok(id)
    }

    fn create_run(
        &mut self,
        run: RunKey,
        experiment: &str,
        name: &Option<String>,
        start_time: i64,
        extra: &[(String, String)],
        parent: Option<RunKey>,
    ) -> std::result::Result<(), Failure> {
        let exp_id = self.experiment_id(experiment)?;
        let mut tags: Vec<(String, String)> = vec![
            ("mlflow.user".into(), self.user.clone()),
            ("mlflow.source.name".into(), self.source.clone()),
            ("mlflow.source.type".into(), "LOCAL".into()),
        ];
        if let Some(Binding::Created { run_id, .. }) = parent.and_then(|p| self.binding_of(p)) {
            tags.push(("mlflow.parentRunId".into(), run_id));
        }
        tags.extend(extra.iter().cloned());
        let binding = match &mut self.backend {
            Backend::Server(c) => {
                let mut body = json!({
                    "experiment_id": exp_id,
                    "user_id": self.user,
                    "start_time": start_time,
                    "tags": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                });
                if let Some(name) = name {
                    body["run_name"] = json!(name);
                }
                let (run_id, artifact_uri) = c.try_create_run(&body)?;
                Binding::Created {
                    run_id,
                    artifact_uri,
                }
            }
            Backend::Local(l) => {
                let run_id = run.to_string();
                let name = name
                    .clone()
                    .unwrap_or_else(|| format!("run-{}", &run_id[..8]));
                let (run_id, artifact_uri) =
                    l.create_run(&exp_id, &run_id, &name, &self.user, start_time, &tags)?;
                Binding::Created {
                    run_id,
                    artifact_uri,
                }
            }
        };
        self.runs.insert(run, binding);
        Ok(())
    }

    fn upload(
        &mut self,
        run_id: &str,
        artifact_uri: &str,
        path: &str,
        source: &ArtifactSource,
    ) -> std::result::Result<(), Failure> {
        let bytes = match source {
            ArtifactSource::Text(t) => t.clone().into_bytes(),
            ArtifactSource::File(p) => std::fs::read(p).map_err(|source| {
                Failure::Rejected(Error::MlflowStore {
                    path: p.clone(),
                    source,
                })
            })?,
        };
        match &mut self.backend {
            Backend::Server(c) => c.try_upload(run_id, artifact_uri, path, bytes),
            Backend::Local(l) => l.upload(run_id, path, &bytes),
        }
    }

    fn end_run(
        &mut self,
        run_id: &str,
        status: RunStatus,
        end_time: i64,
    ) -> std::result::Result<(), Failure> {
        match &mut self.backend {
            Backend::Server(c) => {
                let body =
                    json!({ "run_id": run_id, "status": status.as_str(), "end_time": end_time });
                c.send_json(
                    reqwest::Method::POST,
                    "/api/2.0/mlflow/runs/update",
                    Some(&body),
                )
                .map(drop)
            }
            Backend::Local(l) => l.end_run(run_id, status, end_time),
        }
    }

    fn send_otlp(
        &mut self,
        run_id: &str,
        experiment: &str,
        body: &str,
    ) -> std::result::Result<(), Failure> {
        let exp_id = self.experiment_id(experiment)?;
        match &mut self.backend {
            Backend::Server(c) => c
                .send_with(
                    reqwest::Method::POST,
                    "/v1/traces",
                    Some(("application/json", body.as_bytes().to_vec())),
                    &[
                        ("x-mlflow-experiment-id", exp_id),
                        ("x-mlflow-run-id", run_id.to_owned()),
                    ],
                )
                .map(drop),
            Backend::Local(_) => Err(Failure::Rejected(Error::Mlflow(
                "the local store does not take OTLP traces".into(),
            ))),
        }
    }

    fn send_assessment(&mut self, trace_id: &str, body: &str) -> std::result::Result<(), Failure> {
        match &mut self.backend {
            Backend::Server(c) => c
                .send(
                    reqwest::Method::POST,
                    &format!("/api/3.0/mlflow/traces/{trace_id}/assessments"),
                    Some(("application/json", body.as_bytes().to_vec())),
                )
                .map(drop),
            Backend::Local(_) => Err(Failure::Rejected(Error::Mlflow(
                "the local store does not take assessments".into(),
            ))),
        }
    }

    /// Takes this run's metrics, params and tags from the front of `pending`, within the
    /// limits, and sends them as one `log-batch`.
    fn send_batch(&mut self, run: RunKey, run_id: &str) {
        let single = self.isolate.get(&run).copied().unwrap_or(0) > 0;
        let mut taken: Vec<Pending> = Vec::new();
        let mut skipped: Vec<Pending> = Vec::new();
        let (mut metrics, mut params, mut tags, mut bytes) = (0usize, 0usize, 0usize, 0usize);
        let mut param_keys: Vec<String> = Vec::new();
        let mut tag_keys: Vec<String> = Vec::new();
        let mut scanned = 0;
        while let Some((op, _)) = self.pending.front() {
            if scanned >= MAX_SCAN || (single && !taken.is_empty()) {
                break;
            }
            scanned += 1;
            if op.run() != run {
                skipped.push(self.pending.pop_front().expect("front exists"));
                continue;
            }
            if !op.is_batchable() {
                break;
            }
            let fits = match op {
                Op::Metric { key, .. } => {
                    bytes += key.len() + 80;
                    metrics < MAX_METRICS
                }
                Op::Param { key, value, .. } => {
                    bytes += key.len() + value.len() + 40;
                    params < MAX_PARAMS && !param_keys.contains(key)
                }
                Op::Tag { key, value, .. } => {
                    bytes += key.len() + value.len() + 40;
                    tags < MAX_TAGS && !tag_keys.contains(key)
                }
                _ => false,
            };
            if !fits
                || metrics + params + tags >= MAX_ITEMS
                || (bytes > MAX_BYTES && !taken.is_empty())
            {
                break;
            }
            match op {
                Op::Metric { .. } => metrics += 1,
                Op::Param { key, .. } => {
                    params += 1;
                    param_keys.push(key.clone());
                }
                Op::Tag { key, .. } => {
                    tags += 1;
                    tag_keys.push(key.clone());
                }
                _ => {}
            }
            taken.push(self.pending.pop_front().expect("front exists"));
        }
        for item in skipped.into_iter().rev() {
            self.pending.push_front(item);
        }
        let result = self.send_log_batch(run_id, &taken);
        match result {
            Ok(()) => {
                if single {
                    if let Some(n) = self.isolate.get_mut(&run) {
                        *n -= 1;
                        if *n == 0 {
                            self.isolate.remove(&run);
                        }
                    }
                }
                self.delivered(taken);
            }
            Err(Failure::Rejected(e)) if taken.len() > 1 => {
                // Find the refused records: resend this batch one record per request.
                tracing::debug!(target: "monitor::mlflow", "batch refused ({e}); resending its records one by one");
                self.isolate.insert(run, taken.len());
                self.requeue_front(taken);
            }
            Err(Failure::Rejected(e)) => {
                if let Some(n) = self.isolate.get_mut(&run) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.isolate.remove(&run);
                    }
                }
                let reason = error_chain(&e);
                for (op, counted) in taken {
                    self.reject(run, &op, counted, reason.clone());
                }
            }
            Err(Failure::Retryable(e)) => {
                self.requeue_front(taken);
                self.retry_later(e);
            }
        }
    }

    fn requeue_front(&mut self, items: Vec<Pending>) {
        for item in items.into_iter().rev() {
            self.pending.push_front(item);
        }
    }

    fn send_log_batch(
        &mut self,
        run_id: &str,
        items: &[Pending],
    ) -> std::result::Result<(), Failure> {
        match &mut self.backend {
            Backend::Server(c) => {
                let (mut metrics, mut params, mut tags) = (Vec::new(), Vec::new(), Vec::new());
                for (op, _) in items {
                    match op {
                        Op::Metric { key, value, timestamp, step, .. } => metrics.push(
                            json!({"key": key, "value": wire_f64(*value), "timestamp": timestamp, "step": step}),
                        ),
                        Op::Param { key, value, .. } => params.push(json!({"key": key, "value": value})),
                        Op::Tag { key, value, .. } => tags.push(json!({"key": key, "value": value})),
                        _ => {}
                    }
                }
                let body =
                    json!({ "run_id": run_id, "metrics": metrics, "params": params, "tags": tags });
                c.send_json(
                    reqwest::Method::POST,
                    "/api/2.0/mlflow/runs/log-batch",
                    Some(&body),
                )
                .map(drop)
            }
            Backend::Local(l) => {
                let (mut metrics, mut params, mut tags) = (Vec::new(), Vec::new(), Vec::new());
                for (op, _) in items {
                    match op {
                        Op::Metric {
                            key,
                            value,
                            timestamp,
                            step,
                            ..
                        } => metrics.push((key.as_str(), *value, *timestamp, *step)),
                        Op::Param { key, value, .. } => params.push((key.as_str(), value.as_str())),
                        Op::Tag { key, value, .. } => tags.push((key.clone(), value.clone())),
                        _ => {}
                    }
                }
                l.log_batch(run_id, &metrics, &params, &tags)
            }
        }
    }

    fn delivered(&mut self, items: Vec<Pending>) {
        let counted = items.iter().filter(|(_, c)| *c).count() as u64;
        let n = items.len() as u64;
        self.reloaded -= n - counted;
        self.attempts = 0;
        self.attempted = true;
        let was_degraded = self.warned;
        self.warned = false;
        if was_degraded {
            tracing::info!(target: "monitor::mlflow", "the {} is reachable again; delivering waiting records", self.where_to());
        }
        self.publish(|s| {
            s.settled += counted;
            s.delivered += n;
            s.degraded = false;
        });
    }

    fn reject(&mut self, run: RunKey, op: &Op, counted: bool, reason: String) {
        tracing::warn!(target: "monitor::mlflow", "mlflow refused {} of run {run}: {reason}", op.describe());
        let rejected = Rejected {
            run: run.to_string(),
            record: op.describe(),
            reason,
        };
        if !counted {
            self.reloaded -= 1;
        }
        self.attempted = true;
        self.publish(|s| {
            s.settled += u64::from(counted);
            s.rejected.push(rejected);
        });
    }

    fn retry_later(&mut self, e: Error) {
        self.attempts += 1;
        self.attempted = true;
        let cfg = &self.ch.config;
        if !self.warned {
            self.warned = true;
            let msg = format!(
                "cannot reach the {} ({}); the program goes on, records are kept and retried with backoff",
                self.where_to(),
                error_chain(&e)
            );
            tracing::warn!(target: "monitor::mlflow", "{msg}");
            if !tracing::dispatcher::has_been_set() {
                eprintln!("monitor: warning: {msg}");
            }
        }
        if self.attempts > cfg.max_retries && self.probes_left > 0 {
            self.probes_left -= 1;
            self.probing = true;
            self.next_try = Instant::now() + Duration::from_millis(50);
        } else if self.attempts > cfg.max_retries {
            // MLflow's client would give up here; we keep the records (on disk) and keep trying.
            let wait = backoff(
                cfg.max_retries.max(1) + 1,
                cfg.backoff_factor,
                cfg.backoff_jitter,
            );
            self.next_try = Instant::now() + wait;
            self.publish(|s| s.degraded = true);
            self.spill();
        } else {
            self.next_try =
                Instant::now() + backoff(self.attempts, cfg.backoff_factor, cfg.backoff_jitter);
        }
    }
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
