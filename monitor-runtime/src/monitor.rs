//! `ModuleMonitor`: monitoring for things that cannot carry the attribute (closures, trait
//! objects, types from other crates).

// May call: `record` (a monitor is a named guard factory over the tracer), `capture`,
// `entry`, `score` and `metrics`.

use std::any::Any;
use std::fmt;
use std::future::Future;

use serde::Serialize;

use crate::capture::{CapturedValue, InputName};
use crate::entry::{ErrorInfo, IntoTokenUsage, TokenUsage};
use crate::metrics::ModuleMetrics;
use crate::record::callsite::{intern, ModuleId};
use crate::record::guard::{TraceGuard, TracerRef};
use crate::record::tracer::ExecutionTracer;

type QualityFn = Box<dyn Fn(&dyn Any) -> Option<f64> + Send + Sync>;
type TokensFn = Box<dyn Fn(&dyn Any) -> Option<TokenUsage> + Send + Sync>;
/// A named scorer: `None` when the output is not of the scorer's type.
type ScorerFn = Box<dyn Fn(&dyn Any) -> Option<crate::score::ScoreValue> + Send + Sync>;

/// What [`ModuleMonitor::call`] records as the output: any `Serialize` value. A trait of its
/// own for the error a future gets there: a closure that returns one (`|q| async move { .. }`)
/// is called with [`call_async`](ModuleMonitor::call_async).
#[diagnostic::on_unimplemented(
    message = "`ModuleMonitor::call` cannot record `{Self}` as the output: it is not `Serialize`",
    label = "the module returns `{Self}`",
    note = "a module that returns a future (an async closure, `|q| async move {{ .. }}`) is called with `call_async(input).await`, or `try_call_async` for a `Result`",
    note = "for any other output, derive or implement `serde::Serialize`, or record it by hand with `invoke(inputs, |module, call| ..)`"
)]
pub trait CallOutput: Serialize + 'static {}

impl<T: Serialize + 'static> CallOutput for T {}

/// Wraps a module (a closure, a boxed trait object, any value) so each call through it is
/// recorded as module `name`, as the seed's `ModuleMonitor` does.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{ExecutionTracer, ModuleMonitor};
///
/// let tracer = ExecutionTracer::new();
/// let generator = ModuleMonitor::new("skill_generator", |task: &str| format!("skill for {task}"))
///     .with_tracer(&tracer)
///     .with_quality(|output: &String| if output.contains("async") { 1.0 } else { 0.5 });
///
/// let result = generator.call("async Python");
/// assert_eq!(result, "skill for async Python");
///
/// let metrics = generator.get_metrics();
/// assert_eq!(metrics.total_executions, 1);
/// assert_eq!(metrics.avg_quality_score, Some(1.0));
/// ```
pub struct ModuleMonitor<M> {
    module: M,
    name: String,
    id: ModuleId,
    tracer: Option<ExecutionTracer>,
    quality: Option<QualityFn>,
    tokens: Option<TokensFn>,
    scorers: Vec<(String, ScorerFn)>,
    input_names: Vec<InputName>,
    log_inputs: bool,
    log_outputs: bool,
}

impl<M> fmt::Debug for ModuleMonitor<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleMonitor")
            .field("name", &self.name)
            .field("tracer", &self.tracer)
            .field("has_quality", &self.quality.is_some())
            .field("has_tokens", &self.tokens.is_some())
            .field("log_inputs", &self.log_inputs)
            .field("log_outputs", &self.log_outputs)
            .finish_non_exhaustive()
    }
}

impl<M> ModuleMonitor<M> {
    /// Monitors `module` under `name`. Calls record into the current tracer (the scoped
    /// default or the global one) unless [`with_tracer`](Self::with_tracer) names one.
    pub fn new(name: impl Into<String>, module: M) -> Self {
        let name = name.into();
        ModuleMonitor {
            id: intern(&name),
            module,
            name,
            tracer: None,
            quality: None,
            tokens: None,
            scorers: Vec::new(),
            input_names: Vec::new(),
            log_inputs: true,
            log_outputs: true,
        }
    }

    /// Records into `tracer`.
    pub fn with_tracer(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// Scores each successful output of type `T` (the `Ok` value for
    /// [`try_call`](Self::try_call)). A panic in `quality` is caught and recorded.
    pub fn with_quality<T: 'static>(
        mut self,
        quality: impl Fn(&T) -> f64 + Send + Sync + 'static,
    ) -> Self {
        self.quality = Some(Box::new(move |output| {
            output.downcast_ref::<T>().map(&quality)
        }));
        self
    }

