//! A call's captured inputs and output, written once into one buffer: each value goes
//! straight from its serializer into the buffer, with a small header and its name, so a
//! call with a few small values allocates nothing for them (the buffer is inline up to
//! `buffer::INLINE_BYTES`) and a call with long ones allocates one growing buffer, not one string
//! per value.
//!
//! Layout, one field after another: a header (`flags: u8`, the value's length and the
//! name's length as `u32`s, little-endian), the value, the name. `flags` says what the
//! value is: JSON text; plain text, read as a string (`Debug` text, placeholders, a
//! truncated preview with its marker, `[redacted]`, `<Type>`); or a number, `bool` or
//! `char` kept as its bits ([`Scalar`]), written as JSON only when read, which gives the
//! same JSON serde_json would have written at the call. And whether it is the output.

use std::fmt;
use std::io;

use serde::Serialize;
use serde_json::{Map, Value};

use super::buffer::{append, append_all, Bytes};
use super::json::{write_json, Written};
use super::redact::{apply_mask_hook, has_mask_hook};
use super::text::size_marker;
use super::{CapturedValue, REDACTED};

const HEADER_BYTES: usize = 9;
const JSON: u8 = 1;
const SCALAR: u8 = 2;
const OUTPUT: u8 = 4;

/// The longest value or name kept, whatever the cap says: lengths are kept as `u32`s.
const MAX_VALUE_BYTES: usize = (u32::MAX as usize) / 2;

/// Scalars are kept as bits only under a cap their JSON always fits (`i64::MIN` is 20
/// bytes, an `f64` at most 24); under a smaller one they are written, and cut.
const SCALAR_JSON_BYTES: usize = 32;

/// A call's captured inputs, in the order they were added, and its output.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct CapturedValues {
    bytes: Bytes,
    /// Whether a field is the output, so that setting one looks for an old one only then.
    has_output: bool,
}

/// A number, `bool` or `char` kept as its bits, written as JSON when read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar {
    U64(u64),
    I64(i64),
    F64(f64),
    F32(f32),
    Bool(bool),
    Char(char),
}

impl Scalar {
    const BYTES: usize = 9;

    #[inline]
    fn encode(self) -> [u8; Self::BYTES] {
        let (tag, bits) = match self {
            Scalar::U64(value) => (0, value),
            Scalar::I64(value) => (1, value as u64),
            Scalar::F64(value) => (2, value.to_bits()),
            Scalar::F32(value) => (3, u64::from(value.to_bits())),
            Scalar::Bool(value) => (4, u64::from(value)),
            Scalar::Char(value) => (5, u64::from(u32::from(value))),
        };
        let mut bytes = [tag; Self::BYTES];
        bytes[1..].copy_from_slice(&bits.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Scalar> {
        let bits = u64::from_le_bytes(bytes.get(1..Self::BYTES)?.try_into().ok()?);
        Some(match bytes[0] {
            0 => Scalar::U64(bits),
            1 => Scalar::I64(bits as i64),
            2 => Scalar::F64(f64::from_bits(bits)),
            3 => Scalar::F32(f32::from_bits(u32::try_from(bits).ok()?)),
            4 => Scalar::Bool(bits != 0),
            5 => Scalar::Char(char::from_u32(u32::try_from(bits).ok()?)?),
            _ => return None,
        })
    }

    /// Its JSON, as serde_json writes the value it was made from.
    fn json(self) -> String {
        serde_json::to_string(&self.json_value()).unwrap_or_default()
    }
}

/// One kept value, as read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ValueRef<'a> {
    /// Complete JSON text.
    Json(&'a str),
    /// Text read as a string.
    Text(&'a str),
    /// A number, `bool` or `char`.
    Scalar(Scalar),
}

impl ValueRef<'_> {
    /// The value as JSON, as [`CapturedValue::to_value`] gives it.
    pub(crate) fn to_value(self) -> Value {
        let json = |text: &str| {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        };
        match self {
            ValueRef::Json(text) => json(text),
            ValueRef::Text(text) => Value::String(text.to_owned()),
            ValueRef::Scalar(scalar) => json(&scalar.json()),
        }
    }
}

/// One field as it lies in the buffer.
struct Field<'a> {
    flags: u8,
    name: &'a str,
    value: &'a [u8],
    /// Where the field starts and ends in the buffer.
    start: usize,
    end: usize,
}

impl<'a> Field<'a> {
    fn value(&self) -> ValueRef<'a> {
        if self.flags & SCALAR != 0 {
            if let Some(scalar) = Scalar::decode(self.value) {
                return ValueRef::Scalar(scalar);
            }
        }
        let text = text_of(self.value);
        if self.flags & JSON != 0 {
            ValueRef::Json(text)
        } else {
            ValueRef::Text(text)
        }
    }
}

