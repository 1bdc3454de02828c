//! What a failed call records of async-openai's `OpenAIError`: the HTTP status of an API
//! error (429, 500) or of a transport error that had one, and the error's type.

use async_openai::error::OpenAIError;
use serde_json::{json, Value};

use crate::record::guard::TraceGuard;

/// The attributes an error adds to its call: `http.response.status_code` and
/// `error.type` (the API's `type`, else the status code, else what failed).
pub(crate) fn error_attributes(error: &OpenAIError) -> Vec<(&'static str, Value)> {
    let mut attributes = Vec::new();
    let status = match error {
        OpenAIError::ApiError(response) => Some(response.status_code.as_u16()),
        OpenAIError::Reqwest(error) => error.status().map(|status| status.as_u16()),
        _ => None,
    };
    if let Some(status) = status {
        attributes.push(("http.response.status_code", json!(status)));
    }
    // As the conventions name it: the API's own type, else the status code (a 5xx body is
    // not parsed), else what failed.
    let kind = match error {
        OpenAIError::ApiError(response) => response.api_error.r#type.clone(),
        _ => None,
    };
    let kind = kind
        .or_else(|| status.map(|status| status.to_string()))
        .unwrap_or_else(|| variant(error).to_owned());
    attributes.push(("error.type", json!(kind)));
    attributes
}

fn variant(error: &OpenAIError) -> &'static str {
    match error {
        OpenAIError::Reqwest(_) => "http",
        OpenAIError::ApiError(_) => "api",
        OpenAIError::JSONDeserialize(..) => "deserialize",
        OpenAIError::StreamError(_) => "stream",
        OpenAIError::InvalidArgument(_) => "invalid_argument",
        _ => "other",
    }
}

/// Fails `call` with `error` and its attributes.
pub(crate) fn note_error(call: &mut TraceGuard<'_>, error: &OpenAIError) {
    call.fail(error);
    for (key, value) in error_attributes(error) {
        call.set_attribute(key, value);
    }
}
