//! The Prometheus view of the tracer's metrics: the exposition text agrees with
//! `get_metrics()`, parses (our parser and `promtool`), the `/metrics` listener answers and
//! refuses as documented, and a real Prometheus scraping `examples/metrics_server.rs` answers
//! PromQL for p95 latency and error ratio with the tracer's own numbers.
//!
//! Needs Debian's `prometheus` package (`./scripts/prometheus/install.sh`, which
//! `scripts/test.sh` runs and exports as `MONITOR_PROMETHEUS_BIN`); without it these tests
//! fail with the install command.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use monitor::export::{prometheus_text, serve_metrics};
use monitor::metrics::{DURATION_BUCKETS, QUALITY_BUCKETS, TOKEN_BUCKETS};
use monitor::{ErrorInfo, ExecutionTracer, ModuleMetrics, TokenUsage};
use serde_json::Value;

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/metrics_server.rs"]
mod example;

// ---------------------------------------------------------------------------------------
// A strict parser of the exposition lines we emit, so label values come back unescaped.

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn bad_line(number: usize, line: &str, why: &str) -> ! {
    panic!("line {}: {why}: {line:?}", number + 1)
}

fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("HELP"), Some(_), Some(_)) => {}
                (Some("TYPE"), Some(_), Some("counter" | "gauge" | "histogram")) => {}
                _ => bad_line(number, line, "unexpected comment"),
            }
            continue;
        }
        let mut chars = line.chars().peekable();
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            bad_line(number, line, "bad metric name");
        }
        let mut labels = BTreeMap::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                let mut key = String::new();
                while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    key.push(c);
                }
                if key.is_empty() || chars.next() != Some('=') || chars.next() != Some('"') {
                    bad_line(number, line, "bad label");
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            _ => bad_line(number, line, "bad escape"),
                        },
                        Some('\n') | None => bad_line(number, line, "unterminated label value"),
                        Some(c) => value.push(c),
                    }
                }
                if labels.insert(key, value).is_some() {
                    bad_line(number, line, "duplicate label");
                }
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    _ => bad_line(number, line, "bad label list"),
                }
            }
        }
        if chars.next() != Some(' ') {
            bad_line(number, line, "no space before the value");
        }
        let rest: String = chars.collect();
        let value = match rest.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            other => other
                .parse()
                .unwrap_or_else(|_| bad_line(number, line, "bad value")),
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

/// The value of the one sample named `name` with exactly these labels.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name && s.labels == want)
        .collect();
    assert_eq!(found.len(), 1, "{name}{labels:?}: {found:?}");
    found[0].value
}

/// The cumulative `(le, count)` pairs of a histogram series, in order, `+Inf` last.
fn buckets(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let bucket_name = format!("{name}_bucket");
    samples
        .iter()
        .filter(|s| {
            s.name == bucket_name
                && s.labels.len() == labels.len() + 1
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .map(|s| {
            let le = &s.labels["le"];
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, s.value)
        })
        .collect()
}

/// Checks a histogram series is well formed (bounds as given, counts cumulative, `+Inf` =
/// `_count`) and returns its buckets.
fn histogram(
    samples: &[Sample],
    name: &str,
    labels: &[(&str, &str)],
    bounds: &[f64],
    count: u64,
    sum: f64,
) -> Vec<(f64, f64)> {
    let series = buckets(samples, name, labels);
    let les: Vec<f64> = series.iter().map(|(le, _)| *le).collect();
    let mut expected_les = bounds.to_vec();
    expected_les.push(f64::INFINITY);
    assert_eq!(les, expected_les, "{name}{labels:?} bounds");
    assert!(
        series.windows(2).all(|w| w[0].1 <= w[1].1),
        "{name}{labels:?} not cumulative: {series:?}"
    );
    assert_eq!(
        series.last().unwrap().1,
        count as f64,
        "{name}{labels:?} +Inf"
    );
    assert_eq!(
        value(samples, &format!("{name}_count"), labels),
        count as f64,
        "{name}{labels:?} _count"
    );
    let got_sum = value(samples, &format!("{name}_sum"), labels);
    assert!(
        (got_sum - sum).abs() <= 1e-9 * sum.abs().max(1.0),
        "{name}{labels:?} _sum {got_sum} vs {sum}"
    );
    series
}

// ---------------------------------------------------------------------------------------
// Prometheus, from Debian's package.

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// The `prometheus` binary: `MONITOR_PROMETHEUS_BIN` (set by `scripts/test.sh`), else the
/// one on PATH. Missing, the test fails (in CI and locally) saying how to install it.
fn prometheus_bin() -> PathBuf {
    match std::env::var_os("MONITOR_PROMETHEUS_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => on_path("prometheus").unwrap_or_else(|| {
            panic!(
                "Prometheus is not installed: run `./scripts/prometheus/install.sh` (Debian's \
                 prometheus package; `./scripts/test.sh` does this) or set MONITOR_PROMETHEUS_BIN"
            )
        }),
    }
}

