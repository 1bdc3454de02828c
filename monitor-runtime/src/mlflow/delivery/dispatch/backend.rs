//! Where records go, the server or the local store, and one request for each kind of
//! record that is not batched: create a run (exactly once), upload an artifact, end a run,
//! send OTLP spans and assessments.

use std::path::PathBuf;

use serde_json::json;

use super::Dispatcher;
use crate::error::{Error, Result};
use crate::mlflow::client::{Failure, MlflowClient, PreparedClient, RUN_KEY_TAG};
use crate::mlflow::config::{Destination, MlflowConfig};
use crate::mlflow::delivery::Binding;
use crate::mlflow::local::LocalStore;
use crate::mlflow::op::{ArtifactSource, RunKey, RunStatus};

/// Where records go.
pub(crate) enum Backend {
    Server(MlflowClient),
    Local(LocalStore),
}

/// A backend with its settings checked, built on the dispatcher's own thread (building the
/// HTTP client on the caller's thread would panic or block inside an async runtime).
pub(crate) enum PreparedBackend {
    Server(Box<PreparedClient>),
    Local(PathBuf),
}

impl PreparedBackend {
    /// Checks the settings (certificates, credentials); fails on a bad configuration.
    pub(crate) fn new(config: &MlflowConfig, dest: &Destination) -> Result<Self> {
        Ok(match dest {
            Destination::Server(base) => {
                PreparedBackend::Server(Box::new(MlflowClient::prepare(config, base.clone())?))
            }
            Destination::Local(root) => PreparedBackend::Local(root.clone()),
        })
    }

    pub(super) fn build(self) -> Result<Backend> {
        Ok(match self {
            PreparedBackend::Server(client) => Backend::Server((*client).build()?),
            PreparedBackend::Local(root) => Backend::Local(LocalStore::new(root)),
        })
    }
}

