//! The background exporter: one thread takes finished calls from the record path's
//! outboxes, samples whole traces, and posts batches of spans with retries. The caller of a
//! monitored function never waits for it.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use prost::Message;

use super::config::{OtlpConfig, Protocol};
use super::encode::{request, ResourceInfo};
use super::metrics::{metrics_request, Period};
use super::mlflow_experiment::MlflowServer;
use super::phoenix_prices::{PhoenixApi, PHOENIX_RELOAD};
use crate::capture::mask_url_credentials;
use crate::entry::TraceEntry;
use crate::error::{Error, Result};
use crate::record::finished::Record;
use crate::record::outbox;
use crate::ExecutionTracer;

/// What the exporter has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans the endpoint accepted.
    pub exported: u64,
    /// Spans dropped because the queue was full (the endpoint too slow or down for long).
    pub dropped: u64,
    /// Spans of traces the sampler left out.
    pub sampled_out: u64,
    /// Spans given up on after retries (endpoint down, or refusing them).
    pub failed: u64,
    /// Requests sent again after a retryable failure.
    pub retries: u64,
    /// Scores (the quality score, named scores, feedback) sent as Phoenix annotations.
    pub annotations: u64,
    /// Annotations given up on: refused by Phoenix, or dropped because more than
    /// [`MAX_UNSENT_ANNOTATIONS`] waited while it was unreachable. One that could not be
    /// delivered (Phoenix down or slow) is sent again with the next round, not counted here.
    pub annotations_failed: u64,
    /// OTLP metrics requests the endpoint accepted (each holds every module's totals).
    pub metric_exports: u64,
    /// OTLP metrics requests given up on; the next one carries the same totals, so a lost
    /// one loses nothing.
    pub metric_failures: u64,
    /// Requests the endpoint refused (an HTTP error not worth retrying: a wrong URL, a
    /// missing key or header). The first refusal of each URL is also a `tracing` warning;
    /// a metrics endpoint that answers 404 gets no more metrics.
    pub refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    exported: AtomicU64,
    sampled_out: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    annotations: AtomicU64,
    annotations_failed: AtomicU64,
    metric_exports: AtomicU64,
    metric_failures: AtomicU64,
    refused: AtomicU64,
    /// Spans taken to be sent and not yet counted as exported or failed.
    pending: AtomicU64,
}

