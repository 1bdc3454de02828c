//! JSON capture through a serde `Serializer` adapter that applies every bound while the
//! value is written, not after:
//!
//! - strings and byte strings are cut to the room left under the cap (plus a margin for
//!   masking) before serde_json sees them, so a 10 MB string costs about what a 4 KiB one
//!   does; the writer refuses bytes past the cap, which stops serialization there;
//! - struct fields and map keys named like secrets are written as `"[redacted]"`;
//! - every string leaf is masked (credentials in URLs, bearer tokens, the user's hook,
//!   called with the nearest field name);
//! - values nested deeper than [`MAX_DEPTH`] are written as a marker string instead of
//!   being walked, so a deep value cannot overflow the stack.

use std::cell::{Cell, RefCell};
use std::fmt::{self, Write as _};
use std::io;

use serde::ser::{
    Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

use super::buffer::{append, Bytes};
use super::isolate::{count_failure, isolated};
use super::key::key_name;
use super::redact::{is_secret_name, mask_value};
use super::text::{depth_marker, keep_text, prefix_at_most, TextSink, MASK_MARGIN};
use super::{CapturedValue, MAX_DEPTH, REDACTED};

/// Where captured JSON goes: a buffer, from `start`, keeping at most `cap` bytes there;
/// counts every byte offered (and the bytes of strings cut before writing), and fails the
/// write that would pass the cap.
///
/// serde_json writes many small pieces, each valid UTF-8 (it splits strings only at ASCII
/// escapes), so the sink copies bytes and checks UTF-8 once, at the end.
struct JsonSink {
    kept: RefCell<Bytes>,
    start: usize,
    cap: usize,
    seen: Cell<usize>,
    full: Cell<bool>,
}

thread_local! {
    /// The buffer a value captured on its own ([`capture_json`]) is written into, reused:
    /// the capture then allocates once, the exact size of what it keeps, instead of
    /// growing a buffer and shrinking it.
    static SCRATCH: Cell<Bytes> = const { Cell::new(Bytes::new_const()) };
}

/// A scratch buffer larger than this is not kept for the next capture.
const SCRATCH_KEPT_BYTES: usize = 64 * 1024;

impl JsonSink {
    fn new(kept: Bytes, start: usize, cap: usize) -> Self {
        JsonSink {
            kept: RefCell::new(kept),
            start,
            cap,
            seen: Cell::new(0),
            full: Cell::new(false),
        }
    }

    fn room(&self) -> usize {
        let written = self.kept.borrow().len() - self.start;
        self.cap.saturating_sub(written)
    }

    fn count(&self, bytes: usize) {
        self.seen.set(self.seen.get().saturating_add(bytes));
    }

    /// How the value ended, its bytes made whole UTF-8 text: an incomplete last
    /// character (the cap cut it) is dropped.
    fn finish(
        self,
        result: Result<Result<(), serde_json::Error>, String>,
        max: usize,
    ) -> (Bytes, Written) {
        let (full, seen) = (self.full.get(), self.seen.get());
        let mut kept = self.kept.into_inner();
        let written = &kept[self.start..];
        if let Err(error) = std::str::from_utf8(written) {
            let mut valid = written;
            if error.error_len().is_none() {
                valid = &valid[..error.valid_up_to()];
            }
            let text = String::from_utf8_lossy(valid).into_owned();
            kept.truncate(self.start);
            append(&mut kept, text.as_bytes());
        }
        let written = match result {
            Ok(_) if full => Written::Cut { total_bytes: seen },
            Ok(Ok(())) => Written::Complete,
            Ok(Err(error)) => {
                count_failure();
                let error = keep_text("", &error.to_string(), max);
                Written::Failed(format!("<serialize error: {error}>"))
            }
            Err(message) => {
                let message = keep_text("", &message, max);
                Written::Failed(format!("<capture panicked: {message}>"))
            }
        };
        (kept, written)
    }
}

impl io::Write for &JsonSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.full.get() {
            return Err(io::Error::other("capture cap reached"));
        }
        self.count(bytes.len());
        let mut kept = self.kept.borrow_mut();
        let room = self.cap.saturating_sub(kept.len() - self.start);
        if bytes.len() <= room {
            append(&mut kept, bytes);
            return Ok(bytes.len());
        }
        append(&mut kept, &bytes[..room]);
        self.full.set(true);
        Err(io::Error::other("capture cap reached"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a value's JSON ended in its buffer.
pub(crate) enum Written {
    /// Complete JSON.
    Complete,
    /// A preview cut at the cap, of a value of at least this many bytes.
    Cut { total_bytes: usize },
    /// `Serialize` failed or panicked: this placeholder replaces what it wrote.
    Failed(String),
}

/// Writes `value`'s JSON at the end of `bytes` under every bound (see the module
/// documentation); the bytes come back with it.
pub(crate) fn write_json<T: Serialize + ?Sized>(
    value: &T,
    max: usize,
    bytes: Bytes,
) -> (Bytes, Written) {
    let start = bytes.len();
    let sink = JsonSink::new(bytes, start, max);
    let result = isolated(|| {
        let mut serializer = serde_json::Serializer::new(&sink);
        Guarded {
            value,
            sink: &sink,
            depth: 0,
            field: "",
        }
        .serialize(&mut serializer)
    });
    sink.finish(result, max)
}

/// Captures `value` as JSON under every bound, on its own; see the module documentation.
pub(crate) fn capture_json<T: Serialize + ?Sized>(value: &T, max: usize) -> CapturedValue {
    let (scratch, written) = write_json(value, max, scratch());
    captured(scratch, written)
}

/// Captures a top-level string that is already masked and fits the cap before escaping,
/// as [`capture_json`] would write it (no user code runs: no isolation).
pub(crate) fn capture_masked_str(masked: &str, max: usize) -> CapturedValue {
    let sink = JsonSink::new(scratch(), 0, max);
    let result = masked.serialize(&mut serde_json::Serializer::new(&sink));
    let (scratch, written) = sink.finish(Ok(result), max);
    captured(scratch, written)
}

/// This thread's scratch buffer, empty (an empty new one when a capture inside a
/// capture, a `Serialize` impl that calls monitored code, has it).
fn scratch() -> Bytes {
    let mut scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
    scratch.clear();
    scratch
}

/// The captured value from what was written into `scratch`, which goes back to the
/// thread for the next capture.
fn captured(scratch: Bytes, written: Written) -> CapturedValue {
    // `finish` left whole UTF-8 text.
    let kept = std::str::from_utf8(&scratch).unwrap_or_default();
    let value = match written {
        Written::Complete => CapturedValue::Json(kept.into()),
        Written::Cut { total_bytes } => CapturedValue::Truncated {
            preview: kept.into(),
            total_bytes,
        },
        Written::Failed(placeholder) => CapturedValue::Text(placeholder.into()),
    };
    if scratch.capacity() <= SCRATCH_KEPT_BYTES {
        let _ = SCRATCH.try_with(|cell| cell.set(scratch));
    }
    value
}

/// A value to serialize through the [`Adapter`], with where it stands.
struct Guarded<'a, T: ?Sized> {
    value: &'a T,
    sink: &'a JsonSink,
    /// How many values enclose this one.
    depth: usize,
    /// The nearest enclosing field or key, given to the user's mask hook.
    field: &'a str,
}

impl<T: Serialize + ?Sized> Serialize for Guarded<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.depth > MAX_DEPTH {
            return serializer.serialize_str(&depth_marker());
        }
        self.value.serialize(Adapter {
            inner: serializer,
            sink: self.sink,
            depth: self.depth,
            field: self.field,
        })
    }
}

