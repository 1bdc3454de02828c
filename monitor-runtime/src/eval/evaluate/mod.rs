//! Evaluation runs: a function over every row of a [`Dataset`], each row a monitored call
//! (a trace) with its scorers' results as its scores, so they export as assessments and
//! annotations; the aggregates in an [`EvaluationReport`]; two reports compared side by
//! side; and (feature `mlflow`) the whole evaluation as an MLflow run, as
//! `mlflow.genai.evaluate` records it.
//!
//! ```
//! # use monitor_runtime as monitor;
//! use monitor::{evaluate, Dataset, DatasetRow, Scorer};
//!
//! let dataset = Dataset::new("arithmetic")
//!     .with_row(DatasetRow::new(serde_json::json!({ "question": "2+2" })).with_expectation("answer", "4"))
//!     .with_row(DatasetRow::new(serde_json::json!({ "question": "3+3" })).with_expectation("answer", "6"));
//! let exact = Scorer::new("exact", |row: &DatasetRow, answer: &String| {
//!     row.expectation("answer").and_then(|a| a.as_str()) == Some(answer.as_str())
//! });
//! let report = evaluate(&dataset, |row| Ok::<_, std::io::Error>("4".to_owned()), &[exact])?;
//! assert_eq!(report.summary("exact").unwrap().pass_rate, Some(0.5));
//! # Ok::<(), monitor::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::Serialize;

use super::dataset::{Dataset, DatasetRow};
use crate::entry::{ErrorInfo, Status, TraceEntry};
use crate::error::{Error, Result};
use crate::record::scope::{current_tracer, with_tracer};
use crate::record::tracer::ExecutionTracer;
use crate::score::{Score, ScoreValue};

mod compare;
#[cfg(feature = "mlflow")]
mod mlflow;
mod report;

pub use self::compare::{Comparison, ScoreDelta};
pub use self::report::{EvaluationReport, EvaluationRow, ScoreSummary};

/// The module name of an evaluation's rows unless [`Evaluation::new`] names another.
pub const EVALUATION_MODULE: &str = "evaluation";

type ScoreFn<T> = dyn Fn(&DatasetRow, &T) -> ScoreValue;

/// A named scorer of an evaluation: reads a row (its inputs and expectations) and what the
/// evaluated function returned for it, and gives a score (a number, a boolean or a
/// label). The Rust form of an `mlflow.genai` `@scorer` function.
pub struct Scorer<T> {
    name: String,
    score: Box<ScoreFn<T>>,
}

impl<T> fmt::Debug for Scorer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scorer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<T> Scorer<T> {
    /// A scorer named `name` (the score's name) computing `score(row, output)`.
    pub fn new<V, F>(name: impl Into<String>, score: F) -> Scorer<T>
    where
        V: Into<ScoreValue>,
        F: Fn(&DatasetRow, &T) -> V + 'static,
    {
        Scorer {
            name: name.into(),
            score: Box::new(move |row, output| score(row, output).into()),
        }
    }

    /// The score's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// An evaluation: a name (its rows' module), the tracer its rows record into, and what it
/// tells MLflow. [`evaluate`] is one with the defaults.
#[derive(Clone, Debug)]
pub struct Evaluation {
    name: String,
    tracer: Option<ExecutionTracer>,
    params: BTreeMap<String, String>,
}

impl Evaluation {
    /// An evaluation whose rows record as calls of module `name`.
    pub fn new(name: impl Into<String>) -> Evaluation {
        Evaluation {
            name: name.into(),
            tracer: None,
            params: BTreeMap::new(),
        }
    }

    /// Records the rows (and every monitored call made while one runs) into `tracer`
    /// instead of the current one.
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// A parameter of this evaluation (a prompt's version, a model), kept in the report
    /// and logged as a run param with MLflow.
    pub fn param(mut self, key: impl Into<String>, value: impl fmt::Display) -> Self {
        self.params.insert(key.into(), value.to_string());
        self
    }

    /// Runs `task` on every row of `dataset`, in order, and scores what it returns.
    ///
    /// Each row is one call of this evaluation's module, a trace of its own when the
    /// evaluation runs outside any monitored call (as `mlflow.genai.evaluate` makes
    /// them; inside one, the rows are its children): its inputs the row's, its output what
    /// `task` returned, and each scorer's result a score of the call, so it is in the
    /// tracer's per-score metrics and exports as an MLflow assessment, a Phoenix
    /// annotation and a `gen_ai.evaluation.result` event. Monitored calls `task` makes are
    /// children of it.
    ///
    /// A row whose `task` returns `Err` or panics is recorded as failed (status `error`,
    /// the message kept) and every scorer scores it 0, explicitly, with the failure as
    /// the rationale; the evaluation goes on. A scorer that panics or gives a NaN or
    /// infinite number gives no score for that row: the call carries the attribute
    /// `score_error.<name>`, the row and the summary count it. An empty dataset is an
    /// [`Error::InvalidDataset`].
    pub fn run<T, E, F>(
        &self,
        dataset: &Dataset,
        mut task: F,
        scorers: &[Scorer<T>],
    ) -> Result<EvaluationReport>
    where
        T: Serialize,
        E: fmt::Display,
        F: FnMut(&DatasetRow) -> std::result::Result<T, E>,
    {
        if dataset.is_empty() {
            return Err(Error::InvalidDataset {
                name: dataset.name.clone(),
                reason: "it has no rows to evaluate".to_owned(),
            });
        }
        let tracer = self.tracer.clone().unwrap_or_else(current_tracer);
        let rows: Vec<EvaluationRow> = dataset
            .rows
            .iter()
            .enumerate()
            .map(|(index, row)| self.run_row(&tracer, index, row, &mut task, scorers))
            .collect();
        let entries = entries_of(&tracer, &rows);
        Ok(EvaluationReport::new(
            &self.name,
            dataset,
            self.params.clone(),
            rows,
            entries,
        ))
    }