impl Counters {
    fn stats(&self) -> ExportStats {
        ExportStats {
            exported: self.exported.load(Ordering::Relaxed),
            // Counted where records are dropped, so it is current while a request hangs.
            dropped: outbox::dropped(),
            sampled_out: self.sampled_out.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            annotations: self.annotations.load(Ordering::Relaxed),
            annotations_failed: self.annotations_failed.load(Ordering::Relaxed),
            metric_exports: self.metric_exports.load(Ordering::Relaxed),
            metric_failures: self.metric_failures.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Default)]
struct Control {
    /// Flushes asked for, and done: a flush waits until `done` reaches its number.
    asked: u64,
    done: u64,
    stop: bool,
    /// When stopping must be over: no request the worker starts may end later.
    deadline: Option<Instant>,
    /// The worker has returned: nothing more will be sent or counted.
    finished: bool,
}

#[derive(Debug)]
struct Shared {
    counters: Counters,
    control: Mutex<Control>,
    flushed: Condvar,
}

/// A running OTLP exporter, made by [`init_otlp`] or [`init_otlp_with`]: every monitored
/// call that finishes while it runs is exported as a span. Keep it alive in `main`.
///
/// Dropping it (or [`shutdown`](Self::shutdown)) sends what is waiting and the last
/// metrics, and stops, all within one deadline: the configured timeout
/// ([`OtlpConfig::timeout`], `OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s by default) from the
/// moment it is dropped, whatever the collector does (down, slow, or accepting and never
/// answering). What is left unsent then is counted as failed. So a program ends at most
/// that long after `main` returns, within Kubernetes' default 30 s grace period.
///
/// At most `max_queue_size` finished calls ([`OtlpConfig::max_queue_size`],
/// `OTEL_BSP_MAX_QUEUE_SIZE`, 2048 by default) wait to be exported at once, across every
/// tracer, live or dropped, including those taken and not yet sent; past that, calls are
/// dropped and counted in [`ExportStats::dropped`] at once.
#[derive(Debug)]
pub struct OtlpExporter {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    timeout: Duration,
}

/// Starts exporting with the settings of the standard `OTEL_*` variables (see
/// [`OtlpConfig::from_env`]). `Ok(None)` when `OTEL_SDK_DISABLED=true`.
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=qa
/// let _otlp = monitor::export::init_otlp()?; // flushes when dropped at the end of main
/// # Ok::<(), monitor::Error>(())
/// ```
pub fn init_otlp() -> Result<Option<OtlpExporter>> {
    init_otlp_with(OtlpConfig::from_env()?)
}

/// Starts exporting with `config`. `Ok(None)` when it is disabled; an error when an
/// exporter already runs in this process.
pub fn init_otlp_with(config: OtlpConfig) -> Result<Option<OtlpExporter>> {
    if config.disabled {
        return Ok(None);
    }
    start(config, Destination::Otlp).map(Some)
}

/// Where the worker sends finished calls.
pub(super) enum Destination {
    /// An OTLP/HTTP endpoint.
    Otlp,
    /// The program's own OpenTelemetry tracer.
    #[cfg(feature = "opentelemetry")]
    Tracer(super::replay::Replayer),
}

/// Starts the worker thread and opens the outboxes to it: the one exporter of the process.
pub(super) fn start(config: OtlpConfig, destination: Destination) -> Result<OtlpExporter> {
    static RUNNING: Mutex<bool> = Mutex::new(false);
    {
        let mut running = RUNNING.lock();
        if *running {
            return Err(Error::OtlpRunning);
        }
        *running = true;
    }
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        control: Mutex::new(Control::default()),
        flushed: Condvar::new(),
    });
    let timeout = config.timeout;
    let (capacity, batch) = (config.max_queue_size, config.max_export_batch_size);
    let worker_shared = Arc::clone(&shared);
    let spawned = std::thread::Builder::new()
        .name("monitor-otlp".to_owned())
        .spawn(move || {
            let shared = Arc::clone(&worker_shared);
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Worker::new(config, destination, worker_shared).run();
            }));
            outbox::close();
            *RUNNING.lock() = false;
            if ran.is_err() {
                tracing::error!(
                    target: "monitor::export",
                    "the OTLP exporter stopped after a panic: calls are no longer exported"
                );
            }
            // Nothing more will be sent: a flush or a stop waiting for this worker returns.
            {
                let mut control = shared.control.lock();
                control.stop = true;
                control.finished = true;
            }
            shared.flushed.notify_all();
        });
    let worker = match spawned {
        Ok(worker) => worker,
        Err(error) => {
            *RUNNING.lock() = false;
            return Err(Error::OtlpConfig {
                setting: "exporter thread",
                reason: error.to_string(),
            });
        }
    };
    // Open before returning, so every call that finishes from now on is exported.
    outbox::open(capacity, batch, worker.thread().clone());
    Ok(OtlpExporter {
        shared,
        worker: Some(worker),
        timeout,
    })
}

impl OtlpExporter {
    /// What has been exported, dropped, sampled out and failed so far.
    pub fn stats(&self) -> ExportStats {
        self.shared.counters.stats()
    }

