//! Secrets never leave the call: by argument name, inside `Debug`-only structs, inside
//! `Serialize` structs even past the cap, as URL credentials and bearer tokens inside any
//! string, in error messages, validation errors and attributes; checked in the entries,
//! the JSON export, JSON Lines, and `tracing` log output.
//!
//! One test: it sets `MONITORING_LOG_LEVEL`, which is read once per process.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

use std::sync::{Arc, Mutex};

use monitor::{
    capture::REDACTED, monitored, record_attribute, record_validation_error, with_tracer,
    ExecutionTracer,
};
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Every secret value below contains this, so one search finds any leak.
const SECRET: &str = "s3cr3t";

#[derive(Debug)]
#[allow(dead_code)] // read through `Debug`
struct DebugOnlyConfig {
    api_key: String,
    model: String,
}

#[derive(Serialize)]
struct ServiceConfig {
    endpoint: String,
    api_key: String,
    headers: std::collections::BTreeMap<String, String>,
    notes: String,
}

#[monitored(level = "info")]
#[allow(clippy::too_many_arguments)]
fn call_service(
    bearer: &str,
    jwt: &str,
    private_key: &str,
    cookie: &str,
    session_token: &str,
    database_url: &str,
    debug_config: &DebugOnlyConfig,
    config: &ServiceConfig,
    request: &str,
) -> Result<String, String> {
    let _ = (
        bearer,
        jwt,
        private_key,
        cookie,
        session_token,
        debug_config,
        config,
    );
    record_validation_error(format!("retrying {database_url}"));
    record_attribute("upstream", format!("Authorization: Bearer {SECRET}-attr"));
    if request.is_empty() {
        return Ok(format!("used {database_url}"));
    }
    Err(format!("cannot connect to {database_url}"))
}

#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Logged {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

#[test]
fn secrets_never_reach_entries_exports_or_logs() {
    // SAFETY (edition 2024 would ask): no other thread reads the environment yet.
    std::env::set_var("MONITORING_LOG_LEVEL", "info");
    let database_url = format!("postgres://user:{SECRET}-PASSWORD@db.internal:5432/app");
    let debug_config = DebugOnlyConfig {
        api_key: format!("{SECRET}-debug-key"),
        model: "gpt-4o".into(),
    };
    let config = ServiceConfig {
        endpoint: format!("https://svc/?api_key={SECRET}-query&q=1"),
        api_key: format!("{SECRET}-serialize-key"),
        headers: [
            (
                "authorization".to_owned(),
                format!("Bearer {SECRET}-header"),
            ),
            ("accept".to_owned(), "json".to_owned()),
        ]
        .into(),
        // Pushes the struct's JSON far over the cap: redaction must happen while writing.
        notes: "n".repeat(20_000),
    };
    let arguments = |request: &'static str| {
        let (database_url, debug_config, config) = (&database_url, &debug_config, &config);
        move || {
            call_service(
                &format!("{SECRET}-bearer"),
                &format!("{SECRET}-jwt"),
                &format!("-----BEGIN PRIVATE KEY-----{SECRET}"),
                &format!("sid={SECRET}-cookie"),
                &format!("{SECRET}-session"),
                database_url,
                debug_config,
                config,
                request,
            )
        }
    };

    let logged = Logged::default();
    let tracer = ExecutionTracer::builder().max_field_bytes(512).build();
    let results = tracing::subscriber::with_default(
        tracing_subscriber::registry().with(logged.clone()),
        || {
            with_tracer(&tracer, || {
                let failed = arguments("go")();
                let succeeded = arguments("")();
                (failed, succeeded)
            })
        },
    );
    assert!(
        results.0.as_ref().unwrap_err().contains(SECRET),
        "the call is unchanged"
    );
    assert!(
        results.1.as_ref().unwrap().contains(SECRET),
        "the call is unchanged"
    );

    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 2);
    let failed = &entries[0];
    for name in ["bearer", "jwt", "private_key", "cookie", "session_token"] {
        assert_eq!(failed.inputs[name], REDACTED, "{name}");
    }
    assert_eq!(
        failed.inputs["database_url"],
        "postgres://user:[redacted]@db.internal:5432/app"
    );
    assert_eq!(
        failed.inputs["debug_config"],
        "DebugOnlyConfig { api_key: [redacted], model: \"gpt-4o\" }"
    );
    let config_preview = failed.inputs["config"].as_str().unwrap();
    assert!(config_preview.contains("…[truncated"), "{config_preview}");
    assert!(
        config_preview.contains("\"api_key\":\"[redacted]\""),
        "{config_preview}"
    );
    assert!(config_preview.contains("\"authorization\":\"[redacted]\""));
    assert_eq!(
        failed.error.as_ref().unwrap().message,
        "cannot connect to postgres://user:[redacted]@db.internal:5432/app"
    );
    assert_eq!(
        failed.validation_errors,
        ["retrying postgres://user:[redacted]@db.internal:5432/app"]
    );
    assert_eq!(
        failed.attributes["upstream"],
        "Authorization: Bearer [redacted]"
    );
    assert_eq!(
        entries[1].outputs,
        Some(serde_json::json!(
            "used postgres://user:[redacted]@db.internal:5432/app"
        ))
    );

    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("traces.json");
    let jsonl_path = dir.path().join("traces.jsonl");
    tracer.export_traces(&json_path).unwrap();
    tracer.export_traces_jsonl(&jsonl_path).unwrap();
    let logs = logged.0.lock().unwrap().join("\n");
    assert!(
        logs.contains("cannot connect to postgres://user:[redacted]@"),
        "{logs}"
    );
    for (place, text) in [
        ("entries", serde_json::to_string(&entries).unwrap()),
        ("entries' Debug", format!("{entries:?}")),
        ("export", std::fs::read_to_string(&json_path).unwrap()),
        ("jsonl", std::fs::read_to_string(&jsonl_path).unwrap()),
        ("tracing logs", logs.clone()),
    ] {
        assert!(!text.contains(SECRET), "a secret in the {place}: {text}");
    }
}
