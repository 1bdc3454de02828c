//! The tracer's write side: each thread's producers and rings, and the drains that move
//! records into the shards.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::finished::Record;
use super::outbox;
use super::ring::{Producer, Ring};
use super::shard::{AllShards, Drained};
use super::tracer::{ExecutionTracer, Inner};

/// Records wait in a thread's ring until this many are there (or a reader comes): about
/// 12 KB per thread and tracer.
pub(super) const RING_CAPACITY: usize = 128;

/// A thread's first ring for a tracer holds this many records, and doubles each time the
/// thread fills it, up to [`RING_CAPACITY`]: a thread that records a few calls into many
/// tracers keeps about 1 KB per tracer, not 12.
pub(super) const FIRST_RING_CAPACITY: usize = 8;

/// A thread keeps rings for at most this many tracers, the latest used: recording into one
/// more first drains the least recently used one into its tracer and lets its ring go, so
/// a thread's rings stay within about 400 KB however many tracers it records into.
pub(super) const MAX_RINGS_PER_THREAD: usize = 32;

/// This thread's producer for one tracer.
pub(super) struct ThreadProducer {
    pub(super) tracer_id: u64,
    pub(super) producer: Producer<Record>,
    /// To drain the ring when the thread exits.
    pub(super) tracer: Weak<Inner>,
    pub(super) thread: u32,
}

impl ThreadProducer {
    /// Lets go of the ring, after moving what waits in it into the tracer (if it is still
    /// there): for a thread that exits, or that records into more tracers than it keeps
    /// rings for.
    pub(super) fn retire(self) {
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
pub(super) struct Producers(Vec<ThreadProducer>);

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

/// A history this small is trimmed only past this many records, so that it does not lock
/// every shard on every drain.
pub(super) const MIN_TRIM_AT: usize = 64;

impl ExecutionTracer {
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
    pub(super) fn record_slow(&self, thread: u32, record: Record) {
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
    pub(super) fn push_slow(
        &self,
        producers: &mut Vec<ThreadProducer>,
        record: Record,
    ) -> Result<(), Record> {
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
    pub(super) fn new_producer(&self, thread: u32, capacity: usize) -> ThreadProducer {
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
    pub(super) fn drain_shard(&self, thread: u32, record: Option<Record>) {
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
    pub(super) fn drain_rings(&self) {
        let inner = &*self.inner;
        let mut drained = Drained::default();
        for shard in inner.shards.iter() {
            shard.0.lock().drain_rings(inner.max_traces, &mut drained);
        }
        self.after_drain(drained);
    }

    /// Registers with the outbox and trims the history when a drain calls for it.
    pub(super) fn after_drain(&self, drained: Drained) {
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
    pub(super) fn note_in_outbox(&self) {
        if !self.inner.in_outbox.swap(true, Ordering::Relaxed) {
            outbox::register(Arc::downgrade(&self.inner) as Weak<dyn outbox::Source>);
        }
    }

    /// Drops the oldest records across shards down to `max_traces`. Runs once the shards
    /// hold twice `max_traces` together, so the cross-shard work comes once per
    /// `max_traces` calls, and the history holds at most about twice `max_traces` records
    /// whatever the number of threads.
    #[cold]
    pub(super) fn trim_history(&self) {
        drop(self.lock_and_trim());
    }

    pub(super) fn lock_all(&self) -> AllShards<'_> {
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
    pub(super) fn lock_and_trim(&self) -> AllShards<'_> {
        let mut shards = self.lock_all();
        shards.trim(self.inner.max_traces);
        self.recount_held(&shards);
        shards
    }

    /// Sets the count of held records from the shards themselves (all locked).
    pub(super) fn recount_held(&self, shards: &AllShards<'_>) {
        let held = shards.guards.iter().map(|shard| shard.history.len()).sum();
        self.inner.held.store(held, Ordering::Relaxed);
    }
}
