//! A dataset as an Arize Phoenix dataset (REST `POST /v1/datasets/upload`, read back with
//! `GET /v1/datasets` and `/v1/datasets/{id}/examples`), as checked against Phoenix 20.26.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{score_json, Dataset, DatasetRow};
use crate::capture::mask_url_credentials;
use crate::error::{Error, Result};

/// How long one Phoenix request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of a Phoenix server's REST API, for datasets. Its requests run on a thread of
/// their own, so it may be called from sync code and from inside any async runtime (it
/// waits for the answer).
#[derive(Clone)]
pub struct PhoenixClient {
    base: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for PhoenixClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoenixClient")
            .field("base", &mask_url_credentials(&self.base))
            .field(
                "api_key",
                &self.api_key.as_ref().map(|_| crate::capture::REDACTED),
            )
            .finish()
    }
}

/// A Phoenix dataset that rows were pushed to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhoenixDataset {
    /// Phoenix's id of the dataset.
    pub dataset_id: String,
    /// The version the push made.
    pub version_id: String,
    /// Examples added.
    pub created: u64,
    /// Examples that were there already (same row id) and were updated.
    pub updated: u64,
}

impl PhoenixClient {
    /// A client of the Phoenix at `base_url` (`http://127.0.0.1:6006`; a trailing
    /// `/v1/traces` is taken off), with `PHOENIX_API_KEY` as its bearer token when set.
    pub fn new(base_url: &str) -> PhoenixClient {
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1/traces").unwrap_or(base);
        PhoenixClient {
            base: base.to_owned(),
            api_key: std::env::var("PHOENIX_API_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
        }
    }

    /// The Phoenix of `PHOENIX_COLLECTOR_ENDPOINT`, if set.
    pub fn from_env() -> Option<PhoenixClient> {
        let endpoint = std::env::var("PHOENIX_COLLECTOR_ENDPOINT").ok()?;
        (!endpoint.is_empty()).then(|| PhoenixClient::new(&endpoint))
    }

    /// This client with `key` as its bearer token.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// One request, on a thread of its own (reqwest's blocking client may not run on an
    /// async runtime's thread).
    fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let endpoint = path.split('?').next().unwrap_or(path).to_owned();
        let failed = |reason: String| Error::Phoenix {
            endpoint: endpoint.clone(),
            reason,
        };
        let api_key = self.api_key.clone();
        let answer = std::thread::scope(|scope| {
            scope
                .spawn(move || -> std::result::Result<(u16, String), String> {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(TIMEOUT)
                        .build()
                        .map_err(|e| e.to_string())?;
                    let mut request = client.request(method, &url);
                    if let Some(key) = api_key {
                        request = request.bearer_auth(key);
                    }
                    if let Some(body) = body {
                        request = request
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(body.to_string());
                    }
                    let response = request.send().map_err(|e| e.without_url().to_string())?;
                    let status = response.status().as_u16();
                    let text = response.text().map_err(|e| e.without_url().to_string())?;
                    Ok((status, text))
                })
                .join()
                .unwrap_or_else(|_| Err("the request's thread panicked".to_owned()))
        });
        let (status, text) = answer.map_err(failed)?;
        if !(200..300).contains(&status) {
            let shown: String = text.chars().take(500).collect();
            return Err(failed(format!("the server answered {status}: {shown}")));
        }
        serde_json::from_str(&text).map_err(|e| failed(format!("the answer is not JSON: {e}")))
    }

    /// Adds `dataset`'s rows to the Phoenix dataset of its name (created if missing), each
    /// row an example whose id is the row's call (`<trace id>:<span id>`), so a second push
    /// updates rather than duplicates. An example's `input` is the row's inputs; its
    /// `output` the row's expectations when it has any (Phoenix compares experiments with
    /// it), else the call's output (under `output` when it is not an object); its
    /// `metadata` the call's module, ids, output and scores; rows of a call are linked to
    /// its span. An empty dataset is refused.
    pub fn push_dataset(&self, dataset: &Dataset) -> Result<PhoenixDataset> {
        if dataset.is_empty() {
            return Err(Error::InvalidDataset {
                name: dataset.name.clone(),
                reason: "it has no rows to push".to_owned(),
            });
        }
        let rows = &dataset.rows;
        let body = json!({
            "action": "append",
            "name": dataset.name,
            "description": "made by monitor from recorded calls",
            "inputs": rows.iter().map(|r| Value::Object(r.inputs.clone())).collect::<Vec<_>>(),
            "outputs": rows.iter().map(phoenix_output).collect::<Vec<_>>(),
            "metadata": rows.iter().map(phoenix_metadata).collect::<Vec<_>>(),
            "span_ids": rows.iter().map(|r| r.span_id.clone()).collect::<Vec<_>>(),
            "example_ids": rows.iter().map(example_id).collect::<Vec<_>>(),
        });
        let answer = self.request(
            reqwest::Method::POST,
            "/v1/datasets/upload?sync=true",
            Some(body),
        )?;
        let data = &answer["data"];
        Ok(PhoenixDataset {
            dataset_id: data["dataset_id"].as_str().unwrap_or_default().to_owned(),
            version_id: data["version_id"].as_str().unwrap_or_default().to_owned(),
            created: data["num_created_examples"].as_u64().unwrap_or(0),
            updated: data["num_updated_examples"].as_u64().unwrap_or(0),
        })
    }

    /// The id of the dataset named `name`, if there is one.
    pub fn find_dataset(&self, name: &str) -> Result<Option<String>> {
        let path = format!("/v1/datasets?name={}", query_escape(name));
        let answer = self.request(reqwest::Method::GET, &path, None)?;
        Ok(answer["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|dataset| dataset["name"] == name)
            .and_then(|dataset| dataset["id"].as_str())
            .map(str::to_owned))
    }

    /// The examples of the latest version of dataset `dataset_id` (`id`, `input`,
    /// `output`, `metadata`), as Phoenix returns them.
    pub fn dataset_examples(&self, dataset_id: &str) -> Result<Vec<Value>> {
        let path = format!("/v1/datasets/{}/examples", query_escape(dataset_id));
        let answer = self.request(reqwest::Method::GET, &path, None)?;
        Ok(answer["data"]["examples"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

fn example_id(row: &DatasetRow) -> Option<String> {
    match (&row.trace_id, &row.span_id) {
        (Some(trace), Some(span)) => Some(format!("{trace}:{span}")),
        _ => None,
    }
}

fn phoenix_output(row: &DatasetRow) -> Value {
    if !row.expectations.is_empty() {
        return Value::Object(row.expectations.clone());
    }
    match &row.outputs {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(other) => json!({ "output": other }),
        None => json!({}),
    }
}

fn phoenix_metadata(row: &DatasetRow) -> Value {
    let mut metadata = Map::new();
    for (key, value) in [
        ("module", &row.module),
        ("trace_id", &row.trace_id),
        ("span_id", &row.span_id),
    ] {
        if let Some(value) = value {
            metadata.insert(key.to_owned(), value.as_str().into());
        }
    }
    if let Some(outputs) = &row.outputs {
        metadata.insert("outputs".to_owned(), outputs.clone());
    }
    if !row.scores.is_empty() {
        let scores: Map<String, Value> = row
            .scores
            .iter()
            .map(|score| (score.name.clone(), score_json(&score.value)))
            .collect();
        metadata.insert("scores".to_owned(), Value::Object(scores));
    }
    Value::Object(metadata)
}

/// Percent-encodes a query value or path segment (everything but unreserved characters).
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
