//! Online judges: a scorer run after the call on a sampled fraction of a module's calls,
//! off the call's thread, with a bounded queue, a concurrency bound and a timeout. Its
//! result lands as feedback (entry, per-score metrics, Phoenix annotation); judges that
//! fail, panic, hang or fall behind are counted and never touch the call.

mod support;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use monitor::{ExecutionTracer, Judge, Score, SourceKind, TokenUsage, TraceEntry};

/// Long enough for any judge here on a loaded machine; `flush_judges` returns as soon as
/// the judges are done.
const GENEROUS: Duration = Duration::from_secs(30);

/// The environment variable that tells a re-executed test binary it is the child.
const CHILD: &str = "MONITOR_TEST_JUDGES_CHILD";

fn calls(tracer: &ExecutionTracer, module: &str, count: usize) {
    for i in 0..count {
        let mut call = tracer.trace(module, serde_json::json!({ "i": i }));
        call.set_outputs(i);
        call.finish();
    }
}

/// Runs the test `test` of this binary in a child process (it sees [`CHILD`] set) with
/// `env`, within a minute: its status, output and how long it ran.
fn run_child(test: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("the child did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    (status, out, elapsed)
}

fn length_judge(name: &'static str) -> Judge {
    Judge::new(name, move |call: &TraceEntry| {
        Score::new(
            name,
            call.outputs
                .as_ref()
                .map_or(0.0, |o| o.to_string().len() as f64),
        )
    })
}

#[test]
fn sampling_one_judges_every_call_and_zero_none() {
    let tracer = ExecutionTracer::new();
    tracer.add_judge("all", length_judge("len_all").sample(1.0));
    tracer.add_judge("none", length_judge("len_none").sample(0.0));
    calls(&tracer, "all", 200);
    calls(&tracer, "none", 200);

    let stats = tracer.flush_judges(GENEROUS);
    assert_eq!(
        (stats.sampled, stats.skipped, stats.judged, stats.pending),
        (200, 200, 200, 0),
        "{stats:?}"
    );
    assert_eq!(tracer.module_metrics("all").scores["len_all"].count, 200);
    assert!(!tracer
        .module_metrics("none")
        .scores
        .contains_key("len_none"));
    // Each result is on its own call, from the judge.
    for entry in tracer.get_traces(None) {
        let judged: Vec<_> = entry
            .scores
            .iter()
            .filter(|s| s.name == "len_all")
            .collect();
        if entry.module == "all" {
            assert_eq!(judged.len(), 1, "{entry:?}");
            let expected = entry.outputs.as_ref().unwrap().to_string().len() as f64;
            assert_eq!(judged[0].value.as_f64(), Some(expected));
            assert_eq!(judged[0].source.kind, SourceKind::LlmJudge);
            assert_eq!(judged[0].source.id.as_deref(), Some("len_all"));
        } else {
            assert!(judged.is_empty());
        }
    }
    assert_eq!(tracer.get_metrics().feedback.applied, 200);
}

#[test]
fn a_fraction_samples_whole_traces_within_a_binomial_bound() {
    let tracer = ExecutionTracer::with_max_traces(10_000);
    tracer.add_judge("outer", length_judge("outer_len").sample(0.25));
    tracer.add_judge("inner", length_judge("inner_len").sample(0.25));
    let traces = 2_000;
    for i in 0..traces {
        tracer.in_trace("outer", (), |outer| {
            let mut inner = outer.tracer().trace("inner", ());
            inner.set_outputs(i);
            inner.finish();
            outer.set_outputs(i);
        });
    }
    let stats = tracer.flush_judges(GENEROUS);
    assert_eq!(stats.sampled + stats.skipped, 2 * traces as u64);
    let outer = tracer
        .module_metrics("outer")
        .scores
        .get("outer_len")
        .map_or(0, |s| s.count);
    // Binomial(2000, 0.25): sd ~19.4; five of them.
    assert!((403..=597).contains(&outer), "{outer} of {traces}");
    // A trace is judged as a whole: its inner call exactly when its outer one.
    let entries = tracer.get_traces(None);
    let judged_traces = |score: &str| {
        let mut ids: Vec<_> = entries
            .iter()
            .filter(|e| e.scores.iter().any(|s| s.name == score))
            .map(|e| e.trace_id.clone())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(judged_traces("outer_len"), judged_traces("inner_len"));
    assert_eq!(judged_traces("outer_len").len() as u64, outer);
}

#[test]
fn the_judge_sees_the_finished_call() {
    let tracer = ExecutionTracer::new();
    let seen: Arc<Mutex<Vec<TraceEntry>>> = Arc::default();
    let keep = Arc::clone(&seen);
    tracer.add_judge(
        "answer",
        Judge::new("grounded", move |call: &TraceEntry| {
            keep.lock().unwrap().push(call.clone());
            Score::new("grounded", true)
        }),
    );
    let mut call = tracer.trace("answer", serde_json::json!({ "question": "why?" }));
    let ids = (call.trace_id(), call.span_id());
    call.set_outputs("because");
    call.set_model("gpt-test");
    call.set_token_usage(TokenUsage::new(12, 3));
    call.fail(&std::fmt::Error);
    call.finish();
    assert_eq!(tracer.flush_judges(GENEROUS).judged, 1);

    let seen = seen.lock().unwrap();
    let entry = &seen[0];
    assert_eq!((entry.trace_id.clone(), entry.span_id.clone()), ids);
    assert_eq!(entry.module, "answer");
    assert_eq!(entry.inputs["question"], "why?");
    assert_eq!(entry.outputs.as_ref().unwrap(), "because");
    assert!(entry.error.is_some());
    assert_eq!(entry.token_usage.unwrap().total_tokens, 15);
    assert!(
        entry.attributes.values().any(|v| v == "gpt-test"),
        "{entry:?}"
    );
    assert!(entry.duration_ns > 0);
}

#[test]
fn panicking_and_failing_judges_are_counted_and_never_touch_the_call() {
    let tracer = ExecutionTracer::new();
    tracer.add_judge(
        "answer",
        Judge::new("boom", |_: &TraceEntry| -> Result<Score, String> {
            panic!("judge exploded")
        }),
    );
    tracer.add_judge(
        "answer",
        Judge::new("refuses", |_: &TraceEntry| -> Result<Score, String> {
            Err("the model said no".to_owned())
        }),
    );
    tracer.add_judge(
        "answer",
        Judge::new("bad_score", |_: &TraceEntry| Score::new("nan", f64::NAN)),
    );
    let answer = tracer.in_trace("answer", (), |call| {
        call.set_outputs(42);
        42
    });
    assert_eq!(answer, 42);
    let stats = tracer.flush_judges(GENEROUS);
    assert_eq!(
        (stats.failed, stats.judged, stats.pending),
        (3, 0, 0),
        "{stats:?}"
    );
    let entry = &tracer.get_traces(None)[0];
    assert!(entry.status.is_success());
    assert!(entry.scores.is_empty(), "{entry:?}");
    assert!(stats.last_error.is_some());
}

/// A judge that never returns: counted as timed out, holds its one place, and the
/// program's exit waits at most the flush's bound. Run in a child process.
#[test]
fn a_judge_that_never_returns_times_out_and_exit_is_bounded() {
    if std::env::var_os(CHILD).is_some() {
        return hanging_judge_child();
    }
    let (status, out, _) = run_child(
        "a_judge_that_never_returns_times_out_and_exit_is_bounded",
        &[],
    );
    assert!(status.success(), "{out}");
    assert!(out.contains("timed_out=1 pending=1 dropped=0"), "{out}");
}

/// A judge that never returns.
fn hanging_judge() -> Judge {
    Judge::new("hangs", |_: &TraceEntry| -> Result<Score, String> {
        loop {
            std::thread::park();
        }
    })
}

fn hanging_judge_child() {
    let tracer = ExecutionTracer::new();
    tracer.add_judge(
        "answer",
        hanging_judge()
            .timeout(Duration::from_millis(200))
            .concurrency(1),
    );
    calls(&tracer, "answer", 2);
    // The first call times out; the second waits for the place the hung judge holds.
    let deadline = Instant::now() + GENEROUS;
    while tracer.judge_stats().timed_out == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let flushed_at = Instant::now();
    let stats = tracer.flush_judges(Duration::from_millis(300));
    let waited = flushed_at.elapsed();
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    println!(
        "timed_out={} pending={} dropped={}",
        stats.timed_out, stats.pending, stats.dropped
    );
    // Returning ends the process with the hung judge's thread still parked.
}

#[test]
fn a_full_queue_drops_and_counts_within_its_bound() {
    let tracer = ExecutionTracer::with_max_traces(2_000);
    let release = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let running = Arc::new(AtomicUsize::new(0));
    let (gate, started) = (Arc::clone(&release), Arc::clone(&running));
    tracer.add_judge(
        "answer",
        Judge::new("slow", move |_: &TraceEntry| {
            started.fetch_add(1, Ordering::SeqCst);
            let (open, wake) = &*gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = wake.wait(open).unwrap();
            }
            Score::new("slow", 1.0)
        })
        .queue(4)
        .concurrency(1),
    );
    calls(&tracer, "answer", 1_000);
    let stats = tracer.judge_stats();
    assert_eq!(stats.sampled, 1_000);
    // At most the queue, the one running, and one the judge's thread holds between them.
    assert!(stats.pending <= 6, "{stats:?}");
    assert!(stats.dropped >= 994, "{stats:?}");
    assert_eq!(stats.pending + stats.dropped, 1_000, "{stats:?}");

    *release.0.lock().unwrap() = true;
    release.1.notify_all();
    let stats = tracer.flush_judges(GENEROUS);
    assert_eq!(stats.judged + stats.dropped, 1_000, "{stats:?}");
    assert_eq!(stats.pending, 0);
    assert_eq!(
        tracer.module_metrics("answer").scores["slow"].count,
        stats.judged
    );
}

#[test]
fn the_environment_overrides_the_fraction_in_code() {
    if std::env::var_os(CHILD).is_some() {
        let tracer = ExecutionTracer::new();
        tracer.add_judge("env::never", length_judge("a").sample(1.0));
        tracer.add_judge("env_always", length_judge("b").sample(0.0));
        calls(&tracer, "env::never", 10);
        calls(&tracer, "env_always", 10);
        let stats = tracer.flush_judges(GENEROUS);
        println!("sampled={} skipped={}", stats.sampled, stats.skipped);
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_environment_overrides_the_fraction_in_code",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .env("MONITOR_JUDGE_SAMPLE", "1")
        .env("MONITOR_JUDGE_SAMPLE_ENV__NEVER", "0")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("sampled=10 skipped=10"), "{out}");
}

#[cfg(feature = "otlp")]
#[test]
fn a_judges_score_is_exported_once_as_an_llm_annotation() {
    let receiver = support::otlp_receiver::OtlpReceiver::start();
    let config = monitor::export::OtlpConfig::default()
        .phoenix(&receiver.base_url())
        .unwrap()
        .schedule_delay(Duration::from_millis(20))
        .timeout(Duration::from_secs(2));
    let exporter = monitor::export::init_otlp_with(config).unwrap().unwrap();

    let tracer = ExecutionTracer::new();
    tracer.add_judge(
        "answer",
        Judge::new("faithfulness", |_: &TraceEntry| {
            Ok::<_, monitor::Error>(Score::new("faithful", 0.9)?.with_rationale("cites the doc"))
        }),
    );
    let call = tracer.trace("answer", ());
    let span = call.span_id();
    call.finish();
    assert_eq!(tracer.flush_judges(GENEROUS).judged, 1);
    exporter.flush();

    let annotations = receiver.annotations();
    let faithful: Vec<_> = annotations
        .iter()
        .filter(|(_, a)| a["span_id"] == span.as_str() && a["name"] == "faithful")
        .collect();
    assert_eq!(faithful.len(), 1, "{annotations:#?}");
    assert_eq!(faithful[0].1["annotator_kind"], "LLM");
    assert_eq!(faithful[0].1["result"]["score"], 0.9);
    assert_eq!(faithful[0].1["result"]["explanation"], "cites the doc");
    drop(exporter);
}

#[test]
fn any_judge_name_is_taken_without_a_panic() {
    let tracer = ExecutionTracer::new();
    let name = "nul\0byte";
    tracer.add_judge(
        "answer",
        Judge::new(name, |_: &TraceEntry| Score::new("ok", true)),
    );
    calls(&tracer, "answer", 1);
    let stats = tracer.flush_judges(GENEROUS);
    assert_eq!((stats.judged, stats.failed), (1, 0), "{stats:?}");
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.scores[0].source.id.as_deref(), Some(name));
}

