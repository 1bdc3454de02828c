//! The tracer: exact metrics and a bounded FIFO history of trace entries.
//!
//! Record path: a finished call's record goes into the calling thread's own ring for this
//! tracer (see [`ring`](super::ring)): no lock, no shared cache line written. Rings are
//! drained in batches into shards (per-module totals and a slice of the history, see
//! [`history`](super::history)): by their thread when full, and by every reader before it
//! reads, so readers see every finished call and metrics stay exact. A shard is locked
//! only to drain into it or read it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::{Mutex, MutexGuard};
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::Serialize;

use super::callsite::{intern, lookup, module_name, ModuleId};
use super::clock;
use super::guard::{TraceGuard, TracerRef};
use super::history::{self, ShardHistory};
use super::outbox;
use super::ring::{self, Producer, Ring};
use super::rollup::Spent;
use super::thread::thread_name;
use crate::capture::{CapturedValue, InputName, DEFAULT_MAX_FIELD_BYTES};
use crate::cost::Cost;
use crate::entry::{ErrorInfo, Status, TokenUsage, TraceEntry};
use crate::metrics::{ModuleMetrics, ModuleStats, Sample, TracerMetrics};

/// The default history size, as in the seed.
pub const DEFAULT_MAX_TRACES: usize = 1000;

/// One finished call, in the compact form the record path writes. Optional parts that
/// need the heap live in `details`, so a call without captures allocates nothing.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) module: ModuleId,
    /// The recording thread's index (see `thread::thread_name`).
    pub(crate) thread: u32,
    pub(crate) status: Status,
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_span_id: u64,
    /// Raw clock ticks, converted to wall-clock time and durations when read.
    pub(crate) start_raw: u64,
    pub(crate) end_raw: u64,
    pub(crate) quality: Option<f64>,
    /// Shared, so a reader copies a record out of its shard in a few nanoseconds and
    /// converts it after letting go of the lock.
    pub(crate) details: Option<Arc<Details>>,
}

/// The heap-allocated parts of a record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Details {
    pub(crate) inputs: Vec<(InputName, CapturedValue)>,
    pub(crate) outputs: Option<CapturedValue>,
    pub(crate) error: Option<ErrorInfo>,
    /// Captured with the error, symbolized into `error.backtrace` only when read.
    pub(crate) backtrace: Option<std::sync::Arc<std::backtrace::Backtrace>>,
    pub(crate) tokens: Option<TokenUsage>,
    /// What `tokens` cost, set on the record path when the model is priced.
    pub(crate) cost: Option<Cost>,
    /// On a root call: what its whole trace spent.
    pub(crate) trace_spent: Option<Spent>,
    pub(crate) validation_errors: Vec<String>,
    pub(crate) attributes: Vec<(String, serde_json::Value)>,
    /// A call that returned a stream: the raw clock ticks of its first item, if any.
    pub(crate) first_item_raw: Option<u64>,
    /// A call that returned a stream: how many items it yielded.
    pub(crate) items: Option<u64>,
}

impl Details {
    /// The model the call reported (`record_model`, `set_model`), if any.
    fn model(&self) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == crate::MODEL_ATTRIBUTE)
            .and_then(|(_, model)| model.as_str())
    }
}

impl Details {
    /// Every validation error reported, kept or past the per-call bound.
    #[inline]
    fn validation_error_count(&self) -> usize {
        let dropped = self
            .attributes
            .iter()
            .find(|(key, _)| key == crate::capture::VALIDATION_ERRORS_DROPPED)
            .and_then(|(_, count)| count.as_u64())
            .unwrap_or(0);
        self.validation_errors.len() + dropped as usize
    }

    fn error_info(&self, max_bytes: usize) -> Option<ErrorInfo> {
        let mut error = self.error.clone()?;
        if error.backtrace.is_none() {
            error.backtrace = self
                .backtrace
                .as_ref()
                .map(|backtrace| crate::capture::backtrace::render(backtrace, max_bytes));
        }
        Some(error)
    }
}

impl Record {
    fn duration_ns(&self) -> u64 {
        clock::nanos_between(self.start_raw, self.end_raw)
    }

    /// Nanoseconds from the call to the first item of the stream it returned.
    fn time_to_first_item_ns(&self) -> Option<u64> {
        let first = self.details.as_ref()?.first_item_raw?;
        Some(clock::nanos_between(self.start_raw, first))
    }