    /// Sends every call finished so far and waits until it is delivered or given up on,
    /// at most about three times the request timeout. Blocks: call it from a blocking
    /// context.
    pub fn flush(&self) -> ExportStats {
        let ticket = {
            let mut control = self.shared.control.lock();
            control.asked += 1;
            control.asked
        };
        if let Some(worker) = &self.worker {
            worker.thread().unpark();
        }
        let deadline = crate::deadline::after(
            self.timeout
                .saturating_mul(3)
                .saturating_add(Duration::from_secs(1)),
        );
        let mut control = self.shared.control.lock();
        while control.done < ticket && !control.stop {
            if self
                .shared
                .flushed
                .wait_until(&mut control, deadline)
                .timed_out()
            {
                break;
            }
        }
        drop(control);
        self.stats()
    }

    /// Sends what is waiting and the last metrics, and stops the exporter, all within the
    /// configured timeout from now (see [`OtlpExporter`]); what could not be sent by then
    /// is counted as failed.
    pub fn shutdown(mut self) -> ExportStats {
        self.stop()
    }

    fn stop(&mut self) -> ExportStats {
        let deadline = crate::deadline::after(self.timeout);
        {
            let mut control = self.shared.control.lock();
            control.stop = true;
            control.deadline = Some(deadline);
        }
        let Some(worker) = self.worker.take() else {
            return self.stats();
        };
        worker.thread().unpark();
        // Every request the worker makes ends by the deadline; a moment more lets it count.
        let give_up = deadline.checked_add(STOP_GRACE).unwrap_or(deadline);
        let mut control = self.shared.control.lock();
        while !control.finished {
            if self
                .shared
                .flushed
                .wait_until(&mut control, give_up)
                .timed_out()
            {
                break;
            }
        }
        let finished = control.finished;
        drop(control);
        let mut stats = self.stats();
        if finished {
            let _ = worker.join();
        } else {
            // Still inside a request the clock let run late: what it holds is not sent.
            let pending = self.shared.counters.pending.load(Ordering::Relaxed);
            stats.failed += pending;
        }
        stats
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        if self.worker.is_some() {
            self.stop();
        }
    }
}

/// The most annotations kept for another try while Phoenix cannot be reached (about 400
/// bytes each).
pub const MAX_UNSENT_ANNOTATIONS: usize = 10_000;

/// How long a stop waits past its deadline for the worker to count its last request.
const STOP_GRACE: Duration = Duration::from_millis(250);

struct Worker {
    config: OtlpConfig,
    resource: ResourceInfo,
    shared: Arc<Shared>,
    client: Option<reqwest::blocking::Client>,
    metrics: Option<MetricsSchedule>,
    /// The URLs whose refusal was said (once each).
    refusals_said: RefCell<Vec<String>>,
    /// Annotations not delivered yet (Phoenix down or slow), by the URL they go to: sent
    /// again before the next round's own.
    unsent_annotations: RefCell<Vec<(String, serde_json::Value)>>,
    /// The version of the program's prices Phoenix was last told of.
    prices_told: Cell<Option<u64>>,
    /// Why the MLflow experiment named in the settings has no id yet, once said.
    mlflow_experiment_said: Option<String>,
    /// When Phoenix will have loaded the prices it was just told of.
    prices_loaded_at: Cell<Option<Instant>>,
    /// Read only when a destination can hold spans back (the `opentelemetry` feature).
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    destination: Destination,
}

/// Where and when the tracer's metrics go.
struct MetricsSchedule {
    url: String,
    tracer: ExecutionTracer,
    /// When the exporter started: the start of every cumulative total it sends.
    start_unix_nano: u64,
    next: Cell<Instant>,
}

