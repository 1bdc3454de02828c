//! A stream traced as one call: the call returned the stream, and lasts until the stream
//! ends or is dropped.
//!
//! As with [`Traced`](super::traced::Traced), the guard is detached between polls and
//! attached during each `poll_next`, so monitored calls made while an item is produced are
//! children of the call, and `record_*` functions annotate it.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::clock;
use super::guard::TraceGuard;
use super::traced::PollScope;
use crate::capture::CapturedValue;
use crate::entry::{ErrorInfo, Status, TokenUsage};

/// What the items of a monitored stream say about its call, one item at a time: how each
/// item is captured into the output, and `Err` items that fail the call. Given to the
/// function passed to [`TraceGuard::instrument_stream_with`].
#[derive(Debug)]
pub struct StreamItems {
    /// Bytes the output may still take (the tracer's `max_field_bytes` at first).
    room: usize,
    max: usize,
    output: Collected,
    /// Bytes of the items seen, kept or not: the size in the truncation marker.
    seen: usize,
    cut: bool,
    error: Option<ErrorInfo>,
    /// Whether outputs are captured at all.
    capture: bool,
    /// What a reader read of the whole stream (an LLM stream's usage, finish reason, the
    /// answer assembled from its chunks), for the call's record.
    tokens: Option<TokenUsage>,
    attributes: Vec<(String, serde_json::Value)>,
    whole_output: Option<CapturedValue>,
}

/// The output being collected: text items concatenated, other items as a JSON array.
#[derive(Debug)]
enum Collected {
    Nothing,
    Text(String),
    /// The JSON text of the array so far, without its closing bracket.
    Array(String),
}

impl StreamItems {
    fn new(max: usize, capture: bool) -> Self {
        StreamItems {
            room: if capture { max } else { 0 },
            max,
            output: Collected::Nothing,
            seen: 0,
            cut: false,
            error: None,
            capture,
            tokens: None,
            attributes: Vec::new(),
            whole_output: None,
        }
    }

    /// How many more bytes of output may be kept; 0 once the cap is reached (or when the
    /// output is not captured), when items need not be captured at all.
    #[inline]
    pub fn room(&self) -> usize {
        self.room
    }

    /// The tracer's size cap of one captured field.
    pub fn max_bytes(&self) -> usize {
        self.max
    }

    /// Adds a text item (`String`, `&str`): the output is the items' text concatenated,
    /// as a reader of an LLM token stream expects it.
    pub fn push_text(&mut self, text: &str) {
        self.seen = self.seen.saturating_add(text.len());
        if self.room == 0 {
            self.cut |= !text.is_empty();
            return;
        }
        let Collected::Text(kept) = self.output.text() else {
            return self.push_value(CapturedValue::json(text, self.room));
        };
        let keep = crate::capture::prefix_at_most(text, self.room);
        kept.push_str(keep);
        self.room -= keep.len();
        self.cut |= keep.len() < text.len();
    }

    /// Adds an item captured on its own (JSON, `Debug` text or a placeholder): the output
    /// is the items as a JSON array.
    pub fn push_value(&mut self, value: CapturedValue) {
        let text = match value {
            CapturedValue::Json(json) => json.into_string(),
            CapturedValue::Truncated {
                preview,
                total_bytes,
            } => {
                self.cut = true;
                self.seen = self
                    .seen
                    .saturating_add(total_bytes.saturating_sub(preview.len()));
                preview.into_string()
            }
            other => other.to_value().to_string(),
        };
        self.seen = self.seen.saturating_add(text.len() + 1);
        if self.room == 0 {
            self.cut = true;
            return;
        }
        let array = match &mut self.output {
            Collected::Nothing => {
                self.output = Collected::Array(String::from("["));
                match &mut self.output {
                    Collected::Array(array) => array,
                    _ => unreachable!(),
                }
            }
            Collected::Array(array) => {
                array.push(',');
                array
            }
            // A text stream whose item would not capture as text: keep the text.
            Collected::Text(_) => return,
        };
        let keep = crate::capture::prefix_at_most(&text, self.room);
        array.push_str(keep);
        self.room = self.room.saturating_sub(keep.len() + 1);
        self.cut |= keep.len() < text.len();
    }

    /// Marks the call failed with an item's error, as a function returning `Err` is. The
    /// first error is kept: later ones are usually its consequences.
    pub fn fail_with(&mut self, error: ErrorInfo) {
        self.error.get_or_insert(error);
    }

    /// Sets the call's token usage (an LLM stream's final usage chunk), replacing any set
    /// before.
    pub fn set_token_usage(&mut self, usage: TokenUsage) {
        self.tokens = Some(usage);
    }

