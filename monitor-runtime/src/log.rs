//! Log lines for finished calls, through `tracing`.
//!
//! `MONITORING_LOG_LEVEL` (`trace`, `debug`, `info`, `warn`, `error`; unset or `off`: none)
//! sets the default: every finished call emits one event at that level, target `monitor`,
//! with the fields `module`, `status`, `duration_ms` and `error`. `#[monitored(level = "..")]`
//! emits its own event instead, with the target `monitor::<module>`, so `RUST_LOG`-style
//! filters can raise or lower one module.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::entry::Status;

const UNREAD: u8 = u8::MAX;
const OFF: u8 = 0;

/// The default level: `UNREAD` until the environment is read, then `OFF` or 1 (error) to
/// 5 (trace).
static DEFAULT_LEVEL: AtomicU8 = AtomicU8::new(UNREAD);

fn parse_level(text: &str) -> u8 {
    match text.trim().to_ascii_lowercase().as_str() {
        "error" => 1,
        "warn" | "warning" => 2,
        "info" => 3,
        "debug" => 4,
        "trace" => 5,
        _ => OFF,
    }
}

/// The default level, reading `MONITORING_LOG_LEVEL` once.
#[inline]
fn default_level() -> u8 {
    let level = DEFAULT_LEVEL.load(Ordering::Relaxed);
    if level != UNREAD {
        return level;
    }
    let level = std::env::var("MONITORING_LOG_LEVEL").map_or(OFF, |text| parse_level(&text));
    DEFAULT_LEVEL.store(level, Ordering::Relaxed);
    level
}

/// `true` when `MONITORING_LOG_LEVEL` asks for a log line per finished call.
#[inline]
pub(crate) fn enabled() -> bool {
    default_level() != OFF
}

/// Emits the default log line of a finished call (check [`enabled`] first).
#[cold]
pub(crate) fn call_finished(module: &str, status: Status, duration_ns: u64, error: Option<&str>) {
    let level = default_level();
    let duration_ms = duration_ns as f64 / 1e6;
    let error = error.unwrap_or("");
    let status = format!("{status:?}").to_lowercase();
    // `tracing` wants a level known at compile time: one call site per level.
    macro_rules! event_at {
        ($level:ident) => {
            tracing::event!(target: "monitor", tracing::Level::$level, module, status, duration_ms, error, "monitored call finished")
        };
    }
    match level {
        OFF => {}
        1 => event_at!(ERROR),
        2 => event_at!(WARN),
        3 => event_at!(INFO),
        4 => event_at!(DEBUG),
        _ => event_at!(TRACE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_as_tracing_names_them() {
        assert_eq!(parse_level("DEBUG"), 4);
        assert_eq!(parse_level(" warn "), 2);
        assert_eq!(parse_level("off"), OFF);
        assert_eq!(parse_level("verbose"), OFF);
    }
}
