//! A stand-in for an OpenAI-compatible API on 127.0.0.1: chat completions (plain, streamed
//! as server-sent events like the real API, with a final usage chunk only when the request
//! asks for it), a tool call answer (then a text answer once the tool's result is sent),
//! embeddings, and errors (429, 500) chosen by the model
//! the request names. It keeps every request body it received. Bounded: it serves at most
//! `MAX_CONNECTIONS` connections, each for at most `MAX_REQUESTS` requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

const MAX_CONNECTIONS: usize = 64;
const MAX_REQUESTS: usize = 32;

/// The model that answers with a tool call.
pub const TOOL_MODEL: &str = "tool-model";
/// The model that answers 429 (a rate limit; `Retry-After: 0`, so retries are quick).
pub const RATE_LIMITED_MODEL: &str = "rate-limited";
/// The model that answers 500.
pub const BROKEN_MODEL: &str = "broken";

pub struct FakeOpenAi {
    /// The API base: `http://127.0.0.1:<port>/v1`.
    pub api_base: String,
    /// `(path, body)` of every request received.
    pub requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl FakeOpenAi {
    pub fn start() -> FakeOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let api_base = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen);
                });
            }
        });
        FakeOpenAi { api_base, requests }
    }

    /// The bodies of the requests to `path` (`/v1/chat/completions`).
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

fn serve(mut stream: TcpStream, seen: &Mutex<Vec<(String, Value)>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    for _ in 0..MAX_REQUESTS {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut len = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    len = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        seen.lock().unwrap().push((path.clone(), body.clone()));
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        if model == RATE_LIMITED_MODEL || model == BROKEN_MODEL {
            let (status, kind) = if model == BROKEN_MODEL {
                (500, "server_error")
            } else {
                (429, "rate_limit_error")
            };
            let error = json!({"error": {"message": "try again later", "type": kind, "param": null, "code": null}});
            write_json(&mut stream, status, "Retry-After: 0\r\n", &error)?;
            continue;
        }
        if path.ends_with("/embeddings") {
            write_json(&mut stream, 200, "", &embeddings(&body))?;
        } else if body["stream"] == json!(true) {
            return write_stream(&mut stream, &body);
        } else {
            write_json(&mut stream, 200, "", &completion(&model, &body))?;
        }
    }
    Ok(())
}

fn write_json(
    stream: &mut TcpStream,
    status: u16,
    extra: &str,
    body: &Value,
) -> std::io::Result<()> {
    let text = body.to_string();
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

/// The usage the fake model reports: 8 of its 20 input tokens read from the cache.
fn usage() -> Value {
    json!({"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25,
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 2}})
}

/// The model that answers: the dated version of the one asked for.
fn answering(model: &str) -> String {
    format!("{model}-2024-07-18")
}

/// Whether the request sends a tool's result (the turn after a tool call).
fn answers_a_tool(body: &Value) -> bool {
    let messages = body["messages"].as_array().map(Vec::as_slice);
    messages
        .unwrap_or_default()
        .iter()
        .any(|message| message["role"] == "tool")
}

fn completion(model: &str, body: &Value) -> Value {
    let (message, finish) = if model == TOOL_MODEL && !answers_a_tool(body) {
        (
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}),
            "tool_calls",
        )
    } else {
        (json!({"role": "assistant", "content": "Paris."}), "stop")
    };
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": answering(model),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": usage()})
}

/// Server-sent events as the API streams them: a role chunk, text chunks, a finish chunk,
/// the usage chunk when `stream_options.include_usage` asked for it, then `[DONE]`.
fn write_stream(stream: &mut TcpStream, body: &Value) -> std::io::Result<()> {
    let model = answering(body["model"].as_str().unwrap_or_default());
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let call = |delta: Value| json!({"tool_calls": [delta]});
    let mut events = if body["model"] == TOOL_MODEL {
        // A tool call in pieces: its id and name first, its arguments in two deltas.
        vec![
            chunk(json!({"role": "assistant", "content": null}), Value::Null),
            chunk(
                call(json!({"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}})),
                Value::Null,
            ),
            chunk(
                call(json!({"index": 0, "function": {"arguments": "{\"city\":"}})),
                Value::Null,
            ),
            chunk(
                call(json!({"index": 0, "function": {"arguments": "\"Paris\"}"}})),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
        ]
    } else {
        vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "Par"}), Value::Null),
            chunk(json!({"content": "is."}), Value::Null),
            chunk(json!({}), json!("stop")),
        ]
    };
    if body["stream_options"]["include_usage"] == json!(true) {
        events.push(
            json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
            "model": model, "choices": [], "usage": usage()}),
        );
    }
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    )?;
    for event in events {
        write!(stream, "data: {event}\n\n")?;
        stream.flush()?;
    }
    write!(stream, "data: [DONE]\n\n")?;
    stream.flush()
}

fn embeddings(body: &Value) -> Value {
    let count = body["input"].as_array().map_or(1, Vec::len);
    let data: Vec<Value> = (0..count)
        .map(|index| json!({"object": "embedding", "index": index, "embedding": [0.1, 0.2, 0.3]}))
        .collect();
    json!({"object": "list", "model": body["model"], "data": data,
        "usage": {"prompt_tokens": 6, "total_tokens": 6}})
}