impl CapturedValues {
    fn fields(&self) -> impl Iterator<Item = Field<'_>> {
        let bytes = self.bytes.as_slice();
        let mut at = 0;
        std::iter::from_fn(move || {
            let header = bytes.get(at..at + HEADER_BYTES)?;
            let value_len = u32::from_le_bytes(header[1..5].try_into().ok()?) as usize;
            let name_len = u32::from_le_bytes(header[5..9].try_into().ok()?) as usize;
            let value_at = at + HEADER_BYTES;
            let name_at = value_at + value_len;
            let end = name_at + name_len;
            let field = Field {
                flags: header[0],
                value: bytes.get(value_at..name_at)?,
                name: text_of(bytes.get(name_at..end)?),
                start: at,
                end,
            };
            at = end;
            Some(field)
        })
    }

    /// The inputs, by name, in the order they were added.
    pub(crate) fn inputs(&self) -> impl Iterator<Item = (&str, ValueRef<'_>)> {
        self.fields()
            .filter(|field| field.flags & OUTPUT == 0)
            .map(|field| (field.name, field.value()))
    }

    /// Whether any input was kept.
    pub(crate) fn has_inputs(&self) -> bool {
        self.inputs().next().is_some()
    }

    /// The output, if one was kept.
    pub(crate) fn output(&self) -> Option<ValueRef<'_>> {
        self.fields()
            .find(|field| field.flags & OUTPUT != 0)
            .map(|field| field.value())
    }

    /// The inputs as a JSON object (a name given twice keeps its last value).
    pub(crate) fn inputs_map(&self) -> Map<String, Value> {
        self.inputs()
            .map(|(name, value)| (name.to_owned(), value.to_value()))
            .collect()
    }

    /// The output as JSON.
    pub(crate) fn output_value(&self) -> Option<Value> {
        self.output().map(ValueRef::to_value)
    }

    /// Adds an input captured (and masked) before: the guard API's, a `tracing` span's
    /// fields.
    pub(crate) fn push_input(&mut self, name: &str, value: &CapturedValue) {
        let mut slot = self.input_slot(name, MAX_VALUE_BYTES);
        slot.masked = true;
        slot.write_captured(value);
    }

    /// Sets the output to a value captured before, replacing any.
    pub(crate) fn set_output(&mut self, value: &CapturedValue) {
        self.output_slot(MAX_VALUE_BYTES).write_captured(value);
    }

    /// Removes every input (the output stays).
    #[cold]
    pub(crate) fn clear_inputs(&mut self) {
        self.remove_where(|flags| flags & OUTPUT == 0);
    }

    /// Where the next input named `name` is written, at most `max` bytes of it; the user's
    /// mask hook sees it under its name.
    #[inline]
    pub(crate) fn input_slot<'a>(&'a mut self, name: &'a str, max: usize) -> CaptureSlot<'a> {
        CaptureSlot {
            values: self,
            name,
            flags: 0,
            max: max.min(MAX_VALUE_BYTES),
            masked: false,
        }
    }

    /// Where the output is written, at most `max` bytes of it; replaces any output.
    #[inline]
    pub(crate) fn output_slot(&mut self, max: usize) -> CaptureSlot<'_> {
        if self.has_output {
            self.remove_where(|flags| flags & OUTPUT != 0);
        }
        self.has_output = true;
        CaptureSlot {
            values: self,
            name: "",
            flags: OUTPUT,
            max: max.min(MAX_VALUE_BYTES),
            // Its strings were masked while written; the hook sees inputs by name.
            masked: true,
        }
    }

    /// Removes the fields whose flags `remove` picks, keeping the others in order.
    #[cold]
    fn remove_where(&mut self, remove: impl Fn(u8) -> bool) {
        let ranges: Vec<(usize, usize)> = self
            .fields()
            .filter(|field| remove(field.flags))
            .map(|field| (field.start, field.end))
            .collect();
        for (start, end) in ranges.into_iter().rev() {
            self.bytes.drain(start..end);
        }
        let has_output = self.fields().any(|field| field.flags & OUTPUT != 0);
        self.has_output = has_output;
    }
}

