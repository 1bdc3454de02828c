//! Named scores: set through the guard, `record_score`, `ModuleMonitor` scorers; kept on the
//! entry and in the export file; per-score metrics exact under many threads; bad input
//! refused with a clear error.

use std::sync::Barrier;

use monitor::export::TraceExport;
use monitor::{record_score, ExecutionTracer, ModuleMonitor, Score, ScoreValue, SourceKind};

#[test]
fn a_call_carries_several_named_scores_of_each_kind() {
    let tracer = ExecutionTracer::new();
    let mut call = tracer.trace("answer", ());
    call.score("relevance", 0.75).unwrap();
    call.score("grounded", true).unwrap();
    call.add_score(
        Score::new("tone", "friendly")
            .unwrap()
            .with_rationale("says please")
            .by_human("user-7"),
    )
    .unwrap();
    call.score("quality", 0.5).unwrap();
    call.finish();

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.quality_score, Some(0.5));
    assert_eq!(
        entry.scores.len(),
        3,
        "quality is kept once, as quality_score"
    );
    let tone = entry.score("tone").unwrap();
    assert_eq!(tone.value, ScoreValue::Label("friendly".into()));
    assert_eq!(tone.rationale.as_deref(), Some("says please"));
    assert_eq!(tone.source.kind, SourceKind::Human);
    assert_eq!(tone.source.id.as_deref(), Some("user-7"));
    let all: Vec<String> = entry.all_scores().into_iter().map(|s| s.name).collect();
    assert_eq!(all, ["quality", "relevance", "grounded", "tone"]);
}

#[test]
fn the_same_name_and_source_replaces_rather_than_duplicates() {
    let tracer = ExecutionTracer::new();
    let mut call = tracer.trace("answer", ());
    call.score("relevance", 0.1).unwrap();
    call.score("relevance", 0.9).unwrap();
    call.add_score(Score::new("relevance", 0.3).unwrap().by_llm_judge("judge"))
        .unwrap();
    call.finish();
    let entry = &tracer.get_traces(None)[0];
    let values: Vec<f64> = entry
        .scores
        .iter()
        .filter_map(|s| s.value.as_f64())
        .collect();
    assert_eq!(values, [0.9, 0.3]);
    let metrics = tracer.module_metrics("answer");
    assert_eq!(metrics.scores["relevance"].count, 2);
}

#[test]
fn record_score_annotates_the_innermost_call() {
    let tracer = ExecutionTracer::new();
    tracer.in_trace("outer", (), |_| {
        tracer.in_trace("inner", (), |_| {
            assert!(record_score(Score::new("inner_score", 1).unwrap()).unwrap());
            assert!(record_score(Score::new("quality", 0.25).unwrap()).unwrap());
        });
    });
    assert!(!record_score(Score::new("outside", 1).unwrap()).unwrap());
    let traces = tracer.get_traces(None);
    let inner = traces.iter().find(|e| e.module == "inner").unwrap();
    let outer = traces.iter().find(|e| e.module == "outer").unwrap();
    assert_eq!(inner.scores[0].name, "inner_score");
    assert_eq!(inner.quality_score, Some(0.25));
    assert!(outer.scores.is_empty());
}

#[test]
fn module_monitor_scorers_score_each_output_and_survive_panics() {
    let tracer = ExecutionTracer::new();
    let answer = ModuleMonitor::new("answer", |q: &str| format!("{q}: 42"))
        .with_tracer(&tracer)
        .with_scorer("length", |a: &String| a.len())
        .with_scorer("has_number", |a: &String| a.contains("42"))
        .with_scorer("nan", |_: &String| f64::NAN)
        .with_scorer("boom", |_: &String| -> f64 { panic!("scorer bug") });
    assert_eq!(answer.call("q"), "q: 42");
    assert_eq!(answer.call("qq"), "qq: 42");

    let metrics = answer.get_metrics();
    assert_eq!(metrics.scores["length"].count, 2);
    assert_eq!(metrics.scores["length"].mean, Some(5.5));
    assert_eq!(metrics.scores["has_number"].true_count, 2);
    assert!(!metrics.scores.contains_key("nan"));
    let entry = &tracer.get_traces(None)[1];
    let nan = entry.attributes["score_error.nan"].as_str().unwrap();
    assert!(nan.contains("finite"), "{nan}");
    let boom = entry.attributes["score_error.boom"].as_str().unwrap();
    assert!(boom.contains("scorer bug"), "{boom}");
}

