//! Deadlines from waits that a user, the environment or a server chose, which may be
//! longer than the clock can add: `Instant + Duration::MAX` panics, and a panic here would
//! be in the caller's thread (a flush) or stop a worker.

// May call: nothing of the crate: a leaf.

use std::time::{Duration, Instant};

/// About a century: what "never" means for a wait the clock cannot add.
const FAR_AHEAD: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The moment `wait` from now, or about a century ahead when `wait` is longer than that.
pub(crate) fn after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(bounded(wait)).unwrap_or(now)
}

/// `wait`, or about a century when longer: what a library that adds a timeout to the time
/// now (`reqwest`, `tokio`) can take.
#[cfg_attr(not(any(feature = "mlflow", feature = "otlp")), allow(dead_code))]
pub(crate) fn bounded(wait: Duration) -> Duration {
    wait.min(FAR_AHEAD)
}

/// A positive number of seconds (from an environment variable) as a duration: the longest
/// duration for one too large to hold (`inf`, `1e300`).
#[cfg_attr(not(feature = "mlflow"), allow(dead_code))]
pub(crate) fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_too_long_for_the_clock_mean_far_ahead() {
        let soon = after(Duration::from_secs(1));
        assert!(soon > Instant::now());
        let never = after(Duration::MAX);
        assert!(never > Instant::now() + Duration::from_secs(50 * 365 * 24 * 3600));
        assert_eq!(seconds(f64::INFINITY), Duration::MAX);
        assert_eq!(seconds(1e300), Duration::MAX);
        assert_eq!(seconds(1.5), Duration::from_millis(1500));
    }
}
