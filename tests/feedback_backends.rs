//! Feedback after the call, read back from the real backends (the servers `scripts/test.sh`
//! starts, found through `MONITOR_TEST_MLFLOW_URI`/`MONITOR_MLFLOW_VENV` and
//! `MONITOR_TEST_PHOENIX_URL`): an assessment on the right span through MLflow's REST API,
//! delivered once after the server was down; a span annotation through Phoenix's REST API,
//! once after the same feedback was sent again.

mod support;

use std::time::{Duration, Instant};

use monitor::{ExecutionTracer, Feedback, Score};
use serde_json::Value;

/// A call with a child, as a service answers a request: `(trace, root span, child span)`.
fn answer(tracer: &ExecutionTracer) -> (String, String, String) {
    tracer.in_trace("service.answer", serde_json::json!({"q": "2+2?"}), |root| {
        root.set_outputs("4");
        let child = tracer.trace("service.generate", ());
        let child_span = child.span_id();
        child.finish();
        (root.trace_id(), root.span_id(), child_span)
    })
}

fn helpful() -> Score {
    Score::new("helpful", 0.8)
        .unwrap()
        .with_rationale("right, but terse")
        .by_human("user-7")
}

/// The assessments named `name` of trace `trace_id`, read back through MLflow's REST API.
#[cfg(feature = "mlflow")]
fn assessments_named(uri: &str, trace_id: &str, name: &str) -> Vec<Value> {
    let trace =
        support::mlflow::Rest::new(uri).get(&format!("/api/3.0/mlflow/traces/tr-{trace_id}"));
    let assessments = trace["trace"]["trace_info"]["assessments"]
        .as_array()
        .cloned();
    assessments
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["assessment_name"] == name)
        .collect()
}

#[cfg(feature = "mlflow")]
#[test]
fn feedback_reaches_mlflow_as_one_assessment_on_its_span_after_a_retry() {
    use support::mlflow::{tracker, unique, OwnServer};

    if support::mlflow::server_uri().is_none() {
        return;
    }
    let Some(server) = OwnServer::start() else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&server.uri, spool.path());
    let experiment = unique("feedback");
    let run = tracker.start_in(&experiment, "served").unwrap();
    let tracer = ExecutionTracer::new();
    let (trace_id, _root_span, child_span) = answer(&tracer);
    run.log_traces(&tracer.get_traces(None)).unwrap();
    assert!(tracker.flush().is_complete());

    // The user's feedback arrives while MLflow is down: it waits and is retried.
    let receipt = tracer
        .feedback(&trace_id, Some(&child_span), helpful())
        .unwrap();
    assert!(receipt.applied);
    server.stop();
    run.log_feedback(&Feedback::new(&trace_id, Some(&child_span), helpful()).unwrap())
        .unwrap();
    // Sent again by the client: refused as a duplicate, so not logged twice.
    assert!(
        tracer
            .feedback(&trace_id, Some(&child_span), helpful())
            .unwrap()
            .duplicate
    );
    server.restart();
    drop(run);
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");

    let helpful = assessments_named(&server.uri, &trace_id, "helpful");
    assert_eq!(helpful.len(), 1, "{helpful:#?}");
    let helpful = &helpful[0];
    assert_eq!(helpful["span_id"], child_span.as_str());
    assert_eq!(helpful["feedback"]["value"], 0.8);
    assert_eq!(helpful["rationale"], "right, but terse");
    assert_eq!(helpful["source"]["source_type"], "HUMAN");
    assert_eq!(helpful["source"]["source_id"], "user-7");
}

