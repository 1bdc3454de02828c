#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod guide;

// The runtime's public items and modules, each at one path: its root items here, its
// modules (`capture`, `export`, `future`, `integrate`, `metrics`) as they are. `mlflow`
// below adds its guide; `current_context` has a compiled-out form.
pub use monitor_runtime::*;

// The paths the first 0.1 docs showed for items that have since moved to their one
// documented home (`monitor::mlflow::MlflowLogger`, `monitor::integrate::dspy`,
// `monitor::export::serve_metrics`): kept, out of the docs (the facade's `metrics` is the
// runtime's, plus those aliases), so that code written against those docs still compiles.
#[cfg(feature = "dspy")]
#[doc(hidden)]
pub use monitor_runtime::integrate::dspy;
#[cfg(feature = "mlflow")]
#[doc(hidden)]
pub use monitor_runtime::mlflow::{configure_mlflow, MlflowLogger};
pub mod metrics {
    //! Metrics: the fixed buckets of the fleet view of the exact per-module aggregates
    //! ([`ModuleMetrics`](crate::ModuleMetrics), [`TracerMetrics`](crate::TracerMetrics),
    //! at the crate root). The readers that encode them, Prometheus text and the `/metrics`
    //! listener and OTLP metrics, are in [`export`](crate::export); the
    //! [metrics guide](crate::guide::metrics) says what is counted.

    #[cfg(feature = "prometheus")]
    #[doc(hidden)]
    pub use monitor_runtime::export::{prometheus_text, serve_metrics, MetricsServer};
    // The buckets exist with the fleet view's readers only.
    #[cfg(any(feature = "prometheus", feature = "otlp"))]
    pub use monitor_runtime::metrics::*;
}

/// The context of the innermost active monitored call on this thread or task, if any.
///
/// Compiled out (`enabled` off), no `#[monitored]` call is ever active, so outside a
/// guard-API call this gives a context of no call (carrying only the scoped tracer) rather
/// than `None`: code that expects a context inside a monitored function keeps working.
#[cfg(not(feature = "enabled"))]
pub fn current_context() -> Option<TraceContext> {
    __private::current_context_compiled_out()
}

#[cfg(feature = "mlflow")]
pub mod mlflow {
    #![doc = include_str!("../docs/mlflow.md")]

    pub use monitor_runtime::mlflow::*;
}

