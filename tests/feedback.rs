//! Feedback after the call: a score attached later by trace id and span id updates the
//! entry and the per-score metrics while the call is in the history, is exported either way
//! (Phoenix annotations through the OTLP exporter, here a local receiver), is not
//! duplicated when re-sent, and bad ids or scores get a clear error.

mod common;
mod support;

use std::sync::Mutex;
use std::time::Duration;

use monitor::{ExecutionTracer, Feedback, Score, SourceKind};

/// One OTLP exporter runs per process: the tests that start one take turns.
static ONE_EXPORTER: Mutex<()> = Mutex::new(());

/// A local receiver standing in for Phoenix, and an exporter to it flushing every 20 ms
/// whose requests may take `timeout`.
fn phoenix_receiver(
    timeout: Duration,
) -> (
    support::otlp_receiver::OtlpReceiver,
    monitor::export::OtlpExporter,
) {
    let receiver = support::otlp_receiver::OtlpReceiver::start();
    let config = monitor::export::OtlpConfig::default()
        .phoenix(&receiver.base_url())
        .unwrap()
        .schedule_delay(Duration::from_millis(20))
        .timeout(timeout);
    let exporter = monitor::export::init_otlp_with(config).unwrap().unwrap();
    (receiver, exporter)
}

fn finished_call(tracer: &ExecutionTracer, module: &str) -> (String, String) {
    let call = tracer.trace(module, ());
    let ids = (call.trace_id(), call.span_id());
    call.finish();
    ids
}

#[test]
fn feedback_by_ids_updates_the_entry_and_the_metrics() {
    let tracer = ExecutionTracer::new();
    let (trace_id, span_id) = finished_call(&tracer, "answer");
    let before = tracer.module_metrics("answer");
    assert!(before.scores.is_empty());

    let score = Score::new("helpful", 0.9)
        .unwrap()
        .with_rationale("solved my problem")
        .by_human("user-7");
    let receipt = tracer.feedback(&trace_id, Some(&span_id), score).unwrap();
    assert!(receipt.applied && !receipt.duplicate);

    let entry = &tracer.get_traces(None)[0];
    let helpful = entry.score("helpful").unwrap();
    assert_eq!(helpful.value.as_f64(), Some(0.9));
    assert_eq!(helpful.source.kind, SourceKind::Human);
    assert!(helpful.time_unix_nano.is_some());
    let after = tracer.module_metrics("answer");
    assert_eq!(after.scores["helpful"].count, 1);
    assert_eq!(after.scores["helpful"].mean, Some(0.9));
    assert_eq!(after.total_executions, before.total_executions);
    let stats = tracer.get_metrics().feedback;
    assert_eq!((stats.received, stats.applied, stats.unmatched), (1, 1, 0));

    // `clear` starts the counts again, as it does every metric.
    tracer.clear();
    assert_eq!(tracer.get_metrics().feedback, Default::default());
    assert!(tracer.module_metrics("answer").scores.is_empty());
}

#[test]
fn feedback_without_a_span_goes_to_the_root_and_takes_mlflow_ids() {
    let tracer = ExecutionTracer::new();
    let (trace_id, child_span) = tracer.in_trace("root", (), |_| finished_call(&tracer, "child"));
    let receipt = tracer
        .feedback(
            &format!("tr-{trace_id}"),
            None,
            Score::new("thumbs_up", true).unwrap(),
        )
        .unwrap();
    assert!(receipt.applied);
    let traces = tracer.get_traces(None);
    let root = traces.iter().find(|e| e.module == "root").unwrap();
    let child = traces.iter().find(|e| e.span_id == child_span).unwrap();
    assert_eq!(root.scores[0].name, "thumbs_up");
    assert!(child.scores.is_empty());
}

#[test]
fn the_same_feedback_again_is_counted_not_applied_twice() {
    let tracer = ExecutionTracer::new();
    let (trace_id, span_id) = finished_call(&tracer, "answer");
    let vote = || Score::new("thumbs_up", true).unwrap().by_human("user-7");
    let first = tracer.feedback(&trace_id, Some(&span_id), vote()).unwrap();
    let again = tracer.feedback(&trace_id, Some(&span_id), vote()).unwrap();
    // Upper-case hex is the same id.
    let shouted = tracer
        .feedback(&trace_id.to_uppercase(), Some(&span_id), vote())
        .unwrap();
    assert!(first.applied);
    assert!(again.duplicate && !again.applied && !again.queued_for_export);
    assert!(shouted.duplicate);
    assert_eq!(first.key, again.key);
    // Another person's vote on the same call is not a duplicate.
    let other = Score::new("thumbs_up", false).unwrap().by_human("user-8");
    assert!(
        tracer
            .feedback(&trace_id, Some(&span_id), other)
            .unwrap()
            .applied
    );

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.scores.len(), 2);
    let metrics = tracer.module_metrics("answer");
    assert_eq!(
        (
            metrics.scores["thumbs_up"].true_count,
            metrics.scores["thumbs_up"].false_count
        ),
        (1, 1)
    );
    let stats = tracer.feedback_stats();
    assert_eq!((stats.received, stats.applied, stats.duplicates), (4, 2, 2));
}

