//! `MONITORING_LOG_LEVEL` alone (no filter in the subscriber) sets which log lines every
//! module emits, each under its own target. One level per process: the variable is read
//! once, so this file sets `info` and `log_targets.rs` sets `debug`.

mod logs;

use logs::lines;
use monitor::ExecutionTracer;
use tracing::Level;

#[test]
fn the_default_level_logs_every_finished_call_up_to_info() {
    // SAFETY (edition 2024 would ask): no other thread reads the environment yet.
    std::env::set_var("MONITORING_LOG_LEVEL", "info");
    let lines = lines(None, || {
        let tracer = ExecutionTracer::new();
        drop(tracer.trace("retrieve", ()));
        let mut failing = tracer.trace("generate", ());
        failing.fail(&std::io::Error::other("model timed out"));
        drop(failing);
        drop(tracer.trace("Agent::act", ()));
    });

    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0].target, "monitor::retrieve");
    assert_eq!(
        lines[0].level,
        Level::INFO,
        "the subscriber takes DEBUG, the level is INFO"
    );
    assert_eq!(lines[0].field("module"), Some("retrieve"));
    assert_eq!(lines[0].field("status"), Some("success"));
    assert!(lines[0].field("duration_ms").is_some(), "{:?}", lines[0]);
    assert_eq!(lines[0].field("error"), None);

    assert_eq!(lines[1].target, "monitor::generate");
    assert_eq!(lines[1].level, Level::WARN);
    assert_eq!(lines[1].field("status"), Some("error"));
    assert_eq!(lines[1].field("error"), Some("model timed out"));

    assert_eq!(lines[2].target, "monitor::Agent::act");
}
