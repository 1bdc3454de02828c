//! `#[monitored]` on free functions: every shape of signature, every way out.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use common::{entry, inputs, only, traced};
use monitor::{monitored, Status};
use serde_json::json;

#[monitored]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[test]
fn records_name_inputs_output_and_status() {
    let (sum, entries) = traced(|| add(2, 3));
    assert_eq!(sum, 5);
    let e = only(&entries);
    assert_eq!(e.module, "add");
    assert_eq!(e.status, Status::Success);
    assert_eq!(inputs(e), json!({"a": 2, "b": 3}));
    assert_eq!(e.outputs, Some(json!(5)));
    assert_eq!(e.parent_span_id, None);
    assert!(e.error.is_none());
}

#[monitored(name = "custom.step")]
fn renamed() {}

#[test]
fn name_overrides_the_default() {
    let ((), entries) = traced(renamed);
    let e = only(&entries);
    assert_eq!(e.module, "custom.step");
    assert_eq!(e.outputs, None, "unit outputs are not recorded");
}

#[monitored]
fn classify(n: i64) -> &'static str {
    if n < 0 {
        return "negative";
    }
    for i in 0..n {
        if i == 3 {
            return "big";
        }
    }
    "small"
}

#[test]
fn early_returns_are_recorded_like_any_exit() {
    let (out, entries) = traced(|| [classify(-1), classify(10), classify(2)]);
    assert_eq!(out, ["negative", "big", "small"]);
    let outputs: Vec<_> = entries.iter().map(|e| e.outputs.clone().unwrap()).collect();
    assert_eq!(outputs, [json!("negative"), json!("big"), json!("small")]);
    assert!(entries.iter().all(|e| e.status == Status::Success));
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("not a number: {0}")]
    Parse(#[from] std::num::ParseIntError),
}

#[monitored]
fn double(text: &str) -> Result<i64, AppError> {
    // `?` converts through `From` into the declared error type.
    let n: i64 = text.trim().parse()?;
    Ok(n * 2)
}

#[test]
fn question_mark_converts_and_is_recorded_as_error() {
    let (out, entries) = traced(|| (double("21").unwrap(), double("x").unwrap_err().to_string()));
    assert_eq!(out.0, 42);
    assert_eq!(out.1, "not a number: invalid digit found in string");
    let (ok, err) = (&entries[0], &entries[1]);
    assert_eq!(ok.status, Status::Success);
    assert_eq!(ok.outputs, Some(json!(42)), "the Ok value is the output");
    assert_eq!(err.status, Status::Error);
    let error = err.error.as_ref().unwrap();
    assert_eq!(error.kind, std::any::type_name::<AppError>());
    assert_eq!(error.message, "not a number: invalid digit found in string");
    assert_eq!(error.sources, ["invalid digit found in string"]);
    assert_eq!(err.outputs, None);
}

#[monitored]
fn largest<T: PartialOrd + Copy + std::fmt::Debug>(items: &[T]) -> Option<T> {
    let mut best = *items.first()?;
    for &item in items {
        if item > best {
            best = item;
        }
    }
    Some(best)
}

#[test]
fn generic_functions_keep_inference_and_capture_by_declared_bounds() {
    let (out, entries) = traced(|| (largest(&[3, 9, 2]), largest::<u8>(&[])));
    assert_eq!(out, (Some(9), None));
    // `T: Debug` is the only declared capability: captured as Debug text.
    assert_eq!(inputs(&entries[0]), json!({"items": "[3, 9, 2]"}));
    assert_eq!(entries[0].outputs, Some(json!("Some(9)")));
    assert_eq!(entries[1].status, Status::Success, "None is a success");
}

#[monitored]
fn evens(limit: u32) -> impl Iterator<Item = u32> + Clone {
    if limit == 0 {
        return Vec::new().into_iter();
    }
    (0..limit)
        .filter(|n| n % 2 == 0)
        .collect::<Vec<_>>()
        .into_iter()
}

#[test]
fn impl_trait_returns() {
    let (out, entries) = traced(|| (evens(7).collect::<Vec<_>>(), evens(0).count()));
    assert_eq!(out, (vec![0, 2, 4, 6], 0));
    assert_eq!(entries.len(), 2);
    // Inside the function the concrete type is known: a `vec::IntoIter` is `Debug`.
    assert_eq!(entries[0].outputs, Some(json!("IntoIter([0, 2, 4, 6])")));
}

#[derive(serde::Serialize, Debug, Clone, Copy)]
struct Point {
    x: i32,
    y: i32,
}

#[monitored]
fn manhattan((dx, dy): (i32, i32), Point { x, y }: Point, _: u8, &scale: &i32) -> i32 {
    (x + dx).abs() * scale + (y + dy).abs() * scale
}

