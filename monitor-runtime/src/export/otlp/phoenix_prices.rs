//! The program's model prices, told to Arize Phoenix. Phoenix never reads a span's
//! `llm.cost.*`: it prices each LLM span itself at ingestion, from its model table, matched
//! on `llm.model_name` (`phoenix/server/cost_tracking/`). Its built-in table knows the
//! providers' public models; a model priced with `set_model_price` becomes a custom model
//! there (GraphQL `createModel`, as Phoenix's Settings > Models page makes one), so Phoenix
//! shows the same cost this crate computes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cost::ModelPrice;

/// How long Phoenix may take to load a model it was just told of: it reloads its model
/// table every 5 s (`GenerativeModelStore`), and prices a span only with what it had loaded
/// when the span came in.
pub(super) const PHOENIX_RELOAD: Duration = Duration::from_secs(6);

const CUSTOM_MODELS: &str =
    "query { generativeModels(first: 1000) { edges { node { id name kind } } } }";

const CREATE: &str = "mutation($input: CreateModelMutationInput!) { \
                      createModel(input: $input) { model { id } } }";

const UPDATE: &str = "mutation($input: UpdateModelMutationInput!) { \
                      updateModel(input: $input) { model { id } } }";

/// Where Phoenix's GraphQL API is, and how to reach it.
pub(super) struct PhoenixApi<'a> {
    pub(super) client: &'a reqwest::blocking::Client,
    pub(super) graphql_url: String,
    pub(super) headers: &'a [(String, String)],
    pub(super) deadline: Instant,
}

impl PhoenixApi<'_> {
    /// Creates or updates a custom model for each of `prices`; how many it wrote, or why it
    /// could not.
    pub(super) fn write_prices(&self, prices: &[(String, ModelPrice)]) -> Result<usize, String> {
        if prices.is_empty() {
            return Ok(0);
        }
        let known = self.call(CUSTOM_MODELS, json!({}))?;
        let custom_id = |name: &str| {
            known["data"]["generativeModels"]["edges"]
                .as_array()?
                .iter()
                .map(|edge| &edge["node"])
                .find(|node| node["name"] == name && node["kind"] == "CUSTOM")
                .and_then(|node| node["id"].as_str().map(str::to_owned))
        };
        for (model, price) in prices {
            let mut input = model_input(model, price);
            match custom_id(model) {
                Some(id) => {
                    input["id"] = id.into();
                    self.call(UPDATE, json!({ "input": input }))?;
                }
                None => {
                    self.call(CREATE, json!({ "input": input }))?;
                }
            }
        }
        Ok(prices.len())
    }

    fn call(&self, query: &str, variables: Value) -> Result<Value, String> {
        let left = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or("no time left")?;
        let mut post = self
            .client
            .post(&self.graphql_url)
            .timeout(left)
            .header("content-type", "application/json")
            .body(json!({ "query": query, "variables": variables }).to_string());
        for (name, value) in self.headers {
            post = post.header(name.as_str(), value.as_str());
        }
        let response = post.send().map_err(|error| error.to_string())?;
        let status = response.status();
        let body = response.bytes().map_err(|error| error.to_string())?;
        let answer: Value = serde_json::from_slice(&body).map_err(|error| error.to_string())?;
        match answer.get("errors") {
            _ if !status.is_success() => Err(format!("HTTP {status}: {answer}")),
            Some(errors) => Err(errors.to_string()),
            None => Ok(answer),
        }
    }
}

/// Phoenix's `CreateModelMutationInput` for `model`: a pattern matching the name and the
/// names it starts (dated versions), as this crate's table matches them, and its prices.
fn model_input(model: &str, price: &ModelPrice) -> Value {
    let cost = |token_type: &str, per_million: f64, kind: &str| json!({ "tokenType": token_type, "costPerMillionTokens": per_million, "kind": kind });
    json!({
        "name": model,
        "namePattern": format!("^{}", regex_escape(model)),
        "costs": [
            cost("input", price.input_per_million(), "PROMPT"),
            cost("cache_read", price.cached_input_per_million(), "PROMPT"),
            cost("output", price.output_per_million(), "COMPLETION"),
            cost("reasoning", price.reasoning_per_million(), "COMPLETION"),
        ],
    })
}

/// `text` as a Python regular expression that matches it literally.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' && c != '-' && c.is_ascii() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_matched_by_its_name_and_dated_versions_of_it() {
        let input = model_input("acme.chat-1", &ModelPrice::per_million(1.0, 2.0));
        assert_eq!(input["namePattern"], r"^acme\.chat-1");
        let costs = input["costs"].as_array().unwrap();
        assert_eq!(
            costs[1]["costPerMillionTokens"], 1.0,
            "cached input at the input price"
        );
        assert_eq!(costs[3]["kind"], "COMPLETION");
    }
}
