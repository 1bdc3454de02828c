//! A local OTLP/HTTP receiver for benches that must never be the bottleneck: one thread per
//! connection reads each request's headers and its `content-length` bytes into a reused
//! buffer, counts the spans by walking the protobuf's framing (no decoding of the spans
//! themselves), and answers 200. Bound to 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the sink has received.
#[derive(Debug, Default)]
pub struct Received {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    /// Spans in the protobuf bodies of `/v1/traces` (gzipped or JSON bodies are not counted).
    pub spans: AtomicU64,
}

/// A running sink: its `/v1/traces` URL and what it received.
pub struct Sink {
    pub url: String,
    pub received: Arc<Received>,
}

impl Sink {
    pub fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let received = Arc::new(Received::default());
        let counts = Arc::clone(&received);
        std::thread::Builder::new()
            .name("otlp-sink".to_owned())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let counts = Arc::clone(&counts);
                    let _ = std::thread::Builder::new()
                        .name("otlp-sink-conn".to_owned())
                        .spawn(move || serve(stream, &counts));
                }
            })
            .unwrap();
        Sink { url, received }
    }
}

/// Answers requests on one kept-alive connection until the client closes it.
fn serve(stream: TcpStream, counts: &Received) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let traces = line.contains("/v1/traces");
        let (mut length, mut plain_protobuf) = (0usize, true);
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim().is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            } else if lower.starts_with("content-encoding:")
                || (lower.starts_with("content-type:") && !lower.contains("protobuf"))
            {
                plain_protobuf = false;
            }
        }
        body.resize(length, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        counts.requests.fetch_add(1, Ordering::Relaxed);
        counts.bytes.fetch_add(length as u64, Ordering::Relaxed);
        if traces && plain_protobuf {
            let spans = count_spans(&body).unwrap_or(0);
            counts.spans.fetch_add(spans, Ordering::Relaxed);
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer).is_err() {
            return;
        }
    }
}

/// The spans of an `ExportTraceServiceRequest`: field 1 (`resource_spans`), then field 2
/// (`scope_spans`), then field 2 (`spans`), counted without reading them.
fn count_spans(request: &[u8]) -> Option<u64> {
    let mut spans = 0;
    for_each_field(request, 1, |resource_spans| {
        for_each_field(resource_spans, 2, |scope_spans| {
            for_each_field(scope_spans, 2, |_| {
                spans += 1;
                Some(())
            })
        })
    })?;
    Some(spans)
}

/// Calls `each` with every length-delimited field numbered `wanted` of one message.
fn for_each_field(
    mut message: &[u8],
    wanted: u64,
    mut each: impl FnMut(&[u8]) -> Option<()>,
) -> Option<()> {
    use prost::encoding::decode_varint;
    while !message.is_empty() {
        let key = decode_varint(&mut message).ok()?;
        match key & 7 {
            0 => {
                decode_varint(&mut message).ok()?;
            }
            1 => message = message.get(8..)?,
            2 => {
                let length = usize::try_from(decode_varint(&mut message).ok()?).ok()?;
                let (field, rest) = message.split_at_checked(length)?;
                if key >> 3 == wanted {
                    each(field)?;
                }
                message = rest;
            }
            5 => message = message.get(4..)?,
            _ => return None,
        }
    }
    Some(())
}
