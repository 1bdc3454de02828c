//! What a call is (an LLM call, a retriever, a tool, ...), in each backend's words, and the
//! kind and model a module was declared with (`#[monitored(kind = "..", model = "..")]`).

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use rustc_hash::FxHashMap;

/// The attribute holding a call's kind (`llm`, `tool`, ...): set by
/// `#[monitored(kind = "..")]`, [`TraceGuard::set_kind`](crate::TraceGuard::set_kind) and
/// [`record_kind`](crate::record_kind).
pub const KIND_ATTRIBUTE: &str = "monitor.span_kind";

/// The attribute holding the model a call used: set by `#[monitored(model = "..")]`,
/// [`TraceGuard::set_model`](crate::TraceGuard::set_model) and
/// [`record_model`](crate::record_model).
pub const MODEL_ATTRIBUTE: &str = "gen_ai.request.model";

/// What a monitored call is, mapped on export to OpenInference's `openinference.span.kind`
/// (Phoenix), MLflow's `mlflow.spanType`, the GenAI `gen_ai.operation.name` and Langfuse's
/// observation type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// A call to a language model that completes text.
    Llm,
    /// A call to a chat model.
    ChatModel,
    /// A call that embeds text.
    Embedding,
    /// A retrieval (vector store, search).
    Retriever,
    /// A reranking of retrieved documents.
    Reranker,
    /// A tool the model called.
    Tool,
    /// An agent: a loop of model and tool calls.
    Agent,
    /// Any composition of other calls; the default.
    Chain,
    /// Parsing of model output.
    Parser,
    /// Scoring of an output.
    Evaluator,
    /// A check that guards input or output.
    Guardrail,
}

#[cfg_attr(not(any(feature = "otlp", feature = "mlflow")), allow(dead_code))]
impl SpanKind {
    /// Every kind, as `kind = "..."` spells them.
    pub const NAMES: [&'static str; 11] = [
        "llm",
        "chat_model",
        "embedding",
        "retriever",
        "reranker",
        "tool",
        "agent",
        "chain",
        "parser",
        "evaluator",
        "guardrail",
    ];

    /// The kind named `name` in any case, in this crate's spelling (`chat_model`) or a
    /// backend's (`CHAT_MODEL`, `LLM`, `RETRIEVER`, ...).
    pub fn parse(name: &str) -> Option<SpanKind> {
        let kind = match name.to_ascii_lowercase().as_str() {
            "llm" => SpanKind::Llm,
            "chat_model" | "chatmodel" | "chat" => SpanKind::ChatModel,
            "embedding" | "embeddings" => SpanKind::Embedding,
            "retriever" => SpanKind::Retriever,
            "reranker" => SpanKind::Reranker,
            "tool" => SpanKind::Tool,
            "agent" => SpanKind::Agent,
            "chain" => SpanKind::Chain,
            "parser" => SpanKind::Parser,
            "evaluator" => SpanKind::Evaluator,
            "guardrail" => SpanKind::Guardrail,
            _ => return None,
        };
        Some(kind)
    }

    /// This crate's spelling: `llm`, `chat_model`, ...
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub(crate) fn openinference(self) -> &'static str {
        match self {
            SpanKind::Llm | SpanKind::ChatModel => "LLM",
            SpanKind::Embedding => "EMBEDDING",
            SpanKind::Retriever => "RETRIEVER",
            SpanKind::Reranker => "RERANKER",
            SpanKind::Tool => "TOOL",
            SpanKind::Agent => "AGENT",
            SpanKind::Chain | SpanKind::Parser => "CHAIN",
            SpanKind::Evaluator => "EVALUATOR",
            SpanKind::Guardrail => "GUARDRAIL",
        }
    }

    pub(crate) fn mlflow(self) -> &'static str {
        match self {
            SpanKind::Llm => "LLM",
            SpanKind::ChatModel => "CHAT_MODEL",
            SpanKind::Embedding => "EMBEDDING",
            SpanKind::Retriever => "RETRIEVER",
            SpanKind::Reranker => "RERANKER",
            SpanKind::Tool => "TOOL",
            SpanKind::Agent => "AGENT",
            SpanKind::Chain => "CHAIN",
            SpanKind::Parser => "PARSER",
            SpanKind::Evaluator => "EVALUATOR",
            SpanKind::Guardrail => "GUARDRAIL",
        }
    }

    /// `gen_ai.operation.name`, for the kinds the GenAI conventions name.
    pub(crate) fn gen_ai_operation(self) -> Option<&'static str> {
        match self {
            SpanKind::Llm => Some("text_completion"),
            SpanKind::ChatModel => Some("chat"),
            SpanKind::Embedding => Some("embeddings"),
            SpanKind::Tool => Some("execute_tool"),
            SpanKind::Agent => Some("invoke_agent"),
            _ => None,
        }
    }

    pub(crate) fn langfuse(self) -> &'static str {
        match self {
            SpanKind::Llm | SpanKind::ChatModel => "generation",
            SpanKind::Embedding => "embedding",
            SpanKind::Retriever | SpanKind::Reranker => "retriever",
            SpanKind::Tool => "tool",
            SpanKind::Agent => "agent",
            SpanKind::Chain | SpanKind::Parser => "chain",
            SpanKind::Evaluator => "evaluator",
            SpanKind::Guardrail => "guardrail",
        }
    }

    /// Model calls leave the process (OpenTelemetry `CLIENT`); the rest run inside it.
    pub(crate) fn leaves_process(self) -> bool {
        matches!(
            self,
            SpanKind::Llm | SpanKind::ChatModel | SpanKind::Embedding
        )
    }
}

impl std::fmt::Display for SpanKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a module was declared as: its kind and its model.
type Declared = (Option<SpanKind>, Option<&'static str>);

/// The kind and model each module was declared with, by module id.
static DECLARED: RwLock<Option<FxHashMap<u32, Declared>>> = RwLock::new(None);
/// Set once a module is declared: until then, reading an entry takes no lock.
static ANY_DECLARED: AtomicBool = AtomicBool::new(false);

/// What a module was declared as, if anything: read when entries are made, never on the
/// record path.
pub(crate) fn declared(module: u32) -> Declared {
    if !ANY_DECLARED.load(Ordering::Acquire) {
        return (None, None);
    }
    DECLARED
        .read()
        .as_ref()
        .and_then(|map| map.get(&module).copied())
        .unwrap_or((None, None))
}

/// `#[monitored(kind = "..", model = "..")]`: generated code keeps one in a `static` and
/// applies it on every call; only the first does anything.
#[derive(Debug)]
pub struct ModuleKind {
    kind: Option<SpanKind>,
    model: Option<&'static str>,
    applied: AtomicBool,
}

impl ModuleKind {
    /// A declaration, not yet applied.
    pub const fn new(kind: Option<SpanKind>, model: Option<&'static str>) -> Self {
        ModuleKind {
            kind,
            model,
            applied: AtomicBool::new(false),
        }
    }

    /// Declares the module of `callsite` (once).
    #[inline]
    pub fn apply(&self, callsite: &'static crate::record::callsite::Callsite) {
        if !self.applied.load(Ordering::Relaxed) {
            self.apply_now(callsite);
        }
    }

    #[cold]
    fn apply_now(&self, callsite: &'static crate::record::callsite::Callsite) {
        let id = callsite.module_id().0;
        DECLARED
            .write()
            .get_or_insert_with(FxHashMap::default)
            .insert(id, (self.kind, self.model));
        ANY_DECLARED.store(true, Ordering::Release);
        self.applied.store(true, Ordering::Relaxed);
    }
}
