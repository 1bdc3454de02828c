//! The REST client of an MLflow tracking server (blocking `reqwest`, used by the background
//! worker and by the query calls).

use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::config::{Destination, MlflowAuth, MlflowConfig};
use super::delivery::retry::{parse_retry_after, wait_before, Retry};
use super::nonblocking::{outside_runtime, OffThread};
use super::record::RunStatus;
use crate::error::{Error, Result};

/// HTTP statuses MLflow's client retries.
const RETRY_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];
/// Retried statuses after which the server may already have applied the request.
const MAYBE_APPLIED_STATUSES: [u16; 3] = [500, 502, 504];

/// How a failed request should be treated.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server may accept it later (connect error, timeout, 408/429/5xx).
    Retryable(Retry),
    /// The server refused this request; resending it will not help.
    Rejected(Error),
}

impl Failure {
    pub(crate) fn into_error(self) -> Error {
        match self {
            Failure::Retryable(r) => r.error,
            Failure::Rejected(e) => e,
        }
    }
}

/// A blocking client of one MLflow tracking server. Query calls ([`get_run`], [`search_runs`],
/// registry calls) retry as MLflow's client does; logging goes through [`MlflowLogger`]
/// instead, which never blocks.
///
/// Every method is safe to call inside a tokio runtime (the request then runs on a plain
/// thread), but it waits for the answer. In async code use [`query`](MlflowClient::query),
/// which does not block the executor:
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// # async fn f(client: monitor::mlflow::MlflowClient) -> monitor::Result<()> {
/// let q = monitor::mlflow::RunQuery::experiments(["skill-optimization"]);
/// let runs = client.query(move |c| c.search_runs(&q)).await?;
/// # Ok(()) }
/// ```
///
/// [`get_run`]: MlflowClient::get_run
/// [`search_runs`]: MlflowClient::search_runs
/// [`MlflowLogger`]: crate::MlflowLogger
#[derive(Clone)]
pub struct MlflowClient {
    http: Client,
    base: String,
    max_retries: u32,
    backoff_factor: f64,
    backoff_jitter: f64,
}

impl std::fmt::Debug for MlflowClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowClient")
            .field("base", &super::config::redact_uri(&self.base))
            .finish_non_exhaustive()
    }
}

impl MlflowClient {
    /// A client of the server named by `MLFLOW_TRACKING_URI` and the other env vars.
    pub fn from_env() -> Result<Self> {
        Self::new(&MlflowConfig::from_env())
    }

    /// A client of the server in `config`; an error if `config` names a local store.
    pub fn new(config: &MlflowConfig) -> Result<Self> {
        match config.destination()? {
            Destination::Server(base) => Self::for_server(config, base),
            Destination::Local(path) => Err(Error::Mlflow(format!(
                "no tracking server configured (runs go to the local store {}); set MLFLOW_TRACKING_URI=http://host:port",
                path.display()
            ))),
        }
    }

    pub(crate) fn for_server(config: &MlflowConfig, base: String) -> Result<Self> {
        // reqwest's blocking client must not be built on a runtime thread.
        let prepared = Self::prepare(config, base)?;
        outside_runtime(move || prepared.build())
    }