/// The user MLflow's client records: `MLFLOW_TRACKING_USERNAME`, else the login name as
/// Python's `getpass.getuser()` finds it (`LOGNAME`, `USER`, `LNAME`, `USERNAME`, then the
/// account of the process's user id).
pub(super) fn current_user() -> String {
    [
        "MLFLOW_TRACKING_USERNAME",
        "LOGNAME",
        "USER",
        "LNAME",
        "USERNAME",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    .or_else(account_name)
    .unwrap_or_else(|| "unknown".into())
}

/// The account name of the process's real user id, from `/proc` and `/etc/passwd`.
fn account_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut fields = l.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

impl Dispatcher {
    fn experiment_id(&mut self, name: &str) -> std::result::Result<String, Failure> {
        if let Some(id) = self.experiments.get(name) {
            return Ok(id.clone());
        }
        let id = match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => c.try_experiment(name)?,
            Backend::Local(l) => l.experiment(name)?,
        };
        self.experiments.insert(name.to_owned(), id.clone());
        Ok(id)
    }

    pub(super) fn create_run(
        &mut self,
        run: RunKey,
        experiment: &str,
        name: &Option<String>,
        start_time: i64,
        extra: &[(String, String)],
        parent: Option<RunKey>,
    ) -> std::result::Result<(), Failure> {
        let exp_id = self.experiment_id(experiment)?;
        let mut tags: Vec<(String, String)> = vec![
            ("mlflow.user".into(), self.user.clone()),
            ("mlflow.source.name".into(), self.source.clone()),
            ("mlflow.source.type".into(), "LOCAL".into()),
        ];
        if let Some(Binding::Created { run_id, .. }) = parent.and_then(|p| self.binding_of(p)) {
            tags.push(("mlflow.parentRunId".into(), run_id));
        }
        tags.extend(extra.iter().cloned());
        let (run_id, artifact_uri) = match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => {
                // A create whose answer was lost, or one an earlier process made before it
                // could say so, must not make a second run.
                match c.try_find_run(&exp_id, &run.to_string())? {
                    Some(found) => found,
                    None => {
                        tags.push((RUN_KEY_TAG.into(), run.to_string()));
                        let mut body = json!({
                            "experiment_id": exp_id,
                            "user_id": self.user,
                            "start_time": start_time,
                            "tags": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                        });
                        if let Some(name) = name {
                            body["run_name"] = json!(name);
                        }
                        c.try_create_run(&body)?
                    }
                }
            }
            Backend::Local(l) => {
                let run_id = run.to_string();
                let name = name
                    .clone()
                    .unwrap_or_else(|| format!("run-{}", &run_id[..8]));
                l.create_run(&exp_id, &run_id, &name, &self.user, start_time, &tags)?
            }
        };
        self.ch
            .journal
            .lock()
            .record_run(run, &run_id, &artifact_uri);
        self.runs.insert(
            run,
            Binding::Created {
                run_id,
                artifact_uri,
            },
        );
        Ok(())
    }

    pub(super) fn upload(
        &mut self,
        run_id: &str,
        artifact_uri: &str,
        path: &str,
        source: &ArtifactSource,
    ) -> std::result::Result<(), Failure> {
        let bytes = match source {
            ArtifactSource::Text(t) => t.clone().into_bytes(),
            ArtifactSource::File(p) => std::fs::read(p).map_err(|source| {
                Failure::Rejected(Error::MlflowStore {
                    path: p.clone(),
                    source,
                })
            })?,
        };
        match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => c.try_upload(run_id, artifact_uri, path, bytes),
            Backend::Local(l) => l.upload(run_id, path, &bytes),
        }
    }

    pub(super) fn end_run(
        &mut self,
        run_id: &str,
        status: RunStatus,
        end_time: i64,
    ) -> std::result::Result<(), Failure> {
        match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => {
                let body =
                    json!({ "run_id": run_id, "status": status.as_str(), "end_time": end_time });
                c.send_json(
                    reqwest::Method::POST,
                    "/api/2.0/mlflow/runs/update",
                    Some(&body),
                )
                .map(drop)
            }
            Backend::Local(l) => l.end_run(run_id, status, end_time),
        }
    }

    pub(super) fn send_otlp(
        &mut self,
        run_id: &str,
        experiment: &str,
        body: &str,
    ) -> std::result::Result<(), Failure> {
        let exp_id = self.experiment_id(experiment)?;
        match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => c
                .send_with(
                    reqwest::Method::POST,
                    "/v1/traces",
                    Some(("application/json", body.as_bytes().to_vec())),
                    &[
                        ("x-mlflow-experiment-id", exp_id),
                        ("x-mlflow-run-id", run_id.to_owned()),
                    ],
                )
                .map(drop),
            Backend::Local(_) => Err(Failure::Rejected(Error::Mlflow(
                "the local store does not take OTLP traces".into(),
            ))),
        }
    }

    pub(super) fn send_assessment(
        &mut self,
        trace_id: &str,
        body: &str,
    ) -> std::result::Result<(), Failure> {
        match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => {
                if already_assessed(c, trace_id, body)? {
                    return Ok(());
                }
                c.send(
                    reqwest::Method::POST,
                    &format!("/api/3.0/mlflow/traces/{trace_id}/assessments"),
                    Some(("application/json", body.as_bytes().to_vec())),
                )
                .map(drop)
            }
            Backend::Local(_) => Err(Failure::Rejected(Error::Mlflow(
                "the local store does not take assessments".into(),
            ))),
        }
    }
}

/// Whether trace `trace_id` already has the assessment in `body` (the same
/// [`ASSESSMENT_KEY`](crate::mlflow::trace_store::ASSESSMENT_KEY) in its metadata): posted
/// by an attempt whose answer was lost, by a process that crashed before acknowledging it,
/// or by another process sending the same feedback. MLflow has no key to create by, so this
/// look-up is what keeps each one single. A trace MLflow does not know (yet) has none.
fn already_assessed(
    client: &MlflowClient,
    trace_id: &str,
    body: &str,
) -> std::result::Result<bool, Failure> {
    use crate::mlflow::trace_store::ASSESSMENT_KEY;
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let Some(key) = body["assessment"]["metadata"][ASSESSMENT_KEY].as_str() else {
        return Ok(false);
    };
    let path = format!("/api/3.0/mlflow/traces/{trace_id}");
    let trace: serde_json::Value = match client.send(reqwest::Method::GET, &path, None) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(Failure::Rejected(_)) => return Ok(false),
        Err(retry) => return Err(retry),
    };
    let assessments = trace["trace"]["trace_info"]["assessments"].as_array();
    Ok(assessments
        .into_iter()
        .flatten()
        .any(|a| a["metadata"][ASSESSMENT_KEY].as_str() == Some(key)))
}