/// The variable naming the file a slow judge writes when it is done.
const MARKER: &str = "MONITOR_TEST_JUDGE_MARKER";

/// The variable that makes the slow judge's child use the global tracer.
const GLOBAL: &str = "MONITOR_TEST_JUDGE_GLOBAL";

/// At exit a pending judge is waited for (its work done), unless the wait is set to 0:
/// when the last handle of its tracer is dropped, and at the process's exit for a tracer
/// still alive (the global one).
#[test]
fn the_exit_waits_for_a_pending_judge_unless_told_not_to() {
    if std::env::var_os(CHILD).is_some() {
        return slow_judge_child();
    }
    let dir = tempfile::tempdir().unwrap();
    for (wait, global, judged) in [
        (None, false, true),
        (None, true, true),
        (Some("0"), false, false),
        (Some("0"), true, false),
    ] {
        let marker = dir.path().join(format!("judged-{wait:?}-{global}"));
        let marker_path = marker.to_str().unwrap();
        let mut env = vec![(MARKER, marker_path)];
        env.extend(wait.map(|ms| (monitor::JUDGE_EXIT_WAIT_VAR, ms)));
        if global {
            env.push((GLOBAL, "1"));
        }
        let (status, out, _) = run_child(
            "the_exit_waits_for_a_pending_judge_unless_told_not_to",
            &env,
        );
        assert!(status.success(), "{out}");
        assert!(out.contains("returning with 1 pending"), "{out}");
        assert_eq!(
            marker.exists(),
            judged,
            "wait {wait:?}, global {global}: {out}"
        );
    }
}

