//! Per-module log levels, as the seed's `logging.getLogger("…monitoring.<module>")` gives:
//! each module logs under its own target `monitor::<module>`, so `EnvFilter` directives
//! (`RUST_LOG`) raise or lower all modules or one. `MONITORING_LOG_LEVEL=debug` here, set
//! before any call (it is read once per process): every module may log up to DEBUG, and the
//! filter decides.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;
mod logs;

use common::traced;
use logs::{lines, Line};
use monitor::{monitored, ExecutionTracer};
use tracing::Level;

fn debug_by_default() {
    static SET: std::sync::Once = std::sync::Once::new();
    // SAFETY (edition 2024 would ask): set once, before any monitored call reads it.
    SET.call_once(|| std::env::set_var("MONITORING_LOG_LEVEL", "debug"));
}

#[monitored]
fn skill_generator(task: &str) -> Result<String, String> {
    if task.is_empty() {
        return Err("empty task".into());
    }
    Ok(format!("# {task}"))
}

#[monitored]
fn retriever(query: &str) -> usize {
    query.len()
}

#[monitored(name = "skill-fleet.judge")]
fn judge(answer: &str) -> bool {
    !answer.is_empty()
}

fn line_of<'a>(lines: &'a [Line], target: &str) -> &'a Line {
    let found: Vec<&Line> = lines.iter().filter(|l| l.target == target).collect();
    assert_eq!(found.len(), 1, "one event of {target} in {lines:#?}");
    found[0]
}

#[test]
fn all_modules_at_info_and_one_at_debug() {
    debug_by_default();
    let lines = lines(Some("monitor=info,monitor::skill_generator=debug"), || {
        traced(|| {
            let _ = skill_generator("plan");
            let _ = retriever("q");
            let _ = judge("yes");
        });
    });
    assert_eq!(lines.len(), 3, "{lines:#?}");

    let generator = line_of(&lines, "monitor::skill_generator");
    assert_eq!(generator.level, Level::DEBUG);
    assert_eq!(generator.field("module"), Some("skill_generator"));
    assert_eq!(generator.field("status"), Some("success"));
    let duration: f64 = generator.field("duration_ms").unwrap().parse().unwrap();
    assert!(duration >= 0.0);

    let retrieved = line_of(&lines, "monitor::retriever");
    assert_eq!(retrieved.level, Level::INFO);
    assert_eq!(retrieved.field("status"), Some("success"));
    assert!(retrieved.field("duration_ms").is_some(), "{retrieved:?}");
    assert_eq!(
        retrieved.field("inputs"),
        None,
        "INFO lines carry no inputs"
    );

    // A name given by hand, made target-safe.
    let judged = line_of(&lines, "monitor::skill_fleet_judge");
    assert_eq!(judged.level, Level::INFO);
    assert_eq!(judged.field("module"), Some("skill-fleet.judge"));
}

#[test]
fn errors_log_at_warn_with_their_message() {
    debug_by_default();
    let lines = lines(Some("monitor=info"), || {
        traced(|| {
            let _ = skill_generator("");
        });
    });
    let failed = line_of(&lines, "monitor::skill_generator");
    assert_eq!(failed.level, Level::WARN);
    assert_eq!(failed.field("status"), Some("error"));
    assert_eq!(failed.field("error"), Some("empty task"));
    assert!(failed.field("duration_ms").is_some(), "{failed:?}");
}

#[monitored]
fn chatty(n: u32) -> u32 {
    n + 1
}

#[test]
fn one_module_silenced() {
    debug_by_default();
    let lines = lines(Some("monitor=debug,monitor::chatty=off"), || {
        traced(|| {
            for n in 0..3 {
                let _ = chatty(n);
            }
            let _ = retriever("abc");
        });
    });
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0].target, "monitor::retriever");
    assert_eq!(lines[0].level, Level::DEBUG);
}

#[test]
fn no_directive_for_monitor_no_lines() {
    debug_by_default();
    let lines = lines(Some("warn,other_crate=debug"), || {
        traced(|| {
            let _ = retriever("abc");
        });
    });
    assert!(lines.is_empty(), "{lines:#?}");
}

trait Module {
    fn forward(&self, input: &str) -> String;
}

