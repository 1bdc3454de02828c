//! W3C Trace Context and Baggage across processes: headers read and written as the
//! specifications say, a remote parent continued in the tracer and in the OpenTelemetry
//! bridge, and hostile headers that never panic, never poison a trace, and are counted.
//! The refusal counter is process-wide, so the tests here take turns.

mod common;

use std::collections::HashMap;
use std::sync::Mutex;

use http::{HeaderMap, HeaderValue};
use monitor::propagate::{propagation_stats, Baggage, PropagationStats};
use monitor::{extract, inject, ExecutionTracer, RemoteContext, TraceAttributes};
use proptest::prelude::*;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT: &str = "b7ad6b7169203331";

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn since(before: PropagationStats) -> PropagationStats {
    let now = propagation_stats();
    PropagationStats {
        continued: now.continued - before.continued,
        traceparent_refused: now.traceparent_refused - before.traceparent_refused,
        tracestate_refused: now.tracestate_refused - before.tracestate_refused,
        baggage_refused: now.baggage_refused - before.baggage_refused,
    }
}

/// `traceparent` values of the W3C test suite (test/test.py) and the specification's text.
const INVALID_TRACEPARENTS: &[&str] = &[
    "",
    "00",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-00",
    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "000-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c00-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333100-01",
    "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
    "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
    "00-0af7651916cd43dd8448eb211c8031\u{e9}c-b7ad6b7169203331-01",
    "\u{0}0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01.what-the-future-will-be-like",
];

#[test]
fn valid_traceparents_are_continued_with_their_flags() {
    let _turn = turn();
    for (value, sampled) in [
        (format!("00-{TRACE}-{PARENT}-01"), true),
        (format!("00-{TRACE}-{PARENT}-00"), false),
        (format!("00-{TRACE}-{PARENT}-09"), true),
        (format!(" 00-{TRACE}-{PARENT}-01\t"), true),
        // A later version: the fields it shares with 00, whatever follows a dash.
        (format!("cc-{TRACE}-{PARENT}-01"), true),
        (
            format!("cc-{TRACE}-{PARENT}-00-what-the-future-will-be-like"),
            false,
        ),
    ] {
        let remote = extract(&headers(&[("traceparent", &value)])).expect(&value);
        assert_eq!(remote.trace_id(), TRACE);
        assert_eq!(remote.parent_span_id(), PARENT);
        assert_eq!(remote.sampled(), sampled, "{value}");
    }
}

#[test]
fn invalid_traceparents_are_refused_and_counted() {
    let _turn = turn();
    let before = propagation_stats();
    for value in INVALID_TRACEPARENTS {
        assert!(
            extract(&headers(&[("traceparent", value)])).is_none(),
            "{value:?}"
        );
    }
    let counted = since(before);
    assert_eq!(
        counted.traceparent_refused,
        INVALID_TRACEPARENTS.len() as u64
    );
    assert_eq!(counted.continued, 0);
    // No header at all is no refusal: a trace starts here.
    assert!(extract(&headers(&[])).is_none());
    assert_eq!(since(before).refused(), INVALID_TRACEPARENTS.len() as u64);
}

#[test]
fn a_traceparent_sent_twice_is_refused() {
    let _turn = turn();
    let valid = format!("00-{TRACE}-{PARENT}-01");
    let mut map = HeaderMap::new();
    map.append("traceparent", HeaderValue::from_str(&valid).unwrap());
    assert!(extract(&map).is_some());
    map.append("traceparent", HeaderValue::from_str(&valid).unwrap());
    let before = propagation_stats();
    assert!(extract(&map).is_none());
    assert_eq!(since(before).traceparent_refused, 1);
}