fn text_of(bytes: &[u8]) -> &str {
    // Only whole UTF-8 texts are written (see `CaptureSlot`): the check cannot fail.
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl fmt::Debug for CapturedValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapturedValues")
            .field("inputs", &self.inputs().collect::<Vec<_>>())
            .field("output", &self.output())
            .finish()
    }
}

/// How a value written as text was captured, which decides how it is kept and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Complete JSON.
    Json,
    /// `Debug` text or a placeholder.
    Text,
    /// A preview cut at the cap, of a value of this many bytes (its marker follows).
    Cut(usize),
    /// Hidden or opaque: nothing for the user's mask hook to see.
    Fixed,
}

/// Where one value of a call goes: `#[monitored]` hands it to the value's capture
/// (`__monitor_capture_into`), which writes the value straight into the call's buffer,
/// its field complete when written.
pub struct CaptureSlot<'a> {
    values: &'a mut CapturedValues,
    name: &'a str,
    flags: u8,
    max: usize,
    /// Nothing left for the user's mask hook: the output, or an input masked before.
    masked: bool,
}

impl fmt::Debug for CaptureSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureSlot")
            .field("name", &self.name)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl CaptureSlot<'_> {
    /// The cap of this value, in bytes.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Keeps a number, `bool` or `char` as its bits; its JSON is written when read. Under a
    /// cap its JSON might not fit, or for an input the user's mask hook must see as text,
    /// it is written now instead.
    #[inline]
    pub(crate) fn write_scalar(self, scalar: Scalar) {
        if self.max < SCALAR_JSON_BYTES || (!self.masked && has_mask_hook()) {
            return self.write_json(&scalar.json_value());
        }
        let name = self.name.as_bytes();
        let name = &name[..name.len().min(MAX_VALUE_BYTES)];
        let mut head = [0u8; HEADER_BYTES + Scalar::BYTES];
        head[0] = self.flags | SCALAR;
        head[1..5].copy_from_slice(&(Scalar::BYTES as u32).to_le_bytes());
        head[5..9].copy_from_slice(&(name.len() as u32).to_le_bytes());
        head[HEADER_BYTES..].copy_from_slice(&scalar.encode());
        append_all(&mut self.values.bytes, [&head, name]);
    }

    /// Writes `value`'s JSON under every bound, as [`CapturedValue::json`] keeps it.
    pub(crate) fn write_json<T: Serialize + ?Sized>(mut self, value: &T) {
        let at = self.open();
        let bytes = std::mem::take(&mut self.values.bytes);
        let (bytes, written) = write_json(value, self.max, bytes);
        self.values.bytes = bytes;
        let kind = match written {
            Written::Complete => Kind::Json,
            Written::Cut { total_bytes } => Kind::Cut(total_bytes),
            Written::Failed(placeholder) => {
                self.values.bytes.truncate(at + HEADER_BYTES);
                append(&mut self.values.bytes, placeholder.as_bytes());
                Kind::Text
            }
        };
        self.close(at, kind);
    }

    /// Writes JSON that serde_json writes whole and that runs no user code (a masked
    /// string); past the cap, the JSON is cut from `fallback`, which the general path
    /// wrote.
    pub(crate) fn write_plain_json<T: Serialize + ?Sized>(
        mut self,
        value: &T,
        fallback: impl FnOnce() -> CapturedValue,
    ) {
        let at = self.open();
        let written = value.serialize(&mut serde_json::Serializer::new(Append(
            &mut self.values.bytes,
        )));
        if written.is_ok() && self.values.bytes.len() - (at + HEADER_BYTES) <= self.max {
            return self.close(at, Kind::Json);
        }
        self.values.bytes.truncate(at);
        self.write_captured(&fallback());
    }

    /// Writes a value captured before, as it was captured.
    pub(crate) fn write_captured(mut self, value: &CapturedValue) {
        let at = self.open();
        let bytes = &mut self.values.bytes;
        let kind = match value {
            CapturedValue::Json(text) => {
                append(bytes, text.as_bytes());
                Kind::Json
            }
            CapturedValue::Text(text) => {
                append(bytes, text.as_bytes());
                Kind::Text
            }
            CapturedValue::Truncated {
                preview,
                total_bytes,
            } => {
                append(bytes, preview.as_bytes());
                Kind::Cut(*total_bytes)
            }
            CapturedValue::Redacted => {
                append(bytes, REDACTED.as_bytes());
                Kind::Fixed
            }
            CapturedValue::Opaque(type_name) => {
                append(bytes, b"<");
                append(bytes, type_name.as_bytes());
                append(bytes, b">");
                Kind::Fixed
            }
        };
        self.close(at, kind);
    }

    /// Starts the field: its header, lengths to come. Returns where it starts.
    fn open(&mut self) -> usize {
        let at = self.values.bytes.len();
        append(&mut self.values.bytes, &[self.flags; HEADER_BYTES]);
        at
    }

    /// Ends the field started at `at`: the user's mask hook, the marker of a cut value,
    /// the name, the lengths and flags.
    fn close(mut self, at: usize, mut kind: Kind) {
        let value_at = at + HEADER_BYTES;
        if !self.masked && has_mask_hook() && kind != Kind::Fixed {
            kind = self.mask_by_name(value_at, kind);
        }
        if let Kind::Cut(total_bytes) = kind {
            let marker = size_marker(total_bytes);
            append(&mut self.values.bytes, marker.as_bytes());
        }
        let bytes = &mut self.values.bytes;
        let value_len = bytes.len() - value_at;
        let name = self.name.as_bytes();
        let name = &name[..name.len().min(MAX_VALUE_BYTES)];
        append(bytes, name);
        let header = &mut bytes[at..value_at];
        header[0] = self.flags | if kind == Kind::Json { JSON } else { 0 };
        header[1..5].copy_from_slice(&(value_len as u32).to_le_bytes());
        header[5..9].copy_from_slice(&(name.len() as u32).to_le_bytes());
    }

    /// Gives the value to the user's mask hook under its input name, as
    /// `capture::mask_named` does: a JSON string as the string, other JSON as its text, a
    /// cut value as its preview.
    #[cold]
    fn mask_by_name(&mut self, value_at: usize, kind: Kind) -> Kind {
        let text = text_of(&self.values.bytes[value_at..]);
        let seen = match kind {
            Kind::Json => serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned()),
            _ => text.to_owned(),
        };
        match apply_mask_hook(self.name, &seen) {
            Some(replacement) => {
                self.values.bytes.truncate(value_at);
                append(&mut self.values.bytes, replacement.as_bytes());
                Kind::Text
            }
            None => kind,
        }
    }
}

