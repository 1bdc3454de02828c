// Evaluation: what scores calls after they finished. Online judges (`judge.rs`: the
// public `Judge` and its settings; `registry.rs`: a tracer's judges by module and its
// `add_judge`, `judge_stats`, `flush_judges`; `run.rs`: the queue, the workers, timeouts
// and counts; `sample.rs`: which calls a judge sees) take finished calls
// from the tracer's tap (`record::tap`) and give their results back as feedback
// (`record::feedback`), so they are applied and exported exactly as feedback is.
// Datasets (`dataset/`) are recorded calls chosen and turned into rows, written as JSON
// Lines and pushed to MLflow's and Phoenix's datasets; evaluation runs (`evaluate/`) run a
// function over a dataset, each row a monitored call with its scores, aggregated in a
// report, compared, and logged as an MLflow run. At exit (`exit.rs`), pending judges are
// waited for, at most a bounded time.
//
// May call: `record` (the tracer, its tap, finished records and feedback), `score`,
// `entry`, `error`, `deadline`, `capture` (a panic's message, masking) and `mlflow` (its
// client, for evaluation datasets).

pub(crate) mod dataset;
pub(crate) mod evaluate;
pub(crate) mod exit;
pub(crate) mod judge;
mod registry;
mod run;
mod sample;