#[test]
fn malformed_ids_and_bad_scores_are_refused_with_the_reason() {
    let tracer = ExecutionTracer::new();
    let (trace_id, span_id) = finished_call(&tracer, "answer");
    let score = || Score::new("helpful", 1.0).unwrap();
    let error = |trace: &str, span: Option<&str>| {
        tracer
            .feedback(trace, span, score())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error("abc", None),
        "invalid feedback target: trace id \"abc\" is not 32 hex digits"
    );
    assert!(error(&"g".repeat(32), None).contains("not 32 hex digits"));
    assert!(error(&"0".repeat(32), None).contains("all zeros"));
    assert!(error(&trace_id, Some("xyz")).contains("span id \"xyz\" is not 16 hex digits"));
    assert!(error(&trace_id, Some(&"0".repeat(16))).contains("all zeros"));
    let ten_kb = error(&"f".repeat(10_000), None);
    assert!(ten_kb.len() < 120, "the id is shown cut: {ten_kb}");

    let mut nan = score();
    nan.value = monitor::ScoreValue::Number(f64::NAN);
    let nan = tracer.feedback(&trace_id, Some(&span_id), nan).unwrap_err();
    assert!(nan.to_string().contains("must be finite"), "{nan}");
    let quality = Score::new("quality", 0.3).unwrap();
    let quality = tracer.feedback(&trace_id, None, quality).unwrap_err();
    assert!(
        quality.to_string().contains("cannot be named quality"),
        "{quality}"
    );
    assert!(Feedback::new("abc", None, score()).is_err());

    // Nothing was applied or counted.
    assert!(tracer.get_traces(None)[0].scores.is_empty());
    assert_eq!(tracer.feedback_stats().received, 0);
}

#[test]
fn unknown_but_well_formed_ids_are_accepted_and_counted() {
    let tracer = ExecutionTracer::new();
    let receipt = tracer
        .feedback(
            &"ab".repeat(16),
            Some(&"cd".repeat(8)),
            Score::new("helpful", 1).unwrap(),
        )
        .unwrap();
    assert!(!receipt.applied && !receipt.duplicate);
    let stats = tracer.feedback_stats();
    assert_eq!((stats.received, stats.unmatched), (1, 1));
}

#[test]
fn feedback_for_a_call_gone_from_the_history_is_still_exported_and_counted() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let (receiver, exporter) = phoenix_receiver(Duration::from_secs(2));

    let tracer = ExecutionTracer::with_max_traces(1);
    let (old_trace, old_span) = tracer.in_trace("answer", (), |call| {
        call.score("relevance", 0.5).unwrap();
        (call.trace_id(), call.span_id())
    });
    let (new_trace, new_span) = finished_call(&tracer, "answer");
    assert_eq!(tracer.get_traces(None)[0].span_id, new_span);

    let gone = Score::new("helpful", false).unwrap().by_human("user-7");
    let receipt = tracer
        .feedback(&old_trace, Some(&old_span), gone.clone())
        .unwrap();
    assert!(!receipt.applied && receipt.queued_for_export);
    let kept = Score::new("helpful", true).unwrap().by_human("user-7");
    assert!(
        tracer
            .feedback(&new_trace, Some(&new_span), kept)
            .unwrap()
            .applied
    );
    // A re-send is not sent again.
    assert!(
        tracer
            .feedback(&old_trace, Some(&old_span), gone)
            .unwrap()
            .duplicate
    );
    // On a trace whose root span this process does not know: a trace annotation.
    let elsewhere = Score::new("resolved", "yes").unwrap().by_human("agent-2");
    tracer.feedback(&"12".repeat(16), None, elsewhere).unwrap();

    exporter.flush();
    let annotations = receiver.annotations();
    let on = |span: &str, name: &str| {
        annotations
            .iter()
            .filter(|(_, a)| a["span_id"] == span && a["name"] == name)
            .map(|(_, a)| a.clone())
            .collect::<Vec<_>>()
    };
    let gone = on(&old_span, "helpful");
    assert_eq!(gone.len(), 1, "{annotations:#?}");
    assert_eq!(gone[0]["annotator_kind"], "HUMAN");
    assert_eq!(gone[0]["result"]["score"], 0.0);
    assert_eq!(gone[0]["result"]["label"], "false");
    assert!(gone[0]["identifier"].as_str().unwrap().contains(&old_span));
    assert_eq!(
        on(&old_span, "relevance").len(),
        1,
        "scores set during the call go too"
    );
    assert_eq!(on(&new_span, "helpful").len(), 1);
    let trace_annotation = annotations
        .iter()
        .find(|(path, _)| path == "/v1/trace_annotations")
        .expect("a trace annotation");
    assert_eq!(trace_annotation.1["trace_id"], "12".repeat(16));
    assert_eq!(trace_annotation.1["result"]["label"], "yes");

    let stats = tracer.get_metrics().feedback;
    assert_eq!(
        (
            stats.received,
            stats.applied,
            stats.unmatched,
            stats.duplicates
        ),
        (4, 1, 2, 1)
    );
    let metrics = tracer.module_metrics("answer");
    assert_eq!(metrics.scores["helpful"].true_count, 1);
    assert_eq!(
        metrics.scores["helpful"].false_count, 0,
        "the gone call's feedback is not applied"
    );
    drop(exporter);
}

