//! Experiments and runs: find or create an experiment, read a run and its metric history,
//! end a run; and the one-attempt forms the delivery worker uses to create runs exactly once.

use reqwest::Method;
use serde_json::{json, Value};

use super::transport::{percent_encode, str_field, Failure};
use super::types::{Metric, Run};
use super::MlflowClient;
use crate::error::{Error, Result};
use crate::mlflow::op::RunStatus;
use crate::mlflow::retry::Retry;

/// The run tag holding the client's identity of a run, so that a create is never repeated.
pub(crate) const RUN_KEY_TAG: &str = "monitor.run_key";

impl MlflowClient {
    // ---- experiments ----

    /// The id of experiment `name`, created if missing (two clients creating the same name
    /// at once both get the one experiment). An error if it exists but was deleted.
    pub fn get_or_create_experiment(&self, name: &str) -> Result<String> {
        crate::mlflow::validate::check_experiment_name(name)?;
        if let Some(id) = self.experiment_id_by_name(name)? {
            return Ok(id);
        }
        match self.call(
            Method::POST,
            "/api/2.0/mlflow/experiments/create",
            Some(&json!({ "name": name })),
        ) {
            Ok(v) => Ok(str_field(&v, "experiment_id")),
            Err(Error::MlflowServer { error_code, .. })
                if error_code == "RESOURCE_ALREADY_EXISTS" =>
            {
                self.experiment_id_by_name(name)?.ok_or_else(|| {
                    Error::Mlflow(format!("experiment {name:?} exists but cannot be read"))
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The id of experiment `name`, `None` if there is none.
    pub fn experiment_id_by_name(&self, name: &str) -> Result<Option<String>> {
        match self.get(
            "/api/2.0/mlflow/experiments/get-by-name",
            &[("experiment_name", name)],
        ) {
            Ok(v) => {
                let exp = &v["experiment"];
                if exp["lifecycle_stage"].as_str() == Some("deleted") {
                    return Err(Error::Mlflow(format!(
                        "experiment {name:?} is deleted; restore it (experiments/restore) or use another name"
                    )));
                }
                Ok(Some(str_field(exp, "experiment_id")))
            }
            Err(Error::MlflowServer { error_code, .. })
                if error_code == "RESOURCE_DOES_NOT_EXIST" =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    // ---- runs ----

    /// Reads a run back: info, latest metrics, params and tags.
    pub fn get_run(&self, run_id: &str) -> Result<Run> {
        let v = self.get("/api/2.0/mlflow/runs/get", &[("run_id", run_id)])?;
        Ok(serde_json::from_value(v["run"].clone())?)
    }

    /// Every point of metric `key` of a run, in the server's order.
    pub fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut q = vec![
                ("run_id", run_id),
                ("metric_key", key),
                ("max_results", "25000"),
            ];
            if !token.is_empty() {
                q.push(("page_token", &token));
            }
            let v = self.get("/api/2.0/mlflow/metrics/get-history", &q)?;
            out.extend(
                serde_json::from_value::<Vec<Metric>>(v["metrics"].clone()).unwrap_or_default(),
            );
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_owned(),
                _ => return Ok(out),
            }
        }
    }

    /// Sets the status and end time of a run.
    pub fn update_run(&self, run_id: &str, status: RunStatus, end_time: Option<i64>) -> Result<()> {
        let mut body = json!({ "run_id": run_id, "status": status.as_str() });
        if let Some(t) = end_time {
            body["end_time"] = json!(t);
        }
        self.call(Method::POST, "/api/2.0/mlflow/runs/update", Some(&body))
            .map(drop)
    }
}

impl MlflowClient {
    // ---- used by the worker (one attempt each) ----

    pub(crate) fn try_experiment(&self, name: &str) -> std::result::Result<String, Failure> {
        let get = |c: &Self| {
            let path = format!(
                "/api/2.0/mlflow/experiments/get-by-name?experiment_name={}",
                percent_encode(name, false)
            );
            match c.send_json(Method::GET, &path, None) {
                Ok(v) if v["experiment"]["lifecycle_stage"].as_str() == Some("deleted") => {
                    Err(Failure::Rejected(Error::Mlflow(format!(
                        "experiment {name:?} is deleted; restore it or use another name"
                    ))))
                }
                Ok(v) => Ok(Some(str_field(&v["experiment"], "experiment_id"))),
                Err(Failure::Rejected(Error::MlflowServer { error_code, .. }))
                    if error_code == "RESOURCE_DOES_NOT_EXIST" =>
                {
                    Ok(None)
                }
                Err(f) => Err(f),
            }
        };
        if let Some(id) = get(self)? {
            return Ok(id);
        }
        match self.send_json(
            Method::POST,
            "/api/2.0/mlflow/experiments/create",
            Some(&json!({ "name": name })),
        ) {
            Ok(v) => Ok(str_field(&v, "experiment_id")),
            Err(Failure::Rejected(Error::MlflowServer { error_code, .. }))
                if error_code == "RESOURCE_ALREADY_EXISTS" =>
            {
                get(self)?.ok_or_else(|| {
                    Failure::Retryable(Retry::not_applied(Error::Mlflow(format!(
                        "experiment {name:?} not readable yet"
                    ))))
                })
            }
            Err(f) => Err(f),
        }
    }

    /// The run created with client identity `run_key` in experiment `experiment_id`, if
    /// one was (a create whose answer was lost, or a replay of a run created earlier).
    pub(crate) fn try_find_run(
        &self,
        experiment_id: &str,
        run_key: &str,
    ) -> std::result::Result<Option<(String, String)>, Failure> {
        let body = json!({
            "experiment_ids": [experiment_id],
            "filter": format!("tags.`{RUN_KEY_TAG}` = '{run_key}'"),
            "max_results": 1,
            "run_view_type": "ALL",
        });
        let v = self.send_json(Method::POST, "/api/2.0/mlflow/runs/search", Some(&body))?;
        Ok(v["runs"]
            .as_array()
            .and_then(|runs| runs.first())
            .map(|run| {
                (
                    str_field(&run["info"], "run_id"),
                    str_field(&run["info"], "artifact_uri"),
                )
            }))
    }

    /// Every point of metric `key` of a run (one attempt per page).
    pub(crate) fn try_metric_history(
        &self,
        run_id: &str,
        key: &str,
    ) -> std::result::Result<Vec<Metric>, Failure> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut path = format!(
                "/api/2.0/mlflow/metrics/get-history?run_id={}&metric_key={}&max_results=25000",
                percent_encode(run_id, false),
                percent_encode(key, false)
            );
            if !token.is_empty() {
                path.push_str("&page_token=");
                path.push_str(&percent_encode(&token, false));
            }
            let v = self.send_json(Method::GET, &path, None)?;
            out.extend(
                serde_json::from_value::<Vec<Metric>>(v["metrics"].clone()).unwrap_or_default(),
            );
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_owned(),
                _ => return Ok(out),
            }
        }
    }

    pub(crate) fn try_create_run(
        &self,
        body: &Value,
    ) -> std::result::Result<(String, String), Failure> {
        let v = self.send_json(Method::POST, "/api/2.0/mlflow/runs/create", Some(body))?;
        let info = &v["run"]["info"];
        Ok((str_field(info, "run_id"), str_field(info, "artifact_uri")))
    }
}
