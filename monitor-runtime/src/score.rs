//! Named scores: what a call is judged to be worth, by code, an LLM judge or a person.
//!
//! A call carries any number of [`Score`]s (up to [`MAX_SCORES_PER_CALL`]), each with a
//! name, a value (a number, a boolean or a category label), an optional rationale and a
//! source. `#[monitored(quality = f)]` is the score named [`QUALITY`]: it stays in
//! [`TraceEntry::quality_score`](crate::TraceEntry::quality_score) and is shown with the
//! others by [`TraceEntry::all_scores`](crate::TraceEntry::all_scores), never stored twice.
//!
//! ```
//! # use monitor_runtime as monitor;
//! use monitor::{ExecutionTracer, Score};
//!
//! let tracer = ExecutionTracer::new();
//! let mut call = tracer.trace("answer", ());
//! call.score("relevance", 0.8)?;
//! call.add_score(Score::new("tone", "friendly")?.with_rationale("says please").by_llm_judge("gpt-judge"))?;
//! call.finish();
//! let entry = &tracer.get_traces(None)[0];
//! assert_eq!(entry.scores.len(), 2);
//! assert_eq!(tracer.module_metrics("answer").scores["relevance"].mean, Some(0.8));
//! # Ok::<(), monitor::Error>(())
//! ```

// May call: `error` (a refused score says why). A leaf beside `entry`, which carries scores;
// their caps on a call and their metrics are applied by `record` and `metrics`.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The name of the score `quality = f` sets (also [`TraceGuard::set_quality_score`] and
/// [`record_quality`]): kept in the entry's `quality_score` and the quality metrics.
///
/// [`TraceGuard::set_quality_score`]: crate::TraceGuard::set_quality_score
/// [`record_quality`]: crate::record_quality
pub const QUALITY: &str = "quality";

/// The longest score name accepted, in bytes; longer names are refused.
pub const MAX_SCORE_NAME_BYTES: usize = 256;

/// The most scores one call keeps; past it a score is only counted, in the entry's
/// attribute [`SCORES_DROPPED`]. A score with the name and source of one already there
/// replaces it instead.
pub const MAX_SCORES_PER_CALL: usize = 64;

/// The attribute counting the scores a call had no room for.
pub const SCORES_DROPPED: &str = "monitor.scores_dropped";

/// A score's value: a number, a boolean (pass/fail, thumbs up/down) or a category label.
/// In JSON it is the plain value: `0.8`, `true`, `"friendly"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScoreValue {
    /// Pass or fail, thumbs up or down.
    Bool(bool),
    /// A number; never NaN or infinite.
    Number(f64),
    /// A category (`"friendly"`, `"off-topic"`), capped as other captured strings are.
    Label(String),
}

impl ScoreValue {
    /// The number, for a [`ScoreValue::Number`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ScoreValue::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The boolean, for a [`ScoreValue::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ScoreValue::Bool(value) => Some(*value),
            _ => None,
        }
    }

    /// The label, for a [`ScoreValue::Label`].
    pub fn as_label(&self) -> Option<&str> {
        match self {
            ScoreValue::Label(label) => Some(label),
            _ => None,
        }
    }
}

macro_rules! number_from {
    ($($t:ty),*) => {$(
        impl From<$t> for ScoreValue {
            fn from(value: $t) -> Self {
                ScoreValue::Number(value as f64)
            }
        }
    )*};
}
number_from!(f64, f32, i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<bool> for ScoreValue {
    fn from(value: bool) -> Self {
        ScoreValue::Bool(value)
    }
}

impl From<&str> for ScoreValue {
    fn from(label: &str) -> Self {
        ScoreValue::Label(label.to_owned())
    }
}

impl From<String> for ScoreValue {
    fn from(label: String) -> Self {
        ScoreValue::Label(label)
    }
}

/// Who gave a score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SourceKind {
    /// A function of the program (`quality = f`, a scorer, a heuristic).
    #[default]
    Code,
    /// A model asked to judge the call.
    LlmJudge,
    /// A person: a user's thumbs-up, a reviewer.
    Human,
}

impl SourceKind {
    /// The kind as MLflow's assessment sources name it: `CODE`, `LLM_JUDGE`, `HUMAN`.
    pub fn mlflow_name(self) -> &'static str {
        match self {
            SourceKind::Code => "CODE",
            SourceKind::LlmJudge => "LLM_JUDGE",
            SourceKind::Human => "HUMAN",
        }
    }

    /// The kind as Phoenix's `annotator_kind` names it: `CODE`, `LLM`, `HUMAN`.
    pub fn phoenix_name(self) -> &'static str {
        match self {
            SourceKind::Code => "CODE",
            SourceKind::LlmJudge => "LLM",
            SourceKind::Human => "HUMAN",
        }
    }
}

/// Who gave a score, and which one of them (a user id, a judge's model, a scorer's name).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoreSource {
    /// Code, an LLM judge or a person.
    pub kind: SourceKind,
    /// Which one, if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ScoreSource {
    /// A source of `kind`, with an optional id.
    pub fn new(kind: SourceKind, id: Option<String>) -> Self {
        ScoreSource { kind, id }
    }

    fn is_default(&self) -> bool {
        *self == ScoreSource::default()
    }
}

