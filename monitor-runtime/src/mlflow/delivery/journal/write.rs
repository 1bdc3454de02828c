//! The writer's side: every accepted record appended in one commit, a new segment every
//! few megabytes, and records kept in memory (bounded) while the disk refuses them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::time::Instant;

use super::{Committed, Journal, Segment, SEGMENT_BYTES, SYNC_EVERY};
use crate::mlflow::op::Op;

impl Journal {
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
}
