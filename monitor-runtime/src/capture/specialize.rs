//! Autoref specialization for `#[monitored]`: picks, at the expansion site and by type, how
//! to capture a value, how to classify an output, and how to describe an error, with no
//! bounds asked of the user.
//!
//! Each choice is a set of traits with one method of the same name, implemented for
//! `Wrap<T>` behind different numbers of references. Generated code calls the method on
//! the most-referenced form (`(&&&&Wrap(&x)).__monitor_capture(..)`); method resolution
//! strips one `&` at a time and takes the first impl whose bounds hold: the strongest
//! capability wins.
//!
//! Limit: inside a generic function, only the declared bounds of a type parameter are
//! visible. An argument of type `T` where `T` is declared without `Serialize` is captured
//! with `Debug` (if declared) or as a placeholder, even when the concrete type at a call
//! is `Serialize`. Declare the bound (`T: Serialize`) to get JSON.

use std::fmt::{Debug, Display};
use std::ops::Deref;

use serde::Serialize;

use crate::capture::scalar::Scalar;
use crate::capture::values::CaptureSlot;
use crate::capture::CapturedValue;
use crate::entry::ErrorInfo;

/// A borrowed value, the receiver of every specialized method.
#[derive(Debug)]
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

// ---------------------------------------------------------------------------------------
// Capture: `Serialize` as JSON, else `Debug` text, else the type name.

/// Capture as JSON, for `Serialize` types. Called as `(&&&&Wrap(&x)).__monitor_capture(max)`.
///
/// Two impls, one level apart: numbers, `bool`, `char` and strings (the sealed `Scalar`
/// types) take a fast path that writes them straight into their JSON; every other
/// `Serialize` type goes through the general path. They share the trait so that generated
/// code names no extra trait for the fast path.
///
/// Each trait has two methods: `__monitor_capture` gives a [`CapturedValue`] (a stream's
/// item, say), `__monitor_capture_into` writes the value straight into a call's buffer
/// (its arguments and output), with nothing in between.
pub trait CaptureJson {
    /// Captures the value, keeping at most `max_bytes` bytes.
    fn __monitor_capture(&self, max_bytes: usize) -> CapturedValue;

    /// Writes the value into `slot`, keeping at most the slot's cap.
    fn __monitor_capture_into(&self, slot: CaptureSlot<'_>);
}

impl<T: Scalar + ?Sized> CaptureJson for &&&Wrap<'_, T> {
    #[inline]
    fn __monitor_capture(&self, max_bytes: usize) -> CapturedValue {
        #[cfg(test)]
        tests::FAST_PATH_TAKEN.with(|taken| taken.set(taken.get() + 1));
        self.0.capture_scalar(max_bytes)
    }

    #[inline]
    fn __monitor_capture_into(&self, slot: CaptureSlot<'_>) {
        #[cfg(test)]
        tests::FAST_PATH_TAKEN.with(|taken| taken.set(taken.get() + 1));
        self.0.capture_scalar_into(slot)
    }
}

impl<T: Serialize + ?Sized> CaptureJson for &&Wrap<'_, T> {
    #[inline]
    fn __monitor_capture(&self, max_bytes: usize) -> CapturedValue {
        CapturedValue::json(self.0, max_bytes)
    }

    #[inline]
    fn __monitor_capture_into(&self, slot: CaptureSlot<'_>) {
        slot.write_json(self.0)
    }
}

/// Capture as `Debug` text, for types that are `Debug` but not `Serialize`.
pub trait CaptureDebug {
    /// Captures the value, keeping at most `max_bytes` bytes.
    fn __monitor_capture(&self, max_bytes: usize) -> CapturedValue;

    /// Writes the value into `slot`, keeping at most the slot's cap.
    fn __monitor_capture_into(&self, slot: CaptureSlot<'_>);
}

impl<T: Debug + ?Sized> CaptureDebug for &Wrap<'_, T> {
    #[inline]
    fn __monitor_capture(&self, max_bytes: usize) -> CapturedValue {
        CapturedValue::debug(self.0, max_bytes)
    }

    fn __monitor_capture_into(&self, slot: CaptureSlot<'_>) {
        let captured = CapturedValue::debug(self.0, slot.max());
        slot.write_captured(&captured)
    }
}

/// Capture as a placeholder naming the type, for everything else.
pub trait CaptureOpaque {
    /// Captures the type name only.
    fn __monitor_capture(&self, max_bytes: usize) -> CapturedValue;

    /// Writes the type name into `slot`.
    fn __monitor_capture_into(&self, slot: CaptureSlot<'_>);
}

impl<T: ?Sized> CaptureOpaque for Wrap<'_, T> {
    #[inline]
    fn __monitor_capture(&self, _max_bytes: usize) -> CapturedValue {
        CapturedValue::Opaque(std::any::type_name::<T>())
    }

