//! The runtime side: the deterministic answers that make a customized model measurably better
//! (or worse) than its base model, and the prompt of a Converse request. The request and
//! response bodies of each model family are in [`crate::families`].

use std::collections::HashMap;

use serde_json::Value;

use crate::candidates;
use crate::config::Quality;
use crate::families::token_count;
use crate::wire::ApiError;

/// The Converse response body for `text`.
pub fn converse_response(prompt: &str, text: &str) -> Value {
    let (input, output) = (token_count(prompt), token_count(text));
    serde_json::json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": text }] } },
        "stopReason": "end_turn",
        "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output },
        "metrics": { "latencyMs": 5 + output as u64 },
    })
}

/// The text of the last user message of a Converse (or Nova `messages-v1`) request.
pub fn last_user_text(body: &Value) -> Result<String, ApiError> {
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

/// Who answers a prompt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speaker {
    /// A foundation model.
    Base,
    /// A customized model; `good_fraction` is set when a candidate rule decided its quality.
    Custom {
        /// The fraction of answer-key prompts it answers well (see [`crate::candidates`]).
        good_fraction: Option<f64>,
    },
}

/// The answer of a model to `prompt`. Prompts in the answer key get a close paraphrase of the reference
/// answer from the "good" model ([`good_answer`]) and a weak answer from the other; everything else gets the
/// weak one. A custom model with a good fraction answers well the answer-key prompts the fraction covers.
pub fn answer(
    prompt: &str,
    speaker: Speaker,
    quality: Quality,
    answers: &HashMap<String, String>,
) -> String {
    let Some((key, reference)) = lookup(prompt, answers) else {
        return weak_answer(prompt);
    };
    let good = match (speaker, quality) {
        (
            Speaker::Custom {
                good_fraction: Some(f),
            },
            _,
        ) => candidates::answers_well(key, f),
        (Speaker::Custom { .. }, Quality::Better) | (Speaker::Base, Quality::Worse) => true,
        _ => false,
    };
    if good {
        good_answer(reference)
    } else {
        weak_answer(prompt)
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

/// The answer-key entry for `prompt`: exact match, then trimmed match, then the longest key the
/// prompt contains (so prompt templates wrapped around the key still hit).
fn lookup<'a>(prompt: &str, answers: &'a HashMap<String, String>) -> Option<(&'a str, &'a str)> {
    if let Some((key, answer)) = answers.get_key_value(prompt) {
        return Some((key, answer));
    }
    let trimmed = prompt.trim();
    answers
        .iter()
        .filter(|(key, _)| {
            let key = key.trim();
            !key.is_empty() && (key == trimmed || trimmed.contains(key))
        })
        .max_by_key(|(key, _)| key.trim().len())
        .map(|(key, answer)| (key.as_str(), answer.as_str()))
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
        let custom = Speaker::Custom {
            good_fraction: None,
        };
        assert_eq!(answer(p, custom, Quality::Better, &k), "A and B meet.");
        assert_eq!(
            answer(p, Speaker::Base, Quality::Better, &k),
            "Summarize: A met B."
        );
        assert_eq!(answer(p, custom, Quality::Worse, &k), "Summarize: A met B.");
        assert_eq!(
            answer(p, Speaker::Base, Quality::Worse, &k),
            "A and B meet."
        );
        assert_eq!(
            answer(p, custom, Quality::Same, &k),
            answer(p, Speaker::Base, Quality::Same, &k)
        );
        // A candidate rule's fraction overrides the quality for custom models only.
        let all = Speaker::Custom {
            good_fraction: Some(1.0),
        };
        let none = Speaker::Custom {
            good_fraction: Some(0.0),
        };
        assert_eq!(answer(p, all, Quality::Worse, &k), "A and B meet.");
        assert_eq!(answer(p, none, Quality::Better, &k), "Summarize: A met B.");
        // Templates around a known prompt still find the reference.
        assert_eq!(
            answer(
                "<s>[INST] Summarize: A met B. [/INST]",
                custom,
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
}