    #[inline]
    fn sample(&self) -> Sample {
        Sample {
            status: self.status,
            duration_ns: self.duration_ns(),
            time_to_first_item_ns: self.time_to_first_item_ns(),
            quality: self.quality,
            tokens: self.details.as_ref().and_then(|d| d.tokens),
            cost: self.details.as_ref().and_then(|d| d.cost),
            trace_spent: self.details.as_ref().and_then(|d| d.trace_spent),
            validation_errors: self
                .details
                .as_ref()
                .map_or(0, |d| d.validation_error_count()),
        }
    }

    /// `true` for a call with tokens, and for a root once any trace spent some: the calls
    /// [`spend`](Self::spend) is for.
    #[inline]
    pub(crate) fn needs_spend(&self) -> bool {
        super::rollup::needs_spend(
            self.details.as_ref().is_some_and(|d| d.tokens.is_some()),
            self.parent_span_id,
        )
    }

    /// Prices the call's tokens, adds them to its trace's sum, and on a root takes the
    /// trace's sum. Only for calls with tokens, and roots once any trace spent some.
    #[cold]
    pub(crate) fn spend(&mut self) {
        let tokens = self.details.as_ref().and_then(|d| d.tokens);
        let cost = tokens.and_then(|tokens| {
            if !crate::cost::any() {
                return None;
            }
            let details = self.details.as_deref()?;
            let declared = || crate::kind::declared(self.module.0).1;
            let model = details.model().or_else(declared)?;
            Some(crate::cost::price_of(model)?.cost_of(&tokens))
        });
        if self.parent_span_id != 0 {
            super::rollup::add(self.trace_id, tokens, cost);
        }
        let trace_spent = if self.parent_span_id == 0 {
            super::rollup::settle(self.trace_id, tokens, cost)
        } else {
            None
        };
        if cost.is_none() && trace_spent.is_none() {
            return;
        }
        // The record is not shared yet: its details are only the guard's.
        let details = self.details.get_or_insert_with(Default::default);
        let details = Arc::make_mut(details);
        details.cost = cost;
        details.trace_spent = trace_spent;
    }

    /// The entry users read; `max_bytes` caps the backtrace, rendered only now.
    pub(crate) fn to_entry(&self, max_bytes: usize) -> TraceEntry {
        let details = self.details.as_deref();
        TraceEntry {
            module: module_name(self.module).to_owned(),
            trace_id: format!("{:032x}", self.trace_id),
            span_id: format!("{:016x}", self.span_id),
            parent_span_id: (self.parent_span_id != 0)
                .then(|| format!("{:016x}", self.parent_span_id)),
            start_time_unix_nano: clock::unix_nanos(self.start_raw),
            duration_ns: self.duration_ns(),
            time_to_first_item_ns: self.time_to_first_item_ns(),
            item_count: details.and_then(|d| d.items),
            status: self.status,
            inputs: details
                .map(|d| crate::capture::inputs_to_map(&d.inputs))
                .unwrap_or_default(),
            outputs: details
                .and_then(|d| d.outputs.as_ref())
                .map(CapturedValue::to_value),
            error: details.and_then(|details| details.error_info(max_bytes)),
            quality_score: self.quality,
            token_usage: details.and_then(|d| d.tokens),
            cost: details.and_then(|d| d.cost),
            trace_token_usage: details.and_then(|d| d.trace_spent?.tokens),
            trace_cost: details.and_then(|d| d.trace_spent?.cost),
            validation_errors: details
                .map(|d| d.validation_errors.clone())
                .unwrap_or_default(),
            thread: thread_name(self.thread),
            attributes: self.attributes(details),
        }
    }

    /// The call's attributes, over those said for its whole trace and the kind and model
    /// its module was declared with.
    fn attributes(&self, details: Option<&Details>) -> serde_json::Map<String, serde_json::Value> {
        let mut attributes = serde_json::Map::new();
        if let Some(trace) = super::trace_attrs::get(self.trace_id) {
            trace.write_into(&mut attributes);
        }
        if let Some(details) = details {
            attributes.extend(details.attributes.iter().cloned());
        }
        let (kind, model) = crate::kind::declared(self.module.0);
        if let Some(kind) = kind {
            let key = crate::KIND_ATTRIBUTE.to_owned();
            attributes
                .entry(key)
                .or_insert_with(|| kind.as_str().into());
        }
        if let Some(model) = model {
            let key = crate::MODEL_ATTRIBUTE.to_owned();
            attributes.entry(key).or_insert_with(|| model.into());
        }
        attributes
    }
}

#[derive(Debug, Default)]
struct Shard {
    stats: Vec<Option<Box<ModuleStats>>>,
    history: ShardHistory,
    /// Copies of records for an exporter, while one is open (see `outbox.rs`).
    outbox: outbox::Outbox,
    /// The rings of the threads whose records land in this shard.
    rings: Vec<ring::Arc<Ring<Record>>>,
}

