//! Optimiser runs as experiments: each candidate the optimiser evaluates, with its
//! instructions and score, in the tracer and (feature `mlflow`) as an MLflow child run.

use dspy_rs::{Evaluator, Example, Module, Optimizable, Optimizer, Prediction};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::RwLock;

use super::names::name_predictors;
use crate::record::scope::current_tracer;
use crate::{ExecutionTracer, SpanKind};

/// The module name of one candidate's evaluation.
pub const CANDIDATE_MODULE: &str = "optimizer.candidate";

/// The module name of a whole optimiser run.
pub const RUN_MODULE: &str = "optimizer.run";

/// The module name of one example's evaluation within a candidate: its forward call and
/// metric call run under it, and the metric's score is its quality.
pub const EXAMPLE_MODULE: &str = "optimizer.example";

/// The module name of the optimiser's own LM calls (COPRO's and MIPROv2's instruction
/// proposals, MIPROv2's program descriptions): recorded when the LM's `base_url` is an
/// [`OpenAiRelay`](crate::integrate::relay::OpenAiRelay)'s (feature `openai-relay`), as
/// `chat_model` children of the [`RUN_MODULE`] call.
pub const OPTIMIZER_LM_MODULE: &str = "optimizer.lm";

/// What the metric gave one example of a candidate's evaluation, and where its calls are.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExampleScore {
    /// Its place in the evaluated examples, from 0.
    pub example: usize,
    /// What `Evaluator::metric` gave it; 0 when the module's `forward` failed.
    pub score: f32,
    /// The span id of its [`EXAMPLE_MODULE`] entry in the tracer (a child of the
    /// candidate's entry).
    pub span_id: String,
    /// The id of the example's own trace: with the `mlflow` feature its calls are sent to
    /// the candidate's child run as MLflow trace `tr-<trace_id>`, rooted at the example's
    /// entry, with the score as its `quality` assessment. (In the tracer they stay in the
    /// optimiser run's trace.)
    pub trace_id: String,
}

/// One candidate an optimiser evaluated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CandidateResult {
    /// Its place in evaluation order, from 0.
    pub index: usize,
    /// The instruction of every predictor while it was evaluated, by predictor name.
    pub instructions: Vec<(String, String)>,
    /// Its score: the mean of its examples' scores.
    pub score: f32,
    /// Each example's score, in the order the examples were given.
    pub examples: Vec<ExampleScore>,
}

/// What [`track_optimization`] saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Optimization {
    /// Every candidate evaluated, in order.
    pub candidates: Vec<CandidateResult>,
    /// The index of the best-scoring candidate (the first of equals).
    pub best: Option<usize>,
    /// The instructions the module has after the optimiser ran, by predictor name.
    pub final_instructions: Vec<(String, String)>,
}

impl CandidateResult {
    /// The name of its MLflow child run: its number, score and the start of its first
    /// instruction, e.g. `candidate-3 (0.82): Answer in one short sentence, citing…`, so
    /// the runs of one optimisation tell apart in MLflow's run list.
    pub fn run_name(&self) -> String {
        run_name(self.index, self.score, &self.instructions)
    }
}

/// How much of the first instruction a child run's name shows, in characters.
const SUMMARY_CHARS: usize = 48;

fn run_name(index: usize, score: f32, instructions: &[(String, String)]) -> String {
    let text = instructions
        .first()
        .map(|(_, text)| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut summary: String = text.chars().take(SUMMARY_CHARS).collect();
    if text.chars().count() > SUMMARY_CHARS {
        summary.push('…');
    }
    match summary.is_empty() {
        true => format!("candidate-{index} ({score:.2})"),
        false => format!("candidate-{index} ({score:.2}): {summary}"),
    }
}

impl Optimization {
    /// The best-scoring candidate.
    pub fn best_candidate(&self) -> Option<&CandidateResult> {
        self.best.map(|i| &self.candidates[i])
    }
}

/// The module as the optimiser sees it inside [`track_optimization`]: itself, except that
/// each `evaluate` is recorded as a candidate. Optimisers take `&mut M` and evaluate
/// through `&M`, so the module sits behind an async lock that only `evaluate` takes
/// exclusively, for as long as it reads the predictors' instructions.
pub struct TrackedModule<'m, M> {
    module: RwLock<&'m mut M>,
    tracer: ExecutionTracer,
    candidates: Mutex<Vec<CandidateResult>>,
    #[cfg(feature = "mlflow")]
    run: Option<crate::mlflow::MlflowRun>,
    #[cfg(feature = "mlflow")]
    children: Mutex<Vec<(usize, crate::mlflow::MlflowRun)>>,
}

