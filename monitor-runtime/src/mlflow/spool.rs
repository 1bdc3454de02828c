//! Records that cannot be delivered yet wait here on disk, as JSON lines, in order.
//!
//! Segments are read front to back; new records append to this process's own tail
//! segment. Segments left by a process that died are claimed (renamed) by the next one.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::record::Op;

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    /// Bytes already loaded.
    offset: u64,
    /// Ops not yet loaded.
    remaining: u64,
}

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    segments: VecDeque<Segment>,
    /// This process's append file, always the last segment when present.
    tail: Option<File>,
    seq: u32,
}

impl Spool {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Spool {
            dir,
            segments: VecDeque::new(),
            tail: None,
            seq: 0,
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Ops on disk, not yet loaded.
    pub(crate) fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.remaining).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn new_file(&mut self, prefix: &str) -> std::io::Result<(PathBuf, File)> {
        fs::create_dir_all(&self.dir)?;
        self.seq += 1;
        let path = self.dir.join(format!(
            "{prefix}-{}-{}-{:08x}.jsonl",
            std::process::id(),
            self.seq,
            uuid::Uuid::new_v4().as_u128() as u32
        ));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        Ok((path, file))
    }

    fn encode(ops: &[&Op]) -> Vec<u8> {
        let mut buf = Vec::new();
        for op in ops {
            if serde_json::to_writer(&mut buf, op).is_ok() {
                buf.push(b'\n');
            }
        }
        buf
    }

    /// Appends ops after everything already spooled.
    pub(crate) fn append(&mut self, ops: &[&Op]) -> std::io::Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        if self.tail.is_none() {
            let (path, file) = self.new_file("spool")?;
            self.segments.push_back(Segment {
                path,
                offset: 0,
                remaining: 0,
            });
            self.tail = Some(file);
        }
        let buf = Self::encode(ops);
        let file = self.tail.as_mut().expect("tail just set");
        file.write_all(&buf)?;
        file.flush()?;
        if let Some(seg) = self.segments.back_mut() {
            seg.remaining += ops.len() as u64;
        }
        Ok(())
    }

    /// Puts ops back before everything else (loaded ops that could not be delivered).
    pub(crate) fn push_front(&mut self, ops: &[&Op]) -> std::io::Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let (path, mut file) = self.new_file("spool-front")?;
        file.write_all(&Self::encode(ops))?;
        file.flush()?;
        self.segments.push_front(Segment {
            path,
            offset: 0,
            remaining: ops.len() as u64,
        });
        Ok(())
    }

    /// Loads up to `max` ops from the front, removing exhausted segments.
    pub(crate) fn load(&mut self, max: usize) -> std::io::Result<Vec<Op>> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(seg) = self.segments.front_mut() else {
                break;
            };
            if seg.remaining > 0 {
                let mut reader = BufReader::new(File::open(&seg.path)?);
                reader.seek(SeekFrom::Start(seg.offset))?;
                let mut line = String::new();
                while out.len() < max && seg.remaining > 0 {
                    line.clear();
                    let n = reader.read_line(&mut line)?;
                    if n == 0 {
                        seg.remaining = 0;
                        break;
                    }
                    seg.offset += n as u64;
                    seg.remaining -= 1;
                    match serde_json::from_str::<Op>(line.trim_end()) {
                        Ok(op) => out.push(op),
                        Err(e) => {
                            tracing::warn!(target: "monitor::mlflow", "skipping an unreadable spool line: {e}")
                        }
                    }
                }
            }
            if seg.remaining == 0 {
                let is_tail = self.segments.len() == 1 && self.tail.is_some();
                if is_tail {
                    // Keep appending to the same file only if it is not exhausted; start afresh.
                    self.tail = None;
                }
                let seg = self.segments.pop_front().expect("front exists");
                let _ = fs::remove_file(&seg.path);
            }
        }
        Ok(out)
    }

    /// Claims segments left by processes that are gone (Linux: no `/proc/<pid>`), so their
    /// records are delivered by this one. Returns how many ops were claimed.
    pub(crate) fn claim_orphans(&mut self) -> u64 {
        if !Path::new("/proc/self").exists() {
            return 0;
        }
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut claimed = 0;
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        found.sort();
        for path in found {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let pid = name.split('-').find_map(|part| part.parse::<u32>().ok());
            let Some(pid) = pid else { continue };
            if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let Ok((new_path, _)) = self.new_file("claimed") else {
                continue;
            };
            if fs::rename(&path, &new_path).is_err() {
                let _ = fs::remove_file(&new_path);
                continue; // another process claimed it first
            }
            let lines = fs::read(&new_path)
                .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
                .unwrap_or(0);
            claimed += lines;
            let seg = Segment {
                path: new_path,
                offset: 0,
                remaining: lines,
            };
            // Before our own tail, which is only ever last.
            let at = if self.tail.is_some() {
                self.segments.len().saturating_sub(1)
            } else {
                self.segments.len()
            };
            self.segments.insert(at, seg);
        }
        claimed
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{Op, RunKey};
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

    #[test]
    fn round_trip_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().to_owned());
        let ops: Vec<Op> = (0..5).map(metric).collect();
        spool.append(&ops.iter().collect::<Vec<_>>()).unwrap();
        let first = spool.load(2).unwrap();
        spool.push_front(&first.iter().collect::<Vec<_>>()).unwrap();
        spool.append(&[&metric(5)]).unwrap();
        assert_eq!(spool.len(), 6);
        let all = spool.load(100).unwrap();
        let steps: Vec<i64> = all
            .iter()
            .map(|op| {
                if let Op::Metric { step, .. } = op {
                    *step
                } else {
                    -1
                }
            })
            .collect();
        assert_eq!(steps, [0, 1, 2, 3, 4, 5]);
        assert!(matches!(&all[0], Op::Metric { value, .. } if value.is_nan()));
        assert!(spool.is_empty());
    }
}