#[test]
fn a_flood_of_feedback_keeps_memory_bounded_and_counts_the_drops() {
    const FLOOD: usize = 25_000;
    // In a child process, which leaves without waiting for the hung Phoenix.
    const CHILD: &str = "a_flood_of_feedback_keeps_memory_bounded_and_counts_the_drops";
    if !common::is_child(CHILD) {
        let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
        return common::check_in_child_within(CHILD, &[], Duration::from_secs(120));
    }
    let receiver = support::otlp_receiver::OtlpReceiver::start();
    // Phoenix hangs: the exporter takes one batch of feedback at most, and waits.
    receiver.hang(Duration::from_secs(10));
    let config = monitor::export::OtlpConfig::default()
        .phoenix(&receiver.base_url())
        .unwrap()
        .schedule_delay(Duration::from_millis(20))
        .timeout(Duration::from_secs(3));
    let _exporter = monitor::export::init_otlp_with(config).unwrap().unwrap();
    let tracer = ExecutionTracer::new();
    let mut queued = 0;
    for i in 0..FLOOD {
        let trace = format!("{:032x}", i + 1);
        let score = Score::new("helpful", 1).unwrap();
        queued += usize::from(
            tracer
                .feedback(&trace, None, score)
                .unwrap()
                .queued_for_export,
        );
    }
    let stats = tracer.feedback_stats();
    assert_eq!(
        (stats.received, stats.unmatched),
        (FLOOD as u64, FLOOD as u64)
    );
    assert_eq!(stats.dropped as usize, FLOOD - queued);
    // At most the queue's bound waits, and at most one more was taken before the hang.
    assert!(
        queued <= 2 * monitor::MAX_PENDING_FEEDBACK,
        "{queued} queued, {} dropped",
        stats.dropped
    );
    println!("{queued} queued, {} dropped", stats.dropped);
    println!("child finished");
    std::process::exit(0);
}

#[test]
fn feedback_phoenix_could_not_take_is_sent_again_with_the_next_round() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let (receiver, exporter) = phoenix_receiver(Duration::from_millis(300));
    let tracer = ExecutionTracer::new();
    let (trace, span) = finished_call(&tracer, "answer");
    exporter.flush();

    // Phoenix answers 503 for longer than a request may take: the annotation waits.
    receiver.fail_next_annotations(&[503; 6]);
    let thumbs = Score::new("helpful", true).unwrap().by_human("user-7");
    assert!(
        tracer
            .feedback(&trace, Some(&span), thumbs)
            .unwrap()
            .queued_for_export
    );
    let helpful_on_span = || -> Vec<serde_json::Value> {
        let annotations = receiver.annotations().into_iter().map(|(_, a)| a);
        annotations
            .filter(|a| a["name"] == "helpful" && a["span_id"] == span.as_str())
            .collect()
    };
    exporter.flush();
    assert!(helpful_on_span().is_empty());

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let helpful = loop {
        let helpful = helpful_on_span();
        if !helpful.is_empty() || std::time::Instant::now() > deadline {
            break helpful;
        }
        exporter.flush();
    };
    assert_eq!(helpful.len(), 1, "{helpful:#?}");
    assert_eq!(exporter.stats().annotations_failed, 0);
    exporter.shutdown();
}