    /// Sets an attribute of the call (replacing one of the same key), capped and masked
    /// as [`TraceGuard::set_attribute`] does when the call is recorded.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl serde::Serialize) {
        let key = key.into();
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        match self.attributes.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((key, value)),
        }
    }

    /// Sets the call's whole output (a message assembled from the items, say), in place
    /// of the items collected; ignored when outputs are not captured.
    pub fn set_output(&mut self, output: impl serde::Serialize) {
        if self.capture {
            self.whole_output = Some(CapturedValue::json(&output, self.max));
        }
    }

    /// The output of the items collected so far; `None` when none was captured.
    fn take_output(&mut self) -> Option<CapturedValue> {
        if let Some(whole) = self.whole_output.take() {
            return Some(whole);
        }
        let max = self.max;
        match std::mem::replace(&mut self.output, Collected::Nothing) {
            Collected::Nothing => None,
            Collected::Text(text) => Some(match CapturedValue::json(&text, max) {
                CapturedValue::Truncated { preview, .. } => CapturedValue::Truncated {
                    preview,
                    total_bytes: self.seen + 2,
                },
                // Cut within the masking margin: still cut.
                CapturedValue::Json(json) if self.cut => CapturedValue::Truncated {
                    preview: json.as_str().into(),
                    total_bytes: self.seen + 2,
                },
                other => other,
            }),
            Collected::Array(mut array) if !self.cut => {
                array.push(']');
                Some(CapturedValue::Json(array.into()))
            }
            Collected::Array(array) => Some(CapturedValue::Truncated {
                preview: array.into(),
                total_bytes: self.seen + 1,
            }),
        }
    }
}

impl Collected {
    /// The text collected, starting it if nothing is yet.
    fn text(&mut self) -> &mut Collected {
        if let Collected::Nothing = self {
            *self = Collected::Text(String::new());
        }
        self
    }
}

/// How a monitored stream reads its items; see [`TraceGuard::instrument_stream_with`].
pub trait ReadItem<T: ?Sized> {
    /// Reads one item into `items`.
    fn read_item(&mut self, item: &T, items: &mut StreamItems);

    /// Called once when the stream ends or is dropped, before the call is recorded: a
    /// reader that assembles the items (an LLM answer from its chunks) says what it read.
    fn finish(&mut self, items: &mut StreamItems) {
        let _ = items;
    }
}

/// Counts items and times the first; captures nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountItems;

impl<T: ?Sized> ReadItem<T> for CountItems {
    #[inline]
    fn read_item(&mut self, _: &T, _: &mut StreamItems) {}
}

impl<T: ?Sized, F: FnMut(&T, &mut StreamItems)> ReadItem<T> for F {
    #[inline]
    fn read_item(&mut self, item: &T, items: &mut StreamItems) {
        self(item, items)
    }
}

/// The guard of a traced stream and what its items said: `Some` guard until the stream
/// ends.
#[derive(Debug)]
struct StreamState<R> {
    guard: Option<TraceGuard<'static>>,
    count: u64,
    /// Raw clock ticks of the first item; 0 before it.
    first_item: u64,
    items: StreamItems,
    read: R,
    /// `ReadItem::finish` of the reader, named here where its item type is known (a
    /// `Drop` impl cannot add the bound).
    end: fn(&mut R, &mut StreamItems),
}

// SAFETY: as for `TracedState`: the guard's frame is on a thread's stack only during a
// poll, and between polls it holds only `Send` data.
unsafe impl<R: Send> Send for StreamState<R> {}

impl<R> StreamState<R> {
    /// Records the call: what the items said, then the guard.
    fn finish(&mut self, cancelled: bool) {
        let Some(mut guard) = self.guard.take() else {
            return;
        };
        guard.stop_clock();
        (self.end)(&mut self.read, &mut self.items);
        if let Some(tokens) = self.items.tokens.take() {
            guard.set_token_usage(tokens);
        }
        for (key, value) in std::mem::take(&mut self.items.attributes) {
            guard.set_attribute(key, value);
        }
        let output = self.items.take_output();
        let error = self.items.error.take();
        let details = guard.details();
        details.items = Some(self.count);
        details.first_item_raw = (self.first_item != 0).then_some(self.first_item);
        if let Some(output) = output {
            details.values.set_output(&output);
        }
        if let Some(error) = error {
            guard.fail_with(error);
        } else if cancelled {
            guard.status.get_or_insert(Status::Cancelled);
        } else {
            guard.status.get_or_insert(Status::Success);
        }
        drop(guard);
    }
}

