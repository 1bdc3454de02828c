//! The record of one call, as users read and export it.

// May call: `score` (the named scores an entry carries, a leaf beside it), nothing else. How an error is described into an ErrorInfo
// (capped, masked, isolated) is the capture layer's, which sits above this.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The call returned normally (for `Result`s: returned `Ok`).
    Success,
    /// The call returned `Err`, or the trace was marked failed with `fail`.
    Error,
    /// The call panicked; the panic kept unwinding after it was recorded.
    Panic,
    /// An async call whose future was dropped before it finished.
    Cancelled,
    /// A guard from [`ExecutionTracer::trace`](crate::ExecutionTracer::trace) dropped without
    /// an outcome: not [`finish`](crate::TraceGuard::finish)ed, not
    /// [`end`](crate::TraceGuard::end)ed with a result, not [`fail`](crate::TraceGuard::fail)ed
    /// and not panicking (a `?` that left the scope, say). Counted in `total_executions` and
    /// `failed_executions` (it is not known to have succeeded) and in `unfinished_count`.
    Unfinished,
}

impl Status {
    /// `true` for [`Status::Success`].
    pub fn is_success(self) -> bool {
        self == Status::Success
    }

    /// The status as serialized: `success`, `error`, `panic`, `cancelled`, `unfinished`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Error => "error",
            Status::Panic => "panic",
            Status::Cancelled => "cancelled",
            Status::Unfinished => "unfinished",
        }
    }
}

/// What went wrong in a failed call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// The error's type name (`std::io::Error`), or `panic` for panics.
    pub kind: String,
    /// The error's `Display` text, or the panic message.
    pub message: String,
    /// The `Display` text of each `source()` in the error's chain, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// A backtrace, when `RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` asked for one or the error
    /// carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtrace: Option<String>,
}

impl ErrorInfo {
    /// An error of `kind` with `message`, no sources and no backtrace.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorInfo {
            kind: kind.into(),
            message: message.into(),
            sources: Vec::new(),
            backtrace: None,
        }
    }

    /// Adds a backtrace, replacing any captured one.
    pub fn with_backtrace(mut self, backtrace: impl Into<String>) -> Self {
        self.backtrace = Some(backtrace.into());
        self
    }
}

/// Tokens spent by a call (LLM prompt and completion).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenUsage {
    /// Tokens sent to the model (prompt).
    pub input_tokens: u64,
    /// Tokens produced by the model (completion).
    pub output_tokens: u64,
    /// All tokens; usually `input_tokens + output_tokens`.
    pub total_tokens: u64,
    /// Of `input_tokens`, those read from the provider's prompt cache (priced apart, see
    /// [`ModelPrice::with_cached_input`](crate::ModelPrice::with_cached_input)).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_input_tokens: u64,
    /// Of `output_tokens`, those the model spent reasoning before it answered (OpenAI's
    /// `reasoning_tokens`; priced apart, see
    /// [`ModelPrice::with_reasoning`](crate::ModelPrice::with_reasoning)).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl TokenUsage {
    /// Usage with `total_tokens = input_tokens + output_tokens`.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        TokenUsage {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens.saturating_add(output_tokens),
            cached_input_tokens: 0,
            reasoning_tokens: 0,
        }
    }

    /// This usage with `cached` of its input tokens read from the provider's cache.
    pub fn with_cached_input(mut self, cached: u64) -> Self {
        self.cached_input_tokens = cached;
        self
    }

    /// This usage with `reasoning` of its output tokens spent reasoning.
    pub fn with_reasoning(mut self, reasoning: u64) -> Self {
        self.reasoning_tokens = reasoning;
        self
    }

    pub(crate) fn add(&mut self, other: TokenUsage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(other.reasoning_tokens);
    }
}

/// What a token function (`#[monitored(tokens = f)]`, [`ModuleMonitor::with_tokens`],
/// [`TraceGuard::tokens_from`]) may return: a [`TokenUsage`], an `(input_tokens,
/// output_tokens)` pair of `u64`, or an `Option` of either (`None` when the output carries
/// no usage). A usage type of your own that implements it may be returned as it is:
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{IntoTokenUsage, TokenUsage};
///
/// struct Usage {
///     prompt_tokens: u32,
///     completion_tokens: u32,
/// }
///
/// impl IntoTokenUsage for Usage {
///     fn into_token_usage(self) -> Option<TokenUsage> {
///         Some(TokenUsage::new(self.prompt_tokens.into(), self.completion_tokens.into()))
///     }
/// }
///
/// let usage = Usage { prompt_tokens: 12, completion_tokens: 3 };
/// assert_eq!(usage.into_token_usage(), Some(TokenUsage::new(12, 3)));
/// assert_eq!(Some((12, 3)).into_token_usage(), Some(TokenUsage::new(12, 3)));
/// ```
///
/// [`ModuleMonitor::with_tokens`]: crate::ModuleMonitor::with_tokens
/// [`TraceGuard::tokens_from`]: crate::TraceGuard::tokens_from
#[diagnostic::on_unimplemented(
    message = "a token function must return token usage, not `{Self}`",
    label = "returns `{Self}`",
    note = "accepted: `TokenUsage`, `(input_tokens, output_tokens)` as `(u64, u64)`, an `Option` of either, or a type that implements `IntoTokenUsage`"
)]
pub trait IntoTokenUsage {
    /// The usage, if any.
    fn into_token_usage(self) -> Option<TokenUsage>;
}

