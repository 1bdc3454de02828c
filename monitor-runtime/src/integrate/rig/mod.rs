//! [rig](https://docs.rs/rig-core) (rig-core 0.40), monitored through rig's own extension
//! points, with the feature `rig`:
//!
//! - [`MonitoredModel`] wraps any completion or embedding model (it implements rig's
//!   `CompletionModel` and `EmbeddingModel`), so every model call an agent, an extractor or
//!   the program makes is a `chat_model` (or `embedding`) call with its model, provider,
//!   parameters, messages, finish reason, tokens, cost and errors; a streamed call records
//!   its time to first chunk and its usage.
//! - [`ToolSpans`] is a rig `AgentHook`: each tool an agent runs becomes a `tool` call
//!   with its arguments and result, a child of the call that prompted the agent.
//! - [`MonitoredAgent`] wraps an agent: `agent.prompt(..)` is an `agent` call (the prompt,
//!   the answer) with the hook attached, so its model and tool calls are its children.
//!
//! See the guide page `monitor::guide::clients`.

// Owns: rig's model traits implemented around any model (`model.rs`), rig's messages read
// into the chat shape the views render (`messages.rs`), and agents and their tools
// (`agent.rs`).
//
// May call: what `integrate` may call. Nothing calls in here: users install it.

mod agent;
mod messages;
mod model;

pub use self::agent::{MonitoredAgent, MonitoredPrompt, ToolSpans, AGENT_MODULE};
pub use self::model::{MonitoredModel, COMPLETION_MODULE, EMBEDDINGS_MODULE};
