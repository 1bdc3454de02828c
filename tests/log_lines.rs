//! `MONITORING_LOG_LEVEL` sets the default log line of every finished call, through
//! `tracing`. One test per process: the variable is read once.

use std::sync::{Arc, Mutex};

use monitor::ExecutionTracer;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<(String, tracing::Level, String)>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Collected {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((meta.target().to_owned(), *meta.level(), fields.0));
    }
}

#[test]
fn the_default_level_logs_every_finished_call() {
    // SAFETY (edition 2024 would ask): no other thread reads the environment yet.
    std::env::set_var("MONITORING_LOG_LEVEL", "debug");
    let collected = Collected::default();
    let subscriber = tracing_subscriber::registry().with(collected.clone());
    tracing::subscriber::with_default(subscriber, || {
        let tracer = ExecutionTracer::new();
        drop(tracer.trace("retrieve", ()));
        let mut failing = tracer.trace("generate", ());
        failing.fail(&std::io::Error::other("model timed out"));
    });

    let events = collected.0.lock().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    let (target, level, fields) = &events[0];
    assert_eq!(target, "monitor");
    assert_eq!(*level, tracing::Level::DEBUG);
    assert!(
        fields.contains("module=\"retrieve\"") && fields.contains("status=\"success\""),
        "{fields}"
    );
    assert!(
        events[1].2.contains("error=\"model timed out\""),
        "{}",
        events[1].2
    );
}
