//! The dispatcher's side: records read back in order, lines acknowledged as settled
//! (delivered or refused), and segments removed once everything in them is settled.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};

use super::{Journal, Loc, OWN_BASE};
use crate::mlflow::op::Op;

impl Journal {
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
                                crate::record::subscriber::emit!(
                                    tracing::warn!(target: "monitor::mlflow", "skipping an unreadable spool line: {e}")
                                );
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
                    crate::record::subscriber::emit!(
                        tracing::warn!(target: "monitor::mlflow", "cannot record delivery in the spool {}; a later process may send these records again", self.dir.display())
                    )
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

    pub(super) fn remove_done(&mut self) {
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
}
