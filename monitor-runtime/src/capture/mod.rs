//! Captured inputs, outputs and attributes: serialized once at the call, capped in size,
//! with secrets redacted.

use std::fmt::{self, Write as _};
use std::io;

use serde::Serialize;
use serde_json::{Map, Value};

mod redact;

#[allow(unused_imports)] // used by the MLflow client and the capture of values
pub(crate) use self::redact::mask_text;
pub use self::redact::{
    clear_mask_hook, is_secret_name, mask_url_credentials, set_mask_hook, MaskHook,
};

/// The default size cap of one captured field, in bytes of JSON or `Debug` text.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 4096;

/// What replaces a redacted value.
pub const REDACTED: &str = "[redacted]";

/// One captured value, kept in the cheapest form until someone reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum CapturedValue {
    /// Complete JSON text.
    Json(Box<str>),
    /// `Debug` text of a value that is not `Serialize`.
    Text(Box<str>),
    /// The first bytes of a value over the size cap, and its full size.
    Truncated {
        /// The kept prefix (JSON or `Debug` text), cut at a character boundary.
        preview: Box<str>,
        /// The size of the whole value in bytes.
        total_bytes: usize,
    },
    /// A value hidden because its name looks like a secret, or because it was asked to be.
    Redacted,
    /// A value that is neither `Serialize` nor `Debug`: only its type is known.
    Opaque(&'static str),
}

impl CapturedValue {
    /// Captures `value` as JSON, keeping at most `max_bytes` bytes.
    pub fn json<T: Serialize + ?Sized>(value: &T, max_bytes: usize) -> Self {
        let mut writer = CappedWriter::new(max_bytes);
        match serde_json::to_writer(&mut writer, value) {
            Ok(()) => writer.finish(CapturedValue::Json),
            // A value whose `Serialize` fails is shown as the error, not lost silently.
            Err(error) => CapturedValue::Text(format!("<serialize error: {error}>").into()),
        }
    }

    /// Captures `value`'s `Debug` text, keeping at most `max_bytes` bytes.
    pub fn debug<T: fmt::Debug + ?Sized>(value: &T, max_bytes: usize) -> Self {
        let mut writer = CappedWriter::new(max_bytes);
        // The writer never fails, so neither does `write!`; a failing `Debug` impl only
        // shortens the text.
        let _ = write!(writer, "{value:?}");
        writer.finish(CapturedValue::Text)
    }

    /// The value as JSON: JSON text parsed back, text as a string, a truncated value as
    /// its preview followed by a `…[truncated: N bytes]` marker.
    pub fn to_value(&self) -> Value {
        match self {
            CapturedValue::Json(text) => {
                let mut value =
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
                redact_nested(&mut value);
                value
            }
            CapturedValue::Text(text) => Value::String(text.to_string()),
            CapturedValue::Truncated {
                preview,
                total_bytes,
            } => Value::String(format!("{preview}…[truncated: {total_bytes} bytes]")),
            CapturedValue::Redacted => Value::String(REDACTED.to_owned()),
            CapturedValue::Opaque(type_name) => Value::String(format!("<{type_name}>")),
        }
    }
}

/// Writes up to a cap, then only counts, so a huge value costs time but never memory.
struct CappedWriter {
    kept: String,
    total: usize,
    cap: usize,
}

impl CappedWriter {
    fn new(cap: usize) -> Self {
        CappedWriter {
            kept: String::new(),
            total: 0,
            cap,
        }
    }

    fn push(&mut self, text: &str) {
        self.total += text.len();
        let room = self.cap.saturating_sub(self.kept.len());
        if room == 0 {
            return;
        }
        let mut end = room.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.kept.push_str(&text[..end]);
    }

    fn finish(self, complete: fn(Box<str>) -> CapturedValue) -> CapturedValue {
        if self.total <= self.cap {
            complete(self.kept.into_boxed_str())
        } else {
            CapturedValue::Truncated {
                preview: self.kept.into_boxed_str(),
                total_bytes: self.total,
            }
        }
    }
}

impl io::Write for CappedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // serde_json only writes UTF-8, and never splits a character across calls.
        match std::str::from_utf8(bytes) {
            Ok(text) => self.push(text),
            Err(_) => self.push(&String::from_utf8_lossy(bytes)),
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Write for CappedWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push(text);
        Ok(())
    }
}

/// Replaces the values of secret-looking keys anywhere inside `value`.
pub(crate) fn redact_nested(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if is_secret_name(key) {
                    *inner = Value::String(REDACTED.to_owned());
                } else {
                    redact_nested(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_nested),
        _ => {}
    }
}

/// Captures a named field: redacted when the name looks like a secret.
pub(crate) fn capture_named<T: Serialize + ?Sized>(
    name: &str,
    value: &T,
    max_bytes: usize,
) -> CapturedValue {
    if is_secret_name(name) {
        CapturedValue::Redacted
    } else {
        CapturedValue::json(value, max_bytes)
    }
}

/// The inputs of the guard API: an object's fields become named inputs, `()`/`null` means
/// none, and any other value is one input named `input`.
pub(crate) fn capture_inputs<T: Serialize + ?Sized>(
    inputs: &T,
    max_bytes: usize,
) -> Vec<(InputName, CapturedValue)> {
    match serde_json::to_value(inputs) {
        Ok(Value::Null) => Vec::new(),
        Ok(Value::Object(fields)) => fields
            .into_iter()
            .map(|(name, value)| {
                let captured = capture_named(&name, &value, max_bytes);
                (InputName::Owned(name), captured)
            })
            .collect(),
        Ok(other) => vec![("input".into(), CapturedValue::json(&other, max_bytes))],
        Err(error) => vec![(
            "input".into(),
            CapturedValue::Text(format!("<serialize error: {error}>").into()),
        )],
    }
}

/// An attribute value: redacted when its key looks like a secret.
pub(crate) fn attribute_value<T: Serialize + ?Sized>(key: &str, value: &T) -> Value {
    if is_secret_name(key) {
        return Value::String(REDACTED.to_owned());
    }
    capture_named(key, value, DEFAULT_MAX_FIELD_BYTES).to_value()
}

/// An input's name: a literal from generated code (no allocation per call) or a key
/// from serialized inputs.
pub type InputName = std::borrow::Cow<'static, str>;

pub(crate) fn inputs_to_map(inputs: &[(InputName, CapturedValue)]) -> Map<String, Value> {
    inputs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_value()))
        .collect()
}

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
    fn nested_secrets_are_redacted_on_read() {
        let captured = CapturedValue::json(
            &serde_json::json!({"config": {"api_key": "sk-123", "model": "m"}}),
            1000,
        );
        let value = captured.to_value();
        assert_eq!(value["config"]["api_key"], REDACTED);
        assert_eq!(value["config"]["model"], "m");
    }
}