#[test]
fn pattern_arguments_record_their_bindings() {
    let (out, entries) = traced(|| manhattan((1, 2), Point { x: 3, y: -4 }, 0, &2));
    assert_eq!(out, 12);
    assert_eq!(
        inputs(only(&entries)),
        json!({"dx": 1, "dy": 2, "x": 3, "y": -4, "scale": 2})
    );
}

/// # Safety
/// `ptr` must be valid for reads.
#[monitored]
unsafe fn read(ptr: *const u32) -> u32 {
    // The body of an `unsafe fn` is still an unsafe context.
    *ptr
}

#[test]
fn unsafe_functions() {
    let value = 7u32;
    let (out, entries) = traced(|| unsafe { read(&value) });
    assert_eq!(out, 7);
    assert_eq!(only(&entries).module, "read");
}

#[monitored]
fn outer(n: u32) -> u32 {
    inner(n) + inner(n + 1)
}

#[monitored]
fn inner(n: u32) -> u32 {
    n * 10
}

#[test]
fn nested_calls_record_parent_and_trace() {
    let (out, entries) = traced(|| outer(1));
    assert_eq!(out, 30);
    assert_eq!(entries.len(), 3);
    let parent = entry(&entries, "outer");
    assert_eq!(parent.parent_span_id, None);
    for child in entries.iter().filter(|e| e.module == "inner") {
        assert_eq!(
            child.parent_span_id.as_deref(),
            Some(parent.span_id.as_str())
        );
        assert_eq!(child.trace_id, parent.trace_id);
    }
}

#[monitored]
fn explode(message: &str) -> u32 {
    if !message.is_empty() {
        panic!("exploded: {message}");
    }
    0
}

#[test]
fn panics_are_recorded_and_keep_unwinding() {
    let (caught, entries) = traced(|| std::panic::catch_unwind(|| explode("boom")));
    let payload = caught.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("exploded: boom")
    );
    let e = only(&entries);
    assert_eq!(e.status, Status::Panic);
    let error = e.error.as_ref().unwrap();
    assert_eq!(error.kind, "panic");
    assert!(
        error.message.starts_with("exploded: boom"),
        "{}",
        error.message
    );
}

#[monitored]
fn forever(reason: &str) -> ! {
    panic!("gave up: {reason}")
}

#[test]
fn diverging_functions() {
    let (caught, entries) = traced(|| std::panic::catch_unwind(|| forever("tired")));
    assert!(caught.is_err());
    let e = only(&entries);
    assert_eq!(e.status, Status::Panic);
    assert_eq!(inputs(e), json!({"reason": "tired"}));
}

#[monitored]
#[track_caller]
fn caller_line() -> u32 {
    std::panic::Location::caller().line()
}

#[test]
fn track_caller_still_sees_the_caller() {
    let ((expected, line), entries) = traced(|| (line!(), caller_line()));
    assert_eq!(line, expected);
    assert_eq!(only(&entries).outputs, Some(json!(expected)));
}

#[monitored]
fn with_inner_attribute() -> u32 {
    #![allow(clippy::let_and_return)]
    let x = 4;
    x
}

#[test]
fn inner_attributes_stay_on_the_body() {
    let (out, entries) = traced(with_inner_attribute);
    assert_eq!(out, 4);
    assert_eq!(only(&entries).outputs, Some(json!(4)));
}

#[monitored]
fn shadowing() -> Point {
    // A body-local item with the name of the return type must not change what the
    // signature means (tracing #3306).
    #[allow(dead_code)]
    struct Point;
    crate::Point { x: 1, y: 2 }
}

#[test]
fn body_items_do_not_shadow_the_signature() {
    let (out, entries) = traced(shadowing);
    assert_eq!((out.x, out.y), (1, 2));
    assert_eq!(only(&entries).outputs, Some(json!({"x": 1, "y": 2})));
}

#[monitored]
fn mutate(values: &mut Vec<u32>, mut extra: u32) -> usize {
    extra += 1;
    values.push(extra);
    values.len()
}

#[test]
fn mutable_arguments() {
    let mut values = vec![1];
    let (len, entries) = traced(|| mutate(&mut values, 5));
    assert_eq!(len, 2);
    assert_eq!(values, [1, 6]);
    assert_eq!(inputs(only(&entries)), json!({"values": [1], "extra": 5}));
}

/// The model named once, for every function that calls it.
const JUDGE_MODEL: &str = "judge-model-2026";

#[monitored(kind = "evaluator", model = JUDGE_MODEL, quality = |score: &f64| *score)]
fn judge(answer: &str) -> f64 {
    if answer.contains("rust") {
        0.9
    } else {
        0.1
    }
}

#[test]
fn a_model_from_a_const_and_a_closure_as_the_scorer() {
    let (score, entries) = traced(|| judge("rust is fast"));
    assert_eq!(score, 0.9);
    let entry = only(&entries);
    assert_eq!(entry.attributes[monitor::MODEL_ATTRIBUTE], JUDGE_MODEL);
    assert_eq!(entry.quality_score, Some(0.9));
}
