//! Shapes that compile without `#[monitored]` compile with it too, and record as they
//! should ("never in the way", issue 7): borrows handed out of `&mut` arguments,
//! arguments under `#[cfg]`, parameters named like the expansion's own locals, and bodies
//! that only leave through `return` (retry loops).

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use common::{block_on, entry, inputs, only, traced, traced_async};
use monitor::{monitored, Status};
use serde_json::json;

struct Slots {
    names: Vec<String>,
}

#[monitored]
impl Slots {
    fn slot(&mut self, i: usize) -> &mut String {
        &mut self.names[i]
    }

    fn try_slot(&mut self, i: usize) -> Result<&mut String, String> {
        let len = self.names.len();
        self.names.get_mut(i).ok_or(format!("no slot {i} of {len}"))
    }

    async fn slot_async(&mut self, i: usize) -> &mut String {
        &mut self.names[i]
    }
}

struct Alone {
    value: String,
}

impl Alone {
    // On the method alone, without the `impl` block.
    #[monitored]
    fn value_mut(&mut self) -> &mut String {
        &mut self.value
    }
}

#[monitored]
fn first<'a>(v: &'a mut Vec<u8>) -> &'a mut u8 {
    &mut v[0]
}

#[monitored]
fn first_elided(v: &mut [u8]) -> Option<&mut u8> {
    v.first_mut()
}

#[test]
fn a_method_hands_out_a_borrow_of_mut_self() {
    let mut slots = Slots {
        names: vec!["a".into(), "b".into()],
    };
    let (_, entries) = traced(|| {
        slots.slot(1).push('!');
        slots.value_check();
    });
    assert_eq!(slots.names, ["a", "b!"]);
    let recorded = entry(&entries, "Slots::slot");
    assert_eq!(recorded.status, Status::Success);
    assert_eq!(inputs(recorded), json!({ "i": 1 }));
    // Captured through a shared reborrow before the borrow is handed out.
    assert_eq!(recorded.outputs, Some(json!("b")));
}

impl Slots {
    fn value_check(&self) {
        assert_eq!(self.names.len(), 2);
    }
}

#[test]
fn a_result_of_a_mut_borrow_is_classified_by_type() {
    let mut slots = Slots {
        names: vec!["a".into()],
    };
    let (_, entries) = traced(|| {
        slots.try_slot(0).unwrap().push('?');
        assert!(slots.try_slot(5).is_err());
    });
    assert_eq!(slots.names, ["a?"]);
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_eq!(entries[0].status, Status::Success);
    assert_eq!(entries[0].outputs, Some(json!("a")));
    assert_eq!(entries[1].status, Status::Error);
    assert_eq!(entries[1].error.as_ref().unwrap().message, "no slot 5 of 1");
}

#[test]
fn an_async_method_hands_out_a_borrow_of_mut_self() {
    let mut slots = Slots {
        names: vec!["x".into()],
    };
    let (_, entries) = block_on(traced_async(async {
        slots.slot_async(0).await.push_str("yz");
    }));
    assert_eq!(slots.names, ["xyz"]);
    let recorded = only(&entries);
    assert_eq!(recorded.module, "Slots::slot_async");
    assert_eq!(recorded.outputs, Some(json!("x")));
}

#[test]
fn a_lone_method_hands_out_a_borrow_of_mut_self() {
    let mut alone = Alone { value: "v".into() };
    let (_, entries) = traced(|| alone.value_mut().push('w'));
    assert_eq!(alone.value, "vw");
    let recorded = only(&entries);
    assert_eq!(recorded.module, "Alone::value_mut");
    assert_eq!(recorded.outputs, Some(json!("v")));
}

