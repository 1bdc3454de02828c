//! Helpers for the log-line tests: a `tracing` layer that keeps every event it is given.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::EnvFilter;

/// One event: its target, its level and its fields as `name=value` (strings unquoted).
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub target: String,
    pub level: Level,
    pub fields: String,
}

impl Line {
    /// The value of field `name`, if the event has it.
    pub fn field(&self, name: &str) -> Option<&str> {
        let start = self.fields.find(&format!("{name}="))? + name.len() + 1;
        let rest = &self.fields[start..];
        // Values end at the next ` name=`; the last one at the end.
        let end = rest
            .match_indices(' ')
            .map(|(i, _)| i)
            .find(|&i| {
                rest[i + 1..].split_once('=').is_some_and(|(key, _)| {
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            })
            .unwrap_or(rest.len());
        Some(&rest[..end])
    }
}

#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<Line>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Lines {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let meta = event.metadata();
        self.0.lock().unwrap().push(Line {
            target: meta.target().to_owned(),
            level: *meta.level(),
            fields: fields.0.trim_end().to_owned(),
        });
    }
}

/// Runs `f` on this thread under a subscriber filtered by `filter` (an `EnvFilter`
/// directive string, as in `RUST_LOG`; `None`: no filter), and returns the events of the
/// `monitor` targets it saw.
pub fn lines(filter: Option<&str>, f: impl FnOnce()) -> Vec<Line> {
    let lines = Lines::default();
    match filter {
        Some(filter) => {
            let subscriber = tracing_subscriber::registry()
                .with(EnvFilter::new(filter))
                .with(lines.clone());
            tracing::subscriber::with_default(subscriber, f);
        }
        None => {
            let subscriber = tracing_subscriber::registry().with(lines.clone());
            tracing::subscriber::with_default(subscriber, f);
        }
    }
    let all = lines.0.lock().unwrap().clone();
    all.into_iter()
        .filter(|line| line.target == "monitor" || line.target.starts_with("monitor::"))
        .collect()
}
