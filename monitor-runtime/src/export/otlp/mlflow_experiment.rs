//! An MLflow experiment named rather than numbered (`MLFLOW_EXPERIMENT_NAME`): its id, read
//! from the tracking server by name, the experiment created when missing, as MLflow's own
//! client does (`mlflow.set_experiment`). MLflow's OTLP endpoint takes only an id.

use std::time::Instant;

use serde_json::{json, Value};

/// Where to ask, and how.
pub(super) struct MlflowServer<'a> {
    pub(super) client: &'a reqwest::blocking::Client,
    /// The tracking server's base URL (`http://127.0.0.1:5000`).
    pub(super) base: &'a str,
    pub(super) headers: &'a [(String, String)],
    pub(super) deadline: Instant,
}

impl MlflowServer<'_> {
    /// The id of the experiment `name`, created when there is none (another process
    /// creating it at the same time is fine: its id is read back). Why not, in words.
    pub(super) fn experiment_id(&self, name: &str) -> Result<String, String> {
        if let Some(id) = self.existing(name)? {
            return Ok(id);
        }
        match self.create(name)? {
            Some(id) => Ok(id),
            // Created by someone else since: read it.
            None => self
                .existing(name)?
                .ok_or_else(|| format!("MLflow says experiment {name:?} exists, yet finds none")),
        }
    }

    /// The id of a live experiment named `name`; `None` when there is none.
    fn existing(&self, name: &str) -> Result<Option<String>, String> {
        let url = format!("{}/api/2.0/mlflow/experiments/get-by-name", self.base);
        let request = self.client.get(url).query(&[("experiment_name", name)]);
        let (status, body) = self.send(request)?;
        if status == 404 && body["error_code"] == "RESOURCE_DOES_NOT_EXIST" {
            return Ok(None);
        }
        if status != 200 {
            return Err(refused("get-by-name", status, &body));
        }
        let experiment = &body["experiment"];
        if experiment["lifecycle_stage"] == "deleted" {
            return Err(format!(
                "experiment {name:?} is deleted: restore it in MLflow, or name another"
            ));
        }
        experiment["experiment_id"]
            .as_str()
            .map(|id| Some(id.to_owned()))
            .ok_or_else(|| format!("MLflow's answer for {name:?} has no experiment id: {body}"))
    }

    /// Creates the experiment: its id, or `None` when it exists already.
    fn create(&self, name: &str) -> Result<Option<String>, String> {
        let url = format!("{}/api/2.0/mlflow/experiments/create", self.base);
        let body = json!({ "name": name }).to_string();
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        let (status, body) = self.send(request)?;
        if body["error_code"] == "RESOURCE_ALREADY_EXISTS" {
            return Ok(None);
        }
        match body["experiment_id"].as_str() {
            Some(id) if status == 200 => Ok(Some(id.to_owned())),
            _ => Err(refused("create", status, &body)),
        }
    }

    fn send(&self, request: reqwest::blocking::RequestBuilder) -> Result<(u16, Value), String> {
        let mut request = request.timeout(self.deadline.saturating_duration_since(Instant::now()));
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        let response = request.send().map_err(|error| {
            let error = error.to_string();
            let shown = crate::capture::mask_url_credentials(&error);
            format!("MLflow could not be reached: {shown}")
        })?;
        let status = response.status().as_u16();
        let body = response.bytes().unwrap_or_default();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }
}

fn refused(what: &str, status: u16, body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or("no message");
    format!("MLflow answered {status} to experiments/{what}: {message}")
}
