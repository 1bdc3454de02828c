//! Evaluation runs: each row a monitored call with its scores, the report's aggregates
//! exact, failures scored 0 explicitly without stopping the run, two reports compared;
//! and (with the real MLflow server `scripts/test.sh` starts) the evaluation as a run
//! whose rows' assessments and aggregate metrics read back through MLflow's REST API.

mod support;

use monitor::{
    evaluate, Dataset, DatasetRow, Error, Evaluation, EvaluationReport, ExecutionTracer, Scorer,
    Status,
};
use serde_json::json;

/// Four questions with their expected answers.
fn arithmetic() -> Dataset {
    [("2+2", "4"), ("3+3", "6"), ("4+4", "8"), ("5+5", "10")]
        .into_iter()
        .fold(Dataset::new("arithmetic"), |dataset, (question, answer)| {
            dataset.with_row(
                DatasetRow::new(json!({ "question": question })).with_expectation("answer", answer),
            )
        })
}

fn expected(row: &DatasetRow) -> &str {
    row.expectation("answer")
        .and_then(|a| a.as_str())
        .unwrap_or_default()
}

/// Exact match (boolean), closeness (number), and length (label).
fn scorers() -> Vec<Scorer<String>> {
    vec![
        Scorer::new("exact", |row: &DatasetRow, answer: &String| {
            answer == expected(row)
        }),
        Scorer::new("closeness", |row: &DatasetRow, answer: &String| {
            let want: f64 = expected(row).parse().unwrap();
            let got: f64 = answer.parse().unwrap_or(0.0);
            1.0 / (1.0 + (want - got).abs())
        }),
        Scorer::new(
            "length",
            |_: &DatasetRow, answer: &String| {
                if answer.len() > 1 {
                    "long"
                } else {
                    "short"
                }
            },
        ),
    ]
}

/// A model that adds the digits, but says 9 for 4+4 and cannot do 5+5.
fn sloppy(row: &DatasetRow) -> Result<String, String> {
    match row.input("question").and_then(|q| q.as_str()) {
        Some("4+4") => Ok("9".to_owned()),
        Some("5+5") => Err("cannot add 5 and 5".to_owned()),
        Some(question) => {
            let sum: u32 = question.split('+').map(|d| d.parse::<u32>().unwrap()).sum();
            Ok(sum.to_string())
        }
        None => Err("no question".to_owned()),
    }
}

fn exact(row: &DatasetRow) -> Result<String, String> {
    Ok(expected(row).to_owned())
}

/// The sloppy model with prompt `v1`, evaluated into `tracer`.
fn sloppy_v1(tracer: &ExecutionTracer) -> EvaluationReport {
    Evaluation::new("qa.eval")
        .record_into(tracer)
        .param("prompt", "v1")
        .run(&arithmetic(), sloppy, &scorers())
        .unwrap()
}

