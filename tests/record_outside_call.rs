//! `record_*` outside any monitored call records nothing, returns `false`, is counted in
//! `monitor::record_calls_outside_any_call()` and warns once through `tracing` (issue 27).

use std::sync::{Arc, Mutex};

use monitor::{ExecutionTracer, TokenUsage};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Collects the messages of the warnings logged under target `monitor`.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "monitor"
            && *event.metadata().level() == tracing::Level::WARN
        {
            let mut message = String::new();
            event.record(
                &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                    if field.name() == "message" {
                        message = format!("{value:?}");
                    }
                },
            );
            self.0.lock().unwrap().push(message);
        }
    }
}

#[test]
fn record_calls_outside_any_call_are_counted_and_warned_about_once() {
    let warnings = Warnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    tracing::subscriber::with_default(subscriber, || {
        let before = monitor::record_calls_outside_any_call();
        assert!(!monitor::record_session("s1"));
        assert!(!monitor::record_tokens(TokenUsage::new(1, 1)));
        assert!(!monitor::record_quality(0.5));
        assert!(!monitor::record_attribute("k", "v"));
        assert_eq!(monitor::record_calls_outside_any_call(), before + 4);

        // Inside a call they record, and are not counted.
        let tracer = ExecutionTracer::new();
        let call = tracer.trace("inside", ());
        assert!(monitor::record_session("s1"));
        assert!(monitor::record_tokens(TokenUsage::new(1, 1)));
        call.finish();
        assert_eq!(monitor::record_calls_outside_any_call(), before + 4);
    });
    let warnings = warnings.0.lock().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("record_session"), "{warnings:?}");
    assert!(
        warnings[0].contains("outside any monitored call"),
        "{warnings:?}"
    );
}