struct Agent;

#[monitored]
impl Agent {
    fn plan(&self) -> u8 {
        1
    }
}

#[monitored]
impl Module for Agent {
    fn forward(&self, input: &str) -> String {
        input.to_uppercase()
    }
}

#[test]
fn a_type_filters_all_its_methods_trait_methods_included() {
    debug_by_default();
    let lines = lines(Some("monitor=warn,monitor::Agent=info"), || {
        traced(|| {
            let _ = Agent.plan();
            let _ = Agent.forward("x");
            let _ = retriever("filtered out: warn only");
        });
    });
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(line_of(&lines, "monitor::Agent::plan").level, Level::INFO);
    let forward = line_of(&lines, "monitor::Agent::Module::forward");
    assert_eq!(forward.level, Level::INFO);
    assert_eq!(forward.field("module"), Some("<Agent as Module>::forward"));
}

#[monitored(level = "warn")]
fn quiet_unless_failing(fail: bool) -> Result<(), String> {
    if fail {
        Err("it failed".into())
    } else {
        Ok(())
    }
}

#[monitored(level = "info")]
fn never_debug(n: u8) -> u8 {
    n
}

#[test]
fn the_attribute_level_wins_over_the_default() {
    debug_by_default();
    let lines = lines(Some("monitor=debug"), || {
        traced(|| {
            let _ = quiet_unless_failing(false);
            let _ = quiet_unless_failing(true);
            let _ = never_debug(1);
        });
    });
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0].target, "monitor::quiet_unless_failing");
    assert_eq!(lines[0].level, Level::WARN);
    assert_eq!(lines[0].field("error"), Some("it failed"));
    assert_eq!(lines[1].target, "monitor::never_debug");
    assert_eq!(lines[1].level, Level::INFO);
}

#[test]
fn names_known_only_at_run_time_log_under_their_own_target() {
    debug_by_default();
    let tracer = ExecutionTracer::new();
    let lines = lines(Some("monitor=off,monitor::rerank=info"), || {
        tracer.trace("rerank", ()).finish();
        tracer.trace("embed", ()).finish();
    });
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0].target, "monitor::rerank");
    assert_eq!(lines[0].field("module"), Some("rerank"));
}

#[allow(clippy::ptr_arg)] // a quality function gets `&T` of the output
fn score(answer: &String) -> f64 {
    answer.len() as f64 / 10.0
}

#[monitored(quality = score)]
fn generate(prompt: &str, api_key: &str) -> String {
    let _ = api_key;
    monitor::record_tokens(monitor::TokenUsage::new(12, 3));
    format!("re: {prompt}")
}

#[test]
fn lines_carry_quality_tokens_and_at_debug_the_captured_values() {
    debug_by_default();
    let lines = lines(Some("monitor=info,monitor::generate=debug"), || {
        traced(|| generate("hi", "sk-secret-value"));
    });
    let line = line_of(&lines, "monitor::generate");
    assert_eq!(line.level, Level::DEBUG);
    assert_eq!(line.field("quality"), Some("0.6"));
    assert_eq!(line.field("input_tokens"), Some("12"));
    assert_eq!(line.field("total_tokens"), Some("15"));
    let inputs = line.field("inputs").expect("DEBUG lines carry inputs");
    assert!(inputs.contains("\"prompt\":\"hi\""), "{inputs}");
    assert!(
        !inputs.contains("sk-secret-value"),
        "secrets stay redacted: {inputs}"
    );
    assert_eq!(line.field("outputs"), Some("\"re: hi\""));
}

#[test]
fn a_module_monitor_takes_a_log_level_as_the_seed_does() {
    debug_by_default();
    let tracer = ExecutionTracer::new();
    let generator = monitor::ModuleMonitor::new("seed_generator", |task: &str| task.len())
        .with_tracer(&tracer)
        .with_log_level(Level::WARN);
    let lines = lines(Some("monitor=debug"), || {
        generator.call("quiet");
    });
    assert!(
        lines.iter().all(|l| l.target != "monitor::seed_generator"),
        "WARN level: a success logs nothing, {lines:#?}"
    );
    assert_eq!(tracer.module_metrics("seed_generator").total_executions, 1);
}
