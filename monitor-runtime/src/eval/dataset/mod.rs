//! Datasets from traces: recorded calls chosen by a [`Selection`] become [`DatasetRow`]s
//! (inputs, outputs, expectations, scores, and the ids of the call they came from), written
//! as JSON Lines and read back, pushed to MLflow's evaluation datasets (feature `mlflow`)
//! and Phoenix datasets (feature `otlp`), and turned into dspy-rs `Example`s (feature
//! `dspy`).
//!
//! ```
//! # use monitor_runtime as monitor;
//! use monitor::{Dataset, ExecutionTracer, Score, Selection};
//!
//! let tracer = ExecutionTracer::new();
//! for (question, quality) in [("2+2?", 0.9), ("capital of France?", 0.4)] {
//!     let mut call = tracer.trace("answer", serde_json::json!({ "question": question }));
//!     call.set_outputs("an answer");
//!     call.set_quality_score(quality);
//!     call.add_score(Score::new("answer", "4")?.as_expectation())?;
//!     call.finish();
//! }
//! let good = Dataset::from_traces(&tracer, &Selection::new().module("answer").score_at_least("quality", 0.8));
//! assert_eq!(good.len(), 1);
//! assert_eq!(good.rows[0].inputs["question"], "2+2?");
//! assert_eq!(good.rows[0].expectations["answer"], "4");
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("good.jsonl");
//! good.write_jsonl(&path)?;
//! assert_eq!(Dataset::read_jsonl(&path)?.rows, good.rows);
//! # Ok::<(), monitor::Error>(())
//! ```

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::entry::TraceEntry;
use crate::error::{Error, Result};
use crate::record::tracer::ExecutionTracer;
use crate::score::{Score, ScoreValue};

#[cfg(feature = "dspy")]
mod dspy;
#[cfg(feature = "mlflow")]
mod mlflow;
#[cfg(feature = "otlp")]
mod phoenix;
mod select;

#[cfg(feature = "otlp")]
pub use self::phoenix::{PhoenixClient, PhoenixDataset};
pub use self::select::Selection;

/// One example of a dataset: what went in, what came out, what was expected, and how it
/// was scored. Rows made from traces also name the call they came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DatasetRow {
    /// The call's inputs, by argument name.
    #[serde(default)]
    pub inputs: Map<String, Value>,
    /// The call's output, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
    /// The expected answers (ground truth), by name: the call's scores marked
    /// [`Score::as_expectation`], feedback included.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub expectations: Map<String, Value>,
    /// The call's other scores (its quality score first), feedback and judges' included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Score>,
    /// The trace the row came from (32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The call the row came from (16 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The module of the call the row came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

impl DatasetRow {
    /// A row of these inputs (a JSON object; anything else is kept under `input`), with no
    /// output, expectation or score.
    pub fn new(inputs: impl Serialize) -> DatasetRow {
        let inputs = match serde_json::to_value(inputs) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) | Err(_) => Map::new(),
            Ok(other) => Map::from_iter([("input".to_owned(), other)]),
        };
        DatasetRow {
            inputs,
            ..DatasetRow::default()
        }
    }

    /// This row expecting `value` under `name`.
    pub fn with_expectation(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.expectations.insert(name.into(), value);
        self
    }

    /// This row with the output `outputs`.
    pub fn with_outputs(mut self, outputs: impl Serialize) -> Self {
        self.outputs = serde_json::to_value(outputs).ok();
        self
    }

    /// The row of a recorded call: expectations apart from the other scores.
    pub fn from_entry(entry: &TraceEntry) -> DatasetRow {
        let (expected, scores): (Vec<Score>, Vec<Score>) = entry
            .all_scores()
            .into_iter()
            .partition(|score| score.expectation);
        DatasetRow {
            inputs: entry.inputs.clone(),
            outputs: entry.outputs.clone(),
            expectations: expected
                .into_iter()
                .map(|score| (score.name, score_json(&score.value)))
                .collect(),
            scores,
            trace_id: Some(entry.trace_id.clone()),
            span_id: Some(entry.span_id.clone()),
            module: Some(entry.module.clone()),
        }
    }

    /// The expectation `name`, if any.
    pub fn expectation(&self, name: &str) -> Option<&Value> {
        self.expectations.get(name)
    }

    /// The input `name`, if any.
    pub fn input(&self, name: &str) -> Option<&Value> {
        self.inputs.get(name)
    }

    /// The score `name`, if any.
    pub fn score(&self, name: &str) -> Option<&Score> {
        self.scores.iter().find(|score| score.name == name)
    }

    /// Checks what reading a row checks: every score valid (see [`Score::validate`]).
    fn validate(&self) -> Result<()> {
        self.scores.iter().try_for_each(Score::validate)
    }
}