impl<M> std::fmt::Debug for TrackedModule<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedModule")
            .field("candidates", &self.candidates.lock().len())
            .finish_non_exhaustive()
    }
}

/// Each predictor's instruction, by name.
fn instructions_of<M: Optimizable + ?Sized>(module: &mut M) -> Vec<(String, String)> {
    module
        .parameters()
        .into_iter()
        .map(|(name, predictor)| (name, predictor.get_signature().instruction()))
        .collect()
}

/// `instruction` for a module of one predictor, `instruction.<name>` for each of several.
fn instruction_keys(instructions: &[(String, String)]) -> Vec<(String, &str)> {
    match instructions {
        [(_, only)] => vec![("instruction".to_owned(), only.as_str())],
        _ => instructions
            .iter()
            .map(|(name, text)| (format!("instruction.{name}"), text.as_str()))
            .collect(),
    }
}

impl<M: Module> Module for TrackedModule<'_, M> {
    async fn forward(&self, inputs: Example) -> anyhow::Result<Prediction> {
        self.module.read().await.forward(inputs).await
    }
}

impl<M: Optimizable> Optimizable for TrackedModule<'_, M> {
    fn get_signature(&self) -> &dyn dspy_rs::MetaSignature {
        // Optimisers ask each of `parameters()` for its signature, never the module, and a
        // reference cannot be lent out through the lock: an empty one, not a panic.
        static NO_SIGNATURE: NoSignature = NoSignature;
        &NO_SIGNATURE
    }

    fn parameters(&mut self) -> indexmap::IndexMap<String, &mut dyn Optimizable> {
        self.module.get_mut().parameters()
    }

    fn update_signature_instruction(&mut self, instruction: String) -> anyhow::Result<()> {
        self.module
            .get_mut()
            .update_signature_instruction(instruction)
    }
}

/// The signature of a module made of predictors: it has none of its own (its predictors
/// do), so it shows nothing and refuses changes.
struct NoSignature;

impl dspy_rs::MetaSignature for NoSignature {
    fn demos(&self) -> Vec<Example> {
        Vec::new()
    }

    fn set_demos(&mut self, _: Vec<Example>) -> anyhow::Result<()> {
        anyhow::bail!("a tracked module has no signature of its own: set its predictors' demos")
    }

    fn instruction(&self) -> String {
        String::new()
    }

    fn input_fields(&self) -> serde_json::Value {
        serde_json::Value::Object(serde_json::Map::new())
    }

    fn output_fields(&self) -> serde_json::Value {
        serde_json::Value::Object(serde_json::Map::new())
    }

    fn update_instruction(&mut self, _: String) -> anyhow::Result<()> {
        anyhow::bail!("a tracked module has no signature of its own: update its predictors")
    }

    fn append(&mut self, _: &str, _: serde_json::Value) -> anyhow::Result<()> {
        anyhow::bail!("a tracked module has no signature of its own: change its predictors")
    }
}

