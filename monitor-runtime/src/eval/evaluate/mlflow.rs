//! An evaluation as an MLflow run, as `mlflow.genai.evaluate` records one: params, the
//! aggregates as metrics, every row's trace linked to the run with its scores as
//! assessments, the dataset as the run's input, and the report and rows as artifacts.

use serde_json::json;

use super::report::EvaluationReport;
use crate::error::Result;
use crate::mlflow::MlflowRun;

impl EvaluationReport {
    /// Logs this evaluation into `run`:
    ///
    /// - params `evaluation`, `dataset`, `dataset_digest`, `rows` and the evaluation's own;
    /// - metrics as [`metrics`](Self::metrics) names them (`<score>/mean`, ...);
    /// - the rows' traces (every call of each, as the tracer still had them), linked to
    ///   the run, each score an assessment of its row's span ([`MlflowRun::log_traces`]);
    /// - the artifacts `evaluation/report.json` (this report) and
    ///   `evaluation/dataset.jsonl` (the rows);
    /// - with a tracking server, the dataset as the run's input (`runs/log-inputs`, context
    ///   `evaluation`): this waits for the run to be created.
    ///
    /// Returns the first refusal (a metric name MLflow does not take, say); what was
    /// accepted before it is logged.
    pub fn log_to_mlflow(&self, run: &MlflowRun) -> Result<()> {
        let mut params = vec![
            ("evaluation".to_owned(), self.name.clone()),
            ("dataset".to_owned(), self.dataset.clone()),
            ("dataset_digest".to_owned(), self.dataset_digest.clone()),
            ("rows".to_owned(), self.rows.len().to_string()),
        ];
        params.extend(self.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        run.log_params(params)?;
        for (key, value) in self.metrics() {
            run.log_metric(&key, value)?;
        }
        run.log_traces(&self.entries)?;
        run.log_dict(self, "evaluation/report.json")?;
        let mut rows = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.source.to_jsonl(&mut rows);
        run.log_text(String::from_utf8_lossy(&rows), "evaluation/dataset.jsonl")?;
        if let Ok(client) = run.client() {
            let source = json!({ "name": self.dataset, "artifact": "evaluation/dataset.jsonl" });
            client.log_dataset_input(
                &run.run_id()?,
                &self.dataset,
                &self.dataset_digest,
                &source,
                self.rows.len(),
                "evaluation",
            )?;
        }
        Ok(())
    }
}