    fn run_row<T, E, F>(
        &self,
        tracer: &ExecutionTracer,
        index: usize,
        row: &DatasetRow,
        task: &mut F,
        scorers: &[Scorer<T>],
    ) -> EvaluationRow
    where
        T: Serialize,
        E: fmt::Display,
        F: FnMut(&DatasetRow) -> std::result::Result<T, E>,
    {
        let mut call = tracer.trace(&self.name, &row.inputs);
        call.set_attribute("eval.row", index);
        if let Some(trace) = &row.trace_id {
            call.set_attribute("eval.source_trace_id", trace.as_str());
        }
        let mut result = EvaluationRow::new(index, call.trace_id(), call.span_id());
        let outcome = with_tracer(tracer, || catch_unwind(AssertUnwindSafe(|| task(row))));
        let failure = match outcome {
            Ok(Ok(output)) => {
                call.set_outputs(&output);
                result.outputs = serde_json::to_value(&output).ok();
                for scorer in scorers {
                    match score_one(scorer, row, &output) {
                        Ok(score) => result.scores.push(score),
                        Err(why) => {
                            call.set_attribute(
                                format!("score_error.{}", scorer.name),
                                why.as_str(),
                            );
                            result.score_errors.insert(scorer.name.clone(), why);
                        }
                    }
                }
                None
            }
            Ok(Err(error)) => Some(ErrorInfo::new(
                std::any::type_name::<E>(),
                error.to_string(),
            )),
            Err(panic) => Some(ErrorInfo::new(
                "panic",
                crate::capture::payload_message(&*panic),
            )),
        };
        if let Some(error) = failure {
            result.status = Status::Error;
            result.scores = failed_scores(scorers, &error.message);
            result.error = Some(error.message.clone());
            call.fail_with(error);
        }
        for score in &result.scores {
            // Checked already: valid names and finite values.
            let _ = call.add_score(score.clone());
        }
        call.finish();
        result
    }
}

/// Runs `task` on every row of `dataset` and scores it: [`Evaluation::run`] of an
/// evaluation named [`EVALUATION_MODULE`] recording into the current tracer. The Rust form
/// of `mlflow.genai.evaluate(data=, predict_fn=, scorers=)`.
pub fn evaluate<T, E, F>(
    dataset: &Dataset,
    task: F,
    scorers: &[Scorer<T>],
) -> Result<EvaluationReport>
where
    T: Serialize,
    E: fmt::Display,
    F: FnMut(&DatasetRow) -> std::result::Result<T, E>,
{
    Evaluation::new(EVALUATION_MODULE).run(dataset, task, scorers)
}

/// One scorer on one output, its panic caught and its value checked.
fn score_one<T>(
    scorer: &Scorer<T>,
    row: &DatasetRow,
    output: &T,
) -> std::result::Result<Score, String> {
    let value = crate::capture::isolated(|| (scorer.score)(row, output))
        .map_err(|panic| format!("scorer panicked: {panic}"))?;
    Score::new(scorer.name.as_str(), value)
        .map(|score| score.by_code(scorer.name.as_str()))
        .map_err(|error| error.to_string())
}

/// Every scorer's 0 for a row that failed, saying why.
fn failed_scores<T>(scorers: &[Scorer<T>], message: &str) -> Vec<Score> {
    scorers
        .iter()
        .filter_map(|scorer| {
            let zero = Score::new(scorer.name.as_str(), 0.0).ok()?;
            Some(
                zero.by_code(scorer.name.as_str())
                    .with_rationale(format!("the row failed: {message}")),
            )
        })
        .collect()
}

/// The entries of the rows' traces still in the tracer's history (a row and every call
/// under it).
fn entries_of(tracer: &ExecutionTracer, rows: &[EvaluationRow]) -> Vec<TraceEntry> {
    let traces: std::collections::HashSet<&str> =
        rows.iter().map(|row| row.trace_id.as_str()).collect();
    tracer
        .get_traces(None)
        .into_iter()
        .filter(|entry| traces.contains(entry.trace_id.as_str()))
        .collect()
}

/// The value a score adds to a mean: a number, or a boolean as 1 or 0.
pub(crate) fn numeric(value: &ScoreValue) -> Option<f64> {
    match value {
        ScoreValue::Number(number) => Some(*number),
        ScoreValue::Bool(flag) => Some(f64::from(u8::from(*flag))),
        ScoreValue::Label(_) => None,
    }
}
