//! MLflow 3's evaluation datasets (`/api/3.0/mlflow/datasets/...`) and a run's dataset
//! inputs (`runs/log-inputs`), as checked against MLflow 3.17.2: a dataset is created by
//! name into experiments (the same name twice makes two datasets, so it is searched
//! first), its records are upserted by their inputs (a re-sent record is updated, not
//! added), and read back a page at a time.

use reqwest::Method;
use serde_json::{json, Value};

use super::transport::{percent_encode, str_field};
use super::MlflowClient;
use crate::error::{Error, Result};

/// Records sent in one upsert request.
const RECORDS_PER_REQUEST: usize = 500;

/// An MLflow evaluation dataset that records were pushed to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvaluationDatasetInfo {
    /// The server's id (`d-…`).
    pub dataset_id: String,
    /// The dataset's name.
    pub name: String,
    /// Records added by the push.
    pub inserted: u64,
    /// Records that were there already (same inputs) and were updated.
    pub updated: u64,
}

impl MlflowClient {
    /// The id of the evaluation dataset named `name` in experiment `experiment_id`, if any.
    pub fn find_evaluation_dataset(
        &self,
        experiment_id: &str,
        name: &str,
    ) -> Result<Option<String>> {
        let filter = format!("name = '{}'", name.replace('\'', "\\'"));
        let found = self.call(
            Method::POST,
            "/api/3.0/mlflow/datasets/search",
            Some(&json!({ "experiment_ids": [experiment_id], "filter_string": filter, "max_results": 10 })),
        )?;
        Ok(found["datasets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|dataset| dataset["name"] == name)
            .map(|dataset| str_field(dataset, "dataset_id")))
    }

    /// Upserts `records` (`{"inputs", "outputs", "expectations", "tags", "source"}`, as
    /// `mlflow.genai.datasets` takes them) into the evaluation dataset `name` of experiment
    /// `experiment_id`, created if there is none.
    pub fn upsert_evaluation_dataset(
        &self,
        experiment_id: &str,
        name: &str,
        records: &[Value],
    ) -> Result<EvaluationDatasetInfo> {
        let dataset_id = match self.find_evaluation_dataset(experiment_id, name)? {
            Some(id) => id,
            None => {
                let created = self.call(
                    Method::POST,
                    "/api/3.0/mlflow/datasets/create",
                    Some(&json!({ "name": name, "experiment_ids": [experiment_id] })),
                )?;
                str_field(&created["dataset"], "dataset_id")
            }
        };
        if dataset_id.is_empty() {
            return Err(Error::Mlflow(format!(
                "the server gave no id to dataset {name:?}"
            )));
        }
        let mut info = EvaluationDatasetInfo {
            dataset_id,
            name: name.to_owned(),
            inserted: 0,
            updated: 0,
        };
        let path = format!(
            "/api/3.0/mlflow/datasets/{}/records",
            percent_encode(&info.dataset_id, false)
        );
        for chunk in records.chunks(RECORDS_PER_REQUEST) {
            let body = json!({ "records": Value::Array(chunk.to_vec()).to_string() });
            let answer = self.call(Method::POST, &path, Some(&body))?;
            info.inserted += answer["inserted_count"].as_u64().unwrap_or(0);
            info.updated += answer["updated_count"].as_u64().unwrap_or(0);
        }
        Ok(info)
    }

    /// Every record of the evaluation dataset `dataset_id`, as the server returns them
    /// (with `dataset_record_id`, `inputs`, `outputs`, `expectations`, `tags`, `source`).
    pub fn evaluation_dataset_records(&self, dataset_id: &str) -> Result<Vec<Value>> {
        let path = format!(
            "/api/3.0/mlflow/datasets/{}/records",
            percent_encode(dataset_id, false)
        );
        let mut records = Vec::new();
        let mut token = String::new();
        // Bounded: a server that keeps answering with a token stops after this many pages.
        for _ in 0..10_000 {
            let mut query = vec![("max_results", "1000")];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let page = self.get(&path, &query)?;
            let text = page["records"].as_str().unwrap_or("[]");
            let batch: Vec<Value> = serde_json::from_str(text)?;
            records.extend(batch);
            token = str_field(&page, "next_page_token");
            if token.is_empty() {
                break;
            }
        }
        Ok(records)
    }

    /// Links a dataset to run `run_id` as an input (`runs/log-inputs`), as
    /// `mlflow.log_input` does: it shows in the run's Datasets. `source` is a JSON text
    /// naming where it came from; `context` goes in the tag `mlflow.data.context`.
    pub fn log_dataset_input(
        &self,
        run_id: &str,
        name: &str,
        digest: &str,
        source: &Value,
        num_rows: usize,
        context: &str,
    ) -> Result<()> {
        let dataset = json!({
            "name": name,
            "digest": digest.chars().take(36).collect::<String>(),
            "source_type": "monitor",
            "source": source.to_string(),
            "profile": json!({ "num_rows": num_rows }).to_string(),
        });
        let body = json!({
            "run_id": run_id,
            "datasets": [{
                "dataset": dataset,
                "tags": [{ "key": "mlflow.data.context", "value": context }],
            }],
        });
        self.call(Method::POST, "/api/2.0/mlflow/runs/log-inputs", Some(&body))?;
        Ok(())
    }
}
