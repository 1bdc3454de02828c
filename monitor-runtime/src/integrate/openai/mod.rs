//! OpenAI clients, monitored. With the feature `async-openai`, [async-openai](https://docs.rs/async-openai)
//! clients: one line (`MonitoredClient::new(client)`), and every chat completion (streamed
//! or not) and embedding the program makes is a `chat_model` (or `embedding`) call with its
//! model, provider, parameters, messages, tokens, finish reason, cost and errors. With the
//! feature `openai-http`, any OpenAI-compatible endpoint reached with plain reqwest:
//! `send_monitored()` in place of `send()` (`SendMonitored`). See the guide page
//! `monitor::guide::clients`.
//!
//! ```no_run
//! # #[cfg(feature = "async-openai")] mod example {
//! # use monitor_runtime as monitor;
//! use async_openai::types::chat::CreateChatCompletionRequestArgs;
//! use monitor::integrate::openai::MonitoredClient;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = MonitoredClient::new(async_openai::Client::new()); // the one line
//! let request = CreateChatCompletionRequestArgs::default()
//!     .model("gpt-4o-mini")
//!     .messages([async_openai::types::chat::ChatCompletionRequestUserMessage::from("Hi").into()])
//!     .build()?;
//! let response = client.chat().create(request).await?; // recorded as `openai.chat`
//! # Ok(()) } }
//! ```

// Owns: the async-openai client wrapper (`client.rs`), the chat completions JSON shape read
// into what a call records (`completion.rs`, shared by both clients), streamed chunks
// assembled into one answer (`chunks.rs`), what an `OpenAIError` records (`errors.rs`),
// the Responses API's JSON shape read into the same (`responses.rs`), reqwest's
// `send_monitored` (`http.rs`) and the server-sent events of a streamed body it reads on
// their way to the caller (`sse.rs`).
//
// May call: what `integrate` may call. Users install it; `integrate::relay` reads its JSON
// shapes (`completion`, `chunks`, `http`'s error answers).

#[cfg_attr(not(feature = "async-openai"), allow(unreachable_pub))]
pub(crate) mod chunks;
#[cfg(feature = "async-openai")]
mod client;
pub(crate) mod completion;
#[cfg(feature = "async-openai")]
mod errors;
#[cfg(feature = "openai-http")]
pub(crate) mod http;
mod responses;
#[cfg(feature = "openai-http")]
pub(crate) mod sse;

#[cfg(feature = "async-openai")]
pub use self::chunks::ChatChunks;
#[cfg(feature = "async-openai")]
pub use self::client::{
    ChatStream, MonitoredChat, MonitoredClient, MonitoredEmbeddings, MonitoredResponses,
    ResponseStream,
};
pub use self::completion::{provider_of, CHAT_MODULE, EMBEDDINGS_MODULE, OPENAI_PROVIDER};
#[cfg(feature = "openai-http")]
pub use self::http::SendMonitored;
pub use self::responses::{ResponseEvents, RESPONSES_MODULE};
