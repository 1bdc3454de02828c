//! The on-disk journal (the "spool"): every accepted record is appended here by the
//! writer thread within one commit, before and independently of any network request, and
//! acknowledged here by the dispatcher once the server took it or refused it. What a
//! process leaves behind (exit, crash, `SIGKILL`) is resumed by the next process that
//! uses the same spool directory, exactly where it stopped.
//!
//! Files in the spool directory:
//! - `seg-<id>.jsonl`: one record per line; a line's number is its identity.
//! - `seg-<id>.ack`: `d <first> <last>` lines, the settled line ranges (delivered or
//!   refused), appended after each request.
//! - `seg-<id>.owner-<pid>`: the process that delivers the segment. A segment whose owner
//!   is gone is claimed by renaming this file, which only one process can do.
//! - `runs.log`: `<run key> <run id> <artifact uri>` lines, one per run created on the
//!   server, so that a replay binds later records to the run instead of creating another.

// Owns: the journal's files and bookkeeping (here), the writer's side: commits, appends,
// segments, records kept in memory while the disk refuses (`write.rs`), the dispatcher's
// side: reads in order, acknowledgements, removal of settled segments (`read.rs`), and
// what later processes resume: the runs created, and the segments of processes that are
// gone (`resume.rs`).
//
// May call: the file system and `record` (`Op`, serialized one per line); nothing else.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mlflow::op::Op;

mod read;
mod resume;
mod write;

/// A segment grows to about this size before the writer starts the next one.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Claimed segments sort before this process's own ones.
const OWN_BASE: u64 = 1 << 40;
/// How often the writer tries the disk again after a write failed.
const RETRY_DISK_EVERY: Duration = Duration::from_secs(1);
/// How often committed bytes are forced to the device (a crash of the process loses
/// nothing written; this bounds what a crash of the machine loses).
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Where a record read from the journal lives, to acknowledge it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    segment: u64,
    line: u64,
}

#[derive(Debug)]
struct Segment {
    stem: String,
    /// Written by this process (its records count toward this process's flushes).
    own: bool,
    /// Complete lines on disk, and their bytes.
    written: u64,
    bytes: u64,
    /// Lines settled, by this process or an earlier owner.
    settled: u64,
    /// Settled by an earlier owner (claimed segments only): sorted, disjoint ranges.
    settled_before: Vec<(u64, u64)>,
    /// No more lines will be appended.
    closed: bool,
    /// The dispatcher's read position.
    read_line: u64,
    read_offset: u64,
    ack: Option<File>,
}

impl Segment {
    fn path(&self, dir: &Path, ext: &str) -> PathBuf {
        dir.join(format!("{}.{ext}", self.stem))
    }

    fn settled_earlier(&self, line: u64) -> bool {
        let i = self
            .settled_before
            .partition_point(|&(_, last)| last < line);
        self.settled_before
            .get(i)
            .is_some_and(|&(first, _)| first <= line)
    }
}

/// What a commit did with the records it was given.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    /// Written to disk (including records that had waited in memory).
    pub(crate) on_disk: u64,
    /// Kept in memory because the disk refused them.
    pub(crate) in_memory: u64,
    /// Dropped: the disk refused them and memory was full.
    pub(crate) dropped: u64,
    /// The write error, when the disk refused.
    pub(crate) error: Option<String>,
    /// The disk took records again after refusing them.
    pub(crate) recovered: bool,
}

/// The journal's files and bookkeeping, shared by the writer and the dispatcher.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    segments: BTreeMap<u64, Segment>,
    next_own: u64,
    next_claimed: u64,
    /// The writer's open segment.
    current: Option<(u64, File)>,
    /// Records the disk refused, oldest first; they come after everything on disk.
    memory: VecDeque<Op>,
    /// Records of `memory` handed to the dispatcher and not settled yet: they still count
    /// toward the memory bound.
    memory_lent: usize,
    max_in_memory: usize,
    /// The last write error, while the disk refuses.
    error: Option<String>,
    last_disk_try: Option<Instant>,
    last_sync: Instant,
}

