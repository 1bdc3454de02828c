//! The whole loop on a small question-answering service: it answers requests (a
//! deterministic fake model, no network), users' feedback arrives later by trace id, an
//! LLM-style judge scores a sample in the background, the traces users liked become a
//! dataset (JSON Lines in a temporary directory), a simple prompt search picks the prompt
//! that scores best on it, and an evaluation compares the service before and after.
//!
//! Run with `cargo run --example feedback_loop`. With `--features mlflow` and
//! `MLFLOW_TRACKING_URI` set, the dataset goes to MLflow's evaluation datasets and both
//! evaluations are runs of the experiment `feedback-loop` (traces, assessments, metrics);
//! with `--features otlp` and `PHOENIX_COLLECTOR_ENDPOINT` set, the dataset also goes to
//! Phoenix.

use std::path::Path;
use std::time::Duration;

use monitor::{
    Comparison, Dataset, DatasetRow, Evaluation, EvaluationReport, ExecutionTracer, Judge, Score,
    Scorer, Selection, TraceEntry,
};

/// What the fake model knows.
const FACTS: [(&str, &str); 6] = [
    ("What is the capital of France?", "Paris"),
    ("What is 2+2?", "4"),
    ("Which planet is the largest?", "Jupiter"),
    ("Who wrote Hamlet?", "Shakespeare"),
    ("At what temperature in C does water boil?", "100"),
    ("What is the chemical symbol of gold?", "Au"),
];

/// The prompts the search tries, the service's current one first.
const PROMPTS: [&str; 3] = [
    "You are a helpful assistant.",
    "Answer briefly.",
    "Answer with the fact only.",
];

/// A stand-in for an LLM: the fact, worded as the prompt asks.
fn fake_model(prompt: &str, question: &str) -> Result<String, String> {
    let fact = FACTS
        .iter()
        .find(|(q, _)| *q == question)
        .map(|(_, fact)| *fact)
        .ok_or_else(|| format!("no idea about {question:?}"))?;
    Ok(match prompt {
        "Answer with the fact only." => fact.to_owned(),
        "Answer briefly." => format!("{fact}."),
        _ => format!("Good question! I believe the answer is {fact}."),
    })
}

/// The service: answers a question in a monitored call, and gives the client the ids its
/// feedback will name.
struct Service<'t> {
    tracer: &'t ExecutionTracer,
    prompt: String,
}

impl Service<'_> {
    fn answer(&self, question: &str) -> (Result<String, String>, String, String) {
        let mut call = self
            .tracer
            .trace("qa.answer", serde_json::json!({ "question": question }));
        call.set_attribute("prompt", self.prompt.as_str());
        let ids = (call.trace_id(), call.span_id());
        let answer = call.end(fake_model(&self.prompt, question));
        (answer, ids.0, ids.1)
    }
}

/// The judge: does the answer state the fact? (An LLM would be asked here.)
fn correctness(call: &TraceEntry) -> Result<Score, monitor::Error> {
    let question = call.inputs["question"].as_str().unwrap_or_default();
    let answer = call
        .outputs
        .as_ref()
        .and_then(|o| o.as_str())
        .unwrap_or_default();
    let right = FACTS
        .iter()
        .any(|(q, fact)| *q == question && answer.contains(fact));
    Ok(Score::new("correct", right)?.with_rationale("checked against the facts"))
}

/// What the evaluations score: the exact expected answer, and whether it is short.
fn scorers() -> Vec<Scorer<String>> {
    vec![
        Scorer::new("exact_match", |row: &DatasetRow, answer: &String| {
            row.expectation("answer").and_then(|a| a.as_str()) == Some(answer.trim())
        }),
        Scorer::new("concise", |_: &DatasetRow, answer: &String| {
            answer.split_whitespace().count() <= 3
        }),
    ]
}

/// The service with `prompt` over `dataset`.
fn evaluation(
    tracer: &ExecutionTracer,
    dataset: &Dataset,
    prompt: &str,
) -> monitor::Result<EvaluationReport> {
    Evaluation::new("qa.evaluation")
        .record_into(tracer)
        .param("prompt", prompt)
        .run(
            dataset,
            |row| {
                fake_model(
                    prompt,
                    row.input("question").and_then(|q| q.as_str()).unwrap_or(""),
                )
            },
            &scorers(),
        )
}

/// What one turn of the loop did.
pub struct Outcome {
    /// Requests served, feedback received, calls judged.
    pub served: usize,
    pub feedback: usize,
    pub judged: u64,
    /// The dataset of liked traces, and where it was written.
    pub dataset: Dataset,
    /// Each prompt's exact-match score on the dataset.
    pub search: Vec<(String, f64)>,
    pub before: EvaluationReport,
    pub after: EvaluationReport,
    pub comparison: Comparison,
}

