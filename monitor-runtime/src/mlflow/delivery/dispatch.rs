//! The dispatcher thread: reads the journal in order, sends records to the server (or the
//! local store) in `log-batch` requests within MLflow's limits, retries as MLflow's client
//! does, and acknowledges in the journal what was delivered or refused.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::journal::Loc;
use super::retry::{wait_before, Retry};
use super::{error_chain, warn_loudly, wire_f64, Binding, Channel, Rejected, State};
use crate::error::{Error, Result};
use crate::mlflow::client::{Failure, MlflowClient, PreparedClient, RUN_KEY_TAG};
use crate::mlflow::config::{redact_uri, Destination, MlflowConfig};
use crate::mlflow::local::LocalStore;
use crate::mlflow::record::{ArtifactSource, Op, RunKey, RunStatus};

/// MLflow's `log-batch` limits, and a size well under its 1 MB request limit.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_ITEMS: usize = 1000;
const MAX_BYTES: usize = 512 * 1024;
/// How far past other runs' records a batch looks for more of its own.
const MAX_SCAN: usize = 4096;
/// Records read from the journal at a time (what the dispatcher holds in memory).
const READ_CHUNK: usize = 10_000;

/// Where records go.
pub(crate) enum Backend {
    Server(MlflowClient),
    Local(LocalStore),
}

/// A backend with its settings checked, built on the dispatcher's own thread (building the
/// HTTP client on the caller's thread would panic or block inside an async runtime).
pub(crate) enum PreparedBackend {
    Server(Box<PreparedClient>),
    Local(PathBuf),
}

impl PreparedBackend {
    /// Checks the settings (certificates, credentials); fails on a bad configuration.
    pub(crate) fn new(config: &MlflowConfig, dest: &Destination) -> Result<Self> {
        Ok(match dest {
            Destination::Server(base) => {
                PreparedBackend::Server(Box::new(MlflowClient::prepare(config, base.clone())?))
            }
            Destination::Local(root) => PreparedBackend::Local(root.clone()),
        })
    }

    fn build(self) -> Result<Backend> {
        Ok(match self {
            PreparedBackend::Server(client) => Backend::Server((*client).build()?),
            PreparedBackend::Local(root) => Backend::Local(LocalStore::new(root)),
        })
    }
}

/// A record read from the journal, with where it lives there (none if it waited in
/// memory because the disk refused it) and whether this process logged it.
struct Pending {
    op: Op,
    loc: Option<Loc>,
    own: bool,
}

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

