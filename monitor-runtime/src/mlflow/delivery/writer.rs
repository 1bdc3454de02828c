//! The writer thread: moves queued records to the journal on disk, in group commits, as
//! soon as they arrive, so a record is on disk within milliseconds of its log call
//! whatever the network does (a hanging request only holds up the dispatcher).

use std::time::Duration;

use super::{warn_loudly, Channel};

/// How long the writer sleeps with nothing to do before it looks at the disk again
/// (records kept in memory while the disk refused them).
const IDLE_TICK: Duration = Duration::from_millis(500);
/// How long the writer lets records gather before a commit: one commit then takes many
/// records, and log calls rarely meet the writer on the queue's lock. This (plus the write)
/// is the window in which a crash can lose an accepted record.
const COMMIT_WINDOW: Duration = Duration::from_millis(10);

pub(super) fn run(ch: &Channel) {
    let mut refusing = false;
    let mut warned_lost = false;
    let mut capacity = 1024;
    loop {
        let woken = {
            let mut s = ch.state.lock();
            if s.incoming.is_empty() {
                s.writer_idle = true;
                ch.writer_wake.wait_for(&mut s, IDLE_TICK);
                s.writer_idle = false;
            }
            !s.incoming.is_empty()
        };
        if woken {
            std::thread::sleep(COMMIT_WINDOW);
        }
        // The next queue is allocated here, not by a log call that would have to grow it.
        let fresh = Vec::with_capacity(capacity);
        let ops = std::mem::replace(&mut ch.state.lock().incoming, fresh);
        capacity = ops.len().next_power_of_two().clamp(1024, 1 << 20);
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
            crate::record::subscriber::emit!(
                tracing::error!(target: "monitor::mlflow", "{} mlflow records lost: the spool cannot be written and memory is full", committed.dropped)
            );
        }
        if committed.recovered && refusing {
            refusing = false;
            warned_lost = false;
            crate::record::subscriber::emit!(
                tracing::info!(target: "monitor::mlflow", "the spool in {} can be written again", ch.spool_dir.display())
            );
        }
    }
}
