//! HTTP details shared by the clients that talk to servers (MLflow, OTLP endpoints).

// May call: nothing of the crate: a leaf.

use std::time::Duration;

/// The longest `Retry-After` honoured (a larger one is a misconfigured server).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// A `Retry-After` header value in seconds (the HTTP-date form is not used by MLflow, OTLP
/// collectors or the proxies in front of them, and is ignored).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}