#[test]
fn a_fn_returns_a_borrow_of_its_mut_argument() {
    let mut bytes = vec![1, 2];
    let mut empty: Vec<u8> = Vec::new();
    let (_, entries) = traced(|| {
        *first(&mut bytes) = 9;
        if let Some(b) = first_elided(&mut bytes) {
            *b += 1;
        }
        assert!(first_elided(&mut empty).is_none());
    });
    assert_eq!(bytes, [10, 2]);
    assert_eq!(entries.len(), 3, "{entries:#?}");
    assert_eq!(entries[0].module, "first");
    assert_eq!(inputs(&entries[0]), json!({ "v": [1, 2] }));
    assert_eq!(entries[0].outputs, Some(json!(1)));
    assert_eq!(entries[1].outputs, Some(json!(9)));
    assert_eq!(entries[2].outputs, Some(json!(null)));
    assert!(entries.iter().all(|e| e.status == Status::Success));
}

// This file only builds with `enabled`: both sides of a `#[cfg]` in one build.
#[monitored]
fn configured(
    #[cfg(feature = "enabled")] on: u8,
    #[cfg(not(feature = "enabled"))] off: u8,
    b: u8,
) -> u8 {
    on + b
}

#[monitored]
fn configured_by_feature(#[cfg(feature = "mlflow")] flag: u8, b: u8) -> u8 {
    #[cfg(feature = "mlflow")]
    return flag + b;
    #[cfg(not(feature = "mlflow"))]
    b
}

#[monitored]
async fn configured_async(
    #[cfg(not(feature = "enabled"))] off: u8,
    #[cfg(feature = "enabled")] on: u8,
) -> u8 {
    on
}

#[test]
fn arguments_under_cfg_are_recorded_when_they_exist() {
    let (_, entries) = traced(|| {
        assert_eq!(configured(1, 2), 3);
        #[cfg(feature = "mlflow")]
        assert_eq!(configured_by_feature(1, 2), 3);
        #[cfg(not(feature = "mlflow"))]
        assert_eq!(configured_by_feature(2), 2);
    });
    assert_eq!(inputs(&entries[0]), json!({ "on": 1, "b": 2 }));
    #[cfg(feature = "mlflow")]
    assert_eq!(inputs(&entries[1]), json!({ "flag": 1, "b": 2 }));
    #[cfg(not(feature = "mlflow"))]
    assert_eq!(inputs(&entries[1]), json!({ "b": 2 }));
    let (out, entries) = block_on(traced_async(configured_async(4)));
    assert_eq!(out, 4);
    assert_eq!(inputs(only(&entries)), json!({ "on": 4 }));
}

// Every name the expansion uses for itself, as a parameter and as a local of the body.
#[monitored]
#[allow(clippy::too_many_arguments, clippy::similar_names)]
fn named_like_the_expansion(
    __monitor_guard: u8,
    __monitor_tracer: u8,
    __monitor_out: u8,
    __monitor_body: u8,
    __monitor_value: u8,
    __monitor_error: u8,
    __monitor_info: u8,
    __monitor_future: u8,
) -> u32 {
    let __monitor_fake_return = 1u32;
    u32::from(
        __monitor_guard
            + __monitor_tracer
            + __monitor_out
            + __monitor_body
            + __monitor_value
            + __monitor_error
            + __monitor_info
            + __monitor_future,
    ) + __monitor_fake_return
}

#[monitored(tracer = __monitor_tracer, quality = |n| f64::from(*n), skip(__monitor_tracer))]
fn tracer_named_like_the_expansion(__monitor_tracer: &monitor::ExecutionTracer, n: u32) -> u32 {
    let __monitor_guard = n;
    __monitor_guard + 1
}

#[monitored]
async fn named_like_the_expansion_async(__monitor_future: u8, __monitor_out: u8) -> u8 {
    __monitor_future + __monitor_out
}

#[monitored]
#[allow(non_snake_case, non_upper_case_globals)]
fn items_named_like_the_expansion(__MONITOR_CALLSITE: u8, __monitor_name: u8) -> u8 {
    __MONITOR_CALLSITE + __monitor_name
}

#[monitored]
#[track_caller]
fn tracked_named_like_the_expansion(__monitor_guard: u8, __monitor_out: u8) -> u8 {
    __monitor_guard * __monitor_out
}

