//! Server-sent events, read as they pass: each `data:` line of a streamed chat completion
//! is a chunk for [`ChatChunks`], which assembles the answer.

use serde_json::Value;

use crate::integrate::openai::chunks::ChatChunks;

/// The longest line kept while waiting for its end; a longer one is skipped (a chunk that
/// large is not a chat completion delta).
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Reads the bytes of an event stream into the answer they carry.
#[derive(Debug, Default)]
pub(super) struct EventReader {
    line: Vec<u8>,
    /// The current line passed [`MAX_LINE_BYTES`]: skipped up to its end.
    skipping: bool,
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
    pub(super) fn read(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.push(&bytes[..end]);
            if !std::mem::take(&mut self.skipping) {
                let line = std::mem::take(&mut self.line);
                self.read_line(&line);
            }
            self.line.clear();
            bytes = &bytes[end + 1..];
        }
        self.push(bytes);
    }

    fn push(&mut self, part: &[u8]) {
        if self.skipping || self.line.len() + part.len() > MAX_LINE_BYTES {
            self.skipping = true;
            self.line.clear();
        } else {
            self.line.extend_from_slice(part);
        }
    }

    fn read_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        if let Ok(chunk) = serde_json::from_slice::<Value>(data.trim_ascii_start()) {
            self.chunks.read_chunk(&chunk, self.room);
        }
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
        let mut left = MAX_LINE_BYTES * 2;
        while left > 0 {
            reader.read(&[b'x'; 4096]);
            left -= 4096;
            assert!(reader.line.len() <= MAX_LINE_BYTES);
        }
        reader.read(b"\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n");
        assert_eq!(reader.chunks.answer().messages[0]["content"], "ok");
    }
}
