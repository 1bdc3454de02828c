//! Map keys as text, as serde_json writes them, to tell secrets by name.

use std::fmt::{self, Write as _};

use serde::ser::{self, Impossible, Serialize, Serializer};

use super::text::{prefix_at_most, TextSink};

/// A key or value that is not what the serializer below asks for.
#[derive(Debug)]
pub(super) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unsupported")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

/// Longest key name kept to decide whether it is a secret.
const MAX_KEY_NAME: usize = 128;

/// A map key as text, when it is a string or a number (as serde_json writes keys).
pub(super) fn key_name<T: Serialize + ?Sized>(key: &T) -> Option<String> {
    key.serialize(KeyName).ok()
}

struct KeyName;

macro_rules! key_from_display {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method(self, v: $ty) -> Result<String, Unsupported> {
            Ok(v.to_string())
        }
    )*};
}

macro_rules! unsupported {
    ($($method:ident$(<$generic:ident>)?($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        fn $method$(<$generic: Serialize + ?Sized>)?(self, $(_: $ty),*) -> Result<$ret, Unsupported> {
            Err(Unsupported)
        }
    )*};
}
pub(super) use unsupported;

impl Serializer for KeyName {
    type Ok = String;
    type Error = Unsupported;
    type SerializeSeq = Impossible<String, Unsupported>;
    type SerializeTuple = Impossible<String, Unsupported>;
    type SerializeTupleStruct = Impossible<String, Unsupported>;
    type SerializeTupleVariant = Impossible<String, Unsupported>;
    type SerializeMap = Impossible<String, Unsupported>;
    type SerializeStruct = Impossible<String, Unsupported>;
    type SerializeStructVariant = Impossible<String, Unsupported>;

    fn serialize_str(self, v: &str) -> Result<String, Unsupported> {
        Ok(prefix_at_most(v, MAX_KEY_NAME).to_owned())
    }

    key_from_display! {
        serialize_char(char);
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, Unsupported> {
        Ok(variant.to_owned())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, Unsupported> {
        value.serialize(self)
    }

    unsupported! {
        serialize_f32(v: f32) -> String;
        serialize_f64(v: f64) -> String;
        serialize_bytes(v: &[u8]) -> String;
        serialize_none() -> String;
        serialize_unit() -> String;
        serialize_unit_struct(name: &'static str) -> String;
        serialize_seq(len: Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(len: usize) -> Self::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> Self::SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> Self::SerializeStruct;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeStructVariant;
        serialize_some<T>(value: &T) -> String;
        serialize_newtype_variant<T>(name: &'static str, index: u32, variant: &'static str, value: &T) -> String;
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<String, Unsupported> {
        let mut text = TextSink::plain(MAX_KEY_NAME);
        let _ = write!(text, "{value}");
        Ok(text.into_parts().0)
    }
}