/// Wraps a function (sync or `async`) in an MLflow run.
///
/// The run starts when the function is called (nested under the active run, if any), the
/// arguments named in `params(..)` are logged as params (their `Display` text, else JSON,
/// else `Debug`; secret-named ones as `[redacted]`), and the run is active inside the body
/// ([`MlflowLogger::active`]). It ends `FINISHED` when the function returns, `FAILED` when
/// it returns `Err` (of any `Result` type or alias) or panics, and `KILLED` when an async
/// call is dropped before it finishes.
///
/// Options, all optional: `name = "run name"` (default: the function's name),
/// `experiment = "name"` (default: the configured one), `params(a, b)`, `crate = "path"`
/// (when `monitor` is renamed).
///
/// ```
/// use monitor::mlflow_run;
/// use monitor::mlflow::MlflowLogger;
///
/// #[mlflow_run(name = "optimize", experiment = "skill-optimization", params(trainset_size, optimizer))]
/// fn optimize(trainset_size: usize, optimizer: &str) -> Result<f64, String> {
///     let run = MlflowLogger::active().expect("inside the run");
///     run.log_metric("quality", 0.85).map_err(|e| e.to_string())?;
///     Ok(0.85)
/// }
///
/// # let dir = tempfile::tempdir().unwrap();
/// # std::env::set_current_dir(dir.path()).unwrap();
/// monitor::mlflow::configure_mlflow(None, "skill-optimization"); // ./mlruns; Some(uri) for a server
/// let quality = optimize(50, "MIPROv2")?;                 // one FINISHED run, two params
/// assert_eq!(quality, 0.85);
/// # assert!(monitor::mlflow::mlflow_flush().is_complete());
/// # Ok::<(), String>(())
/// ```
///
/// `docs/mlflow.md` ([`mod@mlflow`]) has the async form, nesting and what each outcome
/// ends the run with.
#[cfg(feature = "mlflow")]
#[doc(inline)]
pub use monitor_macros::mlflow_run;
/// Records every call of a function, of every method of an `impl` block, or of one method:
/// timing, arguments, output, status (success, error, panic, cancelled), error details,
/// quality score, and the parent call.
///
/// ```
/// use monitor::{monitored, with_tracer, ExecutionTracer, Status};
///
/// #[monitored]
/// fn retrieve(query: &str, top_k: usize) -> Result<Vec<String>, std::io::Error> {
///     if query.is_empty() {
///         return Err(std::io::Error::other("empty query"));
///     }
///     Ok((0..top_k).map(|i| format!("{query}-{i}")).collect())
/// }
///
/// let tracer = ExecutionTracer::new();
/// with_tracer(&tracer, || {
///     retrieve("rust", 2).unwrap();
///     retrieve("", 2).unwrap_err();
/// });
/// let entries = tracer.get_traces(None);
/// assert_eq!(entries[0].module, "retrieve");
/// assert_eq!(entries[0].inputs["query"], "rust");
/// assert_eq!(entries[0].outputs, Some(serde_json::json!(["rust-0", "rust-1"])));
/// assert_eq!(entries[1].status, Status::Error);
/// assert_eq!(entries[1].error.as_ref().unwrap().message, "empty query");
/// assert_eq!(tracer.module_metrics("retrieve").success_rate, 0.5);
/// ```
///
/// # Where it goes
///
/// - On a `fn`, `async fn`, `unsafe fn`, generic fn, fn returning `impl Trait`, or fn with
///   pattern arguments. `const fn` and C-variadic fns are refused.
/// - On an inherent `impl` block: every method is monitored as `Type::method` (generic
///   arguments dropped). `#[monitored(off)]` on a method leaves it alone; a
///   `#[monitored(...)]` on a method overrides the block's options for it. `const fn`s in
///   the block are skipped.
/// - On a trait `impl` block or one of its methods: `<Type as Trait>::method`. Native
///   `async fn` in traits works, and so does `#[async_trait]`, above or below
///   `#[monitored]`.
/// - On a single method without an attribute on its block: the name is still
///   `Type::method` (or `<Type as Trait>::method`), worked out on the first call.
///
/// ```
/// use monitor::{monitored, with_tracer, ExecutionTracer};
///
/// struct Retriever {
///     docs: Vec<String>,
/// }
///
/// #[monitored]
/// impl Retriever {
///     fn search(&self, word: &str) -> usize {
///         self.docs.iter().filter(|d| d.contains(word)).count()
///     }
///
///     fn add(&mut self, doc: String) {
///         self.docs.push(doc);
///     }
///
///     #[monitored(off)]
///     fn len(&self) -> usize {
///         self.docs.len()
///     }
/// }
///
/// trait Module {
///     fn forward(&self, input: &str) -> String;
/// }
///
/// #[monitored]
/// impl Module for Retriever {
///     fn forward(&self, input: &str) -> String {
///         format!("{} hits", self.search(input))
///     }
/// }
///
/// let tracer = ExecutionTracer::new();
/// with_tracer(&tracer, || {
///     let mut r = Retriever { docs: Vec::new() };
///     r.add("rust is fast".into());
///     r.forward("rust");
///     r.len();
/// });
/// let names: Vec<String> = tracer.get_traces(None).into_iter().map(|e| e.module).collect();
/// assert_eq!(names, ["Retriever::add", "Retriever::search", "<Retriever as Module>::forward"]);
/// ```
///
/// # What is recorded
///
/// - **Status, by type.** A `Result` (under any alias: `io::Result`, `anyhow::Result`, ...)
///   that is `Err` is an error: message from `Display`, kind from the error's type name,
///   the `source()` chain, and a backtrace when `RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` ask
///   for one. `anyhow::Error` and `Box<dyn Error>` give their message and chain; errors
///   that are only `Debug` give their `Debug` text. A panic is recorded, then keeps
///   unwinding. An async call whose future is dropped before it finishes is cancelled.
///   Anything else (including `None`) is a success. Early `return`s and `?` are recorded
///   like any other exit.
/// - **Arguments**, by name: as JSON when the type is `serde::Serialize`, else as `Debug`
///   text, else as a `<type name>` placeholder; no bound is asked of you. `self` is not
///   recorded. Pattern arguments record each binding. Arguments named like secrets
///   (`api_key`, `token`, `password`, `secret`, ...; see [`is_secret_name`](capture::is_secret_name)) are recorded
///   as `"[redacted]"` without being read. Each value is capped at the tracer's
///   `max_field_bytes`, with a `…[truncated: N bytes]` marker.
/// - **Output**: the `Ok` value of a `Result`, otherwise the return value (not `()`),
///   captured the same way.
/// - **Nesting**: a monitored call made inside another, on the same thread or in the same
///   task across `.await`s, records the outer one as its parent.
/// - **Streams**: a function returning `impl Stream`, `Pin<Box<dyn Stream>>` or `BoxStream`
///   is recorded until the stream ends (or is dropped: cancelled), with the time to its first
///   item, the item count, the items as output (text items concatenated, others as a JSON
///   array), and the first `Err` item as the call's error; calls made while an item is
///   produced are its children. See the guide page [streams](crate::guide::streams).
///
/// Inside a generic function only the declared bounds of a type parameter are visible: an
/// argument of type `T` is JSON only if `T: Serialize` is declared, `Debug` text if
/// `T: Debug` is, else a placeholder naming the concrete type.
///
/// # Options
///
/// All are optional, separated by commas, each at most once.
///
/// - `name = "..."`: the module name (default: the function's name, or `Type::method`). On
///   an `impl` block it replaces the type: `name = "retriever"` gives `retriever::search`.
/// - `quality = f`: a function or closure called with `&T` (the `Ok` value, or the output)
///   only when the call succeeded, returning an `f64` score. It runs on the caller's
///   thread; a panic in it is caught and noted on the entry (`quality_error`). On an `impl`
///   block it scores every method: a method whose output it cannot take is a compile error
///   at that method's name; give that method a `quality` of its own.
/// - `tokens = f`: a function or closure called with `&T` (the `Ok` value, or the output)
///   only when the call succeeded, returning the token usage the output carries: a
///   [`TokenUsage`], an `(input_tokens, output_tokens)` pair of `u64`, or an `Option` of
///   either (see [`IntoTokenUsage`]). It adds to what the body recorded with
///   [`record_tokens`], and counts in the metrics' token totals. Like `quality`, it runs on
///   the caller's thread, a panic in it is caught and noted on the entry (`tokens_error`),
///   and on an `impl` block it reads every method's output: a method whose output it cannot
///   take is a compile error at that method's name.
/// - `tracer = expr`: the tracer to record into, instead of the scoped default (see
///   [`with_tracer`]) or the [`global_tracer`]: an [`ExecutionTracer`], or a `&`, `Box`,
///   `Rc`, `Arc` or `LazyLock` of one, such as a `static`, a parameter or `self.tracer`.
///   A parameter named as the tracer (`tracer = tracer`) is not recorded as an input.
/// - `log_inputs = false`, `log_outputs = false`: record no arguments, no output.
/// - `skip(a, b)`: do not record these arguments. `skip_all`: record no argument.
/// - `capture_self`: on a method, record `self` too (as the input `self`, captured like any
///   argument). Off by default: `self` is often large (a client, a model) and rarely telling.
/// - `level = "trace" | "debug" | "info" | "warn" | "error"`: this module's log level, over
///   `MONITORING_LOG_LEVEL`, as a Python logger's level: successful calls log at INFO (DEBUG,
///   with inputs and outputs, when the level is `debug` or `trace`), failures at WARN, under
///   the target `monitor::<module>`; see the guide page [log lines](crate::guide::tracing).
/// - `kind = "..."`: what the module is (`llm`, `chat_model`, `embedding`, `retriever`,
///   `reranker`, `tool`, `agent`, `chain`, `parser`, `evaluator`, `guardrail`, `server`), for the
///   backends its calls are exported to: Phoenix's span kinds, MLflow's span types, the
///   GenAI operation names. Default: a chain. A misspelt kind is a compile error listing them.
/// - `model = "..."`: the model an LLM, chat or embedding module calls
///   (`gen_ai.request.model`); [`record_model`] says it at run time instead.
/// - `stream`: the function returns a stream the attribute cannot tell from the return
///   type's spelling (an alias of `Pin<Box<dyn Stream ..>>`), recorded as a stream. The type
///   must be `impl Stream` or a boxed `dyn Stream`; on a type that is not a stream it is a
///   compile error at the return type.
/// - `crate = "path"`: where the `monitor` crate is, if you renamed it.
/// - `off`: do not monitor (on a method of a monitored `impl`, or to switch one off).
///
/// ```
/// use std::sync::LazyLock;
///
/// use monitor::{monitored, ExecutionTracer};
///
/// static TRACER: LazyLock<ExecutionTracer> = LazyLock::new(ExecutionTracer::new);
///
/// #[derive(serde::Serialize)]
/// struct Answer {
///     text: String,
///     confidence: f64,
/// }
///
/// #[monitored(
///     name = "qa.answer",
///     quality = |a: &Answer| a.confidence,
///     tracer = TRACER,
///     skip(context),
///     level = "debug",
/// )]
/// fn answer(question: &str, context: &[String], api_key: &str) -> Result<Answer, String> {
///     let _ = (context, api_key);
///     Ok(Answer { text: question.to_uppercase(), confidence: 0.9 })
/// }
///
/// #[monitored(tracer = TRACER, log_inputs = false, log_outputs = false)]
/// fn hot_path(x: u64) -> u64 {
///     x.wrapping_mul(31)
/// }
///
/// answer("why?", &[], "sk-123").unwrap();
/// hot_path(7);
/// let entries = TRACER.get_traces(None);
/// assert_eq!(entries[0].module, "qa.answer");
/// assert_eq!(entries[0].quality_score, Some(0.9));
/// assert_eq!(entries[0].inputs["question"], "why?");
/// assert_eq!(entries[0].inputs["api_key"], "[redacted]");
/// assert!(!entries[0].inputs.contains_key("context"));
/// assert!(entries[1].inputs.is_empty() && entries[1].outputs.is_none());
/// ```
///
/// Token usage read from what an LLM call returns, here a client's response with an
/// optional usage block in its own types (a one-line extractor, as for any crate's response):
///
/// ```
/// use monitor::{monitored, ExecutionTracer, TokenUsage, WithTracerExt};
///
/// struct Usage {
///     prompt_tokens: u32,
///     completion_tokens: u32,
/// }
///
/// struct Response {
///     text: String,
///     usage: Option<Usage>,
/// }
///
/// fn usage(response: &Response) -> Option<(u64, u64)> {
///     let usage = response.usage.as_ref()?;
///     Some((usage.prompt_tokens.into(), usage.completion_tokens.into()))
/// }
///
/// #[monitored(kind = "llm", tokens = usage)]
/// async fn complete(prompt: &str) -> Result<Response, String> {
///     Ok(Response {
///         text: prompt.to_uppercase(),
///         usage: Some(Usage { prompt_tokens: 12, completion_tokens: 3 }),
///     })
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tracer = ExecutionTracer::new();
/// let response = complete("hello").with_tracer(&tracer).await.unwrap();
/// assert_eq!(response.text, "HELLO");
/// assert_eq!(tracer.get_traces(None)[0].token_usage, Some(TokenUsage::new(12, 3)));
/// assert_eq!(tracer.module_metrics("complete").token_usage.total_tokens, 15);
/// # });
/// ```
///
/// A tracer in a field, with per-method options and an async method:
///
/// ```
/// use monitor::{monitored, ExecutionTracer};
///
/// struct Agent {
///     tracer: ExecutionTracer,
///     memory: Vec<String>,
/// }
///
/// #[monitored(tracer = self.tracer)]
/// impl Agent {
///     #[monitored(off)]
///     fn new(tracer: ExecutionTracer) -> Self {
///         Agent { tracer, memory: Vec::new() }
///     }
///
///     fn remember(&mut self, fact: &str) -> usize {
///         self.memory.push(fact.to_owned());
///         self.memory.len()
///     }
///
///     #[monitored(name = "agent.think", skip_all)]
///     async fn think(&self, prompt: String) -> String {
///         format!("{prompt}: {}", self.memory.join(", "))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tracer = ExecutionTracer::new();
/// let mut agent = Agent::new(tracer.clone());
/// agent.remember("sky is blue");
/// agent.think("colour?".into()).await;
/// let names: Vec<String> = tracer.get_traces(None).into_iter().map(|e| e.module).collect();
/// assert_eq!(names, ["Agent::remember", "agent.think"]);
/// # });
/// ```
///
/// With a renamed dependency (`mon = { package = "module-monitor", .. }` in `Cargo.toml`, or a
/// re-export), say where the crate is:
///
/// ```
/// use monitor as mon;
///
/// #[mon::monitored(crate = "mon")]
/// fn step() {}
/// # step();
/// ```
///
/// # Compiling it out
///
/// Build `module-monitor` with `default-features = false` (turning off its `enabled`
/// feature) and every `#[monitored]` expands to the function as written. The options are
/// still checked, and what they name stays used: `quality` and `tokens` functions are
/// type-checked against the output and a `tracer` expression against its type, in a closure that is never
/// called, so the program compiles without new warnings and nothing runs.
///
/// # Notes
///
/// - A sync body runs in a closure (that is how `return` and `?` are seen), so its errors
///   still point at your code. With `#[track_caller]` the body stays inline instead, so
///   that `Location::caller()` is unchanged; an early `return` there is recorded as a
///   success without output.
/// - An async call starts when its future is first polled (also for `#[async_trait]`
///   methods and other fns returning `Box::pin(async move { .. })`) and ends when the future
///   completes; a future never polled records nothing.
#[doc(inline)]
pub use monitor_macros::monitored;

// Not public API. Referenced by macro-generated code.
#[doc(hidden)]
pub mod __private {
    pub use monitor_runtime::__private::*;
}