/// `promtool`, which comes with the same package.
fn promtool_bin() -> PathBuf {
    let beside = prometheus_bin().with_file_name("promtool");
    if beside.is_file() {
        return beside;
    }
    on_path("promtool").unwrap_or_else(|| {
        panic!("promtool is not installed: run `./scripts/prometheus/install.sh`")
    })
}

fn server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/prometheus/server.sh")
}

/// A Prometheus started by `scripts/prometheus/server.sh`, stopped when dropped (also when
/// an assertion fails).
struct Prometheus {
    dir: tempfile::TempDir,
    url: String,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(server_script())
            .arg("start")
            .arg(dir.path())
            .arg(target.to_string())
            .env("MONITOR_PROMETHEUS_BIN", prometheus_bin())
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/prometheus/server.sh");
        let prometheus = Prometheus {
            url: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
            dir,
        };
        assert!(out.status.success(), "prometheus did not start");
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new(server_script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// `GET /api/v1/query`: the instant vector as `module -> value`.
fn query(
    client: &reqwest::blocking::Client,
    prometheus: &str,
    promql: &str,
) -> BTreeMap<String, f64> {
    let response = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .and_then(|response| response.text());
    let Ok(body) = response else {
        return BTreeMap::new();
    };
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_ne!(body["status"], "error", "{promql}: {body}");
    body["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|series| {
            let module = series["metric"]["module"].as_str().unwrap_or("").to_owned();
            let value = series["value"][1].as_str().unwrap().parse().unwrap();
            (module, value)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// HTTP by hand, to send what a client library would not.

fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

fn status_of(response: &str) -> &str {
    response.get(9..12).unwrap_or("")
}

// ---------------------------------------------------------------------------------------

/// A tracer with every kind of series: errors and a panic, tokens of many sizes, quality
/// scores (some outside 0..1), validation errors, and a module name that needs escaping.
fn varied_tracer() -> (ExecutionTracer, &'static str, Vec<(u64, u64)>, Vec<f64>) {
    const WEIRD: &str = "weird \"module\"\\ name\nwith {braces}, = and ünïcode";
    let tracer = ExecutionTracer::new();
    for i in 0..12 {
        let mut call = tracer.trace("retrieve", ());
        std::thread::sleep(Duration::from_micros(50 * i));
        if i % 3 == 0 {
            call.fail_with(ErrorInfo::new("Timeout", "retrieval timed out"));
        }
    }
    let tokens = vec![
        (0, 0),
        (1, 1),
        (2, 3),
        (4, 5),
        (16, 17),
        (1000, 64),
        (1024, 1025),
        (70_000_000, 2),
    ];
    let scores = vec![0.0, 0.1, 0.15, 0.5, 0.95, 1.0, 1.5, -0.2];
    for (i, ((input, output), score)) in tokens.iter().zip(&scores).enumerate() {
        let mut call = tracer.trace("generate", ());
        call.set_token_usage(TokenUsage::new(*input, *output));
        call.set_quality_score(*score);
        for _ in 0..i % 3 {
            call.add_validation_error("answer too long");
        }
    }
    for millis in [1, 3, 12] {
        let _call = tracer.trace(WEIRD, ());
        std::thread::sleep(Duration::from_millis(millis));
    }
    let panicked = std::panic::catch_unwind(|| {
        let _call = tracer.trace("judge", ());
        panic!("judge broke");
    });
    assert!(panicked.is_err());
    (tracer, WEIRD, tokens, scores)
}

#[test]
fn the_text_agrees_with_get_metrics_exactly() {
    let (tracer, weird, tokens, scores) = varied_tracer();
    let text = prometheus_text(&tracer);
    let samples = parse(&text);
    let metrics = tracer.get_metrics();
    let entries = tracer.get_traces(None);
    assert_eq!(metrics.modules.len(), 4);
    assert!(metrics.modules.contains_key(weird));

    for (name, module) in &metrics.modules {
        let m = name.as_str();
        let calls = |status| {
            value(
                &samples,
                "monitor_calls_total",
                &[("module", m), ("status", status)],
            )
        };
        assert_eq!(calls("success"), module.successful_executions as f64, "{m}");
        assert_eq!(calls("error"), module.error_count as f64, "{m}");
        assert_eq!(calls("panic"), module.panic_count as f64, "{m}");
        assert_eq!(calls("cancelled"), module.cancelled_count as f64, "{m}");
        assert_eq!(
            value(
                &samples,
                "monitor_validation_errors_total",
                &[("module", m)]
            ),
            module.validation_error_count as f64
        );

        // Durations: well formed, and each cumulative count within the documented bound
        // of the exact count from the entries: a call is misplaced only when it took within
        // 1/64 of the bound.
        let series = histogram(
            &samples,
            "gen_ai_client_operation_duration_seconds",
            &[("module", m)],
            &DURATION_BUCKETS,
            module.total_executions,
            module.avg_duration_ms * module.total_executions as f64 / 1e3,
        );
        let durations: Vec<f64> = entries
            .iter()
            .filter(|e| e.module == *name)
            .map(|e| e.duration_ns as f64 / 1e9)
            .collect();
        assert_eq!(durations.len() as u64, module.total_executions);
        for (le, cumulative) in &series[..series.len() - 1] {
            let at_most = durations
                .iter()
                .filter(|&&d| d <= le * (1.0 - 1.0 / 64.0))
                .count();
            let below = durations
                .iter()
                .filter(|&&d| d < le * (1.0 + 1.0 / 64.0))
                .count();
            assert!(
                at_most as f64 <= *cumulative && *cumulative <= below as f64,
                "{m} le={le}: {cumulative} not in [{at_most}, {below}]"
            );
        }
    }

    // Tokens and quality: exact, per call.
    let generate = metrics.module("generate");
    for (kind, pick) in [("input", 0), ("output", 1)] {
        let values: Vec<u64> = tokens
            .iter()
            .map(|t| if pick == 0 { t.0 } else { t.1 })
            .collect();
        let series = histogram(
            &samples,
            "gen_ai_client_token_usage",
            &[("module", "generate"), ("gen_ai_token_type", kind)],
            &TOKEN_BUCKETS.map(|b| b as f64),
            tokens.len() as u64,
            values.iter().sum::<u64>() as f64,
        );
        for (le, cumulative) in series {
            let exact = values.iter().filter(|&&v| v as f64 <= le).count();
            assert_eq!(cumulative, exact as f64, "{kind} le={le}");
        }
    }
    assert_eq!(
        value(
            &samples,
            "gen_ai_client_token_usage_sum",
            &[("module", "generate"), ("gen_ai_token_type", "input")]
        ),
        generate.token_usage.input_tokens as f64
    );
    let series = histogram(
        &samples,
        "monitor_quality_score",
        &[("module", "generate")],
        &QUALITY_BUCKETS,
        generate.quality_count,
        scores.iter().sum(),
    );
    for (le, cumulative) in series {
        let exact = scores.iter().filter(|&&s| s <= le).count();
        assert_eq!(cumulative, exact as f64, "quality le={le}");
    }
    // Modules without tokens or scores have no such series.
    assert!(buckets(&samples, "monitor_quality_score", &[("module", "retrieve")]).is_empty());
    assert!(!text.contains("gen_ai_token_type=\"input\",module=\"retrieve\""));
    assert!(text.contains(&format!(
        "monitor_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));

    // The method says the same.
    assert_eq!(tracer.prometheus_text(), text);
}

#[test]
fn an_empty_tracer_exposes_only_build_info() {
    let samples = parse(&prometheus_text(&ExecutionTracer::new()));
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(samples[0].name, "monitor_build_info");
}

#[test]
fn the_text_can_be_made_in_a_thread_local_destructor() {
    use std::cell::RefCell;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Option<(u64, String)>>>;
    struct AtExit(ExecutionTracer, Seen);
    impl Drop for AtExit {
        fn drop(&mut self) {
            let total = self.0.get_metrics().total_executions;
            *self.1.lock().unwrap() = Some((total, prometheus_text(&self.0)));
        }
    }
    thread_local!(static AT_EXIT: RefCell<Option<AtExit>> = const { RefCell::new(None) });

    let tracer = ExecutionTracer::new();
    tracer.trace("retrieve", ()).finish();
    let seen = Seen::default();
    let (for_thread, seen_in_thread) = (tracer.clone(), Arc::clone(&seen));
    std::thread::spawn(move || {
        // Registered first, so destroyed after every other thread-local of this thread,
        // the record path's included (destructors run last-registered first).
        AT_EXIT.with(|at_exit| {
            *at_exit.borrow_mut() = Some(AtExit(for_thread.clone(), seen_in_thread))
        });
        assert!(prometheus_text(&for_thread).contains("module=\"retrieve\""));
    })
    .join()
    .unwrap();
    let (total, text) = seen.lock().unwrap().take().expect("the destructor ran");
    assert_eq!(total, 1);
    assert!(text.contains("monitor_build_info"), "{text}");
}

#[test]
fn promtool_accepts_the_text() {
    let (tracer, ..) = varied_tracer();
    let mut child = Command::new(promtool_bin())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(prometheus_text(&tracer).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_listener_answers_get_metrics_and_refuses_the_rest() {
    let (tracer, ..) = varied_tracer();
    let server = serve_metrics("127.0.0.1:0", &tracer).unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());

    let response = exchange(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert_eq!(status_of(head), "200", "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
    assert!(head.contains("\r\nConnection: close"));
    assert_eq!(body, prometheus_text(&tracer));

    let head_only = exchange(addr, b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert_eq!(status_of(&head_only), "200");
    assert!(head_only.ends_with("\r\n\r\n"), "HEAD has no body");

    for (request, status) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], "404"),
        (b"GET /metrics/ HTTP/1.1\r\n\r\n", "404"),
        (
            b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "405",
        ),
        (b"GET /metrics\r\n\r\n", "400"),
        (b"\x00\xff\xfe garbage \x01\n\n", "400"),
        (b"GET /metrics HTTP/2.0\r\n\r\n", "400"),
    ] {
        assert_eq!(status_of(&exchange(addr, request)), status, "{request:?}");
    }
    // A head past 8 KiB is refused without reading it all.
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 20_000));
    huge.extend(b"\r\n\r\n");
    assert_eq!(status_of(&exchange(addr, &huge)), "431");
    // A client that connects and says nothing is let go after the read deadline, and a
    // client that hangs up at once changes nothing.
    let silent = TcpStream::connect(addr).unwrap();
    drop(TcpStream::connect(addr).unwrap());
    let started = Instant::now();
    assert_eq!(
        status_of(&exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n")),
        "200"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(silent);

    // Dropping the server closes the port.
    drop(server);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

/// The bucket of `DURATION_BUCKETS` that holds a duration of `ms` milliseconds: `(lower,
/// upper)` bounds in seconds, `lower` 0 for the first; above the last bound, Prometheus
/// answers the last bound. Compared in whole nanoseconds, as the exposition counts.
fn fixed_bucket(ms: f64) -> (f64, f64) {
    let nanos = (ms * 1e6).round() as u64;
    let bound_ns = |seconds: f64| (seconds * 1e9).round() as u64;
    match DURATION_BUCKETS
        .iter()
        .position(|&bound| nanos <= bound_ns(bound))
    {
        Some(0) => (0.0, DURATION_BUCKETS[0]),
        Some(i) => (DURATION_BUCKETS[i - 1], DURATION_BUCKETS[i]),
        None => (DURATION_BUCKETS[22], DURATION_BUCKETS[22]),
    }
}

#[test]
fn a_real_prometheus_scrapes_the_example_and_promql_agrees_with_the_tracer() {
    prometheus_bin();
    let tracer = ExecutionTracer::new();
    let server = example::serve("127.0.0.1:0", &tracer).unwrap();

    // Known latencies: retrieval 2 ms; generation 12 ms, one call in ten 60 ms (so its p95
    // is a slow call); a quarter of the requests find no document and fail.
    for i in 0..40 {
        let request = example::Request {
            question: format!("question {i}"),
            retrieve: Duration::from_millis(2),
            generate: Duration::from_millis(if i % 10 == 9 { 60 } else { 12 }),
            documents: if i % 4 == 0 { 0 } else { 2 },
        };
        let _ = example::handle(&tracer, &request);
    }
    let modules: BTreeMap<String, ModuleMetrics> = ["retrieve", "generate", "answer"]
        .into_iter()
        .map(|name| (name.to_owned(), tracer.module_metrics(name)))
        .collect();
    assert!(modules["retrieve"].p95_duration_ms >= 2.0);
    assert!(modules["generate"].p95_duration_ms >= 60.0);
    assert_eq!(modules["generate"].error_count, 10);

    let prometheus = Prometheus::start(server.local_addr());
    let started = Instant::now();
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let p95_query =
        "histogram_quantile(0.95, sum by (le, module) (gen_ai_client_operation_duration_seconds_bucket))";
    let p95 = loop {
        let p95 = query(&client, &prometheus.url, p95_query);
        if modules.keys().all(|name| p95.contains_key(name)) {
            break p95;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prometheus at {} had no data from {} after 60 s (got {p95:?}); its log:\n{}",
            prometheus.url,
            server.local_addr(),
            prometheus.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "first query with data {:.1} s after starting Prometheus",
        started.elapsed().as_secs_f64()
    );
    let error_ratio = query(
        &client,
        &prometheus.url,
        r#"sum by (module) (monitor_calls_total{status="error"}) / sum by (module) (monitor_calls_total)"#,
    );
    let calls = query(
        &client,
        &prometheus.url,
        "sum by (module) (monitor_calls_total)",
    );
    let input_tokens = query(
        &client,
        &prometheus.url,
        r#"sum by (module) (gen_ai_client_token_usage_sum{gen_ai_token_type="input"})"#,
    );
    let quality = query(
        &client,
        &prometheus.url,
        "sum by (module) (monitor_quality_score_sum) / sum by (module) (monitor_quality_score_count)",
    );

    for (name, module) in &modules {
        // The bound: the exposition counts each call at the same representative duration
        // the tracer's percentiles use (see `prometheus_text`), so the tracer's p95 and the
        // bucket where `histogram_quantile` finds the 95th percentile are the same fixed
        // bucket; Prometheus then interpolates linearly inside it. So PromQL's p95 lies in
        // the fixed bucket holding the tracer's p95: within one bucket width (the buckets
        // here double, so within a factor of 2), and never in a neighbouring bucket.
        let tracer_p95 = module.p95_duration_ms / 1e3;
        let (lower, upper) = fixed_bucket(module.p95_duration_ms);
        let promql_p95 = p95[name];
        assert!(
            lower - 1e-12 <= promql_p95 && promql_p95 <= upper + 1e-12,
            "{name}: PromQL p95 {promql_p95} s, tracer p95 {tracer_p95} s, bucket ({lower}, {upper}]"
        );
        eprintln!("{name}: p95 tracer {tracer_p95:.6} s, PromQL {promql_p95:.6} s, bucket ({lower}, {upper}]");

        let ratio = module.error_count as f64 / module.total_executions as f64;
        assert!(
            (error_ratio[name] - ratio).abs() < 1e-12,
            "{name}: error ratio {} vs {ratio}",
            error_ratio[name]
        );
        assert_eq!(calls[name], module.total_executions as f64, "{name}: calls");
    }
    let generate = &modules["generate"];
    assert_eq!(
        input_tokens["generate"],
        generate.token_usage.input_tokens as f64
    );
    let avg_quality = generate.avg_quality_score.unwrap();
    assert!(
        (quality["generate"] - avg_quality).abs() < 1e-9,
        "quality {} vs {avg_quality}",
        quality["generate"]
    );
    drop(prometheus);
    drop(server);
}

#[test]
fn idle_and_slow_clients_never_hold_up_a_scrape() {
    const CHILD: &str = "idle_and_slow_clients_never_hold_up_a_scrape";
    if !common::is_child(CHILD) {
        return common::check_in_child(CHILD);
    }
    // Thousands of modules (in a process of its own: module names are per process) make
    // an exposition larger than the socket buffers, so a client that does not read holds
    // its answer half-written.
    let tracer = ExecutionTracer::new();
    for module in 0..2_000 {
        tracer.trace(&format!("module_{module}"), ()).finish();
    }
    let server = serve_metrics("127.0.0.1:0", &tracer).unwrap();
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let mut scrape = TcpStream::connect(addr).unwrap();
    scrape
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    scrape.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut response = Vec::new();
    let _ = scrape.read_to_end(&mut response);
    let took = started.elapsed();
    let response = String::from_utf8_lossy(&response);
    println!("{} bytes answered in {took:?}", response.len());
    assert_eq!(status_of(&response), "200");
    assert!(took < Duration::from_secs(2), "answered in {took:?}");

    // Dropped while a slow client is in the middle of its answer.
    let mut slower = TcpStream::connect(addr).unwrap();
    slower.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (dropped, done) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        drop(server);
        let _ = dropped.send(());
    });
    assert!(
        done.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the drop did not return"
    );
    let took = started.elapsed();
    println!("dropped in {took:?}");
    assert!(took < Duration::from_secs(1), "dropped in {took:?}");
    drop((idle, slow, slower));
    println!("child finished");
}