impl Worker {
    fn new(config: OtlpConfig, destination: Destination, shared: Arc<Shared>) -> Self {
        let client = reqwest::blocking::Client::builder()
            .timeout(crate::deadline::bounded(config.timeout))
            .build()
            .ok();
        let metrics_url = match destination {
            Destination::Otlp => config.metrics_endpoint.clone(),
            #[cfg(feature = "opentelemetry")]
            Destination::Tracer(_) => None,
        };
        let metrics = metrics_url.map(|url| MetricsSchedule {
            url,
            tracer: config
                .metrics_tracer
                .clone()
                .unwrap_or_else(|| crate::global_tracer().clone()),
            start_unix_nano: unix_nanos_now(),
            next: Cell::new(crate::deadline::after(config.metrics_interval)),
        });
        Worker {
            resource: config.resource_info(),
            config,
            shared,
            client,
            metrics,
            refusals_said: RefCell::new(Vec::new()),
            unsent_annotations: RefCell::new(Vec::new()),
            prices_told: Cell::new(None),
            mlflow_experiment_said: None,
            prices_loaded_at: Cell::new(None),
            destination,
        }
    }

    fn run(mut self) {
        let mut busy = false;
        // When the threads' rings are next drained by this thread (see `export_waiting`).
        let mut rings_due = Instant::now();
        loop {
            // A round that took a full batch or more starts the next at once: the program
            // produces faster than the schedule, and the wake-up of an outbox filling
            // during the round may have gone to the HTTP client's own wait.
            let scheduled = !busy && self.wait() == Woke::OnSchedule;
            let (asked, stop) = {
                let control = self.shared.control.lock();
                (control.asked, control.stop)
            };
            let flushing = asked > self.shared.control.lock().done;
            let drain_rings = flushing || stop || scheduled || Instant::now() >= rings_due;
            if drain_rings {
                rings_due = crate::deadline::after(self.config.schedule_delay);
            }
            let taken = self.export_waiting(flushing || stop, stop, drain_rings);
            busy = taken >= self.config.max_export_batch_size;
            if let Some(metrics) = &self.metrics {
                let due = flushing || stop || Instant::now() >= metrics.next.get();
                // A receiver with no metrics endpoint (MLflow, Phoenix): said once.
                if due && self.send_metrics(metrics) == Sent::NotFound {
                    self.metrics = None;
                }
            }
            let mut control = self.shared.control.lock();
            control.done = control.done.max(asked);
            self.shared.flushed.notify_all();
            // A stop asked for during this round gets a round of its own.
            if stop {
                return;
            }
        }
    }

    /// Waits for the schedule, a flush, a stop, or an outbox filling up. Waits in short
    /// slices and looks at the flags after each: a park's wake-up can be taken by code
    /// that parks this thread too (the HTTP client does, while it starts and while it waits
    /// for an answer), so an outbox's wake-up is also kept as a flag (`outbox::take_wake`).
    fn wait(&self) -> Woke {
        const SLICE: Duration = Duration::from_millis(50);
        let mut until = crate::deadline::after(self.config.schedule_delay);
        if let Some(metrics) = &self.metrics {
            until = until.min(metrics.next.get());
        }
        loop {
            {
                let control = self.shared.control.lock();
                if control.asked > control.done || control.stop {
                    return Woke::Asked;
                }
            }
            if outbox::take_wake() {
                return Woke::OutboxFull;
            }
            let now = Instant::now();
            if now >= until {
                return Woke::OnSchedule;
            }
            std::thread::park_timeout((until - now).min(SLICE));
        }
    }