    /// Reads the token usage of each successful output of type `T` (the `Ok` value for
    /// [`try_call`](Self::try_call)), as `#[monitored(tokens = f)]` does: `tokens` returns
    /// anything [`IntoTokenUsage`] (a [`TokenUsage`], an `Option` of one, `(input, output)`),
    /// added to what [`record_tokens`](crate::record_tokens) recorded during the call. A
    /// panic in `tokens` is caught and recorded (attribute `tokens_error`).
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, ModuleMonitor, TokenUsage};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Completion {
    ///     text: String,
    ///     usage: Option<TokenUsage>,
    /// }
    ///
    /// let tracer = ExecutionTracer::new();
    /// let llm = ModuleMonitor::new("llm", |prompt: &str| Completion {
    ///     text: prompt.to_uppercase(),
    ///     usage: Some(TokenUsage::new(prompt.len() as u64, 2)),
    /// })
    /// .with_tracer(&tracer)
    /// .with_tokens(|completion: &Completion| completion.usage);
    /// assert_eq!(llm.call("hello").text, "HELLO");
    /// assert_eq!(llm.get_metrics().token_usage, TokenUsage::new(5, 2));
    /// ```
    pub fn with_tokens<T: 'static, U: IntoTokenUsage>(
        mut self,
        tokens: impl Fn(&T) -> U + Send + Sync + 'static,
    ) -> Self {
        self.tokens = Some(Box::new(move |output| {
            output
                .downcast_ref::<T>()
                .and_then(|output| tokens(output).into_token_usage())
        }));
        self
    }

    /// Names the inputs of [`call`](Self::call) and its kin: a single input is recorded
    /// under the first name instead of `input`, a tuple's elements under one name each.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, ModuleMonitor};
    ///
    /// let tracer = ExecutionTracer::new();
    /// let answer = ModuleMonitor::new("answer", |(question, context): (&str, &str)| {
    ///     format!("{question} / {context}")
    /// })
    /// .with_tracer(&tracer)
    /// .with_input_names(["question", "context"]);
    /// answer.call(("why?", "because"));
    /// let inputs = &tracer.get_traces(None)[0].inputs;
    /// assert_eq!(inputs["question"], "why?");
    /// assert_eq!(inputs["context"], "because");
    /// ```
    pub fn with_input_names<N: Into<InputName>>(
        mut self,
        names: impl IntoIterator<Item = N>,
    ) -> Self {
        self.input_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// This module's log level, as the seed's `ModuleMonitor(log_level=..)`: over
    /// `MONITORING_LOG_LEVEL`, successful calls log at INFO (DEBUG, with inputs and
    /// outputs, at `Level::DEBUG` or `TRACE`) and failures at WARN, under the target
    /// `monitor::<name>`; see "Log lines" on the `monitor` crate's front page. Applies to
    /// every caller of this module name.
    pub fn with_log_level(self, level: tracing::Level) -> Self {
        // Not set only from inside a subscriber callback, or if the subscriber panicked.
        let _ = crate::record::log::set_module_level(
            crate::record::callsite::module_name(self.id),
            level,
        );
        self
    }

    /// Whether inputs are recorded (default `true`).
    pub fn log_inputs(mut self, log_inputs: bool) -> Self {
        self.log_inputs = log_inputs;
        self
    }

    /// Whether outputs are recorded (default `true`).
    pub fn log_outputs(mut self, log_outputs: bool) -> Self {
        self.log_outputs = log_outputs;
        self
    }

    /// The module name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wrapped module.
    pub fn inner(&self) -> &M {
        &self.module
    }

    /// The tracer calls record into now.
    pub fn tracer(&self) -> ExecutionTracer {
        self.tracer.clone().unwrap_or_else(crate::current_tracer)
    }

    /// This module's aggregate metrics in its tracer.
    pub fn get_metrics(&self) -> ModuleMetrics {
        self.tracer().module_metrics(&self.name)
    }

    fn start(&self, inputs: impl Serialize) -> TraceGuard<'_> {
        let tracer = match &self.tracer {
            Some(tracer) => TracerRef::Borrowed(tracer),
            None => TracerRef::Owned(crate::current_tracer()),
        };
        let mut guard = TraceGuard::start(tracer, self.id);
        if self.log_inputs {
            guard.set_inputs(inputs);
        }
        guard
    }

    /// Starts a call of a function-like module with one input value, named as
    /// [`with_input_names`](Self::with_input_names) says.
    fn start_call(&self, input: &impl Serialize) -> TraceGuard<'_> {
        if self.input_names.is_empty() || !self.log_inputs {
            return self.start(input);
        }
        let mut guard = self.start(());
        let max_bytes = guard.tracer().max_field_bytes();
        let value = serde_json::to_value(input).unwrap_or(serde_json::Value::Null);
        match value {
            serde_json::Value::Array(items) if self.input_names.len() > 1 => {
                for (name, item) in self.input_names.iter().zip(items) {
                    guard.add_input(name.clone(), CapturedValue::json(&item, max_bytes));
                }
            }
            single => guard.add_input(
                self.input_names[0].clone(),
                CapturedValue::json(&single, max_bytes),
            ),
        }
        guard
    }

    fn record_output<O: Serialize + 'static>(&self, guard: &mut TraceGuard<'_>, output: &O) {
        if self.log_outputs {
            guard.set_outputs(output);
        }
        self.score(guard, output);
    }

    fn record_result<T: Serialize + 'static, E: fmt::Display>(
        &self,
        guard: &mut TraceGuard<'_>,
        result: &Result<T, E>,
    ) {
        match result {
            Ok(value) => self.record_output(guard, value),
            Err(error) => guard.fail_with(ErrorInfo::from_display(error)),
        }
    }

    /// Scores a successful output and reads its token usage.
    fn score(&self, guard: &mut TraceGuard<'_>, output: &dyn Any) {
        if let Some(quality) = &self.quality {
            guard.score_quality(|| quality(output).unwrap_or(f64::NAN));
        }
        if let Some(tokens) = &self.tokens {
            guard.tokens_from(|| tokens(output));
        }
        self.run_scorers(guard, output);
    }

    /// Calls a function-like module with `input`, recording the call. Panics are recorded
    /// and keep unwinding. A module that returns a future (an async closure) is called with
    /// [`call_async`](Self::call_async).
    pub fn call<I, O>(&self, input: I) -> O
    where
        M: Fn(I) -> O,
        I: Serialize,
        O: CallOutput,
    {
        let mut guard = self.start_call(&input);
        let output = (self.module)(input);
        guard.stop_clock();
        self.record_output(&mut guard, &output);
        output
    }

    /// Calls a fallible function-like module: `Err` records an error with the error's
    /// message; `Ok` records the value as the output and scores it. For an async one:
    /// [`try_call_async`](Self::try_call_async).
    pub fn try_call<I, T, E>(&self, input: I) -> Result<T, E>
    where
        M: Fn(I) -> Result<T, E>,
        I: Serialize,
        T: Serialize + 'static,
        E: fmt::Display,
    {
        let mut guard = self.start_call(&input);
        let result = (self.module)(input);
        guard.stop_clock();
        self.record_result(&mut guard, &result);
        result
    }

    /// Calls an async function-like module (a closure returning a future, such as
    /// `|q| async move { .. }`) with `input`, recording the call from the call until the
    /// future completes; a future dropped unfinished is recorded as cancelled.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, ModuleMonitor};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let tracer = ExecutionTracer::new();
    /// let generate = ModuleMonitor::new("generate", |prompt: String| async move {
    ///     format!("answer to {prompt}")
    /// })
    /// .with_tracer(&tracer)
    /// .with_input_names(["prompt"]);
    /// assert_eq!(generate.call_async("why".to_owned()).await, "answer to why");
    /// assert_eq!(tracer.get_traces(None)[0].inputs["prompt"], "why");
    /// # });
    /// ```
    pub async fn call_async<I, F, O>(&self, input: I) -> O
    where
        M: Fn(I) -> F,
        F: Future<Output = O>,
        I: Serialize,
        O: Serialize + 'static,
    {
        let guard = self.start_call(&input);
        let (output, mut guard) = guard.instrument_keep((self.module)(input)).await;
        self.record_output(&mut guard, &output);
        output
    }

    /// The fallible form of [`call_async`](Self::call_async): `Err` records an error.
    pub async fn try_call_async<I, F, T, E>(&self, input: I) -> Result<T, E>
    where
        M: Fn(I) -> F,
        F: Future<Output = Result<T, E>>,
        I: Serialize,
        T: Serialize + 'static,
        E: fmt::Display,
    {
        let guard = self.start_call(&input);
        let (result, mut guard) = guard.instrument_keep((self.module)(input)).await;
        self.record_result(&mut guard, &result);
        result
    }

    /// The async form of [`invoke`](Self::invoke): `f` gets the wrapped module and returns
    /// a future, run as one recorded call; the way to monitor an async method of a trait
    /// object. The output is recorded when it is `Serialize` ([`log_outputs`](Self::log_outputs)).
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, ModuleMonitor};
    /// use std::future::Future;
    /// use std::pin::Pin;
    ///
    /// trait Retriever: Send + Sync {
    ///     fn retrieve<'a>(&'a self, query: &'a str)
    ///         -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>>;
    /// }
    /// struct Keyword;
    /// impl Retriever for Keyword {
    ///     fn retrieve<'a>(&'a self, query: &'a str)
    ///         -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>> {
    ///         Box::pin(async move { vec![query.to_uppercase()] })
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let tracer = ExecutionTracer::new();
    /// let retriever = ModuleMonitor::new("retriever", Box::new(Keyword) as Box<dyn Retriever>)
    ///     .with_tracer(&tracer);
    /// let docs = retriever
    ///     .invoke_async(serde_json::json!({"query": "rust"}), |r| r.retrieve("rust"))
    ///     .await;
    /// assert_eq!(docs, ["RUST"]);
    /// assert_eq!(tracer.get_traces(None)[0].outputs, Some(serde_json::json!(["RUST"])));
    /// # });
    /// ```
    pub async fn invoke_async<'m, F, O>(
        &'m self,
        inputs: impl Serialize,
        f: impl FnOnce(&'m M) -> F,
    ) -> O
    where
        F: Future<Output = O>,
        O: Serialize + 'static,
    {
        let guard = self.start(inputs);
        let (output, mut guard) = guard.instrument_keep(f(&self.module)).await;
        self.record_output(&mut guard, &output);
        output
    }

    /// Runs `f` on the wrapped module as one recorded call: the way to monitor any method
    /// of a trait object. `f` gets the guard to record outputs, errors or a score.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, ModuleMonitor};
    ///
    /// trait Retriever { fn retrieve(&self, query: &str) -> Vec<String>; }
    /// struct Keyword;
    /// impl Retriever for Keyword {
    ///     fn retrieve(&self, query: &str) -> Vec<String> { vec![query.to_uppercase()] }
    /// }
    ///
    /// let tracer = ExecutionTracer::new();
    /// let retriever = ModuleMonitor::new("retriever", Box::new(Keyword) as Box<dyn Retriever>)
    ///     .with_tracer(&tracer);
    /// let docs = retriever.invoke(serde_json::json!({"query": "rust"}), |r, call| {
    ///     let docs = r.retrieve("rust");
    ///     call.set_outputs(&docs);
    ///     docs
    /// });
    /// assert_eq!(docs, ["RUST"]);
    /// assert_eq!(tracer.get_traces(None)[0].inputs["query"], "rust");
    /// ```
    pub fn invoke<R>(
        &self,
        inputs: impl Serialize,
        f: impl FnOnce(&M, &mut TraceGuard<'_>) -> R,
    ) -> R {
        let mut guard = self.start(inputs);
        f(&self.module, &mut guard)
    }
}

