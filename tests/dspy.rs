//! dspy-rs programs, monitored: real `Predict` modules calling dspy-rs's own LM client,
//! answered by a fake OpenAI-compatible server on 127.0.0.1 (no network, no key). Every LM
//! call is an `llm` call with its tokens, under the module that made it; a COPRO run is
//! tracked per candidate, in the tracer and (feature `mlflow`) in a real MLflow server.

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/dspy_pipeline.rs"]
mod pipeline;
mod support;

use std::sync::OnceLock;

use dspy_rs::{
    ChatAdapter, Evaluator, Example, Module, Optimizable, Prediction, Predictor, COPRO, LM,
};
use monitor::{monitored, ExecutionTracer, ModelPrice, TokenUsage, TraceEntry, WithTracerExt};

use pipeline::fake_lm::FakeLm;
use pipeline::{answerer, fake_model, question, CapitalQa, PROPOSAL as GOOD_INSTRUCTION};

const MODEL: &str = "fake-dspy-model";

/// One runtime for every test: dspy-rs's LM (in a process-wide setting) pools its HTTP
/// connections, and a connection made on a test's own runtime dies with it, failing the
/// next test that picks it from the pool.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// One fake server and one dspy-rs configuration for the whole binary: dspy-rs keeps its
/// LM and adapter in a process-wide setting.
fn setup() -> &'static FakeLm {
    static SERVER: OnceLock<FakeLm> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = FakeLm::start(fake_model);
        let lm = std::thread::scope(|s| {
            s.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(
                    LM::builder()
                        .base_url(server.base_url.clone())
                        .model(MODEL.to_owned())
                        .build(),
                )
            })
            .join()
            .unwrap()
            .expect("an LM for the fake server")
        });
        monitor::integrate::dspy::configure(lm, ChatAdapter);
        monitor::set_model_price(MODEL, ModelPrice::per_million(1.0, 2.0)).unwrap();
        server
    })
}

fn entries(tracer: &ExecutionTracer, module: &str) -> Vec<TraceEntry> {
    tracer
        .get_traces(None)
        .into_iter()
        .filter(|e| e.module == module)
        .collect()
}

#[test]
fn every_lm_call_is_an_llm_call_with_tokens_under_its_module() {
    runtime().block_on(every_lm_call_is_an_llm_call_with_tokens_under_its_module_body())
}

async fn every_lm_call_is_an_llm_call_with_tokens_under_its_module_body() {
    let server = setup();
    let tracer = ExecutionTracer::new();
    let mut qa = CapitalQa::default();
    assert_eq!(
        monitor::integrate::dspy::name_predictors(&mut qa),
        ["rewrite", "answer"]
    );

    let before = server.requests();
    for country in ["France", "Italy"] {
        qa.forward(question(country))
            .with_tracer(&tracer)
            .await
            .unwrap();
    }
    // Four completions, at least (the other tests share the server).
    assert!(server.requests() - before >= 4);

    let modules = entries(&tracer, "<CapitalQa as Module>::forward");
    assert_eq!(modules.len(), 2);
    for module in &modules {
        // The module reported no tokens itself; its LM calls did.
        assert_eq!(module.token_usage, None);
        let calls: Vec<TraceEntry> = tracer
            .get_traces(None)
            .into_iter()
            .filter(|e| e.parent_span_id.as_deref() == Some(module.span_id.as_str()))
            .collect();
        let names: Vec<&str> = calls.iter().map(|c| c.module.as_str()).collect();
        assert_eq!(names, ["lm.rewrite", "lm.answer"]);
        let mut spent = TokenUsage::default();
        for call in &calls {
            assert_eq!(call.trace_id, module.trace_id);
            assert_eq!(
                call.attributes[monitor::KIND_ATTRIBUTE],
                "chat_model",
                "{call:?}"
            );
            assert_eq!(call.attributes[monitor::MODEL_ATTRIBUTE], MODEL);
            let tokens = call.token_usage.expect("tokens from the response's usage");
            assert!(
                tokens.input_tokens > 50 && tokens.output_tokens > 0,
                "{tokens:?}"
            );
            assert_eq!(
                tokens.total_tokens,
                tokens.input_tokens + tokens.output_tokens
            );
            let cost = call.cost.expect("a priced model");
            assert!(cost.total > 0.0);
            // The prompt went in as the chat, the completion came out as text.
            let messages = call.inputs["messages"].to_string();
            assert!(messages.contains("[[ ## question ## ]]"), "{messages}");
            let completion = call.outputs.as_ref().unwrap().as_str().unwrap();
            assert!(
                completion.ends_with("[[ ## completed ## ]]\n"),
                "{completion}"
            );
            spent.input_tokens += tokens.input_tokens;
            spent.output_tokens += tokens.output_tokens;
            spent.total_tokens += tokens.total_tokens;
        }
        // A trace's tokens add up on its root.
        assert_eq!(module.trace_token_usage, Some(spent));
    }
    let metrics = tracer.module_metrics("lm.answer");
    assert_eq!(metrics.total_executions, 2);
    assert!(metrics.token_usage.total_tokens > 0);
}

