//! Finished calls handed to an exporter. While one is open, the record path also puts a
//! copy of each record (a few words and a reference count) in its shard's outbox, under
//! the lock it already holds; the exporter's thread takes the outboxes' contents now and
//! then. Closed (the usual case), the record path pays one relaxed load.
//!
//! One bound holds for the whole queue: every copy waiting in an outbox, left by a tracer
//! that was dropped, or taken and not yet sent, holds one of the queue's [`Slots`], whatever
//! the number and lifetimes of the tracers. Past it, records are dropped and counted at
//! once, so the exporter's `dropped` is current whenever it is read.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::Thread;

use parking_lot::Mutex;

use super::finished::Record;
use super::slots::Slots;

static OPEN: AtomicBool = AtomicBool::new(false);
/// The queue's places, `max_queue_size` of them while an exporter is open.
#[cfg(not(monitor_loom))]
static SLOTS: Slots = Slots::new();
#[cfg(monitor_loom)]
static SLOTS: std::sync::LazyLock<Slots> = std::sync::LazyLock::new(Slots::new);
/// How many places a shard takes at once: one shared count changed once per this many
/// records, not once per record. Few, since a shard of an idle tracer keeps the ones it
/// did not use until the exporter's next take.
static TAKE_AT_ONCE: AtomicUsize = AtomicUsize::new(1);
/// An outbox this full wakes the exporter, so a busy program sends full batches early.
static WAKE_AT: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Set when a record finds the queue full, until the exporter gives places back: the
/// exporter is woken once, not per record, and a record that finds it set is dropped
/// without asking for places again.
static FULL: AtomicBool = AtomicBool::new(false);
/// Records dropped because the queue was full, since the exporter opened.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Tracers that recorded while the outbox was open, weakly: a tracer goes when dropped.
static TRACERS: Mutex<Vec<Weak<dyn Source>>> = Mutex::new(Vec::new());
/// Records left in the outboxes of tracers that were dropped before the exporter took them
/// (each still holding its place in the queue).
static ORPHANS: Mutex<Vec<(Record, usize)>> = Mutex::new(Vec::new());
static EXPORTER: Mutex<Option<Thread>> = Mutex::new(None);
/// Set with each wake-up, until the exporter takes it ([`take_wake`]): the unpark alone can
/// be taken by other code that parks the exporter's thread (its HTTP client does).
static WOKEN: AtomicBool = AtomicBool::new(false);

/// Starts collecting records for `exporter`, which is unparked when a shard's outbox holds
/// `wake_at` records or the queue is full. At most `capacity` records wait, across every
/// tracer, live or dropped, including those the exporter has taken and not yet sent.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn open(capacity: usize, wake_at: usize, exporter: Thread) {
    let capacity = capacity.max(1);
    SLOTS.reset(capacity);
    TAKE_AT_ONCE.store((capacity / 128).clamp(1, 16), Ordering::Relaxed);
    WAKE_AT.store(wake_at.max(1), Ordering::Relaxed);
    DROPPED.store(0, Ordering::Relaxed);
    FULL.store(false, Ordering::Relaxed);
    WOKEN.store(false, Ordering::Relaxed);
    *EXPORTER.lock() = Some(exporter);
    OPEN.store(true, Ordering::Release);
}

/// Stops collecting; what is waiting stays until the next [`take`].
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn close() {
    OPEN.store(false, Ordering::Release);
    *EXPORTER.lock() = None;
}

#[inline]
pub(super) fn is_open() -> bool {
    OPEN.load(Ordering::Relaxed)
}

/// One shard's outbox: copies of records waiting for the exporter, and the places in the
/// queue it took for the next ones.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    records: Vec<Record>,
    places: usize,
}

impl Outbox {
    /// Puts a copy of `record` in (the shard is locked by the caller); `false` when the
    /// queue is full and the record is dropped (the caller counts it).
    #[inline]
    pub(super) fn offer(&mut self, record: &Record) -> bool {
        if self.places == 0 {
            if FULL.load(Ordering::Relaxed) {
                return false;
            }
            self.places = take_places();
            if self.places == 0 {
                return false;
            }
        }
        self.places -= 1;
        self.records.push(record.clone());
        if self.records.len() == WAKE_AT.load(Ordering::Relaxed) {
            wake_exporter();
        }
        true
    }

