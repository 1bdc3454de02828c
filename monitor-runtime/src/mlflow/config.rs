//! Where runs go and how to reach the server: `configure_mlflow` and the env vars MLflow's
//! own client reads.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// How the client authenticates. Secrets never appear in `Debug` output or errors.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MlflowAuth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Basic ...` (`MLFLOW_TRACKING_USERNAME` + `MLFLOW_TRACKING_PASSWORD`).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer ...` (`MLFLOW_TRACKING_TOKEN`).
    Bearer(String),
}

impl fmt::Debug for MlflowAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MlflowAuth::None => f.write_str("None"),
            MlflowAuth::Basic { username, .. } => write!(
                f,
                "Basic {{ username: {username:?}, password: \"<redacted>\" }}"
            ),
            MlflowAuth::Bearer(_) => f.write_str("Bearer(\"<redacted>\")"),
        }
    }
}

/// Where runs are written.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// An MLflow tracking server, base URL without a trailing `/`.
    Server(String),
    /// MLflow's on-disk FileStore layout under this directory.
    Local(PathBuf),
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Server(base) => f.debug_tuple("Server").field(&redact_uri(base)).finish(),
            Destination::Local(path) => f.debug_tuple("Local").field(path).finish(),
        }
    }
}

/// Settings of the MLflow client. [`MlflowConfig::from_env`] reads the same environment
/// variables as MLflow's Python client; the builder methods override them.
///
/// ```
/// # use monitor_runtime as monitor;
/// use std::time::Duration;
/// let config = monitor::mlflow::MlflowConfig::from_env()
///     .tracking_uri("http://127.0.0.1:5000")
///     .experiment_name("skill-optimization")
///     .timeout(Duration::from_secs(30));
/// assert_eq!(config.experiment(), "skill-optimization");
/// ```
///
/// | env var | meaning | default |
/// |---|---|---|
/// | `MLFLOW_TRACKING_URI` | `http(s)://host:port`, or a `file:` URI / path of a local store | local `./mlruns` |
/// | `MLFLOW_EXPERIMENT_NAME` | experiment of new runs | `Default` |
/// | `MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD` | HTTP basic auth (wins over the token); else `~/.mlflow/credentials` | none |
/// | `MLFLOW_TRACKING_TOKEN` | bearer token | none |
/// | `MLFLOW_TRACKING_INSECURE_TLS` | `true`: do not verify the server's certificate | `false` |
/// | `MLFLOW_TRACKING_SERVER_CERT_PATH` | PEM CA bundle to verify the server with (wins over insecure) | system roots |
/// | `MLFLOW_TRACKING_CLIENT_CERT_PATH` | PEM with client certificate and key (mTLS) | none |
/// | `MLFLOW_HTTP_REQUEST_MAX_RETRIES` | retries of a failed request | 7 |
/// | `MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR` | backoff `factor * 2^(n-1)` seconds, capped at 120 | 2 |
/// | `MLFLOW_HTTP_REQUEST_BACKOFF_JITTER` | up to this many seconds added to each wait | 1.0 |
/// | `MLFLOW_HTTP_REQUEST_TIMEOUT` | seconds per request | 120 |
/// | `MONITOR_MLFLOW_SPOOL_DIR` | the spool: where records wait on disk until delivered | `~/.cache/monitor-mlflow-spool/<server or local store path>` |
/// | `MONITOR_MLFLOW_FLUSH_TIMEOUT` | seconds `flush` and the end of the last run wait | 30 |
///
/// Its `Debug` output never shows a password, whether in the auth settings or inside the
/// tracking URI (`http://user:password@host`).
#[derive(Clone)]
pub struct MlflowConfig {
    pub(crate) tracking_uri: Option<String>,
    pub(crate) experiment_name: Option<String>,
    pub(crate) auth: MlflowAuth,
    pub(crate) insecure_tls: bool,
    pub(crate) ca_bundle: Option<PathBuf>,
    pub(crate) client_cert: Option<PathBuf>,
    pub(crate) max_retries: u32,
    pub(crate) backoff_factor: f64,
    pub(crate) backoff_jitter: f64,
    pub(crate) timeout: Duration,
    pub(crate) spool_dir: Option<PathBuf>,
    pub(crate) flush_timeout: Duration,
    pub(crate) max_in_memory: usize,
}

impl fmt::Debug for MlflowConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlflowConfig")
            .field(
                "tracking_uri",
                &self.tracking_uri.as_deref().map(redact_uri),
            )
            .field("experiment_name", &self.experiment_name)
            .field("auth", &self.auth)
            .field("insecure_tls", &self.insecure_tls)
            .field("ca_bundle", &self.ca_bundle)
            .field("client_cert", &self.client_cert)
            .field("max_retries", &self.max_retries)
            .field("backoff_factor", &self.backoff_factor)
            .field("backoff_jitter", &self.backoff_jitter)
            .field("timeout", &self.timeout)
            .field("spool_dir", &self.spool_dir)
            .field("flush_timeout", &self.flush_timeout)
            .field("max_in_memory", &self.max_in_memory)
            .finish()
    }
}