/// Without the monitored adapter (a direct `forward_with_config`), the module's own
/// `tokens = monitor::integrate::dspy::prediction_tokens` reads the prediction's usage.
#[monitored(tracer = tracer, tokens = monitor::integrate::dspy::prediction_tokens)]
async fn answer_directly(
    tracer: &ExecutionTracer,
    lm: std::sync::Arc<LM>,
    question: Example,
) -> anyhow::Result<Prediction> {
    answerer().forward_with_config(question, lm).await
}

#[test]
fn prediction_tokens_reads_a_predictions_usage() {
    runtime().block_on(prediction_tokens_reads_a_predictions_usage_body())
}

async fn prediction_tokens_reads_a_predictions_usage_body() {
    setup();
    let tracer = ExecutionTracer::new();
    let lm = dspy_rs::get_lm();
    let prediction = answer_directly(&tracer, lm, question("Spain"))
        .await
        .unwrap();
    let entry = &entries(&tracer, "answer_directly")[0];
    assert_eq!(
        entry.token_usage,
        monitor::integrate::dspy::prediction_tokens(&prediction)
    );
    assert!(entry.token_usage.unwrap().total_tokens > 0);
    assert!(
        entries(&tracer, "lm").is_empty(),
        "a direct call is not an LM call of ours"
    );
}

/// The trainset's question at `position` (France, Italy, Spain).
fn question_text(position: usize) -> String {
    let country = ["France", "Italy", "Spain"][position];
    question(country)
        .get("question", None)
        .as_str()
        .unwrap()
        .to_owned()
}

/// The entries whose parent is `parent`, in the order they finished.
fn children(tracer: &ExecutionTracer, parent: &TraceEntry) -> Vec<TraceEntry> {
    tracer
        .get_traces(None)
        .into_iter()
        .filter(|e| e.parent_span_id.as_deref() == Some(parent.span_id.as_str()))
        .collect()
}

#[cfg(feature = "mlflow")]
fn mlflow_setup() -> Option<(String, String)> {
    use support::mlflow::{config, server_uri, unique};
    static SETUP: OnceLock<Option<(String, String)>> = OnceLock::new();
    SETUP
        .get_or_init(|| {
            let uri = server_uri()?;
            let experiment = unique("dspy");
            let spool = std::env::temp_dir().join(unique("dspy-spool"));
            monitor::mlflow::configure_mlflow_with(
                config(&uri, &spool).experiment_name(experiment.clone()),
            );
            Some((uri, experiment))
        })
        .clone()
}

#[test]
fn copro_candidates_are_tracked_as_experiments() {
    runtime().block_on(copro_candidates_are_tracked_as_experiments_body())
}

