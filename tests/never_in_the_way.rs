//! Capture is isolated from the call: a panic or `fmt::Error` in the user's `Serialize`,
//! `Debug`, `Display`, `Error::source` or quality function becomes a placeholder on the
//! entry and is counted, and the monitored call returns (or unwinds) exactly as the plain
//! one. Deep values are captured to a bounded depth, without overflowing a small stack.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use common::{only, traced};
use monitor::capture::capture_failures;
use monitor::{monitored, Status};
use serde::{Serialize, Serializer};

/// A value whose `Serialize` panics.
#[derive(Debug)]
struct PanicsInSerialize;

impl Serialize for PanicsInSerialize {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("serialize bug")
    }
}

/// A value whose `Serialize` returns an error.
struct FailsInSerialize;

impl Serialize for FailsInSerialize {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("cannot serialize this"))
    }
}

/// A value that is only `Debug`, and whose `Debug` panics.
struct PanicsInDebug;

impl fmt::Debug for PanicsInDebug {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("debug bug")
    }
}

/// A value that is only `Debug`, and whose `Debug` returns `fmt::Error`.
struct FailsInDebug;

impl fmt::Debug for FailsInDebug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("partial")?;
        Err(fmt::Error)
    }
}

fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[monitored]
fn with_bad_arguments(
    serialize_panics: PanicsInSerialize,
    serialize_fails: FailsInSerialize,
    debug_panics: PanicsInDebug,
    debug_fails: FailsInDebug,
    a: u32,
    b: u32,
) -> u32 {
    let _ = (serialize_panics, serialize_fails, debug_panics, debug_fails);
    add(a, b)
}

#[test]
fn failing_argument_capture_changes_nothing_but_the_entry() {
    let before = capture_failures();
    let (out, entries) = traced(|| {
        with_bad_arguments(
            PanicsInSerialize,
            FailsInSerialize,
            PanicsInDebug,
            FailsInDebug,
            2,
            3,
        )
    });
    assert_eq!(out, add(2, 3));
    let e = only(&entries);
    assert_eq!(e.status, Status::Success);
    let input = |name: &str| e.inputs[name].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        input("serialize_panics"),
        "<capture panicked: serialize bug>"
    );
    assert!(
        input("serialize_fails").starts_with("<serialize error: cannot serialize this"),
        "{}",
        input("serialize_fails")
    );
    assert_eq!(input("debug_panics"), "<capture panicked: debug bug>");
    assert_eq!(input("debug_fails"), "partial<Debug failed>");
    assert_eq!(e.inputs["a"], 2);
    assert_eq!(e.outputs, Some(serde_json::json!(5)));
    assert!(capture_failures() >= before + 4);
}

#[monitored]
fn bad_output() -> PanicsInSerialize {
    PanicsInSerialize
}

#[test]
fn a_panicking_output_serialize_is_a_placeholder() {
    let (out, entries) = traced(bad_output);
    assert!(matches!(out, PanicsInSerialize));
    let e = only(&entries);
    assert_eq!(e.status, Status::Success);
    assert_eq!(
        e.outputs,
        Some(serde_json::json!("<capture panicked: serialize bug>"))
    );
}

/// An error whose `Display` panics.
#[derive(Debug, PartialEq)]
struct DisplayPanics;

impl fmt::Display for DisplayPanics {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("display bug")
    }
}

impl std::error::Error for DisplayPanics {}

/// An error whose `Display` returns `fmt::Error`, with no panic anywhere in user code
/// (`to_string()` would panic on it).
#[derive(Debug, PartialEq)]
struct DisplayFails;

impl fmt::Display for DisplayFails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("half a message")?;
        Err(fmt::Error)
    }
}

impl std::error::Error for DisplayFails {}

/// An error fine by itself whose source's `Display` panics.
#[derive(Debug, PartialEq)]
struct Outer(DisplayPanics);

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outer failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// An error whose `source()` itself panics.
#[derive(Debug, PartialEq)]
struct SourcePanics;

impl fmt::Display for SourcePanics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("source panics")
    }
}

impl std::error::Error for SourcePanics {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        panic!("source bug")
    }
}

fn plain_fails<E>(error: E) -> Result<u8, E> {
    Err(error)
}

#[monitored]
fn fails_with<E: std::error::Error>(error: E) -> Result<u8, E> {
    Err(error)
}

#[monitored]
fn fails_with_display_only(error: &'static str, boom: bool) -> Result<u8, DisplayOnlyPanics> {
    let _ = error;
    if boom {
        Err(DisplayOnlyPanics)
    } else {
        Ok(1)
    }
}

/// An error that is `Display` but not `std::error::Error`, and whose `Display` panics.
#[derive(Debug, PartialEq)]
struct DisplayOnlyPanics;