impl Scalar {
    /// The value it was made from, as serde_json sees it.
    fn json_value(self) -> impl Serialize {
        struct AsJson(Scalar);
        impl Serialize for AsJson {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    Scalar::U64(value) => serializer.serialize_u64(value),
                    Scalar::I64(value) => serializer.serialize_i64(value),
                    Scalar::F64(value) => serializer.serialize_f64(value),
                    Scalar::F32(value) => serializer.serialize_f32(value),
                    Scalar::Bool(value) => serializer.serialize_bool(value),
                    Scalar::Char(value) => serializer.serialize_char(value),
                }
            }
        }
        AsJson(self)
    }
}

/// serde_json's writer into a call's buffer.
struct Append<'a>(&'a mut Bytes);

impl io::Write for Append<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        append(self.0, bytes);
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        append(self.0, bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_and_output_read_back_as_written() {
        let mut values = CapturedValues::default();
        values.input_slot("a", 100).write_scalar(Scalar::U64(3));
        values.push_input("b", &CapturedValue::Text("Debug text".into()));
        values
            .input_slot("c", 100)
            .write_json(&json!({"api_key": "sk-1", "q": "x"}));
        values.output_slot(100).write_json(&[1, 2]);
        assert_eq!(
            values.inputs_map(),
            json!({"a": 3, "b": "Debug text", "c": {"api_key": "[redacted]", "q": "x"}})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(values.output_value(), Some(json!([1, 2])));
        assert_eq!(
            values.inputs().map(|(name, _)| name).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn scalars_read_back_as_serde_json_writes_them() {
        let scalars = [
            Scalar::U64(u64::MAX),
            Scalar::I64(i64::MIN),
            Scalar::I64(7),
            Scalar::F64(f64::NAN),
            Scalar::F64(-0.0),
            Scalar::F64(1e300),
            Scalar::F32(1.1),
            Scalar::F32(f32::INFINITY),
            Scalar::Bool(true),
            Scalar::Char('"'),
            Scalar::Char('é'),
        ];
        for scalar in scalars {
            let mut values = CapturedValues::default();
            values.input_slot("kept", 4096).write_scalar(scalar);
            // Under a cap the JSON might not fit, it is written (and cut) at once.
            values.input_slot("written", 3).write_scalar(scalar);
            let text = serde_json::to_string(&scalar.json_value()).unwrap();
            let inputs = values.inputs_map();
            assert_eq!(
                inputs["kept"],
                CapturedValue::json(&scalar.json_value(), 4096).to_value()
            );
            assert_eq!(
                inputs["kept"],
                serde_json::from_str::<Value>(&text).unwrap()
            );
            assert_eq!(
                inputs["written"],
                CapturedValue::json(&scalar.json_value(), 3).to_value()
            );
        }
    }

    #[test]
    fn a_new_output_replaces_the_old_and_inputs_can_be_cleared() {
        let mut values = CapturedValues::default();
        values.output_slot(100).write_json("first");
        values.input_slot("a", 100).write_json(&1);
        values.output_slot(100).write_json("second");
        values.input_slot("b", 100).write_json(&2);
        assert_eq!(values.output_value(), Some(json!("second")));
        values.clear_inputs();
        assert!(!values.has_inputs());
        assert_eq!(values.output_value(), Some(json!("second")));
        // Replacing the output many times keeps one.
        for n in 0..1000 {
            values.output_slot(100).write_scalar(Scalar::U64(n));
        }
        assert_eq!(values.output_value(), Some(json!(999)));
        assert!(values.bytes.len() < 64, "{}", values.bytes.len());
    }

    #[test]
    fn cut_values_keep_their_marker_and_read_as_captured_value_does() {
        let long = "x".repeat(1000);
        let mut values = CapturedValues::default();
        values.input_slot("long", 10).write_json(&long);
        values.input_slot("list", 10).write_json(&vec![12345; 100]);
        values.push_input("opaque", &CapturedValue::Opaque("my::Type"));
        values.push_input("secret", &CapturedValue::Redacted);
        for (name, value) in [
            ("long", CapturedValue::json(&long, 10)),
            ("list", CapturedValue::json(&vec![12345; 100], 10)),
            ("opaque", CapturedValue::Opaque("my::Type")),
            ("secret", CapturedValue::Redacted),
        ] {
            assert_eq!(values.inputs_map()[name], value.to_value(), "{name}");
        }
    }

    #[test]
    fn a_long_value_spills_to_the_heap_whole() {
        let text = "é".repeat(500);
        let mut values = CapturedValues::default();
        values.input_slot("text", 4096).write_json(&text);
        assert_eq!(values.inputs_map()["text"], text);
    }

    #[test]
    fn a_grown_buffer_keeps_little_unused_room() {
        let mut values = CapturedValues::default();
        for name in ["a", "b", "c"] {
            values
                .input_slot(name, 1 << 20)
                .write_json(&vec!["some text"; 5_000]);
        }
        let unused = values.bytes.capacity() - values.bytes.len();
        assert!(
            unused <= super::super::buffer::GROWTH_SLACK,
            "{unused} bytes unused"
        );
    }

    #[test]
    fn fits_the_inline_size_it_was_given() {
        assert_eq!(
            std::mem::size_of::<CapturedValues>(),
            super::super::buffer::INLINE_BYTES + 16
        );
    }
}
