//! Params, metrics and tags given the way Python code gives them: any `Serialize` map or
//! struct (`json!({..})`, a config struct, a `HashMap`), or a list of `(key, value)` pairs,
//! flattened into MLflow's flat keys (`{"optimizer": {"name": "COPRO"}}` is
//! `optimizer.name`).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// One leaf of a flattened value: its dotted key and the value there.
pub(super) type Leaf = (String, Value);

/// The leaves of `values` (what [`MlflowRun::log_params`](super::MlflowRun::log_params) and
/// its kin take). `kind` names them in errors (`params`, `metrics`, `tags`).
pub(super) fn leaves<T: Serialize + ?Sized>(kind: &'static str, values: &T) -> Result<Vec<Leaf>> {
    let value = serde_json::to_value(values).map_err(|e| Error::MlflowValues {
        kind,
        reason: format!("cannot serialize them: {e}"),
    })?;
    let mut leaves = Vec::new();
    match value {
        Value::Object(map) => flatten_into(&mut leaves, "", map),
        Value::Array(items) => {
            for item in items {
                let (key, value) = as_pair(kind, item)?;
                push_leaf(&mut leaves, &key, value);
            }
        }
        Value::Null => {}
        other => {
            return Err(Error::MlflowValues {
                kind,
                reason: format!(
                    "expected a map, a struct or (key, value) pairs, found {}",
                    json_type(&other)
                ),
            })
        }
    }
    Ok(leaves)
}

/// The text MLflow stores for a param or tag: strings as they are, anything else as JSON.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A metric's number: JSON numbers, and `true`/`false` as 1 and 0 (as Python's `float(True)`).
pub(super) fn number(key: &str, value: &Value) -> Result<f64> {
    match value {
        Value::Number(number) => number.as_f64().ok_or_else(|| not_a_number(key, value)),
        Value::Bool(flag) => Ok(f64::from(u8::from(*flag))),
        _ => Err(not_a_number(key, value)),
    }
}

fn not_a_number(key: &str, value: &Value) -> Error {
    let hint = if value.is_null() {
        " (serde_json writes NaN and infinities as null: log those with `log_metric`)"
    } else {
        ""
    };
    Error::MlflowValues {
        kind: "metrics",
        reason: format!("{key:?} is {}, not a number{hint}", json_type(value)),
    }
}

fn as_pair(kind: &'static str, item: Value) -> Result<(String, Value)> {
    let refuse = |found: &Value| Error::MlflowValues {
        kind,
        reason: format!(
            "a list must hold (key, value) pairs, found {} in it",
            json_type(found)
        ),
    };
    match item {
        Value::Array(pair) if pair.len() == 2 => {
            let mut pair = pair.into_iter();
            match (pair.next(), pair.next()) {
                (Some(Value::String(key)), Some(value)) => Ok((key, value)),
                (Some(key), _) => Err(refuse(&key)),
                _ => unreachable!("a pair has two items"),
            }
        }
        other => Err(refuse(&other)),
    }
}

fn flatten_into(leaves: &mut Vec<Leaf>, prefix: &str, map: Map<String, Value>) {
    for (key, value) in map {
        let key = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        push_leaf(leaves, &key, value);
    }
}

/// A nested, non-empty map becomes `key.inner` leaves; anything else is one leaf.
fn push_leaf(leaves: &mut Vec<Leaf>, key: &str, value: Value) {
    match value {
        Value::Object(map) if !map.is_empty() => flatten_into(leaves, key, map),
        other => leaves.push((key.to_owned(), other)),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn flat<T: Serialize + ?Sized>(values: &T) -> Vec<(String, String)> {
        leaves("params", values)
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), text(v)))
            .collect()
    }

    #[test]
    fn a_nested_map_flattens_to_dotted_keys() {
        let params = json!({"optimizer": {"name": "COPRO", "depth": 3}, "lr": 0.1, "tags": ["a"]});
        let mut flat = flat(&params);
        flat.sort(); // serde_json's map order depends on its features
        assert_eq!(
            flat,
            [
                ("lr".to_owned(), "0.1".to_owned()),
                ("optimizer.depth".to_owned(), "3".to_owned()),
                ("optimizer.name".to_owned(), "COPRO".to_owned()),
                ("tags".to_owned(), r#"["a"]"#.to_owned()),
            ]
        );
    }

    #[test]
    fn pairs_of_any_value_type_are_taken() {
        assert_eq!(
            flat(&[("trainset_size", 50)]),
            [("trainset_size".to_owned(), "50".to_owned())]
        );
        assert_eq!(
            flat(&vec![("auto".to_owned(), "medium")]),
            [("auto".to_owned(), "medium".to_owned())]
        );
    }

    #[test]
    fn what_is_not_a_map_or_pairs_is_refused_by_name() {
        let error = leaves("params", &42).unwrap_err().to_string();
        assert_eq!(
            error,
            "cannot log mlflow params: expected a map, a struct or (key, value) pairs, found a number"
        );
        let error = leaves("params", &[1, 2]).unwrap_err().to_string();
        assert!(error.contains("found a number in it"), "{error}");
    }

    #[test]
    fn metrics_take_integers_floats_and_booleans_and_refuse_text() {
        assert_eq!(number("n", &json!(50)).unwrap(), 50.0);
        assert_eq!(number("q", &json!(0.85)).unwrap(), 0.85);
        assert_eq!(number("ok", &json!(true)).unwrap(), 1.0);
        let error = number("name", &json!("x")).unwrap_err().to_string();
        assert_eq!(
            error,
            r#"cannot log mlflow metrics: "name" is a string, not a number"#
        );
        let error = number("loss", &json!(null)).unwrap_err().to_string();
        assert!(error.contains("log those with `log_metric`"), "{error}");
    }
}
