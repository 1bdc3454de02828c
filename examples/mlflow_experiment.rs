//! An optimisation loop tracked in MLflow.
//!
//! ```text
//! cargo run --example mlflow_experiment --features mlflow                  # ./mlruns, no server
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run --example mlflow_experiment --features mlflow
//! ```
//!
//! Each candidate prompt is a nested run; the best one is kept, the tracer's per-module
//! metrics and traces are logged, and the results go in as a JSON artifact.

use monitor::mlflow::{configure_mlflow, MlflowLogger};
use monitor::{mlflow_run, ExecutionTracer, TokenUsage};
use serde_json::json;

/// A stand-in for an LLM program: quality grows with the number of demos, with noise.
fn evaluate(tracer: &ExecutionTracer, demos: u32, temperature: f64, example: u32) -> f64 {
    let mut call = tracer.trace(
        "program::evaluate",
        json!({ "demos": demos, "example": example }),
    );
    let noise = ((example * 7919 + demos * 104_729) % 100) as f64 / 1000.0;
    let quality = (0.5 + 0.08 * f64::from(demos) - 0.1 * temperature + noise).min(1.0);
    call.set_outputs(json!({ "quality": quality }));
    call.set_quality_score(quality);
    call.set_token_usage(TokenUsage::new(200 + 50 * u64::from(demos), 80));
    call.finish();
    quality
}

#[mlflow_run(name = "candidate", params(demos, temperature))]
fn try_candidate(tracer: &ExecutionTracer, demos: u32, temperature: f64) -> f64 {
    let run = MlflowLogger::active().expect("inside #[mlflow_run]");
    let mut total = 0.0;
    for example in 0..20 {
        let q = evaluate(tracer, demos, temperature, example);
        total += q;
        run.log_metric_at(
            "running_quality",
            total / f64::from(example + 1),
            i64::from(example),
        )
        .unwrap();
    }
    let quality = total / 20.0;
    run.log_metric("quality", quality).unwrap();
    quality
}

#[mlflow_run(name = "miprov2_v1", params(trainset_size, auto))]
fn optimize(trainset_size: usize, auto: &str) -> Result<f64, String> {
    let run = MlflowLogger::active().expect("inside #[mlflow_run]");
    run.log_params([("optimizer", "MIPROv2"), ("model", "gpt-x")])
        .unwrap();
    run.set_tags([("phase", "optimization")]).unwrap();

    let tracer = ExecutionTracer::new();
    let mut best = (0.0, 0, 0.0);
    for (step, (demos, temperature)) in [(0, 0.0), (2, 0.7), (4, 0.3), (6, 0.0)]
        .into_iter()
        .enumerate()
    {
        let quality = try_candidate(&tracer, demos, temperature);
        run.log_metric_at("best_quality", quality.max(best.0), step as i64)
            .unwrap();
        if quality > best.0 {
            best = (quality, demos, temperature);
        }
    }
    run.log_tracer(&tracer, 0).unwrap();
    // With a server, the calls also show in MLflow's Traces tab (a local store has none).
    if std::env::var_os("MLFLOW_TRACKING_URI").is_some() {
        run.log_traces(&tracer.get_traces(None)).unwrap();
    }
    run.log_dict(
        &json!({ "quality_score": best.0, "demos": best.1, "temperature": best.2, "examples_used": trainset_size }),
        "optimization_results.json",
    )
    .unwrap();
    if best.0 < 0.5 {
        return Err(format!("no candidate reached 0.5 (best {:.3})", best.0));
    }
    Ok(best.0)
}

fn main() {
    // No tracking URI here: MLFLOW_TRACKING_URI if set, else the local store ./mlruns.
    configure_mlflow(None, "skill-fleet-optimization");
    let outcome = optimize(50, "medium");
    // The end of the last run flushes; this reports anything that could not be delivered.
    let report = monitor::mlflow::mlflow_shutdown();
    match &outcome {
        Ok(best) => println!("best quality {best:.3}"),
        Err(error) => println!("optimization failed: {error}"),
    }
    match std::env::var("MLFLOW_TRACKING_URI") {
        Ok(uri) => println!("runs are on {uri} (experiment skill-fleet-optimization)"),
        Err(_) => println!(
            "runs are in ./mlruns. Browse them with\n  \
             MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri ./mlruns"
        ),
    }
    if !report.is_complete() {
        println!("not delivered: {report}");
    }
}
