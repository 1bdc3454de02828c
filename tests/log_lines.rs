//! `MONITORING_LOG_LEVEL` alone (no filter in the subscriber) sets which log lines every
//! module emits, each under its own target. One level per process: the variable is read
//! once, so this file sets `info` (the seed's value) and `log_targets.rs` sets `debug`.

mod logs;

use logs::lines;
use monitor::ExecutionTracer;
use tracing::Level;

fn info_by_default() {
    static SET: std::sync::Once = std::sync::Once::new();
    // SAFETY (edition 2024 would ask): set once, before any call reads it.
    SET.call_once(|| std::env::set_var("MONITORING_LOG_LEVEL", "info"));
}

#[test]
fn the_default_level_logs_every_finished_call_up_to_info() {
    info_by_default();
    let lines = lines(None, || {
        let tracer = ExecutionTracer::new();
        tracer.trace("retrieve", ()).finish();
        let mut failing = tracer.trace("generate", ());
        failing.fail(&std::io::Error::other("model timed out"));
        drop(failing);
        tracer.trace("Agent::act", ()).finish();
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

#[test]
fn the_seed_configuration_raises_one_module_over_the_default() {
    // `export MONITORING_LOG_LEVEL=INFO` and the two `setLevel` calls of the seed.
    info_by_default();
    let tracer = ExecutionTracer::new();
    let run = || {
        tracer.trace("skill_generator", ()).finish();
        tracer.trace("retriever", ()).finish();
    };
    let lines_of = |filter| {
        lines(Some(filter), run)
            .into_iter()
            .map(|line| (line.target, line.level))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lines_of("monitor=info,monitor::skill_generator=debug"),
        [
            ("monitor::skill_generator".to_owned(), Level::DEBUG),
            ("monitor::retriever".to_owned(), Level::INFO),
        ]
    );
    // The whole hierarchy raised, as `setLevel(DEBUG)` on the parent logger.
    assert_eq!(
        lines_of("monitor=debug"),
        [
            ("monitor::skill_generator".to_owned(), Level::DEBUG),
            ("monitor::retriever".to_owned(), Level::DEBUG),
        ]
    );
    // A blanket `debug` speaks of no module: the default holds, as a root logger at DEBUG
    // leaves a child logger set to INFO at INFO.
    assert_eq!(
        lines_of("debug"),
        [
            ("monitor::skill_generator".to_owned(), Level::INFO),
            ("monitor::retriever".to_owned(), Level::INFO),
        ]
    );
    // Lowered: one module off, the rest at WARN.
    assert!(lines_of("monitor=warn,monitor::retriever=off").is_empty());
}