impl Journal {
    pub(crate) fn new(dir: PathBuf, max_in_memory: usize) -> Self {
        Journal {
            dir,
            segments: BTreeMap::new(),
            next_own: OWN_BASE,
            next_claimed: 0,
            current: None,
            memory: VecDeque::new(),
            memory_lent: 0,
            max_in_memory: max_in_memory.max(1),
            error: None,
            last_disk_try: None,
            last_sync: Instant::now(),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records on disk not settled yet (all segments), and those of this process only.
    pub(crate) fn unsettled(&self) -> (u64, u64) {
        let mut all = 0;
        let mut own = 0;
        for seg in self.segments.values() {
            let n = seg.written - seg.settled;
            all += n;
            if seg.own {
                own += n;
            }
        }
        (all, own)
    }

    /// Records kept in memory because the disk refused them (including those the
    /// dispatcher holds).
    pub(crate) fn in_memory(&self) -> u64 {
        (self.memory.len() + self.memory_lent) as u64
    }

    /// The dispatcher settled `n` records that had no place on disk.
    pub(crate) fn memory_settled(&mut self, n: usize) {
        self.memory_lent = self.memory_lent.saturating_sub(n);
    }

    /// Why the disk refuses records, while it does.
    pub(crate) fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether the writer should try the disk again now (records wait in memory).
    pub(crate) fn disk_retry_due(&self) -> bool {
        !self.memory.is_empty()
            && self
                .last_disk_try
                .is_none_or(|t| t.elapsed() >= RETRY_DISK_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::mlflow::op::RunKey;

    fn metric(step: i64) -> Op {
        Op::Metric {
            run: RunKey(7),
            key: "loss".into(),
            value: f64::NAN,
            timestamp: 1,
            step,
        }
    }

    fn steps(read: &[(Op, Option<Loc>)]) -> Vec<i64> {
        read.iter()
            .map(|(op, _)| match op {
                Op::Metric { step, .. } => *step,
                _ => -1,
            })
            .collect()
    }

    #[test]
    fn records_round_trip_in_order_and_settled_segments_go_away() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::new(dir.path().to_owned(), 10);
        assert_eq!(j.commit((0..5).map(metric).collect()).on_disk, 5);
        let first = j.read(2);
        assert_eq!(steps(&first), [0, 1]);
        assert_eq!(j.commit(vec![metric(5)]).on_disk, 1);
        let rest = j.read(100);
        assert_eq!(steps(&rest), [2, 3, 4, 5]);
        assert!(matches!(&rest[0].0, Op::Metric { value, .. } if value.is_nan()));
        let locs: Vec<Loc> = first.iter().chain(&rest).filter_map(|(_, l)| *l).collect();
        assert_eq!(j.settle(&locs), 6);
        j.close_if_settled();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_replay_resumes_after_what_was_settled() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::new(dir.path().to_owned(), 10);
        j.commit((0..6).map(metric).collect());
        let read = j.read(100);
        let done: Vec<Loc> = read
            .iter()
            .filter_map(|(_, l)| *l)
            .filter(|l| l.line % 2 == 0 || l.line == 1)
            .collect();
        j.settle(&done);
        // Pretend the owner is gone.
        let owner = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().contains(".owner-"))
            .unwrap()
            .path();
        let stem = owner.file_name().unwrap().to_string_lossy().into_owned();
        let stem = stem.split(".owner-").next().unwrap().to_owned();
        fs::rename(&owner, dir.path().join(format!("{stem}.owner-999999999"))).unwrap();
        let mut next = Journal::new(dir.path().to_owned(), 10);
        assert_eq!(next.claim_orphans(), 2);
        assert_eq!(steps(&next.read(100)), [3, 5]);
    }

    #[test]
    fn a_refusing_disk_keeps_records_in_memory_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        let mut j = Journal::new(file, 3);
        let c = j.commit((0..5).map(metric).collect());
        assert_eq!((c.on_disk, c.in_memory, c.dropped), (0, 3, 2));
        assert!(c.error.is_some());
        assert_eq!(steps(&j.read(10)), [0, 1, 2]);
    }
}
