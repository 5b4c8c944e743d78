//! Text → token ids, exactly as `bert_score.utils.sent_encode` does it.
//!
//! `sent_encode` strips the text (Python's `str.strip()`), maps an empty text to the special tokens
//! alone (`build_inputs_with_special_tokens([])`, i.e. `[CLS] [SEP]` or `<s> </s>`), and otherwise calls
//! `tokenizer.encode(text, add_special_tokens=True, max_length=model_max_length, truncation=True)`,
//! with `add_prefix_space=True` for GPT-2/RoBERTa tokenizers.
//!
//! We use the fast tokenizer (`tokenizer.json`) but take truncation and padding out of its hands:
//! a tokenizer.json may carry settings of its own (all-MiniLM-L6-v2's truncates at 128 and pads to
//! 128) that bert_score never applies.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::{EngineError, Result};

/// transformers' `VERY_LARGE_INTEGER` (1e30) stands for "no limit" in `model_max_length`; anything
/// above this is treated as unset.
const MAX_PLAUSIBLE_LENGTH: f64 = 1e6;

/// When truncating, a text is first tokenized from a prefix of this many bytes per kept token (growing 4× until
/// the prefix yields more tokens than are kept, or is the text): a 50 MB line costs what its first tokens cost.
const PREFIX_BYTES_PER_TOKEN: usize = 16;

/// Tokenizer classes whose `build_inputs_with_special_tokens` adds nothing (transformers' base
/// `PreTrainedTokenizer`'s): a text's ids are its pieces alone. bert_score loads the slow Qwen2
/// tokenizer; a tokenizer.json may still carry a template that appends `<|endoftext|>`
/// (Qwen3-Embedding's, for last-token pooling), which bert_score never applies.
const NO_SPECIAL_TOKEN_CLASSES: [&str; 2] = ["Qwen2Tokenizer", "Qwen2TokenizerFast"];

/// Tokenizer classes for which bert_score passes `add_prefix_space=True` (its `isinstance` test
/// against `GPT2Tokenizer` and `RobertaTokenizer`).
const PREFIX_SPACE_CLASSES: [&str; 4] = [
    "GPT2Tokenizer",
    "GPT2TokenizerFast",
    "RobertaTokenizer",
    "RobertaTokenizerFast",
];

/// One text's token ids, special tokens included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedText {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// The text was longer than `model_max_length` tokens and lost its tail.
    pub truncated: bool,
}

