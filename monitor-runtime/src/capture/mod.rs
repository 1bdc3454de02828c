//! How arguments, outputs, errors and attributes become recorded values: written once at
//! the call, under one size cap, with secrets hidden, and isolated from the call.
//!
//! - **Caps.** Every kept string is cut at the tracer's `max_field_bytes`
//!   ([`DEFAULT_MAX_FIELD_BYTES`]) while it is written, with a `…[truncated: N bytes]`
//!   marker; counts and nesting are bounded by the `MAX_*` constants here. The per-entry
//!   memory bound is on [`DEFAULT_MAX_FIELD_BYTES`].
//! - **Secrets.** Arguments and JSON keys named like secrets ([`is_secret_name`]) are
//!   recorded as [`REDACTED`]; credentials in URLs and bearer tokens in text are masked
//!   ([`mask_url_credentials`]); [`set_mask_hook`] adds your own rule.
//! - **Isolation.** A panic or formatting error in your `Serialize`, `Debug`, `Display` or
//!   `source()` becomes a placeholder on the entry and counts in [`capture_failures`]; it
//!   never reaches the call.
//!
//! ```
//! # use monitor_runtime as monitor;
//! use monitor::capture::{CapturedValue, DEFAULT_MAX_FIELD_BYTES};
//!
//! let long = "x".repeat(10_000);
//! let captured = CapturedValue::json(&long, DEFAULT_MAX_FIELD_BYTES);
//! assert!(matches!(captured, CapturedValue::Truncated { .. }));
//! ```

// Owns: `CapturedValue` and how values become one (`json.rs`: a serde adapter that caps,
// redacts and bounds depth while writing; `values.rs`: a call's inputs and output written
// once into one buffer; `key.rs`: map keys as text; `names.rs`: the guard API's
// inputs split into named fields; `text.rs`: capped `Debug`/`Display` text), error
// descriptions (`error.rs`), backtraces (`backtrace.rs`: taken unresolved, rendered and
// capped when read), redaction (`redact.rs`), isolation of user code (`isolate.rs`), the
// fast path for numbers, `bool`, `char` and strings (`scalar.rs`), and the autoref
// specialization that picks, by type, how `#[monitored]` captures a value and describes
// an error (`specialize.rs`).
//
// May call: serde, serde_json and `entry` (`ErrorInfo`). Knows nothing of tracers, records
// or the record path that calls it.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

pub(crate) mod backtrace;
mod buffer;
mod captured_text;
mod error;
mod isolate;
mod json;
mod key;
mod names;
mod redact;
pub(crate) mod scalar;
pub(crate) mod specialize;
mod text;
pub(crate) mod values;

pub use self::captured_text::CapturedText;
pub(crate) use self::error::bound_error;
pub use self::isolate::capture_failures;
pub(crate) use self::isolate::{capturing, caught, isolated, payload_message};
pub(crate) use self::redact::mask_text;
pub use self::redact::{
    clear_mask_hook, is_secret_name, mask_url_credentials, set_mask_hook, MaskHook,
};
#[cfg(feature = "tracing-layer")]
pub(crate) use self::text::display_text;
pub(crate) use self::text::{cut_name, keep_text, prefix_at_most};
pub(crate) use self::values::CapturedValues;

/// The default size cap of one captured field, in bytes of JSON or `Debug` text.
///
/// # Bounds
///
/// One cap, `max_field_bytes` (this default, or `TracerBuilder::max_field_bytes`), applies
/// to every kept string and value: each input, the output, the error message, kind, each
/// error source, the backtrace, each validation error, each attribute key and value. It
/// is applied while writing: a value far over the cap costs about what the cap does
/// (strings are cut before serde_json sees them, and serialization stops at the cap). A cut
/// value ends with a visible marker, `…[truncated: N bytes]`, where `N` is the size seen
/// before capture stopped: the whole size when the value was written to its end or was one
/// string, otherwise a lower bound. Values nested deeper than [`MAX_DEPTH`] levels are cut
/// there with the marker `…[truncated: nested deeper than 64 levels]`, so capture never
/// recurses deeper than that.
///
/// Counts are bounded too: at most [`MAX_ERROR_SOURCES`] sources per error (plus one line
/// saying more were dropped; a `source()` chain that loops stops at the repeat),
/// [`MAX_VALIDATION_ERRORS`] validation errors and [`MAX_ATTRIBUTES`] attributes per call,
/// and [`MAX_INPUTS`] inputs from the guard API's `trace(name, inputs)`. What is dropped
/// past those is counted in the attributes [`VALIDATION_ERRORS_DROPPED`] and
/// [`ATTRIBUTES_DROPPED`], and in the input [`INPUTS_DROPPED`].
///
/// So the captured part of one entry holds at most about
///
/// ```text
/// (max_field_bytes + 64) × ( inputs                        at most the fn's arguments,
///                                                          or MAX_INPUTS + 1
///                          + 1 output
///                          + 3 error message, kind, backtrace
///                          + MAX_ERROR_SOURCES + 1
///                          + MAX_VALIDATION_ERRORS
///                          + 2 × MAX_ATTRIBUTES + 2 )      keys and values, 2 counters
/// ```
///
/// where 64 bytes cover a truncation marker (and an input's header and name), plus at most
/// 1 KiB of unused room in the buffer the inputs and output are written into; with the
/// defaults that is about
/// `4 KiB × (inputs + 216)` whatever the values' sizes, and a tracer keeps at most
/// `max_traces` entries. Real captures are usually far smaller: a call with two small
/// arguments keeps a few dozen bytes.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 4096;

