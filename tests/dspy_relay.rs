//! dspy-rs optimisers' own LM calls, recorded: COPRO's instruction proposals go through
//! `forward_with_config` and a plain `ChatAdapter`, out of any adapter's reach, so the LM
//! is built with an `OpenAiRelay`'s URL as its `base_url`. Each proposal is then a
//! `chat_model` call under the optimisation's run (and in its MLflow run's trace), and
//! each of the module's own LM calls is still recorded once, by the monitored adapter,
//! under the example that made it. The API is a fake on 127.0.0.1.

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/dspy_pipeline.rs"]
mod pipeline;
mod support;

use std::sync::Mutex;

use dspy_rs::{ChatAdapter, MIPROv2, COPRO, LM};
use monitor::integrate::dspy::{
    track_optimization, Monitored, EXAMPLE_MODULE, OPTIMIZER_LM_MODULE, RUN_MODULE,
};
use monitor::integrate::relay::OpenAiRelay;
use monitor::{ExecutionTracer, TraceEntry, WithTracerExt, KIND_ATTRIBUTE};

use pipeline::fake_lm::FakeLm;
use pipeline::{answerer, fake_model, question, PROPOSAL};
use support::dspy_answerer::Answerer;

const MODEL: &str = "fake-relay-model";
const BREADTH: usize = 3;
const DEPTH: usize = 2;

fn entries(tracer: &ExecutionTracer, module: &str) -> Vec<TraceEntry> {
    tracer
        .get_traces(None)
        .into_iter()
        .filter(|e| e.module == module)
        .collect()
}

/// MLflow: the test server when there is one, else a local store in a temporary folder
/// (the tracer part runs either way).
#[cfg(feature = "mlflow")]
fn mlflow_setup() -> Option<(String, String)> {
    use support::mlflow::{config, server_uri, unique};
    static SETUP: std::sync::OnceLock<Option<(String, String)>> = std::sync::OnceLock::new();
    SETUP
        .get_or_init(|| {
            let spool = std::env::temp_dir().join(unique("dspy-relay-spool"));
            let Some(uri) = server_uri() else {
                let store = std::env::temp_dir().join(unique("dspy-relay-mlruns"));
                monitor::mlflow::configure_mlflow_with(
                    monitor::mlflow::MlflowConfig::default()
                        .local_store(store)
                        .spool_dir(spool),
                );
                return None;
            };
            let experiment = unique("dspy-relay");
            monitor::mlflow::configure_mlflow_with(
                config(&uri, &spool).experiment_name(experiment.clone()),
            );
            Some((uri, experiment))
        })
        .clone()
}

/// Runs a test's body alone, on a runtime of its own: dspy-rs keeps its LM in a
/// process-wide setting, which each test sets to its own relay.
fn alone(body: impl std::future::Future<Output = ()>) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(body)
}

/// A fake API, a relay to it recording into `tracer`, and dspy-rs configured with an LM
/// whose base URL is the relay's.
async fn relayed_lm(tracer: &ExecutionTracer) -> (FakeLm, OpenAiRelay) {
    let api = FakeLm::start(fake_model);
    let relay = OpenAiRelay::builder(&api.base_url)
        .record_into(tracer)
        .start()
        .unwrap();
    // The one change: the LM's base URL is the relay's.
    let lm = LM::builder()
        .base_url(relay.url().to_owned())
        .model(MODEL.to_owned())
        .build()
        .await
        .unwrap();
    monitor::integrate::dspy::configure(lm, ChatAdapter);
    #[cfg(feature = "mlflow")]
    mlflow_setup(); // runs go there, never to the working directory's ./mlruns
    (api, relay)
}

/// How many calls of the tracer are model calls.
fn model_calls(tracer: &ExecutionTracer) -> usize {
    tracer
        .get_traces(None)
        .into_iter()
        .filter(|e| {
            e.attributes
                .get(KIND_ATTRIBUTE)
                .is_some_and(|k| k == "chat_model")
        })
        .count()
}

#[test]
fn an_optimisers_own_lm_calls_are_recorded_under_its_run_once_each() {
    alone(an_optimisers_own_lm_calls_are_recorded_under_its_run_once_each_body())
}

