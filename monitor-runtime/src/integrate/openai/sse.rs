//! A streamed model call read off the wire: the server-sent events of a response body, as
//! the caller receives its bytes, become the chunks [`ChatChunks`] assembles (chat
//! completions) or the final response the Responses API sends as its last event.
//!
//! The bytes pass to the caller unchanged and unbuffered; this only looks at them on the
//! way. (SSE crates are stream adaptors that consume the body; here the caller must keep
//! it, so the few lines of the format are read by hand: `data:` lines, events ended by a
//! blank line, `[DONE]` at the end.)

use serde_json::Value;

use super::chunks::ChatChunks;
use super::responses::{fail_with_error_event, ResponseEvents};
use crate::entry::ErrorInfo;
use crate::record::stream::{ReadItem, StreamItems};

/// The longest line kept while waiting for its end: a chunk is a few hundred bytes; a
/// line longer than this is not an event this reads, and is dropped rather than grown.
const MAX_LINE: usize = 1 << 20;

/// Reads an SSE body's bytes, chunk by chunk, into a chat completion's or a response's
/// answer.
#[derive(Debug)]
pub(crate) struct ServerSentChat {
    events: EventLines,
    answer: Streamed,
}

/// What a stream's events make.
#[derive(Debug)]
enum Streamed {
    /// A chat completion's chunks, joined.
    Chat(ChatChunks),
    /// A response's final state, sent whole by its last event.
    Responses(ResponseEvents),
}

impl ServerSentChat {
    /// The events of a streamed chat completion.
    pub(crate) fn chat() -> Self {
        ServerSentChat {
            events: EventLines::default(),
            answer: Streamed::Chat(ChatChunks::default()),
        }
    }

    /// The events of a streamed Responses API call.
    pub(crate) fn responses() -> Self {
        ServerSentChat {
            events: EventLines::default(),
            answer: Streamed::Responses(ResponseEvents::default()),
        }
    }
}

/// The lines of an SSE body, wherever its pieces cut them, joined into events' data (the
/// relay reads the bodies it passes on with it too).
#[derive(Debug, Default)]
pub(crate) struct EventLines {
    /// The bytes of a line not yet ended.
    line: Vec<u8>,
    /// The `data:` of the event not yet ended (several lines join with `\n`).
    data: String,
}

impl EventLines {
    /// Reads `bytes`, the next piece of the body; `event` gets each event's data as its
    /// blank line ends it.
    pub(crate) fn read(&mut self, bytes: &[u8], mut event: impl FnMut(&str)) {
        for piece in bytes.split_inclusive(|byte| *byte == b'\n') {
            if self.line.len() + piece.len() <= MAX_LINE {
                self.line.extend_from_slice(piece);
            } else {
                self.line.clear();
            }
            if piece.ends_with(b"\n") {
                let line = std::mem::take(&mut self.line);
                if let Some(data) = self.read_line(&line) {
                    event(&data);
                }
            }
        }
    }

    /// One line: a `data:` field, or the blank line that ends an event (its data
    /// returned). Other fields (`event:`, `id:`, comments) say nothing a chat completion
    /// records.
    fn read_line(&mut self, line: &[u8]) -> Option<String> {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            return Some(std::mem::take(&mut self.data));
        }
        if let Some(data) = line.strip_prefix("data:") {
            if !self.data.is_empty() {
                self.data.push('\n');
            }
            self.data.push_str(data.strip_prefix(' ').unwrap_or(data));
        }
        None
    }
}

impl ServerSentChat {
    /// Reads the next piece of the body.
    fn read_bytes(&mut self, bytes: &[u8], items: &mut StreamItems) {
        let answer = &mut self.answer;
        self.events.read(bytes, |data| {
            if let Some(event) = chunk_of(data) {
                answer.read_event(&event, items);
            }
        });
    }
}

impl Streamed {
    /// One event: a chunk, an error the API sends mid-stream, a response's events.
    fn read_event(&mut self, event: &Value, items: &mut StreamItems) {
        match self {
            Streamed::Chat(chunks) => match event.get("error").filter(|e| !e.is_null()) {
                Some(error) => fail_with_error_event(error, items),
                None => chunks.read_chunk(event, items.max_bytes()),
            },
            Streamed::Responses(events) => events.read_event(event, items),
        }
    }
}

/// An event's data as JSON; `None` for `[DONE]` and what is not JSON.
pub(crate) fn chunk_of(data: &str) -> Option<Value> {
    (data != "[DONE]")
        .then(|| serde_json::from_str(data).ok())
        .flatten()
}

/// Each piece of the body is read; an error (the connection lost mid-stream) fails the
/// call with it.
impl<B: AsRef<[u8]>> ReadItem<Result<B, reqwest::Error>> for ServerSentChat {
    fn read_item(&mut self, item: &Result<B, reqwest::Error>, items: &mut StreamItems) {
        match item {
            Ok(bytes) => self.read_bytes(bytes.as_ref(), items),
            Err(error) => items.fail_with(ErrorInfo::from_error_capped(error, items.max_bytes())),
        }
    }

    /// The answer the events read so far make (an event the body ended in the middle of
    /// is not one).
    fn finish(&mut self, items: &mut StreamItems) {
        match &mut self.answer {
            Streamed::Chat(chunks) => chunks.answer().record_streamed(items),
            Streamed::Responses(events) => events.finish(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `pieces` as one body, and the answer its events make.
    fn answer_of(pieces: &[&[u8]]) -> super::super::completion::Answer {
        let mut lines = EventLines::default();
        let mut chunks = ChatChunks::default();
        for piece in pieces {
            lines.read(piece, |data| {
                if let Some(chunk) = chunk_of(data) {
                    chunks.read_chunk(&chunk, 1024);
                }
            });
        }
        chunks.answer()
    }

    #[test]
    fn events_cut_anywhere_join_into_the_answer() {
        let body = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n\n",
            ": a comment\r\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"is.\"},\"finish_reason\":\"stop\"}]}\r\n\r\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        );
        // The body in pieces of 7 bytes: lines and events are cut in the middle.
        let pieces: Vec<&[u8]> = body.as_bytes().chunks(7).collect();
        let answer = answer_of(&pieces);
        assert_eq!(answer.messages[0]["content"], "Paris.");
        assert_eq!(answer.finish_reasons, ["stop"]);
        assert_eq!(answer.usage.map(|usage| usage.total_tokens), Some(5));
    }

    #[test]
    fn an_event_the_body_ends_in_is_not_read() {
        let answer = answer_of(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"is.\"}}]}",
        ]);
        assert_eq!(answer.messages[0]["content"], "Par");
    }
}
