//! The steps of a small retrieval pipeline, monitored with their kinds, for the export tests.

use monitor::{monitored, record_tokens, TokenUsage};

#[monitored(kind = "retriever")]
pub fn retrieve(question: &str) -> Vec<String> {
    vec![format!("doc about {question}")]
}

/// An LLM call reporting 12 input and 30 output tokens.
#[monitored(kind = "llm", model = "tiny-llm")]
pub fn generate(question: &str, docs: &[String]) -> String {
    record_tokens(TokenUsage::new(12, 30));
    format!("{question}: {} docs", docs.len())
}