/// At most this many inputs are kept from one value given to the guard API
/// (`tracer.trace(name, inputs)`); the rest are counted in the input [`INPUTS_DROPPED`].
pub const MAX_INPUTS: usize = 64;

/// The input counting inputs past [`MAX_INPUTS`].
pub const INPUTS_DROPPED: &str = "monitor.inputs_dropped";

/// How deep a captured value may nest (arrays, maps, structs, `Some`, newtypes, and
/// brackets in `Debug` text) before it is cut with a marker. Deeper values are not walked,
/// so capture cannot overflow the stack where the plain call would not.
pub const MAX_DEPTH: usize = 64;

/// At most this many `source()`s of an error are kept, outermost first.
pub const MAX_ERROR_SOURCES: usize = 16;

/// At most this many validation errors are kept per call; the rest are counted in the
/// attribute [`VALIDATION_ERRORS_DROPPED`].
pub const MAX_VALIDATION_ERRORS: usize = 64;

/// At most this many attributes (distinct keys) are kept per call; the rest are counted in
/// the attribute [`ATTRIBUTES_DROPPED`].
pub const MAX_ATTRIBUTES: usize = 64;

/// The attribute counting validation errors past [`MAX_VALIDATION_ERRORS`].
pub const VALIDATION_ERRORS_DROPPED: &str = "monitor.validation_errors_dropped";

/// The attribute counting attributes past [`MAX_ATTRIBUTES`].
pub const ATTRIBUTES_DROPPED: &str = "monitor.attributes_dropped";

/// What replaces a redacted value.
pub const REDACTED: &str = "[redacted]";

/// One captured value, kept in the cheapest form until someone reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum CapturedValue {
    /// Complete JSON text.
    Json(CapturedText),
    /// `Debug` text of a value that is not `Serialize`, or a placeholder saying why a value
    /// could not be captured.
    Text(Box<str>),
    /// The first bytes of a value over the size cap, and its size.
    Truncated {
        /// The kept prefix (JSON or `Debug` text), cut at a character boundary.
        preview: Box<str>,
        /// The size of the value in bytes, as far as capture saw it: exact when the value
        /// was written to its end or was one string, otherwise a lower bound (capture stops
        /// writing once the cap is reached).
        total_bytes: usize,
    },
    /// A value hidden because its name looks like a secret, or because it was asked to be.
    Redacted,
    /// A value that is neither `Serialize` nor `Debug`: only its type is known.
    Opaque(&'static str),
}

impl CapturedValue {
    /// Captures `value` as JSON, keeping at most `max_bytes` bytes: strings are cut before
    /// they are written, secret-named fields and keys are redacted, credentials in strings
    /// masked, nesting bounded (see [`DEFAULT_MAX_FIELD_BYTES`]), and a panicking or
    /// failing `Serialize` gives a placeholder (see [`capture_failures`]).
    pub fn json<T: Serialize + ?Sized>(value: &T, max_bytes: usize) -> Self {
        json::capture_json(value, max_bytes)
    }

    /// Captures `value`'s `Debug` text, keeping at most `max_bytes` bytes, with the values
    /// of secret-named fields replaced by `[redacted]`, credentials masked and nesting
    /// bounded. A panicking or failing `Debug` gives a placeholder.
    pub fn debug<T: std::fmt::Debug + ?Sized>(value: &T, max_bytes: usize) -> Self {
        text::capture_debug(value, max_bytes)
    }