#[test]
fn bad_scores_are_refused_and_change_nothing() {
    let tracer = ExecutionTracer::new();
    let mut call = tracer.trace("answer", ());
    let nan = call.score("relevance", f64::NAN).unwrap_err().to_string();
    assert_eq!(
        nan,
        "invalid score \"relevance\": the value is NaN; scores must be finite"
    );
    assert!(call.score("relevance", f64::NEG_INFINITY).is_err());
    assert!(call
        .score("", 1.0)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    let long = call
        .score(&"x".repeat(10_000), 1.0)
        .unwrap_err()
        .to_string();
    assert!(long.contains("10000 bytes; the limit is 256"), "{long}");
    assert!(call.score("quality", "great").is_err());
    // A score edited after it was made is checked again.
    let mut edited = Score::new("relevance", 1.0).unwrap();
    edited.value = ScoreValue::Number(f64::INFINITY);
    assert!(call.add_score(edited.clone()).is_err());
    assert!(record_score(edited).is_err());
    call.finish();
    let entry = &tracer.get_traces(None)[0];
    assert!(entry.scores.is_empty() && entry.quality_score.is_none());
    assert!(tracer.module_metrics("answer").scores.is_empty());
}

#[test]
fn scores_past_the_bound_are_counted_and_labels_capped() {
    let tracer = ExecutionTracer::builder().max_field_bytes(64).build();
    let mut call = tracer.trace("answer", ());
    for i in 0..monitor::MAX_SCORES_PER_CALL + 5 {
        call.score(&format!("s{i}"), i).unwrap();
    }
    call.finish();
    tracer.in_trace("labelled", (), |call| {
        call.score("tone", "y".repeat(1000)).unwrap();
        for i in 0..monitor::MAX_SCORES_PER_CALL + 3 {
            record_score(Score::new(format!("r{i}"), 1).unwrap()).unwrap();
        }
    });
    let traces = tracer.get_traces(None);
    assert_eq!(traces[0].scores.len(), monitor::MAX_SCORES_PER_CALL);
    assert_eq!(traces[0].attributes[monitor::SCORES_DROPPED], 5);
    let label = traces[1].scores[0].value.as_label().unwrap();
    assert!(
        label.len() < 120 && label.contains("…[truncated"),
        "{label}"
    );
    assert_eq!(traces[1].scores.len(), monitor::MAX_SCORES_PER_CALL);
    assert_eq!(traces[1].attributes[monitor::SCORES_DROPPED], 4);
}

#[test]
fn scores_round_trip_through_the_export_file_and_old_files_still_read() {
    let tracer = ExecutionTracer::new();
    tracer.in_trace("answer", (), |call| {
        call.add_score(Score::new("thumbs_up", true).unwrap().by_human("u1"))
            .unwrap();
    });
    tracer.in_trace("rated", (), |call| call.score("stars", 4.0).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.json");
    tracer.export_traces(&path).unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        json["metrics"]["modules"]["rated"]["scores"]["stars"]["max"],
        4.0
    );
    assert_eq!(
        json["traces"][0]["scores"],
        serde_json::json!([{"name": "thumbs_up", "value": true, "source": {"kind": "human", "id": "u1"}}])
    );
    assert_eq!(
        json["metrics"]["modules"]["answer"]["scores"]["thumbs_up"]["true_count"],
        1
    );
    let export = TraceExport::read(&path).unwrap();
    assert_eq!(export.traces, tracer.get_traces(None));
    assert_eq!(export.metrics, tracer.get_metrics());
    assert_eq!(
        export.metrics.modules["answer"].scores["thumbs_up"].true_count,
        1
    );

    // A file written before scores existed: no `scores` key anywhere.
    for trace in json["traces"].as_array_mut().unwrap() {
        trace.as_object_mut().unwrap().remove("scores");
    }
    for module in json["metrics"]["modules"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        module.as_object_mut().unwrap().remove("scores");
    }
    let old = serde_json::to_string(&json).unwrap();
    assert!(!old.contains(r#""scores""#), "{old}");
    std::fs::write(&path, old).unwrap();
    let export = TraceExport::read(&path).unwrap();
    assert!(export.traces[0].scores.is_empty());
    assert!(export.metrics.modules["answer"].scores.is_empty());
}

#[test]
fn per_score_metrics_are_exact_under_many_threads() {
    const THREADS: usize = 8;
    const CALLS: usize = 2_000;
    let tracer = ExecutionTracer::with_max_traces(100);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (tracer, barrier) = (&tracer, &barrier);
            scope.spawn(move || {
                barrier.wait();
                for call in 0..CALLS {
                    let mut guard = tracer.trace("scored", ());
                    // Values 0.0, 0.25, 0.5, 0.75 in turn: a mean of exactly 0.375.
                    guard.score("relevance", (call % 4) as f64 * 0.25).unwrap();
                    guard.score("grounded", call % 5 == 0).unwrap();
                    let label = ["good", "bad", "meh"][(thread + call) % 3];
                    guard.score("verdict", label).unwrap();
                    guard.set_quality_score(1.0);
                }
            });
        }
    });
    let total = (THREADS * CALLS) as u64;
    let metrics = tracer.module_metrics("scored");
    let relevance = &metrics.scores["relevance"];
    assert_eq!(relevance.count, total);
    assert_eq!(relevance.sum, 0.375 * total as f64);
    assert_eq!(relevance.mean, Some(0.375));
    assert_eq!((relevance.min, relevance.max), (Some(0.0), Some(0.75)));
    // le=0.1 holds the zeros, le=0.3 the 0.25s too, le=0.5 the halves, le=0.8 everything.
    assert_eq!(relevance.distribution[0], (0.1, total / 4));
    assert_eq!(relevance.distribution[2], (0.3, total / 2));
    assert_eq!(relevance.distribution[4], (0.5, 3 * total / 4));
    assert_eq!(relevance.distribution[7], (0.8, total));
    let grounded = &metrics.scores["grounded"];
    assert_eq!(grounded.true_count, total / 5);
    assert_eq!(grounded.false_count, total - total / 5);
    let verdict = &metrics.scores["verdict"];
    assert_eq!(verdict.labels.values().sum::<u64>(), total);
    assert_eq!(verdict.labels.len(), 3);
    assert_eq!(metrics.scores["quality"].count, total);
    assert_eq!(metrics.quality_count, total);
}

