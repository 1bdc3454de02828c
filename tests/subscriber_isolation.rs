//! A `tracing` subscriber is user code that monitoring calls on a monitored call's behalf:
//! its log line, its span (feature `tracing-spans`), monitoring's own warnings. Whatever a
//! layer does there, panic or call monitored code, the call returns or unwinds as the plain
//! one, the panic is counted, and the process never deadlocks. Each case runs in a child
//! process of its own, killed if it has not ended within a deadline.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::{check_in_child_within, is_child};
use monitor::{monitored, ExecutionTracer, Status};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Generous: each case takes well under a second when nothing hangs.
const DEADLINE: Duration = Duration::from_secs(60);

#[monitored]
fn alert(message: &str) -> usize {
    message.len()
}

#[monitored]
fn seven() -> u32 {
    7
}

#[monitored]
fn explodes() -> u32 {
    panic!("the call's own panic")
}

fn from_monitoring(target: &str) -> bool {
    target == "monitor" || target.starts_with("monitor::")
}

/// An alerting layer: calls monitored code for every event monitoring emits (its warnings
/// and the log lines of calls, among them the lines of its own calls).
struct Alerting;

impl<S: Subscriber> Layer<S> for Alerting {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if from_monitoring(event.metadata().target()) {
            alert("monitoring said something");
        }
    }
}

#[test]
fn an_alerting_layer_on_the_module_limit_warning_never_deadlocks() {
    const NAME: &str = "an_alerting_layer_on_the_module_limit_warning_never_deadlocks";
    if !is_child(NAME) {
        return check_in_child_within(NAME, &[], DEADLINE);
    }
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(Alerting));
    let tracer = ExecutionTracer::with_max_traces(10);
    // The name past the limit makes monitoring warn; the layer then calls `alert`, whose
    // first call registers its own module name.
    for module in 0..=monitor::MAX_MODULES {
        tracer.trace(&format!("module_{module}"), ()).finish();
    }
    assert_eq!(
        tracer.get_metrics().total_executions as usize,
        monitor::MAX_MODULES + 1
    );
    let alerts = monitor::global_tracer().get_metrics().total_executions;
    assert_eq!(alerts, 1, "the layer's own call is recorded");
    println!("child finished");
}

#[test]
fn a_layer_calling_monitored_code_on_every_log_line_works() {
    const NAME: &str = "a_layer_calling_monitored_code_on_every_log_line_works";
    if !is_child(NAME) {
        return check_in_child_within(NAME, &[("MONITORING_LOG_LEVEL", "info")], DEADLINE);
    }
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(Alerting));
    let tracer = ExecutionTracer::new();
    let answer = monitor::with_tracer(&tracer, seven);
    assert_eq!(answer, 7);
    // `seven`'s line made the layer call `alert`: recorded, but its own line (which would
    // call the layer again, without end) is not emitted.
    let mut modules: Vec<String> = tracer
        .get_traces(None)
        .into_iter()
        .map(|e| e.module)
        .collect();
    modules.sort();
    assert_eq!(modules, ["alert", "seven"]);
    println!("child finished");
}

/// A layer that panics in some of its callbacks (named, joined by `+`), for monitoring's
/// events and spans.
struct Panicking(&'static str);

impl Panicking {
    fn maybe_panic(&self, callback: &str, target: &str) {
        if self.0.split('+').any(|name| name == callback) && from_monitoring(target) {
            panic!("the layer's {callback} panicked");
        }
    }
}

impl<S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for Panicking {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        self.maybe_panic("on_event", event.metadata().target());
    }
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.maybe_panic("on_new_span", attrs.metadata().target());
    }
    fn on_record(&self, id: &Id, _: &Record<'_>, ctx: Context<'_, S>) {
        self.maybe_panic("on_record", ctx.metadata(id).unwrap().target());
    }
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.maybe_panic("on_enter", ctx.metadata(id).unwrap().target());
    }
    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.maybe_panic("on_exit", ctx.metadata(id).unwrap().target());
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.maybe_panic("on_close", ctx.metadata(&id).unwrap().target());
    }
}