#[test]
fn header_names_match_in_any_case_and_non_text_values_are_refused() {
    let _turn = turn();
    let valid = format!("00-{TRACE}-{PARENT}-01");
    assert!(extract(&headers(&[("TraceParent", &valid)])).is_some());
    let mut map = HeaderMap::new();
    map.insert(
        "traceparent",
        HeaderValue::from_bytes(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033\xff1-01")
            .unwrap(),
    );
    assert!(extract(&map).is_none());
}

#[test]
fn tracestate_is_kept_dropped_or_cut_as_the_specification_says() {
    let _turn = turn();
    let parent = format!("00-{TRACE}-{PARENT}-01");
    let with = |state: &str| extract(&headers(&[("traceparent", &parent), ("tracestate", state)]));

    let kept = with("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7").unwrap();
    assert_eq!(kept.tracestate().get("rojo"), Some("00f067aa0ba902b7"));
    assert_eq!(kept.tracestate().len(), 2);

    let before = propagation_stats();
    let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    for invalid in [
        "Congo=x",
        "congo=a,congo=b",
        "congo",
        "congo=\u{e9}",
        too_many.join(",").as_str(),
    ] {
        let remote = with(invalid).expect("the traceparent still holds");
        assert!(remote.tracestate().is_empty(), "{invalid:?}");
        assert_eq!(remote.trace_id(), TRACE);
    }
    let long: Vec<String> = (0..30)
        .map(|i| format!("k{i:02}={}", "v".repeat(30)))
        .collect();
    let cut = with(&long.join(",")).unwrap();
    assert!(cut.tracestate().header_value().len() <= 512);
    assert_eq!(since(before).tracestate_refused, 6);
}

/// Records a call of `name` into the tracer a future yields, when it is polled.
trait ThenTrace: std::future::Future<Output = ExecutionTracer> + Sized {
    async fn then_trace(self, name: &'static str) {
        self.await.trace(name, ()).finish();
    }
}

impl<F: std::future::Future<Output = ExecutionTracer>> ThenTrace for F {}

/// A remote parent that sampled its trace, as a valid `traceparent` says.
fn sampled_remote() -> RemoteContext {
    let parent = format!("00-{TRACE}-{PARENT}-01");
    extract(&headers(&[("traceparent", &parent)])).unwrap()
}

#[test]
fn a_remote_parent_is_the_parent_of_calls_made_under_it() {
    let _turn = turn();
    let remote = sampled_remote();
    let tracer = ExecutionTracer::new();
    remote.in_scope(|| {
        let _handler = tracer.trace("handle", ());
        tracer.trace("step", ()).finish();
    });
    let entries = tracer.get_traces(None);
    let (step, handle) = (&entries[0], &entries[1]);
    assert_eq!(handle.trace_id, TRACE);
    assert_eq!(handle.parent_span_id.as_deref(), Some(PARENT));
    assert_eq!(step.trace_id, TRACE);
    assert_eq!(step.parent_span_id.as_ref(), Some(&handle.span_id));
    // Outside the scope a call starts its own trace again.
    tracer.trace("after", ()).finish();
    let after = &tracer.get_traces(Some(1))[0];
    assert_ne!(after.trace_id, TRACE);
    assert_eq!(after.parent_span_id, None);
}

#[test]
fn the_first_call_under_a_remote_parent_sums_its_traces_tokens() {
    let _turn = turn();
    let tracer = ExecutionTracer::new();
    sampled_remote().in_scope(|| {
        let handle = tracer.trace("handle", ());
        let mut model = tracer.trace("model", ());
        model.set_token_usage(monitor::TokenUsage::new(10, 5));
        model.finish();
        handle.finish();
    });
    let handle = &tracer.get_traces(None)[1];
    assert_eq!(handle.module, "handle");
    assert_eq!(handle.trace_token_usage.unwrap().total_tokens, 15);
}

#[test]
fn a_remote_parent_reaches_calls_across_await_and_spawned_work() {
    let _turn = turn();
    let remote = sampled_remote();
    let tracer = ExecutionTracer::new();
    common::block_on(remote.attach(async {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        let task = monitor::spawn(std::future::ready(tracer.clone()).then_trace("spawned"));
        task.await.unwrap();
        monitor::spawn_thread({
            let tracer = tracer.clone();
            move || tracer.trace("thread", ()).finish()
        })
        .join()
        .unwrap();
    }));
    for entry in tracer.get_traces(None) {
        assert_eq!(entry.trace_id, TRACE, "{}", entry.module);
        assert_eq!(
            entry.parent_span_id.as_deref(),
            Some(PARENT),
            "{}",
            entry.module
        );
    }
    assert_eq!(tracer.get_metrics().total_executions, 2);
}

#[test]
fn inject_writes_the_current_call_and_the_other_side_reads_it_back() {
    let _turn = turn();
    let tracer = ExecutionTracer::new();
    let mut sent = HeaderMap::new();
    assert!(!inject(&mut sent), "outside any call nothing is written");
    assert!(sent.is_empty());
    let call = tracer.trace("ask", ());
    assert!(inject(&mut sent));
    let remote = extract(&sent).unwrap();
    assert_eq!(remote.trace_id(), call.trace_id());
    assert_eq!(remote.parent_span_id(), call.span_id());
    assert!(remote.sampled());
    drop(call);

    // An unsampled remote parent stays unsampled downstream; tracestate and baggage go on.
    let incoming = headers(&[
        ("traceparent", &format!("00-{TRACE}-{PARENT}-00")),
        ("tracestate", "rojo=00f067aa0ba902b7"),
        ("baggage", "tenant=acme"),
    ]);
    let remote = extract(&incoming).unwrap();
    let mut onward = HashMap::new();
    remote.in_scope(|| {
        let call = tracer.trace("forward", ());
        assert!(inject(&mut onward));
        assert_eq!(
            onward["traceparent"],
            format!("00-{TRACE}-{}-00", call.span_id())
        );
    });
    assert_eq!(onward["tracestate"], "rojo=00f067aa0ba902b7");
    assert_eq!(onward["baggage"], "tenant=acme");
}

#[test]
fn session_and_user_travel_as_baggage_and_land_on_the_receiving_trace() {
    let _turn = turn();
    let front = ExecutionTracer::new();
    let visit = TraceAttributes::new().session("s-42").user("u-7");
    let mut sent = HashMap::new();
    monitor::with_trace_attributes(&visit, || {
        let _call = front.trace("front", ());
        assert!(inject(&mut sent));
    });
    let baggage = &sent["baggage"];
    assert!(baggage.contains("session.id=s-42"), "{baggage}");
    assert!(baggage.contains("user.id=u-7"), "{baggage}");

    sent.insert(
        "baggage".to_owned(),
        format!("{baggage},api_key=sk-live-1234567890abcdef,tenant=acme%20corp"),
    );
    let back = ExecutionTracer::new();
    let remote = extract(&sent).unwrap();
    remote.in_scope(|| back.trace("back", ()).finish());
    let entry = &back.get_traces(None)[0];
    assert_eq!(entry.attributes["session.id"], "s-42");
    assert_eq!(entry.attributes["user.id"], "u-7");
    let metadata = entry.attributes["metadata"].as_str().unwrap();
    assert!(metadata.contains("acme corp"), "{metadata}");
    // A secret in baggage is masked like every other field, in entries and in Debug.
    assert!(!metadata.contains("sk-live-1234567890abcdef"), "{metadata}");
    assert!(!format!("{remote:?}").contains("sk-live-1234567890abcdef"));
    assert_eq!(
        remote.baggage().get("api_key"),
        Some("sk-live-1234567890abcdef")
    );
}

#[test]
fn ten_thousand_malformed_headers_leave_the_tracer_and_memory_intact() {
    let _turn = turn();
    let tracer = ExecutionTracer::with_max_traces(100);
    let resident_before = common::rss_bytes();
    let before = propagation_stats();
    let mut refused = 0;
    for i in 0..10_000u64 {
        let hostile = match i % 5 {
            0 => format!("00-{:032x}-{PARENT}-01", 0),
            1 => format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
            2 => format!("01-{TRACE}-{PARENT}-01{}", "x".repeat(i as usize % 5000)),
            3 => "\u{1f600}".repeat(20),
            _ => format!("00-{TRACE}-{PARENT}"),
        };
        let sent = headers(&[
            ("traceparent", &hostile),
            ("tracestate", &"k=v,".repeat(100)),
            ("baggage", &"k=v,".repeat(3000)),
        ]);
        let remote = extract(&sent);
        assert!(remote.is_none());
        refused += 1;
        // A new root each time: nothing of the hostile header is taken.
        tracer.trace("handle", ()).finish();
    }
    let counted = since(before);
    assert_eq!(counted.traceparent_refused, refused);
    assert_eq!(counted.continued, 0);
    let metrics = tracer.get_metrics();
    assert_eq!(metrics.total_executions, 10_000);
    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 100);
    assert!(entries.iter().all(|e| e.parent_span_id.is_none()));
    assert!(entries.iter().all(|e| e.trace_id != TRACE));
    let resident_after = common::rss_bytes();
    assert!(
        resident_after < resident_before + (32 << 20),
        "resident memory grew from {resident_before} to {resident_after} bytes"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_in_any_header_never_panic(
        parent in proptest::collection::vec(any::<u8>(), 0..80),
        state in proptest::collection::vec(any::<u8>(), 0..300),
        baggage in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let _turn = turn();
        let mut map = HeaderMap::new();
        for (name, bytes) in [("traceparent", &parent), ("tracestate", &state), ("baggage", &baggage)] {
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                map.insert(name, value);
            }
        }
        if let Some(remote) = extract(&map) {
            let mut onward = HashMap::new();
            remote.in_scope(|| {
                let tracer = ExecutionTracer::new();
                let _call = tracer.trace("x", ());
                inject(&mut onward)
            });
            prop_assert!(extract(&onward).is_some());
        }
        let text = String::from_utf8_lossy(&parent).into_owned();
        let _ = extract(&headers(&[("traceparent", &text), ("baggage", &String::from_utf8_lossy(&baggage))]));
    }

    #[test]
    fn valid_contexts_round_trip(
        trace in 1u128..,
        span in 1u64..,
        sampled in any::<bool>(),
        entries in proptest::collection::vec(("[a-z][a-z0-9_]{0,8}", ".{0,12}"), 0..6),
    ) {
        let _turn = turn();
        let value = format!("00-{trace:032x}-{span:016x}-0{}", u8::from(sampled));
        let mut baggage = Baggage::new();
        for (key, text) in &entries {
            prop_assert!(baggage.insert(key, text));
        }
        let sent = headers(&[("traceparent", &value), ("baggage", &baggage.header_value())]);
        let remote = extract(&sent).unwrap();
        prop_assert_eq!(remote.trace_id(), format!("{trace:032x}"));
        prop_assert_eq!(remote.parent_span_id(), format!("{span:016x}"));
        prop_assert_eq!(remote.sampled(), sampled);
        prop_assert_eq!(remote.baggage(), &baggage);
    }
}

