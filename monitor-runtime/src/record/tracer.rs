//! The tracer: exact metrics and a bounded FIFO history of trace entries.
//!
//! Record path: a finished call's record goes into the calling thread's own ring for this
//! tracer (see [`ring`](super::ring)): no lock, no shared cache line written. Rings are
//! drained in batches into shards (per-module totals and a slice of the history, see
//! [`history`](super::history)): by their thread when full, and by every reader before it
//! reads, so readers see every finished call and metrics stay exact. A shard is locked
//! only to drain into it or read it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::finished::Record;
use super::outbox::{self, Source};
use super::shard::{Drained, Padded, Shard};
use crate::capture::DEFAULT_MAX_FIELD_BYTES;

/// The default history size, as in the seed.
pub const DEFAULT_MAX_TRACES: usize = 1000;

#[derive(Debug)]
pub(super) struct Inner {
    /// Names this tracer in threads' producer lists; never reused.
    pub(super) id: u64,
    pub(super) shards: Box<[Padded<Mutex<Shard>>]>,
    pub(super) max_traces: usize,
    pub(super) max_field_bytes: usize,
    /// Records in the shards' histories, as of the last drain: past twice `max_traces`,
    /// the history is trimmed across shards. Written once per drained batch, not per call.
    pub(super) held: AtomicUsize,
    /// Set when a [`TraceContext`](crate::TraceContext) first names this tracer.
    pub(super) handle: OnceLock<TracerHandle>,
    /// Set when this tracer first puts a record in an outbox.
    pub(super) in_outbox: AtomicBool,
    /// Held by a periodic dump from its copy of the history to its removal of what it
    /// wrote, so that two dumps at once do not both write the same entries.
    pub(super) dumping: Mutex<()>,
    /// Feedback received after calls (`feedback.rs`).
    pub(super) feedback: super::feedback_state::FeedbackState,
    /// Set when a reader first taps this tracer's finished calls (`tap.rs`).
    pub(super) tap: OnceLock<super::tap::SharedTap>,
}

impl Inner {
    /// The shard a thread's records land in.
    #[inline]
    pub(super) fn shard_of(&self, thread: u32) -> &Mutex<Shard> {
        &self.shards[thread as usize & (self.shards.len() - 1)].0
    }

    fn drain_rings_of(&self, shard: &mut Shard) {
        let mut drained = Drained::default();
        shard.drain_rings(self.max_traces, &mut drained);
        // Counted for the next drain's trim; this one has no tracer handle to trim.
        self.held.fetch_add(drained.kept, Ordering::Relaxed);
    }
}

impl outbox::Source for Inner {
    fn take_outboxes(&self, into: &mut Vec<(Record, usize)>, drain_rings: bool) {
        for shard in self.shards.iter() {
            let taken = {
                let mut shard = shard.0.lock();
                if drain_rings {
                    self.drain_rings_of(&mut shard);
                }
                shard.outbox.take()
            };
            into.extend(
                taken
                    .into_iter()
                    .map(|record| (record, self.max_field_bytes)),
            );
        }
    }

    fn drain_for_export(&self) {
        for shard in self.shards.iter() {
            self.drain_rings_of(&mut shard.0.lock());
        }
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
            self.take_outboxes(&mut waiting, true);
            outbox::adopt(waiting);
        }
        if let Some(handle) = self.handle.get() {
            HANDLES.lock().remove(&handle.0);
        }
    }
}

/// A tracer that may have been dropped.
#[derive(Clone, Debug)]
pub(crate) struct WeakTracer(Weak<Inner>);

impl WeakTracer {
    /// The tracer, while it still exists.
    pub(crate) fn upgrade(&self) -> Option<ExecutionTracer> {
        self.0.upgrade().map(|inner| ExecutionTracer { inner })
    }
}

/// A small `Copy` name of a tracer, so a [`TraceContext`](crate::TraceContext) can carry
/// its tracer and stay `Copy`. It does not keep the tracer alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TracerHandle(u64);

/// Tracers that have a handle, weakly: an entry goes when its tracer does.
pub(super) static HANDLES: Mutex<FxHashMap<u64, Weak<Inner>>> =
    Mutex::new(FxHashMap::with_hasher(FxBuildHasher));

impl TracerHandle {
    /// The tracer, while it still exists.
    pub(crate) fn tracer(self) -> Option<ExecutionTracer> {
        let inner = HANDLES.lock().get(&self.0)?.upgrade()?;
        Some(ExecutionTracer { inner })
    }
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
///     call.finish(); // recorded here, as a success
/// }
///
/// let metrics = tracer.get_metrics();
/// assert_eq!(metrics.total_executions, 1);
/// assert_eq!(metrics.success_rate, 1.0);
/// assert_eq!(tracer.get_traces(Some(1))[0].inputs["query"], "test");
/// ```
#[derive(Clone)]
pub struct ExecutionTracer {
    pub(super) inner: Arc<Inner>,
}

/// The last handle tells the tap (judges still at work wait for it, boundedly); records
/// and exports are not touched until the inner tracer itself goes.
impl Drop for ExecutionTracer {
    fn drop(&mut self) {
        if Arc::strong_count(&self.inner) == 1 {
            if let Some(tap) = self.inner.tap.get().cloned() {
                tap.last_handle_dropping();
            }
        }
    }
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
    pub(super) max_traces: usize,
    pub(super) max_field_bytes: usize,
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
                feedback: Default::default(),
                tap: OnceLock::new(),
            }),
        }
    }
}

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

    /// How many entries the history keeps.
    pub fn max_traces(&self) -> usize {
        self.inner.max_traces
    }

    /// The size cap of one captured field, in bytes.
    pub fn max_field_bytes(&self) -> usize {
        self.inner.max_field_bytes
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

    /// This tracer's tap, set by `make` the first time (every shard then offers it each
    /// record it takes in; records already in a shard are not offered).
    pub(crate) fn tap_or_set(
        &self,
        make: impl FnOnce() -> super::tap::SharedTap,
    ) -> super::tap::SharedTap {
        let mut made = false;
        let tap = self
            .inner
            .tap
            .get_or_init(|| {
                made = true;
                make()
            })
            .clone();
        if made {
            // Calls that finished before the tap are not the tap's to see.
            self.drain_rings();
            for shard in self.inner.shards.iter() {
                shard.0.lock().tap = Some(tap.clone());
            }
        }
        tap
    }

    /// This tracer's tap, if one was set.
    pub(crate) fn tap(&self) -> Option<&super::tap::SharedTap> {
        self.inner.tap.get()
    }

    /// Moves the calls waiting in the threads' rings into the shards (and so to the tap),
    /// as a reader would before reading.
    pub(crate) fn drain_to_tap(&self) {
        self.drain_rings();
    }

    /// A handle that does not keep the tracer alive.
    pub(crate) fn downgrade(&self) -> WeakTracer {
        WeakTracer(Arc::downgrade(&self.inner))
    }

    /// `true` when both handles share the same records.
    pub fn same_as(&self, other: &ExecutionTracer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
