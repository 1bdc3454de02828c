//! Nothing lost, nothing sent twice, when processes or servers fail: a process killed with
//! `SIGKILL` during an outage or in the middle of a replay, a server that hangs, a spool on
//! a full disk, a server asking to wait (`Retry-After`). Counted through the REST API of a
//! real MLflow server where one is needed.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use monitor::mlflow::MlflowTracker;
use support::fake_server::{FakeServer, Fault};
use support::mlflow::{config, server_uri, spool_segments, unique, Rest};

/// The environment variable that tells a re-executed test binary which role to play.
const ROLE: &str = "MONITOR_TEST_DURABILITY_ROLE";

/// Re-runs this test binary as a child process running test `test` in role `role`.
fn child(test: &str, role: &str, args: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(ROLE, role)
        .stdout(Stdio::piped());
    for (k, v) in args {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn arg(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// Waits for the child to print `line`.
fn wait_for_line(child: &mut Child, line: &str) {
    let out = child.stdout.as_mut().unwrap();
    for l in BufReader::new(out).lines() {
        if l.unwrap().trim_end().ends_with(line) {
            return;
        }
    }
    panic!("the child ended without printing {line}");
}

/// An address where nothing listens: a server that is down.
fn down_uri() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// Logs metric `m` at steps `0..steps` (value = step) in run `run_name` of `experiment`.
fn log_steps(tracker: &MlflowTracker, experiment: &str, run_name: &str, steps: i64) {
    let run = tracker.start_in(experiment, run_name).unwrap();
    run.log_param("steps", steps).unwrap();
    for step in 0..steps {
        run.log_metric_at("m", step as f64, step).unwrap();
    }
    // The run stays open: the process is killed before it ends.
    std::mem::forget(run);
}

/// Exactly one run named `run_name`, whose metric `m` has every step of `0..steps` once.
fn assert_one_run_with_every_step_once(rest: &Rest, experiment: &str, run_name: &str, steps: i64) {
    let runs = rest.runs_named(experiment, run_name);
    assert_eq!(runs.len(), 1, "exactly one run named {run_name}");
    let id = runs[0]["info"]["run_id"].as_str().unwrap().to_owned();
    let history = rest.history(&id, "m");
    let lost = (0..steps)
        .filter(|s| history.binary_search_by_key(s, |(step, _)| *step).is_err())
        .count();
    let duplicated = history.len() as i64 - (steps - lost as i64);
    eprintln!(
        "{run_name}: {} points read back; lost {lost}, duplicated {duplicated}",
        history.len()
    );
    assert_eq!((lost, duplicated), (0, 0), "points lost and duplicated");
    assert!(history
        .iter()
        .enumerate()
        .all(|(i, (s, v))| *s == i as i64 && *v == i as f64));
    assert_eq!(
        Rest::kv(&rest.run(&id), "params", "steps").as_deref(),
        Some(steps.to_string().as_str())
    );
}

#[test]
fn a_process_killed_during_an_outage_loses_nothing_and_its_run_is_created_once() {
    const TEST: &str =
        "a_process_killed_during_an_outage_loses_nothing_and_its_run_is_created_once";
    const STEPS: i64 = 10_000;
    if std::env::var(ROLE).as_deref() == Ok("log") {
        let tracker =
            MlflowTracker::new(config(&arg("URI"), Path::new(&arg("SPOOL"))).max_retries(0))
                .unwrap();
        log_steps(&tracker, &arg("EXP"), &arg("RUN"), STEPS);
        println!("LOGGED");
        std::thread::sleep(Duration::from_secs(600));
        return;
    }
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let (exp, run_name) = (unique("durable"), unique("outage"));
    let mut logger = child(
        TEST,
        "log",
        &[
            ("URI", down_uri()),
            ("SPOOL", spool.path().display().to_string()),
            ("EXP", exp.clone()),
            ("RUN", run_name.clone()),
        ],
    );
    wait_for_line(&mut logger, "LOGGED");
    // The promise: whatever a log call accepted is on disk within about a second.
    std::thread::sleep(Duration::from_secs(1));
    logger.kill().unwrap(); // SIGKILL
    logger.wait().unwrap();

    // The next process, with the server up, delivers what the killed one left.
    let tracker = MlflowTracker::new(config(&uri, spool.path())).unwrap();
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.spooled, 0, "{report}");
    assert_one_run_with_every_step_once(&Rest::new(&uri), &exp, &run_name, STEPS);
    assert_eq!(spool_segments(spool.path()), 0);
}

#[test]
fn a_replay_killed_midway_resumes_where_it_stopped() {
    const TEST: &str = "a_replay_killed_midway_resumes_where_it_stopped";
    const STEPS: i64 = 30_000;
    match std::env::var(ROLE).as_deref() {
        Ok("log") => {
            let tracker =
                MlflowTracker::new(config(&arg("URI"), Path::new(&arg("SPOOL"))).max_retries(0))
                    .unwrap();
            log_steps(&tracker, &arg("EXP"), &arg("RUN"), STEPS);
            let report = tracker.flush();
            assert_eq!(report.in_memory, 0, "{report}");
            println!("LOGGED");
            std::thread::sleep(Duration::from_secs(600));
            return;
        }
        Ok("replay") => {
            let tracker =
                MlflowTracker::new(config(&arg("URI"), Path::new(&arg("SPOOL")))).unwrap();
            let _ = tracker.flush();
            std::thread::sleep(Duration::from_secs(600));
            return;
        }
        _ => {}
    }
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let (exp, run_name) = (unique("durable"), unique("replay"));
    let dir = spool.path().display().to_string();
    let mut logger = child(
        TEST,
        "log",
        &[
            ("URI", down_uri()),
            ("SPOOL", dir.clone()),
            ("EXP", exp.clone()),
            ("RUN", run_name.clone()),
        ],
    );
    wait_for_line(&mut logger, "LOGGED");
    logger.kill().unwrap();
    logger.wait().unwrap();

    // A second process replays the spool to the server and is killed midway.
    let mut replayer = child(
        TEST,
        "replay",
        &[
            ("URI", uri.clone()),
            ("SPOOL", dir),
            ("EXP", exp.clone()),
            ("RUN", run_name.clone()),
        ],
    );
    let rest = Rest::new(&uri);
    let deadline = Instant::now() + Duration::from_secs(120);
    let delivered_at_kill = loop {
        assert!(Instant::now() < deadline, "the replay did not start");
        let experiment_exists = rest
            .post(
                "/api/2.0/mlflow/experiments/search",
                &serde_json::json!({"filter": format!("name = '{exp}'"), "max_results": 1}),
            )
            .get("experiments")
            .is_some();
        let runs = if experiment_exists {
            rest.runs_named(&exp, &run_name)
        } else {
            Vec::new()
        };
        if let Some(id) = runs.first().and_then(|r| r["info"]["run_id"].as_str()) {
            let n = rest.history(id, "m").len();
            if n >= 2_000 {
                break n;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    replayer.kill().unwrap();
    replayer.wait().unwrap();
    eprintln!("killed the replay with {delivered_at_kill} of {STEPS} points delivered");
    assert!(
        (delivered_at_kill as i64) < STEPS,
        "the replay was killed midway ({delivered_at_kill} of {STEPS} points delivered)"
    );

    // A third process finishes the replay.
    let tracker = MlflowTracker::new(config(&uri, spool.path())).unwrap();
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
    assert_one_run_with_every_step_once(&rest, &exp, &run_name, STEPS);
    assert_eq!(spool_segments(spool.path()), 0);
}

#[test]
fn a_hanging_server_is_cut_off_by_the_request_timeout_and_records_wait_on_disk() {
    const TEST: &str =
        "a_hanging_server_is_cut_off_by_the_request_timeout_and_records_wait_on_disk";
    const STEPS: i64 = 3_000;
    if std::env::var(ROLE).as_deref() == Ok("log") {
        let cfg = config(&arg("URI"), Path::new(&arg("SPOOL")))
            .timeout(Duration::from_secs(1))
            .max_retries(1)
            .flush_timeout(Duration::from_secs(30));
        let tracker = MlflowTracker::new(cfg).unwrap();
        let run = tracker.start_in("exp", "hanging").unwrap();
        for step in 0..STEPS {
            run.log_metric_at("m", step as f64, step).unwrap();
        }
        drop(run);
        let report = tracker.shutdown();
        // Create + 3,000 points + end, all on disk, none claimed delivered.
        assert!(!report.is_complete(), "{report}");
        assert_eq!(
            (report.spooled, report.in_memory, report.delivered),
            (STEPS as u64 + 2, 0, 0),
            "{report}"
        );
        assert!(report.to_string().contains("waiting on disk"), "{report}");
        println!("REPORTED");
        return;
    }
    let hanging = FakeServer::start(vec![Fault::Hang(Duration::from_secs(300)); 50]);
    let spool = tempfile::tempdir().unwrap();
    let mut logger = child(
        TEST,
        "log",
        &[
            ("URI", hanging.uri.clone()),
            ("SPOOL", spool.path().display().to_string()),
        ],
    );
    wait_for_line(&mut logger, "REPORTED");
    assert!(logger.wait().unwrap().success());

    // The next process delivers every point exactly once.
    let server = FakeServer::start(vec![]);
    let tracker = MlflowTracker::new(config(&server.uri, spool.path())).unwrap();
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
    assert_eq!(
        server.steps(),
        (0..STEPS).collect::<Vec<_>>(),
        "each point once"
    );
    let seen = server.seen.lock().unwrap();
    assert!(seen
        .requests
        .iter()
        .any(|(r, b, _)| r.ends_with("/runs/update") && b.contains("FINISHED")));
}

/// A small tmpfs mounted for the test (unmounted when dropped), where the system allows it.
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount(bytes: usize) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyDisk { dir })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_is_reported_memory_stays_bounded_and_nothing_is_called_complete() {
    const STEPS: i64 = 20_000;
    const MEMORY: usize = 5_000;
    // A 64 KiB tmpfs fills after a few hundred records; without one (no permission to
    // mount), a spool "directory" that is a file refuses every write.
    let disk = TinyDisk::mount(64 * 1024);
    let fallback = tempfile::tempdir().unwrap();
    let spool = match &disk {
        Some(d) => d.dir.path().join("spool"),
        None => {
            let file = fallback.path().join("not-a-directory");
            std::fs::write(&file, b"").unwrap();
            file
        }
    };
    let cfg = config(&down_uri(), &spool)
        .max_retries(0)
        .max_in_memory(MEMORY);
    let tracker = MlflowTracker::new(cfg).unwrap();
    let run = tracker.start_in("exp", "full-disk").unwrap();
    for step in 0..STEPS {
        run.log_metric_at("m", step as f64, step).unwrap();
    }
    let report = tracker.flush();
    assert!(!report.is_complete(), "{report}");
    let error = report
        .spool_error
        .clone()
        .expect("the spool error is reported");
    assert!(report.to_string().contains(&error), "{report}");
    let total = STEPS as u64 + 1;
    assert!(report.dropped > 0, "{report}");
    assert!(
        report.in_memory <= MEMORY as u64 + 1,
        "memory is bounded: {report}"
    );
    assert_eq!(
        report.spooled + report.in_memory + report.dropped,
        total,
        "every record is on disk, in memory or counted as lost: {report}"
    );
    if disk.is_some() {
        assert!(error.contains("No space left"), "{error}");
        // What reached the disk is whole records only: a later replay sends no half line.
        for f in std::fs::read_dir(&spool).unwrap().flatten() {
            if f.path().extension().is_some_and(|e| e == "jsonl") {
                let text = std::fs::read_to_string(f.path()).unwrap();
                assert!(text.is_empty() || text.ends_with('\n'));
                for line in text.lines() {
                    serde_json::from_str::<serde_json::Value>(line).unwrap();
                }
            }
        }
    }
}

#[test]
fn retry_after_is_honoured() {
    let server = FakeServer::start(vec![Fault::RetryAfter(429, 2)]);
    let spool = tempfile::tempdir().unwrap();
    // Backoff alone would retry after 0 to 0.05 s.
    let tracker = MlflowTracker::new(config(&server.uri, spool.path())).unwrap();
    let run = tracker.start_in("exp", "throttled").unwrap();
    run.log_metric_at("m", 1.0, 0).unwrap();
    drop(run);
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
    let seen = server.seen.lock().unwrap();
    let waited = seen.times[1] - seen.times[0];
    assert!(
        waited >= Duration::from_secs(2),
        "the retry came {waited:?} after a Retry-After of 2 s"
    );
    assert_eq!(seen.metrics, vec![(0, 1.0)]);
}

#[test]
fn the_user_tag_falls_back_to_the_account_name() {
    const TEST: &str = "the_user_tag_falls_back_to_the_account_name";
    if std::env::var(ROLE).as_deref() == Ok("create") {
        let tracker = MlflowTracker::new(config(&arg("URI"), Path::new(&arg("SPOOL")))).unwrap();
        drop(tracker.start_in("exp", "who").unwrap());
        assert!(tracker.flush().is_complete());
        return;
    }
    let server = FakeServer::start(vec![]);
    let spool = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", TEST, "--nocapture"])
        .env(ROLE, "create")
        .env("URI", &server.uri)
        .env("SPOOL", spool.path());
    for var in [
        "USER",
        "LOGNAME",
        "LNAME",
        "USERNAME",
        "MLFLOW_TRACKING_USERNAME",
    ] {
        cmd.env_remove(var);
    }
    assert!(cmd.status().unwrap().success());
    let account = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned();
    let seen = server.seen.lock().unwrap();
    let (_, body, _) = seen
        .requests
        .iter()
        .find(|(r, _, _)| r.ends_with("/runs/create"))
        .expect("a run was created");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["user_id"], account.as_str());
    assert!(body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "mlflow.user" && t["value"] == account.as_str()));
}

#[test]
fn a_lost_create_answer_makes_no_second_run() {
    // Experiment lookup, run lookup, then a create that the server applies but whose
    // answer never arrives.
    let server = FakeServer::start(vec![Fault::Pass, Fault::Pass, Fault::DropAnswer]);
    let spool = tempfile::tempdir().unwrap();
    let tracker = MlflowTracker::new(config(&server.uri, spool.path())).unwrap();
    let run = tracker.start_in("exp", "once").unwrap();
    for step in 0..100 {
        run.log_metric_at("m", step as f64, step).unwrap();
    }
    assert_eq!(run.run_id().unwrap(), "fake-run");
    drop(run);
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
    assert_eq!(
        server.count("POST /api/2.0/mlflow/runs/create"),
        1,
        "no ghost run"
    );
    assert_eq!(server.steps(), (0..100).collect::<Vec<_>>());
}