    /// Sends the calls finished since the last round; `everything` (a flush or the end)
    /// also sends what a destination holds back. The `last` round closes the outboxes
    /// once it has taken from them: taking drains the threads' rings into outboxes that
    /// must still be open to take their calls.
    ///
    /// With `drain_rings` (a flush, the last round, a round on schedule, and otherwise once
    /// per `schedule_delay`) the calls waiting in the threads' rings are taken too. Other
    /// rounds, woken by an outbox filling up, take only the outboxes: the threads that
    /// fill their rings move them into the outboxes themselves, and this thread reading
    /// the rings they are writing would pull their cache lines to its core on every round
    /// (measured: +56% per call at 50,000 calls a second). Returns how many calls it took.
    fn export_waiting(&mut self, everything: bool, last: bool, drain_rings: bool) -> usize {
        let taken = outbox::take(drain_rings);
        if last {
            outbox::close();
        }
        let taken_count = taken.records.len();
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        #[cfg(feature = "opentelemetry")]
        if let Destination::Tracer(replayer) = &mut self.destination {
            let entries = taken
                .records
                .iter()
                .map(|(record, max_bytes)| super::replay::Finished {
                    entry: record.to_entry(*max_bytes),
                    parent_is_remote: record.parent_is_remote(),
                    upstream_sampled: record.upstream_sampled(),
                })
                .collect();
            let done = replayer.accept(entries, everything, self.config.max_queue_size);
            counters
                .exported
                .fetch_add(done.recorded, Ordering::Relaxed);
            counters
                .sampled_out
                .fetch_add(done.sampled_out, Ordering::Relaxed);
            return taken_count;
        }
        let _ = everything;
        // Sampled before anything is converted: a call left out costs a comparison.
        let mut kept: Vec<&(Record, usize)> = Vec::with_capacity(taken_count);
        for taken in &taken.records {
            // A trace continued from another process keeps the decision made there, as
            // OpenTelemetry's parent-based sampler does; one started here, the sampler's.
            let keep = taken
                .0
                .upstream_sampled()
                .unwrap_or_else(|| self.config.sampler.keeps(taken.0.trace_id));
            if keep {
                kept.push(taken);
            } else {
                counters.sampled_out.fetch_add(1, Ordering::Relaxed);
            }
        }
        counters.pending.store(kept.len() as u64, Ordering::Relaxed);
        if !kept.is_empty() {
            self.tell_phoenix_prices();
            if !self.find_mlflow_experiment() {
                // Never filed in another experiment: counted failed until MLflow has it.
                counters.pending.store(0, Ordering::Relaxed);
                counters
                    .failed
                    .fetch_add(kept.len() as u64, Ordering::Relaxed);
                return taken_count;
            }
        }
        // A batch at a time: its entries live only while it is encoded. The records keep
        // their places in the queue until sent, so the queue bounds what waits, all told.
        for records in kept.chunks(self.config.max_export_batch_size) {
            let batch = self.encode(records);
            let sent = self.post(&self.config.endpoint, batch.body) == Sent::Yes;
            // Taken off `pending` first: a stop that gives up adds `pending` to `failed`,
            // and may count a batch twice otherwise.
            counters.pending.fetch_sub(batch.spans, Ordering::Relaxed);
            let counter = if sent {
                &counters.exported
            } else {
                &counters.failed
            };
            counter.fetch_add(batch.spans, Ordering::Relaxed);
            if let (true, Some(url)) = (sent, &self.config.annotations_url) {
                self.post_annotations(url, batch.annotations);
            }
        }
        self.annotate_feedback();
        taken_count
    }

    /// One request's spans in the configured protocol, with their scores as Phoenix
    /// annotations when they go to Phoenix. Entries live only while their batch is encoded.
    fn encode(&self, records: &[&(Record, usize)]) -> Encoded {
        let entries: Vec<TraceEntry> = records
            .iter()
            .map(|(record, max_bytes)| record.to_entry(*max_bytes))
            .collect();
        let message = request(&entries, &self.resource, self.config.conventions);
        let body = match self.config.protocol {
            Protocol::HttpProtobuf => message.encode_to_vec(),
            Protocol::HttpJson => serde_json::to_vec(&message).unwrap_or_default(),
        };
        let annotations = match self.config.annotations_url {
            Some(_) => super::evaluation::entry_annotations(&entries),
            None => Vec::new(),
        };
        Encoded {
            spans: entries.len() as u64,
            body,
            annotations,
        }
    }