impl<M: Module + Optimizable + Evaluator> Evaluator for TrackedModule<'_, M> {
    const MAX_CONCURRENCY: usize = M::MAX_CONCURRENCY;
    const DISPLAY_PROGRESS: bool = M::DISPLAY_PROGRESS;

    async fn metric(&self, example: &Example, prediction: &Prediction) -> f32 {
        self.module.read().await.metric(example, prediction).await
    }

    async fn evaluate(&self, examples: Vec<Example>) -> f32 {
        // The optimiser set the candidate's instructions just before asking.
        let instructions = instructions_of(&mut **self.module.write().await);
        let index = self.candidates.lock().len();
        let keys = instruction_keys(&instructions);
        let inputs: serde_json::Map<String, serde_json::Value> =
            std::iter::once(("candidate".to_owned(), serde_json::Value::from(index)))
                .chain(keys.iter().map(|(k, v)| (k.clone(), (*v).into())))
                .collect();
        // The guard goes into the instrumented future before any `.await` (it belongs to
        // the thread that polls), so that this future stays `Send`.
        let traced = {
            let mut call = self.tracer.trace(CANDIDATE_MODULE, &inputs);
            call.set_kind(SpanKind::Evaluator);
            call.set_attribute("optimizer.examples", examples.len());
            call.instrument_keep(self.score_examples(index, &examples))
        };
        let (scores, mut call) = traced.await;
        let score = mean_score(&scores);
        call.set_outputs(score);
        call.set_quality_score(f64::from(score));
        call.finish();
        #[cfg(feature = "mlflow")]
        self.log_candidate(index, &instructions, score, &scores);
        self.candidates.lock().push(CandidateResult {
            index,
            instructions,
            score,
            examples: scores,
        });
        score
    }
}

/// The mean of the examples' scores, as `Evaluator::evaluate` computes it (0 for none,
/// where dspy-rs would give NaN).
fn mean_score(scores: &[ExampleScore]) -> f32 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().map(|s| s.score).sum::<f32>() / scores.len() as f32
}

impl<M: Module + Optimizable + Evaluator> TrackedModule<'_, M> {
    /// Scores each example as `Evaluator::evaluate` does (forward, then metric), at most
    /// `M::MAX_CONCURRENCY` at once, each in an [`EXAMPLE_MODULE`] call of its own so that
    /// its score lands on the calls that earned it.
    async fn score_examples(&self, candidate: usize, examples: &[Example]) -> Vec<ExampleScore> {
        use futures_util::stream::{self, StreamExt};
        stream::iter(examples.iter().enumerate())
            .map(|(position, example)| self.score_example(candidate, position, example))
            .buffered(M::MAX_CONCURRENCY.max(1))
            .collect()
            .await
    }

    async fn score_example(
        &self,
        candidate: usize,
        position: usize,
        example: &Example,
    ) -> ExampleScore {
        let traced = {
            let mut call = self.tracer.trace(EXAMPLE_MODULE, &example.data);
            call.set_kind(SpanKind::Evaluator);
            call.set_attribute("optimizer.candidate", candidate);
            call.set_attribute("optimizer.example", position);
            call.instrument_keep(async {
                let module = self.module.read().await;
                let prediction = module.forward(example.clone()).await?;
                let score = module.metric(example, &prediction).await;
                anyhow::Ok((prediction, score))
            })
        };
        let (result, mut call) = traced.await;
        let span_id = call.span_id();
        let trace_id = own_trace_id(&call.trace_id(), &span_id);
        let score = match result {
            Ok((prediction, score)) => {
                call.set_outputs(&prediction.data);
                call.set_quality_score(f64::from(score));
                score
            }
            // dspy-rs's `evaluate` would panic; a failed example scores nothing instead.
            Err(error) => {
                call.fail(AsRef::<dyn std::error::Error + Send + Sync>::as_ref(&error));
                // Scored explicitly, so its trace carries the 0 the report counts.
                call.set_quality_score(0.0);
                0.0
            }
        };
        call.finish();
        ExampleScore {
            example: position,
            score,
            span_id,
            trace_id,
        }
    }
}

/// The trace id an example's calls get as a trace of their own: unique because its span id
/// is, and kept to the 32 hex digits OTLP asks for.
fn own_trace_id(run_trace_id: &str, example_span_id: &str) -> String {
    let prefix = run_trace_id.get(..16).unwrap_or(run_trace_id);
    format!("{prefix}{example_span_id}")
}