#[cfg(feature = "opentelemetry")]
mod bridge {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporterBuilder, Sampler, SdkTracerProvider};

    /// The program's own provider, with OpenTelemetry's default parent-based sampler: a
    /// sampled remote parent's calls are its children there, an unsampled one's are not
    /// exported, and the metrics count both.
    #[test]
    fn the_bridge_continues_a_remote_parent_and_follows_its_sampling() {
        let _turn = turn();
        let exporter = InMemorySpanExporterBuilder::new().build();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .build();
        let bridge = monitor::export::init_opentelemetry(provider.tracer("monitor")).unwrap();
        let tracer = ExecutionTracer::new();
        let unsampled = "5bd66ef5095369c7b0d1f8f4bd33716a";
        for (trace, flags) in [(TRACE, "01"), (unsampled, "00")] {
            let sent = headers(&[("traceparent", &format!("00-{trace}-{PARENT}-{flags}"))]);
            extract(&sent).unwrap().in_scope(|| {
                let _handle = tracer.trace("handle", ());
                tracer.trace("step", ()).finish();
            });
        }
        bridge.flush();
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 2, "{spans:#?}");
        let handle = spans.iter().find(|s| s.name == "handle").unwrap();
        let step = spans.iter().find(|s| s.name == "step").unwrap();
        assert_eq!(handle.span_context.trace_id().to_string(), TRACE);
        assert_eq!(handle.parent_span_id.to_string(), PARENT);
        assert!(handle.parent_span_is_remote);
        assert_eq!(step.parent_span_id, handle.span_context.span_id());
        assert_eq!(tracer.get_metrics().total_executions, 4);
        bridge.shutdown();
    }
}
