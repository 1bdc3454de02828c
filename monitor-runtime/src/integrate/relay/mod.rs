//! A recording relay for OpenAI-compatible APIs (feature `openai-relay`): a small HTTP
//! server on 127.0.0.1 that forwards every request to the real API unchanged, streams the
//! answer back unchanged, and records each chat completion passing through it as a
//! `chat_model` call, with what [`MonitoredClient`](crate::integrate::openai) records:
//! model, provider, parameters, messages, answer, tokens, cost, errors.
//!
//! Any client that takes a base URL is captured by pointing it at [`OpenAiRelay::url`]: a
//! library whose HTTP client cannot be wrapped (dspy-rs's optimisers, which call the LM
//! through their own adapter), or another process.
//!
//! ```no_run
//! # use monitor_runtime as monitor;
//! use monitor::integrate::relay::OpenAiRelay;
//!
//! # fn run() -> Result<(), monitor::Error> {
//! let relay = OpenAiRelay::start("https://api.openai.com/v1")?; // lives as long as `relay`
//! let base_url = relay.url(); // give this to the client in place of the API's
//! # Ok(()) }
//! ```
//!
//! What it guarantees:
//! - It binds 127.0.0.1 only, and shuts down when the handle is dropped.
//! - The client sees what the API answered: status, headers, body, a stream chunk by chunk
//!   as it comes. An API that cannot be reached, or resets, has the relay close the client's
//!   connection without an answer (a transport error, as it would have had); an API that
//!   hangs keeps the client waiting until the client's own timeout. The relay asks the API
//!   for uncompressed answers, so that it can read them: the client decodes the same
//!   content.
//! - Bodies are bounded: a request larger than [`RelayBuilder::max_request_bytes`] is
//!   answered `413` with a message saying the limit, and counted in [`RelayStats`]; an
//!   answer is always passed on whole, and read for the record up to a bound.
//! - Each chat completion is a call in the relay's tracer (the current tracer when it
//!   started, or [`RelayBuilder::record_into`]): a root call, or, while a [`RelayScope`] is
//!   open in that tracer, a child of the call that opened it (dspy's
//!   `track_optimization` opens one, so an optimiser's own LM calls land under its run).
//!   With two scopes open at once the most recent is the parent: the relay cannot tell
//!   which caller a request came from.
//! - A client that records its calls itself sends them to [`OpenAiRelay::unrecorded_url`]
//!   so they are recorded once (dspy's `MonitoredAdapter` does this by itself).

// Owns: the relay's handle and settings (`mod.rs`), its server and routes (`server.rs`),
// one exchange forwarded and recorded (`exchange.rs`), server-sent events read
// (`sse.rs`), and the scopes that parent its calls and the registry of live relays
// (`scope.rs`).
//
// May call: `record::scope` (the current tracer), `record::trace_context` (the parent's
// context), `record::tracer`, `record::guard`, `integrate::openai` (the chat completions
// JSON shape, read), `capture` (URL credentials masked), `kind` and `error`.

mod exchange;
mod scope;
mod server;
mod sse;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;

#[cfg(feature = "dspy")]
pub(crate) use self::scope::unrecorded_url_for;
pub use self::scope::RelayScope;
use crate::error::Error;
use crate::record::scope::current_tracer;
use crate::ExecutionTracer;

/// The request body size a relay accepts by default: 16 MiB (a chat with a few images).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The path under a relay's root whose requests are forwarded without being recorded.
const UNRECORDED_PREFIX: &str = "/_monitor/unrecorded";

/// A running relay; it stops when dropped. See the [module](self).
pub struct OpenAiRelay {
    url: String,
    unrecorded_url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Settings of a relay before it starts: [`OpenAiRelay::builder`].
#[derive(Clone, Debug)]
pub struct RelayBuilder {
    upstream: String,
    tracer: Option<ExecutionTracer>,
    max_request_bytes: usize,
}

/// What a relay has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelayStats {
    /// Requests sent on to the API.
    pub forwarded: u64,
    /// Chat completions recorded as calls.
    pub recorded: u64,
    /// Requests the API did not answer (unreachable, reset, broken off mid-answer).
    pub upstream_failures: u64,
    /// Requests refused with `413` because their body passed the limit.
    pub too_large: u64,
}

