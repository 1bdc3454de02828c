//! Datasets from traces: the selection takes exactly the calls asked for, rows carry
//! inputs, outputs, expectations and scores, JSON Lines round-trip and bad lines are named,
//! dspy-rs `Example`s are made from rows; and (with the real servers `scripts/test.sh`
//! starts) a dataset reads back from MLflow's and Phoenix's dataset APIs.

mod support;

use std::time::{Duration, SystemTime};

use monitor::{
    record_session, record_trace_tag, Dataset, DatasetRow, Error, ExecutionTracer, Score,
    Selection, Status,
};
use serde_json::json;

/// Six calls of two modules: `(question, quality, thumbs_up, session, tag, fails)`.
fn served(tracer: &ExecutionTracer) {
    let calls = [
        ("2+2?", Some(0.9), Some(true), "s1", "prod", false),
        ("3+3?", Some(0.85), Some(false), "s1", "prod", false),
        ("capital of France?", Some(0.3), None, "s2", "prod", false),
        ("boom", None, None, "s2", "canary", true),
        ("5+5?", Some(0.95), Some(true), "s3", "canary", false),
    ];
    for (question, quality, thumbs_up, session, tag, fails) in calls {
        let mut call = tracer.trace("answer", json!({ "question": question }));
        record_session(session);
        record_trace_tag(tag);
        let (trace, span) = (call.trace_id(), call.span_id());
        if fails {
            call.fail(&std::io::Error::other("model down"));
            call.finish();
            continue;
        }
        call.set_outputs(format!("answer to {question}"));
        if let Some(quality) = quality {
            call.set_quality_score(quality);
        }
        call.finish();
        if let Some(up) = thumbs_up {
            let vote = Score::new("thumbs_up", up).unwrap().by_human("user-1");
            tracer.feedback(&trace, Some(&span), vote).unwrap();
        }
        if question == "2+2?" {
            let gold = Score::new("answer", "4").unwrap().as_expectation();
            tracer.feedback(&trace, Some(&span), gold).unwrap();
        }
    }
    tracer.trace("other", json!({"x": 1})).finish();
}

/// The well-scored answers of [`served`], as a dataset of a name no other run used.
#[cfg(any(feature = "mlflow", feature = "otlp"))]
fn good_answers() -> Dataset {
    let tracer = ExecutionTracer::new();
    served(&tracer);
    let good = Selection::new()
        .module("answer")
        .score_at_least("quality", 0.85);
    Dataset::from_traces(&tracer, &good).named(support::unique("good-answers"))
}

fn questions(dataset: &Dataset) -> Vec<&str> {
    dataset
        .rows
        .iter()
        .map(|row| row.inputs["question"].as_str().unwrap_or("?"))
        .collect()
}

#[test]
fn a_selection_takes_exactly_the_calls_asked_for() {
    let tracer = ExecutionTracer::new();
    served(&tracer);
    let all = Dataset::from_traces(&tracer, &Selection::new());
    assert_eq!(all.len(), 6);
    let answers = Selection::new().module("answer");
    assert_eq!(Dataset::from_traces(&tracer, &answers).len(), 5);
    let good = answers.clone().score_at_least("quality", 0.85);
    assert_eq!(
        questions(&Dataset::from_traces(&tracer, &good)),
        ["2+2?", "3+3?", "5+5?"]
    );
    let liked = good.clone().score_is("thumbs_up", true);
    assert_eq!(
        questions(&Dataset::from_traces(&tracer, &liked)),
        ["2+2?", "5+5?"]
    );
    let bad = answers.clone().score_at_most("quality", 0.5);
    assert_eq!(
        questions(&Dataset::from_traces(&tracer, &bad)),
        ["capital of France?"]
    );
    let failed = Selection::new().status(Status::Error);
    assert_eq!(questions(&Dataset::from_traces(&tracer, &failed)), ["boom"]);
    let s2 = Selection::new().session("s2");
    assert_eq!(
        questions(&Dataset::from_traces(&tracer, &s2)),
        ["capital of France?", "boom"]
    );
    let canary = Selection::new().tag("canary").status(Status::Success);
    assert_eq!(questions(&Dataset::from_traces(&tracer, &canary)), ["5+5?"]);
    let last_two = answers.clone().limit(2);
    assert_eq!(
        questions(&Dataset::from_traces(&tracer, &last_two)),
        ["boom", "5+5?"]
    );
    let future = Selection::new().since(SystemTime::now() + Duration::from_secs(60));
    assert!(Dataset::from_traces(&tracer, &future).is_empty());
    let past = Selection::new().until(SystemTime::now() - Duration::from_secs(60));
    assert!(Dataset::from_traces(&tracer, &past).is_empty());
    let window = Selection::new()
        .since(SystemTime::now() - Duration::from_secs(60))
        .until(SystemTime::now() + Duration::from_secs(1));
    assert_eq!(Dataset::from_traces(&tracer, &window).len(), 6);
    // A label is not a number: a numeric bound leaves it out.
    let label = Selection::new().score_at_least("answer", 0.0);
    assert!(Dataset::from_traces(&tracer, &label).is_empty());
}