impl Shard {
    /// Adds a finished call: its module's totals, the history, and the exporters' outbox
    /// when one is open.
    #[inline]
    fn add(&mut self, record: Record, max_traces: usize, drained: &mut Drained) {
        let stats = self.stats_mut(record.module);
        match record.details {
            None => stats.add_plain(record.status, record.duration_ns(), record.quality),
            Some(_) => stats.add(&record.sample()),
        }
        if outbox::is_open() {
            if self.outbox.offer(&record) {
                drained.offered = true;
            } else {
                drained.dropped += 1;
            }
        }
        if !self.history.push(record, max_traces) {
            drained.kept += 1;
        }
    }

    /// Moves every record waiting in this shard's rings in, oldest first per thread, and
    /// lets go of the rings of threads that exited once they are empty.
    fn drain_rings(&mut self, max_traces: usize, drained: &mut Drained) {
        let rings = std::mem::take(&mut self.rings);
        for ring in &rings {
            ring.drain(|record| self.add(record, max_traces, drained));
        }
        self.rings = rings;
        self.rings
            .retain(|ring| ring::Arc::strong_count(ring) > 1 || !ring.is_empty());
    }

    #[inline]
    fn stats_mut(&mut self, module: ModuleId) -> &mut ModuleStats {
        let index = module.0 as usize;
        if let Some(Some(_)) = self.stats.get(index) {
            return self.stats[index].as_deref_mut().expect("checked above");
        }
        self.new_stats(index)
    }

    /// The totals of a module's first call in this shard.
    #[cold]
    fn new_stats(&mut self, index: usize) -> &mut ModuleStats {
        if index >= self.stats.len() {
            self.stats.resize_with(index + 1, || None);
        }
        self.stats[index].get_or_insert_with(Default::default)
    }
}

/// Keeps a shard on its own cache lines, so two threads writing neighbouring shards do not
/// slow each other down.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// What draining rings into a shard did, for the caller to follow up once the shard's lock
/// is let go.
#[derive(Default)]
struct Drained {
    /// A record went into an outbox.
    offered: bool,
    /// Records that grew the history (not counting those that pushed a shard's oldest out).
    kept: usize,
    /// Records the export queue had no room for.
    dropped: u64,
}

impl Drop for Drained {
    /// Counts the drops of a whole drain at once, on every path that drains.
    fn drop(&mut self) {
        outbox::count_dropped(self.dropped);
    }
}

/// Records wait in a thread's ring until this many are there (or a reader comes): about
/// 12 KB per thread and tracer.
const RING_CAPACITY: usize = 128;

/// A thread's first ring for a tracer holds this many records, and doubles each time the
/// thread fills it, up to [`RING_CAPACITY`]: a thread that records a few calls into many
/// tracers keeps about 1 KB per tracer, not 12.
const FIRST_RING_CAPACITY: usize = 8;

/// A thread keeps rings for at most this many tracers, the latest used: recording into one
/// more first drains the least recently used one into its tracer and lets its ring go, so
/// a thread's rings stay within about 400 KB however many tracers it records into.
const MAX_RINGS_PER_THREAD: usize = 32;

/// This thread's producer for one tracer.
struct ThreadProducer {
    tracer_id: u64,
    producer: Producer<Record>,
    /// To drain the ring when the thread exits.
    tracer: Weak<Inner>,
    thread: u32,
}

impl ThreadProducer {
    /// Lets go of the ring, after moving what waits in it into the tracer (if it is still
    /// there): for a thread that exits, or that records into more tracers than it keeps
    /// rings for.
    fn retire(self) {
        let ThreadProducer {
            producer,
            tracer,
            thread,
            ..
        } = self;
        drop(producer);
        if let Some(inner) = tracer.upgrade() {
            ExecutionTracer { inner }.drain_shard(thread, None);
        }
    }
}

/// This thread's producers, the latest used first.
struct Producers(Vec<ThreadProducer>);

impl Drop for Producers {
    /// A thread that exits moves what waits in its rings into the shards, and lets go of
    /// the rings: threads that come and go leave nothing behind.
    fn drop(&mut self) {
        for producer in self.0.drain(..) {
            producer.retire();
        }
    }
}

thread_local! {
    static PRODUCERS: RefCell<Producers> = const { RefCell::new(Producers(Vec::new())) };
}