/// What the relay's thread and the handle share.
pub(crate) struct Shared {
    /// The API's base URL, without a trailing `/`.
    upstream: String,
    /// `gen_ai.provider.name` of the calls: `openai`, or the API's host.
    provider: String,
    tracer: ExecutionTracer,
    max_request_bytes: usize,
    /// Sends on what comes: no redirects followed, no decompression of its own.
    client: reqwest::Client,
    forwarded: AtomicU64,
    recorded: AtomicU64,
    upstream_failures: AtomicU64,
    too_large: AtomicU64,
}

impl Shared {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl OpenAiRelay {
    /// Starts a relay to `upstream` (an API base URL such as `https://api.openai.com/v1`)
    /// with the default settings.
    pub fn start(upstream: impl Into<String>) -> Result<OpenAiRelay, Error> {
        OpenAiRelay::builder(upstream).start()
    }

    /// A relay to `upstream`, to configure before it starts.
    pub fn builder(upstream: impl Into<String>) -> RelayBuilder {
        RelayBuilder {
            upstream: upstream.into(),
            tracer: None,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }

    /// The base URL clients use in place of the API's: `http://127.0.0.1:<port>`, and a
    /// path appended to it reaches the same path under the API's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A base URL whose requests are forwarded as [`url`](Self::url)'s are but not
    /// recorded: for a client that records its calls itself.
    pub fn unrecorded_url(&self) -> &str {
        &self.unrecorded_url
    }

    /// The API's base URL.
    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }

    /// What it has done so far.
    pub fn stats(&self) -> RelayStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RelayStats {
            forwarded: read(&self.shared.forwarded),
            recorded: read(&self.shared.recorded),
            upstream_failures: read(&self.shared.upstream_failures),
            too_large: read(&self.shared.too_large),
        }
    }
}

impl fmt::Debug for OpenAiRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiRelay")
            .field("url", &self.url)
            .field(
                "upstream",
                &crate::capture::mask_url_credentials(&self.shared.upstream),
            )
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for OpenAiRelay {
    fn drop(&mut self) {
        scope::forget_relay(&self.url);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Its runtime stops at once: calls in flight are dropped (recorded cancelled).
            let _ = thread.join();
        }
    }
}

impl RelayBuilder {
    /// Records into `tracer` instead of the current tracer (the scoped default where
    /// [`start`](Self::start) is called, else the global one).
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// The largest request body forwarded, in bytes ([`DEFAULT_MAX_REQUEST_BYTES`]);
    /// larger ones are answered `413`.
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// Binds a free port on 127.0.0.1 and starts serving on a thread of its own.
    pub fn start(self) -> Result<OpenAiRelay, Error> {
        let upstream = self.upstream.trim_end_matches('/').to_owned();
        let shown = crate::capture::mask_url_credentials(&upstream).into_owned();
        let refused = |reason: String| Error::Relay {
            upstream: shown.clone(),
            reason,
        };
        match reqwest::Url::parse(&upstream) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => return Err(refused(format!("scheme {:?} is not http(s)", url.scheme()))),
            Err(error) => return Err(refused(error.to_string())),
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|error| refused(format!("cannot listen on 127.0.0.1: {error}")))?;
        let address = listener
            .local_addr()
            .map_err(|error| refused(error.to_string()))?;
        let client = reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .no_deflate()
            .no_zstd()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| refused(format!("cannot build its http client: {error}")))?;
        let shared = Arc::new(Shared {
            provider: crate::integrate::openai::provider_of(&upstream),
            upstream,
            tracer: self.tracer.unwrap_or_else(current_tracer),
            max_request_bytes: self.max_request_bytes,
            client,
            forwarded: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            upstream_failures: AtomicU64::new(0),
            too_large: AtomicU64::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = server::spawn(listener, shared.clone(), stopped)
            .map_err(|error| refused(format!("cannot start its thread: {error}")))?;
        let url = format!("http://{address}");
        let unrecorded_url = format!("{url}{UNRECORDED_PREFIX}");
        scope::remember_relay(&url, &unrecorded_url);
        Ok(OpenAiRelay {
            url,
            unrecorded_url,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}