    /// Reads the id of the MLflow experiment the settings name (creating it when missing),
    /// once; whether spans may be sent. A failure is said once per reason and tried again
    /// next round (a server that was not up yet).
    fn find_mlflow_experiment(&mut self) -> bool {
        let Some(name) = self.config.mlflow_experiment_name.clone() else {
            return true;
        };
        let Some(client) = &self.client else {
            return false;
        };
        let base = self
            .config
            .endpoint
            .trim_end_matches("/v1/traces")
            .to_owned();
        let server = MlflowServer {
            client,
            base: &base,
            headers: &self.config.headers,
            deadline: self.request_deadline(),
        };
        match server.experiment_id(&name) {
            Ok(id) => {
                self.config.set_mlflow_experiment_id(&id);
                true
            }
            Err(reason) => {
                if self.mlflow_experiment_said.as_deref() != Some(reason.as_str()) {
                    let shown = mask_url_credentials(&base);
                    crate::record::subscriber::emit!(tracing::warn!(
                        target: "monitor::export",
                        "spans for MLflow ({shown}) wait: no id for experiment {name:?} \
                         (MLFLOW_EXPERIMENT_NAME): {reason}"
                    ));
                    self.mlflow_experiment_said = Some(reason);
                }
                false
            }
        }
    }

    /// Tells Phoenix the program's model prices when they changed since it was last told
    /// (once per change, failed or not), then holds the spans back until Phoenix has loaded
    /// them (never past a stop's deadline): it prices a span when the span comes in.
    fn tell_phoenix_prices(&self) {
        let (Some(url), Some(client)) = (&self.config.phoenix_graphql, &self.client) else {
            return;
        };
        let generation = crate::cost::prices_generation();
        if self.prices_told.get() != Some(generation) {
            self.prices_told.set(Some(generation));
            let api = PhoenixApi {
                client,
                graphql_url: url.clone(),
                headers: &self.config.headers,
                deadline: self.request_deadline(),
            };
            match api.write_prices(&crate::cost::model_prices()) {
                Ok(0) => {}
                Ok(_) => self
                    .prices_loaded_at
                    .set(Some(crate::deadline::after(PHOENIX_RELOAD))),
                Err(reason) => {
                    let shown = mask_url_credentials(url);
                    crate::record::subscriber::emit!(tracing::warn!(
                        target: "monitor::export",
                        "could not give Phoenix ({shown}) the prices set with set_model_price \
                         ({reason}): it shows no cost for models its own table lacks"
                    ));
                }
            }
        }
        if let Some(loaded) = self.prices_loaded_at.take() {
            let until = match self.shared.control.lock().deadline {
                Some(stop) => loaded.min(stop),
                None => loaded,
            };
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
        }
    }

    /// Posts the feedback given since the last round (see `ExecutionTracer::feedback`):
    /// span annotations, or trace annotations for feedback on a trace's root whose span
    /// this process did not know. Without a Phoenix URL there is nowhere to send it.
    fn annotate_feedback(&self) {
        let pending = crate::record::feedback::take_pending();
        let Some(spans_url) = &self.config.annotations_url else {
            return;
        };
        self.resend_annotations();
        let (on_spans, on_traces): (Vec<_>, Vec<_>) = pending
            .iter()
            .map(|feedback| {
                let span = feedback.span_id.as_deref();
                (
                    span.is_some(),
                    super::evaluation::phoenix_annotation(
                        &feedback.trace_id,
                        span,
                        None,
                        &feedback.score,
                    ),
                )
            })
            .partition(|(on_span, _)| *on_span);
        let unpaired =
            |pairs: Vec<(bool, serde_json::Value)>| pairs.into_iter().map(|(_, a)| a).collect();
        self.post_annotations(spans_url, unpaired(on_spans));
        let traces_url = spans_url.replace("/v1/span_annotations", "/v1/trace_annotations");
        self.post_annotations(&traces_url, unpaired(on_traces));
    }

