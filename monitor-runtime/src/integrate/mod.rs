//! Fitting the `tracing` ecosystem: with the `tracing-layer` feature, [`MonitorLayer`]
//! records the spans of code instrumented with `tracing` as monitored calls. (With
//! `tracing-spans`, monitored calls are `tracing` spans themselves; see the guide page `monitor::guide::tracing`.) With
//! `dspy`, [`dspy`] monitors dspy-rs programs: LM calls, token usage, optimiser runs. With
//! `async-openai`, [`openai::MonitoredClient`] records every call an async-openai client makes;
//! with `rig`, [`rig::MonitoredModel`] and [`rig::MonitoredAgent`] record rig's model calls,
//! agents and tools; with `openai-relay`, [`relay::OpenAiRelay`] records the chat completions
//! of any client pointed at it.
//! With `tower`, [`tower::ServerLayer`] makes each request a server handles a monitored
//! call continuing the caller's trace; with `reqwest`, [`reqwest::WithTraceContext`] passes
//! the trace on in outgoing requests.

// Integrations with the wider ecosystem: consumers of the tracer, each through a narrow
// entry into it.
//
// Owns: the `Layer` that records `tracing` spans as monitored calls (`layer.rs`), and
// dspy-rs: LM calls, token usage and optimiser runs (`dspy/`), and LLM clients: async-openai
// (`openai/`), rig (`rig/`), any client by its base URL (`relay/`, reading `openai/`'s
// JSON shapes), HTTP servers (`tower.rs`: a request as a server call) and
// clients (`reqwest.rs`: the trace passed on), and the mark of a model call a client
// integration records (`model_call.rs`), which the Layer reads.
//
// May call: `record::external` (the one entry a layer records through: a call opened,
// entered, exited and finished from outside), `record::tracer` (the tracer's public API),
// `record::guard` and `record::stream` (the public guard a client's call records through,
// and the monitored stream a streamed answer is read by), `record::trace_context` (its
// context and future extensions), `record::annotate` (the `record_*` functions, as user
// code calls them), `record::scope` (the
// scoped tracer), `record::subscriber` (its panic count, warnings through `emit!`),
// `mlflow` (optimiser runs), `propagate` (W3C headers read and written), `capture`,
// `entry`, `cost`, `kind` and `error`. Nothing
// below calls into it.

#[cfg(feature = "dspy")]
pub mod dspy;
#[cfg(feature = "tracing-layer")]
mod layer;
#[cfg(any(
    feature = "dspy",
    feature = "async-openai",
    feature = "openai-http",
    feature = "rig"
))]
mod model_call;
#[cfg(any(feature = "async-openai", feature = "openai-http"))]
pub mod openai;
#[cfg(feature = "openai-relay")]
pub mod relay;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "rig")]
pub mod rig;
#[cfg(feature = "tower")]
pub mod tower;

#[cfg(feature = "tracing-layer")]
pub use self::layer::MonitorLayer;
pub use crate::record::subscriber::subscriber_panics;