/// Forwards to serde_json's serializer, applying the bounds on the way.
struct Adapter<'a, S> {
    inner: S,
    sink: &'a JsonSink,
    depth: usize,
    field: &'a str,
}

impl<'a, S: Serializer> Adapter<'a, S> {
    fn nested<'b, T: ?Sized>(&self, value: &'b T) -> Guarded<'b, T>
    where
        'a: 'b,
    {
        Guarded {
            value,
            sink: self.sink,
            depth: self.depth + 1,
            field: self.field,
        }
    }

    fn string(self, text: &str) -> Result<S::Ok, S::Error> {
        // Escapes only lengthen a string, so `room + 1` source bytes are enough to fill the
        // cap; the margin lets masking see a credential that straddles the cut.
        let room = self.sink.room();
        let looked_at = if text.len() + 2 <= room {
            text
        } else {
            // The rest, and the closing quote serde_json will not get to write.
            let looked_at = prefix_at_most(text, room.saturating_add(MASK_MARGIN));
            self.sink.count(text.len() - looked_at.len() + 1);
            looked_at
        };
        let masked = mask_value(self.field, looked_at);
        self.inner.serialize_str(&masked)
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.inner.$method($($arg),*)
        }
    )*};
}

/// Opens a compound value one level deeper.
macro_rules! open {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $compound:ident;)*) => {$(
        fn $method(self, $($arg: $ty),*) -> Result<Self::$compound, S::Error> {
            let Adapter { inner, sink, depth, field } = self;
            Ok(Compound {
                inner: inner.$method($($arg),*)?,
                sink,
                depth: depth + 1,
                field,
                key: None,
            })
        }
    )*};
}