    /// Posts `annotations` to Phoenix's annotation endpoint `url` (retried within the
    /// request timeout as spans are), counting those sent; those not delivered wait for the
    /// next round.
    fn post_annotations(&self, url: &str, annotations: Vec<serde_json::Value>) {
        if annotations.is_empty() || self.client.is_none() {
            return;
        }
        let count = annotations.len() as u64;
        let body = serde_json::json!({ "data": &annotations }).to_string();
        let counters = &self.shared.counters;
        match self.post_as(url, body.into_bytes(), "application/json", false) {
            Sent::Yes => {
                counters.annotations.fetch_add(count, Ordering::Relaxed);
            }
            Sent::No => self.keep_unsent(url, annotations),
            Sent::NotFound | Sent::Refused => {
                counters
                    .annotations_failed
                    .fetch_add(count, Ordering::Relaxed);
            }
        }
    }

    /// Keeps `annotations` for the next round, up to [`MAX_UNSENT_ANNOTATIONS`] waiting
    /// (past it, the oldest are dropped and counted).
    fn keep_unsent(&self, url: &str, annotations: Vec<serde_json::Value>) {
        let mut unsent = self.unsent_annotations.borrow_mut();
        unsent.extend(annotations.into_iter().map(|a| (url.to_owned(), a)));
        let over = unsent.len().saturating_sub(MAX_UNSENT_ANNOTATIONS);
        if over > 0 {
            unsent.drain(..over);
            self.shared
                .counters
                .annotations_failed
                .fetch_add(over as u64, Ordering::Relaxed);
        }
    }

    /// Sends again the annotations a down or slow Phoenix did not take, by URL. A re-sent
    /// annotation keeps its identifier, so one that did arrive is updated, not doubled.
    fn resend_annotations(&self) {
        let unsent = std::mem::take(&mut *self.unsent_annotations.borrow_mut());
        let mut by_url: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
        for (url, annotation) in unsent {
            match by_url.iter_mut().find(|(known, _)| *known == url) {
                Some((_, group)) => group.push(annotation),
                None => by_url.push((url, vec![annotation])),
            }
        }
        for (url, annotations) in by_url {
            self.post_annotations(&url, annotations);
        }
    }

