//! One cap for every kept value, applied while writing: inputs, outputs, error message and
//! sources, validation errors, attributes; counts bounded with what was dropped counted;
//! an entry's size bounded whatever the values' sizes.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::fmt;

use common::only;
use monitor::{
    capture::{
        CapturedValue, ATTRIBUTES_DROPPED, MAX_ATTRIBUTES, MAX_ERROR_SOURCES,
        MAX_VALIDATION_ERRORS, VALIDATION_ERRORS_DROPPED,
    },
    monitored, record_attribute, record_validation_error, with_tracer, ExecutionTracer, TraceEntry,
};

const CAP: usize = 256;
const MARKER: &str = "…[truncated";

fn tracer() -> ExecutionTracer {
    ExecutionTracer::builder().max_field_bytes(CAP).build()
}

/// A kept string: at most the cap, plus the marker when cut.
fn assert_capped(text: &str) {
    match text.find(MARKER) {
        Some(at) => assert!(at <= CAP, "{} bytes before the marker", at),
        None => assert!(text.len() <= CAP, "{} bytes and no marker", text.len()),
    }
    assert!(text.len() <= CAP + 64, "{} bytes", text.len());
}

fn one_entry(tracer: &ExecutionTracer) -> TraceEntry {
    let entries = tracer.get_traces(None);
    only(&entries).clone()
}

#[monitored]
fn echo(text: &str) -> String {
    text.to_owned()
}

#[test]
fn a_ten_megabyte_argument_and_output_are_kept_to_the_cap() {
    let tracer = tracer();
    let big = "é".repeat(5 * 1024 * 1024);
    let out = with_tracer(&tracer, || echo(&big));
    assert_eq!(out, big);
    let e = one_entry(&tracer);
    for kept in [
        e.inputs["text"].as_str().unwrap(),
        e.outputs.as_ref().unwrap().as_str().unwrap(),
    ] {
        assert_capped(kept);
        assert!(
            kept.ends_with(&format!("{MARKER}: {} bytes]", big.len() + 2)),
            "{}",
            &kept[kept.len() - 40..]
        );
    }
}

#[test]
fn captured_value_caps_while_writing() {
    let big = "x".repeat(10 * 1024 * 1024);
    let CapturedValue::Truncated {
        preview,
        total_bytes,
    } = CapturedValue::json(&big, 4096)
    else {
        panic!("expected a truncated value");
    };
    assert_eq!(preview.len(), 4096);
    assert_eq!(total_bytes, big.len() + 2);
    let many: Vec<u64> = (0..1_000_000).collect();
    let CapturedValue::Truncated {
        preview,
        total_bytes,
    } = CapturedValue::json(&many, 4096)
    else {
        panic!("expected a truncated value");
    };
    assert_eq!(preview.len(), 4096);
    // Serialization stopped at the cap: the size is a lower bound.
    assert!(total_bytes > 4096);
}

/// An error with a long message and a chain of `depth` long sources.
#[derive(Debug)]
struct Chain {
    depth: usize,
    text: String,
    next: Option<Box<Chain>>,
}

impl Chain {
    fn new(depth: usize, text: &str) -> Chain {
        Chain {
            depth,
            text: text.to_owned(),
            next: (depth > 0).then(|| Box::new(Chain::new(depth - 1, text))),
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "level {}: {}", self.depth, self.text)
    }
}

impl std::error::Error for Chain {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.next.as_deref().map(|next| next as _)
    }
}

#[monitored]
fn fails(depth: usize, text: &str) -> Result<(), Chain> {
    Err(Chain::new(depth, text))
}

#[test]
fn error_message_and_sources_are_capped_and_bounded() {
    let tracer = tracer();
    let long = "y".repeat(100 * 1024);
    let result = with_tracer(&tracer, || fails(100, &long));
    assert!(matches!(result, Err(Chain { depth: 100, .. })));
    let e = one_entry(&tracer);
    let error = e.error.unwrap();
    assert!(error.message.starts_with("level 100: yyy"));
    assert!(error.message.contains(MARKER), "{}", error.message);
    assert_capped(&error.message);
    assert_eq!(error.sources.len(), MAX_ERROR_SOURCES + 1);
    for source in &error.sources[..MAX_ERROR_SOURCES] {
        assert_capped(source);
        assert!(source.contains(MARKER));
    }
    assert!(
        error.sources[MAX_ERROR_SOURCES].contains("sources not kept"),
        "{:?}",
        error.sources.last()
    );
}

/// An error whose `source()` is itself: a cycle.
#[derive(Debug)]
struct Loops;

impl fmt::Display for Loops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("loops")
    }
}

impl std::error::Error for Loops {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self)
    }
}

