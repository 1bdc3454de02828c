//! Side-by-side comparison of runs.

use std::collections::BTreeSet;
use std::fmt;

use super::client::{MlflowClient, Run, RunQuery};
use crate::error::Result;

/// Params and latest metrics of several runs side by side: one column per run, one row per
/// key. `Display` prints it as a text table.
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// use monitor::mlflow::{MlflowClient, RunQuery};
/// let client = MlflowClient::from_env()?;
/// let table = client.compare_runs(&RunQuery::experiments(["a", "b"]).order_by("metrics.quality DESC"))?;
/// println!("{table}");
/// # Ok::<(), monitor::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RunComparison {
    /// Column headers: run name (or id when unnamed).
    pub runs: Vec<String>,
    /// Run ids, in column order.
    pub run_ids: Vec<String>,
    /// `(param key, value per run)`.
    pub params: Vec<(String, Vec<Option<String>>)>,
    /// `(metric key, latest value per run)`.
    pub metrics: Vec<(String, Vec<Option<f64>>)>,
}

impl RunComparison {
    /// Builds the table from runs read from a server.
    pub fn new(runs: &[Run]) -> Self {
        let param_keys: BTreeSet<&str> = runs
            .iter()
            .flat_map(|r| r.data.params.iter().map(|p| p.key.as_str()))
            .collect();
        let metric_keys: BTreeSet<&str> = runs
            .iter()
            .flat_map(|r| r.data.metrics.iter().map(|m| m.key.as_str()))
            .collect();
        RunComparison {
            runs: runs
                .iter()
                .map(|r| {
                    if r.info.run_name.is_empty() {
                        r.info.run_id.clone()
                    } else {
                        r.info.run_name.clone()
                    }
                })
                .collect(),
            run_ids: runs.iter().map(|r| r.info.run_id.clone()).collect(),
            params: param_keys
                .into_iter()
                .map(|k| {
                    (
                        k.to_owned(),
                        runs.iter()
                            .map(|r| r.data.param(k).map(str::to_owned))
                            .collect(),
                    )
                })
                .collect(),
            metrics: metric_keys
                .into_iter()
                .map(|k| {
                    (
                        k.to_owned(),
                        runs.iter().map(|r| r.data.metric(k)).collect(),
                    )
                })
                .collect(),
        }
    }

    /// The value of param `key` in column `run`.
    pub fn param(&self, key: &str, run: usize) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)?
            .1
            .get(run)?
            .as_deref()
    }

    /// The value of metric `key` in column `run`.
    pub fn metric(&self, key: &str, run: usize) -> Option<f64> {
        *self.metrics.iter().find(|(k, _)| k == key)?.1.get(run)?
    }

    /// Params whose value is not the same in every run.
    pub fn differing_params(&self) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(_, v)| v.iter().any(|x| x != &v[0]))
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

impl fmt::Display for RunComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<Vec<String>> = vec![std::iter::once("".to_owned())
            .chain(self.runs.iter().cloned())
            .collect()];
        for (k, vals) in &self.params {
            rows.push(
                std::iter::once(format!("params.{k}"))
                    .chain(vals.iter().map(|v| v.clone().unwrap_or_else(|| "-".into())))
                    .collect(),
            );
        }
        for (k, vals) in &self.metrics {
            rows.push(
                std::iter::once(format!("metrics.{k}"))
                    .chain(
                        vals.iter()
                            .map(|v| v.map_or_else(|| "-".into(), |x| format!("{x:.6}"))),
                    )
                    .collect(),
            );
        }
        let cols = rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
                    .min(40)
            })
            .collect();
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| {
                    let cell: String = cell.chars().take(40).collect();
                    format!("{cell:<w$}")
                })
                .collect();
            writeln!(f, "{}", cells.join(" | ").trim_end())?;
        }
        Ok(())
    }
}

impl MlflowClient {
    /// Searches runs with `query` and puts them side by side.
    pub fn compare_runs(&self, query: &RunQuery) -> Result<RunComparison> {
        Ok(RunComparison::new(&self.search_runs(query)?))
    }
}