impl IntoTokenUsage for TokenUsage {
    fn into_token_usage(self) -> Option<TokenUsage> {
        Some(self)
    }
}

/// `(input_tokens, output_tokens)`, as [`TokenUsage::new`].
impl IntoTokenUsage for (u64, u64) {
    fn into_token_usage(self) -> Option<TokenUsage> {
        Some(TokenUsage::new(self.0, self.1))
    }
}

impl<T: IntoTokenUsage> IntoTokenUsage for Option<T> {
    fn into_token_usage(self) -> Option<TokenUsage> {
        self.and_then(IntoTokenUsage::into_token_usage)
    }
}

/// What a call (or a trace, or a module) cost, in the unit of the price table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Cost {
    /// The input tokens' share.
    pub input: f64,
    /// The output tokens' share.
    pub output: f64,
    /// Both.
    pub total: f64,
}

impl Cost {
    pub(crate) fn add(&mut self, other: Cost) {
        self.input += other.input;
        self.output += other.output;
        self.total += other.total;
    }
}

/// One recorded call. Its JSON form is the export format: empty fields are left out, and
/// a failed call reads
///
/// ```json
/// {
///   "module": "Generator::generate",
///   "trace_id": "d7cfc7ac45a5f4b2dc5ee7c0d12c7fe1",
///   "span_id": "5ef0cbf3f1d1c3e4",
///   "parent_span_id": "0b0f5fe9a3c7dd2a",
///   "start_time_unix_nano": 1795852950768451714,
///   "duration_ns": 3137413,
///   "status": "error",
///   "inputs": { "api_key": "[redacted]", "docs": ["doc about hello"], "question": "hello" },
///   "error": {
///     "kind": "quickstart::ContextError",
///     "message": "not enough context for \"hello\" (1 documents)"
///   },
///   "token_usage": { "input_tokens": 32, "output_tokens": 40, "total_tokens": 72 },
///   "thread": "main"
/// }
/// ```
///
/// (the `monitor` crate's front page, "Export format", shows a whole export written by its
/// quickstart).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TraceEntry {
    /// The module (function) name.
    pub module: String,
    /// 32 hex digits shared by every call in one trace (a root call and everything under it).
    pub trace_id: String,
    /// 16 hex digits naming this call.
    pub span_id: String,
    /// The span of the monitored call this one ran inside, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// When the call started, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// How long the call took, in nanoseconds. For a call that returned a stream: until the
    /// stream ended or was dropped.
    pub duration_ns: u64,
    /// For a call that returned a stream: nanoseconds from the call to the stream's first
    /// item (time to first token, for an LLM token stream). `None` for other calls and for
    /// a stream that ended or was dropped before yielding anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_item_ns: Option<u64>,
    /// For a call that returned a stream: how many items it yielded (also `Err` items).
    /// `None` for other calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<u64>,
    /// How the call ended.
    pub status: Status,
    /// Captured arguments by name (empty when none were captured).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub inputs: Map<String, Value>,
    /// The captured output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
    /// What went wrong, for failed calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The quality score of a successful call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_score: Option<f64>,
    /// Tokens spent during the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_usage: Option<TokenUsage>,
    /// What the call cost, when it reported tokens for a priced model (see
    /// [`set_model_price`](crate::set_model_price)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// On the root call of a trace: the tokens of the whole trace, its own and every
    /// descendant's that finished before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_token_usage: Option<TokenUsage>,
    /// On the root call of a trace: the cost of the whole trace, as `trace_token_usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_cost: Option<Cost>,
    /// Validation errors reported during the call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_errors: Vec<String>,
    /// The thread's name, or its id when it has none.
    pub thread: String,
    /// Free attributes set with `set_attribute` or `record_attribute`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    /// Named scores, set during the call or as feedback after it (the `quality` score is
    /// [`quality_score`](Self::quality_score); [`all_scores`](Self::all_scores) shows both).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<crate::score::Score>,
}

impl TraceEntry {
    /// The duration in milliseconds, as the seed's `duration_ms`.
    pub fn duration_ms(&self) -> f64 {
        self.duration_ns as f64 / 1e6
    }

    /// [`time_to_first_item_ns`](Self::time_to_first_item_ns) in milliseconds.
    pub fn time_to_first_item_ms(&self) -> Option<f64> {
        self.time_to_first_item_ns.map(|ns| ns as f64 / 1e6)
    }

    /// Every score of the call: the quality score (as the score named
    /// [`QUALITY`](crate::QUALITY)) first, then the named ones.
    pub fn all_scores(&self) -> Vec<crate::score::Score> {
        let quality = self
            .quality_score
            .and_then(|quality| crate::score::Score::new(crate::score::QUALITY, quality).ok());
        quality
            .into_iter()
            .chain(self.scores.iter().cloned())
            .collect()
    }

    /// The score named `name`, the quality score included (the first, if several sources
    /// gave one).
    pub fn score(&self, name: &str) -> Option<crate::score::Score> {
        self.all_scores()
            .into_iter()
            .find(|score| score.name == name)
    }

    /// The start time as a `SystemTime`.
    pub fn start_time(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(self.start_time_unix_nano)
    }
}