#[cfg(feature = "prometheus")]
#[test]
fn prometheus_shows_each_named_score_once() {
    let tracer = ExecutionTracer::new();
    for (relevance, grounded, tone) in [(0.25, true, "warm"), (0.75, false, "warm")] {
        let mut call = tracer.trace("answer", ());
        call.score("relevance", relevance).unwrap();
        call.score("grounded", grounded).unwrap();
        call.score("tone", tone).unwrap();
        call.set_quality_score(0.5);
    }
    let text = monitor::export::prometheus_text(&tracer);
    for line in [
        r#"monitor_score_sum{module="answer",score="relevance"} 1.0"#,
        r#"monitor_score_count{module="answer",score="relevance"} 2"#,
        r#"monitor_score_bucket{module="answer",score="relevance",le="0.3"} 1"#,
        r#"monitor_score_bucket{module="answer",score="relevance",le="+Inf"} 2"#,
        r#"monitor_score_bool_total{module="answer",score="grounded",value="true"} 1"#,
        r#"monitor_score_bool_total{module="answer",score="grounded",value="false"} 1"#,
        r#"monitor_score_label_total{module="answer",score="tone",label="warm"} 2"#,
        r#"monitor_quality_score_count{module="answer"} 2"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(
        !text.contains(r#"score="quality""#),
        "quality is exported once:\n{text}"
    );
}

#[monitor::monitored(
    tracer = tracer,
    quality = |answer: &String| if answer.is_empty() { 0.0 } else { 1.0 },
    scores(length = |answer: &String| answer.len(), polite = is_polite, r#tone = |_: &String| "warm")
)]
fn reply(tracer: &ExecutionTracer, question: &str) -> Result<String, std::fmt::Error> {
    let _ = tracer;
    if question.is_empty() {
        return Err(std::fmt::Error);
    }
    Ok(format!("please see: {question}"))
}

// A scorer takes a reference to the output type as it is.
#[allow(clippy::ptr_arg)]
fn is_polite(answer: &String) -> bool {
    answer.contains("please")
}

#[test]
fn the_attribute_runs_named_scorers_on_successful_outputs() {
    let tracer = ExecutionTracer::new();
    reply(&tracer, "why").unwrap();
    reply(&tracer, "").unwrap_err();
    let metrics = tracer.module_metrics("reply");
    assert_eq!(metrics.scores["length"].count, 1);
    assert_eq!(metrics.scores["length"].mean, Some(15.0));
    assert_eq!(metrics.scores["polite"].true_count, 1);
    assert_eq!(metrics.scores["tone"].labels["warm"], 1);
    assert_eq!(metrics.scores["quality"].count, 1);
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.quality_score, Some(1.0));
    let names: Vec<String> = entry.all_scores().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["quality", "length", "polite", "tone"]);
    assert_eq!(entry.scores[0].source.id.as_deref(), Some("length"));
    // The failed call is not scored.
    assert!(tracer.get_traces(None)[1].scores.is_empty());
}