impl<R> Drop for StreamState<R> {
    fn drop(&mut self) {
        // Dropped before its end: the call was cancelled.
        self.finish(true);
    }
}

/// A stream traced as one call; see [`TraceGuard::instrument_stream`]. It yields what the
/// inner stream yields; it is `Send` and `Unpin` when the inner stream (and the item
/// reader) are.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct MonitoredStream<S, R = CountItems> {
    state: StreamState<R>,
    inner: S,
}

impl<S: Stream, R: ReadItem<S::Item>> MonitoredStream<S, R> {
    /// Wraps `inner`; `guard` is attached to this thread (just started, or just handed
    /// back by a traced future) or detached.
    pub(crate) fn new(guard: TraceGuard<'_>, inner: S, read: R, capture: bool) -> Self {
        let mut guard = guard.into_owned();
        guard.detach();
        guard.restart_clock();
        let max = guard.tracer().max_field_bytes();
        MonitoredStream {
            state: StreamState {
                guard: Some(guard),
                count: 0,
                first_item: 0,
                items: StreamItems::new(max, capture),
                read,
                end: <R as ReadItem<S::Item>>::finish,
            },
            inner,
        }
    }
}

impl<S: Unpin, R: Unpin> Unpin for MonitoredStream<S, R> {}

impl<S: Stream, R: ReadItem<S::Item>> Stream for MonitoredStream<S, R> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        // SAFETY: `inner` is structurally pinned and never moved; the rest is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let Some(guard) = this.state.guard.as_mut() else {
            // The call ended with the first `None`; polled again, the stream does what the
            // inner one does (yields again, stays ended, or panics), as without monitoring.
            return inner.poll_next(cx);
        };
        guard.attach();
        let scope = PollScope(guard);
        let poll = inner.poll_next(cx);
        drop(scope);
        match &poll {
            Poll::Pending => {}
            Poll::Ready(Some(item)) => {
                if this.state.count == 0 {
                    this.state.first_item = clock::now();
                }
                this.state.count += 1;
                this.state.read.read_item(item, &mut this.state.items);
            }
            Poll::Ready(None) => this.state.finish(false),
        }
        poll
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<'t> TraceGuard<'t> {
    /// Wraps `stream` so that this call lasts until the stream ends (a success) or is
    /// dropped before its end (cancelled), and stays the innermost call whenever the
    /// stream is polled. The stream owns a handle to the tracer, so it may outlive a
    /// borrowed one. The entry counts the items
    /// ([`item_count`](crate::TraceEntry::item_count)) and times the first
    /// ([`time_to_first_item_ns`](crate::TraceEntry::time_to_first_item_ns)).
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// # use futures_core::Stream;
    /// # use std::{pin::Pin, task::{Context, Poll}};
    /// # struct Tokens(Vec<&'static str>);
    /// # impl Stream for Tokens {
    /// #     type Item = &'static str;
    /// #     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<&'static str>> {
    /// #         Poll::Ready((!self.0.is_empty()).then(|| self.0.remove(0)))
    /// #     }
    /// # }
    /// # fn drain<S: Stream + Unpin>(mut s: S) {
    /// #     let mut cx = Context::from_waker(std::task::Waker::noop());
    /// #     while let Poll::Ready(Some(_)) = Pin::new(&mut s).poll_next(&mut cx) {}
    /// # }
    /// let tracer = monitor::ExecutionTracer::new();
    /// let call = tracer.trace("generate", ());
    /// drain(call.instrument_stream(Tokens(vec!["Hel", "lo"])));
    /// let entry = &tracer.get_traces(None)[0];
    /// assert_eq!(entry.item_count, Some(2));
    /// assert!(entry.time_to_first_item_ns.is_some());
    /// ```
    pub fn instrument_stream<S: Stream>(self, stream: S) -> MonitoredStream<S> {
        self.instrument_stream_with(stream, CountItems, false)
    }

    /// Like [`instrument_stream`](Self::instrument_stream), with `read` called on each item:
    /// it may capture the item into the output ([`StreamItems::push_text`],
    /// [`StreamItems::push_value`]) and fail the call ([`StreamItems::fail_with`]).
    /// `capture` off, [`StreamItems::room`] is 0 from the start.
    pub fn instrument_stream_with<S: Stream, R: ReadItem<S::Item>>(
        self,
        stream: S,
        read: R,
        capture: bool,
    ) -> MonitoredStream<S, R> {
        MonitoredStream::new(self, stream, read, capture)
    }
}