#[derive(Debug)]
pub(super) struct Inner {
    /// Names this tracer in threads' producer lists; never reused.
    id: u64,
    shards: Box<[Padded<Mutex<Shard>>]>,
    max_traces: usize,
    max_field_bytes: usize,
    /// Records in the shards' histories, as of the last drain: past twice `max_traces`,
    /// the history is trimmed across shards. Written once per drained batch, not per call.
    held: AtomicUsize,
    /// Set when a [`TraceContext`](crate::TraceContext) first names this tracer.
    handle: OnceLock<TracerHandle>,
    /// Set when this tracer first puts a record in an outbox.
    in_outbox: AtomicBool,
    /// Held by a periodic dump from its copy of the history to its removal of what it
    /// wrote, so that two dumps at once do not both write the same entries.
    dumping: Mutex<()>,
}

impl Inner {
    /// The shard a thread's records land in.
    #[inline]
    fn shard_of(&self, thread: u32) -> &Mutex<Shard> {
        &self.shards[thread as usize & (self.shards.len() - 1)].0
    }

    /// Moves every shard's outbox into `into`, with this tracer's field cap.
    pub(super) fn take_outboxes(&self, into: &mut Vec<(Record, usize)>) {
        for shard in self.shards.iter() {
            let taken = {
                let mut shard = shard.0.lock();
                self.drain_rings_of(&mut shard);
                shard.outbox.take()
            };
            into.extend(
                taken
                    .into_iter()
                    .map(|record| (record, self.max_field_bytes)),
            );
        }
    }

    /// Moves what waits in the threads' rings into the shards, so every finished call is
    /// in an outbox or counted as dropped.
    pub(super) fn drain_for_export(&self) {
        for shard in self.shards.iter() {
            self.drain_rings_of(&mut shard.0.lock());
        }
    }

    fn drain_rings_of(&self, shard: &mut Shard) {
        let mut drained = Drained::default();
        shard.drain_rings(self.max_traces, &mut drained);
        // Counted for the next drain's trim; this one has no tracer handle to trim.
        self.held.fetch_add(drained.kept, Ordering::Relaxed);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for shard in self.shards.iter() {
            for ring in shard.0.lock().rings.iter() {
                ring.close();
            }
        }
        if self.in_outbox.load(Ordering::Relaxed) {
            let mut waiting = Vec::new();
            self.take_outboxes(&mut waiting);
            outbox::adopt(waiting);
        }
        if let Some(handle) = self.handle.get() {
            HANDLES.lock().remove(&handle.0);
        }
    }
}

/// A small `Copy` name of a tracer, so a [`TraceContext`](crate::TraceContext) can carry
/// its tracer and stay `Copy`. It does not keep the tracer alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TracerHandle(u64);

/// Tracers that have a handle, weakly: an entry goes when its tracer does.
static HANDLES: Mutex<FxHashMap<u64, Weak<Inner>>> =
    Mutex::new(FxHashMap::with_hasher(FxBuildHasher));

impl TracerHandle {
    /// The tracer, while it still exists.
    pub(crate) fn tracer(self) -> Option<ExecutionTracer> {
        let inner = HANDLES.lock().get(&self.0)?.upgrade()?;
        Some(ExecutionTracer { inner })
    }
}

/// Every shard locked at once (in index order, the one order that locks them all): for
/// trimming across shards and for `clear`, never for reading.
struct AllShards<'a> {
    guards: Vec<MutexGuard<'a, Shard>>,
}

impl AllShards<'_> {
    /// Trims the history to `max` records overall.
    fn trim(&mut self, max: usize) {
        let mut histories: Vec<&mut ShardHistory> = self
            .guards
            .iter_mut()
            .map(|shard| &mut shard.history)
            .collect();
        history::trim(&mut histories, max);
    }
}

/// Readers copy a shard's records this many at a time, letting go of its lock between
/// chunks, so a writer never waits longer than one chunk's copy (about a microsecond).
const READ_CHUNK: usize = 64;

/// What a reader copied out of the history: the newest `max_traces` records, oldest first,
/// and for each shard the sequence number its copy ended at.
struct HistoryCopy {
    records: Vec<Record>,
    marks: Vec<u64>,
}

/// History counts read shard by shard.
struct HistoryCounts {
    retained: usize,
    evicted: u64,
}