async fn an_optimisers_own_lm_calls_are_recorded_under_its_run_once_each_body() {
    let tracer = ExecutionTracer::new();
    let (api, relay) = relayed_lm(&tracer).await;
    #[cfg(feature = "mlflow")]
    let mlflow = mlflow_setup();

    let mut module = Monitored::new(Answerer { answer: answerer() });
    let trainset = vec![question("France"), question("Italy"), question("Spain")];
    let copro = COPRO::builder().breadth(BREADTH).depth(DEPTH).build();
    let run_name = support::unique("copro-relay");
    let report = track_optimization(&copro, &mut module, trainset.clone(), &run_name)
        .with_tracer(&tracer)
        .await
        .unwrap();
    assert_eq!(report.best_candidate().unwrap().score, 1.0, "{report:#?}");

    // COPRO proposes `breadth - 1` instructions to start, then `breadth` more in each
    // further round of its depth.
    let proposals = (BREADTH - 1) + (DEPTH - 1) * BREADTH;
    let run = &entries(&tracer, RUN_MODULE)[0];
    let own = entries(&tracer, OPTIMIZER_LM_MODULE);
    assert_eq!(own.len(), proposals, "{own:#?}");
    for call in &own {
        assert_eq!(call.attributes[KIND_ATTRIBUTE], "chat_model");
        assert_eq!(call.parent_span_id.as_deref(), Some(run.span_id.as_str()));
        assert_eq!(call.trace_id, run.trace_id);
        assert_eq!(call.attributes["gen_ai.request.model"], MODEL);
        let asked = call.inputs["messages"].to_string();
        assert!(asked.contains("instruction optimizer"), "{asked}");
        let answered = call.outputs.as_ref().unwrap()["content"].as_str().unwrap();
        assert!(answered.contains(PROPOSAL), "{answered}");
        assert!(call.token_usage.is_some_and(|t| t.input_tokens > 0));
    }

    // Each LM call the candidates' evaluations made is recorded once, by the adapter,
    // under the module's forward in its example.
    let evaluated = report.candidates.len() * trainset.len();
    let answers = entries(&tracer, "lm.answer");
    assert_eq!(answers.len(), evaluated);
    let examples = entries(&tracer, EXAMPLE_MODULE);
    for answer in &answers {
        let forward = tracer
            .get_traces(None)
            .into_iter()
            .find(|e| Some(&e.span_id) == answer.parent_span_id.as_ref())
            .unwrap();
        assert!(examples
            .iter()
            .any(|e| Some(&e.span_id) == forward.parent_span_id.as_ref()));
    }
    // Every request the API answered is exactly one model call in the tracer.
    assert_eq!(model_calls(&tracer), proposals + evaluated);
    assert_eq!(api.requests() as usize, proposals + evaluated);
    let stats = relay.stats();
    assert_eq!(stats.forwarded as usize, proposals + evaluated);
    assert_eq!(stats.recorded as usize, proposals);

    #[cfg(feature = "mlflow")]
    if let Some((uri, experiment)) = mlflow {
        readback(&uri, &experiment, &run_name, &run.trace_id, proposals);
    }
}

#[test]
fn miprov2s_description_and_instruction_calls_are_recorded_under_its_run() {
    alone(miprov2s_description_and_instruction_calls_are_recorded_under_its_run_body())
}

async fn miprov2s_description_and_instruction_calls_are_recorded_under_its_run_body() {
    let tracer = ExecutionTracer::new();
    let (api, relay) = relayed_lm(&tracer).await;
    let mut module = Monitored::new(Answerer { answer: answerer() });
    let trainset = vec![question("France"), question("Italy")];
    let candidates = 3;
    let mipro = MIPROv2::builder()
        .num_candidates(candidates)
        .num_trials(1)
        .minibatch_size(2)
        .track_stats(false)
        .build();
    track_optimization(&mipro, &mut module, trainset, "mipro-relay")
        .with_tracer(&tracer)
        .await
        .unwrap();

    // One program description, then one call per candidate instruction.
    let run = &entries(&tracer, RUN_MODULE)[0];
    let own = entries(&tracer, OPTIMIZER_LM_MODULE);
    assert_eq!(own.len(), 1 + candidates, "{own:#?}");
    assert!(own
        .iter()
        .all(|call| call.parent_span_id.as_deref() == Some(run.span_id.as_str())));
    // Its trace runs and candidate evaluations are the adapter's; each request once.
    assert_eq!(model_calls(&tracer), api.requests() as usize);
    assert_eq!(relay.stats().recorded as usize, 1 + candidates);
    assert_eq!(relay.stats().forwarded, api.requests());
}

/// The optimisation's MLflow run has its trace: the run, and the proposals as chat model
/// spans.
#[cfg(feature = "mlflow")]
fn readback(uri: &str, experiment: &str, run_name: &str, run_trace: &str, proposals: usize) {
    use support::mlflow::Rest;
    let (uri, experiment, run_name) = (uri.to_owned(), experiment.to_owned(), run_name.to_owned());
    let trace_id = format!("tr-{run_trace}");
    // Blocking reads off the async runtime's threads.
    std::thread::spawn(move || {
        assert!(monitor::mlflow::mlflow_flush().is_complete());
        let rest = Rest::new(&uri);
        let runs = rest.runs_named(&experiment, &run_name);
        assert_eq!(runs.len(), 1);
        let run_id = runs[0]["info"]["run_id"].as_str().unwrap();
        assert!(rest.traces_of_run(&experiment, run_id).contains(&trace_id));
        let trace = rest.get(&format!("/api/3.0/mlflow/traces/get?trace_id={trace_id}"));
        let spans = trace["trace"]["spans"].as_array().expect("spans");
        let named = |name: &str| spans.iter().filter(|s| s["name"] == name).count();
        assert_eq!(named(RUN_MODULE), 1);
        assert_eq!(named(OPTIMIZER_LM_MODULE), proposals, "{trace}");
        let chat_models = spans
            .iter()
            .filter(|s| s["name"] == OPTIMIZER_LM_MODULE)
            .filter(|s| s.to_string().contains("CHAT_MODEL"))
            .count();
        assert_eq!(chat_models, proposals);
    })
    .join()
    .unwrap();
}
