//! The fast path of JSON capture for numbers, `bool`, `char` and strings: their JSON is
//! written by serde_json into a buffer on the stack, with no thread-local scratch buffer,
//! no adapter, no depth tracking and no isolation, since no user code runs (the user's
//! mask hook isolates itself).
//!
//! The output is serde_json's own (the same serializer and formatter as the general path),
//! so it is byte for byte what [`capture_json`] keeps: `NaN` and infinities are `null`,
//! strings are masked with the same rules and field name. A value the buffer or the cap
//! cannot hold takes the general path, which cuts it with its marker.

use std::borrow::Cow;

use serde::Serialize;

use super::json::{capture_json, capture_masked_str};
use super::redact::mask_value;
use super::values::{self, CaptureSlot};
use super::CapturedValue;

/// Room for the longest number's JSON: `i128::MIN` is 40 bytes, an `f64` at most 24, an
/// escaped `char` 8.
const NUMBER_JSON_BYTES: usize = 48;

/// Strings whose JSON fits here are written on the stack; longer ones go through the
/// thread's scratch buffer as in the general path.
const TEXT_JSON_BYTES: usize = 256;

mod sealed {
    /// Types whose `Serialize` is serde's own: it runs no user code and never panics.
    pub trait Sealed {}
}

/// A value `#[monitored]` captures on the fast path: a number, `bool`, `char`, string
/// (`str`, `String`, `Cow<str>`, `Box<str>`), or a reference to one. Sealed.
pub trait Scalar: Serialize + sealed::Sealed {
    /// Captures the value as [`capture_json`] would, keeping at most `max` bytes.
    fn capture_scalar(&self, max: usize) -> CapturedValue;

    /// Writes the value into a call's buffer as [`CaptureSlot::write_json`] would.
    fn capture_scalar_into(&self, slot: CaptureSlot<'_>);
}

/// `Scalar` for each type, captured by the functions given for the group.
macro_rules! scalars {
    ($($capture:ident, $into:ident: $($ty:ty),*;)*) => {$($(
        impl sealed::Sealed for $ty {}
        impl Scalar for $ty {
            #[inline]
            fn capture_scalar(&self, max: usize) -> CapturedValue {
                $capture(self, max)
            }

            #[inline]
            fn capture_scalar_into(&self, slot: CaptureSlot<'_>) {
                $into(self, slot)
            }
        }
    )*)*};
}

scalars! {
    capture_plain, bits_into: u8, u16, u32, u64, usize, i8, i16, i32, i64, isize;
    capture_plain, bits_into: f32, f64, bool, char;
    capture_plain, wide_into: u128, i128;
    capture_text, text_into: str, String, Cow<'_, str>, Box<str>;
}

impl<T: Scalar + ?Sized> sealed::Sealed for &T {}
impl<T: Scalar + ?Sized> Scalar for &T {
    #[inline]
    fn capture_scalar(&self, max: usize) -> CapturedValue {
        (**self).capture_scalar(max)
    }

