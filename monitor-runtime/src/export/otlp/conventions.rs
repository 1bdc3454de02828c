//! Which attribute conventions a span is written in. Every backend we know reads one of
//! them, and Phoenix and MLflow translate the GenAI ones into their own, so writing all of
//! them says everything three or four times: one set by default, the others on request.

use std::fmt;

#[cfg(feature = "otlp")]
use crate::error::{Error, Result};

/// The variable that picks the conventions of exported spans, e.g.
/// `MONITOR_OTLP_CONVENTIONS=openinference,genai,mlflow`.
pub const CONVENTIONS_VAR: &str = "MONITOR_OTLP_CONVENTIONS";

/// A set of attribute conventions spans are written in (see the OTLP guide page for what
/// each writes and which backend reads it).
///
/// - `openinference`: what Arize Phoenix renders (span kinds, `input.value`,
///   `llm.input_messages.*`, `retrieval.documents.*`, `llm.token_count.*`, `llm.cost.*`).
/// - `genai`: the OpenTelemetry GenAI conventions (`gen_ai.operation.name`,
///   `gen_ai.provider.name`, `gen_ai.usage.*`, `gen_ai.input.messages`, ...), which Langfuse,
///   Datadog and most collectors read, and which MLflow and Phoenix translate.
/// - `mlflow`: MLflow's own span attributes (`mlflow.spanType`, `mlflow.spanInputs`,
///   `mlflow.chat.tokenUsage`, `mlflow.llm.cost`), as MLflow's Python client writes them.
/// - `langfuse`: Langfuse's observation type and cost details.
///
/// The OTLP exporter writes `openinference,genai` unless told otherwise; traces logged to
/// MLflow's trace store are written in `mlflow,genai`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conventions(u8);

impl Conventions {
    /// OpenInference (Arize Phoenix).
    pub const OPENINFERENCE: Conventions = Conventions(1);
    /// The OpenTelemetry GenAI semantic conventions.
    pub const GENAI: Conventions = Conventions(2);
    /// MLflow's span attributes.
    pub const MLFLOW: Conventions = Conventions(4);
    /// Langfuse's observation attributes.
    pub const LANGFUSE: Conventions = Conventions(8);
    /// Every convention.
    pub const ALL: Conventions = Conventions(15);

    const NAMES: [(&'static str, Conventions); 4] = [
        ("openinference", Conventions::OPENINFERENCE),
        ("genai", Conventions::GENAI),
        ("mlflow", Conventions::MLFLOW),
        ("langfuse", Conventions::LANGFUSE),
    ];

    /// Both sets.
    pub const fn with(self, other: Conventions) -> Conventions {
        Conventions(self.0 | other.0)
    }

    /// Whether every convention of `other` is in this set.
    pub const fn contains(self, other: Conventions) -> bool {
        self.0 & other.0 == other.0
    }

    #[cfg(feature = "otlp")]
    /// A comma-separated list (`openinference,genai`; `all`), in any case. An unknown name
    /// or an empty list is an error naming [`CONVENTIONS_VAR`].
    pub fn parse(list: &str) -> Result<Conventions> {
        let mut set = Conventions(0);
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.to_ascii_lowercase();
            if name == "all" {
                set = set.with(Conventions::ALL);
                continue;
            }
            let known = Self::NAMES.iter().find(|(known, _)| *known == name);
            match known {
                Some((_, convention)) => set = set.with(*convention),
                None => {
                    return Err(Error::OtlpConfig {
                        setting: CONVENTIONS_VAR,
                        reason: format!(
                            "{name:?} is not a convention: use openinference, genai, mlflow, \
                             langfuse or all"
                        ),
                    })
                }
            }
        }
        if set.0 == 0 {
            return Err(Error::OtlpConfig {
                setting: CONVENTIONS_VAR,
                reason: "names no convention".to_owned(),
            });
        }
        Ok(set)
    }
}

impl Default for Conventions {
    /// `openinference,genai`: Phoenix renders the first, everything else reads the second.
    fn default() -> Self {
        Conventions::OPENINFERENCE.with(Conventions::GENAI)
    }
}

impl fmt::Debug for Conventions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(_, convention)| self.contains(*convention))
            .map(|(name, _)| *name)
            .collect();
        write!(f, "Conventions({})", names.join(","))
    }
}

#[cfg(all(test, feature = "otlp"))]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_unknown_names_are_refused() {
        let set = Conventions::parse("OpenInference, mlflow").unwrap();
        assert!(set.contains(Conventions::OPENINFERENCE) && set.contains(Conventions::MLFLOW));
        assert!(!set.contains(Conventions::GENAI));
        assert_eq!(Conventions::parse("all").unwrap(), Conventions::ALL);
        assert_eq!(format!("{set:?}"), "Conventions(openinference,mlflow)");
        for bad in ["otel", ","] {
            let error = Conventions::parse(bad).unwrap_err().to_string();
            assert!(error.contains(CONVENTIONS_VAR), "{error}");
        }
    }
}
