//! A dspy-rs pipeline, monitored: every LM call an `llm` call with tokens and cost under
//! the module that made it, and a COPRO optimisation tracked as an MLflow run with one
//! child run per candidate instruction.
//!
//! ```sh
//! cargo run --example dspy_pipeline --features dspy,mlflow
//! ```
//!
//! With no `OPENAI_API_KEY` and `DSPY_MODEL` (e.g. `openai:gpt-4o-mini`) set, it answers
//! from a fake OpenAI-compatible server on 127.0.0.1. Runs go to `MLFLOW_TRACKING_URI`,
//! else to `./mlruns`.

#[path = "support/fake_lm.rs"]
pub mod fake_lm;

// What a dspy-rs module names (and what dspy-rs's macros spell out: `anyhow`, `indexmap`,
// `serde_json`), so the program needs no dependency of its own for them.
use monitor::integrate::dspy::prelude::*;
use monitor::{monitored, ExecutionTracer, ModelPrice, WithTracerExt};

use fake_lm::{Ask, FakeLm};

pub const PROPOSAL: &str = "Name the capital city, in one word.";

#[Signature]
pub struct Rewrite {
    /// Rewrite the question so that it is unambiguous.

    #[input]
    pub question: String,
    #[output]
    pub rewritten: String,
}

#[Signature]
pub struct Answer {
    /// Answer the question.

    #[input]
    pub question: String,
    #[output]
    pub answer: String,
}

/// Rewrites, then answers.
#[derive(Optimizable)]
pub struct CapitalQa {
    #[parameter]
    pub rewrite: Predict,
    #[parameter]
    pub answer: Predict,
}

impl Default for CapitalQa {
    fn default() -> Self {
        CapitalQa {
            rewrite: Predict::new(Rewrite::new()),
            answer: answerer(),
        }
    }
}

/// A predictor of `Answer` (the macro keeps the signature type private).
pub fn answerer() -> Predict {
    Predict::new(Answer::new())
}

#[monitored]
impl Module for CapitalQa {
    async fn forward(&self, inputs: Example) -> anyhow::Result<Prediction> {
        let rewritten = self.rewrite.forward(inputs).await?;
        let question = rewritten.get("rewritten", None);
        self.answer
            .forward(dspy_rs::example! { "question": "input" => question })
            .await
    }
}

impl Evaluator for CapitalQa {
    const DISPLAY_PROGRESS: bool = false;

    async fn metric(&self, example: &Example, prediction: &Prediction) -> f32 {
        let expected = example.get("answer", None);
        let got = prediction.get("answer", None);
        let same = expected.as_str().unwrap_or("").trim().to_lowercase()
            == got.as_str().unwrap_or("").trim().to_lowercase();
        if same {
            1.0
        } else {
            0.0
        }
    }
}

/// The fake model: echoes rewrites, proposes one instruction, and answers right only
/// under that instruction (so the optimiser has something to find).
pub fn fake_model(ask: &Ask, field: &str) -> String {
    match field {
        "rewritten" => ask.input("question").unwrap_or_default().to_owned(),
        "proposed_instruction" => PROPOSAL.to_owned(),
        "answer" if ask.system.contains(PROPOSAL) => {
            capital_of(ask.input("question").unwrap_or(""))
        }
        _ => "I am not sure.".to_owned(),
    }
}

pub fn capital_of(question: &str) -> String {
    match question
        .rsplit(' ')
        .next()
        .unwrap_or("")
        .trim_end_matches('?')
    {
        "France" => "Paris",
        "Italy" => "Rome",
        "Spain" => "Madrid",
        "Japan" => "Tokyo",
        _ => "unknown",
    }
    .to_owned()
}

pub fn question(country: &str) -> Example {
    let text = format!("What is the capital of {country}?");
    let answer = capital_of(&text);
    dspy_rs::example! { "question": "input" => text, "answer": "output" => answer }
}

