//! The runtime side: model-family request/response bodies and the deterministic answers
//! that make a customized model measurably better (or worse) than its base model.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::config::Quality;
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
}

impl Family {
    /// The family of a foundation model id, by its provider prefix.
    pub fn of(base_model_id: &str) -> Result<Family, ApiError> {
        if base_model_id.starts_with("cohere.") {
            Ok(Family::CohereCommand)
        } else if base_model_id.starts_with("amazon.titan") {
            Ok(Family::TitanText)
        } else if base_model_id.starts_with("meta.") {
            Ok(Family::MetaLlama)
        } else {
            Err(ApiError::validation(format!(
                "The emulator does not support InvokeModel bodies for model {base_model_id} (supported: cohere.*, amazon.titan*, meta.*)."
            )))
        }
    }

    /// The prompt of an InvokeModel body of this family.
    pub fn prompt(self, body: &Value) -> Result<String, ApiError> {
        let key = match self {
            Family::CohereCommand | Family::MetaLlama => "prompt",
            Family::TitanText => "inputText",
        };
        body.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "Malformed input request: required key [{key}] not found"
                ))
            })
    }

    /// The InvokeModel response body of this family for `text`.
    pub fn response(self, prompt: &str, text: &str, request_number: u64) -> Value {
        let (prompt_tokens, output_tokens) = (token_count(prompt), token_count(text));
        match self {
            Family::CohereCommand => json!({
                "id": format!("emulated-{request_number}"),
                "generations": [{
                    "id": format!("emulated-{request_number}-0"),
                    "text": text,
                    "finish_reason": "COMPLETE",
                }],
                "prompt": prompt,
            }),
            Family::TitanText => json!({
                "inputTextTokenCount": prompt_tokens,
                "results": [{
                    "tokenCount": output_tokens,
                    "outputText": text,
                    "completionReason": "FINISH",
                }],
            }),
            Family::MetaLlama => json!({
                "generation": text,
                "prompt_token_count": prompt_tokens,
                "generation_token_count": output_tokens,
                "stop_reason": "stop",
            }),
        }
    }
}

/// A rough token count (words), reported in usage fields and headers.
pub fn token_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The text of the last user message of a Converse request.
pub fn converse_prompt(body: &Value) -> Result<String, ApiError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::validation("The messages field is required and must not be empty.")
        })?;
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .ok_or_else(|| ApiError::validation("A conversation must contain a user message."))?;
    let texts: Vec<&str> = last_user
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    if texts.is_empty() {
        return Err(ApiError::validation(
            "The last user message has no text content.",
        ));
    }
    Ok(texts.join("\n"))
}

/// The answer of a model to `prompt`. Prompts in the answer key get a close paraphrase of the reference
/// answer from the "good" model ([`good_answer`]) and a weak answer from the other; everything else gets the
/// weak one.
pub fn answer(
    prompt: &str,
    custom: bool,
    quality: Quality,
    answers: &HashMap<String, String>,
) -> String {
    let reference = lookup(prompt, answers);
    let good = match quality {
        Quality::Better => custom,
        Quality::Worse => !custom,
        Quality::Same => false,
    };
    match reference {
        Some(reference) if good => good_answer(reference),
        _ => weak_answer(prompt),
    }
}

/// What a well fine-tuned model answers: the reference with every third word of its second half left out, so
/// it has the reference's style and most of its content but not all of it (a real model never scores exactly
/// 1.0 against its reference).
pub fn good_answer(reference: &str) -> String {
    let words: Vec<&str> = reference.split_whitespace().collect();
    let half = words.len() / 2;
    words
        .iter()
        .enumerate()
        .filter(|&(i, _)| i < half || (i - half) % 3 != 2)
        .map(|(_, word)| *word)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The reference for `prompt`: exact match, then trimmed match, then the longest key the prompt
/// contains (so prompt templates wrapped around the key still hit).
fn lookup<'a>(prompt: &str, answers: &'a HashMap<String, String>) -> Option<&'a str> {
    if let Some(answer) = answers.get(prompt) {
        return Some(answer);
    }
    let trimmed = prompt.trim();
    answers
        .iter()
        .filter(|(key, _)| {
            let key = key.trim();
            !key.is_empty() && (key == trimmed || trimmed.contains(key))
        })
        .max_by_key(|(key, _)| key.trim().len())
        .map(|(_, answer)| answer.as_str())
}

/// A deterministic, plausible but poor answer: the first content line of the prompt (the first
/// dialogue turn, when the first line is an instruction), cut to 12 words.
pub fn weak_answer(prompt: &str) -> String {
    let normalized = prompt.replace("\\n", "\n");
    let lines: Vec<&str> = normalized
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = match lines.as_slice() {
        [] => return "I have nothing to say.".to_owned(),
        [only] => *only,
        [_instruction, first, ..] => *first,
    };
    line.split_whitespace()
        .take(12)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HashMap<String, String> {
        HashMap::from([("Summarize: A met B.".to_owned(), "A and B meet.".to_owned())])
    }

    #[test]
    fn the_good_answer_drops_every_third_word_of_the_second_half() {
        assert_eq!(
            good_answer("one two three four five six seven eight nine ten"),
            "one two three four five six seven nine ten"
        );
        assert_eq!(good_answer("A and B meet."), "A and B meet.");
        assert_eq!(good_answer(""), "");
    }

    #[test]
    fn quality_decides_who_gets_the_reference() {
        let k = key();
        let p = "Summarize: A met B.";
        assert_eq!(answer(p, true, Quality::Better, &k), "A and B meet.");
        assert_eq!(answer(p, false, Quality::Better, &k), "Summarize: A met B.");
        assert_eq!(answer(p, true, Quality::Worse, &k), "Summarize: A met B.");
        assert_eq!(answer(p, false, Quality::Worse, &k), "A and B meet.");
        assert_eq!(
            answer(p, true, Quality::Same, &k),
            answer(p, false, Quality::Same, &k)
        );
        // Templates around a known prompt still find the reference.
        assert_eq!(
            answer(
                "<s>[INST] Summarize: A met B. [/INST]",
                true,
                Quality::Better,
                &k
            ),
            "A and B meet."
        );
    }

    #[test]
    fn weak_answer_takes_the_first_dialogue_turn() {
        let prompt = "Summarize the following conversation.\n\n#Person1#: Hello. My name is John Sandals, and I've got a reservation today at this very hotel.\n#Person2#: Hi";
        assert_eq!(
            weak_answer(prompt),
            "#Person1#: Hello. My name is John Sandals, and I've got a reservation"
        );
        assert_eq!(
            weak_answer("Summarize the following conversation.\\n\\n #Person1#: Hi.\\n"),
            "#Person1#: Hi."
        );
        assert_eq!(weak_answer("one two"), "one two");
    }

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
            Family::of("ai21.j2").unwrap_err().code,
            "ValidationException"
        );
    }
}
