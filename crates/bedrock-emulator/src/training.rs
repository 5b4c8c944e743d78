//! The training-data check of CreateModelCustomizationJob: every line of the training file must
//! be one record of the format the base model's catalog entry names (`bedrock-conversation-2024` for
//! Nova, prompt/completion for Cohere, Titan and Llama, Anthropic messages for Claude 3 Haiku). The first
//! bad line is named.

use serde_json::Value;

use crate::wire::ApiError;
use bedrock_catalog::TrainingFormat as TrainingSchema;

/// Checks a JSON Lines training file; `uri` names it in errors. Blank lines are skipped.
/// Returns the number of records.
pub fn validate(text: &str, schema: TrainingSchema, uri: &str) -> Result<usize, ApiError> {
    let mut records = 0;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Value = serde_json::from_str(line)
            .map_err(|e| problem(uri, index, schema, &format!("not valid JSON ({e})")))?;
        let checked = match schema {
            TrainingSchema::PromptCompletion => prompt_completion(&record),
            TrainingSchema::BedrockConversation2024 => conversation(&record),
            TrainingSchema::AnthropicMessages => anthropic_messages(&record),
        };
        checked.map_err(|why| problem(uri, index, schema, &why))?;
        records += 1;
    }
    if records == 0 {
        return Err(ApiError::validation(format!(
            "The training data file {uri} has no records."
        )));
    }
    Ok(records)
}

fn problem(uri: &str, index: usize, schema: TrainingSchema, why: &str) -> ApiError {
    let expected = match schema {
        TrainingSchema::PromptCompletion => {
            "the base model takes {\"prompt\": \"...\", \"completion\": \"...\"} records"
        }
        TrainingSchema::BedrockConversation2024 => {
            "the base model takes bedrock-conversation-2024 records"
        }
        TrainingSchema::AnthropicMessages => {
            "the base model takes {\"system\"?, \"messages\": [{\"role\", \"content\"}]} records"
        }
    };
    ApiError::validation(format!(
        "Invalid training data in {uri}: line {}: {why} ({expected}).",
        index + 1
    ))
}

fn prompt_completion(record: &Value) -> Result<(), String> {
    let object = record
        .as_object()
        .ok_or("the record is not a JSON object")?;
    for key in ["prompt", "completion"] {
        match object.get(key) {
            Some(Value::String(_)) => {}
            Some(_) => return Err(format!("\"{key}\" is not a string")),
            None => return Err(format!("the record has no \"{key}\"")),
        }
    }
    Ok(())
}

fn conversation(record: &Value) -> Result<(), String> {
    let object = record
        .as_object()
        .ok_or("the record is not a JSON object")?;
    match object.get("schemaVersion") {
        Some(Value::String(v)) if v == "bedrock-conversation-2024" => {}
        Some(other) => {
            return Err(format!(
                "schemaVersion is {other}, expected \"bedrock-conversation-2024\""
            ));
        }
        None => return Err("the record has no \"schemaVersion\"".into()),
    }
    if let Some(system) = object.get("system") {
        let blocks = system.as_array().ok_or("\"system\" is not a list")?;
        for (i, block) in blocks.iter().enumerate() {
            text_block(block).map_err(|why| format!("system[{i}]: {why}"))?;
        }
    }
    let messages = object
        .get("messages")
        .ok_or("the record has no \"messages\"")?
        .as_array()
        .ok_or("\"messages\" is not a list")?;
    if messages.len() < 2 {
        return Err("\"messages\" needs a user turn followed by an assistant turn".into());
    }
    for (i, message) in messages.iter().enumerate() {
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        let role = message.get("role").and_then(Value::as_str);
        if role != Some(expected) {
            return Err(format!(
                "messages[{i}].role is {}, expected \"{expected}\" (turns alternate, starting with user)",
                role.map_or("missing".to_owned(), |r| format!("\"{r}\""))
            ));
        }
        let content = message
            .get("content")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("messages[{i}].content is not a non-empty list"))?;
        for (j, block) in content.iter().enumerate() {
            text_block(block).map_err(|why| format!("messages[{i}].content[{j}]: {why}"))?;
        }
    }
    if messages.len() % 2 != 0 {
        return Err("the last message must be the assistant's".into());
    }
    Ok(())
}

