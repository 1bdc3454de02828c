//! A tiny fault-injecting stand-in for an MLflow server: answers the few endpoints the
//! logger uses, after failing the first requests as told (5xx, hangs, dropped connections).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    Status(u16),
    /// This status with a `Retry-After: <seconds>` header.
    RetryAfter(u16, u32),
    Hang(Duration),
    Reset,
    /// Behaves, then closes the connection without answering (the request took effect but
    /// its answer was lost).
    DropAnswer,
    /// Behaves (a placeholder to put faults on later requests).
    Pass,
}

#[derive(Default)]
pub struct Seen {
    pub requests: Vec<(String, String, Option<String>)>, // method+path, body, authorization
    /// When each request arrived, in the order of `requests`.
    pub times: Vec<std::time::Instant>,
    pub metrics: Vec<(i64, f64)>,
    /// The `monitor.run_key` tags of the runs created.
    pub run_keys: Vec<String>,
}

impl FakeServer {
    /// The steps of the metric points received, sorted.
    pub fn steps(&self) -> Vec<i64> {
        let mut steps: Vec<i64> = self
            .seen
            .lock()
            .unwrap()
            .metrics
            .iter()
            .map(|(s, _)| *s)
            .collect();
        steps.sort_unstable();
        steps
    }

    /// How many requests went to an endpoint (`"POST /api/2.0/mlflow/runs/create"`).
    pub fn count(&self, request: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.requests
            .iter()
            .filter(|(r, _, _)| r.starts_with(request))
            .count()
    }
}

pub struct FakeServer {
    pub uri: String,
    pub seen: Arc<Mutex<Seen>>,
}

impl FakeServer {
    /// Fails the first requests with `faults`, in order, then behaves.
    pub fn start(faults: Vec<Fault>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let faults = Arc::new(Mutex::new(
            faults
                .into_iter()
                .collect::<std::collections::VecDeque<_>>(),
        ));
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, faults) = (s.clone(), faults.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &s, &faults);
                });
            }
        });
        FakeServer { uri, seen }
    }
}

fn serve(
    mut stream: TcpStream,
    seen: &Mutex<Seen>,
    faults: &Mutex<std::collections::VecDeque<Fault>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let (mut len, mut auth) = (0usize, None);
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap_or((h, ""));
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(v.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        {
            let mut s = seen.lock().unwrap();
            s.requests
                .push((format!("{method} {path}"), body.clone(), auth));
            s.times.push(std::time::Instant::now());
        }
        let fault = faults.lock().unwrap().pop_front();
        let mut extra = String::new();
        let (status, reply) = match fault {
            Some(Fault::RetryAfter(code, secs)) => {
                extra = format!("Retry-After: {secs}\r\n");
                (
                    code,
                    json!({"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}),
                )
            }
            Some(Fault::Hang(d)) => {
                std::thread::sleep(d);
                return Ok(());
            }
            Some(Fault::Reset) => return Ok(()),
            Some(Fault::DropAnswer) => {
                answer(&path, &body, seen);
                return Ok(());
            }
            Some(Fault::Status(code)) => (
                code,
                json!({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try later"}),
            ),
            None | Some(Fault::Pass) => answer(&path, &body, seen),
        };
        let text = reply.to_string();
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{text}",
            text.len()
        )?;
        stream.flush()?;
    }
}

fn fake_run() -> Value {
    json!({"run_id": "fake-run", "experiment_id": "1", "status": "RUNNING",
        "artifact_uri": "mlflow-artifacts:/1/fake-run/artifacts"})
}

fn answer(path: &str, body: &str, seen: &Mutex<Seen>) -> (u16, Value) {
    let path = path.split('?').next().unwrap_or_default();
    match path {
        "/api/2.0/mlflow/experiments/get-by-name" => (
            200,
            json!({"experiment": {"experiment_id": "1", "name": "x", "lifecycle_stage": "active"}}),
        ),
        "/api/2.0/mlflow/runs/create" => {
            let v: Value = serde_json::from_str(body).unwrap();
            let key = v["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["key"] == "monitor.run_key");
            if let Some(key) = key {
                seen.lock()
                    .unwrap()
                    .run_keys
                    .push(key["value"].as_str().unwrap().to_owned());
            }
            (200, json!({"run": {"info": fake_run()}}))
        }
        "/api/2.0/mlflow/runs/search" => {
            let v: Value = serde_json::from_str(body).unwrap();
            let filter = v["filter"].as_str().unwrap_or_default();
            let known = seen
                .lock()
                .unwrap()
                .run_keys
                .iter()
                .any(|k| filter.contains(k.as_str()));
            if known {
                (200, json!({"runs": [{"info": fake_run()}]}))
            } else {
                (200, json!({}))
            }
        }
        "/api/2.0/mlflow/runs/log-batch" => {
            let v: Value = serde_json::from_str(body).unwrap();
            let mut s = seen.lock().unwrap();
            for m in v["metrics"].as_array().unwrap() {
                s.metrics
                    .push((m["step"].as_i64().unwrap(), m["value"].as_f64().unwrap()));
            }
            (200, json!({}))
        }
        _ => (200, json!({})),
    }
}
