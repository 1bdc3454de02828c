//! The text of a captured value, kept inline when short.

use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;

/// The text of a captured value: up to 24 bytes (a number, a flag, a short string's JSON)
/// kept inline, longer text on the heap. A monitored call captures a few such values; most
/// are small, and one allocation each would cost more than writing them.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::capture::{CapturedText, CapturedValue};
///
/// let value = CapturedValue::Json(CapturedText::from("42"));
/// assert_eq!(value.to_value(), serde_json::json!(42));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct CapturedText(CompactString);

impl CapturedText {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The text as a `String` (allocated when it was inline).
    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

impl Deref for CapturedText {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for CapturedText {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for CapturedText {
    #[inline]
    fn from(text: &str) -> Self {
        CapturedText(CompactString::new(text))
    }
}

impl From<String> for CapturedText {
    fn from(text: String) -> Self {
        CapturedText(CompactString::from(text))
    }
}

impl From<Box<str>> for CapturedText {
    fn from(text: Box<str>) -> Self {
        CapturedText(CompactString::from(text))
    }
}

impl PartialEq<str> for CapturedText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for CapturedText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for CapturedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for CapturedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_inline_and_long_text_is_kept_whole() {
        let short = CapturedText::from("12345678901234567890");
        assert!(!short.0.is_heap_allocated());
        let long = "x".repeat(100);
        let kept = CapturedText::from(long.clone());
        assert_eq!(kept.as_str(), long);
        assert_eq!(kept.clone().into_string(), long);
    }
}
