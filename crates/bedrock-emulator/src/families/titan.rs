//! Amazon Titan Text: `{"inputText"}` → `{"results":[{"outputText"}]}`.

use serde_json::{Value, json};

use super::token_count;
use crate::wire::ApiError;

pub fn prompt(body: &Value) -> Result<String, ApiError> {
    super::required_prompt(body, "inputText")
}

pub fn response(prompt: &str, text: &str) -> Value {
    json!({
        "inputTextTokenCount": token_count(prompt),
        "results": [{
            "tokenCount": token_count(text),
            "outputText": text,
            "completionReason": "FINISH",
        }],
    })
}
