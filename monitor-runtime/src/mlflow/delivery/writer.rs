//! The writer thread: moves queued records to the journal on disk, in group commits, as
//! soon as they arrive, so a record is on disk within milliseconds of its log call
//! whatever the network does (a hanging request only holds up the dispatcher).

use std::time::Duration;

use super::{warn_loudly, Channel};

/// How long the writer sleeps with nothing to do before it looks at the disk again
/// (records kept in memory while the disk refused them).
const IDLE_TICK: Duration = Duration::from_millis(500);

pub(super) fn run(ch: &Channel) {
    let mut refusing = false;
    let mut warned_lost = false;
    loop {
        let ops = {
            let mut s = ch.state.lock();
            if s.incoming.is_empty() {
                s.writer_idle = true;
                ch.writer_wake.wait_for(&mut s, IDLE_TICK);
                s.writer_idle = false;
            }
            std::mem::take(&mut s.incoming)
        };
        let taken = ops.len() as u64;
        let mut journal = ch.journal.lock();
        if taken == 0 && !journal.disk_retry_due() {
            continue;
        }
        let committed = journal.commit(ops);
        let mut s = ch.state.lock();
        s.committed += taken;
        s.dropped += committed.dropped;
        s.settled += committed.dropped;
        s.commits += 1;
        s.mirror(&journal);
        let wake_dispatcher = std::mem::take(&mut s.dispatcher_idle);
        drop(s);
        drop(journal);
        if wake_dispatcher {
            ch.dispatcher_wake.notify_one();
        }
        ch.progress.notify_all();
        if let Some(e) = &committed.error {
            if !refusing {
                refusing = true;
                warn_loudly(&format!(
                    "{e}; records wait in memory (at most {}) and are delivered if the server takes them, and the disk is tried again every second",
                    ch.config.max_in_memory
                ));
            }
        }
        if committed.dropped > 0 && !std::mem::replace(&mut warned_lost, true) {
            tracing::error!(target: "monitor::mlflow", "{} mlflow records lost: the spool cannot be written and memory is full", committed.dropped);
        }
        if committed.recovered && refusing {
            refusing = false;
            warned_lost = false;
            tracing::info!(target: "monitor::mlflow", "the spool in {} can be written again", ch.spool_dir.display());
        }
    }
}
