//! A stand-in for an OpenAI-compatible API on 127.0.0.1: chat completions (plain, streamed
//! as server-sent events like the real API, with a final usage chunk only when the request
//! asks for it), a tool call answer (then a text answer once the tool's result is sent),
//! the Responses API (`/v1/responses`, plain and streamed, its tool calls as function call
//! items), embeddings, and errors (429, 500; in a stream: an error event, a connection lost) chosen
//! by the model the request names. It keeps every request body it received. Bounded: it
//! serves at most `MAX_CONNECTIONS` connections, each for at most `MAX_REQUESTS` requests,
//! and holds a stream for at most `HOLD_AT_MOST`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

const MAX_CONNECTIONS: usize = 64;
const MAX_REQUESTS: usize = 32;

/// The model that answers with a tool call.
pub const TOOL_MODEL: &str = "tool-model";
/// The model that answers 429 (a rate limit; `Retry-After: 0`, so retries are quick).
pub const RATE_LIMITED_MODEL: &str = "rate-limited";
/// The model that answers 500.
pub const BROKEN_MODEL: &str = "broken";
/// The model whose stream stops after its first event until the test calls
/// [`FakeOpenAi::release`] (or `HOLD_AT_MOST` passed: then [`FakeOpenAi::held_too_long`]).
pub const HELD_STREAM_MODEL: &str = "held-stream";
/// The model whose stream sends a text chunk, then an error event (as the API does when it
/// fails mid-stream).
pub const ERROR_EVENT_MODEL: &str = "error-event";
/// The model whose stream is cut: a text chunk, then the connection closes before the body
/// it announced is whole.
pub const CUT_STREAM_MODEL: &str = "cut-stream";

/// How long a held stream waits for its release.
const HOLD_AT_MOST: Duration = Duration::from_secs(10);

/// Whether a held stream may go on, and whether one waited for that in vain.
#[derive(Default)]
struct Hold {
    released: Mutex<bool>,
    timed_out: Mutex<bool>,
    changed: Condvar,
}

impl Hold {
    fn wait(&self) {
        let released = self.released.lock().unwrap();
        let (_released, wait) = self
            .changed
            .wait_timeout_while(released, HOLD_AT_MOST, |released| !*released)
            .unwrap();
        if wait.timed_out() {
            *self.timed_out.lock().unwrap() = true;
        }
    }
}

pub struct FakeOpenAi {
    /// The API base: `http://127.0.0.1:<port>/v1`.
    pub api_base: String,
    /// `(path, body)` of every request received.
    pub requests: Arc<Mutex<Vec<(String, Value)>>>,
    hold: Arc<Hold>,
}

impl FakeOpenAi {
    pub fn start() -> FakeOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let api_base = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let hold = Arc::new(Hold::default());
        let (seen, held) = (requests.clone(), hold.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
                let (seen, held) = (seen.clone(), held.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen, &held);
                });
            }
        });
        FakeOpenAi {
            api_base,
            requests,
            hold,
        }
    }

    /// Lets a held stream ([`HELD_STREAM_MODEL`]) go on.
    pub fn release(&self) {
        *self.hold.released.lock().unwrap() = true;
        self.hold.changed.notify_all();
    }

    /// Whether a held stream waited `HOLD_AT_MOST` for its release, in vain.
    pub fn held_too_long(&self) -> bool {
        *self.hold.timed_out.lock().unwrap()
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

fn serve(
    mut stream: TcpStream,
    seen: &Mutex<Vec<(String, Value)>>,
    hold: &Hold,
) -> std::io::Result<()> {
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
        } else if path.ends_with("/responses") && body["stream"] == json!(true) {
            return write_response_stream(&mut stream, &response(&model, &body));
        } else if path.ends_with("/responses") {
            write_json(&mut stream, 200, "", &response(&model, &body))?;
        } else if body["stream"] == json!(true) {
            return write_stream(&mut stream, &body, hold);
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

/// The answer of the fake model (when it calls no tool), as a call records it.
pub fn recorded_answer() -> Value {
    json!({"role": "assistant", "content": "Paris."})
}

/// The usage of every answer of the fake model, as a call records it.
pub fn recorded_usage() -> monitor::TokenUsage {
    monitor::TokenUsage::new(20, 5)
        .with_cached_input(8)
        .with_reasoning(2)
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

/// Server-sent events as the API streams them: a role chunk, text chunks (a tool call in
/// pieces for the tool model, until the request sends the tool's result), a finish chunk,
/// the usage chunk when `stream_options.include_usage` asked for it, then `[DONE]`.
fn write_stream(stream: &mut TcpStream, body: &Value, hold: &Hold) -> std::io::Result<()> {
    let model = answering(body["model"].as_str().unwrap_or_default());
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let call = |delta: Value| json!({"tool_calls": [delta]});
    let mut events = if body["model"] == TOOL_MODEL && !answers_a_tool(body) {
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
    let asked = body["model"].as_str().unwrap_or_default();
    if asked == CUT_STREAM_MODEL {
        // A length the body never reaches: the client sees the connection lost.
        let first = format!("data: {}\n\n", events[1]);
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 100000\r\n\r\n{first}"
        )?;
        return stream.flush();
    }
    if asked == ERROR_EVENT_MODEL {
        let error =
            json!({"error": {"message": "the model is overloaded", "type": "server_error"}});
        events.truncate(2);
        events.push(error);
    }
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    )?;
    for (at, event) in events.iter().enumerate() {
        write!(stream, "data: {event}\n\n")?;
        stream.flush()?;
        if at == 0 && asked == HELD_STREAM_MODEL {
            hold.wait();
        }
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

/// A Responses API answer: a function call item (the tool model, until the input holds the
/// call's output), else a message item; the usage with its details.
fn response(model: &str, body: &Value) -> Value {
    let items = body["input"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let answered_a_tool = items
        .iter()
        .any(|item| item["type"] == "function_call_output");
    let output = if model == TOOL_MODEL && !answered_a_tool {
        json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
            "arguments": "{\"city\":\"Paris\"}", "status": "completed"})
    } else {
        json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": "Paris.", "annotations": []}]})
    };
    json!({"id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
        "model": answering(model), "output": [output], "error": null, "incomplete_details": null,
        "usage": {"input_tokens": 20, "input_tokens_details": {"cached_tokens": 8},
            "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 25}})
}

/// A response streamed as the API streams it: `response.created` (nothing answered yet),
/// the text in deltas, then `response.completed` with the whole response.
fn write_response_stream(stream: &mut TcpStream, done: &Value) -> std::io::Result<()> {
    let mut created = done.clone();
    created["status"] = json!("in_progress");
    created["output"] = json!([]);
    created.as_object_mut().unwrap().remove("usage");
    let delta = |at: u64, text: &str| {
        json!({"type": "response.output_text.delta", "sequence_number": at, "item_id": "msg_1",
            "output_index": 0, "content_index": 0, "delta": text})
    };
    let events = [
        json!({"type": "response.created", "sequence_number": 0, "response": created}),
        delta(1, "Par"),
        delta(2, "is."),
        json!({"type": "response.completed", "sequence_number": 3, "response": done}),
    ];
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    )?;
    for event in events {
        write!(
            stream,
            "event: {}\ndata: {event}\n\n",
            event["type"].as_str().unwrap()
        )?;
        stream.flush()?;
    }
    Ok(())
}
