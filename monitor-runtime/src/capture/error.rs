//! Error descriptions under the cap: the message and each source written through a capped,
//! isolated `Display`, the source chain bounded in length and stopped at a cycle.

use std::error::Error;
use std::fmt::Display;

use super::isolate::isolated;
use super::redact::mask_url_credentials;
use super::text::{display_text, keep_text, recap};
use super::MAX_ERROR_SOURCES;
use crate::entry::ErrorInfo;

// How an error becomes an `ErrorInfo` lives here, with the capture it needs: `entry`
// only holds the data.
impl ErrorInfo {
    /// Describes `error`: its type name, `Display` text and `source()` chain, each kept to
    /// [`DEFAULT_MAX_FIELD_BYTES`](crate::capture::DEFAULT_MAX_FIELD_BYTES); see
    /// [`from_error_capped`](Self::from_error_capped). A guard that records it adds a
    /// backtrace when the environment asks for one.
    pub fn from_error<E: std::error::Error + ?Sized>(error: &E) -> Self {
        Self::from_error_capped(error, super::DEFAULT_MAX_FIELD_BYTES)
    }

    /// Describes `error`, keeping at most `max_bytes` of its message and of each source
    /// (cut while written, with a `…[truncated: N bytes]` marker) and at most
    /// [`MAX_ERROR_SOURCES`](crate::capture::MAX_ERROR_SOURCES) sources; a `source()` chain that
    /// loops back stops there. Credentials are masked and the user's mask hook applied
    /// (fields `error` and `error.source`). A `Display` or `source()` that panics or fails
    /// gives a placeholder (`<Display failed>`, `<Display panicked: ...>`) and never
    /// reaches the caller.
    pub fn from_error_capped<E: std::error::Error + ?Sized>(error: &E, max_bytes: usize) -> Self {
        let (message, sources) = describe_error(error, max_bytes);
        ErrorInfo {
            kind: short_type_name(std::any::type_name::<E>()),
            message,
            sources,
            backtrace: None,
        }
    }

    /// Describes an error that only has a `Display` text, kept to
    /// [`DEFAULT_MAX_FIELD_BYTES`](crate::capture::DEFAULT_MAX_FIELD_BYTES).
    pub fn from_display<E: std::fmt::Display + ?Sized>(error: &E) -> Self {
        Self::from_display_capped(error, super::DEFAULT_MAX_FIELD_BYTES)
    }

    /// Describes an error that only has a `Display` text, keeping at most `max_bytes` of
    /// it, as [`from_error_capped`](Self::from_error_capped) does.
    pub fn from_display_capped<E: std::fmt::Display + ?Sized>(error: &E, max_bytes: usize) -> Self {
        ErrorInfo {
            kind: short_type_name(std::any::type_name::<E>()),
            message: describe_display(error, max_bytes),
            sources: Vec::new(),
            backtrace: None,
        }
    }
}

/// `std::io::error::Error` stays as it is; generic arguments keep their paths. Only used for
/// error kinds, where the full path is what users grep for.
fn short_type_name(name: &str) -> String {
    name.to_owned()
}

/// The field name the user's mask hook is given for an error message.
const MESSAGE_FIELD: &str = "error";
/// The field name the user's mask hook is given for an error source.
const SOURCE_FIELD: &str = "error.source";

/// An error's message and source chain, each at most `max` bytes (plus marker), masked.
pub(crate) fn describe_error<E: Error + ?Sized>(error: &E, max: usize) -> (String, Vec<String>) {
    let message = display_text(MESSAGE_FIELD, error, max);
    let mut sources = Vec::new();
    // The sources met so far (address and type: a wrapper and the error it wraps may share
    // an address): a `source()` that leads back to one is a cycle. A chain that loops back
    // to `error` itself is stopped by the count bound.
    let mut met: Vec<*const dyn Error> = Vec::new();
    let mut next = isolated(|| error.source());
    loop {
        let source = match next {
            Ok(Some(source)) => source,
            Ok(None) => break,
            Err(panic) => {
                sources.push(format!(
                    "<source() panicked: {}>",
                    keep_text("", &panic, max)
                ));
                break;
            }
        };
        let address = source as *const dyn Error;
        if met.iter().any(|seen| std::ptr::eq(*seen, address)) {
            sources.push("<source chain loops back here>".to_owned());
            break;
        }
        if sources.len() == MAX_ERROR_SOURCES {
            sources.push(format!("…[more than {MAX_ERROR_SOURCES} sources not kept]"));
            break;
        }
        sources.push(display_text(SOURCE_FIELD, source, max));
        met.push(address);
        next = isolated(|| source.source());
    }
    (message, sources)
}

/// The message of an error that is only `Display`.
pub(crate) fn describe_display<E: Display + ?Sized>(error: &E, max: usize) -> String {
    display_text(MESSAGE_FIELD, error, max)
}

/// Holds a described error to the cap of the tracer recording it, however it was built:
/// message, kind, backtrace and each source cut to `max` bytes (keeping an earlier
/// marker's total), at most [`MAX_ERROR_SOURCES`] sources (plus one line saying more were
/// dropped), and credentials in the message and sources masked.
pub(crate) fn bound_error(error: &mut ErrorInfo, max: usize) {
    mask_in_place(&mut error.message);
    recap(&mut error.message, max);
    recap(&mut error.kind, max);
    if error.sources.len() > MAX_ERROR_SOURCES + 1 {
        let dropped = error.sources.len() - MAX_ERROR_SOURCES;
        error.sources.truncate(MAX_ERROR_SOURCES);
        error
            .sources
            .push(format!("…[{dropped} more sources not kept]"));
    }
    for source in &mut error.sources {
        mask_in_place(source);
        recap(source, max);
    }
    if let Some(backtrace) = &mut error.backtrace {
        recap(backtrace, max);
    }
}

fn mask_in_place(text: &mut String) {
    if let std::borrow::Cow::Owned(masked) = mask_url_credentials(text) {
        *text = masked;
    }
}
