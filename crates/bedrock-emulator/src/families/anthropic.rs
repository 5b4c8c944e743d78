//! Anthropic Messages (Claude 3 Haiku): `{"anthropic_version", "max_tokens", "system"?, "messages": [{"role",
//! "content": "text" | [{"type": "text", "text"}]}]}` → `{"type": "message", "role": "assistant", "content":
//! [{"type": "text", "text"}], "stop_reason", "usage"}`.

use serde_json::{Value, json};

use super::token_count;
use crate::wire::ApiError;

/// The text of the last user message; `anthropic_version` and `max_tokens` are required as Bedrock requires them.
pub fn prompt(body: &Value) -> Result<String, ApiError> {
    for key in ["anthropic_version", "max_tokens"] {
        if body.get(key).is_none() {
            return Err(ApiError::validation(format!(
                "Malformed input request: required key [{key}] not found"
            )));
        }
    }
    let last_user = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|messages| {
            messages
                .iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .ok_or_else(|| {
            ApiError::validation("Malformed input request: messages has no user turn")
        })?;
    match last_user.get("content") {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(blocks)) => Ok(blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")),
        _ => Err(ApiError::validation(
            "Malformed input request: the user turn has no content",
        )),
    }
}

pub fn response(prompt: &str, text: &str, request_number: u64) -> Value {
    json!({
        "id": format!("msg_emulated_{request_number}"),
        "type": "message",
        "role": "assistant",
        "content": [{ "type": "text", "text": text }],
        "stop_reason": "end_turn",
        "usage": { "input_tokens": token_count(prompt), "output_tokens": token_count(text) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_user_turn() {
        let body = json!({
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
        });
        assert_eq!(prompt(&body).unwrap(), "hi");
        assert!(
            prompt(&json!({"messages": []}))
                .unwrap_err()
                .message
                .contains("anthropic_version")
        );
        assert_eq!(response("a", "b c", 1)["content"][0]["text"], "b c");
    }
}
