//! Capped text: `Debug` and `Display` output written into a sink that keeps at most the cap
//! (plus a little room for masking), counts what it was offered, bounds nesting, and hides
//! the values of secret-named fields while they are written.
//!
//! The sink returns `fmt::Error` once it is full or the text nests too deep: `derive(Debug)`
//! and `write!` stop at the first error, so a huge or deeply nested value costs no more
//! than the cap, and recursion ends after [`MAX_DEPTH`](super::MAX_DEPTH) levels.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use super::isolate::{count_failure, isolated};
use super::redact::{is_secret_name, mask_text};
use super::{CapturedValue, MAX_DEPTH, REDACTED};

/// Bytes kept past the cap before masking, so a credential that straddles the cut is still
/// recognised (a URL's password is only found with the `@` after it) and masked whole.
pub(crate) const MASK_MARGIN: usize = 256;

/// The start of every truncation marker.
pub(crate) const TRUNCATION_MARKER: &str = "…[truncated";

/// The marker of a value cut where it nested deeper than [`MAX_DEPTH`].
pub(crate) fn depth_marker() -> String {
    format!("{TRUNCATION_MARKER}: nested deeper than {MAX_DEPTH} levels]")
}

/// The marker after a preview of a value of `total_bytes` bytes.
pub(crate) fn size_marker(total_bytes: usize) -> String {
    format!("{TRUNCATION_MARKER}: {total_bytes} bytes]")
}

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary.
pub(crate) fn prefix_at_most(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Keeps one string under `field` by every rule: masked (secret names, credentials, the
/// user's hook) and capped at `max` bytes plus a visible marker. Only the first
/// `max` + [`MASK_MARGIN`] bytes of `text` are looked at.
pub(crate) fn keep_text(field: &str, text: &str, max: usize) -> String {
    let looked_at = prefix_at_most(text, max.saturating_add(MASK_MARGIN));
    let masked = mask_text(field, looked_at);
    if masked.len() <= max && looked_at.len() == text.len() {
        return masked.into_owned();
    }
    let mut kept = prefix_at_most(&masked, max).to_owned();
    kept.push_str(&size_marker(text.len().max(masked.len())));
    kept
}

/// `text` cut to at most `max` bytes with the size marker every cut value ends with,
/// nothing masked: for names that are keys rather than values (module names).
pub(crate) fn cut_name(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!(
        "{}{}",
        prefix_at_most(text, max),
        size_marker(text.len())
    ))
}

/// Cuts an already kept string to `max` bytes, keeping the size an earlier cut recorded in
/// its marker. A string within the cap (marker aside) is left as it is.
pub(crate) fn recap(text: &mut String, max: usize) {
    let (body, recorded_total) = match text.rfind(TRUNCATION_MARKER) {
        Some(at) => (at, parse_marker_total(&text[at..])),
        None => (text.len(), None),
    };
    if body <= max {
        return;
    }
    let total = recorded_total.unwrap_or(body);
    let cut = prefix_at_most(&text[..body], max).len();
    text.truncate(cut);
    text.push_str(&size_marker(total));
}

fn parse_marker_total(marker: &str) -> Option<usize> {
    marker
        .strip_prefix(TRUNCATION_MARKER)?
        .strip_prefix(": ")?
        .strip_suffix(" bytes]")?
        .parse()
        .ok()
}

/// Why a sink stopped taking text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Everything offered was taken.
    No,
    /// The cap (plus margin) was reached.
    Full,
    /// The text nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// A `fmt::Write` sink that keeps at most `limit` bytes and, for `Debug` text, replaces the
/// value after a secret-named field or key (`api_key: "..."`, `"token": "..."`) with
/// `[redacted]` as it is written.
pub(crate) struct TextSink {
    out: Kept,
    /// Bytes offered, kept or not (a lower bound of the whole text once the sink stops).
    seen: usize,
    scanner: Option<FieldScanner>,
}

/// The text a sink keeps, up to its limit, and why it stopped taking more.
struct Kept {
    kept: String,
    limit: usize,
    stop: Stop,
}

impl TextSink {
    /// A sink for `Display` text: capped, nothing hidden by field names.
    pub(crate) fn plain(max: usize) -> Self {
        TextSink {
            out: Kept {
                kept: String::new(),
                limit: max.saturating_add(MASK_MARGIN),
                stop: Stop::No,
            },
            seen: 0,
            scanner: None,
        }
    }

    /// A sink for `Debug` text: capped, nesting bounded, secret fields hidden.
    pub(crate) fn debug(max: usize) -> Self {
        TextSink {
            scanner: Some(FieldScanner::default()),
            ..TextSink::plain(max)
        }
    }

    /// The kept text, and how many bytes were offered.
    pub(crate) fn into_parts(self) -> (String, usize) {
        (self.out.kept, self.seen)
    }
}

impl Kept {
    fn push_kept(&mut self, text: &str) -> fmt::Result {
        let room = self.limit.saturating_sub(self.kept.len());
        if text.len() <= room {
            self.kept.push_str(text);
            return Ok(());
        }
        self.kept.push_str(prefix_at_most(text, room));
        self.stop = Stop::Full;
        Err(fmt::Error)
    }
}

impl fmt::Write for TextSink {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.out.stop != Stop::No {
            return Err(fmt::Error);
        }
        self.seen = self.seen.saturating_add(text.len());
        match &mut self.scanner {
            Some(scanner) => scanner.feed(text, &mut self.out),
            None => self.out.push_kept(text),
        }
    }
}

