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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mlflow::record::{Op, RunKey};

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

    // ---- the writer's side ----

    /// Appends `ops` after everything already accepted. Records waiting in memory go
    /// first. If the disk refuses, nothing partial stays in the file: records wait in
    /// memory (bounded), and the disk is tried again at most once a second.
    pub(crate) fn commit(&mut self, ops: Vec<Op>) -> Committed {
        let mut out = Committed::default();
        let retry_due = self.disk_retry_due();
        if self.error.is_some() && !retry_due {
            self.keep_in_memory(ops, &mut out);
            return out;
        }
        if ops.is_empty() && self.memory.is_empty() {
            return out;
        }
        self.last_disk_try = Some(Instant::now());
        let mut buf = Vec::with_capacity(ops.len() * 96);
        let mut lines = 0u64;
        for op in self.memory.iter().chain(ops.iter()) {
            if serde_json::to_writer(&mut buf, op).is_ok() {
                buf.push(b'\n');
                lines += 1;
            }
        }
        match self.append(&buf, lines) {
            Ok(()) => {
                out.on_disk = lines;
                out.recovered = self.error.take().is_some();
                self.memory.clear();
            }
            Err(e) => {
                out.error = Some(format!(
                    "cannot write the spool in {}: {e}",
                    self.dir.display()
                ));
                self.error = out.error.clone();
                self.keep_in_memory(ops, &mut out);
            }
        }
        out
    }

    fn keep_in_memory(&mut self, ops: Vec<Op>, out: &mut Committed) {
        for op in ops {
            if self.memory.len() + self.memory_lent < self.max_in_memory {
                self.memory.push_back(op);
                out.in_memory += 1;
            } else {
                out.dropped += 1;
            }
        }
    }

    fn append(&mut self, buf: &[u8], lines: u64) -> std::io::Result<()> {
        if lines == 0 {
            return Ok(());
        }
        if self.current.is_none() {
            self.open_segment()?;
        }
        let (no, file) = self.current.as_mut().expect("just opened");
        let seg = self.segments.get_mut(no).expect("current segment is known");
        if let Err(e) = file.write_all(buf) {
            // A full disk may have taken part of it: cut back to the last whole line, and
            // start a fresh segment next time so nothing half-written is ever replayed.
            let _ = file.set_len(seg.bytes);
            seg.closed = true;
            self.current = None;
            return Err(e);
        }
        seg.written += lines;
        seg.bytes += buf.len() as u64;
        if self.last_sync.elapsed() >= SYNC_EVERY {
            let _ = file.sync_data();
            self.last_sync = Instant::now();
        }
        if seg.bytes >= SEGMENT_BYTES {
            seg.closed = true;
            self.current = None;
        }
        Ok(())
    }

    fn open_segment(&mut self) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let stem = format!(
            "seg-{:016x}-{:08x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            uuid::Uuid::new_v4().as_u128() as u32
        );
        File::create(
            self.dir
                .join(format!("{stem}.owner-{}", std::process::id())),
        )?;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(self.dir.join(format!("{stem}.jsonl")))?;
        let no = self.next_own;
        self.next_own += 1;
        self.segments.insert(
            no,
            Segment {
                stem,
                own: true,
                written: 0,
                bytes: 0,
                settled: 0,
                settled_before: Vec::new(),
                closed: false,
                read_line: 0,
                read_offset: 0,
                ack: None,
            },
        );
        self.current = Some((no, file));
        Ok(())
    }

    // ---- the dispatcher's side ----

    /// Up to `max` records not read yet, oldest first; records that waited in memory come
    /// last (they are newer than everything on disk) and have no location.
    pub(crate) fn read(&mut self, max: usize) -> Vec<(Op, Option<Loc>)> {
        let mut out = Vec::new();
        let mut settle_now: Vec<Loc> = Vec::new();
        for (&no, seg) in self.segments.iter_mut() {
            if out.len() >= max {
                break;
            }
            if seg.read_line >= seg.written {
                continue;
            }
            let path = seg.path(&self.dir, "jsonl");
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            if file.seek(SeekFrom::Start(seg.read_offset)).is_err() {
                continue;
            }
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            while out.len() < max && seg.read_line < seg.written {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(n) if n > 0 && line.ends_with('\n') => {
                        let loc = Loc {
                            segment: no,
                            line: seg.read_line,
                        };
                        seg.read_line += 1;
                        seg.read_offset += n as u64;
                        if seg.settled_earlier(loc.line) {
                            continue;
                        }
                        match serde_json::from_str::<Op>(line.trim_end()) {
                            Ok(op) => out.push((op, Some(loc))),
                            Err(e) => {
                                tracing::warn!(target: "monitor::mlflow", "skipping an unreadable spool line: {e}");
                                settle_now.push(loc);
                            }
                        }
                    }
                    _ => {
                        // Shorter than the count says (the file was cut): stop here.
                        seg.written = seg.read_line;
                        break;
                    }
                }
            }
        }
        if !settle_now.is_empty() {
            self.settle(&settle_now);
        }
        while out.len() < max {
            match self.memory.pop_front() {
                Some(op) => {
                    self.memory_lent += 1;
                    out.push((op, None));
                }
                None => break,
            }
        }
        out
    }

    /// Whether records wait that [`read`](Self::read) has not returned yet.
    pub(crate) fn has_unread(&self) -> bool {
        !self.memory.is_empty() || self.segments.values().any(|s| s.read_line < s.written)
    }

    /// Whether `loc` is in a segment of this process.
    pub(crate) fn is_own(&self, loc: Loc) -> bool {
        loc.segment >= OWN_BASE
    }

    /// Records these lines as settled (delivered or refused), and removes segments that
    /// are done. Returns the number of lines settled in this process's own segments.
    pub(crate) fn settle(&mut self, locs: &[Loc]) -> u64 {
        let mut by_segment: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for loc in locs {
            by_segment.entry(loc.segment).or_default().push(loc.line);
        }
        let mut own = 0;
        for (no, mut lines) in by_segment {
            let Some(seg) = self.segments.get_mut(&no) else {
                continue;
            };
            lines.sort_unstable();
            let mut text = String::new();
            let mut i = 0;
            while i < lines.len() {
                let first = lines[i];
                let mut last = first;
                while i + 1 < lines.len() && lines[i + 1] == last + 1 {
                    i += 1;
                    last = lines[i];
                }
                text.push_str(&format!("d {first} {last}\n"));
                i += 1;
            }
            if seg.ack.is_none() {
                seg.ack = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(seg.path(&self.dir, "ack"))
                    .ok();
            }
            match seg.ack.as_mut().map(|f| f.write_all(text.as_bytes())) {
                Some(Ok(())) => {}
                _ => {
                    tracing::warn!(target: "monitor::mlflow", "cannot record delivery in the spool {}; a later process may send these records again", self.dir.display())
                }
            }
            seg.settled += lines.len() as u64;
            if seg.own {
                own += lines.len() as u64;
            }
        }
        self.remove_done();
        own
    }

    /// Closes the writer's segment if everything in it is settled, so an idle process
    /// leaves no files behind.
    pub(crate) fn close_if_settled(&mut self) {
        if let Some((no, _)) = &self.current {
            if let Some(seg) = self.segments.get_mut(no) {
                if seg.settled == seg.written {
                    seg.closed = true;
                    self.current = None;
                }
            }
        }
        self.remove_done();
    }

    fn remove_done(&mut self) {
        let done: Vec<u64> = self
            .segments
            .iter()
            .filter(|(_, s)| s.closed && s.settled >= s.written && s.read_line >= s.written)
            .map(|(&no, _)| no)
            .collect();
        for no in done {
            let seg = self.segments.remove(&no).expect("listed");
            let _ = fs::remove_file(seg.path(&self.dir, "jsonl"));
            let _ = fs::remove_file(seg.path(&self.dir, "ack"));
            let _ = fs::remove_file(self.dir.join(format!(
                "{}.owner-{}",
                seg.stem,
                std::process::id()
            )));
        }
    }

    /// Remembers that `run` exists on the server as `run_id`, for later processes.
    pub(crate) fn record_run(&self, run: RunKey, run_id: &str, artifact_uri: &str) {
        let line = format!("{run} {run_id} {artifact_uri}\n");
        let written = fs::create_dir_all(&self.dir).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("runs.log"))?
                .write_all(line.as_bytes())
        });
        if let Err(e) = written {
            tracing::warn!(target: "monitor::mlflow", "cannot record run {run_id} in the spool {}: {e}", self.dir.display());
        }
    }

    /// Runs created by earlier processes: run key to (run id, artifact uri).
    pub(crate) fn known_runs(&self) -> HashMap<RunKey, (String, String)> {
        let mut out = HashMap::new();
        let Ok(text) = fs::read_to_string(self.dir.join("runs.log")) else {
            return out;
        };
        for line in text.lines() {
            let mut parts = line.splitn(3, ' ');
            let (Some(key), Some(id)) = (parts.next(), parts.next()) else {
                continue;
            };
            if let Ok(key) = u128::from_str_radix(key, 16) {
                out.insert(
                    RunKey(key),
                    (id.to_owned(), parts.next().unwrap_or_default().to_owned()),
                );
            }
        }
        out
    }

    /// Claims the segments of processes that are gone (on Linux: no `/proc/<pid>`), with
    /// what they had already settled. Returns the number of records left to deliver.
    pub(crate) fn claim_orphans(&mut self) -> u64 {
        if !Path::new("/proc/self").exists() {
            return 0;
        }
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut owners: Vec<(String, u32)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let (stem, pid) = name.split_once(".owner-")?;
                Some((stem.to_owned(), pid.parse().ok()?))
            })
            .collect();
        owners.sort();
        let me = std::process::id();
        let mut claimed = 0;
        for (stem, pid) in owners {
            if pid == me || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let from = self.dir.join(format!("{stem}.owner-{pid}"));
            let to = self.dir.join(format!("{stem}.owner-{me}"));
            if fs::rename(&from, &to).is_err() {
                continue; // another process claimed it first
            }
            let (written, bytes) = complete_lines(&self.dir.join(format!("{stem}.jsonl")));
            let settled_before = read_acks(&self.dir.join(format!("{stem}.ack")), written);
            let settled: u64 = settled_before.iter().map(|(a, b)| b - a + 1).sum();
            claimed += written - settled;
            let no = self.next_claimed;
            self.next_claimed += 1;
            self.segments.insert(
                no,
                Segment {
                    stem,
                    own: false,
                    written,
                    bytes,
                    settled,
                    settled_before,
                    closed: true,
                    read_line: 0,
                    read_offset: 0,
                    ack: None,
                },
            );
        }
        self.remove_done();
        claimed
    }
}

/// The number of complete lines of a file and their bytes (a crash may leave half a line).
fn complete_lines(path: &Path) -> (u64, u64) {
    let mut bytes = Vec::new();
    if File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .is_err()
    {
        return (0, 0);
    }
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let lines = bytes[..end].iter().filter(|&&b| b == b'\n').count();
    (lines as u64, end as u64)
}

/// The settled ranges of an ack file, sorted and merged, within `0..written`.
fn read_acks(path: &Path, written: u64) -> Vec<(u64, u64)> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut ranges: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let mut p = l.split(' ');
            if p.next()? != "d" {
                return None;
            }
            let first: u64 = p.next()?.parse().ok()?;
            let last: u64 = p.next()?.parse().ok()?;
            (first <= last && first < written).then_some((first, last.min(written - 1)))
        })
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match merged.last_mut() {
            Some((_, last)) if a <= *last + 1 => *last = (*last).max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

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