/// The entries of each example's calls (its [`EXAMPLE_MODULE`] entry and everything under
/// it), moved to the example's own trace with the example's entry as the root.
#[cfg(feature = "mlflow")]
fn example_traces(
    entries: &[crate::TraceEntry],
    scores: &[ExampleScore],
) -> Vec<crate::TraceEntry> {
    let own_trace: rustc_hash::FxHashMap<&str, &str> = scores
        .iter()
        .map(|s| (s.span_id.as_str(), s.trace_id.as_str()))
        .collect();
    let parents: rustc_hash::FxHashMap<&str, &str> = entries
        .iter()
        .filter_map(|e| Some((e.span_id.as_str(), e.parent_span_id.as_deref()?)))
        .collect();
    let example_of = |span: &str| {
        let mut at = span;
        // Bounded by the number of entries: ancestry cannot be longer.
        for _ in 0..=entries.len() {
            if let Some(trace) = own_trace.get(at) {
                return Some(*trace);
            }
            at = parents.get(at)?;
        }
        None
    };
    entries
        .iter()
        .filter_map(|entry| {
            let trace = example_of(&entry.span_id)?;
            let mut entry = entry.clone();
            if own_trace.contains_key(entry.span_id.as_str()) {
                entry.parent_span_id = None;
            }
            entry.trace_id = trace.to_owned();
            Some(entry)
        })
        .collect()
}

/// The entries of the run's own trace: the run, its candidates and the optimiser's own LM
/// calls, without the examples' calls (each of which is a trace of its candidate's run).
#[cfg(feature = "mlflow")]
fn run_entries(
    entries: &[crate::TraceEntry],
    run_trace: &str,
    examples: &[ExampleScore],
) -> Vec<crate::TraceEntry> {
    let moved: rustc_hash::FxHashSet<String> = example_traces(entries, examples)
        .into_iter()
        .map(|entry| entry.span_id)
        .collect();
    entries
        .iter()
        .filter(|entry| entry.trace_id == run_trace && !moved.contains(&entry.span_id))
        .cloned()
        .collect()
}

#[cfg(feature = "mlflow")]
impl<M> TrackedModule<'_, M> {
    /// The candidate as a child run of the optimiser's run, and a step of its
    /// `candidate_score` metric.
    ///
    /// Each example's calls go to the child run as a trace of their own, with the metric's
    /// score as the trace's `quality` assessment.
    fn log_candidate(
        &self,
        index: usize,
        instructions: &[(String, String)],
        score: f32,
        examples: &[ExampleScore],
    ) {
        let Some(run) = &self.run else { return };
        let keys = instruction_keys(instructions);
        let name = run_name(index, score, instructions);
        let score = f64::from(score);
        warn_on(run.log_metric_at("candidate_score", score, index as i64));
        let child = match run.start_child(name) {
            Ok(child) => child,
            Err(error) => return warn_on::<()>(Err(error)),
        };
        let params = keys
            .iter()
            .map(|(key, text)| (key.as_str(), param_value(text)))
            .chain(std::iter::once(("candidate", index.to_string())))
            .collect::<Vec<_>>();
        warn_on(child.log_params(params));
        warn_on(child.log_metric("score", score));
        let traces = example_traces(&self.tracer.get_traces(None), examples);
        warn_on(child.log_traces(&traces));
        self.children.lock().push((index, child.run().clone()));
        child.end();
    }
}

/// A param value within MLflow's limit (instructions can be long): cut with a marker.
#[cfg(feature = "mlflow")]
fn param_value(text: &str) -> String {
    const MARK: &str = "…[truncated]";
    let limit = crate::mlflow::MAX_PARAM_VALUE_LENGTH;
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let kept: String = text.chars().take(limit - MARK.chars().count()).collect();
    kept + MARK
}

