//! What a later process resumes: the runs created on the server (`runs.log`), and the
//! segments of processes that are gone, with what they had already settled.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use super::{Journal, Segment};
use crate::mlflow::op::RunKey;

impl Journal {
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
            crate::record::subscriber::emit!(
                tracing::warn!(target: "monitor::mlflow", "cannot record run {run_id} in the spool {}: {e}", self.dir.display())
            );
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