/// Named scorers, beside the quality function.
impl<M> ModuleMonitor<M> {
    /// Scores each successful output of type `T` (the `Ok` value for
    /// [`try_call`](Self::try_call)) as the score `name` (source: code, id `name`): `scorer`
    /// returns a number, a `bool` or a label (`&str`, `String`). A panic, or a NaN or
    /// infinite number, is caught and recorded on the entry (attribute
    /// `score_error.<name>`); a scorer named `quality` is the quality function.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, ModuleMonitor};
    ///
    /// let tracer = ExecutionTracer::new();
    /// let answer = ModuleMonitor::new("answer", |q: &str| format!("{q}? 42"))
    ///     .with_tracer(&tracer)
    ///     .with_scorer("length", |a: &String| a.len() as f64)
    ///     .with_scorer("has_number", |a: &String| a.contains("42"));
    /// answer.call("why");
    /// let scores = &answer.get_metrics().scores;
    /// assert_eq!(scores["length"].mean, Some(7.0));
    /// assert_eq!(scores["has_number"].true_count, 1);
    /// ```
    pub fn with_scorer<T: 'static, V: Into<crate::score::ScoreValue>>(
        mut self,
        name: impl Into<String>,
        scorer: impl Fn(&T) -> V + Send + Sync + 'static,
    ) -> Self {
        let scorer: ScorerFn = Box::new(move |output| {
            output
                .downcast_ref::<T>()
                .map(|output| scorer(output).into())
        });
        self.scorers.push((name.into(), scorer));
        self
    }

    fn run_scorers(&self, guard: &mut TraceGuard<'_>, output: &dyn Any) {
        for (name, scorer) in &self.scorers {
            guard.record_scorer_outcome(name, crate::capture::isolated(|| scorer(output)));
        }
    }
}