async fn copro_candidates_are_tracked_as_experiments_body() {
    setup();
    #[cfg(feature = "mlflow")]
    let mlflow = mlflow_setup();
    #[cfg(feature = "mlflow")]
    if mlflow.is_none() {
        // Without a server the run would go to ./mlruns; the tracer part runs below
        // only with somewhere to send it.
        return;
    }
    let tracer = ExecutionTracer::new();
    // The answerer alone, scored by exact match, monitored by wrapping it.
    let mut capital =
        monitor::integrate::dspy::Monitored::new(plain::Answerer { answer: answerer() });
    let trainset = vec![question("France"), question("Italy"), question("Spain")];
    let copro = COPRO::builder().breadth(2).depth(1).build();
    let run_name = "copro-capitals";

    let report =
        monitor::integrate::dspy::track_optimization(&copro, &mut capital, trainset, run_name)
            .with_tracer(&tracer)
            .await
            .unwrap();

    // COPRO proposed one instruction and kept the original: two candidates, the
    // proposal answers everything right.
    assert_eq!(report.candidates.len(), 2, "{report:#?}");
    let best = report.best_candidate().unwrap();
    assert_eq!(best.score, 1.0);
    assert_eq!(
        best.instructions[0],
        ("answer".to_owned(), GOOD_INSTRUCTION.to_owned())
    );
    let other = &report.candidates[1 - best.index];
    assert_eq!(other.score, 0.0);
    assert_eq!(other.instructions[0].1, "Answer the question.");
    assert_eq!(
        capital.answer.get_signature().instruction(),
        GOOD_INSTRUCTION
    );

    // In the tracer: the run, and one candidate per evaluation with its score as quality
    // and the module's calls (and their LM calls) under it.
    let run = &entries(&tracer, monitor::integrate::dspy::RUN_MODULE)[0];
    assert_eq!(run.inputs["run_name"], run_name);
    assert_eq!(run.inputs["optimizer"], "COPRO");
    assert_eq!(run.quality_score, Some(1.0));
    let candidates = entries(&tracer, monitor::integrate::dspy::CANDIDATE_MODULE);
    assert_eq!(candidates.len(), 2);
    for candidate in &candidates {
        let index = candidate.inputs["candidate"].as_u64().unwrap() as usize;
        let seen = &report.candidates[index];
        assert_eq!(
            candidate.inputs["instruction"],
            seen.instructions[0].1.as_str()
        );
        assert_eq!(candidate.quality_score, Some(f64::from(seen.score)));
        assert_eq!(
            candidate.parent_span_id.as_deref(),
            Some(run.span_id.as_str())
        );
        // One example call per example, scored by the metric, with the module's forward
        // (and its LM call) under it.
        let examples = children(&tracer, candidate);
        assert_eq!(examples.len(), 3, "one example call per example");
        for example in &examples {
            assert_eq!(example.module, monitor::integrate::dspy::EXAMPLE_MODULE);
            assert_eq!(example.attributes[monitor::KIND_ATTRIBUTE], "evaluator");
            assert_eq!(example.attributes["optimizer.candidate"], index);
            let position = example.attributes["optimizer.example"].as_u64().unwrap() as usize;
            let scored = &seen.examples[position];
            assert_eq!(scored.span_id, example.span_id);
            assert_eq!(example.quality_score, Some(f64::from(scored.score)));
            assert_eq!(example.inputs["question"], question_text(position));
            let calls = children(&tracer, example);
            let names: Vec<&str> = calls.iter().map(|f| f.module.as_str()).collect();
            assert_eq!(names, ["Answerer::forward", "Answerer::metric"]);
            // The metric's score is the example's quality, once: its own span has it as
            // the output only.
            assert_eq!(calls[1].quality_score, None);
            assert_eq!(
                calls[1].outputs.as_ref().and_then(|o| o.as_f64()),
                example.quality_score
            );
            let lm_calls = children(&tracer, &calls[0]);
            assert_eq!(lm_calls.len(), 1);
            assert_eq!(lm_calls[0].module, "lm.answer");
        }
        // The candidate's score is the mean of its examples'.
        let mean = seen.examples.iter().map(|e| e.score).sum::<f32>() / 3.0;
        assert_eq!(seen.score, mean);
    }
    assert_eq!(tracer.module_metrics("lm.answer").total_executions, 6);

    #[cfg(feature = "mlflow")]
    {
        let (uri, experiment) = mlflow.unwrap();
        mlflow_readback(&uri, &experiment, run_name, &report);
    }
}