/// A loaded tokenizer configured the way bert_score uses it.
pub struct TextTokenizer {
    inner: Tokenizer,
    add_prefix_space: bool,
    /// Whether the tokenizer.json's post-processor (its `[CLS] $A [SEP]` template) applies: not
    /// for [`NO_SPECIAL_TOKEN_CLASSES`].
    add_special_tokens: bool,
    /// The ids of `build_inputs_with_special_tokens([])`: what an empty text encodes to (nothing
    /// for tokenizers that add no special tokens, such as Qwen's).
    empty_ids: Vec<u32>,
    /// `[CLS]`/`<s>` and `[SEP]`/`</s>`, where the tokenizer has them.
    cls_id: Option<u32>,
    sep_id: Option<u32>,
    pad_id: u32,
    max_length: usize,
    /// Texts are cut to `max_length` tokens (see [`Self::without_truncation`]).
    truncating: bool,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` (+ the optional `tokenizer_config.json` and `special_tokens_map.json`)
    /// from `model_dir`. `config` is the model's config.json, used for the fallback length limit.
    pub fn load(model_dir: &Path, config: &Value) -> Result<Self> {
        let tokenizer_path = model_dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(EngineError::MissingModelFile {
                dir: model_dir.to_path_buf(),
                file: "tokenizer.json".into(),
            });
        }
        let mut inner =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| EngineError::InvalidFile {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        let tokenizer_config = read_optional_json(&model_dir.join("tokenizer_config.json"))?;
        let special_tokens_map = read_optional_json(&model_dir.join("special_tokens_map.json"))?;

        let model_type = config
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or("");
        let tokenizer_class = tokenizer_config
            .as_ref()
            .and_then(|c| c.get("tokenizer_class"))
            .and_then(Value::as_str);
        let add_prefix_space = match tokenizer_class {
            Some(class) => PREFIX_SPACE_CLASSES.contains(&class),
            None => matches!(model_type, "roberta" | "gpt2"),
        };
        let add_special_tokens = match tokenizer_class {
            Some(class) => !NO_SPECIAL_TOKEN_CLASSES.contains(&class),
            None => model_type != "qwen3",
        };

        let max_length = max_length(tokenizer_config.as_ref(), config);
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| EngineError::InvalidFile {
                path: tokenizer_path.clone(),
                message: format!("cannot truncate at {max_length} tokens: {e}"),
            })?;

        let empty_ids = if adds_no_special_tokens_to_empty(tokenizer_class, model_type) {
            Vec::new()
        } else {
            inner
                .encode_fast("", add_special_tokens)
                .map_err(|e| EngineError::Tokenizer(e.to_string()))?
                .get_ids()
                .to_vec()
        };

        let special_id = |key: &str| -> Option<u32> {
            [tokenizer_config.as_ref(), special_tokens_map.as_ref()]
                .into_iter()
                .flatten()
                .find_map(|c| c.get(key).and_then(token_content))
                .and_then(|token| inner.token_to_id(token))
        };
        // transformers' cls_token_id/sep_token_id; a tokenizer without them (Qwen's byte-level
        // BPE) adds no special tokens either, and bert_score's `idf_dict[None] = 0` zeroes nothing.
        let cls_id = special_id("cls_token").or_else(|| empty_ids.first().copied());
        let sep_id = special_id("sep_token").or_else(|| empty_ids.last().copied());
        let pad_id = special_id("pad_token")
            .or_else(|| {
                config
                    .get("pad_token_id")
                    .and_then(Value::as_u64)
                    .map(|id| id as u32)
            })
            .unwrap_or(0);

        Ok(Self {
            inner,
            add_prefix_space,
            add_special_tokens,
            empty_ids,
            cls_id,
            sep_id,
            pad_id,
            max_length,
            truncating: true,
        })
    }

    /// `sent_encode(tokenizer, text)`. When truncating, only a prefix of a long text is tokenized (see
    /// [`truncation_prefix`]): the ids are those of the whole text, truncated.
    pub fn encode(&self, text: &str) -> Result<TokenizedText> {
        let text = python_strip(text);
        if text.is_empty() {
            return Ok(TokenizedText {
                ids: self.empty_ids.clone(),
                truncated: false,
            });
        }
        if self.truncating {
            let mut budget = self.max_length.saturating_mul(PREFIX_BYTES_PER_TOKEN);
            while let Some(prefix) = truncation_prefix(text, budget) {
                let encoded = self.encode_stripped(prefix)?;
                if encoded.truncated {
                    return Ok(encoded);
                }
                budget = budget.saturating_mul(4);
            }
        }
        self.encode_stripped(text)
    }

    /// A stripped, non-empty text's ids.
    fn encode_stripped(&self, text: &str) -> Result<TokenizedText> {
        let encoding = if self.add_prefix_space {
            // The slow GPT-2/RoBERTa tokenizers prepend a space when `add_prefix_space` is set and the
            // text does not already start with whitespace (it never does after strip()).
            self.inner
                .encode_fast(format!(" {text}"), self.add_special_tokens)
        } else {
            self.inner.encode_fast(text, self.add_special_tokens)
        }
        .map_err(|e| EngineError::Tokenizer(e.to_string()))?;
        Ok(TokenizedText {
            ids: encoding.get_ids().to_vec(),
            truncated: !encoding.get_overflowing().is_empty(),
        })
    }

    /// Stops truncating: texts keep every token (for scoring long texts in windows, see
    /// [`LongTexts::Window`](crate::scorer::LongTexts::Window)); `max_length` still names the
    /// model's window.
    pub fn without_truncation(mut self) -> Self {
        self.inner
            .with_truncation(None)
            .expect("removing truncation cannot fail");
        self.truncating = false;
        self
    }

    /// Encodes many texts in parallel (on the current rayon pool), in input order.
    pub fn encode_all<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<TokenizedText>> {
        texts.par_iter().map(|t| self.encode(t.as_ref())).collect()
    }

    /// The string of one token, as bert_score's `plot_example` shows it (`tokenizer.decode([id])`).
    pub fn token_string(&self, id: u32) -> String {
        self.inner
            .decode(&[id], false)
            .ok()
            .or_else(|| self.inner.id_to_token(id))
            .unwrap_or_default()
    }

    /// The id of the first special token (`[CLS]`, `<s>`), if the tokenizer has one.
    pub fn cls_id(&self) -> Option<u32> {
        self.cls_id
    }

    /// The id of the last special token (`[SEP]`, `</s>`), if the tokenizer has one.
    pub fn sep_id(&self) -> Option<u32> {
        self.sep_id
    }

    /// The ids that weigh 0 without idf (bert_score sets `idf_dict[sep_token_id]` and
    /// `idf_dict[cls_token_id]` to 0): `[CLS]` and `[SEP]` (`<s>`, `</s>`) where the tokenizer has
    /// them; none for tokenizers without them (Qwen3: every token weighs 1).
    pub fn zero_weight_ids(&self) -> Vec<u32> {
        self.cls_id.into_iter().chain(self.sep_id).collect()
    }

    /// The id sequences are padded with (never seen by the matching: padding is masked).
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Texts are cut to this many tokens, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Whether a space is prepended to every text (GPT-2/RoBERTa byte-level BPE).
    pub fn adds_prefix_space(&self) -> bool {
        self.add_prefix_space
    }
}

/// The prefix of `text` tokenized in its place when at most the first tokens are kept: it ends at the first
/// ASCII space at or after byte `at` that follows a non-space character, so every word before it is whole and
/// every pre-tokenizer bert_score's models use (BERT's whitespace-and-punctuation split, byte-level BPE's regex,
/// SentencePiece's metaspace) splits the prefix into the same first pieces as the text: when the prefix yields
/// more tokens than are kept, its kept ids are the text's. `None` when the text ends first (or has no such
/// space after `at`).
pub fn truncation_prefix(text: &str, at: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    (at.max(1)..bytes.len())
        .find(|&i| {
            bytes[i] == b' '
                && text.is_char_boundary(i)
                && text[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| !c.is_whitespace())
        })
        .map(|i| &text[..i])
}

/// Python's `str.strip()` with no argument: strips characters for which `str.isspace()` holds,
/// which are Unicode White_Space plus the ASCII information separators U+001C..U+001F.
pub fn python_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Whether `build_inputs_with_special_tokens([])` is `[]`: transformers' base
/// `PreTrainedTokenizerFast` (ModernBERT's tokenizer class, also what `AutoTokenizer` gives a
/// `modernbert` model without a `tokenizer_class`) does not override it and adds nothing, although
/// its tokenizer.json's template adds `[CLS]`/`[SEP]` to every non-empty text.
fn adds_no_special_tokens_to_empty(tokenizer_class: Option<&str>, model_type: &str) -> bool {
    match tokenizer_class {
        Some(class) => class == "PreTrainedTokenizerFast",
        None => model_type == "modernbert",
    }
}

/// The length limit bert_score passes as `max_length`: `tokenizer.model_max_length`. When the tokenizer
/// config has none (transformers then reports 1e30), the model's position table decides, less the
/// offset RoBERTa-style position ids start at.
///
/// ModernBERT takes its own context instead, `max_position_embeddings` (8,192 for ModernBERT-base,
/// whose tokenizer says so too): a text that fits is scored whole, whatever a tokenizer config says.
fn max_length(tokenizer_config: Option<&Value>, config: &Value) -> usize {
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    if model_type == "modernbert" {
        let context = config
            .get("max_position_embeddings")
            .and_then(Value::as_u64)
            .map_or(crate::models::modernbert::DEFAULT_CONTEXT, |n| n as usize);
        return context.max(2);
    }
    let configured = tokenizer_config
        .and_then(|c| c.get("model_max_length"))
        .and_then(Value::as_f64)
        .filter(|&n| (1.0..MAX_PLAUSIBLE_LENGTH).contains(&n));
    if let Some(n) = configured {
        return n as usize;
    }
    let positions = config
        .get("max_position_embeddings")
        .and_then(Value::as_u64)
        .unwrap_or(512) as usize;
    let offset = if matches!(model_type, "roberta" | "xlm-roberta") {
        config
            .get("pad_token_id")
            .and_then(Value::as_u64)
            .unwrap_or(1) as usize
            + 1
    } else {
        0
    };
    positions.saturating_sub(offset).max(2)
}

/// A special token in tokenizer_config.json is either a string or an AddedToken object.
fn token_content(value: &Value) -> Option<&str> {
    value
        .as_str()
        .or_else(|| value.get("content").and_then(Value::as_str))
}

pub(crate) fn read_optional_json(path: &Path) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    read_json(path).map(Some)
}

pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| EngineError::ModelFile {
        path: PathBuf::from(path),
        source,
    })?;
    // serde_json's message ends with "at line L column C".
    serde_json::from_str(&text).map_err(|e| EngineError::InvalidFile {
        path: path.to_path_buf(),
        message: format!("invalid JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_matches_python() {
        assert_eq!(python_strip("  a b \t\n"), "a b");
        assert_eq!(python_strip("\u{3000}x\u{a0}"), "x");
        assert_eq!(python_strip("\u{1c}x\u{1f}"), "x");
        assert_eq!(python_strip("\u{200b}x"), "\u{200b}x");
        assert_eq!(python_strip("   "), "");
    }

    #[test]
    fn absurd_model_max_length_falls_back_to_positions() {
        let tok = serde_json::json!({"model_max_length": 1e30});
        let roberta = serde_json::json!({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1});
        assert_eq!(max_length(Some(&tok), &roberta), 512);
        let bert = serde_json::json!({"model_type": "bert", "max_position_embeddings": 512});
        assert_eq!(max_length(None, &bert), 512);
        let tok = serde_json::json!({"model_max_length": 256});
        assert_eq!(max_length(Some(&tok), &bert), 256);
        let modernbert =
            serde_json::json!({"model_type": "modernbert", "max_position_embeddings": 8192});
        assert_eq!(max_length(Some(&tok), &modernbert), 8192);
        assert_eq!(
            max_length(None, &serde_json::json!({"model_type": "modernbert"})),
            8192
        );
    }
}
