//! The bounded FIFO history, kept per shard so the record path writes only memory its own
//! thread owns.
//!
//! Each shard keeps the records that finished on it, oldest first, and never more than
//! `max_traces`. Readers trim across shards (dropping the oldest records overall) and merge
//! by end time, so a single thread sees an exact FIFO and several threads see the newest
//! `max_traces` calls overall.
//!
//! Trimming across shards reads records other cores wrote, a cache miss per record, and
//! doing it often stopped two threads from scaling. So it happens only once the shards hold
//! more than twice `max_traces` records together (a count kept per drained batch, not per
//! call): the history holds at most about twice `max_traces` records whatever the number
//! of threads and calls (see `ExecutionTracer::trim_history`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::finished::Record;

#[derive(Debug, Default)]
pub(crate) struct ShardHistory {
    records: VecDeque<Record>,
    /// Sequence number of `records[0]`: every record that ever entered this shard counts one.
    first_seq: u64,
    evicted: u64,
}

impl ShardHistory {
    /// Appends a record, dropping this shard's oldest beyond `max`; returns `true` when
    /// one was dropped.
    #[inline]
    pub(crate) fn push(&mut self, record: Record, max: usize) -> bool {
        self.records.push_back(record);
        if self.records.len() > max {
            self.records.pop_front();
            self.first_seq += 1;
            self.evicted += 1;
            return true;
        }
        false
    }

    fn drop_oldest(&mut self, count: usize) {
        let count = count.min(self.records.len());
        self.records.drain(..count);
        self.first_seq += count as u64;
        self.evicted += count as u64;
    }

