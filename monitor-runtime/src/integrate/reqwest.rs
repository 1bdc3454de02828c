//! Clients (feature `reqwest`): outgoing reqwest requests carry the current trace.

use ::reqwest::header::HeaderMap;

/// `.with_trace_context()` on a reqwest request: it carries the innermost active
/// monitored call (W3C `traceparent`, and the `tracestate` and `baggage` handed on; see
/// [`inject`](crate::inject)), so a service with [`ServerLayer`](super::tower::ServerLayer)
/// or any OpenTelemetry instrumentation records its calls under it. Outside any call the
/// request goes unchanged. For another client, call [`inject`](crate::inject) on its
/// headers.
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// use monitor::integrate::reqwest::WithTraceContext;
///
/// # async fn ask() -> reqwest::Result<()> {
/// let client = reqwest::Client::new();
/// client.get("http://127.0.0.1:3001/answer").with_trace_context().send().await?;
/// # Ok(()) }
/// ```
pub trait WithTraceContext {
    /// This request with the current trace context in its headers.
    fn with_trace_context(self) -> Self;
}

fn context_headers() -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    crate::propagate::inject(&mut headers).then_some(headers)
}

impl WithTraceContext for ::reqwest::RequestBuilder {
    fn with_trace_context(self) -> Self {
        match context_headers() {
            Some(headers) => self.headers(headers),
            None => self,
        }
    }
}

impl WithTraceContext for ::reqwest::blocking::RequestBuilder {
    fn with_trace_context(self) -> Self {
        match context_headers() {
            Some(headers) => self.headers(headers),
            None => self,
        }
    }
}
