//! Meta Llama: `{"prompt"}` → `{"generation"}`.

use serde_json::{Value, json};

use super::token_count;
use crate::wire::ApiError;

pub fn prompt(body: &Value) -> Result<String, ApiError> {
    super::required_prompt(body, "prompt")
}

pub fn response(prompt: &str, text: &str) -> Value {
    json!({
        "generation": text,
        "prompt_token_count": token_count(prompt),
        "generation_token_count": token_count(text),
        "stop_reason": "stop",
    })
}
