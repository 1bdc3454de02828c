//! A dataset as an MLflow evaluation dataset (`mlflow.genai.datasets`): one record a row.

use serde_json::{json, Map, Value};

use super::{score_json, Dataset, DatasetRow};
use crate::error::{Error, Result};
use crate::mlflow::{EvaluationDatasetInfo, MlflowClient};

impl DatasetRow {
    /// The row as an MLflow evaluation dataset record: `inputs`, `outputs`,
    /// `expectations`, `tags` (the module, the span and the scores, as text) and the trace
    /// it came from as its `source` (`TRACE`, `tr-<trace id>`).
    pub fn to_mlflow_record(&self) -> Value {
        let mut record = json!({ "inputs": self.inputs });
        if let Some(outputs) = &self.outputs {
            record["outputs"] = outputs.clone();
        }
        if !self.expectations.is_empty() {
            record["expectations"] = Value::Object(self.expectations.clone());
        }
        let mut tags = Map::new();
        if let Some(module) = &self.module {
            tags.insert("monitor.module".to_owned(), module.as_str().into());
        }
        if let Some(span) = &self.span_id {
            tags.insert("monitor.span_id".to_owned(), span.as_str().into());
        }
        for score in &self.scores {
            let value = match score_json(&score.value) {
                Value::String(label) => label,
                other => other.to_string(),
            };
            tags.insert(format!("score.{}", score.name), value.into());
        }
        record["tags"] = Value::Object(tags);
        record["source"] = match &self.trace_id {
            Some(trace) => json!({
                "source_type": "TRACE",
                "source_data": { "trace_id": format!("tr-{trace}") },
            }),
            None => json!({ "source_type": "CODE", "source_data": {} }),
        };
        record
    }
}

impl Dataset {
    /// Pushes the rows to the MLflow evaluation dataset of this name in experiment
    /// `experiment` (both created if missing), as `mlflow.genai.datasets.create_dataset` and
    /// `merge_records` do: each row a record (see [`DatasetRow::to_mlflow_record`]),
    /// upserted by its inputs, so a second push updates rather than duplicates. Needs a
    /// tracking server (`MlflowClient::from_env()` reads `MLFLOW_TRACKING_URI`).
    ///
    /// An empty dataset is refused ([`Error::InvalidDataset`]).
    pub fn push_to_mlflow(
        &self,
        client: &MlflowClient,
        experiment: &str,
    ) -> Result<EvaluationDatasetInfo> {
        if self.is_empty() {
            return Err(Error::InvalidDataset {
                name: self.name.clone(),
                reason: "it has no rows to push".to_owned(),
            });
        }
        let experiment_id = client.get_or_create_experiment(experiment)?;
        let records: Vec<Value> = self.rows.iter().map(DatasetRow::to_mlflow_record).collect();
        client.upsert_evaluation_dataset(&experiment_id, &self.name, &records)
    }
}
