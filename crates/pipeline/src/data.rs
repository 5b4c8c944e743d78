//! The evaluation data: the prompts are paired with their references under stable ids, so every output can be
//! traced back to its prompt. (The training data is checked and converted per model family in
//! [`crate::training`].)

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{PipelineError, Result};

/// At most this many problems are listed; the rest are counted.
const MAX_LISTED_PROBLEMS: usize = 20;

pub(crate) fn invalid(path: &Path, mut problems: Vec<String>) -> PipelineError {
    if problems.len() > MAX_LISTED_PROBLEMS {
        let more = problems.len() - MAX_LISTED_PROBLEMS;
        problems.truncate(MAX_LISTED_PROBLEMS);
        problems.push(format!("... and {more} more"));
    }
    PipelineError::InvalidData {
        path: path.to_path_buf(),
        problems,
    }
}

/// The bytes of the data file `path` (a regular file of at most `max` bytes); anything else is the user's to fix,
/// named with the file.
pub(crate) fn read_data(path: &Path, max: u64) -> Result<Vec<u8>> {
    crate::files::read_limited(path, max).map_err(|error| data_error(path, error))
}

fn data_error(path: &Path, error: crate::files::ReadError) -> PipelineError {
    match error {
        crate::files::ReadError::Unusable(why) => {
            invalid(path, vec![format!("{}: {why}", path.display())])
        }
        crate::files::ReadError::Io(e) => PipelineError::io(path, e),
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One evaluation prompt and its references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalItem {
    pub id: String,
    pub prompt: String,
    pub references: Vec<String>,
}

/// Reads the prompts and references and pairs them: by `id` when every record of both files has one, else by
/// position (ids are then `1`, `2`, ...).
pub fn load_eval_items(prompts_path: &Path, references_path: &Path) -> Result<Vec<EvalItem>> {
    let prompts = read_prompts(prompts_path)?;
    // The references' reader opens what it is given: a FIFO or a directory is refused first.
    crate::files::check_regular(references_path).map_err(|e| data_error(references_path, e))?;
    let references = bertscore_compare::read_references(
        references_path,
        bertscore_engine::text_file::LineLimit::default(),
    )
    .map_err(|e| PipelineError::InvalidData {
        path: references_path.to_path_buf(),
        problems: vec![e.to_string()],
    })?;
    if prompts.is_empty() {
        return Err(invalid(
            prompts_path,
            vec![format!("{}: no prompts", prompts_path.display())],
        ));
    }
    let by_id = prompts.iter().all(|p| p.id.is_some()) && references.iter().all(|r| r.id.is_some());
    let mut items = Vec::with_capacity(prompts.len());
    if by_id {
        for prompt in &prompts {
            let id = prompt.id.clone().expect("checked above");
            let Some(reference) = references
                .iter()
                .find(|r| r.id.as_deref() == Some(id.as_str()))
            else {
                return Err(invalid(
                    references_path,
                    vec![format!(
                        "{}: no reference with id {id:?}",
                        references_path.display()
                    )],
                ));
            };
            items.push(EvalItem {
                id,
                prompt: prompt.prompt.clone(),
                references: reference.references.clone(),
            });
        }
    } else {
        if prompts.len() != references.len() {
            return Err(invalid(
                references_path,
                vec![format!(
                    "{} has {} prompts but {} has {} references (pairing by position needs equal counts)",
                    prompts_path.display(),
                    prompts.len(),
                    references_path.display(),
                    references.len()
                )],
            ));
        }
        for (index, (prompt, reference)) in prompts.iter().zip(&references).enumerate() {
            items.push(EvalItem {
                id: prompt.id.clone().unwrap_or_else(|| (index + 1).to_string()),
                prompt: prompt.prompt.clone(),
                references: reference.references.clone(),
            });
        }
    }
    let mut seen = HashSet::new();
    for item in &items {
        if !seen.insert(item.id.as_str()) {
            return Err(invalid(
                prompts_path,
                vec![format!(
                    "{}: duplicate id {:?}",
                    prompts_path.display(),
                    item.id
                )],
            ));
        }
    }
    Ok(items)
}

struct PromptRecord {
    id: Option<String>,
    prompt: String,
}

/// A JSON array or JSON Lines of strings or `{"prompt", "id"?}` objects.
fn read_prompts(path: &Path) -> Result<Vec<PromptRecord>> {
    let text = crate::files::read_text(path, crate::files::MAX_EVAL_BYTES)
        .map_err(|e| data_error(path, e))?;
    let mut values: Vec<(Value, usize)> = Vec::new();
    let mut problems = Vec::new();
    if text.trim_start().starts_with('[') {
        let raws: Vec<&RawValue> = serde_json::from_str(&text).map_err(|e| {
            invalid(
                path,
                vec![format!(
                    "{}:{}: not a valid JSON array: {e}",
                    path.display(),
                    e.line()
                )],
            )
        })?;
        for raw in raws {
            let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            let line = 1 + text[..offset].matches('\n').count();
            // Parsed again on its own (it may still be refused, e.g. nested too deep): a problem, not a panic.
            match serde_json::from_str(raw.get()) {
                Ok(value) => values.push((value, line)),
                Err(e) => problems.push(format!("{}:{line}: not valid JSON: {e}", path.display())),
            }
        }
    } else {
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(value) => values.push((value, index + 1)),
                Err(e) => problems.push(format!(
                    "{}:{}: not valid JSON: {e}",
                    path.display(),
                    index + 1
                )),
            }
        }
    }
    let mut prompts = Vec::new();
    for (value, line) in values {
        let problem = |message: &str| format!("{}:{line}: {message}", path.display());
        match value {
            Value::String(prompt) if !prompt.trim().is_empty() => {
                prompts.push(PromptRecord { id: None, prompt })
            }
            Value::Object(object) => {
                let id = match object.get("id") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(id)) => Some(id.clone()),
                    Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
                    Some(_) => {
                        problems.push(problem("id must be a string or an integer"));
                        continue;
                    }
                };
                match object.get("prompt") {
                    Some(Value::String(prompt)) if !prompt.trim().is_empty() => {
                        prompts.push(PromptRecord {
                            id,
                            prompt: prompt.clone(),
                        })
                    }
                    _ => problems.push(problem("missing or empty prompt")),
                }
            }
            _ => problems.push(problem(
                "expected a non-empty string or an object with prompt",
            )),
        }
    }
    if !problems.is_empty() {
        return Err(invalid(path, problems));
    }
    Ok(prompts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/dialogsum-seed")
            .join(name)
    }

    #[test]
    fn seed_prompts_pair_with_references_by_position() {
        let items = load_eval_items(
            &seed("validation-data.json"),
            &seed("reference-inference.json"),
        )
        .unwrap();
        assert_eq!(items.len(), 11);
        assert_eq!(items[0].id, "1");
        assert!(items[0].prompt.contains("John Sandals"));
        assert!(items[0].references[0].contains("VISA"));
        assert_eq!(items[10].id, "11");
    }

    #[test]
    fn ids_pair_out_of_order_and_counts_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let prompts = dir.path().join("p.jsonl");
        let refs = dir.path().join("r.jsonl");
        std::fs::write(
            &prompts,
            "{\"id\":\"a\",\"prompt\":\"pa\"}\n{\"id\":\"b\",\"prompt\":\"pb\"}\n",
        )
        .unwrap();
        std::fs::write(
            &refs,
            "{\"id\":\"b\",\"reference\":\"rb\"}\n{\"id\":\"a\",\"reference\":\"ra\"}\n",
        )
        .unwrap();
        let items = load_eval_items(&prompts, &refs).unwrap();
        assert_eq!(items[0].references, vec!["ra".to_string()]);
        std::fs::write(&refs, "[\"only one\"]").unwrap();
        let err = load_eval_items(&prompts, &refs).unwrap_err();
        assert!(err.to_string().contains("2 prompts"), "{err}");
    }
}