    fn __monitor_capture_into(&self, slot: CaptureSlot<'_>) {
        slot.write_captured(&CapturedValue::Opaque(std::any::type_name::<T>()))
    }
}

// ---------------------------------------------------------------------------------------
// Outcome: `Result` by type (aliases too), everything else a success.

/// How a call's output ended: the success value (the `Ok` value of a `Result`, otherwise
/// the output), or the error of an `Err`.
#[derive(Debug)]
pub enum Outcome<'a, T: ?Sized, E: ?Sized> {
    /// The call succeeded with this value.
    Ok(&'a T),
    /// The call returned `Err` with this error.
    Err(&'a E),
}

/// The error type of outputs that cannot fail. Uninhabited.
#[derive(Debug)]
pub enum NoError {}

/// The outcome of a `Result`. Called as `(&&Wrap(&out)).__monitor_outcome()`.
pub trait OutcomeOfResult<'a> {
    /// The success type.
    type Ok: ?Sized;
    /// The error type.
    type Err: ?Sized;
    /// Splits the output into success value or error.
    fn __monitor_outcome(&self) -> Outcome<'a, Self::Ok, Self::Err>;
}

impl<'a, T, E> OutcomeOfResult<'a> for &Wrap<'a, Result<T, E>> {
    type Ok = T;
    type Err = E;

    #[inline]
    fn __monitor_outcome(&self) -> Outcome<'a, T, E> {
        match self.0 {
            Ok(value) => Outcome::Ok(value),
            Err(error) => Outcome::Err(error),
        }
    }
}

/// The outcome of any other output: a success.
pub trait OutcomeOfValue<'a> {
    /// The success type.
    type Ok: ?Sized;
    /// The error type.
    type Err: ?Sized;
    /// Splits the output into success value or error.
    fn __monitor_outcome(&self) -> Outcome<'a, Self::Ok, Self::Err>;
}

impl<'a, T: ?Sized> OutcomeOfValue<'a> for Wrap<'a, T> {
    type Ok = T;
    type Err = NoError;

    #[inline]
    fn __monitor_outcome(&self) -> Outcome<'a, T, NoError> {
        Outcome::Ok(self.0)
    }
}

// ---------------------------------------------------------------------------------------
// Error description: `std::error::Error` (message, kind, source chain, backtrace), else a
// pointer to one (`anyhow::Error`, `Box<dyn Error>`), else `Display`, else `Debug`, else the
// type name alone. Called as `(&&&&&Wrap(error)).__monitor_error_info()`.

/// Describes a `std::error::Error`.
pub trait ErrorViaStd {
    /// The error's description.
    fn __monitor_error_info(&self) -> ErrorInfo;
}

impl<E: std::error::Error + ?Sized> ErrorViaStd for &&&&Wrap<'_, E> {
    fn __monitor_error_info(&self) -> ErrorInfo {
        ErrorInfo::from_error(self.0)
    }
}

/// Describes a smart pointer to a `std::error::Error`, as `anyhow::Error` and
/// `Box<dyn Error>` are: the kind is the pointer's type, the message and source chain come
/// from the error it points to.
pub trait ErrorViaDeref {
    /// The error's description.
    fn __monitor_error_info(&self) -> ErrorInfo;
}

impl<E> ErrorViaDeref for &&&Wrap<'_, E>
where
    E: Deref + ?Sized,
    E::Target: std::error::Error,
{
    fn __monitor_error_info(&self) -> ErrorInfo {
        let mut info = ErrorInfo::from_error(&**self.0);
        info.kind = std::any::type_name::<E>().to_owned();
        info
    }
}

/// Describes an error that is only `Display`.
pub trait ErrorViaDisplay {
    /// The error's description.
    fn __monitor_error_info(&self) -> ErrorInfo;
}

impl<E: Display + ?Sized> ErrorViaDisplay for &&Wrap<'_, E> {
    fn __monitor_error_info(&self) -> ErrorInfo {
        ErrorInfo::from_display(self.0)
    }
}

/// Describes an error that is only `Debug`: the message is its `Debug` text.
pub trait ErrorViaDebug {
    /// The error's description.
    fn __monitor_error_info(&self) -> ErrorInfo;
}

impl<E: Debug + ?Sized> ErrorViaDebug for &Wrap<'_, E> {
    fn __monitor_error_info(&self) -> ErrorInfo {
        let message = CapturedValue::debug(self.0, crate::capture::DEFAULT_MAX_FIELD_BYTES);
        let message = match message.to_value() {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        ErrorInfo::new(std::any::type_name::<E>(), message)
    }
}