/// Tracks `Debug` text: brackets (outside string literals) for the depth bound, and at
/// each `:` the name written just before it (an identifier or a string literal), to hide
/// the value of a secret field or key. Only the few structural bytes are looked at.
#[derive(Default)]
struct FieldScanner {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// A `:` followed a secret name; the next byte tells a field (`: `) from a path (`::`).
    colon_after_secret: bool,
    /// Inside a hidden value, which ends at this depth with `,` or a closing bracket.
    hiding_at: Option<usize>,
}

/// Bytes that change the scanner's state.
const fn structural() -> [bool; 256] {
    let mut table = [false; 256];
    let bytes = b"\"\\{}[]():,";
    let mut index = 0;
    while index < bytes.len() {
        table[bytes[index] as usize] = true;
        index += 1;
    }
    table
}

static STRUCTURAL: [bool; 256] = structural();

/// Longest name looked at before a `:`.
const MAX_NAME: usize = 128;

impl FieldScanner {
    fn feed(&mut self, text: &str, sink: &mut Kept) -> fmt::Result {
        let bytes = text.as_bytes();
        // Kept bytes are copied in runs (`None` while a value is hidden); hidden runs start
        // and end at ASCII bytes, so every run is valid UTF-8.
        let mut run_start = if self.hiding_at.is_some() {
            None
        } else {
            Some(0)
        };
        let mut next = 0;
        while next < bytes.len() {
            let mut at = next;
            next += 1;
            if self.colon_after_secret {
                self.colon_after_secret = false;
                if bytes[at] != b':' {
                    if let Some(start) = run_start.take() {
                        sink.push_kept(&text[start..at])?;
                    }
                    sink.push_kept(" ")?;
                    sink.push_kept(REDACTED)?;
                    self.hiding_at = Some(self.depth);
                }
            }
            if !self.escaped && !STRUCTURAL[bytes[at] as usize] {
                // Skip to the next byte that matters.
                match bytes[at..]
                    .iter()
                    .position(|&byte| STRUCTURAL[byte as usize])
                {
                    Some(skip) => at += skip,
                    None => break,
                }
                next = at + 1;
            }
            let byte = bytes[at];
            if self.in_string {
                self.track_string(byte);
                continue;
            }
            if let Some(base) = self.hiding_at {
                let ends = matches!(byte, b'}' | b']' | b')' | b',') && self.depth == base;
                if !ends {
                    self.track_brackets(byte);
                    if self.depth > MAX_DEPTH {
                        sink.stop = Stop::TooDeep;
                        return Err(fmt::Error);
                    }
                    continue;
                }
                self.hiding_at = None;
                run_start = Some(at);
            }
            match byte {
                b'"' => self.in_string = true,
                b':' => {
                    if let Some(start) = run_start {
                        sink.push_kept(&text[start..at])?;
                        run_start = Some(at);
                    }
                    self.colon_after_secret = is_secret_name(name_before(&sink.kept));
                }
                _ => self.track_brackets(byte),
            }
            if self.depth > MAX_DEPTH {
                if let Some(start) = run_start {
                    sink.push_kept(&text[start..at])?;
                }
                sink.stop = Stop::TooDeep;
                return Err(fmt::Error);
            }
        }
        match run_start {
            Some(start) => sink.push_kept(&text[start..]),
            None => Ok(()),
        }
    }

    fn track_brackets(&mut self, byte: u8) {
        match byte {
            b'{' | b'[' | b'(' => self.depth += 1,
            b'}' | b']' | b')' => self.depth = self.depth.saturating_sub(1),
            b'"' => self.in_string = true,
            _ => {}
        }
    }

    fn track_string(&mut self, byte: u8) {
        if self.escaped {
            self.escaped = false;
        } else if byte == b'\\' {
            self.escaped = true;
        } else if byte == b'"' {
            self.in_string = false;
        }
    }
}

/// The name that ends `text` (trailing whitespace aside): a string literal's contents or
/// an identifier; empty when there is none.
fn name_before(text: &str) -> &str {
    let text = text.trim_end();
    let tail = &text[text.len() - prefix_at_most_from_end(text, MAX_NAME)..];
    if let Some(quoted) = tail.strip_suffix('"') {
        return quoted.rfind('"').map_or("", |open| &quoted[open + 1..]);
    }
    let start = tail
        .bytes()
        .rposition(|byte| !(byte.is_ascii_alphanumeric() || byte == b'_'))
        .map_or(0, |at| at + 1);
    &tail[start..]
}

