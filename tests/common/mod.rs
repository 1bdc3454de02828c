//! Helpers shared by the integration tests: run code against a fresh tracer of its own, so
//! tests running in parallel never see each other's records.

#![allow(dead_code)]

use std::future::Future;

use monitor::{with_tracer, ExecutionTracer, TraceEntry, WithTracerExt};

/// Runs `f` with a fresh tracer as the scoped default; returns its output and every entry
/// it recorded, oldest first.
pub fn traced<R>(f: impl FnOnce() -> R) -> (R, Vec<TraceEntry>) {
    let tracer = ExecutionTracer::new();
    let output = with_tracer(&tracer, f);
    (output, tracer.get_traces(None))
}

/// The async form of [`traced`].
pub async fn traced_async<F: Future>(future: F) -> (F::Output, Vec<TraceEntry>) {
    let tracer = ExecutionTracer::new();
    let output = future.with_tracer(&tracer).await;
    (output, tracer.get_traces(None))
}

/// The only entry.
pub fn only(entries: &[TraceEntry]) -> &TraceEntry {
    assert_eq!(entries.len(), 1, "expected one entry, got {entries:#?}");
    &entries[0]
}

/// The entry of `module` (exactly one).
pub fn entry<'a>(entries: &'a [TraceEntry], module: &str) -> &'a TraceEntry {
    let found: Vec<&TraceEntry> = entries.iter().filter(|e| e.module == module).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one entry of {module}, got {entries:#?}"
    );
    found[0]
}

/// The inputs of an entry as one JSON object.
pub fn inputs(entry: &TraceEntry) -> serde_json::Value {
    serde_json::Value::Object(entry.inputs.clone())
}

/// A current-thread runtime for async tests that do not need more.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// The environment variable that tells a test it runs as [`run_in_child`]'s child.
const CHILD_VAR: &str = "MONITOR_TEST_CHILD";

/// `true` in the child process started by [`run_in_child`] for the test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_VAR).as_deref() == Ok(name)
}

/// Runs the test `name` of this test binary again, alone, in a child process (for what
/// must start from a fresh process: the first call of a process, peak memory, panic
/// hooks), and returns what it printed and how it ended.
pub fn run_in_child(name: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().expect("test binary path"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, name)
        .output()
        .expect("run the test binary again")
}

/// Runs the test `name` in a child process (see [`run_in_child`]) and checks that it
/// printed `child finished` and exited successfully; prints what it printed.
pub fn check_in_child(name: &str) {
    let output = run_in_child(name);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("child finished"),
        "child failed: {output:?}"
    );
    println!("{stdout}");
}

/// Runs the test `name` in a child process as [`run_in_child`] does, with `env` set, and
/// checks that it printed `child finished` and exited successfully within `deadline`; a
/// child still running then (a deadlock) is killed and the test fails.
pub fn check_in_child_within(name: &str, env: &[(&str, &str)], deadline: std::time::Duration) {
    use std::io::Read;
    use std::process::Stdio;

    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary path"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, name)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test binary again");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let Some(status) = status else {
        panic!("child still running after {deadline:?} (deadlocked?), killed:\n{stdout}\n{stderr}");
    };
    assert!(
        status.success() && stdout.contains("child finished"),
        "child failed ({status}):\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

/// The peak resident memory of this process so far, in bytes (Linux: `VmHWM`).
pub fn peak_rss_bytes() -> u64 {
    proc_status_bytes("VmHWM:")
}

/// The resident memory of this process now, in bytes (Linux: `VmRSS`).
pub fn rss_bytes() -> u64 {
    proc_status_bytes("VmRSS:")
}

fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    kib * 1024
}