    /// Posts every module's totals as OTLP metrics, and schedules the next post.
    fn send_metrics(&self, metrics: &MetricsSchedule) -> Sent {
        metrics
            .next
            .set(crate::deadline::after(self.config.metrics_interval));
        let period = Period {
            start_unix_nano: metrics.start_unix_nano,
            now_unix_nano: unix_nanos_now(),
        };
        let Some(message) = metrics_request(&metrics.tracer, self.resource.to_proto(), period)
        else {
            return Sent::Yes;
        };
        let body = match self.config.protocol {
            Protocol::HttpProtobuf => message.encode_to_vec(),
            Protocol::HttpJson => serde_json::to_vec(&message).unwrap_or_default(),
        };
        let counters = &self.shared.counters;
        let sent = self.post(&metrics.url, body);
        let counter = if sent == Sent::Yes {
            &counters.metric_exports
        } else {
            &counters.metric_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
        sent
    }

    /// When a request starting now must be over: the request timeout from now, or the
    /// stop's deadline when that is sooner (a stop shares one deadline among the requests
    /// left, so a hung collector costs it one timeout, not one per request).
    fn request_deadline(&self) -> Instant {
        let own = crate::deadline::after(self.config.timeout);
        match self.shared.control.lock().deadline {
            Some(stop) => own.min(stop),
            None => own,
        }
    }

    /// The time from now to `deadline`, `None` when it has passed.
    fn time_left(&self, deadline: Instant) -> Option<Duration> {
        Some(deadline.saturating_duration_since(Instant::now())).filter(|left| !left.is_zero())
    }

    /// Posts `body` (OTLP in the configured protocol) to `url`, compressed if configured,
    /// with retries on 429, 502, 503, 504 and connection errors, backoff and
    /// `Retry-After`, all within the request timeout.
    fn post(&self, url: &str, body: Vec<u8>) -> Sent {
        let content_type = match self.config.protocol {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        };
        self.post_as(url, body, content_type, self.config.gzip)
    }

    /// [`post`](Self::post) with the content type and compression given.
    fn post_as(&self, url: &str, body: Vec<u8>, content_type: &str, gzip_body: bool) -> Sent {
        let Some(client) = &self.client else {
            return Sent::No;
        };
        let body = if gzip_body { gzip(&body) } else { Some(body) };
        let Some(body) = body else {
            return Sent::No;
        };
        let deadline = self.request_deadline();
        let mut backoff = Duration::from_millis(100);
        loop {
            let Some(left) = self.time_left(deadline) else {
                return Sent::No;
            };
            let mut post = client
                .post(url)
                .timeout(left)
                .header("content-type", content_type)
                .body(body.clone());
            if gzip_body {
                post = post.header("content-encoding", "gzip");
            }
            for (name, value) in &self.config.headers {
                post = post.header(name.as_str(), value.as_str());
            }
            let wait = match post.send() {
                Ok(response) if response.status().is_success() => return Sent::Yes,
                Ok(response) if retryable(response.status().as_u16()) => {
                    retry_after(&response).unwrap_or(backoff)
                }
                Ok(response) => return self.refused(url, response.status().as_u16()),
                Err(_) => backoff,
            };
            if deadline.saturating_duration_since(Instant::now()) <= wait {
                return Sent::No;
            }
            self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(wait);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// One request, encoded and waiting to be sent.
struct Encoded {
    spans: u64,
    body: Vec<u8>,
    /// The spans' scores as Phoenix annotations, when there is a Phoenix to post them to.
    annotations: Vec<serde_json::Value>,
}

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Yes,
    /// Not delivered: the endpoint down or slow.
    No,
    /// The endpoint answered 404: nothing is there to take it.
    NotFound,
    /// The endpoint refused it with another HTTP error not worth retrying.
    Refused,
}

impl Worker {
    /// Counts a refused request and says it once per URL, as a warning (no lock is held
    /// here: the worker's own thread, between requests).
    fn refused(&self, url: &str, status: u16) -> Sent {
        self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        let first = {
            let mut said = self.refusals_said.borrow_mut();
            let first = !said.iter().any(|known| known == url);
            if first {
                said.push(url.to_owned());
            }
            first
        };
        let is_metrics = self.metrics.as_ref().is_some_and(|m| m.url == url);
        if first {
            let shown = mask_url_credentials(url);
            if is_metrics && status == 404 {
                crate::record::subscriber::emit!(tracing::warn!(
                    target: "monitor::export",
                    "{shown} answered 404 to OTLP metrics: this receiver takes none (MLflow \
                     and Phoenix do not), so no more are sent to it; set \
                     OTEL_EXPORTER_OTLP_METRICS_ENDPOINT to a receiver that does, or \
                     OTEL_METRICS_EXPORTER=none"
                ));
            } else {
                crate::record::subscriber::emit!(tracing::warn!(
                    target: "monitor::export",
                    "{shown} refused OTLP export with HTTP {status}: nothing sent there is \
                     delivered; check OTEL_EXPORTER_OTLP_ENDPOINT (or \
                     PHOENIX_COLLECTOR_ENDPOINT, MLFLOW_TRACKING_URI) and the key or headers \
                     the endpoint needs"
                ));
            }
        }
        if status == 404 {
            Sent::NotFound
        } else {
            Sent::Refused
        }
    }
}

fn retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

fn retry_after(response: &reqwest::blocking::Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    crate::http::parse_retry_after(value)
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

fn unix_nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}
/// Why the exporter's wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Woke {
    /// A flush or a stop was asked for.
    Asked,
    /// An outbox filled up, or the queue ran full.
    OutboxFull,
    /// The schedule's delay (or the metrics' interval) passed.
    OnSchedule,
}