/// How many bytes at the end of `text`, at most `max`, start at a character boundary.
fn prefix_at_most_from_end(text: &str, max: usize) -> usize {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.len() - start
}

/// How writing into a sink ended.
enum Written {
    /// All of it.
    Complete,
    /// Stopped by the sink: full, or nested too deep.
    Stopped,
    /// The user's implementation returned `fmt::Error` on its own.
    Failed,
    /// The user's implementation panicked, with this message.
    Panicked(String),
}

fn write_into(sink: &mut TextSink, write: impl FnOnce(&mut TextSink) -> fmt::Result) -> Written {
    match isolated(|| write(&mut *sink)) {
        Ok(Ok(())) if sink.out.stop == Stop::No => Written::Complete,
        // A `Debug` impl that ignores the sink's error and keeps going still ends here.
        Ok(_) if sink.out.stop != Stop::No => Written::Stopped,
        Ok(_) => {
            count_failure();
            Written::Failed
        }
        Err(message) => Written::Panicked(message),
    }
}

/// Captures `value`'s `Debug` text: capped, nesting bounded, secret fields hidden, masked.
pub(crate) fn capture_debug<T: fmt::Debug + ?Sized>(value: &T, max: usize) -> CapturedValue {
    let mut sink = TextSink::debug(max);
    let written = write_into(&mut sink, |sink| write!(sink, "{value:?}"));
    let seen = sink.seen;
    let too_deep = sink.out.stop == Stop::TooDeep;
    let masked = mask_text("", &sink.out.kept);
    let kept = prefix_at_most(&masked, max);
    match written {
        Written::Complete if kept.len() == masked.len() => CapturedValue::Text(masked.into()),
        Written::Complete | Written::Stopped if !too_deep => CapturedValue::Truncated {
            preview: kept.into(),
            total_bytes: seen.max(masked.len()),
        },
        Written::Complete | Written::Stopped => {
            CapturedValue::Text(format!("{kept}{}", depth_marker()).into())
        }
        Written::Failed => CapturedValue::Text(format!("{kept}<Debug failed>").into()),
        Written::Panicked(message) => CapturedValue::Text(
            format!("{kept}<capture panicked: {}>", keep_text("", &message, max)).into(),
        ),
    }
}

/// `Display` text of `value`, kept under `field`: capped with a marker, masked. A failing
/// or panicking `Display` gives a placeholder (`<Display failed>`, `<Display panicked:
/// ...>`) after whatever it wrote.
pub(crate) fn display_text<T: fmt::Display + ?Sized>(field: &str, value: &T, max: usize) -> String {
    let mut sink = TextSink::plain(max);
    let written = write_into(&mut sink, |sink| write!(sink, "{value}"));
    let seen = sink.seen;
    let masked = mask_text(field, &sink.out.kept);
    let kept = prefix_at_most(&masked, max);
    match written {
        Written::Complete if kept.len() == masked.len() => masked.into_owned(),
        Written::Complete | Written::Stopped => {
            format!("{kept}{}", size_marker(seen.max(masked.len())))
        }
        Written::Failed => format!("{kept}<Display failed>"),
        Written::Panicked(message) => {
            format!("{kept}<Display panicked: {}>", keep_text("", &message, max))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Config {
        api_key: String,
        model: &'static str,
        nested: Inner,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Inner {
        token: Option<Vec<u8>>,
        path: &'static str,
    }

    #[test]
    fn debug_hides_secret_fields_while_writing() {
        let config = Config {
            api_key: "sk-live-123, \"quoted\" }".into(),
            model: "gpt",
            nested: Inner {
                token: Some(vec![1, 2]),
                path: "std::io",
            },
        };
        let CapturedValue::Text(text) = capture_debug(&config, 4096) else {
            panic!("expected text");
        };
        assert_eq!(
            &*text,
            "Config { api_key: [redacted], model: \"gpt\", nested: Inner { token: [redacted], path: \"std::io\" } }"
        );
        let map: std::collections::BTreeMap<&str, &str> =
            [("password", "hunter2"), ("user", "me")].into();
        let CapturedValue::Text(text) = capture_debug(&map, 4096) else {
            panic!("expected text");
        };
        assert_eq!(&*text, "{\"password\": [redacted], \"user\": \"me\"}");
    }

    #[test]
    fn recap_keeps_the_first_total() {
        let mut text = keep_text("", &"y".repeat(100), 10);
        assert_eq!(text, format!("{}{}", "y".repeat(10), size_marker(100)));
        recap(&mut text, 4);
        assert_eq!(text, format!("yyyy{}", size_marker(100)));
        let mut short = "abc".to_owned();
        recap(&mut short, 4);
        assert_eq!(short, "abc");
    }
}