#[test]
fn a_cyclic_source_chain_ends() {
    let tracer = tracer();
    {
        let mut guard = tracer.trace("cyclic", ());
        guard.fail(&Loops);
    }
    let error = one_entry(&tracer).error.unwrap();
    assert_eq!(error.message, "loops");
    assert!(error.sources.len() <= MAX_ERROR_SOURCES + 1);
    assert!(error.sources.last().unwrap().contains("loops back"));
}

#[test]
fn a_hand_built_error_is_capped_by_the_guard() {
    let tracer = tracer();
    {
        let mut guard = tracer.trace("hand_built", ());
        let mut info = monitor::ErrorInfo::new("custom", "z".repeat(10_000));
        info.sources = vec!["s".repeat(10_000); 100];
        guard.fail_with(info.with_backtrace("b".repeat(10_000)));
    }
    let error = one_entry(&tracer).error.unwrap();
    assert_capped(&error.message);
    assert!(error.message.ends_with("…[truncated: 10000 bytes]"));
    assert_eq!(error.sources.len(), MAX_ERROR_SOURCES + 1);
    error.sources.iter().for_each(|s| assert_capped(s));
    assert_capped(error.backtrace.as_deref().unwrap());
}

#[monitored]
fn reports_a_lot() -> u32 {
    let long = "v".repeat(50_000);
    for n in 0..1000 {
        record_validation_error(format!("problem {n}: {long}"));
        record_attribute(format!("key{n}"), &long);
        record_attribute("progress", n);
    }
    1
}

#[test]
fn validation_errors_and_attributes_are_capped_and_bounded() {
    let tracer = tracer();
    let out = with_tracer(&tracer, reports_a_lot);
    assert_eq!(out, 1);
    let e = one_entry(&tracer);
    assert_eq!(e.validation_errors.len(), MAX_VALIDATION_ERRORS);
    assert!(e.validation_errors[0].starts_with("problem 0: vvv"));
    e.validation_errors.iter().for_each(|v| assert_capped(v));
    assert_eq!(
        e.attributes[VALIDATION_ERRORS_DROPPED],
        1000 - MAX_VALIDATION_ERRORS
    );
    // `progress` was set first and then updated in place: one attribute, the last value.
    assert_eq!(e.attributes["progress"], 999);
    let user_keys = e
        .attributes
        .keys()
        .filter(|k| *k != VALIDATION_ERRORS_DROPPED && *k != ATTRIBUTES_DROPPED)
        .count();
    assert_eq!(user_keys, MAX_ATTRIBUTES);
    assert_eq!(
        e.attributes[ATTRIBUTES_DROPPED],
        1000 - (MAX_ATTRIBUTES - 1)
    );
    for value in e.attributes.values() {
        if let Some(text) = value.as_str() {
            assert_capped(text);
        }
    }
}

#[test]
fn the_guard_api_is_bounded_the_same_way() {
    let tracer = tracer();
    {
        let mut guard = tracer.trace("guard", serde_json::json!({"prompt": "p".repeat(100_000)}));
        for n in 0..200 {
            guard.add_validation_error("w".repeat(100_000));
            guard.set_attribute(format!("k{n}"), "a".repeat(100_000));
        }
        guard.set_outputs("o".repeat(100_000));
    }
    let e = one_entry(&tracer);
    assert_capped(e.inputs["prompt"].as_str().unwrap());
    assert_capped(e.outputs.as_ref().unwrap().as_str().unwrap());
    assert_eq!(e.validation_errors.len(), MAX_VALIDATION_ERRORS);
    assert_eq!(
        e.attributes[VALIDATION_ERRORS_DROPPED],
        200 - MAX_VALIDATION_ERRORS
    );
    assert_eq!(e.attributes[ATTRIBUTES_DROPPED], 200 - MAX_ATTRIBUTES);
    // The whole entry stays within the documented formula, whatever went in.
    let size = serde_json::to_string(&e).unwrap().len();
    let bound = (CAP + 64) * (1 + 1 + MAX_VALIDATION_ERRORS + 2 * (MAX_ATTRIBUTES + 2)) + 1024;
    assert!(size <= bound, "{size} > {bound}");
}

#[test]
fn guard_api_inputs_are_bounded_in_count() {
    let tracer = tracer();
    let inputs: std::collections::BTreeMap<String, String> = (0..1000)
        .map(|n| (format!("field{n:04}"), "i".repeat(10_000)))
        .collect();
    tracer.trace("many_inputs", &inputs).finish();
    let e = one_entry(&tracer);
    assert_eq!(e.inputs.len(), monitor::capture::MAX_INPUTS + 1);
    assert_eq!(
        e.inputs[monitor::capture::INPUTS_DROPPED],
        1000 - monitor::capture::MAX_INPUTS
    );
    for (name, value) in &e.inputs {
        if let Some(text) = value.as_str() {
            assert_capped(text);
        }
        assert!(name.len() <= CAP);
    }
}
