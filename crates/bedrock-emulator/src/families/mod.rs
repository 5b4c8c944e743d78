//! Foundation-model families: how each one's InvokeModel request carries the prompt, how its
//! response carries the answer, and which training-data schema its fine-tuning takes. One family
//! per file.

mod cohere;
mod llama;
mod nova;
mod titan;

use serde_json::Value;

use crate::wire::ApiError;

/// The request/response body format of a foundation-model family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `{"prompt"}` → `{"generations":[{"text"}]}`
    CohereCommand,
    /// `{"inputText"}` → `{"results":[{"outputText"}]}`
    TitanText,
    /// `{"prompt"}` → `{"generation"}`
    MetaLlama,
    /// `{"schemaVersion":"messages-v1","messages","system","inferenceConfig"}` →
    /// `{"output":{"message":{"content":[{"text"}]}},"stopReason","usage"}`
    Nova,
}

/// The fine-tuning data schema a family takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainingSchema {
    /// `{"prompt": ..., "completion": ...}` per line.
    PromptCompletion,
    /// `bedrock-conversation-2024` records per line.
    Conversation,
}

impl Family {
    /// The family of a foundation model id, by its provider prefix. A cross-region inference
    /// profile prefix (`us.`, `eu.`, `apac.`, `global.`) is looked through.
    pub fn of(base_model_id: &str) -> Result<Family, ApiError> {
        let id = ["us.", "eu.", "apac.", "global."]
            .iter()
            .find_map(|prefix| base_model_id.strip_prefix(prefix))
            .unwrap_or(base_model_id);
        if id.starts_with("cohere.") {
            Ok(Family::CohereCommand)
        } else if id.starts_with("amazon.nova-") {
            Ok(Family::Nova)
        } else if id.starts_with("amazon.titan") {
            Ok(Family::TitanText)
        } else if id.starts_with("meta.") {
            Ok(Family::MetaLlama)
        } else {
            Err(ApiError::validation(format!(
                "The emulator does not support InvokeModel bodies for model {base_model_id} (supported: cohere.*, amazon.titan*, amazon.nova-*, meta.*)."
            )))
        }
    }

    /// The prompt of an InvokeModel body of this family.
    pub fn prompt(self, body: &Value) -> Result<String, ApiError> {
        match self {
            Family::CohereCommand => cohere::prompt(body),
            Family::TitanText => titan::prompt(body),
            Family::MetaLlama => llama::prompt(body),
            Family::Nova => nova::prompt(body),
        }
    }

    /// The InvokeModel response body of this family for `text`.
    pub fn response(self, prompt: &str, text: &str, request_number: u64) -> Value {
        match self {
            Family::CohereCommand => cohere::response(prompt, text, request_number),
            Family::TitanText => titan::response(prompt, text),
            Family::MetaLlama => llama::response(prompt, text),
            Family::Nova => nova::response(prompt, text),
        }
    }

    /// Refuses a base model of this family that cannot be fine-tuned (Nova takes only its
    /// context-length variants, e.g. `amazon.nova-micro-v1:0:128k`).
    pub fn check_customizable(self, base_model_id: &str) -> Result<(), ApiError> {
        if self == Family::Nova && !nova::CUSTOMIZABLE.contains(&base_model_id) {
            return Err(ApiError::validation(format!(
                "The base model {base_model_id} does not support fine-tuning; Amazon Nova fine-tuning takes {}.",
                nova::CUSTOMIZABLE.join(", ")
            )));
        }
        Ok(())
    }

    /// The schema of this family's fine-tuning data.
    pub fn training_schema(self) -> TrainingSchema {
        match self {
            Family::Nova => TrainingSchema::Conversation,
            Family::CohereCommand | Family::TitanText | Family::MetaLlama => {
                TrainingSchema::PromptCompletion
            }
        }
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
    fn families_by_prefix() {
        assert_eq!(
            Family::of("cohere.command-text-v14").unwrap(),
            Family::CohereCommand
        );
        assert_eq!(
            Family::of("amazon.titan-text-express-v1").unwrap(),
            Family::TitanText
        );
        assert_eq!(
            Family::of("meta.llama3-8b-instruct-v1:0").unwrap(),
            Family::MetaLlama
        );
        assert_eq!(
            Family::of("amazon.nova-micro-v1:0:128k").unwrap(),
            Family::Nova
        );
        assert_eq!(
            Family::of("us.amazon.nova-lite-v1:0").unwrap(),
            Family::Nova
        );
        assert_eq!(
            Family::of("ai21.j2").unwrap_err().code,
            "ValidationException"
        );
    }

    #[test]
    fn nova_fine_tunes_its_context_length_variants_only() {
        assert!(
            Family::Nova
                .check_customizable("amazon.nova-lite-v1:0:300k")
                .is_ok()
        );
        let err = Family::Nova
            .check_customizable("amazon.nova-lite-v1:0")
            .unwrap_err();
        assert!(err.message.contains("amazon.nova-micro-v1:0:128k"), "{err}");
        assert!(
            Family::MetaLlama
                .check_customizable("meta.llama3-1-8b-instruct-v1:0:128k")
                .is_ok()
        );
    }

    #[test]
    fn training_schemas() {
        assert_eq!(Family::Nova.training_schema(), TrainingSchema::Conversation);
        assert_eq!(
            Family::MetaLlama.training_schema(),
            TrainingSchema::PromptCompletion
        );
    }

    #[test]
    fn a_missing_prompt_key_is_named() {
        let err = Family::TitanText
            .prompt(&json!({"prompt": "x"}))
            .unwrap_err();
        assert!(err.message.contains("[inputText]"), "{err}");
    }
}