#[cfg(feature = "mlflow")]
#[test]
fn the_same_feedback_sent_three_ways_stays_one_assessment_in_mlflow() {
    use support::mlflow::{tracker, unique};

    let Some(uri) = support::mlflow::server_uri() else {
        return;
    };
    let experiment = unique("feedback-once");
    let tracer = ExecutionTracer::new();
    let (trace_id, _root_span, child_span) = answer(&tracer);
    let feedback = || Feedback::new(&trace_id, Some(&child_span), helpful()).unwrap();

    // The serving process: the feedback is applied to the call before its traces are
    // logged (so the trace carries it), then logged as feedback too.
    assert!(tracer.send_feedback(feedback()).unwrap().applied);
    let spool = tempfile::tempdir().unwrap();
    let serving = tracker(&uri, spool.path());
    let run = serving.start_in(&experiment, "served").unwrap();
    run.log_traces(&tracer.get_traces(None)).unwrap();
    run.log_feedback(&feedback()).unwrap();
    drop(run);
    assert!(serving.flush().is_complete());

    // A feedback endpoint in another process (its own logger and spool) gets the same
    // feedback from the client again.
    let other_spool = tempfile::tempdir().unwrap();
    let elsewhere = tracker(&uri, other_spool.path());
    let run = elsewhere
        .start_in(&experiment, "feedback endpoint")
        .unwrap();
    run.log_feedback(&feedback()).unwrap();
    drop(run);
    assert!(elsewhere.flush().is_complete());

    let helpful = assessments_named(&uri, &trace_id, "helpful");
    assert_eq!(helpful.len(), 1, "{helpful:#?}");
    assert_eq!(helpful[0]["span_id"], child_span.as_str());
    assert_eq!(
        helpful[0]["metadata"]["monitor.key"],
        feedback().idempotency_key()
    );
}

#[test]
fn feedback_reaches_phoenix_as_one_span_annotation_after_a_resend() {
    let Ok(url) = std::env::var("MONITOR_TEST_PHOENIX_URL") else {
        return;
    };
    let url = url.trim_end_matches('/').to_owned();
    let project = support::unique("monitor-feedback");
    let exporter = support::phoenix_exporter(&url, &project);
    let tracer = ExecutionTracer::new();
    let (trace_id, _root_span, child_span) = monitor::with_tracer(&tracer, || answer(&tracer));
    exporter.flush();
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| -> Option<Value> {
        let response = client.get(format!("{url}{path}")).send().ok()?;
        response
            .status()
            .is_success()
            .then(|| response.json().ok())?
    };
    let poll = |path: &str, ready: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = Instant::now() + Duration::from_secs(45);
        loop {
            match get(path) {
                Some(answer) if ready(&answer) => return answer,
                last if Instant::now() > deadline => panic!("{path}: {last:?}"),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    };
    let has_data = |answer: &Value| answer["data"].as_array().is_some_and(|d| !d.is_empty());
    poll(&format!("/v1/projects/{project}/spans?limit=10"), &has_data);

    // The feedback, then the same feedback from another process (another tracer, which
    // has not seen it): Phoenix keeps one annotation, by its identifier.
    let first = tracer
        .feedback(&trace_id, Some(&child_span), helpful())
        .unwrap();
    assert!(first.applied && first.queued_for_export);
    let elsewhere = ExecutionTracer::new();
    let again = elsewhere
        .feedback(&trace_id, Some(&child_span), helpful())
        .unwrap();
    assert!(!again.applied && again.queued_for_export);
    // Another user's feedback on the same span is an annotation of its own.
    let other = Score::new("helpful", 0.2).unwrap().by_human("user-8");
    tracer
        .feedback(&trace_id, Some(&child_span), other)
        .unwrap();
    let stats = exporter.flush();
    assert!(stats.annotations >= 3, "{stats:?}");

    let path = format!("/v1/projects/{project}/span_annotations?span_ids={child_span}");
    let named_helpful = |answer: &Value| {
        answer["data"]
            .as_array()
            .map(|d| d.iter().filter(|a| a["name"] == "helpful").count())
            .unwrap_or(0)
    };
    poll(&path, &|answer| named_helpful(answer) > 1);
    // Every post was answered; Phoenix stores what it takes within a few seconds.
    std::thread::sleep(Duration::from_secs(3));
    let annotations = poll(&path, &|answer| named_helpful(answer) > 0);
    assert_eq!(
        named_helpful(&annotations),
        2,
        "one per user: {annotations:#}"
    );
    let helpful = annotations["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "helpful" && a["result"]["score"] == 0.8)
        .unwrap();
    assert_eq!(helpful["annotator_kind"], "HUMAN");
    assert_eq!(helpful["result"]["score"], 0.8);
    assert_eq!(helpful["result"]["explanation"], "right, but terse");
    assert_eq!(helpful["span_id"], child_span.as_str());
    exporter.shutdown();
}
