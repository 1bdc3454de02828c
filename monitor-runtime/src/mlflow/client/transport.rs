//! One HTTP request to the server, MLflow's retries around it, and the helpers of the wire
//! (percent-encoding, reading a JSON field).

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

use super::MlflowClient;
use crate::error::{Error, Result};
use crate::mlflow::nonblocking::outside_runtime;
use crate::mlflow::retry::{parse_retry_after, wait_before, Retry};

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

impl MlflowClient {
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
        outside_runtime(
            || self.attempt(method, path, body, headers),
            // Nothing was sent: the next attempt may find a thread.
            |reason| {
                Err(Failure::Retryable(Retry {
                    error: Error::Mlflow(reason),
                    after: None,
                    maybe_applied: false,
                }))
            },
        )
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
                    crate::record::subscriber::emit!(
                        tracing::debug!(target: "monitor::mlflow", "retry {attempt} of {path}: {}", r.error)
                    );
                    std::thread::sleep(self.wait(attempt, &r));
                }
                Err(f) => return Err(f.into_error()),
            }
        }
    }

    /// The wait before retry `attempt` after failure `r`.
    pub(super) fn wait(&self, attempt: u32, r: &Retry) -> Duration {
        wait_before(attempt, self.backoff_factor, self.backoff_jitter, r.after)
    }

    pub(super) fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let mut url = path.to_owned();
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(v, false));
        }
        self.call(Method::GET, &url, None)
    }
}

pub(super) fn str_field(v: &Value, key: &str) -> String {
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
