//! The docs stay true: the export guide's sample is real output of the quickstart, so it cannot
//! drift from what `export_traces` writes (`MONITOR_BLESS=1 cargo test --test docs` rewrites it
//! from a fresh run), and the README stays a short guide whose links reach every guide page.

use std::path::Path;

use monitor::export::TraceExport;
use monitor::{ExecutionTracer, Status, TraceEntry};
use serde::Serialize;
use serde_json::{json, Value};

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[allow(dead_code)] // the example's `main` and exports are not called here
#[path = "../examples/feedback_loop.rs"]
mod feedback_loop;

const EXPORT_GUIDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/guide/export.md");
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
const GUIDE_MODULE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/guide.rs");
const START: &str = "<!-- export sample: written by tests/docs.rs";
const FENCE_OPEN: &str = "```json\n";
const FENCE_CLOSE: &str = "```\n";

/// What the export guide shows of an export: the document's header, the first metrics, and two
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
        error.kind = error.kind.replace(concat!(module_path!(), "::"), "");
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

fn guide_sample(guide: &str) -> (usize, usize) {
    let marker = guide
        .find(START)
        .expect("the export guide marks its export sample");
    let open = marker + guide[marker..].find(FENCE_OPEN).expect("a json block") + FENCE_OPEN.len();
    let close = open + guide[open..].find(FENCE_CLOSE).expect("the block's end");
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

    let guide = std::fs::read_to_string(EXPORT_GUIDE).unwrap();
    let (open, close) = guide_sample(&guide);
    if std::env::var_os("MONITOR_BLESS").is_some() {
        let updated = format!("{}{}{}", &guide[..open], fresh, &guide[close..]);
        std::fs::write(Path::new(EXPORT_GUIDE), updated).unwrap();
        return;
    }
    assert_eq!(
        stable(&guide[open..close]),
        stable(&fresh),
        "the export guide's sample differs from the quickstart's output; \
         rewrite it with `MONITOR_BLESS=1 cargo test --test docs`"
    );
}

#[test]
fn the_readme_is_a_short_guide_that_starts_with_the_two_commands() {
    let readme = std::fs::read_to_string(README).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "the README has {lines} lines: move details into a guide page"
    );
    let first_block = readme.split("```sh\n").nth(1).expect("a shell block");
    let commands: Vec<&str> = first_block.lines().take(2).collect();
    assert!(
        commands[0].starts_with("cargo run --example quickstart"),
        "{commands:?}"
    );
    assert!(commands[1].starts_with("./scripts/test.sh"), "{commands:?}");
}

#[test]
fn every_guide_page_is_a_module_and_the_readme_links_it() {
    let readme = std::fs::read_to_string(README).unwrap();
    let module = std::fs::read_to_string(GUIDE_MODULE).unwrap();
    let pages = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/guide")).unwrap();
    let mut count = 0;
    for page in pages {
        let name = page.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".md") else {
            continue;
        };
        count += 1;
        assert!(
            module.contains(&format!("include_str!(\"../docs/guide/{name}\")")),
            "docs/guide/{name} is not included by src/guide.rs"
        );
        assert!(
            readme.contains(&format!("/monitor/guide/{stem}/")),
            "the README does not link the guide page {stem}"
        );
    }
    assert!(count >= 10, "only {count} guide pages");
}

#[test]
fn the_feedback_loop_improves_the_service_and_the_readme_shows_its_output() {
    let tracer = ExecutionTracer::new();
    let dir = tempfile::tempdir().unwrap();
    let outcome = feedback_loop::run_loop(&tracer, dir.path()).unwrap();
    assert_eq!((outcome.served, outcome.feedback), (13, 9));
    assert_eq!(outcome.dataset.len(), 8, "the liked answers");
    let written = monitor::Dataset::read_jsonl(dir.path().join("qa-liked-answers.jsonl")).unwrap();
    assert_eq!(written.rows, outcome.dataset.rows);
    let exact = |report: &monitor::EvaluationReport| report.summary("exact_match").unwrap().mean;
    assert_eq!(exact(&outcome.before), Some(0.0));
    assert_eq!(exact(&outcome.after), Some(1.0));
    assert_eq!(outcome.comparison.delta("exact_match"), Some(1.0));
    // What the example prints is what the README shows.
    let readme = std::fs::read_to_string(README).unwrap();
    let table = outcome.comparison.to_string();
    assert!(
        readme.contains(&table),
        "the README's feedback-loop output differs from the example's:\n{table}"
    );
}