/// MLflow never stops an optimisation: a refused log call is a warning.
#[cfg(feature = "mlflow")]
fn warn_on<T>(result: crate::Result<T>) {
    if let Err(error) = result {
        crate::record::subscriber::emit!(
            tracing::warn!(target: "monitor::dspy", %error, "optimizer run: mlflow log call refused")
        );
    }
}

/// Runs `optimizer` on `module` with `trainset`, recording every candidate it evaluates.
///
/// - In the current tracer: one [`RUN_MODULE`] call for the whole run (inputs: the run
///   name, the optimiser's type, the trainset size; output and quality: the best
///   candidate and its score), and under it one [`CANDIDATE_MODULE`] call per evaluated
///   candidate (inputs: `candidate`, its index, and the predictors' instructions as
///   `instruction`, or `instruction.<predictor>` when there are several; output and
///   quality: its score), and under each candidate one [`EXAMPLE_MODULE`] call per example
///   (inputs: the example's fields; output: the prediction's fields; quality: the metric's score for it;
///   attributes `optimizer.candidate` and `optimizer.example`, the indexes), with the
///   module's `forward` and `metric` calls, and their LM calls, under that.
/// - With the `mlflow` feature: one run named `run_name` (params `optimizer`,
///   `trainset_size`, `predictors`; metric `candidate_score` with the candidate index as
///   step; metric `best_score`, tag `best_candidate`), and one child run
///   `candidate-<i> (<score>): <instruction…>` per candidate (params `candidate` and the
///   instructions, metric
///   `score`; the best one tagged `best = true`, the others `false`). Each example's calls
///   are a trace of the candidate's child run (rooted at its [`EXAMPLE_MODULE`] call, id
///   [`ExampleScore::trace_id`]), with the metric's score as the trace's `quality`
///   assessment, as `mlflow.genai.evaluate` does for each row. The run's own trace (its
///   [`RUN_MODULE`] call, the candidates' calls, the optimiser's own LM calls) is a trace
///   of the run. MLflow being down or
///   unconfigured never fails the optimisation: the runs wait in the local store or the
///   delivery queue, and refused values are warnings.
/// - With the `openai-relay` feature, while it runs a [`RelayScope`] is open: when the LM
///   goes through an [`OpenAiRelay`] (its `base_url` is the relay's URL), the optimiser's
///   own LM calls (instruction proposals, which no adapter sees) are [`OPTIMIZER_LM_MODULE`]
///   `chat_model` calls under the [`RUN_MODULE`] call.
///
/// [`RelayScope`]: crate::integrate::relay::RelayScope
/// [`OpenAiRelay`]: crate::integrate::relay::OpenAiRelay
///
/// The hook is the module's `Evaluator::evaluate`, which every dspy-rs optimiser calls
/// once per candidate after setting its instructions (COPRO, MIPROv2); an optimiser that
/// evaluates otherwise (GEPA's feedback evaluator) records no candidates. A candidate is
/// scored as dspy-rs's own `evaluate` does (the mean of `metric` over the examples, at
/// most `MAX_CONCURRENCY` at once), one example at a time in its own call, so a module's
/// own override of `evaluate` is not used here; an example whose `forward` fails is
/// recorded as failed and scores 0 (dspy-rs's `evaluate` would panic).
///
/// Returns what the optimiser's `compile` returned, or what was seen.
pub async fn track_optimization<O, M>(
    optimizer: &O,
    module: &mut M,
    trainset: Vec<Example>,
    run_name: &str,
) -> anyhow::Result<Optimization>
where
    O: Optimizer,
    M: Module + Optimizable + Evaluator,
{
    let predictors = name_predictors(module);
    let optimizer_name = short_type_name::<O>();
    let tracer = current_tracer();
    #[cfg(feature = "mlflow")]
    let run = start_run(run_name, optimizer_name, trainset.len(), &predictors);
    let mut tracked = TrackedModule {
        module: RwLock::new(module),
        tracer: tracer.clone(),
        candidates: Mutex::new(Vec::new()),
        #[cfg(feature = "mlflow")]
        run: run.as_ref().map(|r| r.run().clone()),
        #[cfg(feature = "mlflow")]
        children: Mutex::new(Vec::new()),
    };
    let traced = {
        let mut call = tracer.trace(
            RUN_MODULE,
            json_object([
                ("run_name", run_name.into()),
                ("optimizer", optimizer_name.into()),
                ("trainset_size", trainset.len().into()),
            ]),
        );
        call.set_kind(SpanKind::Chain);
        call.instrument_keep(async {
            // Calls through a relay that no adapter records (the optimiser's own) land
            // under this run.
            #[cfg(feature = "openai-relay")]
            let _relayed = crate::integrate::relay::RelayScope::enter(OPTIMIZER_LM_MODULE);
            optimizer.compile(&mut tracked, trainset).await
        })
    };
    let (compiled, mut call) = traced.await;
    #[cfg(feature = "mlflow")]
    let run_trace = call.trace_id();
    let candidates = std::mem::take(tracked.candidates.get_mut());
    let best = candidates
        .iter()
        .fold(None::<&CandidateResult>, |best, c| match best {
            Some(b) if b.score >= c.score => Some(b),
            _ => Some(c),
        })
        .map(|c| c.index);
    let report = Optimization {
        best,
        final_instructions: instructions_of(&mut **tracked.module.get_mut()),
        candidates,
    };
    match &compiled {
        Ok(()) => {
            call.set_outputs(&report);
            if let Some(best) = report.best_candidate() {
                call.set_quality_score(f64::from(best.score));
            }
        }
        Err(error) => call.fail(AsRef::<dyn std::error::Error + Send + Sync>::as_ref(error)),
    }
    call.finish();
    #[cfg(feature = "mlflow")]
    if let Some(run) = run {
        let children = std::mem::take(tracked.children.get_mut());
        let examples: Vec<ExampleScore> = report
            .candidates
            .iter()
            .flat_map(|c| c.examples.iter().cloned())
            .collect();
        let entries = run_entries(&tracer.get_traces(None), &run_trace, &examples);
        warn_on(run.log_traces(&entries));
        finish_run(run, &children, &report, compiled.is_ok());
    }
    #[cfg(not(feature = "mlflow"))]
    let _ = predictors;
    compiled.map(|()| report)
}