/// The user MLflow's client records: `MLFLOW_TRACKING_USERNAME`, else the login name as
/// Python's `getpass.getuser()` finds it (`LOGNAME`, `USER`, `LNAME`, `USERNAME`, then the
/// account of the process's user id).
fn current_user() -> String {
    [
        "MLFLOW_TRACKING_USERNAME",
        "LOGNAME",
        "USER",
        "LNAME",
        "USERNAME",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    .or_else(account_name)
    .unwrap_or_else(|| "unknown".into())
}

/// The account name of the process's real user id, from `/proc` and `/etc/passwd`.
fn account_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut fields = l.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
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
            if claimed > 0 {
                tracing::info!(target: "monitor::mlflow", "delivering {claimed} records left in the spool {} by an earlier process", journal.dir().display());
            }
            let mut s = self.ch.state.lock();
            s.mirror(&journal);
            s.started = true;
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

    fn experiment_id(&mut self, name: &str) -> std::result::Result<String, Failure> {
        if let Some(id) = self.experiments.get(name) {
            return Ok(id.clone());
        }
        let id = match self.backend.as_mut().expect("checked in step") {
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
        let (run_id, artifact_uri) = match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => {
                // A create whose answer was lost, or one an earlier process made before it
                // could say so, must not make a second run.
                match c.try_find_run(&exp_id, &run.to_string())? {
                    Some(found) => found,
                    None => {
                        tags.push((RUN_KEY_TAG.into(), run.to_string()));
                        let mut body = json!({
                            "experiment_id": exp_id,
                            "user_id": self.user,
                            "start_time": start_time,
                            "tags": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                        });
                        if let Some(name) = name {
                            body["run_name"] = json!(name);
                        }
                        c.try_create_run(&body)?
                    }
                }
            }
            Backend::Local(l) => {
                let run_id = run.to_string();
                let name = name
                    .clone()
                    .unwrap_or_else(|| format!("run-{}", &run_id[..8]));
                l.create_run(&exp_id, &run_id, &name, &self.user, start_time, &tags)?
            }
        };
        self.ch
            .journal
            .lock()
            .record_run(run, &run_id, &artifact_uri);
        self.runs.insert(
            run,
            Binding::Created {
                run_id,
                artifact_uri,
            },
        );
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
        match self.backend.as_mut().expect("checked in step") {
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
        match self.backend.as_mut().expect("checked in step") {
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
        match self.backend.as_mut().expect("checked in step") {
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
        match self.backend.as_mut().expect("checked in step") {
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
        while let Some(item) = self.pending.front() {
            if scanned >= MAX_SCAN || (single && !taken.is_empty()) {
                break;
            }
            scanned += 1;
            let op = &item.op;
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
        if self.verify.contains(&run) && metrics > 0 {
            match self.drop_already_delivered(run, run_id, &mut taken) {
                Ok(()) => {}
                Err(Failure::Retryable(r)) => {
                    self.requeue_front(taken);
                    self.retry_later(r);
                    return;
                }
                Err(Failure::Rejected(e)) => {
                    // The history cannot be read (an old server?): send, at the risk of
                    // duplicates, rather than hold the records forever.
                    tracing::warn!(target: "monitor::mlflow", "cannot check which points of run {run_id} the server has ({e}); resending them");
                    self.verify.remove(&run);
                }
            }
            if taken.is_empty() {
                return;
            }
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
                self.reject(taken, error_chain(&e));
            }
            Err(Failure::Retryable(r)) => {
                if r.maybe_applied {
                    self.verify.insert(run);
                }
                self.requeue_front(taken);
                self.retry_later(r);
            }
        }
    }

    /// Settles the metric points of `taken` that the server already has (same key, step,
    /// timestamp and value) and leaves the others. A run stays under check until a batch
    /// finds none: the points it may have are the oldest unacknowledged ones. On an error,
    /// `taken` is left as it was.
    fn drop_already_delivered(
        &mut self,
        run: RunKey,
        run_id: &str,
        taken: &mut Vec<Pending>,
    ) -> std::result::Result<(), Failure> {
        let Some(Backend::Server(client)) = &self.backend else {
            self.verify.remove(&run);
            return Ok(());
        };
        let mut keys: Vec<&str> = taken
            .iter()
            .filter_map(|p| match &p.op {
                Op::Metric { key, .. } => Some(key.as_str()),
                _ => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut on_server: HashSet<(String, i64, i64, u64)> = HashSet::new();
        for key in keys {
            match client.try_metric_history(run_id, key) {
                Ok(points) => on_server.extend(
                    points
                        .into_iter()
                        .map(|m| (m.key, m.step, m.timestamp, value_bits(m.value))),
                ),
                Err(f) => return Err(f),
            }
        }
        let (present, rest): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(taken).into_iter().partition(|p| {
                matches!(&p.op, Op::Metric { key, value, timestamp, step, .. }
                if on_server.contains(&(key.clone(), *step, *timestamp, value_bits(*value))))
            });
        if present.is_empty() {
            self.verify.remove(&run);
        } else {
            tracing::info!(target: "monitor::mlflow", "{} metric points of run {run_id} were already on the server; not sending them again", present.len());
            self.delivered(present);
        }
        *taken = rest;
        Ok(())
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
        match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => {
                let (mut metrics, mut params, mut tags) = (Vec::new(), Vec::new(), Vec::new());
                for Pending { op, .. } in items {
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
                for Pending { op, .. } in items {
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
            tracing::info!(target: "monitor::mlflow", "the {} is reachable again; delivering waiting records", self.where_to());
        }
        self.settle(items, None);
        self.publish(|_| {});
    }

    fn reject(&mut self, items: Vec<Pending>, reason: String) {
        let rejected: Vec<Rejected> = items
            .iter()
            .map(|p| {
                let run = p.op.run();
                tracing::warn!(target: "monitor::mlflow", "mlflow refused {} of run {run}: {reason}", p.op.describe());
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
            // MLflow's client would give up here; the records are on disk and we keep trying.
            let wait = wait_before(cfg.max_retries.max(1) + 1, factor, jitter, r.after);
            self.next_try = Instant::now() + wait;
            self.publish(|s| s.degraded = true);
        } else {
            self.next_try = Instant::now() + wait_before(self.attempts, factor, jitter, r.after);
        }
    }
}

/// A metric value as a comparable key (every NaN is the same NaN).
fn value_bits(v: f64) -> u64 {
    if v.is_nan() {
        u64::MAX
    } else {
        v.to_bits()
    }
}
