//! Backtraces of failed calls: captured unresolved on the record path (resolving symbols
//! takes milliseconds), rendered when an entry is read, without the frames of the capture
//! machinery itself, and capped like every other kept string.

use std::backtrace::Backtrace;

/// Functions whose frames sit above the user's code in every captured backtrace: the
/// capture itself, the panic machinery, and this crate's record path.
const MACHINERY: &[&str] = &[
    "std::backtrace",
    "std::sys::backtrace",
    "std::panicking",
    "core::panicking",
    "rust_begin_unwind",
    "__rustc::rust_begin_unwind",
    "std::rt::begin_panic",
    "<alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call",
    "monitor_runtime::",
    "<monitor_runtime::",
];

/// A backtrace of the current thread, when the environment enables them, not yet
/// symbolized: resolving symbols takes milliseconds, so it waits until an entry is read.
///
/// `Backtrace::capture` reads `RUST_LIB_BACKTRACE`/`RUST_BACKTRACE` once and is nearly free
/// when they are off, so calling this on every error is fine.
pub(crate) fn capture_backtrace() -> Option<std::sync::Arc<std::backtrace::Backtrace>> {
    let backtrace = std::backtrace::Backtrace::capture();
    match backtrace.status() {
        std::backtrace::BacktraceStatus::Captured => Some(std::sync::Arc::new(backtrace)),
        _ => None,
    }
}

/// The backtrace as text, starting at the first frame that is not machinery, and at most
/// `max_bytes` long (cut at a frame boundary when possible, with a marker).
pub(crate) fn render(backtrace: &Backtrace, max_bytes: usize) -> String {
    trim(&backtrace.to_string(), max_bytes)
}

fn trim(text: &str, max_bytes: usize) -> String {
    let frames = split_frames(text);
    let first_user = frames
        .iter()
        .position(|frame| !is_machinery(frame))
        .unwrap_or(0);
    let mut rendered = String::new();
    let mut omitted = 0;
    for frame in &frames[first_user..] {
        if omitted > 0 || rendered.len() + frame.len() > max_bytes {
            omitted += 1;
            continue;
        }
        rendered.push_str(frame);
    }
    if omitted > 0 {
        rendered.push_str(&format!("…[truncated: {omitted} more frames]\n"));
    }
    rendered
}

/// Splits `std`'s rendering into frames: a frame starts at a line `   N: function` and
/// runs until the next one (its `at file:line` lines included).
fn split_frames(text: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if is_frame_start(line) {
            starts.push(offset);
        }
        offset += line.len();
    }
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    starts
        .iter()
        .zip(starts.iter().skip(1).chain(std::iter::once(&text.len())))
        .map(|(&start, &end)| &text[start..end])
        .filter(|frame| !frame.is_empty())
        .collect()
}

fn is_frame_start(line: &str) -> bool {
    let trimmed = line.trim_start();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && trimmed[digits..].starts_with(": ")
}

fn is_machinery(frame: &str) -> bool {
    let Some(function) = frame
        .lines()
        .next()
        .and_then(|line| line.split_once(": "))
        .map(|(_, function)| function.trim())
    else {
        return false;
    };
    MACHINERY.iter().any(|prefix| function.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "   0: std::backtrace_rs::backtrace::libunwind::trace
             at /rustc/x/library/std/src/../../backtrace/src/backtrace/libunwind.rs:117:9
   1: std::backtrace::Backtrace::create
   2: monitor_runtime::backtrace::capture
             at ./monitor-runtime/src/backtrace.rs:14:21
   3: monitor_runtime::guard::TraceGuard::fail_with
   4: my_app::load_documents
             at ./src/main.rs:10:5
   5: my_app::main
             at ./src/main.rs:3:5
";

    #[test]
    fn frames_split_at_their_numbers() {
        let frames = split_frames(SAMPLE);
        assert_eq!(frames.len(), 6);
        assert!(frames[4].starts_with("   4: my_app::load_documents"));
        assert!(frames[4].contains("main.rs:10:5"));
    }

    #[test]
    fn machinery_is_dropped_from_the_top() {
        let trimmed = trim(SAMPLE, 4096);
        assert!(
            trimmed.starts_with("   4: my_app::load_documents"),
            "{trimmed}"
        );
        assert!(trimmed.contains("my_app::main"));
    }

    #[test]
    fn long_backtraces_are_cut_at_a_frame_with_a_marker() {
        let trimmed = trim(SAMPLE, 80);
        assert!(trimmed.starts_with("   4: my_app::load_documents"));
        assert!(
            trimmed.ends_with("…[truncated: 1 more frames]\n"),
            "{trimmed}"
        );
        assert!(!trimmed.contains("my_app::main"));
    }
}