/// One named score of a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Score {
    /// What is scored (`relevance`, `thumbs_up`): 1 to [`MAX_SCORE_NAME_BYTES`] bytes.
    pub name: String,
    /// The value.
    pub value: ScoreValue,
    /// Why, in words (a judge's explanation, a user's comment), capped as captured strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// Who gave it (code, when not said).
    #[serde(default, skip_serializing_if = "ScoreSource::is_default")]
    pub source: ScoreSource,
    /// `true` when the value is the expected answer (ground truth), not a judgement:
    /// MLflow receives it as an expectation rather than feedback.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expectation: bool,
    /// When a score arrived after its call (feedback), in nanoseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_unix_nano: Option<u64>,
}

impl Score {
    /// A score `name = value` from code. Refused: an empty name or one over
    /// [`MAX_SCORE_NAME_BYTES`], a NaN or infinite number.
    pub fn new(name: impl Into<String>, value: impl Into<ScoreValue>) -> Result<Score, Error> {
        let score = Score {
            name: name.into(),
            value: value.into(),
            rationale: None,
            source: ScoreSource::default(),
            expectation: false,
            time_unix_nano: None,
        };
        score.validate()?;
        Ok(score)
    }

    /// Checks what [`new`](Self::new) checks (the fields are public, so a score may have
    /// changed since).
    pub fn validate(&self) -> Result<(), Error> {
        let refuse = |reason: String| {
            Err(Error::InvalidScore {
                name: shown_name(&self.name),
                reason,
            })
        };
        if self.name.is_empty() {
            return refuse("the name is empty".to_owned());
        }
        if self.name.len() > MAX_SCORE_NAME_BYTES {
            return refuse(format!(
                "the name has {} bytes; the limit is {MAX_SCORE_NAME_BYTES}",
                self.name.len()
            ));
        }
        if let ScoreValue::Number(number) = self.value {
            if !number.is_finite() {
                return refuse(format!("the value is {number}; scores must be finite"));
            }
        }
        if self.name == QUALITY && self.value.as_f64().is_none() {
            return refuse("the quality score is a number".to_owned());
        }
        Ok(())
    }

    /// This score with a rationale.
    pub fn with_rationale(mut self, rationale: impl Into<String>) -> Self {
        self.rationale = Some(rationale.into());
        self
    }

    /// This score given by `source`.
    pub fn with_source(mut self, source: ScoreSource) -> Self {
        self.source = source;
        self
    }

    /// This score given by a person (`id`: a user or reviewer id).
    pub fn by_human(self, id: impl Into<String>) -> Self {
        self.with_source(ScoreSource::new(SourceKind::Human, Some(id.into())))
    }

    /// This score given by an LLM judge (`id`: the judge's name or model).
    pub fn by_llm_judge(self, id: impl Into<String>) -> Self {
        self.with_source(ScoreSource::new(SourceKind::LlmJudge, Some(id.into())))
    }

    /// This score given by code (`id`: the scorer's name).
    pub fn by_code(self, id: impl Into<String>) -> Self {
        self.with_source(ScoreSource::new(SourceKind::Code, Some(id.into())))
    }

    /// This score as the expected answer (ground truth) rather than a judgement.
    pub fn as_expectation(mut self) -> Self {
        self.expectation = true;
        self
    }

    /// Whether `other` is the same score given again: the same name from the same source
    /// (kind and id). A call keeps one of each; feedback re-sent with it is not duplicated.
    pub fn same_key(&self, other: &Score) -> bool {
        self.name == other.name && self.source == other.source
    }
}

/// A name as errors show it: at most 64 bytes, so a 10 KB name does not flood a log.
fn shown_name(name: &str) -> String {
    let mut end = name.len().min(64);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    if end < name.len() {
        format!("{}…", &name[..end])
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_plain_json() {
        let score = Score::new("tone", "friendly").unwrap().by_human("u1");
        let json = serde_json::to_value(&score).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "tone", "value": "friendly", "source": {"kind": "human", "id": "u1"}})
        );
        assert_eq!(serde_json::from_value::<Score>(json).unwrap(), score);
        let flag: ScoreValue = serde_json::from_str("true").unwrap();
        assert_eq!(flag, ScoreValue::Bool(true));
        let number: ScoreValue = serde_json::from_str("3").unwrap();
        assert_eq!(number, ScoreValue::Number(3.0));
        assert!(serde_json::from_str::<ScoreValue>("[1]").is_err());
    }

    #[test]
    fn bad_scores_are_refused_with_the_reason() {
        let nan = Score::new("x", f64::NAN).unwrap_err().to_string();
        assert!(nan.contains("finite"), "{nan}");
        assert!(Score::new("x", f64::INFINITY).is_err());
        let empty = Score::new("", 1.0).unwrap_err().to_string();
        assert!(empty.contains("empty"), "{empty}");
        let long = Score::new("n".repeat(10_000), 1.0).unwrap_err().to_string();
        assert!(long.contains("10000 bytes") && long.len() < 200, "{long}");
        assert!(Score::new("n".repeat(MAX_SCORE_NAME_BYTES), 1.0).is_ok());
        assert!(Score::new(QUALITY, "good").is_err());
    }
}
