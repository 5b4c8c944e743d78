//! Cohere Command: `{"prompt"}` → `{"generations":[{"text"}]}`.

use serde_json::{Value, json};

use crate::wire::ApiError;

pub fn prompt(body: &Value) -> Result<String, ApiError> {
    super::required_prompt(body, "prompt")
}

pub fn response(prompt: &str, text: &str, request_number: u64) -> Value {
    json!({
        "id": format!("emulated-{request_number}"),
        "generations": [{
            "id": format!("emulated-{request_number}-0"),
            "text": text,
            "finish_reason": "COMPLETE",
        }],
        "prompt": prompt,
    })
}
