//! Amazon Nova (Micro, Lite, Pro): the `messages-v1` InvokeModel body
//! (`{"schemaVersion": "messages-v1", "system": [{"text"}], "messages": [{"role", "content":
//! [{"text"}]}], "inferenceConfig": {...}}`) → `{"output": {"message": {"role": "assistant",
//! "content": [{"text"}]}}, "stopReason": "end_turn", "usage": {...}}`.

use serde_json::{Value, json};

use super::token_count;
use crate::wire::ApiError;

/// The text of the last user message; `schemaVersion`, when present, must be `messages-v1`.
pub fn prompt(body: &Value) -> Result<String, ApiError> {
    match body.get("schemaVersion") {
        None => {}
        Some(Value::String(version)) if version == "messages-v1" => {}
        Some(other) => {
            return Err(ApiError::validation(format!(
                "Malformed input request: schemaVersion {other} is not supported, use \"messages-v1\""
            )));
        }
    }
    crate::runtime::last_user_text(body)
        .map_err(|e| ApiError::validation(format!("Malformed input request: {}", e.message)))
}

pub fn response(prompt: &str, text: &str) -> Value {
    let (input, output) = (token_count(prompt), token_count(text));
    json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": text }] } },
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": input,
            "outputTokens": output,
            "totalTokens": input + output,
            "cacheReadInputTokenCount": 0,
            "cacheWriteInputTokenCount": 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_user_turn_and_checks_the_schema_version() {
        let body = json!({
            "schemaVersion": "messages-v1",
            "system": [{"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"text": "first"}]},
                {"role": "assistant", "content": [{"text": "ok"}]},
                {"role": "user", "content": [{"text": "second"}]}
            ],
            "inferenceConfig": {"maxTokens": 10}
        });
        assert_eq!(prompt(&body).unwrap(), "second");
        let wrong = json!({"schemaVersion": "bedrock-conversation-2024", "messages": []});
        assert!(prompt(&wrong).unwrap_err().message.contains("messages-v1"));
        assert!(prompt(&json!({"prompt": "x"})).is_err());
    }

    #[test]
    fn answers_in_the_nova_shape() {
        let out = response("a b c", "d e");
        assert_eq!(out["output"]["message"]["content"][0]["text"], "d e");
        assert_eq!(out["stopReason"], "end_turn");
        assert_eq!(out["usage"]["totalTokens"], 5);
    }
}
