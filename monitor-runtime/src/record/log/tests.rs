//! Unit tests of the log line: levels, targets, and what a line carries at each level.

use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};

use super::*;
use crate::capture::CapturedValue;

/// Renders the fields of an event as `name=value` pairs (for tests and `Debug` views).
fn render(event: &Event<'_>) -> String {
    use std::fmt::Write as _;
    struct Render(String);
    impl tracing::field::Visit for Render {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={:?} ", field.name(), value);
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            let _ = write!(self.0, "{}={} ", field.name(), value);
        }
    }
    let mut render = Render(String::new());
    event.record(&mut render);
    render.0.trim_end().to_owned()
}

#[test]
fn levels_parse_as_tracing_names_them() {
    assert_eq!(parse_level("DEBUG"), 4);
    assert_eq!(parse_level(" warn "), 2);
    assert_eq!(parse_level("off"), OFF);
    assert_eq!(parse_level("verbose"), OFF);
}

#[test]
fn targets_are_paths_env_filter_parses() {
    assert_eq!(target_of("retrieve"), "monitor::retrieve");
    assert_eq!(target_of("Agent::act"), "monitor::Agent::act");
    assert_eq!(
        target_of("<Agent as Module>::forward"),
        "monitor::Agent::Module::forward"
    );
    assert_eq!(
        target_of("skill-generator v2.1"),
        "monitor::skill_generator_v2_1"
    );
}

/// Keeps every event at or above `max`: (target, level, fields).
#[derive(Clone)]
struct Collect {
    max: Level,
    events: Arc<Mutex<Vec<(String, Level, String)>>>,
}

impl Subscriber for Collect {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        self.events
            .lock()
            .unwrap()
            .push((meta.target().to_owned(), *meta.level(), render(event)));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn collect(max: Level, f: impl FnOnce()) -> Vec<(String, Level, String)> {
    let collect = Collect {
        max,
        events: Arc::default(),
    };
    tracing::subscriber::with_default(collect.clone(), f);
    let events = collect.events.lock().unwrap().clone();
    events
}

fn call<'a>(
    module: &str,
    status: Status,
    values: Option<&'a CapturedValues>,
    tokens: Option<&'a TokenUsage>,
) -> Finished<'a> {
    Finished {
        module: crate::record::callsite::intern(module),
        status,
        duration_ns: 1_500_000,
        error: (status != Status::Success).then_some("model timed out"),
        quality: (status == Status::Success).then_some(0.75),
        tokens,
        values,
    }
}

// The module levels used here are the module's own, so that these tests do not depend
// on `MONITORING_LOG_LEVEL`.
#[test]
fn a_line_carries_what_its_level_shows() {
    set_module_level("log::tests::lines", Level::DEBUG);
    let mut inputs = CapturedValues::default();
    inputs.push_input("query", &CapturedValue::Json("\"q\"".into()));
    let mut with_output = inputs.clone();
    with_output.set_output(&CapturedValue::Json("[1,2]".into()));
    let tokens = TokenUsage::new(10, 5);
    let success = call(
        "log::tests::lines",
        Status::Success,
        Some(&with_output),
        Some(&tokens),
    );
    let failure = call("log::tests::lines", Status::Error, Some(&inputs), None);

    let info = collect(Level::INFO, || {
        finished(&success);
        finished(&failure);
    });
    assert_eq!(
        info,
        [
            (
                "monitor::log::tests::lines".to_owned(),
                Level::INFO,
                "message=call finished module=log::tests::lines status=success \
                 duration_ms=1.5 quality=0.75 input_tokens=10 output_tokens=5 total_tokens=15"
                    .to_owned()
            ),
            (
                "monitor::log::tests::lines".to_owned(),
                Level::WARN,
                "message=call failed module=log::tests::lines status=error duration_ms=1.5 \
                 error=model timed out"
                    .to_owned()
            ),
        ]
    );

    let debug = collect(Level::DEBUG, || {
        finished(&success);
        finished(&failure);
    });
    assert_eq!(debug[0].1, Level::DEBUG);
    assert_eq!(
        debug[0].2,
        "message=call finished module=log::tests::lines status=success duration_ms=1.5 \
         quality=0.75 input_tokens=10 output_tokens=5 total_tokens=15 \
         inputs={\"query\":\"q\"} outputs=[1,2]"
    );
    assert_eq!(debug[1].1, Level::WARN);
    assert!(
        debug[1].2.contains("inputs={\"query\":\"q\"}"),
        "{}",
        debug[1].2
    );
}

#[test]
fn a_module_level_is_a_threshold() {
    set_module_level("log::tests::warn_only", Level::WARN);
    let events = collect(Level::TRACE, || {
        finished(&call("log::tests::warn_only", Status::Success, None, None));
        finished(&call("log::tests::warn_only", Status::Panic, None, None));
    });
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1, Level::WARN);
    assert!(events[0].2.contains("status=panic"), "{}", events[0].2);
}
