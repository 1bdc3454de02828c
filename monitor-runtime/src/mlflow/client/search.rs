//! Run search: [`RunQuery`] and [`MlflowClient::search_runs`].

use reqwest::Method;
use serde_json::json;

use super::types::Run;
use super::MlflowClient;
use crate::error::{Error, Result};

/// Which runs [`MlflowClient::search_runs`] returns.
///
/// ```
/// # use monitor_runtime as monitor;
/// let q = monitor::mlflow::RunQuery::experiments(["skill-optimization"])
///     .filter("metrics.quality > 0.8 and params.optimizer = 'MIPROv2'")
///     .order_by("metrics.quality DESC")
///     .max_results(20);
/// # let _ = q;
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunQuery {
    experiment_ids: Vec<String>,
    experiment_names: Vec<String>,
    filter: String,
    order_by: Vec<String>,
    max_results: usize,
}

impl RunQuery {
    /// Runs of the experiments with these names.
    pub fn experiments<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        RunQuery {
            experiment_names: names.into_iter().map(Into::into).collect(),
            max_results: 1000,
            ..Default::default()
        }
    }

    /// Runs of the experiments with these ids.
    pub fn experiment_ids<S: Into<String>>(ids: impl IntoIterator<Item = S>) -> Self {
        RunQuery {
            experiment_ids: ids.into_iter().map(Into::into).collect(),
            max_results: 1000,
            ..Default::default()
        }
    }

    /// MLflow's filter syntax: `metrics.x > 1 and params.y = 'z' and tags.t != 'u'`
    /// (clauses joined with `and` only).
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = filter.into();
        self
    }

    /// Adds an ordering, e.g. `metrics.acc DESC` or `attributes.start_time ASC`.
    pub fn order_by(mut self, order: impl Into<String>) -> Self {
        self.order_by.push(order.into());
        self
    }

    /// At most this many runs (default 1000).
    pub fn max_results(mut self, n: usize) -> Self {
        self.max_results = n;
        self
    }
}

impl MlflowClient {
    /// Runs of one or more experiments matching `query`, following pages up to its
    /// `max_results`.
    pub fn search_runs(&self, query: &RunQuery) -> Result<Vec<Run>> {
        let mut ids = query.experiment_ids.clone();
        for name in &query.experiment_names {
            match self.experiment_id_by_name(name)? {
                Some(id) => ids.push(id),
                None => return Err(Error::Mlflow(format!("no experiment named {name:?}"))),
            }
        }
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        while out.len() < query.max_results {
            let mut body = json!({
                "experiment_ids": ids,
                "filter": query.filter,
                "order_by": query.order_by,
                "max_results": (query.max_results - out.len()).min(50_000),
                "run_view_type": "ACTIVE_ONLY",
            });
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let v = self.call(Method::POST, "/api/2.0/mlflow/runs/search", Some(&body))?;
            out.extend(serde_json::from_value::<Vec<Run>>(v["runs"].clone()).unwrap_or_default());
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }
}