impl Default for MlflowConfig {
    fn default() -> Self {
        MlflowConfig {
            tracking_uri: None,
            experiment_name: None,
            auth: MlflowAuth::None,
            insecure_tls: false,
            ca_bundle: None,
            client_cert: None,
            max_retries: 7,
            backoff_factor: 2.0,
            backoff_jitter: 1.0,
            timeout: Duration::from_secs(120),
            spool_dir: None,
            flush_timeout: Duration::from_secs(30),
            max_in_memory: 200_000,
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_bool(name: &str) -> bool {
    env(name)
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    let raw = env(name)?;
    match raw.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            crate::record::subscriber::emit!(
                tracing::warn!(target: "monitor::mlflow", "ignoring {name}={raw:?}: not a number")
            );
            None
        }
    }
}

/// `~/.mlflow/credentials`, section `[mlflow]`, keys `mlflow_tracking_username/password`.
fn credentials_file() -> Option<(String, String)> {
    let home = env("HOME").or_else(|| env("USERPROFILE"))?;
    let text =
        std::fs::read_to_string(PathBuf::from(home).join(".mlflow").join("credentials")).ok()?;
    let (mut in_section, mut user, mut pass) = (false, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[mlflow]";
        } else if let (true, Some((k, v))) = (in_section, line.split_once('=')) {
            match k.trim() {
                "mlflow_tracking_username" => user = Some(v.trim().to_owned()),
                "mlflow_tracking_password" => pass = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    Some((user?, pass?))
}

impl MlflowConfig {
    /// Settings from the environment variables listed above, defaults elsewhere.
    pub fn from_env() -> Self {
        let d = MlflowConfig::default();
        let auth = match (
            env("MLFLOW_TRACKING_USERNAME"),
            env("MLFLOW_TRACKING_PASSWORD"),
        ) {
            (Some(username), Some(password)) => MlflowAuth::Basic { username, password },
            _ => match credentials_file() {
                Some((username, password)) => MlflowAuth::Basic { username, password },
                None => env("MLFLOW_TRACKING_TOKEN").map_or(MlflowAuth::None, MlflowAuth::Bearer),
            },
        };
        MlflowConfig {
            tracking_uri: env("MLFLOW_TRACKING_URI"),
            experiment_name: env("MLFLOW_EXPERIMENT_NAME"),
            auth,
            insecure_tls: env_bool("MLFLOW_TRACKING_INSECURE_TLS"),
            ca_bundle: env("MLFLOW_TRACKING_SERVER_CERT_PATH").map(PathBuf::from),
            client_cert: env("MLFLOW_TRACKING_CLIENT_CERT_PATH").map(PathBuf::from),
            max_retries: env_parse::<u32>("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
                .map_or(d.max_retries, |n| n.min(10)),
            backoff_factor: env_parse::<f64>("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")
                .map_or(d.backoff_factor, |f| f.clamp(0.0, 120.0)),
            backoff_jitter: env_parse::<f64>("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER")
                .map_or(d.backoff_jitter, |j| j.max(0.0)),
            timeout: env_parse::<f64>("MLFLOW_HTTP_REQUEST_TIMEOUT")
                .filter(|s| *s > 0.0)
                .map_or(d.timeout, crate::deadline::seconds),
            spool_dir: env("MONITOR_MLFLOW_SPOOL_DIR").map(PathBuf::from),
            flush_timeout: env_parse::<f64>("MONITOR_MLFLOW_FLUSH_TIMEOUT")
                .filter(|s| *s >= 0.0)
                .map_or(d.flush_timeout, crate::deadline::seconds),
            max_in_memory: d.max_in_memory,
        }
    }

    /// Sends runs to this tracking server (`http://host:port`) or writes them to this local
    /// store (`file:///abs/mlruns` or a plain path).
    pub fn tracking_uri(mut self, uri: impl Into<String>) -> Self {
        self.tracking_uri = Some(uri.into());
        self
    }

    /// Writes runs to the local store, even if `MLFLOW_TRACKING_URI` is set.
    pub fn local_store(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tracking_uri = Some(format!("file://{}", absolute(dir.into()).display()));
        self
    }

    /// The experiment new runs go to (got or created by name).
    pub fn experiment_name(mut self, name: impl Into<String>) -> Self {
        self.experiment_name = Some(name.into());
        self
    }

    /// Authentication, overriding the env vars.
    pub fn auth(mut self, auth: MlflowAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Skips verification of the server's TLS certificate.
    pub fn insecure_tls(mut self, insecure: bool) -> Self {
        self.insecure_tls = insecure;
        self
    }

    /// Verifies the server's TLS certificate with this PEM CA bundle.
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// Retries of a failed request before the records wait on disk (MLflow: 7, at most 10).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries.min(10);
        self
    }

    /// Backoff factor and jitter in seconds: retry `n` waits `factor * 2^(n-1) + U(0, jitter)`
    /// (the first retry at once), capped at 120 s, as MLflow's client.
    pub fn backoff(mut self, factor: f64, jitter: f64) -> Self {
        self.backoff_factor = factor.clamp(0.0, 120.0);
        self.backoff_jitter = jitter.max(0.0);
        self
    }

    /// Timeout of one request (connect and read).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The directory where records that cannot be delivered yet wait on disk.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// How long `flush` and the end of the last run wait for delivery.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Records kept in memory when the spool cannot be written (a full disk); past this
    /// many, new records are dropped and counted in [`FlushReport::dropped`]. Also bounds
    /// what delivery reads from the spool at a time.
    ///
    /// [`FlushReport::dropped`]: crate::mlflow::FlushReport::dropped
    pub fn max_in_memory(mut self, records: usize) -> Self {
        self.max_in_memory = records.max(1);
        self
    }

    /// The experiment of new runs: the configured name, else `Default`.
    pub fn experiment(&self) -> &str {
        self.experiment_name.as_deref().unwrap_or("Default")
    }

    /// The tracking URI, if one is set.
    pub fn tracking_uri_str(&self) -> Option<&str> {
        self.tracking_uri.as_deref()
    }

    pub(crate) fn destination(&self) -> Result<Destination> {
        let Some(uri) = self.tracking_uri.as_deref().map(str::trim) else {
            return Ok(Destination::Local(absolute(PathBuf::from("mlruns"))));
        };
        if uri.starts_with("http://") || uri.starts_with("https://") {
            return Ok(Destination::Server(uri.trim_end_matches('/').to_owned()));
        }
        if let Some(path) = uri.strip_prefix("file://") {
            return Ok(Destination::Local(PathBuf::from(path)));
        }
        if let Some(path) = uri.strip_prefix("file:") {
            return Ok(Destination::Local(absolute(PathBuf::from(path))));
        }
        if uri.contains("://") || uri.starts_with("sqlite:") || uri.starts_with("databricks") {
            return Err(Error::Mlflow(format!(
                "tracking uri scheme of {:?} is not supported; use http(s)://host:port or a local directory",
                redact_uri(uri)
            )));
        }
        Ok(Destination::Local(absolute(PathBuf::from(uri))))
    }

    pub(crate) fn spool_directory(&self, dest: &Destination) -> PathBuf {
        if let Some(dir) = &self.spool_dir {
            return dir.clone();
        }
        // One directory per destination: records left by a process that died go where they
        // were meant for. Never inside a local store, whose every directory MLflow reads as an
        // experiment.
        let name = match dest {
            Destination::Local(root) => format!("local{}", root.display()),
            Destination::Server(base) => redact_uri(base),
        };
        cache_dir().join("monitor-mlflow-spool").join(
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>(),
        )
    }
}

/// `$XDG_CACHE_HOME`, else `~/.cache`, else the temp dir: somewhere that outlives the process
/// (and, unlike the temp dir, usually a reboot).
fn cache_dir() -> PathBuf {
    env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(&path))
            .unwrap_or(path)
    }
}

/// The URI with the credentials of any `user:password@` (and secret query parameters)
/// masked, for messages and `Debug`.
pub(crate) fn redact_uri(uri: &str) -> String {
    crate::capture::mask_url_credentials(uri).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let auth = MlflowAuth::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(!format!("{:?}", MlflowAuth::Bearer("tok-123".into())).contains("tok-123"));
        let masked = redact_uri("http://u:hunter3@host:5000");
        assert!(
            !masked.contains("hunter3") && masked.contains("host:5000"),
            "{masked}"
        );
        let config = MlflowConfig::default().tracking_uri("https://alice:hunter4@mlflow.example");
        assert!(!format!("{config:?}").contains("hunter4"));
        let dest = config.destination().unwrap();
        assert!(!format!("{dest:?}").contains("hunter4"));
    }

    #[test]
    fn destinations() {
        let c = MlflowConfig::default().tracking_uri("http://127.0.0.1:5000/");
        assert_eq!(
            c.destination().unwrap(),
            Destination::Server("http://127.0.0.1:5000".into())
        );
        let c = MlflowConfig::default().tracking_uri("file:///tmp/x");
        assert_eq!(
            c.destination().unwrap(),
            Destination::Local("/tmp/x".into())
        );
        assert!(MlflowConfig::default()
            .tracking_uri("sqlite:///m.db")
            .destination()
            .is_err());
    }
}
