//! A small OTLP/HTTP receiver for tests: decodes each `ExportTraceServiceRequest` (at
//! `/v1/traces`) and `ExportMetricsServiceRequest` (at `/v1/metrics`) with the
//! `opentelemetry-proto` types (protobuf or JSON, gzip or not), keeps them, and answers as
//! told (an error status first, or a hang).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub content_type: String,
    pub gzip: bool,
    pub headers: Vec<(String, String)>,
    pub request: ExportTraceServiceRequest,
    /// The body as sent (unzipped when it came gzipped).
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    metrics: Vec<ExportMetricsServiceRequest>,
    /// Phoenix annotation posts: the path (`/v1/span_annotations`, `/v1/trace_annotations`)
    /// and each annotation of the body's `data`.
    annotations: Vec<(String, serde_json::Value)>,
    /// Statuses to answer the next requests with, before answering 200.
    faults: Vec<u16>,
    /// The same, for the next annotation posts only.
    annotation_faults: Vec<u16>,
    hang: Option<Duration>,
}

pub struct OtlpReceiver {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl OtlpReceiver {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        OtlpReceiver { url, state }
    }

    /// Answers the next requests with these statuses, one each, then 200.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .faults
            .extend_from_slice(statuses);
    }

    /// Answers the next annotation posts with these statuses, one each, then 200.
    pub fn fail_next_annotations(&self, statuses: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .annotation_faults
            .extend_from_slice(statuses);
    }

    /// Waits this long before answering any request.
    pub fn hang(&self, delay: Duration) {
        self.state.lock().unwrap().hang = Some(delay);
    }

    /// The Phoenix annotations received, with the path each was posted to.
    pub fn annotations(&self) -> Vec<(String, serde_json::Value)> {
        self.state.lock().unwrap().annotations.clone()
    }

    /// The URL Phoenix's client would be given: this receiver's base.
    pub fn base_url(&self) -> String {
        self.url.trim_end_matches("/v1/traces").to_owned()
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Every metrics request received so far.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.state.lock().unwrap().metrics.clone()
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.received()
            .iter()
            .flat_map(|r| &r.request.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect()
    }

    /// Waits until at least `count` spans arrived, at most `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Span> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.len() >= count || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut headers = Vec::new();
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim().split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (hang, fault) = {
        let mut state = state.lock().unwrap();
        let faults = if path.ends_with("_annotations") && !state.annotation_faults.is_empty() {
            &mut state.annotation_faults
        } else {
            &mut state.faults
        };
        let fault = (!faults.is_empty()).then(|| faults.remove(0));
        (state.hang, fault)
    };
    if let Some(delay) = hang {
        std::thread::sleep(delay);
    }
    let mut stream = stream;
    if let Some(status) = fault {
        let _ = write!(
            stream,
            "HTTP/1.1 {status} Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        return;
    }
    let gzip = header("content-encoding") == "gzip";
    if gzip {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .unwrap();
        body = plain;
    }
    let content_type = header("content-type");
    if path.ends_with("_annotations") {
        let body: serde_json::Value = serde_json::from_slice(&body).expect("annotations JSON");
        let data = body["data"].as_array().cloned().unwrap_or_default();
        let mut state = state.lock().unwrap();
        state
            .annotations
            .extend(data.into_iter().map(|a| (path.clone(), a)));
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
        );
        return;
    }
    if path.ends_with("/v1/metrics") {
        let request = if content_type == "application/json" {
            serde_json::from_slice(&body).expect("OTLP/JSON metrics body")
        } else {
            ExportMetricsServiceRequest::decode(&body[..]).expect("OTLP protobuf metrics body")
        };
        state.lock().unwrap().metrics.push(request);
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        return;
    }
    let request = if content_type == "application/json" {
        serde_json::from_slice(&body).expect("OTLP/JSON body")
    } else {
        ExportTraceServiceRequest::decode(&body[..]).expect("OTLP protobuf body")
    };
    state.lock().unwrap().received.push(Received {
        content_type,
        gzip,
        headers,
        request,
        body,
    });
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

/// The value of attribute `key` as text (strings as they are, numbers printed).
pub fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => format!("int:{i}"),
        any_value::Value::DoubleValue(d) => format!("double:{d}"),
        any_value::Value::BoolValue(b) => format!("bool:{b}"),
        other => format!("{other:?}"),
    })
}

/// Lowercase hex of an id.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A collector that accepts connections and never answers (nor reads): every request to it
/// lasts its client's whole timeout.
pub struct HungCollector {
    pub url: String,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl HungCollector {
    /// Holds at most 256 connections open, the rest closed at once.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if held.len() < 256 {
                    held.push(stream);
                }
            }
        });
        HungCollector { url, accepted }
    }

    /// Waits until at least `count` connections were accepted, at most `timeout`.
    pub fn wait_for_connections(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.accepted.load(std::sync::atomic::Ordering::SeqCst) >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}
