//! Where headers are read from and written to: any string map through [`HeaderGet`] and
//! [`HeaderSet`], implemented for `HashMap<String, String>`, `BTreeMap<String, String>`
//! and, with the `http` feature, `http::HeaderMap` (what axum, hyper, tonic and reqwest
//! use).

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// Headers to read a remote context from.
pub trait HeaderGet {
    /// Every value of header `name` (given in lowercase, matched in any case), in the order
    /// received; empty when there is none.
    fn header_values(&self, name: &str) -> Vec<&[u8]>;
}

/// Headers to write the current context into.
pub trait HeaderSet {
    /// Sets header `name` (lowercase) to `value` (visible ASCII), replacing any value.
    fn set_header(&mut self, name: &'static str, value: String);
}

/// The values under `name` in a map of one value per key: the key as written, else any
/// key equal to it in another case.
fn one_value_map<'a>(
    exact: Option<&'a String>,
    mut all: impl Iterator<Item = (&'a String, &'a String)>,
    name: &str,
) -> Vec<&'a [u8]> {
    let value = exact.or_else(|| {
        all.find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    });
    value
        .map(|value| vec![value.as_bytes()])
        .unwrap_or_default()
}

impl<S: BuildHasher> HeaderGet for HashMap<String, String, S> {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        one_value_map(self.get(name), self.iter(), name)
    }
}

impl<S: BuildHasher> HeaderSet for HashMap<String, String, S> {
    fn set_header(&mut self, name: &'static str, value: String) {
        self.retain(|key, _| !key.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), value);
    }
}

impl HeaderGet for BTreeMap<String, String> {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        one_value_map(self.get(name), self.iter(), name)
    }
}

impl HeaderSet for BTreeMap<String, String> {
    fn set_header(&mut self, name: &'static str, value: String) {
        self.retain(|key, _| !key.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), value);
    }
}

#[cfg(feature = "http")]
impl HeaderGet for ::http::HeaderMap {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.get_all(name)
            .iter()
            .map(::http::HeaderValue::as_bytes)
            .collect()
    }
}

#[cfg(feature = "http")]
impl HeaderSet for ::http::HeaderMap {
    fn set_header(&mut self, name: &'static str, value: String) {
        // The values written here are visible ASCII, which a header value always takes.
        if let Ok(value) = ::http::HeaderValue::try_from(value) {
            self.insert(::http::HeaderName::from_static(name), value);
        }
    }
}

impl<T: HeaderGet + ?Sized> HeaderGet for &T {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        (**self).header_values(name)
    }
}

impl<T: HeaderSet + ?Sized> HeaderSet for &mut T {
    fn set_header(&mut self, name: &'static str, value: String) {
        (**self).set_header(name, value);
    }
}