/// A score's value as plain JSON.
pub(crate) fn score_json(value: &ScoreValue) -> Value {
    match value {
        ScoreValue::Bool(flag) => Value::Bool(*flag),
        ScoreValue::Number(number) => serde_json::Number::from_f64(*number)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ScoreValue::Label(label) => Value::String(label.clone()),
    }
}

/// A named list of [`DatasetRow`]s: a trainset, an evaluation set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Dataset {
    /// Its name, as backends show it (`traces` unless named).
    pub name: String,
    /// Its rows, in order.
    pub rows: Vec<DatasetRow>,
}

impl Dataset {
    /// An empty dataset named `name`.
    pub fn new(name: impl Into<String>) -> Dataset {
        Dataset {
            name: name.into(),
            rows: Vec::new(),
        }
    }

    /// The calls in `tracer`'s history that `selection` chooses, oldest first, as rows
    /// (named `traces`; see [`named`](Self::named)). The history is bounded
    /// ([`max_traces`](ExecutionTracer::max_traces)): calls evicted from it are not seen.
    pub fn from_traces(tracer: &ExecutionTracer, selection: &Selection) -> Dataset {
        Dataset::from_entries(&tracer.get_traces(None), selection)
    }

    /// The entries `selection` chooses (from an export, say), in order, as rows.
    pub fn from_entries(entries: &[TraceEntry], selection: &Selection) -> Dataset {
        let rows = selection
            .apply(entries)
            .map(DatasetRow::from_entry)
            .collect();
        Dataset {
            name: "traces".to_owned(),
            rows,
        }
    }

    /// This dataset named `name`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// This dataset with `row` added.
    pub fn with_row(mut self, row: DatasetRow) -> Self {
        self.rows.push(row);
        self
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// `true` with no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the rows as JSON Lines, one row a line.
    pub fn to_jsonl(&self, mut writer: impl Write) -> std::io::Result<()> {
        for row in &self.rows {
            serde_json::to_writer(&mut writer, row)?;
            writer.write_all(b"\n")?;
        }
        writer.flush()
    }

    /// Writes the rows as a JSON Lines file at `path`, atomically: a failure leaves an
    /// existing file there as it was.
    pub fn write_jsonl(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let failed = |source| Error::Export {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
        self.to_jsonl(std::io::BufWriter::new(file.as_file_mut()))
            .map_err(failed)?;
        file.persist(path).map_err(|error| failed(error.error))?;
        Ok(())
    }

    /// Reads a JSON Lines file of rows (blank lines are skipped), named after the file's
    /// stem. A line that is not a row, or has an invalid score, is an
    /// [`Error::DatasetLine`] naming the file and the line.
    pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| Error::Load {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.file_stem().map_or_else(
            || "dataset".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
        let mut rows = Vec::new();
        for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
            let bad_line = |reason: String| Error::DatasetLine {
                path: path.to_path_buf(),
                line: index + 1,
                reason,
            };
            let line = line.map_err(|error| bad_line(error.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let row: DatasetRow =
                serde_json::from_str(&line).map_err(|error| bad_line(error.to_string()))?;
            row.validate()
                .map_err(|error| bad_line(error.to_string()))?;
            rows.push(row);
        }
        Ok(Dataset { name, rows })
    }

    /// A short, stable digest of the rows (16 hex digits of FNV-1a over their JSON Lines),
    /// as MLflow names a dataset version.
    pub fn digest(&self) -> String {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.to_jsonl(&mut bytes);
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests;
