//! Exports: a JSON document that round-trips through serde, JSON Lines, atomic writes.

use monitor::{
    export::{read_traces_jsonl, TraceExport, SCHEMA_VERSION},
    ExecutionTracer,
};
use serde_json::json;

fn tracer_with_calls(n: usize) -> ExecutionTracer {
    let tracer = ExecutionTracer::new();
    for i in 0..n {
        let mut guard = tracer.trace("step", json!({ "i": i, "text": "héllo \"quoted\"" }));
        guard.set_outputs(json!({ "ok": true, "values": [i, i + 1] }));
        guard.set_quality_score(i as f64 / 10.0);
        if i == 2 {
            guard.fail_with(monitor::ErrorInfo::new("demo", "third call fails"));
        }
    }
    tracer
}

#[test]
fn export_round_trips_through_serde() {
    let tracer = tracer_with_calls(5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.json");

    let written = tracer.export_traces(&path).unwrap();
    assert_eq!(written, 5);

    let export = TraceExport::read(&path).unwrap();
    assert_eq!(export.schema_version, SCHEMA_VERSION);
    assert_eq!(export.traces, tracer.get_traces(None));
    assert_eq!(export.metrics, tracer.get_metrics());

    // The document is plain JSON with the documented top-level keys.
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for key in [
        "schema_version",
        "exported_at_unix_nano",
        "metrics",
        "traces",
    ] {
        assert!(raw.get(key).is_some(), "missing {key}");
    }
    assert_eq!(raw["traces"][2]["status"], "error");
}

#[test]
fn an_unwritable_path_is_an_error_and_leaves_the_existing_file_intact() {
    let tracer = tracer_with_calls(3);
    let dir = tempfile::tempdir().unwrap();

    // A directory that does not exist.
    let missing = dir.path().join("no-such-dir").join("traces.json");
    let error = tracer.export_traces(&missing).unwrap_err();
    assert!(
        error.to_string().contains("cannot write traces to"),
        "{error}"
    );

    // A read-only directory holding an older export.
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let path = locked.join("traces.json");
    std::fs::write(&path, "previous export").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();

    let result = tracer.export_traces(&path);
    let content = std::fs::read_to_string(&path).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();

    // Root may write anywhere; then the export succeeds atomically instead.
    match result {
        Err(error) => {
            assert!(matches!(error, monitor::Error::Export { .. }), "{error}");
            assert_eq!(content, "previous export");
        }
        Ok(_) => assert!(content.starts_with('{')),
    }

    // A path that is a directory: rename cannot replace it.
    let as_dir = dir.path().join("taken");
    std::fs::create_dir(&as_dir).unwrap();
    std::fs::write(as_dir.join("keep.txt"), "kept").unwrap();
    assert!(tracer.export_traces(&as_dir).is_err());
    assert_eq!(
        std::fs::read_to_string(as_dir.join("keep.txt")).unwrap(),
        "kept"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".monitor-export-")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files are cleaned up");
}

#[test]
fn jsonl_export_writes_one_entry_per_line() {
    let tracer = tracer_with_calls(4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    assert_eq!(tracer.export_traces_jsonl(&path).unwrap(), 4);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert_eq!(read_traces_jsonl(&path).unwrap(), tracer.get_traces(None));
}

#[test]
fn periodic_dumps_append_and_free_memory_but_keep_metrics() {
    let tracer = tracer_with_calls(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.jsonl");

    assert_eq!(tracer.dump_traces_jsonl(&path).unwrap(), 3);
    assert!(tracer.is_empty());
    tracer.trace("later", ()).finish();
    assert_eq!(tracer.dump_traces_jsonl(&path).unwrap(), 1);

    let all = read_traces_jsonl(&path).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3].module, "later");
    assert_eq!(tracer.get_metrics().total_executions, 4);
}

#[test]
fn a_failed_dump_keeps_the_entries() {
    let tracer = tracer_with_calls(2);
    let dir = tempfile::tempdir().unwrap();
    assert!(
        tracer.dump_traces_jsonl(dir.path()).is_err(),
        "a directory cannot be appended to"
    );
    assert_eq!(tracer.len(), 2);
}

#[test]
fn exporting_100k_entries_works() {
    let tracer = ExecutionTracer::with_max_traces(100_000);
    for i in 0..100_000u64 {
        let mut guard = tracer.trace("bulk", ());
        guard.set_outputs(i);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bulk.json");
    assert_eq!(tracer.export_traces(&path).unwrap(), 100_000);
    assert_eq!(TraceExport::read(&path).unwrap().traces.len(), 100_000);
}

#[cfg(unix)]
#[test]
fn an_export_gets_the_permissions_of_an_ordinary_new_file() {
    use std::os::unix::fs::PermissionsExt;
    let tracer = tracer_with_calls(1);
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("traces.json");
    let ordinary = dir.path().join("ordinary.json");
    tracer.export_traces(&exported).unwrap();
    std::fs::File::create(&ordinary).unwrap();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&exported), mode(&ordinary));
}

#[cfg(unix)]
#[test]
fn an_export_through_a_symlink_replaces_the_file_it_points_to_not_the_link() {
    let tracer = tracer_with_calls(2);
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let real = shared.join("traces.json");
    std::fs::write(&real, "previous export").unwrap();
    let link = dir.path().join("latest.json");
    std::os::unix::fs::symlink("shared/traces.json", &link).unwrap();
    let dangling = dir.path().join("not-yet.json");
    std::os::unix::fs::symlink("shared/new.json", &dangling).unwrap();

    assert_eq!(tracer.export_traces(&link).unwrap(), 2);
    assert_eq!(tracer.export_traces_jsonl(&dangling).unwrap(), 2);

    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(TraceExport::read(&real).unwrap().traces.len(), 2);
    assert!(std::fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read_traces_jsonl(shared.join("new.json")).unwrap().len(), 2);
}

/// A device or a pipe (`/dev/stdout`, a FIFO a log shipper reads) is written in place:
/// renaming a file over it would replace the device itself, as root even `/dev/null`.
#[cfg(target_os = "linux")]
#[test]
fn an_export_to_a_pipe_is_written_into_the_pipe() {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    const O_NONBLOCK: i32 = 0o4000;

    let tracer = tracer_with_calls(3);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("traces.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Opened for reading first, without waiting for a writer, so the export's open of the
    // pipe does not block.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(&fifo)
        .unwrap();

    assert_eq!(tracer.export_traces_jsonl(&fifo).unwrap(), 3);

    let mut received = String::new();
    reader.read_to_string(&mut received).unwrap();
    assert_eq!(received.lines().count(), 3);
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn dumps_from_two_threads_at_once_write_each_entry_once() {
    let tracer = ExecutionTracer::with_max_traces(100_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.jsonl");
    let (rounds, per_round) = (3, 4_000);
    let mut written = 0;
    for round in 0..rounds {
        for i in round * per_round..(round + 1) * per_round {
            tracer.trace("step", json!({ "i": i })).set_outputs(i);
        }
        let both_ready = std::sync::Barrier::new(2);
        written += std::thread::scope(|s| {
            let dump = || {
                both_ready.wait();
                tracer.dump_traces_jsonl(&path).unwrap()
            };
            let first = s.spawn(dump);
            let second = s.spawn(dump);
            first.join().unwrap() + second.join().unwrap()
        });
    }

    let entries = read_traces_jsonl(&path).unwrap();
    assert_eq!(written, rounds * per_round);
    let mut seen: Vec<u64> = entries
        .iter()
        .map(|e| e.inputs["i"].as_u64().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..(rounds * per_round) as u64).collect::<Vec<_>>());
}
