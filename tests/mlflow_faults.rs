//! The server goes away, fails or hangs: the program goes on, and after `flush()` every
//! record is there.

mod support;

use std::time::Duration;

use monitor::mlflow::{MlflowAuth, MlflowTracker};
use support::fake_server::{FakeServer, Fault};
use support::mlflow::{config, spool_segments, unique, OwnServer, Rest};

#[test]
fn a_server_stopped_while_a_run_logs_gets_every_point_after_it_returns() {
    let Some(server) = OwnServer::start() else {
        return;
    };
    let spool = tempfile::tempdir().unwrap();
    let tracker = MlflowTracker::new(
        config(&server.uri, spool.path())
            .max_retries(2)
            .flush_timeout(Duration::from_secs(20)),
    )
    .unwrap();
    let run = tracker.start_in(&unique("faults"), "outage").unwrap();
    run.log_param("phase", "before").unwrap();
    for step in 0..200 {
        run.log_metric_at("loss", step as f64, step).unwrap();
    }
    let id = run.run_id().unwrap();
    assert!(run.flush().is_complete());

    server.stop();
    for step in 200..1200 {
        run.log_metric_at("loss", step as f64, step).unwrap();
    }
    run.set_tag("during", "outage").unwrap();
    run.log_param("epochs", 12).unwrap();
    let during = run.flush();
    assert!(
        !during.is_complete(),
        "nothing can be delivered while the server is down: {during}"
    );
    assert!(during.spooled > 0, "the records wait on disk: {during}");
    let handle = run.run().clone();
    drop(run); // the end of the run waits on disk too

    server.restart();
    let after = handle.flush();
    assert!(after.is_complete(), "{after}");
    let rest = Rest::new(&server.uri);
    let history = rest.history(&id, "loss");
    assert_eq!(history.len(), 1200);
    assert!(history
        .iter()
        .enumerate()
        .all(|(i, (s, v))| *s == i as i64 && *v == i as f64));
    let got = rest.run(&id);
    assert_eq!(Rest::kv(&got, "tags", "during").as_deref(), Some("outage"));
    assert_eq!(Rest::kv(&got, "params", "epochs").as_deref(), Some("12"));
    assert_eq!(got["info"]["status"], "FINISHED");
    assert_eq!(spool_segments(spool.path()), 0, "the spool is emptied");
}

#[test]
fn five_hundreds_resets_and_hangs_are_retried() {
    let faults = vec![
        Fault::Status(503),
        Fault::Reset,
        Fault::Status(500),
        Fault::Hang(Duration::from_millis(3000)),
        Fault::Status(429),
    ];
    let server = FakeServer::start(faults);
    let spool = tempfile::tempdir().unwrap();
    let cfg = config(&server.uri, spool.path())
        .max_retries(7)
        // Well past a slow answer on a loaded machine (a log-batch answered after the
        // timeout would be sent again: MLflow's batches are not idempotent), well short of
        // the hang.
        .timeout(Duration::from_millis(1500));
    let tracker = MlflowTracker::new(cfg).unwrap();
    log_steps_and_flush(&tracker, "flaky", 300);
    assert_eq!(
        server.steps(),
        (0..300).collect::<Vec<_>>(),
        "each point once"
    );
    let seen = server.seen.lock().unwrap();
    let gets = seen
        .requests
        .iter()
        .filter(|(r, _, _)| r.starts_with("GET /api/2.0/mlflow/experiments/get-by-name"))
        .count();
    assert!(gets >= 5, "each fault was retried: {gets} lookups");
}

#[test]
fn a_server_that_stays_down_keeps_records_on_disk_and_says_so() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spool = tempfile::tempdir().unwrap();
    let cfg = config(&format!("http://127.0.0.1:{port}"), spool.path()).max_retries(1);
    let tracker = MlflowTracker::new(cfg).unwrap();
    let run = tracker.start_in("exp", "never").unwrap();
    for step in 0..10 {
        run.log_metric_at("m", 1.0, step).unwrap();
    }
    drop(run);
    let report = tracker.shutdown();
    assert_eq!(report.in_memory, 0, "{report}");
    assert_eq!(report.spooled, 12, "create + 10 metrics + end: {report}");
    assert!(
        report.to_string().contains("12 waiting on disk"),
        "{report}"
    );
    let lines: usize = std::fs::read_dir(spool.path())
        .unwrap()
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "jsonl"))
        .map(|f| std::fs::read_to_string(f.path()).unwrap().lines().count())
        .sum();
    assert_eq!(lines, 12);
}

