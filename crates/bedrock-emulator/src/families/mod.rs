//! How each catalog adapter's InvokeModel request carries the prompt and its response carries the answer, one
//! adapter per file. Which model takes which adapter, and every other model fact, comes from the catalog
//! (`bedrock-catalog`, `models/bedrock-models.toml`); no model id prefix is matched here.

mod anthropic;
mod cohere;
mod llama;
mod nova;
mod titan;

use bedrock_catalog::{Adapter, CATALOG_PATH, Model};
use serde_json::Value;

use crate::wire::ApiError;

/// The catalog entry of a foundation model id in any spelling (customization or inference id, ARN, inference
/// profile), or the ValidationException Bedrock gives for an id it does not serve.
pub fn model_of(model_id: &str) -> Result<&'static Model, ApiError> {
    bedrock_catalog::catalog()
        .by_model_id(model_id)
        .ok_or_else(|| {
            ApiError::validation(format!(
                "The provided model identifier is invalid: {model_id} (the emulator serves the models of {CATALOG_PATH})."
            ))
        })
}

/// The prompt of an InvokeModel body of this adapter.
pub fn prompt(adapter: Adapter, body: &Value) -> Result<String, ApiError> {
    match adapter {
        Adapter::CohereCommand => cohere::prompt(body),
        Adapter::TitanText => titan::prompt(body),
        Adapter::MetaLlama => llama::prompt(body),
        Adapter::Nova => nova::prompt(body),
        Adapter::AnthropicMessages => anthropic::prompt(body),
    }
}

/// The InvokeModel response body of this adapter for `text`.
pub fn response(adapter: Adapter, prompt: &str, text: &str, request_number: u64) -> Value {
    match adapter {
        Adapter::CohereCommand => cohere::response(prompt, text, request_number),
        Adapter::TitanText => titan::response(prompt, text),
        Adapter::MetaLlama => llama::response(prompt, text),
        Adapter::Nova => nova::response(prompt, text),
        Adapter::AnthropicMessages => anthropic::response(prompt, text, request_number),
    }
}

/// The string at `key` of a request body, or the error Bedrock gives for a missing key.
fn required_prompt(body: &Value, key: &str) -> Result<String, ApiError> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::validation(format!(
                "Malformed input request: required key [{key}] not found"
            ))
        })
}

/// A rough token count (words), reported in usage fields and headers.
pub fn token_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn models_by_any_id_spelling() {
        assert_eq!(
            model_of("cohere.command-text-v14").unwrap().adapter(),
            Adapter::CohereCommand
        );
        assert_eq!(
            model_of("meta.llama3-1-8b-instruct-v1:0")
                .unwrap()
                .adapter(),
            Adapter::MetaLlama
        );
        assert_eq!(
            model_of("amazon.nova-micro-v1:0:128k").unwrap().adapter(),
            Adapter::Nova
        );
        assert_eq!(
            model_of("us.amazon.nova-lite-v1:0").unwrap().adapter(),
            Adapter::Nova
        );
        let err = model_of("ai21.j2").unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(err.message.contains("model identifier is invalid"), "{err}");
    }

    #[test]
    fn a_missing_prompt_key_is_named() {
        let err = prompt(Adapter::TitanText, &json!({"prompt": "x"})).unwrap_err();
        assert!(err.message.contains("[inputText]"), "{err}");
    }
}