/// Records monitored calls: exact per-module metrics, and the most recent `max_traces`
/// entries in order.
///
/// `ExecutionTracer` is a cheap handle: clones share the same records, so a tracer can be
/// handed to many modules, stored in structs, or put in a `static`. It is `Send + Sync`.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::ExecutionTracer;
///
/// let tracer = ExecutionTracer::with_max_traces(100);
/// {
///     let mut call = tracer.trace("my_module", serde_json::json!({"query": "test"}));
///     call.set_outputs(&"result");
///     call.set_quality_score(0.85);
/// } // recorded here
///
/// let metrics = tracer.get_metrics();
/// assert_eq!(metrics.total_executions, 1);
/// assert_eq!(metrics.success_rate, 1.0);
/// assert_eq!(tracer.get_traces(Some(1))[0].inputs["query"], "test");
/// ```
#[derive(Clone)]
pub struct ExecutionTracer {
    inner: Arc<Inner>,
}

/// The settings only: the records are other calls' data (which may be secret), and
/// formatting them would lock the tracer.
impl std::fmt::Debug for ExecutionTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionTracer")
            .field("max_traces", &self.inner.max_traces)
            .field("max_field_bytes", &self.inner.max_field_bytes)
            .finish_non_exhaustive()
    }
}

// No user code runs while the tracer's locks are held, so a panic elsewhere cannot leave
// its state half-updated: sharing a tracer across `catch_unwind` is fine.
impl std::panic::UnwindSafe for ExecutionTracer {}
impl std::panic::RefUnwindSafe for ExecutionTracer {}

impl Default for ExecutionTracer {
    fn default() -> Self {
        ExecutionTracer::new()
    }
}

/// Configures an [`ExecutionTracer`].
#[derive(Clone, Debug)]
pub struct TracerBuilder {
    max_traces: usize,
    max_field_bytes: usize,
}

impl TracerBuilder {
    /// How many entries the history keeps (the oldest go first). Default 1000.
    pub fn max_traces(mut self, max_traces: usize) -> Self {
        self.max_traces = max_traces;
        self
    }

    /// The size cap of every kept string and value (each input, the output, the error
    /// message, each source, the backtrace, each validation error and attribute), in bytes.
    /// Default 4096; see [`DEFAULT_MAX_FIELD_BYTES`] for what it bounds.
    pub fn max_field_bytes(mut self, max_field_bytes: usize) -> Self {
        self.max_field_bytes = max_field_bytes;
        self
    }

    /// Builds the tracer.
    pub fn build(self) -> ExecutionTracer {
        super::panic::install_hook();
        let shards = shard_count();
        ExecutionTracer {
            inner: Arc::new(Inner {
                id: {
                    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
                    NEXT_ID.fetch_add(1, Ordering::Relaxed)
                },
                shards: (0..shards).map(|_| Padded::default()).collect(),
                max_traces: self.max_traces,
                max_field_bytes: self.max_field_bytes,
                held: AtomicUsize::new(0),
                handle: OnceLock::new(),
                in_outbox: AtomicBool::new(false),
                dumping: Mutex::new(()),
            }),
        }
    }
}

/// A history this small is trimmed only past this many records, so that it does not lock
/// every shard on every drain.
const MIN_TRIM_AT: usize = 64;

/// Enough shards that threads running at the same time rarely share one, and few enough
/// that `max_traces` per shard stays a modest bound.
pub(super) fn shard_count() -> usize {
    let cores = std::thread::available_parallelism().map_or(4, usize::from);
    (cores * 4).next_power_of_two().clamp(8, 64)
}

impl ExecutionTracer {
    /// A tracer keeping the last 1000 entries.
    pub fn new() -> Self {
        ExecutionTracer::builder().build()
    }

    /// A tracer keeping the last `max_traces` entries.
    pub fn with_max_traces(max_traces: usize) -> Self {
        ExecutionTracer::builder().max_traces(max_traces).build()
    }

    /// Configures a tracer.
    pub fn builder() -> TracerBuilder {
        TracerBuilder {
            max_traces: DEFAULT_MAX_TRACES,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
        }
    }