#[test]
fn a_server_that_stays_down_is_not_retried_in_a_busy_loop() {
    // A backoff factor of 0 (no wait between retries), and a server that resets every
    // connection at once: without a floor on the wait, thousands of attempts a second.
    let server = FakeServer::start(vec![Fault::Reset; 100_000]);
    let spool = tempfile::tempdir().unwrap();
    let cfg = config(&server.uri, spool.path())
        .backoff(0.0, 0.0)
        .max_retries(1)
        .flush_timeout(Duration::from_millis(200));
    let tracker = MlflowTracker::new(cfg).unwrap();
    let run = tracker.start_in("exp", "down").unwrap();
    run.log_metric("m", 1.0).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let attempts = server.seen.lock().unwrap().requests.len();
    // A few quick retries and probes, then at most one attempt per 100 ms.
    assert!((2..=40).contains(&attempts), "{attempts} attempts in 2 s");
    drop(run);
    let report = tracker.shutdown();
    assert!(report.spooled > 0, "{report}");
}

#[test]
fn credentials_go_in_headers_and_never_in_errors() {
    let server = FakeServer::start(vec![Fault::Status(500)]);
    let spool = tempfile::tempdir().unwrap();
    let cfg = config(&server.uri, spool.path())
        .max_retries(0)
        .auth(MlflowAuth::Basic {
            username: "alice".into(),
            password: "hunter2-secret".into(),
        });
    assert!(!format!("{cfg:?}").contains("hunter2"));
    let tracker = MlflowTracker::new(cfg).unwrap();
    let client = tracker.client().unwrap();
    let err = client.get_run("nope").unwrap_err();
    assert!(!format!("{err:?} {err}").contains("hunter2"), "{err}");
    let seen = server.seen.lock().unwrap();
    assert_eq!(
        seen.requests[0].2.as_deref(),
        Some("Basic YWxpY2U6aHVudGVyMi1zZWNyZXQ=")
    );
    drop(seen);

    let cfg = config(&server.uri, spool.path()).auth(MlflowAuth::Bearer("tok-123".into()));
    MlflowTracker::new(cfg)
        .unwrap()
        .client()
        .unwrap()
        .list_artifacts("x", "")
        .unwrap();
    let seen = server.seen.lock().unwrap();
    assert_eq!(
        seen.requests.last().unwrap().2.as_deref(),
        Some("Bearer tok-123")
    );
}

#[test]
fn records_past_the_memory_limit_wait_on_disk_and_all_arrive() {
    let server = FakeServer::start(vec![]);
    let spool = tempfile::tempdir().unwrap();
    let tracker = MlflowTracker::new(config(&server.uri, spool.path()).max_in_memory(100)).unwrap();
    log_steps_and_flush(&tracker, "bounded", 20_000);
    assert_eq!(
        server.steps(),
        (0..20_000).collect::<Vec<_>>(),
        "each point exactly once"
    );
}

/// Run as a child process: log to a server that is down, then exit. The records must wait in
/// the spool and be delivered by the next process that uses it.
#[test]
fn records_of_a_process_that_exited_are_delivered_by_the_next_one() {
    const CHILD: &str = "MONITOR_TEST_SPOOL_CHILD";
    if let Ok(args) = std::env::var(CHILD) {
        let (uri, spool) = args.split_once('|').unwrap();
        let tracker =
            MlflowTracker::new(config(uri, std::path::Path::new(spool)).max_retries(0)).unwrap();
        let run = tracker.start_in("exp", "orphan").unwrap();
        for step in 0..50 {
            run.log_metric_at("m", step as f64, step).unwrap();
        }
        drop(run);
        let report = tracker.shutdown();
        assert_eq!(report.spooled, 52, "{report}");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{port}");
    let spool = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "records_of_a_process_that_exited_are_delivered_by_the_next_one",
            "--nocapture",
        ])
        .env(CHILD, format!("{down}|{}", spool.path().display()))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(spool_segments(spool.path()), 1, "the child left its spool");

    // The next process (here: this one) uses the same spool, with the server up.
    let server = FakeServer::start(vec![]);
    let tracker = MlflowTracker::new(config(&server.uri, spool.path())).unwrap();
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
    let seen = server.seen.lock().unwrap();
    let mut steps: Vec<i64> = seen.metrics.iter().map(|(s, _)| *s).collect();
    steps.sort_unstable();
    assert_eq!(steps, (0..50).collect::<Vec<_>>());
    assert!(seen
        .requests
        .iter()
        .any(|(r, b, _)| r.ends_with("/runs/update") && b.contains("FINISHED")));
    assert_eq!(spool_segments(spool.path()), 0);
}

/// Logs metric `m` at steps `0..steps` in a new run, ends it, and flushes: every point
/// must be delivered.
fn log_steps_and_flush(tracker: &MlflowTracker, run_name: &str, steps: i64) {
    let run = tracker.start_in("exp", run_name).unwrap();
    for step in 0..steps {
        run.log_metric_at("m", step as f64, step).unwrap();
    }
    drop(run);
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
}
