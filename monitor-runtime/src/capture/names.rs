//! The guard API's inputs split into named fields, each captured on its own under the
//! cap.

use std::fmt::{self};

use serde::ser::{Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};

use super::isolate::isolated;
use super::json::capture_json;
use super::redact::is_secret_name;
use super::text::keep_text;
use super::{CapturedValue, InputName, INPUTS_DROPPED, MAX_INPUTS};

use super::key::{key_name, unsupported, Unsupported};

/// The inputs of the guard API, field by field: a struct's or map's fields become named
/// inputs (each captured on its own, under the cap), `()`, `None` and `null` give none, and
/// any other value is one input named `input`. Nothing is built in between.
pub(crate) fn capture_fields<T: Serialize + ?Sized>(
    inputs: &T,
    max: usize,
) -> Vec<(InputName, CapturedValue)> {
    match isolated(|| inputs.serialize(Fields { max })) {
        Ok(Ok(fields)) => fields,
        // Not made of fields: the whole value is the input.
        Ok(Err(_)) => vec![("input".into(), capture_json(inputs, max))],
        Err(message) => {
            let message = keep_text("", &message, max);
            vec![(
                "input".into(),
                CapturedValue::Text(format!("<capture panicked: {message}>").into()),
            )]
        }
    }
}

/// One named input: redacted when the name looks like a secret.
pub(crate) fn capture_named<T: Serialize + ?Sized>(
    name: &str,
    value: &T,
    max: usize,
) -> CapturedValue {
    if is_secret_name(name) {
        CapturedValue::Redacted
    } else {
        capture_json(value, max)
    }
}

/// Splits a value into named fields; fails on anything else.
struct Fields {
    max: usize,
}

/// The fields collected so far, and the pending map key.
struct FieldList {
    max: usize,
    fields: Vec<(InputName, CapturedValue)>,
    key: Option<String>,
    /// Fields past [`MAX_INPUTS`], counted only.
    dropped: usize,
}

impl Serializer for Fields {
    type Ok = Vec<(InputName, CapturedValue)>;
    type Error = Unsupported;
    type SerializeSeq = Impossible<Self::Ok, Unsupported>;
    type SerializeTuple = Impossible<Self::Ok, Unsupported>;
    type SerializeTupleStruct = Impossible<Self::Ok, Unsupported>;
    type SerializeTupleVariant = Impossible<Self::Ok, Unsupported>;
    type SerializeMap = FieldList;
    type SerializeStruct = FieldList;
    type SerializeStructVariant = Impossible<Self::Ok, Unsupported>;

    fn serialize_unit(self) -> Result<Self::Ok, Unsupported> {
        Ok(Vec::new())
    }

    fn serialize_none(self) -> Result<Self::Ok, Unsupported> {
        Ok(Vec::new())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, Unsupported> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Unsupported> {
        value.serialize(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<FieldList, Unsupported> {
        Ok(FieldList {
            max: self.max,
            fields: Vec::with_capacity(len.unwrap_or(0).min(MAX_INPUTS)),
            key: None,
            dropped: 0,
        })
    }

    fn serialize_struct(self, _: &'static str, len: usize) -> Result<FieldList, Unsupported> {
        self.serialize_map(Some(len))
    }

    unsupported! {
        serialize_bool(v: bool) -> Self::Ok;
        serialize_i8(v: i8) -> Self::Ok;
        serialize_i16(v: i16) -> Self::Ok;
        serialize_i32(v: i32) -> Self::Ok;
        serialize_i64(v: i64) -> Self::Ok;
        serialize_i128(v: i128) -> Self::Ok;
        serialize_u8(v: u8) -> Self::Ok;
        serialize_u16(v: u16) -> Self::Ok;
        serialize_u32(v: u32) -> Self::Ok;
        serialize_u64(v: u64) -> Self::Ok;
        serialize_u128(v: u128) -> Self::Ok;
        serialize_f32(v: f32) -> Self::Ok;
        serialize_f64(v: f64) -> Self::Ok;
        serialize_char(v: char) -> Self::Ok;
        serialize_str(v: &str) -> Self::Ok;
        serialize_bytes(v: &[u8]) -> Self::Ok;
        serialize_unit_struct(name: &'static str) -> Self::Ok;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> Self::Ok;
        serialize_seq(len: Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(len: usize) -> Self::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> Self::SerializeStructVariant;
        serialize_newtype_variant<T>(name: &'static str, index: u32, variant: &'static str, value: &T) -> Self::Ok;
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, _: &T) -> Result<Self::Ok, Unsupported> {
        Err(Unsupported)
    }
}

impl FieldList {
    fn push<T: Serialize + ?Sized>(&mut self, name: String, value: &T) {
        if self.fields.len() >= MAX_INPUTS {
            self.dropped += 1;
            return;
        }
        let captured = capture_named(&name, value, self.max);
        self.fields.push((InputName::Owned(name), captured));
    }

    fn finish(mut self) -> Vec<(InputName, CapturedValue)> {
        if self.dropped > 0 {
            let dropped = CapturedValue::Json(self.dropped.to_string().into());
            self.fields.push((INPUTS_DROPPED.into(), dropped));
        }
        self.fields
    }
}

impl SerializeMap for FieldList {
    type Ok = Vec<(InputName, CapturedValue)>;
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.key = Some(key_name(key).unwrap_or_else(|| format!("key{}", self.fields.len())));
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let name = self.key.take().unwrap_or_else(|| "input".to_owned());
        self.push(name, value);
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, Unsupported> {
        Ok(self.finish())
    }
}

impl SerializeStruct for FieldList {
    type Ok = Vec<(InputName, CapturedValue)>;
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.push(key.to_owned(), value);
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, Unsupported> {
        Ok(self.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_split_into_fields() {
        let fields = capture_fields(&json!({"query": "q", "token": "t"}), 100);
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].0, "query");
        assert_eq!(fields[1].1, CapturedValue::Redacted);
        assert!(capture_fields(&(), 100).is_empty());
        let many: std::collections::BTreeMap<u32, u32> = (0..100).map(|n| (n, n)).collect();
        let fields = capture_fields(&many, 100);
        assert_eq!(fields.len(), MAX_INPUTS + 1);
        assert_eq!(
            fields[MAX_INPUTS],
            (INPUTS_DROPPED.into(), CapturedValue::Json("36".into()))
        );
        assert_eq!(capture_fields(&5, 100)[0].0, "input");
    }
}