/// The loop, recording into `tracer`, writing the dataset into `dir`.
pub fn run_loop(tracer: &ExecutionTracer, dir: &Path) -> monitor::Result<Outcome> {
    // A judge on half the traces (chosen by trace id), in the background.
    tracer.add_judge(
        "qa.answer",
        Judge::new("correctness", correctness).sample(0.5),
    );

    // Requests: each question twice, and one the model cannot answer.
    let service = Service {
        tracer,
        prompt: PROMPTS[0].to_owned(),
    };
    let questions = FACTS.iter().chain(FACTS.iter()).map(|(q, _)| *q);
    let served: Vec<_> = questions
        .chain(["What is the airspeed of an unladen swallow?"])
        .map(|question| (question, service.answer(question)))
        .collect();

    // Later, feedback by trace id: two users in three answer; a reviewer adds the right
    // answer (an expectation) to what users liked.
    let mut feedback = 0;
    for (i, (question, (answer, trace_id, span_id))) in served.iter().enumerate() {
        if i % 3 == 2 {
            continue;
        }
        let liked = answer.is_ok();
        let vote = Score::new("thumbs_up", liked)?.by_human(format!("user-{i}"));
        tracer.feedback(trace_id, Some(span_id), vote)?;
        if liked {
            let fact = FACTS
                .iter()
                .find(|(q, _)| q == question)
                .map_or("", |(_, f)| *f);
            let gold = Score::new("answer", fact)?
                .as_expectation()
                .by_human("reviewer");
            tracer.feedback(trace_id, Some(span_id), gold)?;
        }
        feedback += 1;
    }
    let judges = tracer.flush_judges(Duration::from_secs(5));

    // The liked traces become a dataset, written as JSON Lines.
    let liked = Selection::new()
        .module("qa.answer")
        .score_is("thumbs_up", true);
    let dataset = Dataset::from_traces(tracer, &liked).named("qa-liked-answers");
    dataset.write_jsonl(dir.join("qa-liked-answers.jsonl"))?;

    // A simple prompt search: the prompt with the best exact match on the dataset.
    let mut search = Vec::new();
    for prompt in PROMPTS {
        let report = evaluation(tracer, &dataset, prompt)?;
        let exact = report
            .summary("exact_match")
            .and_then(|s| s.mean)
            .unwrap_or(0.0);
        search.push((prompt.to_owned(), exact));
    }
    let best = search
        .iter()
        .fold(&search[0], |best, candidate| {
            if candidate.1 > best.1 {
                candidate
            } else {
                best
            }
        })
        .0
        .clone();

    let before = evaluation(tracer, &dataset, &service.prompt)?;
    let after = evaluation(tracer, &dataset, &best)?;
    let comparison = before.compare(&after);
    Ok(Outcome {
        served: served.len(),
        feedback,
        judged: judges.judged,
        dataset,
        search,
        before,
        after,
        comparison,
    })
}

/// With `--features mlflow` and `MLFLOW_TRACKING_URI`: the dataset and both evaluations
/// into MLflow.
#[cfg(feature = "mlflow")]
fn to_mlflow(outcome: &Outcome) -> monitor::Result<()> {
    use monitor::mlflow::{mlflow_flush, MlflowClient, MlflowLogger};
    if std::env::var_os("MLFLOW_TRACKING_URI").is_none() {
        return Ok(());
    }
    let pushed = outcome
        .dataset
        .push_to_mlflow(&MlflowClient::from_env()?, "feedback-loop")?;
    println!(
        "mlflow: dataset {} ({} records added, {} updated)",
        pushed.dataset_id, pushed.inserted, pushed.updated
    );
    for (name, report) in [("before", &outcome.before), ("after", &outcome.after)] {
        let run = MlflowLogger::start_in("feedback-loop", name)?;
        report.log_to_mlflow(&run)?;
        run.end();
    }
    let flushed = mlflow_flush();
    if !flushed.is_complete() {
        println!("mlflow: not delivered yet: {flushed}");
    }
    println!("mlflow: runs `before` and `after` in experiment feedback-loop");
    Ok(())
}

/// With `--features otlp` and `PHOENIX_COLLECTOR_ENDPOINT`: the dataset into Phoenix.
#[cfg(feature = "otlp")]
fn to_phoenix(outcome: &Outcome) -> monitor::Result<()> {
    if let Some(phoenix) = monitor::PhoenixClient::from_env() {
        let pushed = phoenix.push_dataset(&outcome.dataset)?;
        println!(
            "phoenix: dataset {} ({} examples added)",
            pushed.dataset_id, pushed.created
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tracer = ExecutionTracer::new();
    let dir = tempfile::tempdir()?;
    let outcome = run_loop(&tracer, dir.path())?;
    println!(
        "served {} requests, {} got feedback, the judge scored {} (a sample)",
        outcome.served, outcome.feedback, outcome.judged
    );
    println!(
        "dataset: {} liked traces -> {}",
        outcome.dataset.len(),
        dir.path().join("qa-liked-answers.jsonl").display()
    );
    for (prompt, exact) in &outcome.search {
        println!("prompt search: {prompt:<30} exact_match {exact:.2}");
    }
    println!("\n{}", outcome.comparison);
    #[cfg(feature = "mlflow")]
    to_mlflow(&outcome)?;
    #[cfg(feature = "otlp")]
    to_phoenix(&outcome)?;
    Ok(())
}
