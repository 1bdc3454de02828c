//! Property tests: the history, the metrics and the export formats hold their promises for
//! any sequence of calls and any values, non-ASCII, huge, NaN and infinite ones included;
//! and the readers of exported files survive anything a crash or a hostile file gives them.

use monitor::{
    capture::CapturedValue,
    export::{read_traces_jsonl, TraceExport},
    ErrorInfo, ExecutionTracer, TokenUsage,
};
use proptest::prelude::*;
use serde_json::json;

/// One call as a test describes it.
#[derive(Clone, Debug)]
struct Call {
    module: u8,
    fails: bool,
    quality: f64,
    tokens: (u32, u32),
}

fn call() -> impl Strategy<Value = Call> {
    (
        0u8..4,
        any::<bool>(),
        prop_oneof![
            4 => -10.0f64..10.0,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
        ],
        (0u32..1000, 0u32..1000),
    )
        .prop_map(|(module, fails, quality, tokens)| Call {
            module,
            fails,
            quality,
            tokens,
        })
}

fn record(tracer: &ExecutionTracer, index: usize, call: &Call) {
    let mut guard = tracer.trace(
        &format!("module_{}", call.module),
        json!({ "index": index }),
    );
    guard.set_token_usage(TokenUsage::new(
        u64::from(call.tokens.0),
        u64::from(call.tokens.1),
    ));
    if call.fails {
        guard.fail_with(ErrorInfo::new("test", "failed"));
    } else {
        guard.set_quality_score(call.quality);
    }
    guard.finish();
}