/// The real model when a key and a model are set, else the fake server.
async fn language_model() -> anyhow::Result<(LM, Option<FakeLm>)> {
    if let (Ok(_), Ok(model)) = (std::env::var("OPENAI_API_KEY"), std::env::var("DSPY_MODEL")) {
        return Ok((LM::builder().model(model).build().await?, None));
    }
    let fake = FakeLm::start(fake_model);
    let lm = LM::builder()
        .base_url(fake.base_url.clone())
        .model("fake-gpt".to_owned())
        .build()
        .await?;
    // Prices per million tokens: the fake's, to show costs (real models: set yours).
    monitor::set_model_price("fake-gpt", ModelPrice::per_million(0.15, 0.60))?;
    monitor::set_model_price("gpt-4o-mini", ModelPrice::per_million(0.15, 0.60))?;
    Ok((lm, Some(fake)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (lm, fake) = language_model().await?;
    let model = lm.model.clone();
    // dspy-rs's own `configure`, with every LM call recorded.
    monitor::integrate::dspy::configure(lm, ChatAdapter);
    // No tracking URI here: MLFLOW_TRACKING_URI if set, else the local store ./mlruns.
    monitor::mlflow::configure_mlflow(None, "dspy-pipeline");

    let tracer = ExecutionTracer::new();
    let mut qa = CapitalQa::default();
    monitor::integrate::dspy::name_predictors(&mut qa); // LM calls as `lm.rewrite`, `lm.answer`

    for country in ["France", "Japan"] {
        let prediction = qa
            .forward(question(country))
            .with_default_tracer(&tracer)
            .await?;
        println!("{country}: {}", prediction.get("answer", None));
    }

    let trainset = ["France", "Italy", "Spain"].map(question).to_vec();
    let copro = COPRO::builder().breadth(2).depth(1).build();
    let report =
        monitor::integrate::dspy::track_optimization(&copro, &mut qa, trainset, "copro-capitals")
            .with_default_tracer(&tracer)
            .await?;
    for candidate in &report.candidates {
        // Each example's score is also a `quality` assessment on its trace in MLflow.
        let examples: Vec<String> = candidate
            .examples
            .iter()
            .map(|e| format!("{:.0}", e.score))
            .collect();
        println!(
            "candidate {}: score {:.2} (per example: {})",
            candidate.index,
            candidate.score,
            examples.join(" ")
        );
    }
    if let Some(best) = report.best_candidate() {
        println!("best: candidate {} ({:.2})", best.index, best.score);
    }
    let prediction = qa
        .forward(question("Japan"))
        .with_default_tracer(&tracer)
        .await?;
    println!("Japan, optimised: {}", prediction.get("answer", None));

    println!("\nmodel: {model}");
    let metrics = tracer.get_metrics();
    println!(
        "{:<32} {:>6} {:>8} {:>9} {:>9} {:>8} {:>7} {:>10}",
        "module", "calls", "success", "p50 ms", "p95 ms", "quality", "tokens", "cost"
    );
    for (name, m) in &metrics.modules {
        let quality = m
            .avg_quality_score
            .map_or_else(|| "-".to_owned(), |q| format!("{q:.2}"));
        let cost = m
            .cost
            .map_or_else(|| "-".to_owned(), |c| format!("{:.6}", c.total));
        println!(
            "{:<32} {:>6} {:>7.0}% {:>9.3} {:>9.3} {:>8} {:>7} {:>10}",
            name,
            m.total_executions,
            m.success_rate * 100.0,
            m.p50_duration_ms,
            m.p95_duration_ms,
            quality,
            m.token_usage.total_tokens,
            cost
        );
    }
    if let Some(fake) = &fake {
        println!(
            "\n(the fake LM on 127.0.0.1 answered {} completions)",
            fake.requests()
        );
    }

    // Waits, off the async runtime, until the runs are delivered.
    let delivered = monitor::mlflow::mlflow_flush_async().await;
    match std::env::var("MLFLOW_TRACKING_URI") {
        Ok(uri) => println!("runs are on {uri} (experiment dspy-pipeline)"),
        Err(_) => println!(
            "runs are in ./mlruns. Browse them with\n  \
             MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri ./mlruns"
        ),
    }
    if !delivered.is_complete() {
        println!("not delivered: {delivered}");
    }
    Ok(())
}
