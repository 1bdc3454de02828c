//! Server-sent events, read as they pass: each event of a streamed chat completion is a
//! chunk for [`ChatChunks`], which assembles the answer. The lines are read as
//! `send_monitored` reads them (`openai::sse`).

use crate::integrate::openai::chunks::ChatChunks;
use crate::integrate::openai::sse::{chunk_of, EventLines};

/// Reads the bytes of an event stream into the answer they carry.
#[derive(Debug, Default)]
pub(super) struct EventReader {
    lines: EventLines,
    /// How much text of each choice is kept.
    room: usize,
    pub(super) chunks: ChatChunks,
}

impl EventReader {
    pub(super) fn new(room: usize) -> Self {
        EventReader {
            room,
            ..EventReader::default()
        }
    }

    /// Reads the next bytes of the stream, which may end or begin mid-line.
    pub(super) fn read(&mut self, bytes: &[u8]) {
        let (chunks, room) = (&mut self.chunks, self.room);
        self.lines.read(bytes, |data| {
            if let Some(chunk) = chunk_of(data) {
                chunks.read_chunk(&chunk, room);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_anywhere_are_read_whole() {
        let stream = concat!(
            "data: {\"id\":\"s\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\r\n\r\n",
            ": a comment\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        );
        let mut reader = EventReader::new(1024);
        for piece in stream.as_bytes().chunks(7) {
            reader.read(piece);
        }
        let answer = reader.chunks.answer();
        assert_eq!(answer.messages[0]["content"], "Hello");
        assert_eq!(answer.finish_reasons, ["stop"]);
        assert_eq!(answer.usage, Some(crate::TokenUsage::new(3, 2)));
    }

    #[test]
    fn an_endless_line_is_skipped_not_kept() {
        let mut reader = EventReader::new(1024);
        for _ in 0..512 {
            reader.read(&[b'x'; 4096]);
        }
        reader.read(b"\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\n");
        assert_eq!(reader.chunks.answer().messages[0]["content"], "ok");
    }
}
