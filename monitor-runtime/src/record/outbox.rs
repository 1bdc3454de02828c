//! Finished calls handed to an exporter. While one is open, the record path also puts a
//! copy of each record (a few words and a reference count) in its shard's outbox, under
//! the lock it already holds; the exporter's thread takes the outboxes' contents now and
//! then. Closed (the usual case), the record path pays one relaxed load.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::Thread;

use parking_lot::Mutex;

use super::finished::Record;
use super::tracer::Inner;

static OPEN: AtomicBool = AtomicBool::new(false);
/// Each shard's outbox holds at most this many records; past it, records are dropped and
/// counted.
static CAPACITY_PER_SHARD: AtomicUsize = AtomicUsize::new(0);
/// An outbox this full wakes the exporter, so a busy program sends full batches early.
static WAKE_AT: AtomicUsize = AtomicUsize::new(usize::MAX);
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Tracers that recorded while the outbox was open, weakly: a tracer goes when dropped.
static TRACERS: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());
/// Records left in the outboxes of tracers that were dropped before the exporter took them.
static ORPHANS: Mutex<Vec<(Record, usize)>> = Mutex::new(Vec::new());
static EXPORTER: Mutex<Option<Thread>> = Mutex::new(None);

/// Starts collecting records for `exporter`, which is unparked when a shard's outbox holds
/// `wake_at` records. Each shard's outbox holds at most `capacity` records: one thread
/// alone can fill the whole queue, and all shards together hold at most `capacity` times
/// the number of shards written to since the last take.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn open(capacity: usize, wake_at: usize, exporter: Thread) {
    CAPACITY_PER_SHARD.store(capacity.max(1), Ordering::Relaxed);
    WAKE_AT.store(wake_at.max(1), Ordering::Relaxed);
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

/// Puts a copy of `record` in `outbox` (the shard's, locked by the caller), or counts it
/// in `dropped` (the shard's too: a shared counter would bounce between the cores of the
/// writers and the exporter) when the outbox is full.
#[inline]
pub(super) fn offer(outbox: &mut Vec<Record>, dropped: &mut u64, record: &Record) {
    if outbox.len() >= CAPACITY_PER_SHARD.load(Ordering::Relaxed) {
        *dropped += 1;
        return;
    }
    outbox.push(record.clone());
    if outbox.len() == WAKE_AT.load(Ordering::Relaxed) {
        if let Some(exporter) = EXPORTER.lock().as_ref() {
            exporter.unpark();
        }
    }
}

/// Notes that `tracer` has records in its outboxes, the first time it does.
#[cold]
pub(super) fn register(tracer: &Arc<Inner>) {
    TRACERS.lock().push(Arc::downgrade(tracer));
}

/// Keeps the waiting records (and the count of dropped ones) of a tracer being dropped,
/// for the next [`take`].
pub(super) fn adopt(records: Vec<(Record, usize)>, dropped: u64) {
    DROPPED.fetch_add(dropped, Ordering::Relaxed);
    if !records.is_empty() {
        ORPHANS.lock().extend(records);
    }
}

/// Records taken out of every outbox, with the cap of their tracer's fields.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct Taken {
    pub(crate) records: Vec<(Record, usize)>,
    /// Records dropped because an outbox was full, since the last `take`.
    pub(crate) dropped: u64,
}

/// Takes every waiting record. Each shard is locked only to swap its outbox out.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn take() -> Taken {
    let tracers: Vec<Arc<Inner>> = {
        let mut tracers = TRACERS.lock();
        tracers.retain(|tracer| tracer.strong_count() > 0);
        tracers.iter().filter_map(Weak::upgrade).collect()
    };
    let mut records = std::mem::take(&mut *ORPHANS.lock());
    let mut dropped = DROPPED.swap(0, Ordering::Relaxed);
    for tracer in &tracers {
        dropped += tracer.take_outboxes(&mut records);
    }
    Taken { records, dropped }
}

#[cfg(test)]
mod tests {
    /// The README's bound on the export queue counts about 100 bytes per waiting call.
    #[test]
    fn a_waiting_record_is_about_a_hundred_bytes() {
        let size = std::mem::size_of::<super::Record>();
        assert!(size <= 112, "{size}");
    }
}
