//! Named scores on a call: set through its guard, by `record_score` inside it, or by a
//! scorer run on its output. Each is checked ([`Score::validate`]), its label and rationale
//! capped as captured strings, and at most [`MAX_SCORES_PER_CALL`] kept (past it, counted).

use serde_json::Value;

use super::context::{with_innermost, Notes};
use super::finished::Details;
use super::guard::TraceGuard;
use crate::capture;
use crate::error::Error;
use crate::score::{Score, ScoreValue, MAX_SCORES_PER_CALL, QUALITY, SCORES_DROPPED};

/// Adds `score` to a call's details, as [`push_into`] does.
pub(crate) fn push_score(details: &mut Details, score: Score, max: usize) {
    let details: &mut super::finished::More = details;
    push_into(&mut details.scores, &mut details.attributes, score, max);
}

/// Adds `score` to a call's list: its strings capped at `max` bytes, replacing a score of
/// the same name and source, or counted in [`SCORES_DROPPED`] once the list holds
/// [`MAX_SCORES_PER_CALL`]. The score was validated; `quality` never comes here.
fn push_into(
    scores: &mut Vec<Score>,
    attributes: &mut Vec<(String, Value)>,
    score: Score,
    max: usize,
) {
    let score = capped(score, max);
    if let Some(slot) = scores.iter_mut().find(|s| s.same_key(&score)) {
        *slot = score;
    } else if scores.len() < MAX_SCORES_PER_CALL {
        scores.push(score);
    } else {
        add_dropped(attributes, 1);
    }
}

fn add_dropped(attributes: &mut Vec<(String, Value)>, count: u64) {
    match attributes.iter_mut().find(|(key, _)| key == SCORES_DROPPED) {
        Some((_, total)) => *total = (total.as_u64().unwrap_or(0) + count).into(),
        None => attributes.push((SCORES_DROPPED.to_owned(), count.into())),
    }
}

/// Moves the scores `record_score` noted into a call's details, with the count of those
/// it had no room for (taken out of the noted attributes, so it adds up rather than
/// replacing the call's own count).
pub(crate) fn merge_noted(details: &mut Details, notes: &mut Notes, max: usize) {
    let noted = &mut notes.attributes;
    if let Some(index) = noted.iter().position(|(key, _)| key == SCORES_DROPPED) {
        let (_, count) = noted.swap_remove(index);
        add_dropped(&mut details.attributes, count.as_u64().unwrap_or(0));
    }
    for score in std::mem::take(&mut notes.scores) {
        push_score(details, score, max);
    }
}

/// `score` with its label, rationale and source id kept as captured strings are: masked
/// and capped at `max` bytes with the truncation marker.
pub(crate) fn capped(mut score: Score, max: usize) -> Score {
    if let ScoreValue::Label(label) = &score.value {
        score.value = ScoreValue::Label(capture::keep_text("score_label", label, max));
    }
    if let Some(rationale) = &score.rationale {
        score.rationale = Some(capture::keep_text("rationale", rationale, max));
    }
    if let Some(id) = &score.source.id {
        score.source.id = Some(capture::keep_text("source_id", id, max));
    }
    score
}

impl TraceGuard<'_> {
    /// Adds a named score to this call (replacing one of the same name and source). The
    /// score named [`QUALITY`] sets the quality score (its number only). A score that
    /// fails [`Score::validate`] is refused with the reason and changes nothing.
    pub fn add_score(&mut self, score: Score) -> Result<(), Error> {
        score.validate()?;
        if score.name == QUALITY {
            self.quality = score.value.as_f64();
            return Ok(());
        }
        let max = self.tracer.max_field_bytes();
        push_score(self.details(), score, max);
        Ok(())
    }

    /// Adds the score `name = value` from code: `call.score("relevance", 0.8)?`,
    /// `call.score("grounded", true)?`, `call.score("tone", "friendly")?`.
    pub fn score(&mut self, name: &str, value: impl Into<ScoreValue>) -> Result<(), Error> {
        self.add_score(Score::new(name, value)?)
    }

    /// Runs a scorer and records what it returns as the score `name` (source: code, id
    /// `name`). A panic in `scorer`, or a value refused (NaN, infinite), is caught and
    /// recorded on the entry (attribute `score_error.<name>`), never passed to the caller,
    /// as [`score_quality`](Self::score_quality) does.
    pub fn score_with<V: Into<ScoreValue>>(&mut self, name: &str, scorer: impl FnOnce() -> V) {
        let outcome = capture::isolated(|| Some(scorer().into()));
        self.record_scorer_outcome(name, outcome);
    }

    /// Records what a scorer gave: a value as the score `name`, nothing for `None` (an
    /// output the scorer does not read), a panic or refused value as `score_error.<name>`.
    pub(crate) fn record_scorer_outcome(
        &mut self,
        name: &str,
        outcome: Result<Option<ScoreValue>, String>,
    ) {
        let outcome = match outcome {
            Ok(None) => return,
            Ok(Some(value)) => Score::new(name, value)
                .and_then(|score| self.add_score(score.by_code(name)))
                .map_err(|error| error.to_string()),
            Err(message) => Err(format!("scorer panicked: {message}")),
        };
        if let Err(message) = outcome {
            let key = format!("score_error.{}", capture::prefix_at_most(name, 64));
            self.set_attribute(key, message);
        }
    }
}

/// Adds a named score to the innermost active monitored call on this thread or task, as
/// [`TraceGuard::add_score`] does. `Ok(false)` (nothing recorded) outside any monitored
/// call; an invalid score is refused with the reason.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{record_score, ExecutionTracer, Score};
///
/// let tracer = ExecutionTracer::new();
/// tracer.in_trace("answer", (), |_| {
///     record_score(Score::new("cites_sources", true)?)
/// })?;
/// assert_eq!(tracer.get_traces(None)[0].scores[0].value.as_bool(), Some(true));
/// assert_eq!(record_score(Score::new("outside", 1)?)?, false);
/// # Ok::<(), monitor::Error>(())
/// ```
pub fn record_score(score: Score) -> Result<bool, Error> {
    score.validate()?;
    let max = capture::DEFAULT_MAX_FIELD_BYTES;
    let recorded = with_innermost(|notes| {
        if score.name == QUALITY {
            notes.quality = score.value.as_f64();
        } else {
            push_into(&mut notes.scores, &mut notes.attributes, score, max);
        }
    });
    Ok(recorded.is_some())
}