/// Describes any other error by its type name.
pub trait ErrorViaTypeName {
    /// The error's description.
    fn __monitor_error_info(&self) -> ErrorInfo;
}

impl<E: ?Sized> ErrorViaTypeName for Wrap<'_, E> {
    fn __monitor_error_info(&self) -> ErrorInfo {
        let kind = std::any::type_name::<E>();
        ErrorInfo::new(kind, kind)
    }
}

// ---------------------------------------------------------------------------------------
// Stream items: text (`AsRef<str>`: `String`, `&str`, `Cow<str>`) is concatenated into the
// output, anything else is captured on its own. Called as
// `(&&Wrap(item)).__monitor_item_text()`.

/// The text of a text item.
pub trait ItemAsText<'a> {
    /// The item's text.
    fn __monitor_item_text(&self) -> Option<&'a str>;
}

impl<'a, T: AsRef<str> + ?Sized> ItemAsText<'a> for &Wrap<'a, T> {
    #[inline]
    fn __monitor_item_text(&self) -> Option<&'a str> {
        Some(self.0.as_ref())
    }
}

/// Any other item: not text.
pub trait ItemAsValue<'a> {
    /// `None`.
    fn __monitor_item_text(&self) -> Option<&'a str>;
}

impl<'a, T: ?Sized> ItemAsValue<'a> for Wrap<'a, T> {
    #[inline]
    fn __monitor_item_text(&self) -> Option<&'a str> {
        None
    }
}

#[cfg(test)]
// The extra borrows are the mechanism under test, as in generated code.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    struct Plain;

    #[derive(Debug)]
    struct DebugOnly;

    thread_local! {
        /// How many captures took the scalar fast path on this thread.
        pub(super) static FAST_PATH_TAKEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn fast_path_taken() -> usize {
        FAST_PATH_TAKEN.with(std::cell::Cell::get)
    }

    #[test]
    fn capture_picks_the_strongest_form() {
        assert_eq!(
            (&&&&Wrap(&3)).__monitor_capture(100),
            CapturedValue::Json("3".into())
        );
        assert_eq!(
            (&&&&Wrap(&vec![1])).__monitor_capture(100),
            CapturedValue::Json("[1]".into())
        );
        assert_eq!(
            (&&&&Wrap(&DebugOnly)).__monitor_capture(100),
            CapturedValue::Text("DebugOnly".into())
        );
        assert!(
            matches!((&&&&Wrap(&Plain)).__monitor_capture(100), CapturedValue::Opaque(name) if name.ends_with("Plain"))
        );
    }

    #[test]
    fn scalars_and_strings_take_the_fast_path() {
        let before = fast_path_taken();
        let text = "hi";
        let _ = (&&&&Wrap(&3u64)).__monitor_capture(100);
        let _ = (&&&&Wrap(&text)).__monitor_capture(100);
        let _ = (&&&&Wrap(&String::new())).__monitor_capture(100);
        let _ = (&&&&Wrap(&&1.5f64)).__monitor_capture(100);
        assert_eq!(fast_path_taken(), before + 4);
        let _ = (&&&&Wrap(&Some(3u64))).__monitor_capture(100);
        let _ = (&&&&Wrap(&DebugOnly)).__monitor_capture(100);
        assert_eq!(fast_path_taken(), before + 4);
    }

    #[test]
    fn outcomes_by_type() {
        type Alias<T> = Result<T, std::io::Error>;
        let ok: Alias<u8> = Ok(1);
        assert!(matches!((&&Wrap(&ok)).__monitor_outcome(), Outcome::Ok(1)));
        let err: Alias<u8> = Err(std::io::Error::other("boom"));
        let Outcome::Err(error) = (&&Wrap(&err)).__monitor_outcome() else {
            panic!("expected an error");
        };
        let info = (&&&&&Wrap(error)).__monitor_error_info();
        assert_eq!(info.message, "boom");
        assert_eq!(info.kind, "std::io::error::Error");
        assert!(matches!((&&Wrap(&5)).__monitor_outcome(), Outcome::Ok(5)));
    }

    #[test]
    fn errors_by_capability() {
        let boxed: Box<dyn std::error::Error> = "bad".into();
        let info = (&&&&&Wrap(&boxed)).__monitor_error_info();
        assert_eq!(info.message, "bad");
        assert!(info.kind.starts_with("alloc::boxed::Box<dyn"));
        let info = (&&&&&Wrap(&"text")).__monitor_error_info();
        assert_eq!(info.message, "text");
        let info = (&&&&&Wrap(&DebugOnly)).__monitor_error_info();
        assert_eq!(info.message, "DebugOnly");
        let info = (&&&&&Wrap(&Plain)).__monitor_error_info();
        assert!(info.message.ends_with("Plain"));
    }
}
