//! The user's mask hook sees every kept string: arguments by name, each string leaf of a
//! `Serialize` value with its key, `Debug` text, outputs, error messages, validation errors
//! and attributes. One test: the hook is process-wide.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

use monitor::{
    capture::set_mask_hook, monitored, record_attribute, record_validation_error, with_tracer,
    ExecutionTracer,
};
use serde::Serialize;

const EMAIL: &str = "jane@example.com";
const SSN: &str = "123-45-6789";

#[derive(Serialize)]
struct Customer {
    name: String,
    ssn: String,
    contacts: Vec<String>,
}

#[derive(Debug)]
#[allow(dead_code)] // read through `Debug`
struct DebugOnlyCustomer {
    email: String,
}

#[monitored]
fn update(
    ssn: &str,
    note: &str,
    customer: &Customer,
    debug_only: &DebugOnlyCustomer,
) -> Result<String, String> {
    let _ = (ssn, customer, debug_only);
    record_validation_error(format!("unverified address {EMAIL}"));
    record_attribute("owner", EMAIL);
    if note.is_empty() {
        return Ok(format!("mailed {EMAIL}"));
    }
    Err(format!("bounced: {EMAIL}"))
}

#[test]
fn the_hook_masks_by_name_and_by_value_everywhere() {
    set_mask_hook(|field, text| {
        if field == "ssn" {
            Some("[ssn]".to_owned())
        } else if text.contains('@') {
            Some("[email]".to_owned())
        } else {
            None
        }
    });
    let customer = Customer {
        name: "Jane".into(),
        ssn: SSN.into(),
        contacts: vec![EMAIL.into(), "+1 555".into()],
    };
    let debug_only = DebugOnlyCustomer {
        email: EMAIL.into(),
    };
    let tracer = ExecutionTracer::new();
    let (failed, succeeded) = with_tracer(&tracer, || {
        (
            update(SSN, EMAIL, &customer, &debug_only),
            update(SSN, "", &customer, &debug_only),
        )
    });
    assert_eq!(
        failed,
        Err(format!("bounced: {EMAIL}")),
        "the call is unchanged"
    );
    assert_eq!(succeeded, Ok(format!("mailed {EMAIL}")));

    let entries = tracer.get_traces(None);
    let e = &entries[0];
    assert_eq!(e.inputs["ssn"], "[ssn]", "by argument name");
    assert_eq!(e.inputs["note"], "[email]", "by value");
    assert_eq!(
        e.inputs["customer"],
        serde_json::json!({"name": "Jane", "ssn": "[ssn]", "contacts": ["[email]", "+1 555"]}),
        "each string leaf with its key"
    );
    assert_eq!(e.inputs["debug_only"], "[email]", "Debug text");
    assert_eq!(e.error.as_ref().unwrap().message, "[email]");
    assert_eq!(e.validation_errors, ["[email]"]);
    assert_eq!(e.attributes["owner"], "[email]");
    assert_eq!(entries[1].outputs, Some(serde_json::json!("[email]")));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.json");
    tracer.export_traces(&path).unwrap();
    for text in [
        serde_json::to_string(&entries).unwrap(),
        std::fs::read_to_string(&path).unwrap(),
    ] {
        assert!(!text.contains(EMAIL) && !text.contains(SSN), "{text}");
    }

    // A hook that panics hides the value rather than breaking the call.
    set_mask_hook(|_, _| panic!("hook bug"));
    let tracer = ExecutionTracer::new();
    let out = with_tracer(&tracer, || update("x", "", &customer, &debug_only));
    assert!(out.is_ok());
    assert_eq!(
        tracer.get_traces(None)[0].inputs["note"],
        monitor::capture::REDACTED
    );

    // A hook may call monitored code (a PII classifier): no endless recursion, and what
    // that code keeps while the hook runs is redacted.
    set_mask_hook(|_, text| looks_like_pii(text).then(|| "[pii]".to_owned()));
    let tracer = ExecutionTracer::new();
    let out = with_tracer(&tracer, || update("x", EMAIL, &customer, &debug_only));
    assert_eq!(out, Err(format!("bounced: {EMAIL}")));
    let entries = tracer.get_traces(None);
    let update_entry = entries
        .iter()
        .find(|e| e.module.ends_with("update"))
        .unwrap();
    assert_eq!(update_entry.inputs["note"], "[pii]");
    let checks: Vec<_> = entries
        .iter()
        .filter(|e| e.module.ends_with("looks_like_pii"))
        .collect();
    assert!(!checks.is_empty());
    for check in checks {
        assert_eq!(check.inputs["text"], monitor::capture::REDACTED);
    }
    monitor::capture::clear_mask_hook();
}

#[monitored]
fn looks_like_pii(text: &str) -> bool {
    text.contains('@')
}
