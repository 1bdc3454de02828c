//! `#[monitored]` on a function returning a stream: the call lasts until the stream ends or
//! is dropped, and its entry has the time to the first item, the item count, the items as
//! output (text items concatenated), and fails on an `Err` item.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::pin::Pin;
use std::time::Duration;

use futures::executor::block_on;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use monitor::{monitored, with_tracer, ExecutionTracer, Status};
use serde_json::json;

/// An LLM token stream, as a client library returns one.
#[monitored]
fn generate(prompt: &str) -> impl Stream<Item = String> {
    let words: Vec<String> = format!("echo: {prompt}")
        .split_inclusive(' ')
        .map(str::to_owned)
        .collect();
    stream::iter(words).then(|word| async move {
        std::thread::sleep(Duration::from_millis(2));
        word
    })
}

#[test]
fn a_token_stream_records_its_text_items_and_first_item_time() {
    let tracer = ExecutionTracer::new();
    let tokens = with_tracer(&tracer, || generate("hi there"));
    // Consumed outside `with_tracer`: the call records where it started.
    let text: String = block_on(tokens.collect::<Vec<_>>()).concat();
    assert_eq!(text, "echo: hi there");

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.module, "generate");
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.inputs["prompt"], "hi there");
    assert_eq!(entry.item_count, Some(3));
    // Text items are concatenated, as a reader of a token stream wants them.
    assert_eq!(entry.outputs, Some(json!("echo: hi there")));
    // The first item took one 2 ms step; the call lasted until the third.
    let first = entry.time_to_first_item_ns.unwrap();
    assert!(first >= 2_000_000, "{first}");
    assert!(entry.duration_ns >= 6_000_000, "{}", entry.duration_ns);
    assert!(first < entry.duration_ns);
}

#[derive(Debug, serde::Serialize)]
struct Hit {
    id: u32,
}

#[monitored]
async fn search(ids: Vec<u32>) -> Pin<Box<dyn Stream<Item = Hit> + Send>> {
    tokio::task::yield_now().await;
    Box::pin(stream::iter(ids.into_iter().map(|id| Hit { id })))
}

#[test]
fn an_async_fn_returning_a_boxed_stream_records_items_as_a_json_array() {
    let tracer = ExecutionTracer::new();
    let hits = block_on(async {
        let stream = monitor::WithTracerExt::with_tracer(search(vec![1, 2]), &tracer).await;
        stream.collect::<Vec<_>>().await
    });
    assert_eq!(hits.len(), 2);
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.item_count, Some(2));
    assert_eq!(entry.outputs, Some(json!([{"id": 1}, {"id": 2}])));
}

#[derive(Debug, thiserror::Error)]
#[error("rate limited after {0} tokens")]
struct RateLimited(usize);

/// `BoxStream` is an alias the attribute recognizes by name.
#[monitored]
fn chat(fail_after: usize) -> BoxStream<'static, Result<String, RateLimited>> {
    let items = (0..3).map(move |i| {
        if i == fail_after {
            Err(RateLimited(i))
        } else {
            Ok(format!("t{i} "))
        }
    });
    stream::iter(items).boxed()
}

#[test]
fn an_err_item_fails_the_call_with_that_error() {
    let tracer = ExecutionTracer::new();
    let items = block_on(with_tracer(&tracer, || chat(1)).collect::<Vec<_>>());
    assert_eq!(items.len(), 3, "the stream is passed on unchanged");

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Error);
    let error = entry.error.as_ref().unwrap();
    assert_eq!(error.message, "rate limited after 1 tokens");
    assert!(error.kind.ends_with("RateLimited"), "{}", error.kind);
    assert_eq!(entry.item_count, Some(3));
    // The `Ok` items' text.
    assert_eq!(entry.outputs, Some(json!("t0 t2 ")));
    assert_eq!(tracer.module_metrics("chat").error_count, 1);
}

#[test]
fn a_stream_dropped_before_its_end_is_cancelled() {
    let tracer = ExecutionTracer::new();
    let mut tokens = with_tracer(&tracer, || chat(usize::MAX));
    let first = block_on(tokens.next());
    assert_eq!(first.unwrap().unwrap(), "t0 ");
    assert!(tracer.get_traces(None).is_empty(), "still running");
    drop(tokens);

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Cancelled);
    assert_eq!(entry.item_count, Some(1));
    assert_eq!(entry.outputs, Some(json!("t0 ")));
}

