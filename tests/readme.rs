//! The README's export sample is real output of the quickstart, so it cannot drift from what
//! `export_traces` writes. `MONITOR_BLESS=1 cargo test --test readme` rewrites it from a
//! fresh run.

use std::path::Path;

use monitor::export::TraceExport;
use monitor::{ExecutionTracer, Status, TraceEntry};
use serde::Serialize;
use serde_json::{json, Value};

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/quickstart.rs"]
mod quickstart;

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
const START: &str = "<!-- export sample: written by tests/readme.rs";
const FENCE_OPEN: &str = "```json\n";
const FENCE_CLOSE: &str = "```\n";

/// What the README shows of an export: the document's header, the first metrics, and two
/// entries (a failed call and a scored one), fields in the order `export_traces` writes them.
fn sample_of(export: &TraceExport) -> String {
    #[derive(Serialize)]
    struct Metrics {
        total_executions: u64,
        successful_executions: u64,
        failed_executions: u64,
        success_rate: f64,
        #[serde(rename = "...")]
        more: &'static str,
    }
    #[derive(Serialize)]
    struct Sample {
        schema_version: u32,
        exported_at_unix_nano: u64,
        metrics: Metrics,
        traces: [TraceEntry; 2],
    }
    let failed = export
        .traces
        .iter()
        .find(|e| e.status == Status::Error)
        .expect("the quickstart has a failing call");
    let scored = export
        .traces
        .iter()
        .find(|e| e.quality_score.is_some())
        .expect("the quickstart has a scored call");
    // A backtrace shows only when RUST_BACKTRACE asks, and would fill the page.
    let mut failed = failed.clone();
    // Type paths as they read when the example is built as its own binary.
    if let Some(error) = &mut failed.error {
        error.backtrace = None;
        error.kind = error.kind.replace("readme::", "");
    }
    let metrics = &export.metrics;
    let sample = Sample {
        schema_version: export.schema_version,
        exported_at_unix_nano: export.exported_at_unix_nano,
        metrics: Metrics {
            total_executions: metrics.total_executions,
            successful_executions: metrics.successful_executions,
            failed_executions: metrics.failed_executions,
            success_rate: metrics.success_rate,
            more: "...",
        },
        traces: [failed, scored.clone()],
    };
    serde_json::to_string_pretty(&sample).unwrap() + "\n"
}

/// The sample with what changes from run to run (ids, clocks, durations) replaced.
fn stable(sample: &str) -> Value {
    let mut sample: Value = serde_json::from_str(sample).expect("the sample is JSON");
    sample["exported_at_unix_nano"] = json!(0);
    for entry in sample["traces"].as_array_mut().expect("traces") {
        for volatile in [
            "trace_id",
            "span_id",
            "parent_span_id",
            "start_time_unix_nano",
            "duration_ns",
        ] {
            if entry.get(volatile).is_some() {
                entry[volatile] = json!("<varies>");
            }
        }
    }
    sample
}

fn readme_sample(readme: &str) -> (usize, usize) {
    let marker = readme
        .find(START)
        .expect("the README marks its export sample");
    let open = marker + readme[marker..].find(FENCE_OPEN).expect("a json block") + FENCE_OPEN.len();
    let close = open + readme[open..].find(FENCE_CLOSE).expect("the block's end");
    (open, close)
}

#[test]
fn export_sample_is_the_quickstarts_real_output() {
    let tracer = ExecutionTracer::new();
    // On a thread named as the example's, whose entries say `"thread": "main"`.
    std::thread::scope(|scope| {
        let run = std::thread::Builder::new().name("main".into());
        run.spawn_scoped(scope, || quickstart::run_pipeline(&tracer))
            .unwrap()
            .join()
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.json");
    tracer.export_traces(&path).unwrap();
    let fresh = sample_of(&TraceExport::read(&path).unwrap());

    let readme = std::fs::read_to_string(README).unwrap();
    let (open, close) = readme_sample(&readme);
    if std::env::var_os("MONITOR_BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..open], fresh, &readme[close..]);
        std::fs::write(Path::new(README), updated).unwrap();
        return;
    }
    assert_eq!(
        stable(&readme[open..close]),
        stable(&fresh),
        "the README's export sample differs from the quickstart's output; \
         rewrite it with `MONITOR_BLESS=1 cargo test --test readme`"
    );
}
