//! `level = "..."`: the module's own log level, over `MONITORING_LOG_LEVEL` (unset in
//! this process), as `log_level=` on the seed's `ModuleMonitor`: successful calls log at
//! INFO (DEBUG when the level and the filter allow it), failed ones at WARN, with the
//! target `monitor::<name>` so that per-module filters (`RUST_LOG=monitor::retrieve=debug`)
//! work.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;
mod logs;

use common::traced;
use logs::lines;
use monitor::monitored;
use tracing::Level;

#[monitored(level = "debug")]
fn retrieve(query: &str) -> Result<usize, String> {
    if query.is_empty() {
        return Err("empty query".into());
    }
    Ok(query.len())
}

#[monitored(name = "rank", level = "warn")]
fn ranked() -> u8 {
    1
}

#[monitored(name = "rank.failing", level = "warn")]
fn ranked_failing() -> Result<u8, String> {
    Err("no candidates".into())
}

#[monitored]
fn silent() -> u8 {
    0
}

trait Module {
    fn forward(&self) -> u8;
}

struct Agent;

#[monitored(level = "info")]
impl Module for Agent {
    fn forward(&self) -> u8 {
        1
    }
}

#[test]
fn each_module_logs_up_to_its_own_level() {
    let lines = lines(None, || {
        traced(|| {
            let _ = retrieve("abc");
            let _ = retrieve("");
            ranked();
            let _ = ranked_failing();
            silent();
            Agent.forward();
        });
    });
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(lines[0].target, "monitor::retrieve");
    assert_eq!(lines[0].level, Level::DEBUG);
    assert_eq!(lines[0].field("module"), Some("retrieve"));
    assert_eq!(lines[0].field("status"), Some("success"));
    assert!(lines[0].field("duration_ms").is_some(), "{:?}", lines[0]);

    assert_eq!(lines[1].target, "monitor::retrieve");
    assert_eq!(lines[1].level, Level::WARN);
    assert_eq!(lines[1].field("error"), Some("empty query"));

    // `rank` at WARN: its success is not logged, a failure is.
    assert_eq!(lines[2].target, "monitor::rank_failing");
    assert_eq!(lines[2].level, Level::WARN);
    assert_eq!(lines[2].field("error"), Some("no candidates"));

    // Trait methods filter under their type, then their trait.
    assert_eq!(lines[3].target, "monitor::Agent::Module::forward");
    assert_eq!(lines[3].level, Level::INFO);
    assert_eq!(lines[3].field("module"), Some("<Agent as Module>::forward"));
}
