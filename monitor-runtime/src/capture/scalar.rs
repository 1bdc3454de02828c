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
}

/// `Scalar` for each type, captured by the function given for the group.
macro_rules! scalars {
    ($($capture:ident: $($ty:ty),*;)*) => {$($(
        impl sealed::Sealed for $ty {}
        impl Scalar for $ty {
            #[inline]
            fn capture_scalar(&self, max: usize) -> CapturedValue {
                $capture(self, max)
            }
        }
    )*)*};
}

scalars! {
    capture_plain: u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize;
    capture_plain: f32, f64, bool, char;
    capture_text: str, String, Cow<'_, str>, Box<str>;
}

impl<T: Scalar + ?Sized> sealed::Sealed for &T {}
impl<T: Scalar + ?Sized> Scalar for &T {
    #[inline]
    fn capture_scalar(&self, max: usize) -> CapturedValue {
        (**self).capture_scalar(max)
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

    /// The fast path and the general path keep the same value.
    fn same_as_general<T: Scalar + ?Sized>(value: &T, max: usize) {
        assert_eq!(value.capture_scalar(max), capture_json(value, max));
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
