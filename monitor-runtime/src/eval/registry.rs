//! A tracer's judges, by module, as its tap; and the tracer's methods to add them, read
//! their counts and wait for them.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::judge::{Judge, JudgeStats};
use super::run::Runner;
use super::sample;
use crate::record::callsite;
use crate::record::finished::Record;
use crate::record::tap::RecordTap;
use crate::record::tracer::ExecutionTracer;

/// A tracer's judges, by module: the tracer's tap.
#[derive(Debug, Default)]
pub(super) struct Judges {
    by_module: RwLock<Vec<Vec<Arc<Runner>>>>,
    waited_at_drop: std::sync::atomic::AtomicBool,
}

impl RecordTap for Judges {
    fn offer(&self, record: &Record) {
        let by_module = self.by_module.read();
        if let Some(runners) = by_module.get(record.module.0 as usize) {
            for runner in runners {
                runner.offer(record);
            }
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// The tracer's last handle is going: the calls still being judged are waited for, at
    /// most [`judge_exit_wait`](super::exit::judge_exit_wait), once (a handle a judge's
    /// thread held briefly may be the last one after that).
    fn last_handle_dropping(&self) {
        if super::run::on_judge_thread() {
            return;
        }
        if self
            .waited_at_drop
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        // The tracer is still whole: a judge's handle reaches it.
        let Some(tracer) = self.runners().iter().find_map(|runner| runner.tracer()) else {
            return;
        };
        // The threads' finished calls reach the judges first.
        if tracer.judge_stats().pending > 0 {
            tracer.flush_judges(super::exit::judge_exit_wait());
        }
    }
}

impl Judges {
    fn runners(&self) -> Vec<Arc<Runner>> {
        self.by_module.read().iter().flatten().cloned().collect()
    }
}

impl ExecutionTracer {
    /// Runs `judge` on finished calls of `module`, in the background.
    ///
    /// The call pays nothing more: its record reaches the judge's queue when the tracer
    /// takes it in (in a batch, or within about 50 ms on the judge's own thread). A judge
    /// that is slow, fails, panics or never returns never delays or changes a call; it is
    /// counted in [`judge_stats`](Self::judge_stats). When the program exits (`main`
    /// returns, or `std::process::exit`), pending judges are waited for at most
    /// [`judge_exit_wait`](crate::judge_exit_wait) (5 s unless
    /// [`set_judge_exit_wait`](crate::set_judge_exit_wait) or `MONITOR_JUDGE_EXIT_WAIT_MS`
    /// says otherwise); [`flush_judges`](Self::flush_judges) waits at a point of your
    /// choosing.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use std::time::Duration;
    /// use monitor::{ExecutionTracer, Judge, Score};
    ///
    /// let tracer = ExecutionTracer::new();
    /// tracer.add_judge(
    ///     "answer",
    ///     Judge::new("concise", |call: &monitor::TraceEntry| {
    ///         let words = call.outputs.as_ref().map_or(0, |o| o.to_string().split(' ').count());
    ///         Score::new("concise", words < 20)
    ///     })
    ///     .sample(1.0),
    /// );
    /// let mut call = tracer.trace("answer", ());
    /// call.set_outputs(&"42");
    /// call.finish();
    /// assert_eq!(tracer.flush_judges(Duration::from_secs(10)).judged, 1);
    /// assert_eq!(tracer.module_metrics("answer").scores["concise"].true_count, 1);
    /// ```
    pub fn add_judge(&self, module: &str, judge: Judge) {
        let fraction = sample::fraction(module, judge.sample);
        let tap = self.tap_or_set(|| Arc::new(Judges::default()));
        let Some(judges) = tap.as_any().downcast_ref::<Judges>() else {
            return;
        };
        let runner = Runner::start(judge, fraction, self.downgrade(), self.max_field_bytes());
        let index = callsite::intern(module).0 as usize;
        let mut by_module = judges.by_module.write();
        if by_module.len() <= index {
            by_module.resize_with(index + 1, Vec::new);
        }
        by_module[index].push(runner);
        drop(by_module);
        super::exit::wait_at_exit_for(self);
    }

    /// What this tracer's judges did, summed over every judge, counting every call
    /// finished so far (the threads' finished calls are taken in first).
    pub fn judge_stats(&self) -> JudgeStats {
        self.drain_to_tap();
        let mut total = JudgeStats::default();
        for runner in self.judges() {
            runner.counts().add_to(&mut total);
        }
        total
    }

    /// Waits until no judge has a call queued or running within its timeout, or `timeout`
    /// passed, whichever comes first; returns the counts then (`pending` is what was left).
    /// Call it before flushing an exporter, so that the last judges' scores go out with
    /// it: the wait is never longer than `timeout`. (The program's exit also waits, at
    /// most [`judge_exit_wait`](crate::judge_exit_wait).)
    pub fn flush_judges(&self, timeout: Duration) -> JudgeStats {
        let deadline = crate::deadline::after(timeout);
        loop {
            let stats = self.judge_stats();
            let now = std::time::Instant::now();
            if stats.pending == 0 || now >= deadline {
                return stats;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(2)));
        }
    }

    fn judges(&self) -> Vec<Arc<Runner>> {
        match self.tap() {
            Some(tap) => tap
                .as_any()
                .downcast_ref::<Judges>()
                .map(Judges::runners)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }
}
