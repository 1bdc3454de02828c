//! Rows as dspy-rs `Example`s, so an optimiser takes a dataset from traces as its trainset.

use std::collections::HashMap;

use dspy_rs::Example;
use serde_json::Value;

use super::{Dataset, DatasetRow};

impl DatasetRow {
    /// The row as a dspy-rs `Example`: the inputs are its input fields; its output fields
    /// (the gold answers a metric compares with) are the row's expectations when it has
    /// any, else the call's output (its fields when it is an object, as a recorded
    /// `Prediction` is, else one field `output`). An input and an output of the same name:
    /// the output wins.
    pub fn to_dspy_example(&self) -> Example {
        let outputs: Vec<(String, Value)> = if !self.expectations.is_empty() {
            self.expectations.clone().into_iter().collect()
        } else {
            match &self.outputs {
                Some(Value::Object(fields)) => fields.clone().into_iter().collect(),
                Some(other) => vec![("output".to_owned(), other.clone())],
                None => Vec::new(),
            }
        };
        let output_keys: Vec<String> = outputs.iter().map(|(key, _)| key.clone()).collect();
        let input_keys: Vec<String> = self
            .inputs
            .keys()
            .filter(|key| !output_keys.contains(key))
            .cloned()
            .collect();
        let data: HashMap<String, Value> = self.inputs.clone().into_iter().chain(outputs).collect();
        Example {
            data,
            input_keys,
            output_keys,
        }
    }
}

impl Dataset {
    /// Every row as a dspy-rs `Example` (see [`DatasetRow::to_dspy_example`]): the
    /// trainset an optimiser (`COPRO`, `MIPROv2`, `track_optimization`) takes.
    pub fn to_dspy_examples(&self) -> Vec<Example> {
        self.rows.iter().map(DatasetRow::to_dspy_example).collect()
    }
}