    /// The value as JSON: JSON text parsed back, text as a string, a truncated value as
    /// its preview followed by a `…[truncated: N bytes]` marker.
    pub fn to_value(&self) -> Value {
        match self {
            // Secrets were redacted while writing.
            CapturedValue::Json(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
            }
            CapturedValue::Text(text) => Value::String(text.to_string()),
            CapturedValue::Truncated {
                preview,
                total_bytes,
            } => Value::String(format!("{preview}{}", text::size_marker(*total_bytes))),
            CapturedValue::Redacted => Value::String(REDACTED.to_owned()),
            CapturedValue::Opaque(type_name) => Value::String(format!("<{type_name}>")),
        }
    }
}

/// The inputs of the guard API: an object's fields become named inputs, `()`/`null` means
/// none, and any other value is one input named `input`.
pub(crate) fn capture_inputs<T: Serialize + ?Sized>(
    inputs: &T,
    max_bytes: usize,
) -> Vec<(InputName, CapturedValue)> {
    names::capture_fields(inputs, max_bytes)
}

/// An attribute value under the default cap: redacted when its key looks like a secret.
pub(crate) fn attribute_value<T: Serialize + ?Sized>(key: &str, value: &T) -> Value {
    attribute_value_capped(key, value, DEFAULT_MAX_FIELD_BYTES)
}

/// An attribute value, at most `max_bytes` of JSON: redacted when its key looks like a
/// secret, masked with its key otherwise.
pub(crate) fn attribute_value_capped<T: Serialize + ?Sized>(
    key: &str,
    value: &T,
    max_bytes: usize,
) -> Value {
    mask_named(key, names::capture_named(key, value, max_bytes)).to_value()
}

/// One named field (a `tracing` span's field, say) under the rules every input follows:
/// redacted whole when its name looks like a secret, else captured by `capture` and given
/// to the mask hook under its name.
#[cfg(feature = "tracing-layer")]
pub(crate) fn capture_field(name: &str, capture: impl FnOnce() -> CapturedValue) -> CapturedValue {
    if is_secret_name(name) {
        return CapturedValue::Redacted;
    }
    mask_named(name, capture())
}

/// Applies the user's mask hook to a whole captured value under its name (an argument's
/// name, an attribute's key), so a rule can hide a field by name whatever its type.
/// String leaves inside were already given to the hook with their own keys.
pub(crate) fn mask_named(name: &str, value: CapturedValue) -> CapturedValue {
    if !redact::has_mask_hook() {
        return value;
    }
    let text: Cow<'_, str> = match &value {
        CapturedValue::Json(json) => match serde_json::from_str::<String>(json) {
            Ok(string) => Cow::Owned(string),
            Err(_) => Cow::Borrowed(json),
        },
        CapturedValue::Text(text) => Cow::Borrowed(text),
        CapturedValue::Truncated { preview, .. } => Cow::Borrowed(preview),
        CapturedValue::Redacted | CapturedValue::Opaque(_) => return value,
    };
    match redact::apply_mask_hook(name, &text) {
        Some(replacement) => CapturedValue::Text(replacement.into()),
        None => value,
    }
}

/// Adds a validation error to a call's list: capped and masked, and counted in the
/// [`VALIDATION_ERRORS_DROPPED`] attribute once the list holds [`MAX_VALIDATION_ERRORS`].
pub(crate) fn push_validation_error(
    errors: &mut Vec<String>,
    attributes: &mut Vec<(String, Value)>,
    message: &str,
    max_bytes: usize,
) {
    if errors.len() >= MAX_VALIDATION_ERRORS {
        count_dropped(attributes, VALIDATION_ERRORS_DROPPED);
        return;
    }
    errors.push(keep_text("validation_error", message, max_bytes));
}