#[test]
fn a_panicking_layer_changes_no_call_and_is_counted() {
    const NAME: &str = "a_panicking_layer_changes_no_call_and_is_counted";
    if !is_child(NAME) {
        return check_in_child_within(NAME, &[("MONITORING_LOG_LEVEL", "info")], DEADLINE);
    }
    let callbacks: &[&'static str] = if cfg!(feature = "tracing-spans") {
        &[
            "on_event",
            "on_new_span",
            "on_record",
            "on_enter",
            "on_exit",
            "on_close",
            // One panic after another: the second must not hit the first's unwinding.
            "on_record+on_close",
            "on_event+on_new_span+on_record+on_enter+on_exit+on_close",
        ]
    } else {
        &["on_event"]
    };
    for &callback in callbacks {
        let subscriber = tracing_subscriber::registry().with(Panicking(callback));
        let _subscriber = tracing::subscriber::set_default(subscriber);
        let before = monitor::integrate::subscriber_panics();
        let tracer = ExecutionTracer::new();
        assert_eq!(monitor::with_tracer(&tracer, seven), 7, "{callback}");
        // A panicking call unwinds with its own payload: the layer's panic, raised while
        // the call unwinds, would otherwise abort the process.
        let unwound = catch_unwind(AssertUnwindSafe(|| monitor::with_tracer(&tracer, explodes)));
        let payload = unwound.expect_err("explodes panics");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the call's own panic")
        );
        let entries = tracer.get_traces(None);
        assert_eq!(entries.len(), 2, "{callback}: {entries:?}");
        assert_eq!(entries[1].status, Status::Panic);
        assert!(entries[1]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("the call's own panic"));
        let panics = monitor::integrate::subscriber_panics() - before;
        println!("{callback}: {panics} subscriber panics caught");
        assert!(panics >= 2, "{callback}: {panics} counted");
    }
    println!("child finished");
}

/// A span field whose `Debug` records into the span it is a field of (a progress value
/// that updates the span showing it).
#[cfg(feature = "tracing-layer")]
struct RecordsIntoItsSpan(tracing::Span);

#[cfg(feature = "tracing-layer")]
impl std::fmt::Debug for RecordsIntoItsSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.record("note", "from Debug");
        f.write_str("progress shown")
    }
}

#[cfg(feature = "tracing-layer")]
#[test]
fn a_span_field_whose_debug_records_into_its_span_never_deadlocks() {
    const NAME: &str = "a_span_field_whose_debug_records_into_its_span_never_deadlocks";
    if !is_child(NAME) {
        return check_in_child_within(NAME, &[], DEADLINE);
    }
    let tracer = ExecutionTracer::new();
    let layer = monitor::integrate::MonitorLayer::new()
        .name("job")
        .tracer(&tracer);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(
            "job",
            progress = tracing::field::Empty,
            note = tracing::field::Empty
        );
        span.record(
            "progress",
            tracing::field::debug(RecordsIntoItsSpan(span.clone())),
        );
    });
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.inputs["progress"], "progress shown");
    assert_eq!(entry.inputs["note"], "from Debug");
    println!("child finished");
}

/// Monitoring's own warnings on the caller's thread (here, a JSON Lines file with a line
/// cut short) go through the same isolation: a panicking layer is not the caller's panic.
#[test]
fn a_panicking_layer_never_breaks_a_call_that_warns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    let tracer = ExecutionTracer::new();
    tracer.trace("step", ()).finish();
    tracer.export_traces_jsonl(&path).unwrap();
    // A line cut short, as a process killed while appending leaves it.
    std::fs::write(
        &path,
        format!(
            "{}{{\"module\":\"cut",
            std::fs::read_to_string(&path).unwrap()
        ),
    )
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(Panicking("on_event"));
    let read =
        tracing::subscriber::with_default(subscriber, || monitor::export::read_traces_jsonl(&path));
    assert_eq!(read.unwrap().len(), 1);
}
