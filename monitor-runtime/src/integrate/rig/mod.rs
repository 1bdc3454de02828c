//! [rig](https://docs.rs/rig-core) (rig-core and rig-agent 0.44), monitored through rig's
//! own extension points, with the feature `rig`:
//!
//! - [`MonitoredAgent`] wraps an agent: each prompt, awaited or streamed, is an `agent`
//!   call (the prompt, the answer), and the [`AgentSpans`] hook it attaches records the
//!   agent's model calls, tool calls and embeddings as its children.
//! - [`AgentSpans`] is a rig `AgentHook` (its `on_dispatch` and `on_outcome` for each effect
//!   an agent dispatches on its bus): each model call is a `chat_model` call with its model,
//!   provider, parameters, messages, finish reason, tokens, cost and errors (a streamed run's
//!   with its time to first chunk), each tool a `tool` call with its arguments and result.
//! - [`MonitoredModel`] wraps a model (`Model<W, T>`: a wire on a transport) for the calls a
//!   program makes itself: `model.call(..)` of a completion or embedding model, and
//!   `model.stream(..)` of a completion model, with its time to first chunk and the usage of
//!   its end.
//!
//! See the guide page `monitor::guide::clients`.

// Owns: rig's messages read into the chat shape the views render (`messages.rs`), what a
// model call records read from rig's requests, responses and errors (`facts.rs`), models
// (`model.rs`) and their streams (`stream.rs`), the agent hook (`hook.rs`) and agents
// (`agent.rs`).
//
// May call: what `integrate` may call. Nothing calls in here: users install it.

mod agent;
mod facts;
mod hook;
mod messages;
mod model;
mod stream;

pub use self::agent::{FinalAnswer, MonitoredAgent, MonitoredPrompt, MonitoredRun, AGENT_MODULE};
pub use self::hook::AgentSpans;
pub use self::model::{MonitoredModel, RecordedOperation, COMPLETION_MODULE, EMBEDDINGS_MODULE};
pub use self::stream::MonitoredCompletionStream;