#[test]
fn a_row_carries_inputs_outputs_expectations_scores_and_ids() {
    let tracer = ExecutionTracer::new();
    served(&tracer);
    let rows = Dataset::from_traces(&tracer, &Selection::new().score_is("answer", "4"));
    assert_eq!(rows.len(), 1);
    let row = &rows.rows[0];
    let entry = tracer
        .get_traces(None)
        .into_iter()
        .find(|e| e.inputs["question"] == "2+2?")
        .unwrap();
    assert_eq!(row.inputs["question"], "2+2?");
    assert_eq!(row.outputs, Some(json!("answer to 2+2?")));
    assert_eq!(row.expectations["answer"], "4");
    let names: Vec<&str> = row.scores.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["quality", "thumbs_up"],
        "expectations are not scores"
    );
    assert_eq!(row.score("quality").unwrap().value.as_f64(), Some(0.9));
    assert_eq!(row.trace_id.as_deref(), Some(entry.trace_id.as_str()));
    assert_eq!(row.span_id.as_deref(), Some(entry.span_id.as_str()));
    assert_eq!(row.module.as_deref(), Some("answer"));
}

#[test]
fn jsonl_round_trips_and_bad_lines_are_named_by_number() {
    let tracer = ExecutionTracer::new();
    served(&tracer);
    let dataset = Dataset::from_traces(&tracer, &Selection::new()).named("served");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("served.jsonl");
    dataset.write_jsonl(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 6);
    let back = Dataset::read_jsonl(&path).unwrap();
    assert_eq!(back, dataset);
    assert_eq!(back.digest(), dataset.digest());

    // Blank lines are skipped; a line that is not a row is named.
    let lines: Vec<&str> = text.lines().collect();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n\n{}\n{{not json\n", lines[0], lines[1])).unwrap();
    match Dataset::read_jsonl(&bad) {
        Err(error @ Error::DatasetLine { line: 4, .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("line 4 of") && text.contains("bad.jsonl"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A row whose inputs are not an object, a score that is not valid.
    for (line, why) in [
        (r#"{"inputs": [1, 2]}"#, "invalid type"),
        (
            r#"{"inputs": {}, "scores": [{"name": "", "value": 1}]}"#,
            "empty",
        ),
        (
            r#"{"inputs": {}, "scores": [{"name": "x", "value": [1]}]}"#,
            "did not match",
        ),
    ] {
        std::fs::write(&bad, format!("{}\n{line}\n", lines[0])).unwrap();
        let error = Dataset::read_jsonl(&bad).unwrap_err();
        assert!(
            matches!(error, Error::DatasetLine { line: 2, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(why), "{error}");
    }
    // A missing file, and a path that cannot be written (an existing file stays).
    assert!(matches!(
        Dataset::read_jsonl(dir.path().join("missing.jsonl")),
        Err(Error::Load { .. })
    ));
    let unwritable = dir.path().join("no-such-dir").join("x.jsonl");
    assert!(matches!(
        dataset.write_jsonl(&unwritable),
        Err(Error::Export { .. })
    ));
}

#[test]
fn hand_made_rows_read_and_write_alike() {
    let dataset = Dataset::new("gold")
        .with_row(DatasetRow::new(json!({"question": "2+2?"})).with_expectation("answer", "4"))
        .with_row(DatasetRow::new(json!({"question": "3+3?"})).with_outputs("6"));
    let mut bytes = Vec::new();
    dataset.to_jsonl(&mut bytes).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "{\"inputs\":{\"question\":\"2+2?\"},\"expectations\":{\"answer\":\"4\"}}\n\
         {\"inputs\":{\"question\":\"3+3?\"},\"outputs\":\"6\"}\n"
    );
}

#[cfg(feature = "dspy")]
#[test]
fn rows_become_dspy_examples_with_the_gold_answers_as_outputs() {
    let tracer = ExecutionTracer::new();
    served(&tracer);
    let mut call = tracer.trace("qa", json!({"question": "1+1?"}));
    call.set_outputs(json!({"answer": "2", "reasoning": "adding"}));
    call.finish();
    let gold = Dataset::from_traces(&tracer, &Selection::new().score_is("answer", "4"));
    let example = &gold.to_dspy_examples()[0];
    assert_eq!(example.input_keys, ["question"]);
    assert_eq!(example.output_keys, ["answer"]);
    assert_eq!(example.data["question"], "2+2?");
    assert_eq!(example.data["answer"], "4");
    let predicted = Dataset::from_traces(&tracer, &Selection::new().module("qa"));
    let example = &predicted.to_dspy_examples()[0];
    let mut outputs = example.output_keys.clone();
    outputs.sort();
    assert_eq!(outputs, ["answer", "reasoning"]);
    assert_eq!(example.data["answer"], "2");
    let plain = Dataset::from_traces(&tracer, &Selection::new().session("s3"));
    let example = &plain.to_dspy_examples()[0];
    assert_eq!(example.output_keys, ["output"]);
    assert_eq!(example.data["output"], "answer to 5+5?");
}

#[cfg(feature = "mlflow")]
#[test]
fn a_row_is_an_mlflow_record_with_its_trace_as_source() {
    let row = DatasetRow::new(json!({"question": "2+2?"}))
        .with_outputs("4")
        .with_expectation("answer", "4");
    assert_eq!(
        row.to_mlflow_record(),
        json!({
            "inputs": {"question": "2+2?"},
            "outputs": "4",
            "expectations": {"answer": "4"},
            "tags": {},
            "source": {"source_type": "CODE", "source_data": {}},
        })
    );
    let tracer = ExecutionTracer::new();
    served(&tracer);
    let liked = Dataset::from_traces(&tracer, &Selection::new().score_is("answer", "4"));
    let row = &liked.rows[0];
    let record = row.to_mlflow_record();
    assert_eq!(
        record["source"],
        json!({
            "source_type": "TRACE",
            "source_data": {"trace_id": format!("tr-{}", row.trace_id.as_deref().unwrap())},
        })
    );
    assert_eq!(
        record["tags"],
        json!({
            "monitor.module": "answer",
            "monitor.span_id": row.span_id.as_deref().unwrap(),
            "score.quality": "0.9",
            "score.thumbs_up": "true",
        })
    );
}

#[cfg(feature = "mlflow")]
#[test]
fn a_dataset_from_traces_reads_back_from_mlflow_once_after_a_second_push() {
    use monitor::mlflow::{MlflowClient, MlflowConfig};
    let Some(uri) = support::mlflow::server_uri() else {
        return;
    };
    let client = MlflowClient::new(&MlflowConfig::default().tracking_uri(&uri)).unwrap();
    let good = good_answers();
    let experiment = support::unique("datasets");
    let first = good.push_to_mlflow(&client, &experiment).unwrap();
    assert_eq!((first.inserted, first.updated), (3, 0));
    let again = good.push_to_mlflow(&client, &experiment).unwrap();
    assert_eq!(
        again.dataset_id, first.dataset_id,
        "found by name, not made twice"
    );
    assert_eq!((again.inserted, again.updated), (0, 3));
    assert!(Dataset::new("empty")
        .push_to_mlflow(&client, &experiment)
        .is_err());

    let records = client
        .evaluation_dataset_records(&first.dataset_id)
        .unwrap();
    assert_eq!(records.len(), 3, "{records:#?}");
    let record = records
        .iter()
        .find(|r| r["inputs"]["question"] == "2+2?")
        .expect("the 2+2 row");
    let row = &good.rows[0];
    assert_eq!(record["outputs"], "answer to 2+2?");
    assert_eq!(record["expectations"]["answer"], "4");
    assert_eq!(record["source"]["source_type"], "TRACE");
    assert_eq!(
        record["source"]["source_data"]["trace_id"],
        format!("tr-{}", row.trace_id.as_deref().unwrap())
    );
    assert_eq!(record["tags"]["monitor.module"], "answer");
    assert_eq!(record["tags"]["score.quality"], "0.9");
    assert_eq!(record["tags"]["score.thumbs_up"], "true");
}

#[cfg(feature = "otlp")]
#[test]
fn a_dataset_from_traces_reads_back_from_phoenix_once_after_a_second_push() {
    use monitor::PhoenixClient;
    let Ok(url) = std::env::var("MONITOR_TEST_PHOENIX_URL") else {
        return;
    };
    let phoenix = PhoenixClient::new(&url);
    let good = good_answers();
    let first = phoenix.push_dataset(&good).unwrap();
    assert_eq!((first.created, first.updated), (3, 0));
    let again = phoenix.push_dataset(&good).unwrap();
    assert_eq!(again.dataset_id, first.dataset_id);
    assert_eq!(again.created, 0, "{again:?}");
    assert!(phoenix.push_dataset(&Dataset::new("empty")).is_err());
    assert_eq!(
        phoenix.find_dataset(&good.name).unwrap().as_deref(),
        Some(first.dataset_id.as_str())
    );

    let examples = phoenix.dataset_examples(&first.dataset_id).unwrap();
    assert_eq!(examples.len(), 3, "{examples:#?}");
    let row = &good.rows[0];
    let example = examples
        .iter()
        .find(|e| e["input"]["question"] == "2+2?")
        .expect("the 2+2 row");
    assert_eq!(
        example["id"],
        format!(
            "{}:{}",
            row.trace_id.as_deref().unwrap(),
            row.span_id.as_deref().unwrap()
        )
    );
    assert_eq!(example["output"], json!({"answer": "4"}), "the gold answer");
    assert_eq!(example["metadata"]["module"], "answer");
    assert_eq!(example["metadata"]["outputs"], "answer to 2+2?");
    assert_eq!(example["metadata"]["scores"]["quality"], 0.9);
    let plain = examples
        .iter()
        .find(|e| e["input"]["question"] == "5+5?")
        .unwrap();
    assert_eq!(plain["output"], json!({"output": "answer to 5+5?"}));
}
