//! A stand-in for an OpenAI-compatible chat-completions server on 127.0.0.1, for the dspy
//! example and tests: no network, no key. It answers every `POST /chat/completions` in
//! the format dspy-rs's `ChatAdapter` parses (`[[ ## field ## ]]` markers), with a
//! `usage` block that counts about one token per four characters.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

/// What one request asks: the system message, the last user message, and the output
/// fields the adapter wants, in order.
#[derive(Debug)]
pub struct Ask {
    pub system: String,
    pub user: String,
    pub fields: Vec<String>,
}

impl Ask {
    /// The value of input field `name` in the user message.
    pub fn input(&self, name: &str) -> Option<&str> {
        let start = self.user.find(&format!("[[ ## {name} ## ]]\n"))?;
        let rest = &self.user[start + name.len() + 11..];
        Some(rest.split("\n\n").next().unwrap_or(rest).trim())
    }
}

type Answer = dyn Fn(&Ask, &str) -> String + Send + Sync;

/// The running server; it stops with the process.
pub struct FakeLm {
    /// `http://127.0.0.1:<port>/v1`, the `base_url` for `LM::builder()`.
    pub base_url: String,
    requests: Arc<AtomicU64>,
}

impl FakeLm {
    /// Starts a server answering each field with `answer(ask, field)`.
    pub fn start(answer: impl Fn(&Ask, &str) -> String + Send + Sync + 'static) -> FakeLm {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicU64::new(0));
        let answer: Arc<Answer> = Arc::new(answer);
        let count = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (answer, count) = (answer.clone(), count.clone());
                std::thread::spawn(move || serve(stream, &*answer, &count));
            }
        });
        FakeLm { base_url, requests }
    }

    /// How many completions it answered.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The tokens the fake charges for `text`.
pub fn tokens_of(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

fn serve(stream: TcpStream, answer: &Answer, count: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    // Connections are kept alive: one request after another until the client closes.
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, reply) = if request_line.contains("/chat/completions") {
            count.fetch_add(1, Ordering::SeqCst);
            match serde_json::from_slice::<Value>(&body) {
                Ok(request) => ("200 OK", complete(&request, answer)),
                Err(e) => (
                    "400 Bad Request",
                    json!({ "error": { "message": e.to_string() } }),
                ),
            }
        } else {
            (
                "404 Not Found",
                json!({ "error": { "message": "not found" } }),
            )
        };
        let reply = reply.to_string();
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        );
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(reply.as_bytes()).is_err()
        {
            return;
        }
    }
}

/// The text of a message's content: a string, or an array of text parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn complete(request: &Value, answer: &Answer) -> Value {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let of_role = |role: &str| {
        messages
            .iter()
            .filter(|m| m["role"] == role)
            .map(|m| text_of(&m["content"]))
            .next_back()
            .unwrap_or_default()
    };
    let (system, user) = (of_role("system"), of_role("user"));
    // "Respond with the corresponding output fields, starting with the field `a`, then
    // `b`, and then ending with the marker for `completed`."
    let asked = user
        .rsplit("Respond with the corresponding output fields")
        .next()
        .unwrap_or("");
    let fields = asked
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|f| *f != "completed")
        .map(str::to_owned)
        .collect();
    let ask = Ask {
        system,
        user,
        fields,
    };
    let mut content = String::new();
    for field in &ask.fields {
        content.push_str(&format!("[[ ## {field} ## ]]\n{}\n\n", answer(&ask, field)));
    }
    content.push_str("[[ ## completed ## ]]\n");
    let prompt_tokens = messages
        .iter()
        .map(|m| tokens_of(&text_of(&m["content"])))
        .sum::<u64>();
    let completion_tokens = tokens_of(&content);
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    })
}