    /// Checks the settings and prepares a client without building it: building starts
    /// `reqwest`'s own runtime, which the caller's thread may not allow.
    pub(crate) fn prepare(config: &MlflowConfig, base: String) -> Result<PreparedClient> {
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("monitor-rs/", env!("CARGO_PKG_VERSION"))),
        );
        let auth = match &config.auth {
            MlflowAuth::None => None,
            MlflowAuth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64_encode(format!("{username}:{password}").as_bytes())
            )),
            MlflowAuth::Bearer(token) => Some(format!("Bearer {token}")),
        };
        if let Some(auth) = auth {
            let mut value = HeaderValue::from_str(&auth).map_err(|_| {
                Error::Mlflow("credentials contain characters not allowed in an HTTP header".into())
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut builder = Client::builder()
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(30)))
            .pool_max_idle_per_host(2);
        if let Some(path) = &config.ca_bundle {
            let pem = std::fs::read(path).map_err(|source| Error::MlflowStore {
                path: path.clone(),
                source,
            })?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Mlflow(format!("cannot read CA bundle {}: {e}", path.display()))
            })? {
                builder = builder.add_root_certificate(cert);
            }
        } else if config.insecure_tls {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(path) = &config.client_cert {
            let pem = std::fs::read(path).map_err(|source| Error::MlflowStore {
                path: path.clone(),
                source,
            })?;
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Mlflow(format!(
                    "cannot read client certificate {}: {e}",
                    path.display()
                ))
            })?;
            builder = builder.identity(identity);
        }
        Ok(PreparedClient {
            builder,
            base,
            max_retries: config.max_retries,
            backoff_factor: config.backoff_factor,
            backoff_jitter: config.backoff_jitter,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Runs blocking calls of this client on a helper thread and resolves with their
    /// result: the non-blocking form of every query, for async code under any executor.
    pub fn query<T, F>(&self, calls: F) -> OffThread<T>
    where
        T: Send + 'static,
        F: FnOnce(&MlflowClient) -> T + Send + 'static,
    {
        let client = self.clone();
        OffThread::spawn(move || calls(&client))
    }

    /// One attempt, no retry. `path` starts with `/`.
    pub(crate) fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> std::result::Result<Vec<u8>, Failure> {
        self.send_with(method, path, body, &[])
    }

    /// One attempt with extra headers.
    pub(crate) fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
        headers: &[(&'static str, String)],
    ) -> std::result::Result<Vec<u8>, Failure> {
        outside_runtime(|| self.attempt(method, path, body, headers))
    }

    fn attempt(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
        headers: &[(&'static str, String)],
    ) -> std::result::Result<Vec<u8>, Failure> {
        let endpoint = path.split('?').next().unwrap_or(path).to_owned();
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let resp = match req.send() {
            Ok(r) => r,
            Err(e) => {
                // Refused or unreachable: nothing was sent. Anything else (a timeout while
                // waiting for the answer) may have been applied.
                let maybe_applied = !e.is_connect();
                return Err(Failure::Retryable(Retry {
                    error: Error::MlflowHttp {
                        endpoint,
                        source: e.without_url(),
                    },
                    after: None,
                    maybe_applied,
                }));
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = match resp.bytes() {
            Ok(b) => b.to_vec(),
            Err(e) => {
                return Err(Failure::Retryable(Retry {
                    error: Error::MlflowHttp {
                        endpoint,
                        source: e.without_url(),
                    },
                    after: None,
                    maybe_applied: true,
                }))
            }
        };
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let (error_code, message) = match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => (
                v["error_code"].as_str().unwrap_or_default().to_owned(),
                v["message"]
                    .as_str()
                    .map_or_else(|| v["detail"].to_string(), str::to_owned),
            ),
            Err(_) => (
                String::new(),
                String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            ),
        };
        let err = Error::MlflowServer {
            endpoint,
            status,
            error_code,
            message,
        };
        if RETRY_STATUSES.contains(&status) {
            Err(Failure::Retryable(Retry {
                error: err,
                after: retry_after,
                maybe_applied: MAYBE_APPLIED_STATUSES.contains(&status),
            }))
        } else {
            Err(Failure::Rejected(err))
        }
    }

    /// One JSON request, no retry.
    pub(crate) fn send_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<Value, Failure> {
        let body = body.map(|b| {
            (
                "application/json",
                serde_json::to_vec(b).unwrap_or_default(),
            )
        });
        let bytes = self.send(method, path, body)?;
        if bytes.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(&bytes).map_err(|e| Failure::Rejected(Error::Json(e)))
    }

    /// A JSON request with MLflow's retries.
    pub(crate) fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let mut attempt = 0;
        loop {
            match self.send_json(method.clone(), path, body) {
                Ok(v) => return Ok(v),
                Err(Failure::Retryable(r)) if attempt < self.max_retries => {
                    attempt += 1;
                    tracing::debug!(target: "monitor::mlflow", "retry {attempt} of {path}: {}", r.error);
                    std::thread::sleep(self.wait(attempt, &r));
                }
                Err(f) => return Err(f.into_error()),
            }
        }
    }

    /// The wait before retry `attempt` after failure `r`.
    fn wait(&self, attempt: u32, r: &Retry) -> Duration {
        wait_before(attempt, self.backoff_factor, self.backoff_jitter, r.after)
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let mut url = path.to_owned();
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(v, false));
        }
        self.call(Method::GET, &url, None)
    }

    // ---- experiments ----

    /// The id of experiment `name`, created if missing (two clients creating the same name
    /// at once both get the one experiment). An error if it exists but was deleted.
    pub fn get_or_create_experiment(&self, name: &str) -> Result<String> {
        super::validate::check_experiment_name(name)?;
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

    /// The artifacts of a run under `path` (`""` for the root).
    pub fn list_artifacts(&self, run_id: &str, path: &str) -> Result<Vec<FileInfo>> {
        let v = self.get(
            "/api/2.0/mlflow/artifacts/list",
            &[("run_id", run_id), ("path", path)],
        )?;
        Ok(serde_json::from_value(v["files"].clone()).unwrap_or_default())
    }

    /// Downloads one artifact of a run through the server's artifact proxy.
    pub fn download_artifact(&self, run_id: &str, path: &str) -> Result<Vec<u8>> {
        let run = self.get_run(run_id)?;
        let url = artifact_url(
            &run.info.artifact_uri,
            &super::validate::artifact_path(path)?,
        )
        .ok_or_else(|| {
            Error::Mlflow(format!(
                "run {run_id} does not store artifacts through the server's proxy"
            ))
        })?;
        let mut attempt = 0;
        loop {
            match self.send(Method::GET, &url, None) {
                Ok(b) => return Ok(b),
                Err(Failure::Retryable(r)) if attempt < self.max_retries => {
                    attempt += 1;
                    std::thread::sleep(self.wait(attempt, &r));
                }
                Err(f) => return Err(f.into_error()),
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

    /// Registers the artifacts at `artifact_path` of run `run_id` as a new version of the
    /// registered model `model_name` (created if missing).
    pub fn register_model(
        &self,
        run_id: &str,
        artifact_path: &str,
        model_name: &str,
    ) -> Result<ModelVersion> {
        let artifact_path = super::validate::artifact_path(artifact_path)?;
        match self.call(
            Method::POST,
            "/api/2.0/mlflow/registered-models/create",
            Some(&json!({ "name": model_name })),
        ) {
            Ok(_) => {}
            Err(Error::MlflowServer { error_code, .. })
                if error_code == "RESOURCE_ALREADY_EXISTS" => {}
            Err(e) => return Err(e),
        }
        let body = json!({
            "name": model_name,
            "source": format!("runs:/{run_id}/{artifact_path}"),
            "run_id": run_id,
        });
        let v = self.call(
            Method::POST,
            "/api/2.0/mlflow/model-versions/create",
            Some(&body),
        )?;
        Ok(serde_json::from_value(v["model_version"].clone())?)
    }

    /// One version of a registered model.
    pub fn get_model_version(&self, model_name: &str, version: &str) -> Result<ModelVersion> {
        let v = self.get(
            "/api/2.0/mlflow/model-versions/get",
            &[("name", model_name), ("version", version)],
        )?;
        Ok(serde_json::from_value(v["model_version"].clone())?)
    }

    /// Points `alias` (e.g. `champion`) of a registered model at `version`.
    pub fn set_model_alias(&self, model_name: &str, alias: &str, version: &str) -> Result<()> {
        let body = json!({ "name": model_name, "alias": alias, "version": version });
        self.call(
            Method::POST,
            "/api/2.0/mlflow/registered-models/alias",
            Some(&body),
        )
        .map(drop)
    }

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

    pub(crate) fn try_upload(
        &self,
        run_id: &str,
        artifact_uri: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> std::result::Result<(), Failure> {
        let ct = mime_for(path);
        match artifact_url(artifact_uri, path) {
            Some(url) => self.send(Method::PUT, &url, Some((ct, bytes))).map(drop),
            None => {
                // The server does not proxy artifacts (`--no-serve-artifacts`): its UI upload
                // endpoint writes through the server's own artifact repository.
                let url = format!(
                    "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={}&path={}",
                    percent_encode(run_id, false),
                    percent_encode(path, false)
                );
                self.send(
                    Method::POST,
                    &url,
                    Some(("application/octet-stream", bytes)),
                )
                .map(drop)
            }
        }
    }
}

/// A checked client configuration, built into an [`MlflowClient`] on a thread where that is
/// allowed (the delivery thread, or outside any async runtime).
pub(crate) struct PreparedClient {
    builder: reqwest::blocking::ClientBuilder,
    base: String,
    max_retries: u32,
    backoff_factor: f64,
    backoff_jitter: f64,
}

impl PreparedClient {
    pub(crate) fn build(self) -> Result<MlflowClient> {
        let http = self
            .builder
            .build()
            .map_err(|e| Error::Mlflow(format!("cannot build the HTTP client: {e}")))?;
        Ok(MlflowClient {
            http,
            base: self.base,
            max_retries: self.max_retries,
            backoff_factor: self.backoff_factor,
            backoff_jitter: self.backoff_jitter,
        })
    }
}

/// The run tag holding the client's identity of a run, so that a create is never repeated.
pub(crate) const RUN_KEY_TAG: &str = "monitor.run_key";

/// `/api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>` for a proxied run.
fn artifact_url(artifact_uri: &str, path: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    // `mlflow-artifacts://host:port/x` names another host; the path part is what matters here.
    let rest = match rest.strip_prefix("//") {
        Some(hosted) => hosted.find('/').map_or("", |i| &hosted[i..]),
        None => rest,
    };
    let mut url = String::from("/api/2.0/mlflow-artifacts/artifacts/");
    url.push_str(&percent_encode(rest.trim_start_matches('/'), true));
    if !path.is_empty() {
        url.push('/');
        url.push_str(&percent_encode(path, true));
    }
    Some(url)
}

fn mime_for(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "json" => "application/json",
        "txt" | "log" | "md" | "py" | "yaml" | "yml" | "csv" => "text/plain",
        "html" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

fn str_field(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-encodes everything but unreserved characters (and `/` when `keep_slash`).
pub(crate) fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A run as the server returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Identity, status and times.
    pub info: RunInfo,
    /// Latest metrics, params and tags.
    #[serde(default)]
    pub data: RunData,
}

/// Identity, status and times of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run id.
    pub run_id: String,
    /// The experiment id.
    pub experiment_id: String,
    /// The run name.
    #[serde(default)]
    pub run_name: String,
    /// The user.
    #[serde(default)]
    pub user_id: String,
    /// The status.
    pub status: RunStatus,
    /// Start, ms since the epoch.
    #[serde(default)]
    pub start_time: i64,
    /// End, ms since the epoch.
    #[serde(default)]
    pub end_time: Option<i64>,
    /// Where its artifacts live.
    #[serde(default)]
    pub artifact_uri: String,
    /// `active` or `deleted`.
    #[serde(default)]
    pub lifecycle_stage: String,
}

/// Latest metrics, params and tags of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// The latest value of each metric.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Params.
    #[serde(default)]
    pub params: Vec<KeyValue>,
    /// Tags, system tags included.
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

impl RunData {
    /// The value of param `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// The latest value of metric `key`.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.key == key).map(|m| m.value)
    }
}

/// One metric point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The key.
    pub key: String,
    /// The value (`NaN` and infinities included).
    #[serde(with = "super::record::f64_text")]
    pub value: f64,
    /// ms since the epoch.
    #[serde(default)]
    pub timestamp: i64,
    /// The step.
    #[serde(default)]
    pub step: i64,
}

/// A param or tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    #[serde(default)]
    pub value: String,
}

/// An artifact listed by [`MlflowClient::list_artifacts`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Path relative to the run's artifact root.
    pub path: String,
    /// A directory?
    #[serde(default)]
    pub is_dir: bool,
    /// Size in bytes (files only).
    #[serde(default, deserialize_with = "int_or_string")]
    pub file_size: Option<u64>,
}

fn int_or_string<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

/// A version of a registered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The version number, as MLflow writes it (`"1"`).
    pub version: String,
    /// Where the model's files are (`runs:/<run>/<path>`).
    #[serde(default)]
    pub source: String,
    /// The run it came from.
    #[serde(default)]
    pub run_id: String,
    /// `READY`, `PENDING_REGISTRATION` or `FAILED_REGISTRATION`.
    #[serde(default)]
    pub status: String,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_encoding() {
        assert_eq!(
            artifact_url("mlflow-artifacts:/2/abc/artifacts", "reports/a b.json").unwrap(),
            "/api/2.0/mlflow-artifacts/artifacts/2/abc/artifacts/reports/a%20b.json"
        );
        assert!(artifact_url("/srv/mlruns/1/abc/artifacts", "x").is_none());
        assert_eq!(base64_encode(b"u:p"), "dTpw");
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }
}