/// A run's latest value of a metric.
#[cfg(feature = "mlflow")]
fn metric(run: &serde_json::Value, key: &str) -> Option<f64> {
    run["data"]["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == key)?["value"]
        .as_f64()
}

/// The run and its children, read back over MLflow's REST API.
#[cfg(feature = "mlflow")]
fn mlflow_readback(
    uri: &str,
    experiment: &str,
    run_name: &str,
    report: &monitor::integrate::dspy::Optimization,
) {
    use support::mlflow::Rest;
    let report = report.clone();
    let (uri, experiment, run_name) = (uri.to_owned(), experiment.to_owned(), run_name.to_owned());
    // Blocking reads off the async runtime's threads.
    std::thread::spawn(move || {
        assert!(monitor::mlflow::mlflow_flush().is_complete());
        let rest = Rest::new(&uri);
        let parents = rest.runs_named(&experiment, &run_name);
        assert_eq!(parents.len(), 1);
        let parent = &parents[0];
        let parent_id = parent["info"]["run_id"].as_str().unwrap().to_owned();
        assert_eq!(parent["info"]["status"], "FINISHED");
        assert_eq!(
            Rest::kv(parent, "params", "optimizer").as_deref(),
            Some("COPRO")
        );
        assert_eq!(
            Rest::kv(parent, "params", "trainset_size").as_deref(),
            Some("3")
        );
        assert_eq!(metric(parent, "best_score"), Some(1.0));
        let best = report.best.unwrap();
        assert_eq!(
            Rest::kv(parent, "tags", "best_candidate"),
            Some(report.candidates[best].run_name())
        );
        let steps = rest.history(&parent_id, "candidate_score");
        let expected: Vec<(i64, f64)> = report
            .candidates
            .iter()
            .map(|c| (c.index as i64, f64::from(c.score)))
            .collect();
        assert_eq!(steps, expected);

        for candidate in &report.candidates {
            // Told apart by number, score and instruction.
            assert!(candidate
                .run_name()
                .starts_with(&format!("candidate-{} (", candidate.index)));
            // This run's candidate (other optimiser runs of the binary share the experiment).
            let children: Vec<serde_json::Value> = rest
                .runs_named(&experiment, &candidate.run_name())
                .into_iter()
                .filter(|c| {
                    Rest::kv(c, "tags", "mlflow.parentRunId").as_deref() == Some(parent_id.as_str())
                })
                .collect();
            assert_eq!(children.len(), 1);
            let child = &children[0];
            assert_eq!(
                Rest::kv(child, "tags", "mlflow.parentRunId").as_deref(),
                Some(parent_id.as_str())
            );
            assert_eq!(
                Rest::kv(child, "params", "instruction").as_deref(),
                Some(candidate.instructions[0].1.as_str())
            );
            assert_eq!(metric(child, "score"), Some(f64::from(candidate.score)));
            assert_eq!(
                Rest::kv(child, "tags", "best"),
                Some((candidate.index == best).to_string())
            );
            // Each example is a trace of the candidate's run, its score the `quality`
            // assessment of the trace's root (the example's span).
            let child_id = child["info"]["run_id"].as_str().unwrap();
            let mut linked = rest.traces_of_run(&experiment, child_id);
            linked.sort();
            let mut expected: Vec<String> = candidate
                .examples
                .iter()
                .map(|e| format!("tr-{}", e.trace_id))
                .collect();
            expected.sort();
            assert_eq!(linked, expected);
            for example in &candidate.examples {
                let trace = rest.get(&format!("/api/3.0/mlflow/traces/tr-{}", example.trace_id));
                let info = &trace["trace"]["trace_info"];
                assert_eq!(info["state"], "OK", "{info}");
                let assessments = info["assessments"].as_array().expect("assessments");
                // One assessment per score: the metric's span adds none of its own.
                assert_eq!(assessments.len(), 1, "{assessments:?}");
                let on_root: Vec<&serde_json::Value> = assessments
                    .iter()
                    .filter(|a| a["span_id"] == example.span_id.as_str())
                    .collect();
                assert_eq!(on_root.len(), 1, "{assessments:?}");
                assert_eq!(on_root[0]["assessment_name"], "quality");
                assert_eq!(
                    on_root[0]["feedback"]["value"].as_f64(),
                    Some(f64::from(example.score))
                );
            }
        }
    })
    .join()
    .unwrap();
}

/// Modules written with nothing but `monitor::integrate::dspy::prelude` (no `anyhow`, `indexmap` or
/// `async-trait` of their own), monitored by wrapping them in `Monitored`.
mod plain {
    use monitor::integrate::dspy::prelude::*;

    pub use crate::support::dspy_answerer::Answerer;

    /// Fails every example: its forward returns an error.
    #[derive(Optimizable)]
    pub struct Failing {
        #[parameter]
        pub answer: Predict,
    }

    impl Module for Failing {
        async fn forward(&self, _inputs: Example) -> anyhow::Result<Prediction> {
            Err(anyhow::anyhow!("the model is down"))
        }
    }

    impl Evaluator for Failing {
        const DISPLAY_PROGRESS: bool = false;

        async fn metric(&self, _example: &Example, _prediction: &Prediction) -> f32 {
            1.0
        }
    }

    /// Answers with dspy-rs's LM directly, past the monitored adapter: no LM call is
    /// recorded, so the module's own entry carries the prediction's tokens.
    pub struct Direct {
        pub answer: Predict,
    }

    impl Module for Direct {
        async fn forward(&self, inputs: Example) -> anyhow::Result<Prediction> {
            let lm = dspy_rs::get_lm();
            self.answer.forward_with_config(inputs, lm).await
        }
    }
}

#[test]
fn a_failed_example_is_scored_zero_explicitly() {
    runtime().block_on(a_failed_example_is_scored_zero_explicitly_body())
}

async fn a_failed_example_is_scored_zero_explicitly_body() {
    setup();
    #[cfg(feature = "mlflow")]
    if mlflow_setup().is_none() {
        // Without a server the run would go to ./mlruns.
        return;
    }
    let tracer = ExecutionTracer::new();
    let mut failing =
        monitor::integrate::dspy::Monitored::new(plain::Failing { answer: answerer() });
    let copro = COPRO::builder().breadth(2).depth(1).build();
    let report = monitor::integrate::dspy::track_optimization(
        &copro,
        &mut failing,
        vec![question("France")],
        "failing-examples",
    )
    .with_tracer(&tracer)
    .await
    .unwrap();
    let examples = entries(&tracer, monitor::integrate::dspy::EXAMPLE_MODULE);
    assert!(!examples.is_empty(), "{report:#?}");
    for example in &examples {
        assert_eq!(example.status, monitor::Status::Error);
        // The report counts it as 0; its trace says so too (its `quality` assessment).
        assert_eq!(example.quality_score, Some(0.0), "{example:?}");
    }
}

#[test]
fn a_wrapped_module_records_its_forward_and_metric_calls() {
    runtime().block_on(a_wrapped_module_records_its_forward_and_metric_calls_body())
}

async fn a_wrapped_module_records_its_forward_and_metric_calls_body() {
    setup();
    let tracer = ExecutionTracer::new();
    let mut qa = monitor::integrate::dspy::Monitored::new(plain::Answerer { answer: answerer() })
        .named("qa")
        .with_tracer(&tracer);
    // `Optimizable` sees through the wrapper.
    assert_eq!(
        monitor::integrate::dspy::name_predictors(&mut qa),
        ["answer"]
    );
    let example = question("France");
    let prediction = qa.forward(example.clone()).await.unwrap();
    let score = qa.metric(&example, &prediction).await;

    let forward = &entries(&tracer, "qa::forward")[0];
    assert_eq!(forward.parent_span_id, None);
    assert_eq!(forward.attributes[monitor::KIND_ATTRIBUTE], "chain");
    assert_eq!(forward.inputs["question"], "What is the capital of France?");
    assert_eq!(
        forward.outputs.as_ref().unwrap()["answer"],
        prediction.get("answer", None)
    );
    // The LM call under it carries the tokens; the module does not count them again,
    // and the trace's total on the root is the LM call's.
    let lm_calls = children(&tracer, forward);
    assert_eq!(lm_calls.len(), 1);
    let lm_call = &lm_calls[0];
    assert_eq!(lm_call.module, "lm.answer");
    assert_eq!(lm_call.trace_id, forward.trace_id);
    let spent = lm_call.token_usage.expect("the LM call's tokens");
    assert_eq!(
        monitor::integrate::dspy::prediction_tokens(&prediction),
        Some(spent)
    );
    assert_eq!(forward.token_usage, None);
    assert_eq!(forward.trace_token_usage, Some(spent));

    let metric = &entries(&tracer, "qa::metric")[0];
    assert_eq!(metric.attributes[monitor::KIND_ATTRIBUTE], "evaluator");
    assert_eq!(metric.quality_score, Some(f64::from(score)));
    assert_eq!(
        metric.inputs["example"]["question"],
        example.get("question", None)
    );

    // `evaluate` goes through the recorded calls: one forward and one metric per example.
    let trainset = vec![question("Italy"), question("Spain")];
    qa.evaluate(trainset).await;
    assert_eq!(tracer.module_metrics("qa::forward").total_executions, 3);
    assert_eq!(tracer.module_metrics("qa::metric").total_executions, 3);
}

#[test]
fn a_wrapped_module_without_recorded_lm_calls_carries_its_predictions_tokens() {
    runtime()
        .block_on(a_wrapped_module_without_recorded_lm_calls_carries_its_predictions_tokens_body())
}

async fn a_wrapped_module_without_recorded_lm_calls_carries_its_predictions_tokens_body() {
    setup();
    let tracer = ExecutionTracer::new();
    // Named after its type when not named.
    let direct = monitor::integrate::dspy::Monitored::new(plain::Direct { answer: answerer() });
    assert_eq!(direct.name(), "Direct");
    let prediction = direct
        .forward(question("Japan"))
        .with_tracer(&tracer)
        .await
        .unwrap();
    let forward = &entries(&tracer, "Direct::forward")[0];
    let spent = monitor::integrate::dspy::prediction_tokens(&prediction).expect("the fake's usage");
    assert_eq!(forward.token_usage, Some(spent));
    assert_eq!(forward.trace_token_usage, Some(spent));
    assert!(children(&tracer, forward).is_empty());
}

/// The loop closed: calls a service made, with the right answers a reviewer sent later as
/// expectations, become COPRO's trainset, and the optimiser finds the instruction that
/// answers them.
#[test]
fn a_dataset_from_traces_is_an_optimisers_trainset() {
    runtime().block_on(a_dataset_from_traces_is_an_optimisers_trainset_body())
}

async fn a_dataset_from_traces_is_an_optimisers_trainset_body() {
    use monitor::{Dataset, Score, Selection};
    setup();
    #[cfg(feature = "mlflow")]
    if mlflow_setup().is_none() {
        // Without a server the run would go to ./mlruns.
        return;
    }
    let tracer = ExecutionTracer::new();
    let mut served =
        monitor::integrate::dspy::Monitored::new(plain::Answerer { answer: answerer() })
            .named("served")
            .record_into(&tracer);
    for country in ["France", "Italy"] {
        let asked = question(country);
        let text = asked.get("question", None);
        let answer = asked.get("answer", None);
        served
            .forward(dspy_rs::example! { "question": "input" => text })
            .await
            .unwrap();
        let call = entries(&tracer, "served::forward").pop().unwrap();
        let gold = Score::new("answer", answer.as_str().unwrap())
            .unwrap()
            .as_expectation()
            .by_human("reviewer");
        tracer
            .feedback(&call.trace_id, Some(&call.span_id), gold)
            .unwrap();
    }
    let dataset = Dataset::from_traces(&tracer, &Selection::new().module("served::forward"));
    let trainset = dataset.to_dspy_examples();
    assert_eq!(trainset.len(), 2);
    assert_eq!(trainset[0].input_keys, ["question"]);
    assert_eq!(trainset[0].output_keys, ["answer"]);
    assert_eq!(trainset[0].data["answer"], "Paris");
    // What the service said is kept with the row, beside the right answer.
    let said = dataset.rows[0].outputs.as_ref().unwrap()["answer"].clone();
    assert_eq!(said, "I am not sure.");

    let copro = COPRO::builder().breadth(2).depth(1).build();
    let report =
        monitor::integrate::dspy::track_optimization(&copro, &mut served, trainset, "from-traces")
            .with_tracer(&tracer)
            .await
            .unwrap();
    assert_eq!(report.best_candidate().unwrap().score, 1.0, "{report:#?}");
    assert_eq!(
        report.final_instructions,
        [("answer".to_owned(), GOOD_INSTRUCTION.to_owned())]
    );
    assert!(report.candidates.iter().all(|c| c.examples.len() == 2));
}