/// Claude 3 Haiku's records: an optional `system` string and `messages` alternating user and assistant turns
/// whose `content` is a string, ending with the assistant's.
fn anthropic_messages(record: &Value) -> Result<(), String> {
    let object = record
        .as_object()
        .ok_or("the record is not a JSON object")?;
    if let Some(system) = object.get("system")
        && !system.is_string()
    {
        return Err("\"system\" is not a string".into());
    }
    let messages = object
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("the record has no \"messages\" list")?;
    if messages.len() < 2 || messages.len() % 2 != 0 {
        return Err(
            "\"messages\" needs user and assistant turns, ending with the assistant's".into(),
        );
    }
    for (i, message) in messages.iter().enumerate() {
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if message.get("role").and_then(Value::as_str) != Some(expected) {
            return Err(format!("messages[{i}].role is not \"{expected}\""));
        }
        if !message.get("content").is_some_and(Value::is_string) {
            return Err(format!("messages[{i}].content is not a string"));
        }
    }
    Ok(())
}

fn text_block(block: &Value) -> Result<(), String> {
    match block.get("text") {
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err("\"text\" is not a string".into()),
        None => Err("no \"text\"".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"schemaVersion":"bedrock-conversation-2024","system":[{"text":"Summarize."}],"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"b"}]}]}"#;

    #[test]
    fn accepts_each_family_s_schema() {
        let text = format!("{GOOD}\n\n{GOOD}\n");
        assert_eq!(
            validate(&text, TrainingSchema::BedrockConversation2024, "s3://b/t").unwrap(),
            2
        );
        let pc = "{\"prompt\":\"p\",\"completion\":\"c\"}\n";
        assert_eq!(
            validate(pc, TrainingSchema::PromptCompletion, "s3://b/t").unwrap(),
            1
        );
    }

    #[test]
    fn checks_claude_messages() {
        let good = r#"{"system":"Summarize.","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#;
        assert_eq!(
            validate(good, TrainingSchema::AnthropicMessages, "u").unwrap(),
            1
        );
        let err = validate(GOOD, TrainingSchema::AnthropicMessages, "u").unwrap_err();
        assert!(
            err.message.contains("line 1: \"system\" is not a string"),
            "{err}"
        );
    }

    #[test]
    fn names_the_first_bad_line() {
        let pc = "{\"prompt\":\"p\",\"completion\":\"c\"}";
        let text = format!("{GOOD}\n{pc}\n");
        let err = validate(
            &text,
            TrainingSchema::BedrockConversation2024,
            "s3://b/t.jsonl",
        )
        .unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert_eq!(
            err.message,
            "Invalid training data in s3://b/t.jsonl: line 2: the record has no \"schemaVersion\" (the base model takes bedrock-conversation-2024 records)."
        );
        let err = validate(GOOD, TrainingSchema::PromptCompletion, "s3://b/t").unwrap_err();
        assert!(
            err.message.contains("line 1: the record has no \"prompt\""),
            "{err}"
        );
        let err = validate(
            "{\"prompt\":\"p\",\"completion\":\"c\"}\n{oops",
            TrainingSchema::PromptCompletion,
            "u",
        )
        .unwrap_err();
        assert!(err.message.contains("line 2: not valid JSON"), "{err}");
        assert!(validate("\n", TrainingSchema::PromptCompletion, "u").is_err());
    }

    #[test]
    fn conversations_alternate_from_user_to_assistant() {
        let bad = r#"{"schemaVersion":"bedrock-conversation-2024","messages":[{"role":"assistant","content":[{"text":"a"}]},{"role":"user","content":[{"text":"b"}]}]}"#;
        let err = validate(bad, TrainingSchema::BedrockConversation2024, "u").unwrap_err();
        assert!(
            err.message
                .contains("messages[0].role is \"assistant\", expected \"user\""),
            "{err}"
        );
        let odd = r#"{"schemaVersion":"bedrock-conversation-2024","messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"b"}]},{"role":"user","content":[{"text":"c"}]}]}"#;
        let err = validate(odd, TrainingSchema::BedrockConversation2024, "u").unwrap_err();
        assert!(
            err.message.contains("last message must be the assistant's"),
            "{err}"
        );
    }
}