#[test]
fn the_reports_aggregates_are_exact_and_a_failed_row_scores_zero_explicitly() {
    let tracer = ExecutionTracer::new();
    let report = sloppy_v1(&tracer);
    assert_eq!(report.rows.len(), 4);
    assert_eq!(report.failed_rows, 1);
    assert_eq!(report.params["prompt"], "v1");
    let exact = report.summary("exact").unwrap();
    assert_eq!(exact.count, 4);
    assert_eq!(
        exact.pass_rate,
        Some(0.5),
        "2+2 and 3+3 pass; 4+4 and the failure do not"
    );
    assert_eq!(exact.mean, Some(0.5));
    let closeness = report.summary("closeness").unwrap();
    assert_eq!(closeness.mean, Some((1.0 + 1.0 + 0.5 + 0.0) / 4.0));
    assert_eq!((closeness.min, closeness.max), (Some(0.0), Some(1.0)));
    assert_eq!(closeness.pass_rate, None);
    let length = report.summary("length").unwrap();
    assert_eq!(length.labels["short"], 3);
    assert_eq!(length.mean, Some(0.0), "the failed row's explicit 0");
    assert_eq!(
        report.metrics(),
        [
            ("rows".to_owned(), 4.0),
            ("failed_rows".to_owned(), 1.0),
            ("closeness/mean".to_owned(), 0.625),
            ("exact/mean".to_owned(), 0.5),
            ("exact/pass_rate".to_owned(), 0.5),
            ("length/mean".to_owned(), 0.0),
            ("length/count/short".to_owned(), 3.0),
        ]
    );

    // The failed row: recorded as failed, every scorer's 0 explicit, with the reason.
    let failed = &report.rows[3];
    assert_eq!(failed.status, Status::Error);
    assert_eq!(failed.error.as_deref(), Some("cannot add 5 and 5"));
    assert_eq!(failed.scores.len(), 3);
    for score in &failed.scores {
        assert_eq!(score.value.as_f64(), Some(0.0), "{score:?}");
        assert!(score.rationale.as_deref().unwrap().contains("cannot add"));
    }

    // Each row is a call of the evaluation's module with its scores, in the tracer.
    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 4);
    assert_eq!(report.entries().len(), 4);
    let metrics = tracer.module_metrics("qa.eval");
    assert_eq!(
        (metrics.total_executions, metrics.failed_executions),
        (4, 1)
    );
    assert_eq!(metrics.scores["exact"].true_count, 2);
    assert_eq!(metrics.scores["closeness"].count, 4);
    let row = &entries[0];
    assert_eq!(row.inputs["question"], "2+2");
    assert_eq!(row.outputs, Some(json!("4")));
    assert_eq!(row.trace_id, report.rows[0].trace_id);
    assert_eq!(entries[3].status, Status::Error);
    assert_eq!(entries[3].scores.len(), 3);
}

#[test]
fn a_panicking_row_or_scorer_never_stops_the_evaluation() {
    let tracer = ExecutionTracer::new();
    let scorers = vec![
        Scorer::new("exact", |row: &DatasetRow, answer: &String| {
            answer == expected(row)
        }),
        Scorer::new("nan", |_: &DatasetRow, _: &String| f64::NAN),
        Scorer::new("infinite", |_: &DatasetRow, _: &String| f64::INFINITY),
        Scorer::new("panics", |_: &DatasetRow, answer: &String| -> bool {
            if answer == "6" {
                panic!("scorer bug")
            }
            true
        }),
    ];
    let report = Evaluation::new("qa.eval")
        .record_into(&tracer)
        .run(
            &arithmetic(),
            |row| {
                if expected(row) == "8" {
                    panic!("model crashed");
                }
                exact(row)
            },
            &scorers,
        )
        .unwrap();
    assert_eq!(report.rows.len(), 4, "every row ran");
    assert_eq!(report.failed_rows, 1);
    assert_eq!(report.rows[2].error.as_deref(), Some("model crashed"));
    assert_eq!(report.summary("exact").unwrap().pass_rate, Some(0.75));
    let nan = report.summary("nan").unwrap();
    assert_eq!((nan.count, nan.errors), (1, 3), "only the failed row's 0");
    assert!(report.rows[0].score_errors["nan"].contains("finite"));
    assert!(report.rows[0].score_errors["infinite"].contains("finite"));
    assert!(report.rows[1].score_errors["panics"].contains("scorer bug"));
    assert_eq!(report.summary("panics").unwrap().errors, 1);
    let entry = &tracer.get_traces(None)[0];
    assert!(entry.attributes["score_error.nan"]
        .as_str()
        .unwrap()
        .contains("finite"));
    assert_eq!(tracer.get_traces(None)[2].status, Status::Error);
}

