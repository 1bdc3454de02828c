//! `ModuleMonitor`: monitoring for things that cannot carry the attribute (closures, trait
//! objects, types from other crates).

// May call: `record` (a monitor is a named guard factory over the tracer), `capture`,
// `entry`, `score` and `metrics`.

use std::fmt;
use std::future::Future;

use serde::Serialize;

use crate::capture::{CapturedValue, InputName};
use crate::entry::{ErrorInfo, IntoTokenUsage, TokenUsage};
use crate::metrics::ModuleMetrics;
use crate::record::callsite::{intern, ModuleId};
use crate::record::guard::{TraceGuard, TracerRef};
use crate::record::outcome::Outcome;
use crate::record::tracer::ExecutionTracer;

type QualityFn<T> = Box<dyn Fn(&T) -> f64 + Send + Sync>;
type TokensFn<T> = Box<dyn Fn(&T) -> Option<TokenUsage> + Send + Sync>;
type ScorerFn<T> = Box<dyn Fn(&T) -> crate::score::ScoreValue + Send + Sync>;

/// A [`ModuleMonitor`] without a quality or token function yet: it scores nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unscored;

/// The quality and token functions of a [`ModuleMonitor`] whose successful outputs are `T`
/// (the `Ok` value, for a module that returns a `Result`): both take `&T`, so a function
/// written for another type is a compile error, not a silent `NaN`.
pub struct Scorers<T> {
    quality: Option<QualityFn<T>>,
    tokens: Option<TokensFn<T>>,
    named: Vec<(String, ScorerFn<T>)>,
}

impl<T> Default for Scorers<T> {
    fn default() -> Self {
        Scorers {
            quality: None,
            tokens: None,
            named: Vec::new(),
        }
    }
}

impl<T> fmt::Debug for Scorers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scorers")
            .field("output", &std::any::type_name::<T>())
            .field("has_quality", &self.quality.is_some())
            .field("has_tokens", &self.tokens.is_some())
            .field(
                "scorers",
                &self.named.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What scores a module's output `O`: [`Unscored`] scores any output (with nothing), and
/// [`Scorers<T>`] an output `T` or a `Result<T, E>` (its `Ok` value). A monitor whose
/// scorers take another type than the module returns does not compile, and the error names
/// the output.
#[diagnostic::on_unimplemented(
    message = "this monitor's quality or token function does not take the module's output `{O}`",
    label = "the module returns `{O}`",
    note = "`with_quality` and `with_tokens` take a function of `&{O}` (of the `Ok` value, for a `Result`), as `#[monitored(quality = f)]` does"
)]
pub trait Scores<O: ?Sized> {
    /// Scores a successful output and reads its token usage.
    #[doc(hidden)]
    fn score(&self, guard: &mut TraceGuard<'_>, output: &O);
}

impl<O: ?Sized> Scores<O> for Unscored {
    #[inline]
    fn score(&self, _: &mut TraceGuard<'_>, _: &O) {}
}

impl<T> Scores<T> for Scorers<T> {
    fn score(&self, guard: &mut TraceGuard<'_>, output: &T) {
        if let Some(quality) = &self.quality {
            guard.score_quality(|| quality(output));
        }
        if let Some(tokens) = &self.tokens {
            guard.tokens_from(|| tokens(output));
        }
        for (name, scorer) in &self.named {
            let outcome = crate::capture::isolated(|| Some(scorer(output)));
            guard.record_scorer_outcome(name, outcome);
        }
    }
}

impl<T, E> Scores<Result<T, E>> for Scorers<T> {
    fn score(&self, guard: &mut TraceGuard<'_>, output: &Result<T, E>) {
        if let Ok(value) = output {
            <Self as Scores<T>>::score(self, guard, value);
        }
    }
}

/// What [`ModuleMonitor::call`] records as the output: any `Serialize` value that is an
/// [`Outcome`] (an `Err` is the call's error). A trait of its own for the error a future
/// gets there: a closure that returns one (`|q| async move { .. }`)
/// is called with [`call_async`](ModuleMonitor::call_async).
#[diagnostic::on_unimplemented(
    message = "`ModuleMonitor::call` cannot record `{Self}` as the output: it must be `Serialize` and a `monitor::Outcome`",
    label = "the module returns `{Self}`",
    note = "a module that returns a future (an async closure, `|q| async move {{ .. }}`) is called with `call_async(input).await`, or `try_call_async` for a `Result`",
    note = "a module that returns a `Result` whose error is not `Serialize` is called with `try_call(input)`, which records the `Err` by its `Display` text",
    note = "for any other output, derive or implement `serde::Serialize`, say whether it is a success with `impl monitor::Outcome for {Self} {{}}`, or record it by hand with `invoke(inputs, |module, call| ..)`"
)]
pub trait RecordableOutput: Serialize + Outcome {}

