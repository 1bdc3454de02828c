//! When to try again: MLflow's client's backoff, and the server's `Retry-After`.

use std::time::Duration;

use crate::error::Error;
pub(crate) use crate::http::parse_retry_after;

/// The longest wait between two retries, as urllib3.
const MAX_BACKOFF: f64 = 120.0;

/// A failed attempt that may succeed later.
#[derive(Debug)]
pub(crate) struct Retry {
    pub(crate) error: Error,
    /// The server asked to wait this long (`Retry-After`).
    pub(crate) after: Option<Duration>,
    /// The server may have applied the request before the answer was lost (a timeout
    /// after sending, a 500 or a gateway error), so a resend could duplicate metric points.
    pub(crate) maybe_applied: bool,
}

impl Retry {
    /// A failure that left nothing on the server (connection refused, 503, 429).
    pub(crate) fn not_applied(error: Error) -> Self {
        Retry {
            error,
            after: None,
            maybe_applied: false,
        }
    }
}

/// MLflow's wait before retry number `n` (1-based): none for the first, then
/// `factor * 2^(n-1) + U(0, jitter)`, at most 120 s.
pub(crate) fn backoff(n: u32, factor: f64, jitter: f64) -> Duration {
    if n <= 1 {
        return Duration::ZERO;
    }
    let base = (factor * f64::from(1u32 << (n - 1).min(20))).min(MAX_BACKOFF);
    Duration::from_secs_f64((base + jitter * random_unit()).min(MAX_BACKOFF))
}

/// The wait before the next attempt: the server's `Retry-After` when it gave one (as
/// MLflow's client, `MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER`), else the backoff.
pub(crate) fn wait_before(
    n: u32,
    factor: f64,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Duration {
    match retry_after {
        Some(after) => after,
        None => backoff(n, factor, jitter),
    }
}

/// A number in `[0, 1)` from a cheap process-local generator (jitter only).
fn random_unit() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = uuid::Uuid::new_v4().as_u64_pair().0 | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_mlflow() {
        assert_eq!(backoff(1, 2.0, 0.0), Duration::ZERO);
        assert_eq!(backoff(2, 2.0, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(3, 2.0, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(9, 2.0, 1.0), Duration::from_secs(120));
        let j = backoff(2, 1.0, 1.0);
        assert!(j >= Duration::from_secs(2) && j < Duration::from_secs(3));
    }

    #[test]
    fn retry_after_wins_over_the_backoff() {
        assert_eq!(parse_retry_after(" 10 "), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(
            wait_before(1, 2.0, 1.0, Some(Duration::from_secs(10))),
            Duration::from_secs(10)
        );
    }
}
