//! [async-openai](https://docs.rs/async-openai) clients, monitored (feature
//! `async-openai`): one line, and every chat completion (streamed or not) and embedding
//! the program makes is an `llm` (or `embedding`) call with its model, provider,
//! parameters, messages, tokens, finish reason, cost and errors. See the guide page
//! `monitor::guide::clients`.
//!
//! ```no_run
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
//! # Ok(()) }
//! ```

// Owns: the client wrapper (`client.rs`), the chat completions JSON shape read into what
// a call records (`completion.rs`), streamed chunks assembled into one answer
// (`chunks.rs`), and what an `OpenAIError` records (`errors.rs`).
//
// May call: what `integrate` may call. Nothing calls in here: users install it.

mod chunks;
mod client;
mod completion;
mod errors;

pub use self::chunks::ChatChunks;
pub use self::client::{
    ChatStream, MonitoredChat, MonitoredClient, MonitoredEmbeddings, CHAT_MODULE, EMBEDDINGS_MODULE,
};
pub use self::completion::{provider_of, OPENAI_PROVIDER};