    /// Starts tracing a call of module `name`; the call is recorded when the guard drops.
    ///
    /// `inputs` is anything `Serialize`: a struct or `json!({..})` object gives one input
    /// per field, `()` gives none. Fields named like secrets (`api_key`, `token`, ...) are
    /// redacted.
    pub fn trace(&self, name: &str, inputs: impl Serialize) -> TraceGuard<'_> {
        let mut guard = TraceGuard::start(TracerRef::Borrowed(self), intern(name));
        guard.set_inputs(inputs);
        guard
    }

    /// Runs `f` as a traced call of module `name`, the closure form of [`trace`](Self::trace).
    /// `f` gets the guard to set outputs, a quality score and so on.
    pub fn in_trace<R>(
        &self,
        name: &str,
        inputs: impl Serialize,
        f: impl FnOnce(&mut TraceGuard<'_>) -> R,
    ) -> R {
        let mut guard = self.trace(name, inputs);
        f(&mut guard)
    }

    /// The most recent `limit` entries (all when `None`), oldest first.
    pub fn get_traces(&self, limit: Option<usize>) -> Vec<TraceEntry> {
        let records = self.copy_history().records;
        let skip = limit.map_or(0, |limit| records.len().saturating_sub(limit));
        let max_bytes = self.inner.max_field_bytes;
        records[skip..]
            .iter()
            .map(|record| record.to_entry(max_bytes))
            .collect()
    }

    /// Aggregate metrics over every execution since creation or [`clear`](Self::clear).
    pub fn get_metrics(&self) -> TracerMetrics {
        let merged = self.merged_stats();
        let counts = self.history_counts();
        TracerMetrics::from_stats(
            merged.iter().map(|(name, stats)| (*name, stats)),
            counts.evicted,
            counts.retained as u64,
        )
    }

    /// Every module's totals, merged across shards, by module id: what `get_metrics` and
    /// the Prometheus view are made of.
    pub(crate) fn merged_stats(&self) -> Vec<(&'static str, ModuleStats)> {
        self.drain_rings();
        let mut merged: Vec<Option<ModuleStats>> = Vec::new();
        for shard in self.inner.shards.iter() {
            let shard = shard.0.lock();
            for (index, stats) in shard.stats.iter().enumerate() {
                let Some(stats) = stats else { continue };
                if index >= merged.len() {
                    merged.resize_with(index + 1, || None);
                }
                merged[index]
                    .get_or_insert_with(Default::default)
                    .merge(stats);
            }
        }
        merged
            .into_iter()
            .enumerate()
            .filter_map(|(index, stats)| Some((module_name(ModuleId(index as u32)), stats?)))
            .collect()
    }

    /// Aggregate metrics of module `name` (empty ones if it has not run).
    pub fn module_metrics(&self, name: &str) -> ModuleMetrics {
        let Some(id) = lookup(name) else {
            return ModuleMetrics::empty(name);
        };
        self.drain_rings();
        let mut stats = ModuleStats::default();
        for shard in self.inner.shards.iter() {
            if let Some(Some(shard_stats)) = shard.0.lock().stats.get(id.0 as usize) {
                stats.merge(shard_stats);
            }
        }
        stats.to_metrics(name)
    }

    /// Forgets every entry and resets every metric.
    pub fn clear(&self) {
        let mut shards = self.lock_all();
        for shard in shards.guards.iter_mut() {
            // Calls that finished before are forgotten too (an exporter still gets them).
            shard.drain_rings(self.inner.max_traces, &mut Drained::default());
            shard.stats.clear();
            shard.history.clear();
        }
        self.recount_held(&shards);
    }

    /// Entries in the history now.
    pub fn len(&self) -> usize {
        self.drain_rings();
        self.history_counts().retained
    }

    /// `true` when the history holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries the history keeps.
    pub fn max_traces(&self) -> usize {
        self.inner.max_traces
    }

    /// The size cap of one captured field, in bytes.
    pub fn max_field_bytes(&self) -> usize {
        self.inner.max_field_bytes
    }

    /// Entries dropped from the history since creation or `clear()`.
    pub fn evicted_count(&self) -> u64 {
        self.drain_rings();
        self.history_counts().evicted
    }

    /// This tracer's handle, made on first use.
    pub(crate) fn handle(&self) -> TracerHandle {
        *self.inner.handle.get_or_init(|| {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            let handle = TracerHandle(NEXT.fetch_add(1, Ordering::Relaxed));
            HANDLES.lock().insert(handle.0, Arc::downgrade(&self.inner));
            handle
        })
    }

    /// `true` when both handles share the same records.
    pub fn same_as(&self, other: &ExecutionTracer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Every retained entry, oldest first, and a mark to pass to
    /// [`remove_traces_before`](Self::remove_traces_before) once they are safely written
    /// elsewhere. Recording goes on meanwhile: nothing stays locked.
    pub(crate) fn snapshot_traces(&self) -> (Vec<TraceEntry>, Vec<u64>) {
        let HistoryCopy { records, marks } = self.copy_history();
        let max_bytes = self.inner.max_field_bytes;
        let entries = records
            .iter()
            .map(|record| record.to_entry(max_bytes))
            .collect();
        (entries, marks)
    }

    /// Copies the newest `max_traces` records, oldest first (by end time), a chunk at a
    /// time per shard: copies are cheap (details are shared), and every conversion happens
    /// after the locks are let go.
    fn copy_history(&self) -> HistoryCopy {
        self.drain_rings();
        let mut records = Vec::new();
        let mut marks = Vec::with_capacity(self.inner.shards.len());
        for shard in self.inner.shards.iter() {
            let (mut next, end) = {
                let shard = shard.0.lock();
                (shard.history.first_seq(), shard.history.end_seq())
            };
            while next < end {
                next = shard
                    .0
                    .lock()
                    .history
                    .copy_into(next, end, READ_CHUNK, &mut records);
            }
            marks.push(end);
        }
        records.sort_by_key(|record| record.end_raw);
        let excess = records.len().saturating_sub(self.inner.max_traces);
        records.drain(..excess);
        HistoryCopy { records, marks }
    }

    /// How many entries a reader sees (at most `max_traces`), and how many left the
    /// history: records past `max_traces` that the next trim drops count as gone already.
    /// Callers drain the rings first (`get_metrics` already did, for its totals).
    fn history_counts(&self) -> HistoryCounts {
        let (mut held, mut evicted) = (0usize, 0u64);
        for shard in self.inner.shards.iter() {
            let shard = shard.0.lock();
            held += shard.history.len();
            evicted += shard.history.evicted();
        }
        let retained = held.min(self.inner.max_traces);
        HistoryCounts {
            retained,
            evicted: evicted + (held - retained) as u64,
        }
    }

    /// One periodic dump at a time: see [`Inner::dumping`].
    pub(crate) fn one_dump_at_a_time(&self) -> MutexGuard<'_, ()> {
        self.inner.dumping.lock()
    }

    /// Removes the entries of a snapshot (those still retained), keeping newer ones.
    pub(crate) fn remove_traces_before(&self, marks: &[u64]) {
        let mut shards = self.lock_all();
        for (shard, &mark) in shards.guards.iter_mut().zip(marks) {
            shard.history.remove_before(mark);
        }
        self.recount_held(&shards);
    }

    /// The record path: the record goes into this thread's ring for this tracer; a full
    /// ring is first drained into the thread's shard, by the thread itself.
    #[inline]
    #[cfg_attr(not(feature = "tracing-layer"), allow(dead_code))]
    pub(crate) fn record(&self, mut record: Record) {
        if record.needs_spend() {
            record.spend();
        }
        let thread = record.thread;
        let mut record = Some(record);
        self.record_with(thread, || record.take().expect("made once"));
    }

    /// [`record`](Self::record) of the record `make` makes, written straight into this
    /// thread's ring when there is room (a record moved around on the way costs more than
    /// the rest of the push). The caller has done [`Record::spend`] when it was needed.
    #[inline]
    pub(crate) fn record_with(&self, thread: u32, make: impl FnOnce() -> Record) {
        let inner = &*self.inner;
        // A load first: a read-modify-write on every call would bounce the line between
        // the threads writing this tracer.
        if outbox::is_open() && !inner.in_outbox.load(Ordering::Relaxed) {
            self.note_in_outbox();
        }
        let mut make = Some(make);
        let pushed = PRODUCERS
            .try_with(|producers| {
                let Ok(mut producers) = producers.try_borrow_mut() else {
                    return false;
                };
                match producers.0.first_mut() {
                    Some(first) if first.tracer_id == inner.id => first
                        .producer
                        .push_with(|| (make.take().expect("made once"))()),
                    _ => false,
                }
            })
            .unwrap_or(false);
        if !pushed {
            // No room, or no producer yet: `make` was not called.
            let make = make.take().expect("not made unless pushed");
            self.record_slow(thread, make());
        }
    }

    /// The record of a thread that has no producer for this tracer yet, or a full ring, or
    /// no thread-local storage left.
    #[cold]
    fn record_slow(&self, thread: u32, record: Record) {
        let mut waiting = Some(record);
        let pushed = PRODUCERS.try_with(|producers| {
            let record = waiting.take().expect("taken once");
            match producers.try_borrow_mut() {
                Ok(mut producers) => self.push_slow(&mut producers.0, record),
                Err(_) => Err(record),
            }
        });
        match (pushed, waiting) {
            (Ok(Ok(())), _) => {}
            // A full ring, or this thread's producers in use (a record dropped while one is
            // pushed): straight into the shard, after what waits there.
            (Ok(Err(record)), _) => self.drain_shard(thread, Some(record)),
            // This thread's storage is gone (a call in a thread-local's destructor).
            (Err(_), Some(record)) => self.drain_shard(thread, Some(record)),
            (Err(_), None) => unreachable!("the record is taken only inside the closure"),
        }
    }

    /// Pushes through this thread's producer for this tracer, making and registering one
    /// on the thread's first record here, or a bigger one when the thread filled it.
    /// Producers of dropped tracers go on the way.
    #[cold]
    fn push_slow(&self, producers: &mut Vec<ThreadProducer>, record: Record) -> Result<(), Record> {
        let inner = &*self.inner;
        producers.retain(|entry| !entry.producer.is_closed());
        let position = producers
            .iter()
            .position(|entry| entry.tracer_id == inner.id);
        let position = match position {
            Some(position) => position,
            None => {
                if producers.len() >= MAX_RINGS_PER_THREAD {
                    let least_recent = producers.pop().expect("a full list is not empty");
                    least_recent.retire();
                }
                producers.push(self.new_producer(record.thread, FIRST_RING_CAPACITY));
                producers.len() - 1
            }
        };
        // The latest tracer first: a thread mostly records into one.
        producers[..=position].rotate_right(1);
        let record = match producers[0].producer.push(record) {
            Ok(()) => return Ok(()),
            Err(record) => record,
        };
        let capacity = producers[0].producer.capacity();
        if capacity >= RING_CAPACITY {
            return Err(record);
        }
        // A thread that fills its ring records here often: it gets a bigger one. The full
        // ring stays with the shard until drained, ahead of the new one.
        producers[0] = self.new_producer(record.thread, capacity * 2);
        producers[0].producer.push(record)
    }

    /// A ring of `capacity` for this thread's records into this tracer, registered with
    /// the thread's shard.
    fn new_producer(&self, thread: u32, capacity: usize) -> ThreadProducer {
        let inner = &*self.inner;
        let (ring, producer) = Ring::with_capacity(capacity);
        inner.shard_of(thread).lock().rings.push(ring);
        ThreadProducer {
            tracer_id: inner.id,
            producer,
            tracer: Arc::downgrade(&self.inner),
            thread,
        }
    }

    /// Drains the shard of `thread` (its ring among others) and adds `record`, if any,
    /// after what was waiting there.
    #[cold]
    fn drain_shard(&self, thread: u32, record: Option<Record>) {
        let inner = &*self.inner;
        let mut drained = Drained::default();
        {
            let mut shard = inner.shard_of(thread).lock();
            shard.drain_rings(inner.max_traces, &mut drained);
            if let Some(record) = record {
                shard.add(record, inner.max_traces, &mut drained);
            }
        }
        self.after_drain(drained);
    }

    /// Moves every record waiting in a ring into the shards, before a read.
    fn drain_rings(&self) {
        let inner = &*self.inner;
        let mut drained = Drained::default();
        for shard in inner.shards.iter() {
            shard.0.lock().drain_rings(inner.max_traces, &mut drained);
        }
        self.after_drain(drained);
    }

    /// Registers with the outbox and trims the history when a drain calls for it.
    fn after_drain(&self, drained: Drained) {
        let inner = &*self.inner;
        if drained.offered {
            self.note_in_outbox();
        }
        if drained.kept > 0 {
            let held = inner.held.fetch_add(drained.kept, Ordering::Relaxed) + drained.kept;
            if held > inner.max_traces.saturating_mul(2).max(MIN_TRIM_AT) {
                self.trim_history();
            }
        }
    }

    /// Tells the exporters' outbox about this tracer, the first time it has records there.
    #[cold]
    fn note_in_outbox(&self) {
        if !self.inner.in_outbox.swap(true, Ordering::Relaxed) {
            outbox::register(&self.inner);
        }
    }

    /// Drops the oldest records across shards down to `max_traces`. Runs once the shards
    /// hold twice `max_traces` together, so the cross-shard work comes once per
    /// `max_traces` calls, and the history holds at most about twice `max_traces` records
    /// whatever the number of threads.
    #[cold]
    fn trim_history(&self) {
        drop(self.lock_and_trim());
    }

    fn lock_all(&self) -> AllShards<'_> {
        AllShards {
            guards: self
                .inner
                .shards
                .iter()
                .map(|shard| shard.0.lock())
                .collect(),
        }
    }

    /// Locks every shard and trims the history to `max_traces`.
    fn lock_and_trim(&self) -> AllShards<'_> {
        let mut shards = self.lock_all();
        shards.trim(self.inner.max_traces);
        self.recount_held(&shards);
        shards
    }

    /// Sets the count of held records from the shards themselves (all locked).
    fn recount_held(&self, shards: &AllShards<'_>) {
        let held = shards.guards.iter().map(|shard| shard.history.len()).sum();
        self.inner.held.store(held, Ordering::Relaxed);
    }
}