impl<'a, S: Serializer> Serializer for Adapter<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'a, S::SerializeSeq>;
    type SerializeTuple = Compound<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'a, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'a, S::SerializeMap>;
    type SerializeStruct = Compound<'a, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'a, S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.string(v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        // Each byte is at least one digit of JSON: `room + 1` bytes fill the cap.
        let keep = v.len().min(self.sink.room().saturating_add(1));
        self.sink.count(v.len() - keep);
        self.inner.serialize_bytes(&v[..keep])
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let nested = self.nested(value);
        self.inner.serialize_some(&nested)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let nested = self.nested(value);
        self.inner.serialize_newtype_struct(name, &nested)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let nested = self.nested(value);
        self.inner
            .serialize_newtype_variant(name, index, variant, &nested)
    }

    open! {
        serialize_seq(len: Option<usize>) -> SerializeSeq;
        serialize_tuple(len: usize) -> SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> SerializeTupleStruct;
        serialize_tuple_variant(
            name: &'static str,
            index: u32,
            variant: &'static str,
            len: usize
        ) -> SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> SerializeStruct;
        serialize_struct_variant(
            name: &'static str,
            index: u32,
            variant: &'static str,
            len: usize
        ) -> SerializeStructVariant;
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        // Written into a capped sink, never whole: a huge `Display` costs the cap.
        let mut text = TextSink::plain(self.sink.room());
        let _ = write!(text, "{value}");
        let (kept, seen) = text.into_parts();
        self.sink.count(seen - kept.len());
        self.string(&kept)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A sequence, tuple, map or struct being written: its elements are [`Guarded`] one level
/// deeper, and secret-named fields and keys are written as `"[redacted]"`.
struct Compound<'a, C> {
    inner: C,
    sink: &'a JsonSink,
    depth: usize,
    field: &'a str,
    /// The name of the map key just written, when it is a string.
    key: Option<String>,
}

macro_rules! elements {
    ($($trait:ident::$method:ident;)*) => {$(
        impl<C: $trait> $trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                let Compound { inner, sink, depth, field, .. } = self;
                inner.$method(&Guarded { value, sink, depth: *depth, field })
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    )*};
}

elements! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

macro_rules! fields {
    ($($trait:ident;)*) => {$(
        impl<C: $trait> $trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), C::Error> {
                if is_secret_name(key) {
                    return self.inner.serialize_field(key, REDACTED);
                }
                let Compound { inner, sink, depth, .. } = self;
                inner.serialize_field(key, &Guarded { value, sink, depth: *depth, field: key })
            }

            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    )*};
}

fields! {
    SerializeStruct;
    SerializeStructVariant;
}

impl<C: SerializeMap> SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        self.key = key_name(key);
        let Compound {
            inner, sink, depth, ..
        } = self;
        inner.serialize_key(&Guarded {
            value: key,
            sink,
            depth: *depth,
            field: "",
        })
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let key = self.key.take();
        if key.as_deref().is_some_and(is_secret_name) {
            return self.inner.serialize_value(REDACTED);
        }
        let field = key.as_deref().unwrap_or(self.field);
        let Compound {
            inner, sink, depth, ..
        } = self;
        inner.serialize_value(&Guarded {
            value,
            sink,
            depth: *depth,
            field,
        })
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_while_writing_even_past_the_cap() {
        let value =
            json!({"config": {"api_key": "sk-123456", "model": "m"}, "pad": "x".repeat(100)});
        let CapturedValue::Json(text) = capture_json(&value, 1000) else {
            panic!("expected complete JSON");
        };
        assert!(!text.contains("sk-123456"), "{text}");
        assert!(text.contains("\"api_key\":\"[redacted]\""), "{text}");
        let truncated = capture_json(&value, 40);
        let CapturedValue::Truncated { preview, .. } = truncated else {
            panic!("expected a truncated value");
        };
        assert!(!preview.contains("sk-"), "{preview}");
    }

    #[test]
    fn huge_strings_are_cut_before_writing() {
        let big = "a".repeat(1 << 20);
        let CapturedValue::Truncated {
            preview,
            total_bytes,
        } = capture_json(&big, 100)
        else {
            panic!("expected a truncated value");
        };
        assert_eq!(preview.len(), 100);
        assert_eq!(total_bytes, (1 << 20) + 2);
    }

    #[test]
    fn depth_is_bounded() {
        let mut value = json!(1);
        for _ in 0..200 {
            value = json!([value]);
        }
        let CapturedValue::Json(text) = capture_json(&value, 100_000) else {
            panic!("expected JSON");
        };
        assert!(text.contains("nested deeper than"), "{text}");
        assert_eq!(text.matches('[').count(), MAX_DEPTH + 1 + 1);
        // A drop of 200 nested arrays is fine on the test thread.
    }
}
