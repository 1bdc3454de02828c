//! The REST client of an MLflow tracking server (blocking `reqwest`, used by the background
//! worker and by the query calls).

// Owns: `MlflowClient` and how it is built, with TLS and credentials (here); one HTTP
// request, MLflow's retries and the helpers of the wire (`transport.rs`); experiments and
// runs (`runs.rs`); run search and `RunQuery` (`search.rs`); artifacts and the model
// registry (`artifacts.rs`); evaluation datasets and a run's dataset inputs
// (`datasets.rs`); and the types the server returns (`types.rs`). Query calls
// retry; the `try_*` calls of the delivery worker try once and say, as a `Failure`,
// whether trying again may help.
//
// May call: `reqwest`, `config` (where and how to connect), `retry` (backoff and
// `Retry-After`), `nonblocking`, `validate` and `op` (`RunStatus`).

use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, USER_AGENT};

use super::config::{Destination, MlflowAuth, MlflowConfig};
use super::nonblocking::{outside_runtime, OffThread};
use crate::error::{Error, Result};

mod artifacts;
mod datasets;
mod runs;
mod search;
mod transport;
mod types;

pub use self::datasets::EvaluationDatasetInfo;
pub(crate) use self::runs::RUN_KEY_TAG;
pub use self::search::RunQuery;
pub(crate) use self::transport::Failure;
pub use self::types::{FileInfo, KeyValue, Metric, ModelVersion, Run, RunData, RunInfo};

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
/// [`MlflowLogger`]: crate::mlflow::MlflowLogger
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
        outside_runtime(
            move || prepared.build(),
            |reason| Err(Error::Mlflow(reason)),
        )
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
            .timeout(crate::deadline::bounded(config.timeout))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(base64_encode(b"u:p"), "dTpw");
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }
}
