//! Argument and output capture: JSON where `Serialize`, else `Debug`, else a placeholder;
//! secrets redacted by name; a size cap with a visible marker; `skip`, `skip_all`,
//! `log_inputs`, `log_outputs`.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use common::{inputs, only, traced};
use monitor::{capture::REDACTED, monitored, with_tracer, ExecutionTracer};
use serde_json::json;

#[derive(serde::Serialize, Debug)]
struct Query {
    text: String,
    top_k: u8,
}

#[derive(Debug)]
struct DebugOnly {
    id: u32,
}

struct Neither;

#[monitored]
fn mixed(query: Query, handle: DebugOnly, opaque: Neither, tag: &str) -> (u32, &'static str) {
    let _ = (query, opaque, tag);
    (handle.id, "done")
}

#[test]
fn capture_by_capability_with_no_bounds_asked() {
    let q = Query {
        text: "rust".into(),
        top_k: 3,
    };
    let (_, entries) = traced(|| mixed(q, DebugOnly { id: 9 }, Neither, "t"));
    let e = only(&entries);
    assert_eq!(
        inputs(e),
        json!({
            "query": {"text": "rust", "top_k": 3},
            "handle": "DebugOnly { id: 9 }",
            "opaque": format!("<{}>", std::any::type_name::<Neither>()),
            "tag": "t",
        })
    );
    assert_eq!(e.outputs, Some(json!([9, "done"])));
}

#[monitored]
fn opaque_output() -> Neither {
    Neither
}

#[test]
fn outputs_by_capability() {
    let (_, entries) = traced(opaque_output);
    assert_eq!(
        only(&entries).outputs,
        Some(json!(format!("<{}>", std::any::type_name::<Neither>())))
    );
}

#[monitored]
#[allow(clippy::too_many_arguments, non_snake_case)]
fn credentials(
    api_key: &str,
    apiKey: &str,
    token: &str,
    auth_token: &str,
    password: &str,
    client_secret: &str,
    authorization: &str,
    max_tokens: u32,
    tokenizer: &str,
    author: &str,
    primary_key: u32,
) -> usize {
    let _ = (
        api_key,
        apiKey,
        token,
        auth_token,
        password,
        client_secret,
        authorization,
    );
    let _ = (max_tokens, tokenizer, author, primary_key);
    0
}

#[test]
fn secret_names_are_redacted_exactly_as_the_runtime_decides() {
    let (_, entries) = traced(|| credentials("s", "s", "s", "s", "s", "s", "s", 1, "bpe", "me", 2));
    let recorded = &only(&entries).inputs;
    assert_eq!(recorded.len(), 11);
    for (name, value) in recorded {
        let redacted = value == REDACTED;
        assert_eq!(
            redacted,
            monitor::capture::is_secret_name(name),
            "{name}: {value}"
        );
    }
    assert_eq!(recorded["api_key"], REDACTED);
    assert_eq!(recorded["max_tokens"], 1);
}

#[monitored]
fn big(text: String) -> String {
    text.repeat(2)
}

#[test]
fn captured_fields_are_capped_with_a_marker() {
    let tracer = ExecutionTracer::builder().max_field_bytes(16).build();
    with_tracer(&tracer, || big("x".repeat(40)));
    let entries = tracer.get_traces(None);
    let e = only(&entries);
    let input = e.inputs["text"].as_str().unwrap();
    assert!(input.ends_with("…[truncated: 42 bytes]"), "{input}");
    assert!(input.starts_with("\"xxxxxxxxxxxxxxx…"), "{input}");
    let output = e.outputs.as_ref().unwrap().as_str().unwrap();
    assert!(output.ends_with("…[truncated: 82 bytes]"), "{output}");
}

#[monitored(skip(document, scratch))]
fn summarise(document: &str, scratch: &mut Vec<u8>, words: usize) -> String {
    scratch.clear();
    document
        .split_whitespace()
        .take(words)
        .collect::<Vec<_>>()
        .join(" ")
}

#[monitored(skip_all)]
fn private(a: u32, b: u32) -> u32 {
    a + b
}

#[monitored(log_inputs = false, log_outputs = false)]
fn quiet(a: u32) -> u32 {
    a
}