fn slow_judge_child() {
    let marker = std::env::var(MARKER).unwrap();
    let tracer = match std::env::var_os(GLOBAL) {
        Some(_) => monitor::global_tracer().clone(),
        None => ExecutionTracer::new(),
    };
    tracer.add_judge(
        "answer",
        Judge::new("slow", move |_: &TraceEntry| {
            std::thread::sleep(Duration::from_millis(500));
            std::fs::write(&marker, "judged").unwrap();
            Score::new("slow", true)
        }),
    );
    calls(&tracer, "answer", 1);
    let deadline = Instant::now() + GENEROUS;
    while tracer.judge_stats().sampled == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("returning with {} pending", tracer.judge_stats().pending);
}

/// A judge that never returns holds the exit no longer than the configured wait.
#[test]
fn the_exit_wait_for_a_hung_judge_is_bounded_by_its_setting() {
    if std::env::var_os(CHILD).is_some() {
        let tracer = ExecutionTracer::new();
        tracer.add_judge("answer", hanging_judge().timeout(Duration::from_secs(3600)));
        calls(&tracer, "answer", 1);
        println!("pending {}", tracer.judge_stats().pending);
        return;
    }
    for wait_ms in ["300", "3000"] {
        let (status, out, elapsed) = run_child(
            "the_exit_wait_for_a_hung_judge_is_bounded_by_its_setting",
            &[(monitor::JUDGE_EXIT_WAIT_VAR, wait_ms)],
        );
        assert!(status.success(), "{out}");
        assert!(out.contains("pending 1"), "{out}");
        let wait = Duration::from_millis(wait_ms.parse().unwrap());
        // It waited (at least the bound), and not much longer (the child's start-up and
        // a loaded machine's scheduling take the rest; the judge itself would take 1 h).
        assert!(elapsed >= wait, "{elapsed:?} < {wait:?}");
        assert!(elapsed < wait + Duration::from_secs(20), "{elapsed:?}");
    }
}
