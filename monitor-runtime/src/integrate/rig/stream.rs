//! A monitored rig completion stream: the items of rig's `CompletionStream`, unchanged, and
//! the call recorded when it ends with what the provider's end said (the usage, the finish
//! reason), which rig keeps in the stream's fold rather than in its items.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::rig_core_next::completion::CompletionResponse;
use ::rig_core_next::error::ProviderError;
use ::rig_core_next::streaming::{CompletionStream, Item, StreamEvent};
use futures_core::Stream;
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::json;

use super::facts::{self, answered, failed};
use crate::record::guard::TraceGuard;
use crate::record::stream::{MonitoredStream, ReadItem, StreamItems};

/// One item of a rig completion stream.
type StreamItem = Result<Item<StreamEvent>, ProviderError>;

/// The response a stream ended with, once it ended: shared by the stream that sees the end
/// and the reader that records it.
type Ended = Arc<Mutex<Option<CompletionResponse>>>;

/// The stream [`MonitoredModel::stream`](super::MonitoredModel::stream) returns: it yields
/// what rig's `CompletionStream` yields (events, then an error as the last item if the
/// reply failed), and [`finish`](Self::finish) reads the rest into the response, as rig's
/// `finish` does. The call is recorded when the stream ends, or as cancelled when it is
/// dropped before.
#[must_use = "streams do nothing unless polled"]
pub struct MonitoredCompletionStream {
    inner: MonitoredStream<KeepEnd, Answer>,
    ended: Ended,
}

impl std::fmt::Debug for MonitoredCompletionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoredCompletionStream")
            .finish_non_exhaustive()
    }
}

impl MonitoredCompletionStream {
    /// `stream`, recorded as `call`.
    pub(super) fn new(call: TraceGuard<'_>, stream: CompletionStream) -> Self {
        let ended = Ended::default();
        let keep = KeepEnd {
            inner: stream,
            ended: ended.clone(),
        };
        let answer = Answer {
            ended: ended.clone(),
            text: String::new(),
            failed: false,
        };
        MonitoredCompletionStream {
            inner: call.instrument_stream_with(keep, answer, true),
            ended,
        }
    }

    /// Reads the rest of the reply and returns the response it folds into (rig's
    /// `CompletionStream::finish`): the error the stream yielded, if any; a reply the
    /// provider did not end is `ProviderError::Truncated`.
    pub async fn finish(mut self) -> Result<CompletionResponse, ProviderError> {
        while let Some(item) = self.next().await {
            item?;
        }
        let response = self.ended.lock().take();
        response.ok_or(ProviderError::Truncated)
    }
}

impl Stream for MonitoredCompletionStream {
    type Item = StreamItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// rig's stream, keeping the response it ended with (`partial()` once the provider's end
/// arrived is the whole response).
struct KeepEnd {
    inner: CompletionStream,
    ended: Ended,
}

impl Stream for KeepEnd {
    type Item = StreamItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        let poll = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(None) = poll {
            let response = self.inner.partial();
            *self.ended.lock() = Some(response);
        }
        poll
    }
}

/// What a streamed completion answered, read item by item: the text so far (the answer of a
/// stream dropped before its end), whether it failed, and at its end the response.
struct Answer {
    ended: Ended,
    text: String,
    failed: bool,
}

impl ReadItem<StreamItem> for Answer {
    fn read_item(&mut self, item: &StreamItem, items: &mut StreamItems) {
        match item {
            Ok(Item::Event(StreamEvent::Text { text, .. })) => self.text.push_str(text),
            Ok(_) => {}
            Err(error) => {
                self.failed = true;
                let failure = failed(error);
                for (key, value) in failure.attributes {
                    items.set_attribute(key, value);
                }
                if let Some(error) = failure.error {
                    items.fail_with(error);
                }
            }
        }
    }

    /// The response the provider ended with; else (dropped before its end) the text read so
    /// far. A failed stream records its error and no answer.
    fn finish(&mut self, items: &mut StreamItems) {
        if self.failed {
            return;
        }
        let Some(response) = self.ended.lock().clone() else {
            if !self.text.is_empty() {
                items.set_output(json!({ "role": "assistant", "content": self.text }));
            }
            return;
        };
        let answer = answered(facts::completion_response(&response));
        for (key, value) in answer.attributes {
            items.set_attribute(key, value);
        }
        if let Some(output) = answer.output {
            items.set_output(output);
        }
        if let Some(tokens) = answer.tokens {
            items.set_token_usage(tokens);
        }
        if let Some(error) = answer.error {
            items.fail_with(error);
        }
    }
}