impl<T: Serialize + Outcome> RecordableOutput for T {}

/// Wraps a module (a closure, a boxed trait object, any value) so each call through it is
/// recorded as module `name`, as the seed's `ModuleMonitor` does.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{ExecutionTracer, ModuleMonitor};
///
/// let tracer = ExecutionTracer::new();
/// let generator = ModuleMonitor::new("skill_generator", |task: &str| format!("skill for {task}"))
///     .record_into(&tracer)
///     .with_quality(|output: &String| if output.contains("async") { 1.0 } else { 0.5 });
///
/// let result = generator.call("async Python");
/// assert_eq!(result, "skill for async Python");
///
/// let metrics = generator.get_metrics();
/// assert_eq!(metrics.total_executions, 1);
/// assert_eq!(metrics.avg_quality_score, Some(1.0));
/// ```
pub struct ModuleMonitor<M, S = Unscored> {
    module: M,
    name: String,
    id: ModuleId,
    tracer: Option<ExecutionTracer>,
    scorers: S,
    input_names: Vec<InputName>,
    log_inputs: bool,
    log_outputs: bool,
}

impl<M, S: fmt::Debug> fmt::Debug for ModuleMonitor<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleMonitor")
            .field("name", &self.name)
            .field("tracer", &self.tracer)
            .field("scorers", &self.scorers)
            .field("log_inputs", &self.log_inputs)
            .field("log_outputs", &self.log_outputs)
            .finish_non_exhaustive()
    }
}

impl<M> ModuleMonitor<M> {
    /// Monitors `module` under `name`. Calls record into the current tracer (the scoped
    /// default or the global one) unless [`record_into`](Self::record_into) names one.
    pub fn new(name: impl Into<String>, module: M) -> Self {
        let name = name.into();
        ModuleMonitor {
            id: intern(&name),
            module,
            name,
            tracer: None,
            scorers: Unscored,
            input_names: Vec::new(),
            log_inputs: true,
            log_outputs: true,
        }
    }

    /// Scores each successful output, of type `T` (the `Ok` value of a module that returns
    /// a `Result`). A panic in `quality` is caught and recorded. The type is the module's:
    /// a function of another type does not compile where the module is called.
    pub fn with_quality<T>(
        self,
        quality: impl Fn(&T) -> f64 + Send + Sync + 'static,
    ) -> ModuleMonitor<M, Scorers<T>> {
        self.scored::<T>().with_quality(quality)
    }

    /// Reads the token usage of each successful output, of type `T` (the `Ok` value of a
    /// module that returns a `Result`): `tokens` returns anything [`IntoTokenUsage`], added
    /// to what [`record_tokens`](crate::record_tokens) recorded during the call. The type is
    /// the module's, as for [`with_quality`](Self::with_quality).
    pub fn with_tokens<T, U: IntoTokenUsage>(
        self,
        tokens: impl Fn(&T) -> U + Send + Sync + 'static,
    ) -> ModuleMonitor<M, Scorers<T>> {
        self.scored::<T>().with_tokens(tokens)
    }

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
    ///     .record_into(&tracer)
    ///     .with_scorer("length", |a: &String| a.len() as f64)
    ///     .with_scorer("has_number", |a: &String| a.contains("42"));
    /// answer.call("why");
    /// let scores = &answer.get_metrics().scores;
    /// assert_eq!(scores["length"].mean, Some(7.0));
    /// assert_eq!(scores["has_number"].true_count, 1);
    /// ```
    pub fn with_scorer<T, V: Into<crate::score::ScoreValue>>(
        self,
        name: impl Into<String>,
        scorer: impl Fn(&T) -> V + Send + Sync + 'static,
    ) -> ModuleMonitor<M, Scorers<T>> {
        self.scored::<T>().with_scorer(name, scorer)
    }

