//! The tracer's readers: entries, metrics, counts and snapshots, each taken after the
//! rings are drained.

use parking_lot::MutexGuard;

use super::callsite::{lookup, module_name, ModuleId};
use super::finished::Record;
use super::shard::Drained;
use super::tracer::ExecutionTracer;
use crate::entry::TraceEntry;
use crate::metrics::{ModuleMetrics, ModuleStats, TracerMetrics};

/// Readers copy a shard's records this many at a time, letting go of its lock between
/// chunks, so a writer never waits longer than one chunk's copy (about a microsecond).
pub(super) const READ_CHUNK: usize = 64;

/// What a reader copied out of the history: the newest `max_traces` records, oldest first,
/// and for each shard the sequence number its copy ended at.
pub(super) struct HistoryCopy {
    pub(super) records: Vec<Record>,
    pub(super) marks: Vec<u64>,
}

/// History counts read shard by shard.
pub(super) struct HistoryCounts {
    pub(super) retained: usize,
    pub(super) evicted: u64,
}

impl ExecutionTracer {
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
        let mut metrics = TracerMetrics::from_stats(
            merged.iter().map(|(name, stats)| (*name, stats)),
            counts.evicted,
            counts.retained as u64,
        );
        metrics.feedback = self.feedback_stats();
        metrics
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
        self.inner.feedback.reset_counts();
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

    /// Entries dropped from the history since creation or `clear()`.
    pub fn evicted_count(&self) -> u64 {
        self.drain_rings();
        self.history_counts().evicted
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
    pub(super) fn copy_history(&self) -> HistoryCopy {
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
    pub(super) fn history_counts(&self) -> HistoryCounts {
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
}