fn json_object<const N: usize>(
    fields: [(&str, serde_json::Value); N],
) -> serde_json::Map<String, serde_json::Value> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `dspy_rs::optimizer::copro::COPRO` as `COPRO`.
pub(super) fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

#[cfg(feature = "mlflow")]
fn start_run(
    run_name: &str,
    optimizer: &str,
    trainset_size: usize,
    predictors: &[String],
) -> Option<crate::mlflow::MlflowLogger> {
    let run = match crate::mlflow::MlflowLogger::start(run_name) {
        Ok(run) => run,
        Err(error) => {
            warn_on::<()>(Err(error));
            return None;
        }
    };
    warn_on(run.log_params([
        ("optimizer", optimizer.to_owned()),
        ("trainset_size", trainset_size.to_string()),
        ("predictors", param_value(&predictors.join(","))),
    ]));
    Some(run)
}

#[cfg(feature = "mlflow")]
fn finish_run(
    run: crate::mlflow::MlflowLogger,
    children: &[(usize, crate::mlflow::MlflowRun)],
    report: &Optimization,
    succeeded: bool,
) {
    for (index, child) in children {
        warn_on(child.set_tag("best", report.best == Some(*index)));
    }
    if let Some(best) = report.best_candidate() {
        warn_on(run.log_metric("best_score", f64::from(best.score)));
        warn_on(run.set_tag("best_candidate", best.run_name()));
    }
    let status = if succeeded {
        crate::mlflow::RunStatus::Finished
    } else {
        crate::mlflow::RunStatus::Failed
    };
    run.end_with(status);
}

#[cfg(test)]
mod tests;