impl fmt::Display for DisplayOnlyPanics {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("display-only bug")
    }
}

#[test]
fn failing_error_descriptions_change_nothing_but_the_entry() {
    let (outs, entries) = traced(|| {
        (
            fails_with(DisplayPanics),
            fails_with(DisplayFails),
            fails_with(Outer(DisplayPanics)),
            fails_with(SourcePanics),
            fails_with_display_only("", true),
        )
    });
    assert_eq!(outs.0, plain_fails(DisplayPanics));
    assert_eq!(outs.1, plain_fails(DisplayFails));
    assert_eq!(outs.2, plain_fails(Outer(DisplayPanics)));
    assert_eq!(outs.3, plain_fails(SourcePanics));
    assert_eq!(outs.4, plain_fails(DisplayOnlyPanics));
    assert!(entries.iter().all(|e| e.status == Status::Error));
    let error = |index: usize| entries[index].error.clone().unwrap();
    assert_eq!(error(0).message, "<Display panicked: display bug>");
    assert_eq!(error(1).message, "half a message<Display failed>");
    assert_eq!(error(2).message, "outer failed");
    assert_eq!(error(2).sources, ["<Display panicked: display bug>"]);
    assert_eq!(error(3).message, "source panics");
    assert_eq!(error(3).sources, ["<source() panicked: source bug>"]);
    assert_eq!(error(4).message, "<Display panicked: display-only bug>");
}

#[monitored(quality = |_: &u32| -> f64 { panic!("scorer bug") })]
fn scored(a: u32) -> u32 {
    a
}

#[test]
fn a_panicking_quality_function_changes_nothing_but_the_entry() {
    let (out, entries) = traced(|| scored(4));
    assert_eq!(out, 4);
    let e = only(&entries);
    assert_eq!(e.status, Status::Success);
    assert!(e.attributes["quality_error"]
        .as_str()
        .unwrap()
        .contains("scorer bug"));
}

#[monitored]
#[allow(unreachable_code)] // the guard's code after the panic
fn panics_after_a_failed_capture(bad: PanicsInSerialize) -> u32 {
    let _ = bad;
    panic!("the call's own panic")
}

#[test]
fn a_panicking_call_unwinds_as_the_plain_one_with_its_own_message() {
    let tracer = monitor::ExecutionTracer::new();
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        monitor::with_tracer(&tracer, || panics_after_a_failed_capture(PanicsInSerialize))
    }));
    let payload = unwound.expect_err("the call panics");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the call's own panic")
    );
    let entries = tracer.get_traces(None);
    let e = only(&entries);
    assert_eq!(e.status, Status::Panic);
    assert!(
        e.error
            .as_ref()
            .unwrap()
            .message
            .starts_with("the call's own panic"),
        "{:?}",
        e.error
    );
    assert_eq!(e.inputs["bad"], "<capture panicked: serialize bug>");
}

/// A linked list as deep as asked, dropped without recursion so the plain call is fine on
/// a small stack.
#[derive(Serialize, Debug)]
struct Node {
    value: u32,
    next: Option<Box<Node>>,
}

impl Node {
    fn chain(depth: u32) -> Node {
        let mut node = Node {
            value: 0,
            next: None,
        };
        for value in 1..depth {
            node = Node {
                value,
                next: Some(Box::new(node)),
            };
        }
        node
    }

    fn len(&self) -> usize {
        let mut len = 1;
        let mut at = self;
        while let Some(next) = &at.next {
            len += 1;
            at = next;
        }
        len
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut node) = next {
            next = node.next.take();
        }
    }
}

/// The same list, `Debug` only.
#[derive(Debug)]
struct DebugNode(#[allow(dead_code)] Node);

#[monitored]
fn deep_json(list: &Node) -> usize {
    list.len()
}

#[monitored]
fn deep_debug(list: &DebugNode) -> usize {
    list.0.len()
}

#[test]
fn deep_values_are_captured_to_a_bound_on_a_small_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let list = Node::chain(100_000);
            let plain = list.len();
            let (json_len, json_entries) = traced(|| deep_json(&list));
            let debug_list = DebugNode(list);
            let (debug_len, debug_entries) = traced(|| deep_debug(&debug_list));
            (plain, json_len, json_entries, debug_len, debug_entries)
        })
        .unwrap();
    let (plain, json_len, json_entries, debug_len, debug_entries) =
        handle.join().expect("no stack overflow");
    assert_eq!((json_len, debug_len), (plain, plain));
    let json = serde_json::to_string(&only(&json_entries).inputs["list"]).unwrap();
    assert!(json.contains("…[truncated"), "{json}");
    let debug = only(&debug_entries).inputs["list"].as_str().unwrap();
    assert!(
        debug.ends_with("…[truncated: nested deeper than 64 levels]"),
        "{debug}"
    );
}