#[test]
fn parameters_named_like_the_expansion_are_the_users() {
    let (out, entries) = traced(|| named_like_the_expansion(1, 2, 3, 4, 5, 6, 7, 8));
    assert_eq!(out, 37);
    let recorded = only(&entries);
    assert_eq!(recorded.module, "named_like_the_expansion");
    // Recorded under the name without the leading `__`.
    assert_eq!(
        inputs(recorded),
        json!({
            "monitor_guard": 1, "monitor_tracer": 2, "monitor_out": 3, "monitor_body": 4,
            "monitor_value": 5, "monitor_error": 6, "monitor_info": 7, "monitor_future": 8,
        })
    );
    assert_eq!(recorded.outputs, Some(json!(37)));

    let (out, entries) = traced(|| items_named_like_the_expansion(1, 2));
    assert_eq!(out, 3);
    assert_eq!(only(&entries).module, "items_named_like_the_expansion");

    let (out, entries) = traced(|| tracked_named_like_the_expansion(3, 4));
    assert_eq!(out, 12);
    assert_eq!(only(&entries).outputs, Some(json!(12)));

    let (out, entries) = block_on(traced_async(named_like_the_expansion_async(1, 2)));
    assert_eq!(out, 3);
    assert_eq!(
        inputs(only(&entries)),
        json!({ "monitor_future": 1, "monitor_out": 2 })
    );
}

#[test]
fn a_tracer_parameter_named_like_the_expansion_is_the_one_used() {
    let tracer = monitor::ExecutionTracer::new();
    let (out, scoped) = traced(|| tracer_named_like_the_expansion(&tracer, 4));
    assert_eq!(out, 5);
    assert!(scoped.is_empty(), "recorded into the named tracer only");
    let entries = tracer.get_traces(None);
    let recorded = only(&entries);
    assert_eq!(recorded.quality_score, Some(5.0));
    assert_eq!(inputs(recorded), json!({ "n": 4 }));
}

#[derive(Debug)]
struct Flaky(u8);

impl Flaky {
    fn attempt(&mut self) -> Result<u8, String> {
        self.0 += 1;
        if self.0 < 3 {
            Err(format!("attempt {} failed", self.0))
        } else {
            Ok(self.0)
        }
    }
}

#[monitored]
fn retry(flaky: &mut Flaky, max: u8) -> Result<u8, String> {
    let mut tries = 0;
    loop {
        match flaky.attempt() {
            Ok(value) => return Ok(value),
            Err(error) if tries + 1 >= max => return Err(error),
            Err(_) => tries += 1,
        }
    }
}

#[monitored]
async fn retry_async(flaky: &mut Flaky, max: u8) -> Result<u8, String> {
    let mut tries = 0;
    loop {
        match flaky.attempt() {
            Ok(value) => return Ok(value),
            Err(error) if tries + 1 >= max => return Err(error),
            Err(_) => tries += 1,
        }
    }
}

#[test]
fn a_retry_loop_records_how_it_returned() {
    let (_, entries) = traced(|| {
        assert_eq!(retry(&mut Flaky(0), 5), Ok(3));
        assert_eq!(retry(&mut Flaky(0), 2), Err("attempt 2 failed".into()));
    });
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_eq!(entries[0].status, Status::Success);
    assert_eq!(entries[0].outputs, Some(json!(3)));
    assert_eq!(entries[1].status, Status::Error);
    assert_eq!(
        entries[1].error.as_ref().unwrap().message,
        "attempt 2 failed"
    );

    let (out, entries) = block_on(traced_async(retry_async(&mut Flaky(1), 1)));
    assert_eq!(out, Err("attempt 2 failed".into()));
    assert_eq!(only(&entries).status, Status::Error);
    let (out, entries) = block_on(traced_async(retry_async(&mut Flaky(0), 9)));
    assert_eq!(out, Ok(3));
    assert_eq!(only(&entries).status, Status::Success);
}