#[monitored]
fn embed(word: &str) -> usize {
    word.len()
}

/// Each item is produced by a monitored call: those calls are the stream's children.
#[monitored]
fn embeddings(words: Vec<&'static str>) -> impl Stream<Item = usize> {
    stream::iter(words).map(embed)
}

#[test]
fn calls_made_while_producing_items_are_children_of_the_stream_call() {
    let tracer = ExecutionTracer::new();
    // Consumed inside `with_tracer`, so that the children record there too.
    let lengths = with_tracer(&tracer, || {
        block_on(embeddings(vec!["a", "bb"]).collect::<Vec<_>>())
    });
    assert_eq!(lengths, [1, 2]);

    let entries = tracer.get_traces(None);
    let parent = common::entry(&entries, "embeddings");
    let children: Vec<_> = entries.iter().filter(|e| e.module == "embed").collect();
    assert_eq!(children.len(), 2);
    for child in children {
        assert_eq!(
            child.parent_span_id.as_deref(),
            Some(parent.span_id.as_str())
        );
        assert_eq!(child.trace_id, parent.trace_id);
    }
    assert_eq!(parent.outputs, Some(json!([1, 2])));
}

#[monitored(stream)]
fn aliased() -> Tokens {
    Box::pin(stream::iter(["a", "b"]))
}

/// An alias the attribute cannot see through: `stream` says what it is.
type Tokens = Pin<Box<dyn Stream<Item = &'static str> + Send>>;

#[test]
fn the_stream_option_covers_aliases() {
    let tracer = ExecutionTracer::new();
    let items = block_on(with_tracer(&tracer, aliased).collect::<Vec<_>>());
    assert_eq!(items, ["a", "b"]);
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.item_count, Some(2));
    assert_eq!(entry.outputs, Some(json!("ab")));
}

#[test]
fn the_output_is_capped_with_a_marker() {
    let tracer = ExecutionTracer::builder().max_field_bytes(16).build();
    let items = block_on(with_tracer(&tracer, || generate(&"word ".repeat(20))).count());
    assert_eq!(items, 21);
    let entry = &tracer.get_traces(None)[0];
    let output = entry.outputs.as_ref().unwrap().as_str().unwrap();
    assert!(output.starts_with("\"echo: word word"), "{output}");
    assert!(output.contains("…[truncated: "), "{output}");
}

#[test]
fn metrics_have_percentiles_of_the_time_to_first_item() {
    let tracer = ExecutionTracer::new();
    for _ in 0..3 {
        block_on(with_tracer(&tracer, || generate("x")).count());
    }
    let metrics = tracer.module_metrics("generate");
    let p50 = metrics.p50_time_to_first_item_ms.unwrap();
    assert!(p50 >= 2.0, "{p50}");
    assert!(metrics.p95_time_to_first_item_ms.unwrap() >= p50);
    // Calls that return no stream have none.
    with_tracer(&tracer, || embed("a"));
    assert_eq!(
        tracer.module_metrics("embed").p50_time_to_first_item_ms,
        None
    );
}

#[test]
fn the_monitored_stream_is_send_and_unpin_like_the_stream_it_wraps() {
    fn send_unpin<T: Send + Unpin>(_: &T) {}
    let tokens = generate("x");
    // `then` is not `Unpin`, so neither is `generate`'s stream; pinned, it is.
    send_unpin(&Box::pin(tokens));
    send_unpin(&chat(0));
}

#[cfg(feature = "otlp")]
#[test]
fn otlp_spans_carry_the_time_to_first_chunk_and_the_item_count() {
    let tracer = ExecutionTracer::new();
    block_on(with_tracer(&tracer, || generate("x")).count());
    let request = monitor::export::otlp_request(&tracer.get_traces(None), "test");
    let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let attribute = |key: &str| {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"].clone())
            .unwrap_or_else(|| panic!("no {key} in {span:#}"))
    };
    let seconds = attribute("gen_ai.response.time_to_first_chunk")["doubleValue"]
        .as_f64()
        .unwrap();
    assert!((0.002..1.0).contains(&seconds), "{seconds}");
    assert_eq!(attribute("monitor.stream.item_count")["intValue"], "2");
}