/// The nearest-rank quantile of `values`, as the metrics define it.
fn exact_quantile(values: &mut [u64], q: f64) -> u64 {
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_history_keeps_the_newest_calls_in_order(
        max in 1usize..40,
        calls in prop::collection::vec(call(), 0..150),
    ) {
        let tracer = ExecutionTracer::with_max_traces(max);
        for (index, call) in calls.iter().enumerate() {
            record(&tracer, index, call);
        }
        let kept: Vec<u64> = tracer
            .get_traces(None)
            .iter()
            .map(|entry| entry.inputs["index"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> =
            (calls.len().saturating_sub(max)..calls.len()).map(|i| i as u64).collect();
        prop_assert_eq!(&kept, &expected);
        prop_assert_eq!(tracer.evicted_count() as usize, calls.len() - kept.len());
        let limit = max / 2;
        let newest = tracer.get_traces(Some(limit));
        prop_assert_eq!(newest.len(), limit.min(kept.len()));
    }

    #[test]
    fn metrics_match_a_reference_computed_from_the_same_calls(
        calls in prop::collection::vec(call(), 1..150),
    ) {
        let tracer = ExecutionTracer::with_max_traces(1000);
        for (index, call) in calls.iter().enumerate() {
            record(&tracer, index, call);
        }
        let metrics = tracer.get_metrics();
        prop_assert_eq!(metrics.total_executions as usize, calls.len());
        for module in 0..4u8 {
            let name = format!("module_{module}");
            let mine: Vec<&Call> = calls.iter().filter(|c| c.module == module).collect();
            let got = tracer.module_metrics(&name);
            prop_assert_eq!(got.total_executions as usize, mine.len());
            let successes = mine.iter().filter(|c| !c.fails).count();
            prop_assert_eq!(got.successful_executions as usize, successes);
            prop_assert_eq!(got.error_count as usize, mine.len() - successes);
            let scores: Vec<f64> = mine
                .iter()
                .filter(|c| !c.fails && c.quality.is_finite())
                .map(|c| c.quality)
                .collect();
            prop_assert_eq!(got.quality_count as usize, scores.len());
            match got.avg_quality_score {
                None => prop_assert!(scores.is_empty()),
                Some(mean) => {
                    let expected = scores.iter().sum::<f64>() / scores.len() as f64;
                    prop_assert!((mean - expected).abs() < 1e-9, "{} vs {}", mean, expected);
                }
            }
            let input: u64 = mine.iter().map(|c| u64::from(c.tokens.0)).sum();
            let output: u64 = mine.iter().map(|c| u64::from(c.tokens.1)).sum();
            prop_assert_eq!(got.token_usage, TokenUsage::new(input, output));

            let mut durations: Vec<u64> = tracer
                .get_traces(None)
                .iter()
                .filter(|entry| entry.module == name)
                .map(|entry| entry.duration_ns)
                .collect();
            if durations.is_empty() {
                continue;
            }
            for (q, reported) in [
                (0.50, got.p50_duration_ms),
                (0.95, got.p95_duration_ms),
                (0.99, got.p99_duration_ms),
            ] {
                let exact = exact_quantile(&mut durations, q) as f64;
                let reported = reported * 1e6;
                prop_assert!(
                    (reported - exact).abs() <= exact * 0.02 + 1.0,
                    "p{}: {} ns reported, {} ns exact", q * 100.0, reported, exact
                );
            }
        }
    }

    #[test]
    fn exports_round_trip_any_values(
        texts in prop::collection::vec(
            prop_oneof![
                4 => any::<String>(),
                1 => "[\\u{0}-\\u{10FFFF}]{0,8}".prop_map(|s| s.repeat(1000)),
            ],
            1..6,
        ),
        numbers in prop::collection::vec(
            prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
            ],
            1..4,
        ),
    ) {
        let tracer = ExecutionTracer::new();
        for (index, text) in texts.iter().enumerate() {
            let mut call = tracer.trace("round_trip", json!({ "text": text, "index": index }));
            call.set_outputs(&numbers);
            call.set_attribute("note", text);
            call.set_attribute("number", numbers[0]);
            call.set_quality_score(numbers[index % numbers.len()]);
            if index % 2 == 1 {
                call.fail_with(ErrorInfo::new("kind", text.clone()));
            }
        }
        let entries = tracer.get_traces(None);
        let dir = tempfile::tempdir().unwrap();

        let json_path = dir.path().join("traces.json");
        tracer.export_traces(&json_path).unwrap();
        let document = TraceExport::read(&json_path).unwrap();
        prop_assert_eq!(&document.traces, &entries);

        let lines_path = dir.path().join("traces.jsonl");
        tracer.export_traces_jsonl(&lines_path).unwrap();
        prop_assert_eq!(&read_traces_jsonl(&lines_path).unwrap(), &entries);
    }

    #[test]
    fn a_jsonl_file_cut_anywhere_keeps_every_complete_line(
        count in 1usize..8,
        cut_fraction in 0.0f64..1.0,
    ) {
        let tracer = ExecutionTracer::new();
        for index in 0..count {
            let mut call = tracer.trace("cut", json!({ "index": index, "text": "é ∑ 🚀" }));
            call.set_outputs(index);
        }
        let entries = tracer.get_traces(None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.jsonl");
        tracer.export_traces_jsonl(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let cut = (bytes.len() as f64 * cut_fraction) as usize;
        std::fs::write(&path, &bytes[..cut]).unwrap();

        let complete = bytes[..cut]
            .split(|&b| b == b'\n')
            .filter(|line| serde_json::from_slice::<serde_json::Value>(line).is_ok())
            .count();
        let read = read_traces_jsonl(&path).unwrap();
        prop_assert_eq!(&read[..], &entries[..complete]);
    }

    #[test]
    fn readers_never_panic_on_arbitrary_files(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hostile");
        std::fs::write(&path, &bytes).unwrap();
        let _ = TraceExport::read(&path);
        let _ = read_traces_jsonl(&path);
    }

    #[test]
    fn readers_never_panic_on_damaged_exports(
        count in 1usize..5,
        position in 0.0f64..1.0,
        replacement in any::<u8>(),
    ) {
        let tracer = ExecutionTracer::new();
        for index in 0..count {
            tracer.trace("damaged", json!({ "index": index })).set_outputs("ok");
        }
        let dir = tempfile::tempdir().unwrap();
        for (name, jsonl) in [("traces.json", false), ("traces.jsonl", true)] {
            let path = dir.path().join(name);
            if jsonl {
                tracer.export_traces_jsonl(&path).unwrap();
            } else {
                tracer.export_traces(&path).unwrap();
            }
            let mut bytes = std::fs::read(&path).unwrap();
            let at = ((bytes.len() - 1) as f64 * position) as usize;
            bytes[at] = replacement;
            std::fs::write(&path, &bytes).unwrap();
            let _ = TraceExport::read(&path);
            let _ = read_traces_jsonl(&path);
        }
    }
}

#[test]
fn a_dump_after_a_torn_line_starts_on_a_new_line() {
    let tracer = ExecutionTracer::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.jsonl");
    tracer.trace("first", ()).set_outputs(1);
    tracer.dump_traces_jsonl(&path).unwrap();
    // A crash left half a line behind.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"module":"torn","trace_id":"0"#);
    std::fs::write(&path, &bytes).unwrap();
    tracer.trace("second", ()).set_outputs(2);
    tracer.dump_traces_jsonl(&path).unwrap();
    let modules: Vec<String> = read_traces_jsonl(&path)
        .unwrap()
        .into_iter()
        .map(|entry| entry.module)
        .collect();
    assert_eq!(modules, ["first", "second"]);
}

#[test]
fn a_corrupt_middle_line_is_an_error_naming_it() {
    let tracer = ExecutionTracer::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    tracer.trace("first", ()).set_outputs(1);
    tracer.export_traces_jsonl(&path).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("not json at all\n");
    std::fs::write(&path, text).unwrap();
    let error = read_traces_jsonl(&path).unwrap_err();
    assert!(
        error.to_string().contains("line 2"),
        "{error}: the message names the line"
    );
    assert!(matches!(error, monitor::Error::CorruptLine { line: 2, .. }));
}

/// Asserts that what `#[monitored]` captures for `value` (the specialization generated
/// code calls, on the concrete type: a macro, since in a generic function only the declared
/// bounds count) is what the general JSON capture keeps: on its own, and written into a
/// call's buffer as an argument and as the output, read back from the entry.
macro_rules! prop_assert_captured_alike {
    ($value:expr, $max:expr) => {{
        #[allow(unused_imports)]
        use monitor::__private::{CaptureDebug as _, CaptureJson as _, CaptureOpaque as _, Wrap};
        let value = $value;
        let general = CapturedValue::json(&value, $max);
        #[allow(clippy::needless_borrow)] // The borrows are the dispatch, as in generated code.
        let monitored = (&&&&Wrap(&value)).__monitor_capture($max);
        prop_assert_eq!(&monitored, &general);
        let tracer = ExecutionTracer::builder().max_field_bytes($max).build();
        let mut call = tracer.trace("alike", ());
        #[allow(clippy::needless_borrow)]
        (&&&&Wrap(&value)).__monitor_capture_into(call.inputs_writer().slot("value"));
        #[allow(clippy::needless_borrow)]
        (&&&&Wrap(&value)).__monitor_capture_into(call.output_slot());
        call.finish();
        let entry = tracer.get_traces(None).pop().unwrap();
        prop_assert_eq!(&entry.inputs["value"], &general.to_value());
        prop_assert_eq!(entry.outputs, Some(general.to_value()));
    }};
}

proptest! {
    /// Numbers, `bool` and `char` take a fast path: it keeps exactly what the general one
    /// does, NaN, infinities and values over a tiny cap included.
    #[test]
    fn scalars_are_captured_as_the_general_path_captures_them(
        int in any::<i64>(),
        wide in any::<u128>(),
        bits in any::<u64>(),
        flag in any::<bool>(),
        letter in any::<char>(),
        max in prop_oneof![0usize..48, Just(monitor::capture::DEFAULT_MAX_FIELD_BYTES)],
    ) {
        prop_assert_captured_alike!(int, max);
        prop_assert_captured_alike!(wide, max);
        prop_assert_captured_alike!(f64::from_bits(bits), max);
        prop_assert_captured_alike!(f32::from_bits(bits as u32), max);
        prop_assert_captured_alike!(flag, max);
        prop_assert_captured_alike!(letter, max);
    }

    /// Strings take a fast path too: masked and cut exactly as the general path does.
    #[test]
    fn strings_are_captured_as_the_general_path_captures_them(
        text in prop_oneof![
            any::<String>(),
            r#"(Bearer |https?://[a-z]{1,5}:[a-z]{1,5}@|\?api_key=)?[ a-z=&?"\\\n]{0,300}"#,
        ],
        max in prop_oneof![0usize..300, Just(monitor::capture::DEFAULT_MAX_FIELD_BYTES)],
    ) {
        prop_assert_captured_alike!(text.as_str(), max);
        prop_assert_captured_alike!(text, max);
    }
}
