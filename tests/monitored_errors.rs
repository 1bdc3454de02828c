//! Status by type, not by spelling: `Result` aliases, `anyhow`, boxed errors, errors that are
//! only `Display` or `Debug`; panics; the quality function.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use common::{only, traced};
use monitor::{monitored, Status};
use serde_json::json;

type Outcome<T> = Result<T, std::fmt::Error>;

#[monitored]
fn aliased(fail: bool) -> Outcome<u8> {
    if fail {
        Err(std::fmt::Error)
    } else {
        Ok(1)
    }
}

#[monitored]
fn io(fail: bool) -> std::io::Result<u8> {
    if fail {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "missing file",
        ));
    }
    Ok(2)
}

#[test]
fn result_aliases_are_results() {
    let (_, entries) = traced(|| (aliased(false), aliased(true), io(false), io(true)));
    let statuses: Vec<_> = entries.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            Status::Success,
            Status::Error,
            Status::Success,
            Status::Error
        ]
    );
    let fmt = entries[1].error.as_ref().unwrap();
    assert_eq!(fmt.kind, "core::fmt::Error");
    assert_eq!(fmt.message, "an error occurred when formatting an argument");
    let io = entries[3].error.as_ref().unwrap();
    assert_eq!(
        (io.kind.as_str(), io.message.as_str()),
        ("std::io::error::Error", "missing file")
    );
    assert_eq!(entries[2].outputs, Some(json!(2)));
}

#[monitored]
fn with_context(path: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    Ok(text)
}

#[test]
fn anyhow_results_record_message_and_chain() {
    let (result, entries) = traced(|| with_context("/definitely/not/here"));
    assert!(result.is_err());
    let e = only(&entries);
    assert_eq!(e.status, Status::Error);
    let error = e.error.as_ref().unwrap();
    assert_eq!(error.kind, "anyhow::Error");
    assert_eq!(error.message, "reading /definitely/not/here");
    assert_eq!(error.sources.len(), 1);
    assert!(
        error.sources[0].contains("No such file"),
        "{:?}",
        error.sources
    );
}

#[monitored]
fn boxed(fail: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        Err("boxed failure")?;
    }
    Ok(())
}

#[derive(Debug)]
#[allow(dead_code)] // read through `Debug` only
struct Code(u16);

struct Silent;

#[monitored]
fn display_only() -> Result<(), &'static str> {
    Err("just text")
}

#[monitored]
fn debug_only() -> Result<(), Code> {
    Err(Code(503))
}

#[monitored]
fn neither() -> Result<(), Silent> {
    Err(Silent)
}

#[test]
fn errors_by_capability() {
    let (_, entries) = traced(|| {
        let _ = boxed(true);
        let _ = boxed(false);
        let _ = display_only();
        let _ = debug_only();
        let _ = neither();
    });
    let boxed = entries[0].error.as_ref().unwrap();
    assert_eq!(boxed.message, "boxed failure");
    assert!(
        boxed
            .kind
            .starts_with("alloc::boxed::Box<dyn core::error::Error"),
        "{}",
        boxed.kind
    );
    assert_eq!(entries[1].status, Status::Success);
    assert_eq!(entries[2].error.as_ref().unwrap().message, "just text");
    let debug = entries[3].error.as_ref().unwrap();
    assert_eq!(debug.message, "Code(503)");
    assert!(debug.kind.ends_with("Code"));
    let silent = entries[4].error.as_ref().unwrap();
    assert!(silent.kind.ends_with("Silent") && silent.message == silent.kind);
    assert!(entries
        .iter()
        .all(|e| e.outputs.is_none() || e.status == Status::Success));
}

#[derive(Debug, serde::Serialize)]
struct Answer {
    text: String,
    confidence: f64,
}

fn confidence(answer: &Answer) -> f64 {
    answer.confidence
}

#[monitored(quality = confidence)]
fn answer(question: &str) -> Result<Answer, String> {
    if question.is_empty() {
        return Err("empty".into());
    }
    Ok(Answer {
        text: question.to_uppercase(),
        confidence: 0.75,
    })
}

#[monitored(quality = |text: &String| text.len() as f64 / 10.0)]
fn plain(text: &str) -> String {
    text.to_owned()
}

#[monitored(quality = |_: &u8| -> f64 { panic!("scorer bug") })]
fn scored_by_a_buggy_function() -> u8 {
    5
}

#[test]
fn quality_gets_the_ok_value_only_on_success() {
    let (_, entries) = traced(|| {
        let _ = answer("why");
        let _ = answer("");
        plain("four");
    });
    assert_eq!(entries[0].quality_score, Some(0.75));
    assert_eq!(
        entries[0].outputs,
        Some(json!({"text": "WHY", "confidence": 0.75}))
    );
    assert_eq!(entries[1].quality_score, None, "no quality on error");
    assert_eq!(entries[2].quality_score, Some(0.4));
}

#[test]
fn a_panicking_quality_function_is_caught_and_recorded() {
    let (out, entries) = traced(scored_by_a_buggy_function);
    assert_eq!(out, 5);
    let e = only(&entries);
    assert_eq!(e.status, Status::Success);
    assert_eq!(e.quality_score, None);
    let note = e.attributes["quality_error"].as_str().unwrap();
    assert!(note.contains("scorer bug"), "{note}");
}

#[monitored]
fn option(n: u8) -> Option<u8> {
    n.checked_sub(1)
}

#[test]
fn everything_else_is_a_success() {
    let (_, entries) = traced(|| (option(0), option(2)));
    assert!(entries.iter().all(|e| e.status == Status::Success));
    assert_eq!(entries[0].outputs, Some(json!(null)));
    assert_eq!(entries[1].outputs, Some(json!(1)));
}