#[cfg(feature = "prometheus")]
#[test]
fn prometheus_has_a_histogram_of_the_time_to_first_item() {
    let tracer = ExecutionTracer::new();
    for _ in 0..3 {
        let tokens = with_tracer(&tracer, || generate("hi"));
        block_on(tokens.collect::<Vec<_>>());
    }
    let text = monitor::export::prometheus_text(&tracer);
    assert!(
        text.contains(
            "gen_ai_client_operation_time_to_first_chunk_seconds_count{module=\"generate\"} 3"
        ),
        "{text}"
    );
    // Each first item took one 2 ms step: none within 1 ms, all within 2.5 s.
    assert!(text.contains(
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket{module=\"generate\",le=\"0.001\"} 0"
    ), "{text}");
    assert!(text.contains(
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket{module=\"generate\",le=\"2.56\"} 3"
    ), "{text}");
}

/// A stream that is not fused: it follows a script, `None` meaning "end for now", and may
/// yield again after an end, as some hand-written streams and channels' receivers do.
struct Scripted(std::vec::IntoIter<Option<u8>>);

impl Stream for Scripted {
    type Item = u8;

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<u8>> {
        std::task::Poll::Ready(self.0.next().flatten())
    }
}

#[monitored]
fn scripted(script: Vec<Option<u8>>) -> impl Stream<Item = u8> + Unpin {
    Scripted(script.into_iter())
}

/// Polls `stream` `polls` times, catching a panic: what each poll gave, then whether the
/// stream panicked.
fn poll_times<S: Stream<Item = u8> + Unpin>(
    mut stream: S,
    polls: usize,
) -> (Vec<Option<u8>>, bool) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut seen = Vec::new();
    for _ in 0..polls {
        let poll = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Pin::new(&mut stream).poll_next(&mut cx)
        }));
        match poll {
            Ok(std::task::Poll::Ready(item)) => seen.push(item),
            Ok(std::task::Poll::Pending) => unreachable!("never pending"),
            Err(_) => return (seen, true),
        }
    }
    (seen, false)
}

#[monitored]
fn counted_down(from: u8) -> BoxStream<'static, u8> {
    stream::unfold(
        from,
        |left| async move { (left > 0).then(|| (left, left - 1)) },
    )
    .boxed()
}

#[test]
fn an_unfold_polled_past_its_end_panics_as_the_plain_one() {
    let plain = stream::unfold(
        2u8,
        |left| async move { (left > 0).then(|| (left, left - 1)) },
    );
    let (plain_seen, plain_panicked) = poll_times(Box::pin(plain), 5);
    let tracer = ExecutionTracer::new();
    let monitored = with_tracer(&tracer, || counted_down(2));
    let (seen, panicked) = poll_times(monitored, 5);
    assert_eq!((seen, panicked), (plain_seen, plain_panicked));
    assert!(plain_panicked, "unfold panics when polled after its end");
    let entry = &tracer.get_traces(None)[0];
    assert_eq!((entry.status, entry.item_count), (Status::Success, Some(2)));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Polled past its end, a monitored stream gives what the plain one gives; the call is
    /// the items up to the first end.
    #[test]
    fn a_stream_polled_past_its_end_passes_on_what_the_plain_one_does(
        script in proptest::collection::vec(proptest::option::of(0u8..10), 0..12),
        extra_polls in 0usize..4,
    ) {
        let polls = script.len() + extra_polls;
        let (plain, _) = poll_times(Scripted(script.clone().into_iter()), polls);
        let tracer = ExecutionTracer::new();
        let monitored = with_tracer(&tracer, || scripted(script.clone()));
        let (seen, _) = poll_times(monitored, polls);
        proptest::prop_assert_eq!(&seen, &plain);
        let before_end = script.iter().take_while(|item| item.is_some()).count() as u64;
        let entries = tracer.get_traces(None);
        proptest::prop_assert_eq!(entries.len(), 1);
        if polls > before_end as usize {
            proptest::prop_assert_eq!(entries[0].item_count.unwrap_or(0), before_end);
            proptest::prop_assert_eq!(entries[0].status, Status::Success);
        }
    }
}
