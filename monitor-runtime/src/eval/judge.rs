//! Online judges: scorers that run after a call finished, off its thread, on a sampled
//! fraction of a module's calls, and give their result back as feedback.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::entry::TraceEntry;
use crate::score::Score;

/// How long a judge may take on one call unless [`Judge::timeout`] says otherwise.
pub const DEFAULT_JUDGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How many sampled calls wait for a judge unless [`Judge::queue`] says otherwise.
pub const DEFAULT_JUDGE_QUEUE: usize = 1000;
/// How many calls a judge scores at once unless [`Judge::concurrency`] says otherwise.
pub const DEFAULT_JUDGE_CONCURRENCY: usize = 2;

pub(super) type JudgeFn = dyn Fn(&TraceEntry) -> Result<Score, String> + Send + Sync;

/// A scorer run after the call, in the background, on a sample of a module's calls: an LLM
/// judge, or any scorer too slow for the call's own path. Register it with
/// [`ExecutionTracer::add_judge`](crate::ExecutionTracer::add_judge).
///
/// The function gets the finished call's [`TraceEntry`] (module, ids, inputs, outputs,
/// error, duration, tokens, attributes such as the model) and returns a [`Score`]. Its
/// score is attached to the call as [feedback](crate::ExecutionTracer::feedback) is: the entry and
/// the module's per-score metrics take it, and the exporters send it (Phoenix annotation,
/// `gen_ai.evaluation.result`, MLflow assessment), with the source
/// [`SourceKind::LlmJudge`](crate::SourceKind::LlmJudge) and the judge's name as its id
/// unless the score names another source.
pub struct Judge {
    pub(super) name: String,
    pub(super) run: Arc<JudgeFn>,
    pub(super) sample: f64,
    pub(super) timeout: Duration,
    pub(super) queue: usize,
    pub(super) concurrency: usize,
}

impl fmt::Debug for Judge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Judge")
            .field("name", &self.name)
            .field("sample", &self.sample)
            .field("timeout", &self.timeout)
            .field("queue", &self.queue)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Judge {
    /// A judge named `name` (its id as a score source) running `judge` on every call of
    /// its module (see [`sample`](Self::sample)). An `Err` is counted as a failure, with
    /// its text kept in [`JudgeStats::last_error`].
    pub fn new<F, E>(name: impl Into<String>, judge: F) -> Judge
    where
        F: Fn(&TraceEntry) -> Result<Score, E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        Judge {
            name: name.into(),
            run: Arc::new(move |call| judge(call).map_err(|error| error.to_string())),
            sample: 1.0,
            timeout: DEFAULT_JUDGE_TIMEOUT,
            queue: DEFAULT_JUDGE_QUEUE,
            concurrency: DEFAULT_JUDGE_CONCURRENCY,
        }
    }

    /// Judges this fraction of traces (`0.0..=1.0`; default 1). Chosen by trace id: a
    /// trace is judged as a whole or not at all, by every judge with the same fraction.
    /// `MONITOR_JUDGE_SAMPLE_<MODULE>` (the module in capitals, other characters as `_`),
    /// else `MONITOR_JUDGE_SAMPLE`, overrides it when the judge is added.
    pub fn sample(mut self, fraction: f64) -> Judge {
        self.sample = fraction;
        self
    }

    /// How long the judge may take on one call (default 30 s). Past it the call is counted
    /// in [`JudgeStats::timed_out`] and a late result is thrown away.
    pub fn timeout(mut self, timeout: Duration) -> Judge {
        self.timeout = timeout;
        self
    }

    /// How many sampled calls may wait (default 1000); past it calls are dropped, counted
    /// in [`JudgeStats::dropped`].
    pub fn queue(mut self, capacity: usize) -> Judge {
        self.queue = capacity.max(1);
        self
    }

    /// How many calls are judged at once (default 2), counting judges past their timeout
    /// that have not returned yet: a judge that never returns holds its place.
    pub fn concurrency(mut self, threads: usize) -> Judge {
        self.concurrency = threads.max(1);
        self
    }
}

/// What a tracer's judges did, since they were added.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct JudgeStats {
    /// Calls sampled for a judge (each judge counts its own).
    pub sampled: u64,
    /// Calls a judge left out of its sample.
    pub skipped: u64,
    /// Calls judged: their score was attached as feedback.
    pub judged: u64,
    /// Judges that returned an error, an invalid score, or panicked.
    pub failed: u64,
    /// Judges past their timeout.
    pub timed_out: u64,
    /// Sampled calls dropped because the judge's queue was full.
    pub dropped: u64,
    /// Sampled calls queued or being judged, within their timeout.
    pub pending: u64,
    /// The text of the last failure, if any.
    pub last_error: Option<String>,
}