    /// This monitor, scoring outputs of type `T`.
    fn scored<T>(self) -> ModuleMonitor<M, Scorers<T>> {
        ModuleMonitor {
            module: self.module,
            name: self.name,
            id: self.id,
            tracer: self.tracer,
            scorers: Scorers::default(),
            input_names: self.input_names,
            log_inputs: self.log_inputs,
            log_outputs: self.log_outputs,
        }
    }
}

impl<M, T> ModuleMonitor<M, Scorers<T>> {
    /// Adds a named scorer of each successful output of type `T`, as
    /// [`ModuleMonitor::with_scorer`] does.
    pub fn with_scorer<V: Into<crate::score::ScoreValue>>(
        mut self,
        name: impl Into<String>,
        scorer: impl Fn(&T) -> V + Send + Sync + 'static,
    ) -> Self {
        let scorer: ScorerFn<T> = Box::new(move |output| scorer(output).into());
        self.scorers.named.push((name.into(), scorer));
        self
    }

    /// Scores each successful output of type `T` (the `Ok` value for a `Result`),
    /// replacing the quality function given before. A panic in `quality` is caught and
    /// recorded.
    pub fn with_quality(mut self, quality: impl Fn(&T) -> f64 + Send + Sync + 'static) -> Self {
        self.scorers.quality = Some(Box::new(quality));
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
    /// impl monitor::Outcome for Completion {} // always a success
    ///
    /// let tracer = ExecutionTracer::new();
    /// let llm = ModuleMonitor::new("llm", |prompt: &str| Completion {
    ///     text: prompt.to_uppercase(),
    ///     usage: Some(TokenUsage::new(prompt.len() as u64, 2)),
    /// })
    /// .record_into(&tracer)
    /// .with_tokens(|completion: &Completion| completion.usage);
    /// assert_eq!(llm.call("hello").text, "HELLO");
    /// assert_eq!(llm.get_metrics().token_usage, TokenUsage::new(5, 2));
    /// ```
    pub fn with_tokens<U: IntoTokenUsage>(
        mut self,
        tokens: impl Fn(&T) -> U + Send + Sync + 'static,
    ) -> Self {
        self.scorers.tokens = Some(Box::new(move |output| tokens(output).into_token_usage()));
        self
    }
}

impl<M, S> ModuleMonitor<M, S> {
    /// Records into `tracer` (instead of the scoped default or the global tracer).
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// The name [`record_into`](Self::record_into) had.
    #[doc(hidden)]
    pub fn with_tracer(self, tracer: &ExecutionTracer) -> Self {
        self.record_into(tracer)
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
    /// .record_into(&tracer)
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

    fn record_output<O: Serialize>(&self, guard: &mut TraceGuard<'_>, output: &O)
    where
        S: Scores<O>,
    {
        if self.log_outputs {
            guard.set_outputs(output);
        }
        self.scorers.score(guard, output);
    }

    /// Records what a call returned: its error when it is one, else the output and score.
    fn record_outcome<O: Serialize + Outcome>(&self, guard: &mut TraceGuard<'_>, output: &O)
    where
        S: Scores<O>,
    {
        match output.error_info(guard.tracer().max_field_bytes()) {
            Some(error) => guard.fail_with(error),
            None => self.record_output(guard, output),
        }
    }

    fn record_result<T: Serialize, E: fmt::Display>(
        &self,
        guard: &mut TraceGuard<'_>,
        result: &Result<T, E>,
    ) where
        S: Scores<T>,
    {
        match result {
            Ok(value) => self.record_output(guard, value),
            Err(error) => guard.fail_with(ErrorInfo::from_display(error)),
        }
    }

    /// Calls a function-like module with `input`, recording the call. A module that
    /// returns `Err` records an error, with the message from `Display` and the kind from the
    /// error's type (see [`Outcome`]); [`try_call`](Self::try_call) also records and scores
    /// the `Ok` value alone. Panics are recorded and keep unwinding. A module that returns
    /// a future (an async closure) is called with [`call_async`](Self::call_async).
    pub fn call<I, O>(&self, input: I) -> O
    where
        M: Fn(I) -> O,
        I: Serialize,
        O: RecordableOutput,
        S: Scores<O>,
    {
        let mut guard = self.start_call(&input);
        let output = (self.module)(input);
        guard.stop_clock();
        self.record_outcome(&mut guard, &output);
        output
    }

    /// Calls a fallible function-like module: `Err` records an error with the error's
    /// message; `Ok` records the value as the output and scores it. For an async one:
    /// [`try_call_async`](Self::try_call_async).
    pub fn try_call<I, T, E>(&self, input: I) -> Result<T, E>
    where
        M: Fn(I) -> Result<T, E>,
        I: Serialize,
        T: Serialize,
        E: fmt::Display,
        S: Scores<T>,
    {
        let mut guard = self.start_call(&input);
        let result = (self.module)(input);
        guard.stop_clock();
        self.record_result(&mut guard, &result);
        result
    }

    /// Calls an async function-like module (a closure returning a future, such as
    /// `|q| async move { .. }`) with `input`, recording the call from the call until the
    /// future completes; a future dropped unfinished is recorded as cancelled, and an `Err`
    /// output as an error.
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
    /// .record_into(&tracer)
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
        O: Serialize + Outcome,
        S: Scores<O>,
    {
        let guard = self.start_call(&input);
        let (output, mut guard) = guard.instrument_keep((self.module)(input)).await;
        self.record_outcome(&mut guard, &output);
        output
    }

    /// The fallible form of [`call_async`](Self::call_async): `Err` records an error.
    pub async fn try_call_async<I, F, T, E>(&self, input: I) -> Result<T, E>
    where
        M: Fn(I) -> F,
        F: Future<Output = Result<T, E>>,
        I: Serialize,
        T: Serialize,
        E: fmt::Display,
        S: Scores<T>,
    {
        let guard = self.start_call(&input);
        let (result, mut guard) = guard.instrument_keep((self.module)(input)).await;
        self.record_result(&mut guard, &result);
        result
    }

    /// The async form of [`invoke`](Self::invoke): `f` gets the wrapped module and returns
    /// a future, run as one recorded call; the way to monitor an async method of a trait
    /// object. The output is recorded ([`log_outputs`](Self::log_outputs)), an `Err` as the
    /// call's error.
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
    ///     .record_into(&tracer);
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
        O: Serialize + Outcome,
        S: Scores<O>,
    {
        let guard = self.start(inputs);
        let (output, mut guard) = guard.instrument_keep(f(&self.module)).await;
        self.record_outcome(&mut guard, &output);
        output
    }

    /// Runs `f` on the wrapped module as one recorded call: the way to monitor any method
    /// of a trait object. `f` gets the guard to record outputs, errors or a score; what it
    /// returns is the call's [`Outcome`] (an `Err` is an error, as in
    /// [`ExecutionTracer::in_trace`]).
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
    ///     .record_into(&tracer);
    /// let docs = retriever.invoke(serde_json::json!({"query": "rust"}), |r, call| {
    ///     let docs = r.retrieve("rust");
    ///     call.set_outputs(&docs);
    ///     docs
    /// });
    /// assert_eq!(docs, ["RUST"]);
    /// assert_eq!(tracer.get_traces(None)[0].inputs["query"], "rust");
    /// ```
    pub fn invoke<R: Outcome>(
        &self,
        inputs: impl Serialize,
        f: impl FnOnce(&M, &mut TraceGuard<'_>) -> R,
    ) -> R {
        let guard = self.start(inputs);
        guard.end_with(|guard| f(&self.module, guard))
    }
}