    /// The record of call `span` of trace `trace`, or with no span the trace's root (the
    /// call without a parent), newest first.
    pub(crate) fn find_mut(&mut self, trace: u128, span: Option<u64>) -> Option<&mut Record> {
        self.records.iter_mut().rev().find(|record| {
            record.trace_id == trace
                && match span {
                    Some(span) => record.span_id == span,
                    None => record.parent_span_id == 0,
                }
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Forgets every record and the eviction count; sequence numbers keep counting.
    pub(crate) fn clear(&mut self) {
        self.first_seq += self.records.len() as u64;
        self.records.clear();
        self.evicted = 0;
    }

    /// The sequence number of the oldest record here.
    pub(crate) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Appends copies of up to `count` records numbered from `from` (or from the oldest
    /// still here, if those went) and below `until` to `out`; returns the number to go on
    /// from.
    pub(crate) fn copy_into(
        &self,
        from: u64,
        until: u64,
        count: usize,
        out: &mut Vec<Record>,
    ) -> u64 {
        let start = from.max(self.first_seq);
        let end = until.min(self.end_seq()).min(start + count as u64);
        let offset = (start - self.first_seq) as usize;
        out.extend(
            self.records
                .range(offset..offset + end.saturating_sub(start) as usize)
                .cloned(),
        );
        end.max(start)
    }

    /// The sequence number the next record will get.
    pub(crate) fn end_seq(&self) -> u64 {
        self.first_seq + self.records.len() as u64
    }

    /// Removes the records numbered below `end_seq` that are still here (not evictions:
    /// they were exported).
    pub(crate) fn remove_before(&mut self, end_seq: u64) {
        let count = (end_seq.saturating_sub(self.first_seq) as usize).min(self.records.len());
        self.records.drain(..count);
        self.first_seq += count as u64;
    }
}

/// Drops the oldest records across all shards until at most `max` remain, and returns how
/// many remain. Only the excess is visited, so trimming costs O(excess · log shards).
pub(crate) fn trim(shards: &mut [&mut ShardHistory], max: usize) -> usize {
    let total: usize = shards.iter().map(|s| s.len()).sum();
    if total <= max {
        return total;
    }
    let mut drop_counts = vec![0usize; shards.len()];
    let mut fronts: BinaryHeap<Reverse<(u64, usize)>> = shards
        .iter()
        .enumerate()
        .filter_map(|(index, shard)| Some(Reverse((shard.records.front()?.end_raw, index))))
        .collect();
    for _ in 0..total - max {
        let Some(Reverse((_, index))) = fronts.pop() else {
            break;
        };
        drop_counts[index] += 1;
        if let Some(next) = shards[index].records.get(drop_counts[index]) {
            fronts.push(Reverse((next.end_raw, index)));
        }
    }
    for (shard, count) in shards.iter_mut().zip(drop_counts) {
        shard.drop_oldest(count);
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Status;
    use crate::record::callsite::ModuleId;

    fn record(end_raw: u64) -> Record {
        Record {
            module: ModuleId(0),
            thread: 0,
            status: Status::Success,
            trace_id: 1,
            span_id: end_raw,
            parent_span_id: 0,
            origin: Default::default(),
            start_raw: end_raw,
            end_raw,
            quality: None,
            details: None,
        }
    }

    fn shard(ends: &[u64]) -> ShardHistory {
        let mut shard = ShardHistory::default();
        for &end in ends {
            shard.push(record(end), usize::MAX);
        }
        shard
    }

    /// Every retained record of all shards, oldest first (by end time).
    fn merged<'a>(shards: &[&'a ShardHistory]) -> Vec<&'a Record> {
        let mut out = Vec::with_capacity(shards.iter().map(|s| s.len()).sum());
        let mut positions = vec![0usize; shards.len()];
        let mut fronts: BinaryHeap<Reverse<(u64, usize)>> = shards
            .iter()
            .enumerate()
            .filter_map(|(index, shard)| Some(Reverse((shard.records.front()?.end_raw, index))))
            .collect();
        while let Some(Reverse((_, index))) = fronts.pop() {
            let shard = shards[index];
            out.push(&shard.records[positions[index]]);
            positions[index] += 1;
            if let Some(next) = shard.records.get(positions[index]) {
                fronts.push(Reverse((next.end_raw, index)));
            }
        }
        out
    }

    fn ends(shards: &[&ShardHistory]) -> Vec<u64> {
        merged(shards).iter().map(|r| r.end_raw).collect()
    }

    #[test]
    fn a_shard_keeps_its_newest_and_counts_what_it_drops() {
        let mut one = ShardHistory::default();
        for end in 0..10 {
            one.push(record(end), 4);
        }
        assert_eq!(ends(&[&one]), [6, 7, 8, 9]);
        assert_eq!(one.evicted(), 6);
    }

    #[test]
    fn trimming_drops_the_oldest_across_shards() {
        let (mut a, mut b, mut c) = (
            shard(&[1, 4, 7, 10]),
            shard(&[2, 5, 8]),
            shard(&[3, 6, 9, 11, 12]),
        );
        assert_eq!(trim(&mut [&mut a, &mut b, &mut c], 5), 5);
        assert_eq!(ends(&[&a, &b, &c]), [8, 9, 10, 11, 12]);
        assert_eq!(a.evicted() + b.evicted() + c.evicted(), 7);
        assert_eq!(
            trim(&mut [&mut a, &mut b, &mut c], 5),
            5,
            "nothing more to drop"
        );
    }

    #[test]
    fn chunked_copies_go_on_where_they_stopped_even_after_evictions() {
        let mut a = shard(&[1, 2, 3, 4, 5]);
        let end = a.end_seq();
        let mut copied = Vec::new();
        let next = a.copy_into(a.first_seq(), end, 2, &mut copied);
        a.drop_oldest(3);
        a.push(record(6), usize::MAX);
        let mut next = next;
        while next < end {
            next = a.copy_into(next, end, 2, &mut copied);
        }
        let ends: Vec<u64> = copied.iter().map(|r| r.end_raw).collect();
        assert_eq!(
            ends,
            [1, 2, 4, 5],
            "3 went meanwhile; 6 came after the copy began"
        );
    }

    #[test]
    fn removal_by_mark_keeps_newer_records() {
        let mut a = shard(&[1, 2, 3]);
        let mark = a.end_seq();
        a.push(record(4), usize::MAX);
        a.remove_before(mark);
        assert_eq!(ends(&[&a]), [4]);
        assert_eq!(a.evicted(), 0, "exported records are not evictions");
    }
}
