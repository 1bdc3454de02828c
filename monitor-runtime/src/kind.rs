//! What a call is (an LLM call, a retriever, a tool, ...), in each backend's words. What a
//! module was declared as is kept by the record path (`record/declare.rs`).
//
// May call: nothing of the crate: a leaf.

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
    /// A request this process serves for another (an HTTP or RPC server's handler): the
    /// OpenTelemetry `SERVER` span a trace enters the process by.
    Server,
}

#[cfg_attr(not(any(feature = "otlp", feature = "mlflow")), allow(dead_code))]
impl SpanKind {
    /// Every kind, as `kind = "..."` spells them.
    pub const NAMES: [&'static str; 12] = [
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
        "server",
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
            "server" => SpanKind::Server,
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
            SpanKind::Chain | SpanKind::Parser | SpanKind::Server => "CHAIN",
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
            SpanKind::Chain | SpanKind::Server => "CHAIN",
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
            SpanKind::Server => "span",
            SpanKind::Evaluator => "evaluator",
            SpanKind::Guardrail => "guardrail",
        }
    }

    /// A call to a language model (`llm`, `chat_model`): its inputs and output may be a chat.
    pub(crate) fn is_model_call(self) -> bool {
        matches!(self, SpanKind::Llm | SpanKind::ChatModel)
    }

    /// A request served for another process (OpenTelemetry `SERVER`).
    pub(crate) fn serves_a_request(self) -> bool {
        self == SpanKind::Server
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

#[cfg(test)]
mod tests {
    use super::SpanKind;

    /// `#[monitored(kind = "..")]` is checked by the macros against their own list, and
    /// expanded to the variant named like the kind in CamelCase: both must follow `NAMES`.
    #[test]
    fn the_macros_accept_exactly_the_kinds_there_are() {
        let attr = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../monitor-macros/src/attr.rs"
        ))
        .expect("read monitor-macros/src/attr.rs");
        let list = attr
            .split("pub(crate) const KINDS")
            .nth(1)
            .and_then(|rest| rest.split_once('[').map(|(_, rest)| rest))
            .and_then(|rest| rest.split_once("= [").map(|(_, rest)| rest))
            .and_then(|rest| rest.split_once("];").map(|(list, _)| list))
            .expect("the macros' KINDS list");
        let macro_kinds: Vec<&str> = list
            .split(',')
            .map(|name| name.trim().trim_matches('"'))
            .filter(|name| !name.is_empty())
            .collect();
        assert_eq!(macro_kinds, SpanKind::NAMES);
        for name in SpanKind::NAMES {
            let kind = SpanKind::parse(name).expect("every name parses");
            assert_eq!(kind.as_str(), name);
            let camel: String = name
                .split('_')
                .map(|word| word[..1].to_ascii_uppercase() + &word[1..])
                .collect();
            assert_eq!(
                format!("{kind:?}"),
                camel,
                "the variant the macros expand `{name}` to"
            );
        }
    }
}