    #[inline]
    fn capture_scalar_into(&self, slot: CaptureSlot<'_>) {
        (**self).capture_scalar_into(slot)
    }
}

/// A value with nothing to mask: its JSON, or the general path when over the cap.
#[inline]
fn capture_plain<T: Serialize + ?Sized>(value: &T, max: usize) -> CapturedValue {
    let mut buffer = [0u8; NUMBER_JSON_BYTES];
    match write_json(value, &mut buffer) {
        Some(json) if json.len() <= max => CapturedValue::Json(json.into()),
        // Over the cap (a tiny `max_field_bytes`): the general path writes the marker.
        _ => capture_json(value, max),
    }
}

/// A top-level string: masked as the general path masks it (field name `""`), then
/// written; the hook runs once whichever way the value is written.
fn capture_text(text: &str, max: usize) -> CapturedValue {
    // One that may not fit the cap (the general path cuts it before masking) or the buffer.
    if text.len() + 2 > max.min(TEXT_JSON_BYTES) {
        return capture_json(text, max);
    }
    let masked = mask_value("", text);
    let mut buffer = [0u8; TEXT_JSON_BYTES];
    match write_json(&*masked, &mut buffer) {
        Some(json) if json.len() <= max => CapturedValue::Json(json.into()),
        // Escapes or the mask made it longer than the buffer or the cap.
        _ => capture_masked_str(&masked, max),
    }
}

// Into a call's buffer: numbers, `bool` and `char` as their bits (written as JSON when
// read), 128-bit numbers and strings as their JSON.

/// The bits a number, `bool` or `char` is kept as.
trait Bits: Copy {
    fn bits(self) -> values::Scalar;
}

/// `Bits` for each type, as the variant given for the group (`usize` and `isize` are at
/// most 64 bits).
macro_rules! bits {
    ($($variant:ident($as:ty): $($ty:ty),*;)*) => {$($(
        impl Bits for $ty {
            #[inline]
            #[allow(clippy::unnecessary_cast)]
            fn bits(self) -> values::Scalar {
                values::Scalar::$variant(self as $as)
            }
        }
    )*)*};
}

bits! {
    U64(u64): u8, u16, u32, u64, usize;
    I64(i64): i8, i16, i32, i64, isize;
    F32(f32): f32;
    F64(f64): f64;
    Bool(bool): bool;
    Char(char): char;
}

#[inline]
fn bits_into<T: Bits>(value: &T, slot: CaptureSlot<'_>) {
    slot.write_scalar(value.bits());
}

#[inline]
fn wide_into<T: Serialize>(value: &T, slot: CaptureSlot<'_>) {
    let max = slot.max();
    slot.write_plain_json(value, || capture_json(value, max));
}

/// [`capture_text`] straight into a call's buffer, with no limit but the cap.
fn text_into(text: &str, slot: CaptureSlot<'_>) {
    let max = slot.max();
    if text.len() + 2 > max {
        return slot.write_json(text);
    }
    let masked = mask_value("", text);
    // Escapes or the mask may make it longer than the cap.
    slot.write_plain_json(&*masked, || capture_masked_str(&masked, max));
}

/// Writes `value`'s JSON into `buffer`; `None` if it does not fit.
fn write_json<'b, T: Serialize + ?Sized, const N: usize>(
    value: &T,
    buffer: &'b mut [u8; N],
) -> Option<&'b str> {
    let mut rest: &mut [u8] = buffer;
    value
        .serialize(&mut serde_json::Serializer::new(&mut rest))
        .ok()?;
    let written = N - rest.len();
    let written = &buffer[..written];
    debug_assert!(std::str::from_utf8(written).is_ok());
    // SAFETY: serde_json writes whole `str`s (a string is split only at ASCII escapes) and
    // ASCII, so what it wrote is UTF-8; a piece that did not fit whole failed the write,
    // and returned above. (Checking again would cost a third of a small capture.)
    Some(unsafe { std::str::from_utf8_unchecked(written) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast paths and the general path keep the same value: on its own, and written
    /// into a call's buffer (as an argument and as the output), read back.
    fn same_as_general<T: Scalar + ?Sized>(value: &T, max: usize) {
        let general = capture_json(value, max);
        assert_eq!(value.capture_scalar(max), general);
        let mut values = values::CapturedValues::default();
        value.capture_scalar_into(values.input_slot("value", max));
        value.capture_scalar_into(values.output_slot(max));
        assert_eq!(
            values.inputs_map()["value"],
            general.to_value(),
            "max {max}"
        );
        assert_eq!(values.output_value(), Some(general.to_value()), "max {max}");
    }

    #[test]
    fn edge_values_match_the_general_path() {
        for max in [0, 1, 3, 9, 30, 4096] {
            same_as_general(&u128::MAX, max);
            same_as_general(&i128::MIN, max);
            same_as_general(&f64::NAN, max);
            same_as_general(&f64::INFINITY, max);
            same_as_general(&f32::NEG_INFINITY, max);
            same_as_general(&-0.0f64, max);
            same_as_general(&1e300f64, max);
            same_as_general(&f64::MIN_POSITIVE, max);
            same_as_general(&1.0f32, max);
            same_as_general(&true, max);
            same_as_general(&'"', max);
            same_as_general(&'\u{1f}', max);
            same_as_general(&'é', max);
            same_as_general(&&&7u8, max);
        }
        assert_eq!(
            f64::NAN.capture_scalar(4096),
            CapturedValue::Json("null".into())
        );
    }

    #[test]
    fn edge_strings_match_the_general_path() {
        let long = "ab\"c\u{1}é".repeat(40);
        for max in [0, 1, 2, 3, 8, 30, 255, 256, 257, 300, 4096] {
            for text in [
                "",
                "plain",
                "quote \" and \\ and \n and \u{7f} and \u{1f}",
                "ééé",
                "postgres://app:hunter2@db:5432/x",
                "see https://h/p?api_key=sk-1&q=2",
                "Authorization: Bearer eyJhbGciOi.x.y",
                "u:p@h",
                &long,
                &long[..250],
            ] {
                same_as_general(text, max);
                same_as_general(&text.to_owned(), max);
                same_as_general(&Cow::Borrowed(text), max);
                same_as_general(&Box::<str>::from(text), max);
            }
        }
    }

    /// Many bit patterns (proptest, in the facade's `tests/properties.rs`, tries more).
    #[test]
    fn bit_patterns_match_the_general_path() {
        let mut bits = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..2_000 {
            bits = bits.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let max = step % 30;
            same_as_general(&f64::from_bits(bits), max);
            same_as_general(&f32::from_bits((bits >> 32) as u32), max);
            same_as_general(&(bits as i64), max);
            same_as_general(&u128::from(bits).wrapping_mul(u128::from(bits)), max);
            let letter = char::from_u32((bits >> 43) as u32).unwrap_or('x');
            same_as_general(&letter, max);
            same_as_general(&letter.to_string().repeat(step % 7), max);
        }
    }
}