#[test]
fn an_empty_dataset_is_refused_with_its_name() {
    let error = evaluate(&Dataset::new("nothing"), exact, &scorers()).unwrap_err();
    assert!(matches!(error, Error::InvalidDataset { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "invalid dataset \"nothing\": it has no rows to evaluate"
    );
}

#[test]
fn two_reports_compare_side_by_side() {
    let tracer = ExecutionTracer::new();
    let run = |task: fn(&DatasetRow) -> Result<String, String>| -> EvaluationReport {
        Evaluation::new("qa.eval")
            .record_into(&tracer)
            .run(&arithmetic(), task, &scorers())
            .unwrap()
    };
    let (before, after) = (run(sloppy), run(exact));
    let comparison = before.compare(&after);
    assert_eq!(comparison.delta("exact"), Some(0.5));
    assert_eq!(comparison.delta("closeness"), Some(1.0 - 0.625));
    assert_eq!(comparison.failed_rows, (1, 0));
    assert_eq!(
        comparison.to_string(),
        "\
score            before       after    change
closeness         0.625       1.000    +0.375
exact             0.500       1.000    +0.500
length            0.000           -         -
failed rows         1/4         0/4"
    );
}

#[cfg(feature = "mlflow")]
#[test]
fn an_evaluation_run_shows_its_rows_assessments_and_aggregates_in_mlflow() {
    use support::mlflow::{tracker, unique, Rest};
    let Some(uri) = support::mlflow::server_uri() else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let run = tracker.start_in(&unique("evaluation"), "sloppy").unwrap();
    let tracer = ExecutionTracer::new();
    let report = sloppy_v1(&tracer);
    report.log_to_mlflow(&run).unwrap();
    let run_id = run.run_id().unwrap();
    drop(run);
    let flushed = tracker.flush();
    assert!(flushed.is_complete(), "{flushed}");

    let rest = Rest::new(&uri);
    let run = rest.run(&run_id);
    let metric = |key: &str| {
        run["data"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == key)
            .and_then(|m| m["value"].as_f64())
    };
    assert_eq!(metric("exact/mean"), Some(0.5));
    assert_eq!(metric("closeness/mean"), Some(0.625));
    assert_eq!(metric("failed_rows"), Some(1.0));
    let params = run["data"]["params"].as_array().unwrap();
    assert!(params
        .iter()
        .any(|p| p["key"] == "prompt" && p["value"] == "v1"));
    let inputs = run["inputs"]["dataset_inputs"].as_array().unwrap();
    assert_eq!(inputs[0]["dataset"]["name"], "arithmetic");
    assert_eq!(
        inputs[0]["dataset"]["digest"],
        report.dataset_digest.as_str()
    );

    // Each row's trace, linked to the run, with one assessment per score on its span.
    let experiment = run["info"]["experiment_id"].as_str().unwrap();
    let found = rest.post(
        "/api/3.0/mlflow/traces/search",
        &json!({
            "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment}}],
            "filter": format!("attribute.run_id = '{run_id}'"),
            "max_results": 10,
        }),
    );
    assert_eq!(
        found["traces"].as_array().map(Vec::len),
        Some(4),
        "{found:#}"
    );
    for row in &report.rows {
        let trace = rest.get(&format!("/api/3.0/mlflow/traces/tr-{}", row.trace_id));
        let assessments = trace["trace"]["trace_info"]["assessments"]
            .as_array()
            .unwrap();
        assert_eq!(assessments.len(), 3, "{assessments:#?}");
        let exact = assessments
            .iter()
            .find(|a| a["assessment_name"] == "exact")
            .unwrap();
        assert_eq!(exact["span_id"], row.span_id.as_str());
        let want = row.score("exact").unwrap().value.clone();
        match want {
            monitor::ScoreValue::Bool(flag) => assert_eq!(exact["feedback"]["value"], flag),
            monitor::ScoreValue::Number(n) => assert_eq!(exact["feedback"]["value"], n),
            other => panic!("{other:?}"),
        }
        assert_eq!(exact["source"]["source_type"], "CODE");
    }
    let failed = rest.get(&format!(
        "/api/3.0/mlflow/traces/tr-{}",
        report.rows[3].trace_id
    ));
    assert_eq!(failed["trace"]["trace_info"]["state"], "ERROR");
}