/// Sets an attribute in a call's list: the key capped, a key set before replaced in place
/// (so updating one key in a loop keeps one entry), and a new key past [`MAX_ATTRIBUTES`]
/// counted in the [`ATTRIBUTES_DROPPED`] attribute instead.
pub(crate) fn push_attribute(
    attributes: &mut Vec<(String, Value)>,
    key: String,
    value: Value,
    max_bytes: usize,
) {
    let key = if key.len() > max_bytes {
        keep_text("", &key, max_bytes)
    } else {
        key
    };
    // Values recorded with `record_attribute` were captured under the default cap, before
    // the call's tracer was known.
    let value = match value {
        Value::String(mut text) => {
            text::recap(&mut text, max_bytes);
            Value::String(text)
        }
        Value::Array(_) | Value::Object(_) if max_bytes < DEFAULT_MAX_FIELD_BYTES => {
            CapturedValue::json(&value, max_bytes).to_value()
        }
        other => other,
    };
    if let Some(slot) = attributes.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
        return;
    }
    let counters = attributes
        .iter()
        .filter(|(k, _)| k == VALIDATION_ERRORS_DROPPED || k == ATTRIBUTES_DROPPED)
        .count();
    if attributes.len() - counters >= MAX_ATTRIBUTES {
        count_dropped(attributes, ATTRIBUTES_DROPPED);
        return;
    }
    attributes.push((key, value));
}

/// Adds one to the counter attribute `counter`.
fn count_dropped(attributes: &mut Vec<(String, Value)>, counter: &str) {
    add_dropped(attributes, counter, 1);
}

fn add_dropped(attributes: &mut Vec<(String, Value)>, counter: &str, count: u64) {
    match attributes.iter_mut().find(|(k, _)| k == counter) {
        Some((_, value)) => {
            *value = Value::from(value.as_u64().unwrap_or(0).saturating_add(count));
        }
        None => attributes.push((counter.to_owned(), Value::from(count))),
    }
}

/// Moves what a call's `record_*` notes hold into its own lists, under the same bounds:
/// the notes' drop counters add to the call's.
pub(crate) fn merge_noted(
    errors: &mut Vec<String>,
    attributes: &mut Vec<(String, Value)>,
    noted_errors: Vec<String>,
    noted_attributes: Vec<(String, Value)>,
    max_bytes: usize,
) {
    for message in noted_errors {
        push_validation_error(errors, attributes, &message, max_bytes);
    }
    for (key, value) in noted_attributes {
        if key == VALIDATION_ERRORS_DROPPED || key == ATTRIBUTES_DROPPED {
            add_dropped(attributes, &key, value.as_u64().unwrap_or(0));
        } else {
            push_attribute(attributes, key, value, max_bytes);
        }
    }
}

/// An input's name: a literal from generated code (no allocation per call) or a key
/// from serialized inputs.
pub type InputName = std::borrow::Cow<'static, str>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_keep_a_visible_marker() {
        let long = "x".repeat(100);
        let captured = CapturedValue::json(&long, 10);
        assert_eq!(
            captured,
            CapturedValue::Truncated {
                preview: "\"xxxxxxxxx".into(),
                total_bytes: 102
            }
        );
        assert_eq!(
            captured.to_value(),
            Value::String("\"xxxxxxxxx…[truncated: 102 bytes]".into())
        );
        assert_eq!(
            CapturedValue::json("short", 10).to_value(),
            Value::String("short".into())
        );
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let captured = CapturedValue::debug("ééééé", 4);
        let CapturedValue::Truncated { preview, .. } = captured else {
            panic!("expected truncation");
        };
        assert!(preview.len() <= 4);
    }

    #[test]
    fn nested_secrets_are_redacted() {
        let captured = CapturedValue::json(
            &serde_json::json!({"config": {"api_key": "sk-123", "model": "m"}}),
            1000,
        );
        let value = captured.to_value();
        assert_eq!(value["config"]["api_key"], REDACTED);
        assert_eq!(value["config"]["model"], "m");
    }

    #[test]
    fn counts_are_bounded_and_dropped_ones_counted() {
        let mut errors = Vec::new();
        let mut attributes = Vec::new();
        for n in 0..MAX_VALIDATION_ERRORS + 10 {
            push_validation_error(&mut errors, &mut attributes, &format!("e{n}"), 16);
        }
        for n in 0..MAX_ATTRIBUTES + 5 {
            push_attribute(&mut attributes, format!("k{n}"), Value::from(n), 16);
            push_attribute(&mut attributes, "step".into(), Value::from(n), 16);
        }
        assert_eq!(errors.len(), MAX_VALIDATION_ERRORS);
        let value = |key: &str| attributes.iter().find(|(k, _)| k == key).unwrap().1.clone();
        assert_eq!(value(VALIDATION_ERRORS_DROPPED), 10);
        assert_eq!(value(ATTRIBUTES_DROPPED), 6);
        assert_eq!(value("step"), MAX_ATTRIBUTES + 4);
        assert_eq!(attributes.len(), MAX_ATTRIBUTES + 2);
    }
}
