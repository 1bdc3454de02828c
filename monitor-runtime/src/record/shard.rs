//! A shard: per-module totals, a slice of the history, the exporters' outbox, and the
//! rings of the threads that write into it.

use parking_lot::MutexGuard;

use super::callsite::ModuleId;
use super::finished::Record;
use super::history::{self, ShardHistory};
use super::outbox;
use super::ring::{self, Ring};
use super::tap::SharedTap;
use crate::metrics::ModuleStats;

#[derive(Debug, Default)]
pub(super) struct Shard {
    pub(super) stats: Vec<Option<Box<ModuleStats>>>,
    pub(super) history: ShardHistory,
    /// Copies of records for an exporter, while one is open (see `outbox.rs`).
    pub(super) outbox: outbox::Outbox,
    /// The rings of the threads whose records land in this shard.
    pub(super) rings: Vec<ring::Arc<Ring<Record>>>,
    /// The tracer's tap, once one is set (`tap.rs`).
    pub(super) tap: Option<SharedTap>,
}

impl Shard {
    /// Adds a finished call: its module's totals, the history, and the exporters' outbox
    /// when one is open.
    #[inline]
    pub(super) fn add(&mut self, record: Record, max_traces: usize, drained: &mut Drained) {
        let stats = self.stats_mut(record.module);
        match &record.details {
            // Captured values alone add nothing to the metrics.
            Some(details) if details.has_more() => {
                stats.add(&record.sample());
                if !details.scores.is_empty() {
                    stats.add_scores(&details.scores);
                }
            }
            _ => stats.add_plain(record.status, record.duration_ns(), record.quality),
        }
        if outbox::is_open() {
            if self.outbox.offer(&record) {
                drained.offered = true;
            } else {
                drained.dropped += 1;
            }
        }
        if let Some(tap) = &self.tap {
            offer_to(tap, &record);
        }
        if !self.history.push(record, max_traces) {
            drained.kept += 1;
        }
    }

    /// Moves every record waiting in this shard's rings in, oldest first per thread, and
    /// lets go of the rings of threads that exited once they are empty.
    pub(super) fn drain_rings(&mut self, max_traces: usize, drained: &mut Drained) {
        let rings = std::mem::take(&mut self.rings);
        for ring in &rings {
            ring.drain(|record| self.add(record, max_traces, drained));
        }
        self.rings = rings;
        self.rings
            .retain(|ring| ring::Arc::strong_count(ring) > 1 || !ring.is_empty());
    }

    #[inline]
    pub(super) fn stats_mut(&mut self, module: ModuleId) -> &mut ModuleStats {
        let index = module.0 as usize;
        if let Some(Some(_)) = self.stats.get(index) {
            return self.stats[index].as_deref_mut().expect("checked above");
        }
        self.new_stats(index)
    }

    /// The totals of a module's first call in this shard.
    #[cold]
    pub(super) fn new_stats(&mut self, index: usize) -> &mut ModuleStats {
        if index >= self.stats.len() {
            self.stats.resize_with(index + 1, || None);
        }
        self.stats[index].get_or_insert_with(Default::default)
    }
}

/// Out of the drain's loop: a tracer without judges keeps its loop as it was.
#[cold]
#[inline(never)]
fn offer_to(tap: &SharedTap, record: &Record) {
    tap.offer(record);
}

/// Keeps a shard on its own cache lines, so two threads writing neighbouring shards do not
/// slow each other down.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct Padded<T>(pub(super) T);

/// What draining rings into a shard did, for the caller to follow up once the shard's lock
/// is let go.
#[derive(Default)]
pub(super) struct Drained {
    /// A record went into an outbox.
    pub(super) offered: bool,
    /// Records that grew the history (not counting those that pushed a shard's oldest out).
    pub(super) kept: usize,
    /// Records the export queue had no room for.
    pub(super) dropped: u64,
}

impl Drop for Drained {
    /// Counts the drops of a whole drain at once, on every path that drains.
    fn drop(&mut self) {
        outbox::count_dropped(self.dropped);
    }
}

/// Every shard locked at once (in index order, the one order that locks them all): for
/// trimming across shards and for `clear`, never for reading.
pub(super) struct AllShards<'a> {
    pub(super) guards: Vec<MutexGuard<'a, Shard>>,
}

impl AllShards<'_> {
    /// Trims the history to `max` records overall.
    pub(super) fn trim(&mut self, max: usize) {
        let mut histories: Vec<&mut ShardHistory> = self
            .guards
            .iter_mut()
            .map(|shard| &mut shard.history)
            .collect();
        history::trim(&mut histories, max);
    }
}
