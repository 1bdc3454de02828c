//! `level = "..."`: one `tracing` event per finished call, at that level, with the target
//! `monitor::<name>` so that per-module filters (`RUST_LOG=monitor::retrieve=debug`) work.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use common::traced;
use monitor::monitored;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(String, Level, String)>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let meta = event.metadata();
        self.0.lock().unwrap().push((
            meta.target().to_owned(),
            *meta.level(),
            fields.0.trim_end().to_owned(),
        ));
    }
}

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
fn one_event_per_call_at_the_level_asked() {
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    tracing::subscriber::with_default(subscriber, || {
        traced(|| {
            let _ = retrieve("abc");
            let _ = retrieve("");
            ranked();
            silent();
            Agent.forward();
        })
    });
    let events = events.0.lock().unwrap().clone();
    assert_eq!(events.len(), 4, "{events:#?}");
    assert_eq!(
        events[0].0,
        module_path!(),
        "name known only at run time: the module path"
    );
    assert_eq!(events[0].1, Level::DEBUG);
    assert_eq!(
        events[0].2,
        "message=monitored call finished module=\"retrieve\" status=\"success\""
    );
    assert_eq!(
        events[1].2,
        "message=monitored call finished module=\"retrieve\" status=\"error\" error=empty query"
    );
    assert_eq!(
        (events[2].0.as_str(), events[2].1),
        ("monitor::rank", Level::WARN)
    );
    // Trait methods filter under their type: `monitor::Agent` covers all of Agent's methods.
    assert_eq!(
        (events[3].0.as_str(), events[3].1),
        ("monitor::Agent::forward", Level::INFO)
    );
    assert!(
        events[3]
            .2
            .contains("module=\"<Agent as Module>::forward\""),
        "{}",
        events[3].2
    );
}