#[monitored(log_outputs = false)]
fn inputs_only(a: u32) -> u32 {
    a
}

#[test]
fn skip_and_log_switches() {
    let (_, entries) = traced(|| {
        summarise("one two three", &mut Vec::new(), 2);
        private(1, 2);
        quiet(3);
        inputs_only(4);
    });
    assert_eq!(inputs(&entries[0]), json!({"words": 2}));
    assert_eq!(entries[0].outputs, Some(json!("one two")));
    assert_eq!(inputs(&entries[1]), json!({}));
    assert_eq!(
        entries[1].outputs,
        Some(json!(3)),
        "skip_all only skips arguments"
    );
    assert_eq!(
        (inputs(&entries[2]), entries[2].outputs.clone()),
        (json!({}), None)
    );
    assert_eq!(
        (inputs(&entries[3]), entries[3].outputs.clone()),
        (json!({"a": 4}), None)
    );
}

#[monitored]
fn generic_serialize<T: serde::Serialize>(value: T) -> usize {
    let _ = value;
    1
}

#[monitored]
fn generic_unbounded<T>(value: T) -> usize {
    let _ = value;
    2
}

#[test]
fn generic_arguments_use_their_declared_bounds() {
    let (_, entries) = traced(|| {
        generic_serialize(vec!["a"]);
        generic_unbounded(vec!["a"]);
    });
    assert_eq!(inputs(&entries[0]), json!({"value": ["a"]}));
    // Inside the generic function only the declared bounds are visible: no `Serialize`,
    // no `Debug`, so the placeholder (naming the concrete type).
    assert_eq!(
        inputs(&entries[1]),
        json!({"value": "<alloc::vec::Vec<&str>>"})
    );
}

#[derive(serde::Serialize)]
struct Agent {
    model: String,
    temperature: f64,
}

#[monitored(capture_self)]
impl Agent {
    fn act(&self, goal: &str) -> usize {
        goal.len()
    }

    async fn act_later(&self, goal: &str) -> usize {
        goal.len()
    }

    #[monitored(capture_self, name = "Agent::consume")]
    fn consume(self) -> String {
        self.model
    }
}

#[monitored]
impl Query {
    fn describe(&self) -> String {
        self.text.clone()
    }
}

#[test]
fn self_is_recorded_only_when_asked() {
    let agent = Agent {
        model: "tiny".into(),
        temperature: 0.2,
    };
    let (_, entries) = traced(|| agent.act("plan"));
    let recorded = inputs(only(&entries));
    assert_eq!(
        recorded,
        json!({ "self": { "model": "tiny", "temperature": 0.2 }, "goal": "plan" })
    );

    let (_, entries) = common::block_on(common::traced_async(agent.act_later("go")));
    assert_eq!(only(&entries).inputs["self"]["model"], "tiny");

    let (model, entries) = traced(|| agent.consume());
    assert_eq!(model, "tiny");
    assert_eq!(only(&entries).inputs["self"]["temperature"], 0.2);

    let query = Query {
        text: "rust".into(),
        top_k: 1,
    };
    let (_, entries) = traced(|| query.describe());
    assert!(
        only(&entries).inputs.is_empty(),
        "self is not recorded by default"
    );
}

#[monitored(tracer = tracer)]
fn with_its_tracer(tracer: &ExecutionTracer, query: &str) -> usize {
    query.len()
}

#[test]
fn the_parameter_named_as_the_tracer_is_not_an_input() {
    let tracer = ExecutionTracer::new();
    tracer
        .trace("earlier", json!({"password_hint": "other call's data"}))
        .finish();
    with_its_tracer(&tracer, "rust");
    let entry = tracer.get_traces(Some(1)).remove(0);
    assert_eq!(entry.module, "with_its_tracer");
    assert_eq!(inputs(&entry), json!({"query": "rust"}));
}

#[test]
fn a_tracers_debug_text_shows_its_settings_and_no_records() {
    let tracer = ExecutionTracer::with_max_traces(7);
    tracer
        .trace("secretive", json!({"note": "other call's data"}))
        .finish();
    let text = format!("{tracer:?}");
    assert!(text.contains("max_traces: 7"), "{text}");
    assert!(!text.contains("other call's data"), "{text}");
    assert!(!text.contains("secretive"), "{text}");
}
