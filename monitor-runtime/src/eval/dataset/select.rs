//! Which recorded calls become rows: by module, status, score, time, session, tag or
//! attribute. Every condition given must hold.

use std::time::SystemTime;

use serde_json::Value;

use crate::entry::{Status, TraceEntry};
use crate::score::ScoreValue;

/// A bound on a score: at least or at most a number (a boolean counts as 1 or 0), or
/// equal to a value.
#[derive(Clone, Debug, PartialEq)]
enum ScoreCondition {
    AtLeast(f64),
    AtMost(f64),
    Is(ScoreValue),
}

impl ScoreCondition {
    fn holds(&self, value: &ScoreValue) -> bool {
        let number = match value {
            ScoreValue::Number(number) => Some(*number),
            ScoreValue::Bool(flag) => Some(f64::from(u8::from(*flag))),
            ScoreValue::Label(_) => None,
        };
        match self {
            ScoreCondition::AtLeast(min) => number.is_some_and(|n| n >= *min),
            ScoreCondition::AtMost(max) => number.is_some_and(|n| n <= *max),
            ScoreCondition::Is(expected) => value == expected,
        }
    }
}

/// Which calls of a tracer's history a [`Dataset`](super::Dataset) takes: every condition
/// given must hold; none given takes every call.
///
/// ```
/// # use monitor_runtime as monitor;
/// use std::time::{Duration, SystemTime};
/// use monitor::{Selection, Status};
///
/// let good_answers = Selection::new()
///     .module("answer")
///     .status(Status::Success)
///     .score_at_least("quality", 0.8)
///     .score_is("thumbs_up", true)
///     .since(SystemTime::now() - Duration::from_secs(24 * 3600))
///     .session("session-42")
///     .tag("production")
///     .limit(500);
/// # let _ = good_answers;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    modules: Vec<String>,
    statuses: Vec<Status>,
    scores: Vec<(String, ScoreCondition)>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    sessions: Vec<String>,
    tags: Vec<String>,
    attributes: Vec<(String, Value)>,
    roots_only: bool,
    limit: Option<usize>,
}

impl Selection {
    /// Every call.
    pub fn new() -> Selection {
        Selection::default()
    }

    /// Calls of `module` (several: any of them).
    pub fn module(mut self, module: impl Into<String>) -> Self {
        self.modules.push(module.into());
        self
    }

    /// Calls that ended with `status` (several: any of them).
    pub fn status(mut self, status: Status) -> Self {
        self.statuses.push(status);
        self
    }

    /// Calls whose score `name` is a number (or boolean, as 1 or 0) of at least `min`. The
    /// quality score is named `quality`. A call without the score is left out.
    pub fn score_at_least(mut self, name: impl Into<String>, min: f64) -> Self {
        self.scores
            .push((name.into(), ScoreCondition::AtLeast(min)));
        self
    }

    /// Calls whose score `name` is a number (or boolean) of at most `max`.
    pub fn score_at_most(mut self, name: impl Into<String>, max: f64) -> Self {
        self.scores.push((name.into(), ScoreCondition::AtMost(max)));
        self
    }

    /// Calls whose score `name` is `value` (`true`, a label, a number).
    pub fn score_is(mut self, name: impl Into<String>, value: impl Into<ScoreValue>) -> Self {
        self.scores
            .push((name.into(), ScoreCondition::Is(value.into())));
        self
    }

    /// Calls started at or after `start`.
    pub fn since(mut self, start: SystemTime) -> Self {
        self.since = Some(start);
        self
    }

    /// Calls started before `end`.
    pub fn until(mut self, end: SystemTime) -> Self {
        self.until = Some(end);
        self
    }

    /// Calls of traces in session `session` (several: any of them), as
    /// [`record_session`](crate::record_session) or
    /// [`with_trace_attributes`](crate::with_trace_attributes) set it.
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.sessions.push(session.into());
        self
    }

    /// Calls of traces tagged `tag` (several: all of them), as
    /// [`record_trace_tag`](crate::record_trace_tag) sets it.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Calls whose attribute `key` is `value` (as `set_attribute` or
    /// [`record_attribute`](crate::record_attribute) set it).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Root calls only (no monitored parent): one row a trace.
    pub fn roots_only(mut self) -> Self {
        self.roots_only = true;
        self
    }

    /// At most the `n` most recent of the calls chosen.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Whether `entry` is chosen (every condition but the limit).
    pub fn matches(&self, entry: &TraceEntry) -> bool {
        let any_or_none =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|x| x == value);
        any_or_none(&self.modules, &entry.module)
            && (self.statuses.is_empty() || self.statuses.contains(&entry.status))
            && (!self.roots_only || entry.parent_span_id.is_none())
            && self.since.is_none_or(|start| entry.start_time() >= start)
            && self.until.is_none_or(|end| entry.start_time() < end)
            && (self.sessions.is_empty()
                || session_of(entry).is_some_and(|s| any_or_none(&self.sessions, s)))
            && self.tags.iter().all(|tag| tags_of(entry).any(|t| t == tag))
            && self
                .attributes
                .iter()
                .all(|(key, value)| entry.attributes.get(key) == Some(value))
            && self.scores_hold(entry)
    }

    fn scores_hold(&self, entry: &TraceEntry) -> bool {
        if self.scores.is_empty() {
            return true;
        }
        let scores = entry.all_scores();
        self.scores.iter().all(|(name, condition)| {
            scores
                .iter()
                .any(|score| &score.name == name && condition.holds(&score.value))
        })
    }

    /// The entries chosen, in order, the limit keeping the most recent.
    pub(super) fn apply<'e>(
        &self,
        entries: &'e [TraceEntry],
    ) -> impl Iterator<Item = &'e TraceEntry> + 'e {
        let chosen: Vec<&TraceEntry> = entries.iter().filter(|e| self.matches(e)).collect();
        let skip = self
            .limit
            .map_or(0, |limit| chosen.len().saturating_sub(limit));
        chosen.into_iter().skip(skip)
    }
}

/// The session of an entry's trace (`session.id`, as the trace's attributes are read).
fn session_of(entry: &TraceEntry) -> Option<&str> {
    entry.attributes.get("session.id").and_then(Value::as_str)
}

/// The tags of an entry's trace (`tag.tags`).
fn tags_of(entry: &TraceEntry) -> impl Iterator<Item = &str> {
    entry
        .attributes
        .get("tag.tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}