    /// Takes the waiting records out, and gives back the places taken for later ones. An
    /// outbox that had records gets room for as many again, allocated here rather than
    /// grown on the record path; an empty one lets its memory go.
    pub(super) fn take(&mut self) -> Vec<Record> {
        SLOTS.give_back(std::mem::take(&mut self.places));
        let refill = Vec::with_capacity(self.records.len());
        std::mem::replace(&mut self.records, refill)
    }
}

/// A few places for a shard's next records, or none when the queue is full (then the
/// exporter is woken, once, to make room).
#[cold]
fn take_places() -> usize {
    let took = SLOTS.take(TAKE_AT_ONCE.load(Ordering::Relaxed));
    if took == 0 && !FULL.swap(true, Ordering::Relaxed) {
        wake_exporter();
    }
    took
}

#[cold]
fn wake_exporter() {
    WOKEN.store(true, Ordering::Release);
    if let Some(exporter) = EXPORTER.lock().as_ref() {
        exporter.unpark();
    }
}

/// Whether an outbox filled up or the queue ran full since the last call: the exporter's
/// wake-up, kept until it looks, whoever took the unpark.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn take_wake() -> bool {
    WOKEN.swap(false, Ordering::AcqRel)
}

/// Counts records the queue had no room for.
pub(super) fn count_dropped(count: u64) {
    if count > 0 {
        DROPPED.fetch_add(count, Ordering::Relaxed);
    }
}

/// Records dropped since the exporter opened, counting every call finished so far: the
/// rings of the tracers with outboxes are drained first.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn dropped() -> u64 {
    for tracer in live_tracers() {
        tracer.drain_for_export();
    }
    DROPPED.load(Ordering::Relaxed)
}

/// What the outbox asks of a tracer with records in it. The tracer implements it, so that
/// this file, which the tracer's shards use, need not know the tracer.
pub(super) trait Source: Send + Sync {
    /// Moves what waits in the threads' rings into the shards, so every finished call is
    /// in an outbox or counted as dropped.
    fn drain_for_export(&self);
    /// Moves every shard's outbox into `into`, with the tracer's field cap; with
    /// `drain_rings`, what waits in the threads' rings goes in first.
    fn take_outboxes(&self, into: &mut Vec<(Record, usize)>, drain_rings: bool);
}

/// Notes that `tracer` has records in its outboxes, the first time it does. Tracers
/// dropped since are forgotten whenever the list would grow, so it stays within twice the
/// live ones.
#[cold]
pub(super) fn register(tracer: Weak<dyn Source>) {
    let mut tracers = TRACERS.lock();
    if tracers.len() == tracers.capacity() {
        tracers.retain(|tracer| tracer.strong_count() > 0);
    }
    tracers.push(tracer);
}

/// Keeps the waiting records of a tracer being dropped for the next [`take`]: they keep
/// their places in the queue.
pub(super) fn adopt(records: Vec<(Record, usize)>) {
    if !records.is_empty() {
        ORPHANS.lock().extend(records);
    }
}

/// Records taken out of every outbox, with the cap of their tracer's fields. They keep
/// their places in the queue until this is dropped.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct Taken {
    pub(crate) records: Vec<(Record, usize)>,
    places: usize,
}

impl Drop for Taken {
    fn drop(&mut self) {
        SLOTS.give_back(self.places);
        FULL.store(false, Ordering::Relaxed);
    }
}

fn live_tracers() -> Vec<Arc<dyn Source>> {
    let mut tracers = TRACERS.lock();
    tracers.retain(|tracer| tracer.strong_count() > 0);
    tracers.iter().filter_map(Weak::upgrade).collect()
}

/// Takes every waiting record. Each shard is locked only to swap its outbox out.
///
/// With `drain_rings`, the records waiting in the threads' rings are moved in first, so
/// every call finished so far is taken. An exporter that cannot keep up passes `false`:
/// its program's threads fill their rings and move them into the outboxes themselves, and
/// an exporter reading the rings the threads are writing slows every call down (their
/// cache lines go back and forth between the cores).
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn take(drain_rings: bool) -> Taken {
    let tracers = live_tracers();
    let mut records = std::mem::take(&mut *ORPHANS.lock());
    for tracer in &tracers {
        tracer.take_outboxes(&mut records, drain_rings);
    }
    let places = records.len();
    Taken { records, places }
}

#[cfg(test)]
mod tests {
    /// The guarantees guide's bound on the export queue counts about 100 bytes per waiting call.
    #[test]
    fn a_waiting_record_is_about_a_hundred_bytes() {
        let size = std::mem::size_of::<super::Record>();
        assert!(size <= 112, "{size}");
    }
}
