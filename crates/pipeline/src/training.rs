//! Training data per model family. Bedrock fine-tunes Cohere, Titan and Llama text models on
//! `{"prompt", "completion"}` records and Amazon Nova (and Anthropic) models on `bedrock-conversation-2024` records;
//! a job started on the wrong schema fails after it has been queued, so the file is read, checked against the
//! target family's schema and dataset quotas, and converted here, before anything is uploaded:
//!
//! - prompt/completion data for a conversation family becomes single-turn `bedrock-conversation-2024` records,
//!   with `[customization] system_prompt` as each record's system turn;
//! - single-turn conversations (no system turn) for a prompt/completion family become prompt/completion records;
//!   anything more (several turns, a system turn) has no prompt/completion form and is an error naming the line.
//!
//! Every problem is reported as `file:line: what`, all of them at once (up to a bound).

use std::path::Path;

use bedrock_catalog::Adapter;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::data::{invalid, sha256_hex};
use crate::error::{PipelineError, Result};

/// The schema version Bedrock's conversation format carries.
pub const CONVERSATION_SCHEMA: &str = "bedrock-conversation-2024";

/// A training file's record schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainingFormat {
    /// `{"prompt": ..., "completion": ...}` (Cohere, Titan, Llama text fine-tuning).
    PromptCompletion,
    /// `{"schemaVersion": "bedrock-conversation-2024", "system"?: [...], "messages": [...]}` (Nova, Anthropic).
    Conversation,
}

impl TrainingFormat {
    /// The format's name in messages and the journal.
    pub fn name(self) -> &'static str {
        match self {
            TrainingFormat::PromptCompletion => "prompt/completion",
            TrainingFormat::Conversation => CONVERSATION_SCHEMA,
        }
    }
}

/// What a model family's fine-tuning accepts: its record schema and the dataset quotas of the Bedrock user guide
/// ("Model requirements for training and validation datasets"; Nova: "Preparing data for fine-tuning
/// Understanding models"). Character bounds are the guide's "token quota x 6".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyRules {
    /// The family's name in messages.
    pub family: &'static str,
    /// The record schema the family trains on.
    pub format: TrainingFormat,
    /// The most characters of text in one record (all turns, system included).
    pub max_chars_per_record: usize,
    /// Fewer training records than this is an error.
    pub min_records: usize,
    /// The default account quota on training records: more is a warning (quotas can be raised).
    pub quota_records: Option<usize>,
    /// Texts Nova reserves: a user or system turn containing one fails the job.
    pub reserved: &'static [&'static str],
}

/// Nova's reserved keywords (a prompt or system prompt containing one fails the training job).
const NOVA_RESERVED: &[&str] = &[
    "User:",
    "Bot:",
    "Assistant:",
    "System:",
    "<image>",
    "<video>",
    "[EOS]",
];

/// The largest training file Bedrock takes for fine-tuning (1 GB); a job validation file: 100 MB.
pub const MAX_TRAINING_BYTES: u64 = 1_000_000_000;
/// The largest job validation file.
pub const MAX_VALIDATION_BYTES: u64 = 100_000_000;

impl FamilyRules {
    /// The rules for the model a job customizes (`customization.base_model_id`, any spelling): its catalog
    /// entry's family.
    pub fn for_model(base_model_id: &str) -> FamilyRules {
        let adapter = crate::models::entry(base_model_id).map(|model| model.adapter());
        let prompt_completion = |family, tokens: usize| FamilyRules {
            family,
            format: TrainingFormat::PromptCompletion,
            max_chars_per_record: tokens * 6,
            min_records: 1,
            quota_records: Some(10_000),
            reserved: &[],
        };
        match adapter {
            Some(Adapter::Nova) => FamilyRules {
                family: "Amazon Nova",
                format: TrainingFormat::Conversation,
                max_chars_per_record: 32_768 * 6,
                min_records: 8,
                quota_records: Some(20_000),
                reserved: NOVA_RESERVED,
            },
            Some(Adapter::AnthropicMessages) => FamilyRules {
                family: "Anthropic Claude",
                format: TrainingFormat::Conversation,
                max_chars_per_record: 32_000 * 6,
                min_records: 32,
                quota_records: Some(10_000),
                reserved: &[],
            },
            // The catalog's Llama models are 3.1 and 3.2: 16,384 tokens per record.
            Some(Adapter::MetaLlama) => prompt_completion("Meta Llama 3", 16_384),
            Some(Adapter::TitanText) => prompt_completion("Amazon Titan Text", 4_096),
            Some(Adapter::CohereCommand) => prompt_completion("Cohere Command", 4_096),
            // Refused by validation (not in the catalog); kept permissive for `training::prepare` alone.
            None => FamilyRules {
                family: "unknown family",
                format: TrainingFormat::PromptCompletion,
                max_chars_per_record: 1_000_000,
                min_records: 1,
                quota_records: None,
                reserved: &[],
            },
        }
    }
}

/// A training (or job validation) file, checked and in the target family's format.
#[derive(Debug, Clone)]
pub struct PreparedTraining {
    /// What the file holds.
    pub source_format: TrainingFormat,
    /// What the job gets.
    pub target_format: TrainingFormat,
    /// Records.
    pub records: usize,
    /// SHA-256 of the file as given.
    pub source_sha256: String,
    /// The bytes to upload: the file itself when no conversion was needed, else the converted records.
    pub upload: Vec<u8>,
    /// Whether `upload` is a conversion (and not the file itself).
    pub converted: bool,
    /// Quota warnings (nothing that stops the run).
    pub warnings: Vec<String>,
}

impl PreparedTraining {
    /// SHA-256 of what gets uploaded.
    pub fn upload_sha256(&self) -> String {
        sha256_hex(&self.upload)
    }

    /// The first uploaded record, as one line (for `plan`).
    pub fn first_record(&self) -> &str {
        let text = std::str::from_utf8(&self.upload).unwrap_or("");
        text.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
    }
}

/// Which file a check is for: the training data or the job's validation set (their size quotas differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataRole {
    /// `[data] training`.
    Training,
    /// `[data] job_validation`.
    JobValidation,
}

/// Reads `path`, checks every record against `rules`, and converts it to the family's format (`system_prompt`:
/// the system turn of converted conversation records).
pub fn prepare(
    path: &Path,
    role: DataRole,
    rules: &FamilyRules,
    system_prompt: Option<&str>,
) -> Result<PreparedTraining> {
    let max_bytes = match role {
        DataRole::Training => MAX_TRAINING_BYTES,
        DataRole::JobValidation => MAX_VALIDATION_BYTES,
    };
    let bytes = crate::data::read_data(path, max_bytes)?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(invalid(
                path,
                vec![format!("{}:{line}: invalid UTF-8", path.display())],
            ));
        }
    };
    if let Some(system) = system_prompt {
        let problems = reserved_in(system, rules);
        if !problems.is_empty() {
            return Err(PipelineError::config(
                path,
                format!(
                    "customization.system_prompt: {} (reserved by {} fine-tuning)",
                    problems.join(", "),
                    rules.family
                ),
            ));
        }
    }

    let mut problems = Vec::new();
    let mut records: Vec<(usize, Record)> = Vec::new();
    let mut source_format: Option<(TrainingFormat, usize)> = None;
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        let problem = |message: String| format!("{}:{number}: {message}", path.display());
        if line.trim().is_empty() {
            // A trailing blank line is harmless; one in the middle means a broken record.
            if lines[index..].iter().all(|l| l.trim().is_empty()) {
                break;
            }
            problems.push(problem("empty line".into()));
            continue;
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(e) => {
                problems.push(problem(format!("not valid JSON: {e}")));
                continue;
            }
        };
        let Value::Object(object) = value else {
            problems.push(problem(format!(
                "expected a JSON object ({} record)",
                source_format
                    .map_or(rules.format, |(format, _)| format)
                    .name()
            )));
            continue;
        };
        let format = if object.contains_key("messages") || object.contains_key("schemaVersion") {
            TrainingFormat::Conversation
        } else {
            TrainingFormat::PromptCompletion
        };
        match source_format {
            None => source_format = Some((format, number)),
            Some((first, first_line)) if first != format => {
                problems.push(problem(format!(
                    "a {} record in a file of {} records (line {first_line} is one); use one format per file",
                    format.name(),
                    first.name()
                )));
                continue;
            }
            Some(_) => {}
        }
        let before = problems.len();
        let record = match format {
            TrainingFormat::PromptCompletion => {
                parse_prompt_completion(&object, &mut |m| problems.push(problem(m)))
            }
            TrainingFormat::Conversation => {
                parse_conversation(&object, &mut |m| problems.push(problem(m)))
            }
        };
        if let Some(record) = record
            && problems.len() == before
        {
            let mut local = Vec::new();
            check_record(&record, rules, system_prompt, &mut local);
            problems.extend(local.into_iter().map(problem));
            records.push((number, record));
        } else if problems.len() == before {
            // Parsed nothing but said nothing: cannot happen; keep the count honest.
            problems.push(problem("unreadable record".into()));
        }
    }
    let count = records.len();
    if count == 0 && problems.is_empty() {
        problems.push(format!("{}: no training records", path.display()));
    }
    let source_format = source_format.map_or(rules.format, |(format, _)| format);
    // A conversation that has no prompt/completion form, for a prompt/completion family.
    if rules.format == TrainingFormat::PromptCompletion {
        for (number, record) in &records {
            if let Record::Conversation { system, turns } = record
                && (!system.is_empty() || turns.len() != 2)
            {
                let why = if system.is_empty() {
                    format!("{} turns", turns.len())
                } else {
                    "a system turn".to_string()
                };
                problems.push(format!(
                    "{}:{number}: {} fine-tuning takes prompt/completion records; this {} record has {why}, \
                     which has no prompt/completion form (only single-turn conversations without a system \
                     turn are converted)",
                    path.display(),
                    rules.family,
                    CONVERSATION_SCHEMA
                ));
            }
        }
    }
    if role == DataRole::Training && problems.is_empty() && count < rules.min_records {
        problems.push(format!(
            "{}: {count} training records; {} fine-tuning needs at least {}",
            path.display(),
            rules.family,
            rules.min_records
        ));
    }
    if !problems.is_empty() {
        return Err(invalid(path, problems));
    }
    let mut warnings = Vec::new();
    if let Some(quota) = rules.quota_records
        && count > quota
    {
        warnings.push(format!(
            "{}: {count} records is more than the default Bedrock quota of {quota} for {} fine-tuning; the job \
             fails unless the account's quota was raised",
            path.display(),
            rules.family
        ));
    }

    let converted = source_format != rules.format;
    let upload = if converted {
        let mut out = String::new();
        for (_, record) in &records {
            let line = match rules.format {
                TrainingFormat::Conversation => record.to_conversation(system_prompt),
                TrainingFormat::PromptCompletion => record.to_prompt_completion(),
            };
            out.push_str(&line);
            out.push('\n');
        }
        out.into_bytes()
    } else {
        bytes.clone()
    };
    Ok(PreparedTraining {
        source_format,
        target_format: rules.format,
        records: count,
        source_sha256: sha256_hex(&bytes),
        upload,
        converted,
        warnings,
    })
}

/// A conversation turn's speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

/// One training record, in either format.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    PromptCompletion {
        prompt: String,
        completion: String,
    },
    Conversation {
        system: Vec<String>,
        turns: Vec<(Role, String)>,
    },
}

impl Record {
    /// Every text a user (or the system) wrote, and the total character count.
    fn prompts(&self) -> Vec<&str> {
        match self {
            Record::PromptCompletion { prompt, .. } => vec![prompt.as_str()],
            Record::Conversation { system, turns } => system
                .iter()
                .map(String::as_str)
                .chain(
                    turns
                        .iter()
                        .filter(|(role, _)| *role == Role::User)
                        .map(|(_, text)| text.as_str()),
                )
                .collect(),
        }
    }

    fn chars(&self) -> usize {
        match self {
            Record::PromptCompletion { prompt, completion } => {
                prompt.chars().count() + completion.chars().count()
            }
            Record::Conversation { system, turns } => {
                system.iter().map(|s| s.chars().count()).sum::<usize>()
                    + turns.iter().map(|(_, t)| t.chars().count()).sum::<usize>()
            }
        }
    }

    /// The record as one `bedrock-conversation-2024` line (fields in the schema's order).
    fn to_conversation(&self, system_prompt: Option<&str>) -> String {
        let Record::PromptCompletion { prompt, completion } = self else {
            unreachable!("only prompt/completion records are converted to conversations")
        };
        let text = |text: &str| vec![TextBlock { text: text.into() }];
        let line = ConversationLine {
            schema_version: CONVERSATION_SCHEMA,
            system: system_prompt.map(text),
            messages: vec![
                Turn {
                    role: "user",
                    content: text(prompt),
                },
                Turn {
                    role: "assistant",
                    content: text(completion),
                },
            ],
        };
        serde_json::to_string(&line).expect("strings serialize")
    }

    /// The record as one `{"prompt", "completion"}` line.
    fn to_prompt_completion(&self) -> String {
        let Record::Conversation { turns, .. } = self else {
            unreachable!("only conversation records are converted to prompt/completion")
        };
        let line = PromptCompletionLine {
            prompt: &turns[0].1,
            completion: &turns[1].1,
        };
        serde_json::to_string(&line).expect("strings serialize")
    }
}

/// A `bedrock-conversation-2024` record as written.
#[derive(Serialize)]
struct ConversationLine<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<Vec<TextBlock>>,
    messages: Vec<Turn>,
}

#[derive(Serialize)]
struct Turn {
    role: &'static str,
    content: Vec<TextBlock>,
}

#[derive(Serialize)]
struct TextBlock {
    text: String,
}

#[derive(Serialize)]
struct PromptCompletionLine<'a> {
    prompt: &'a str,
    completion: &'a str,
}

fn parse_prompt_completion(
    object: &Map<String, Value>,
    problem: &mut dyn FnMut(String),
) -> Option<Record> {
    let mut field = |name: &str| match object.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            problem(format!("{name} is empty"));
            None
        }
        Some(_) => {
            problem(format!("{name} must be a string"));
            None
        }
        None => {
            problem(format!("missing {name}"));
            None
        }
    };
    let prompt = field("prompt");
    let completion = field("completion");
    Some(Record::PromptCompletion {
        prompt: prompt?,
        completion: completion?,
    })
}

fn parse_conversation(
    object: &Map<String, Value>,
    problem: &mut dyn FnMut(String),
) -> Option<Record> {
    match object.get("schemaVersion") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(_) => problem("schemaVersion must be a non-empty string".into()),
        None => problem(format!("missing schemaVersion ({CONVERSATION_SCHEMA:?})")),
    }
    let mut system = Vec::new();
    match object.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::Array(blocks)) => {
            for (i, block) in blocks.iter().enumerate() {
                match text_block(block) {
                    Ok(text) => system.push(text),
                    Err(m) => problem(format!("system[{i}]: {m}")),
                }
            }
        }
        Some(_) => problem("system must be an array of {\"text\": ...} blocks".into()),
    }
    let Some(Value::Array(messages)) = object.get("messages") else {
        problem("messages must be an array of {\"role\", \"content\"} turns".into());
        return None;
    };
    let mut turns = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = match message.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(other) => {
                problem(format!(
                    "messages[{i}].role {other:?}: expected \"user\" or \"assistant\""
                ));
                continue;
            }
            None => {
                problem(format!("messages[{i}]: missing role"));
                continue;
            }
        };
        let expected = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        if role != expected {
            let name = if role == Role::User {
                "user"
            } else {
                "assistant"
            };
            problem(format!(
                "messages[{i}] has role {name:?}; turns alternate user, assistant, starting with user"
            ));
        }
        let Some(Value::Array(content)) = message.get("content") else {
            problem(format!(
                "messages[{i}].content must be an array of {{\"text\": ...}} blocks"
            ));
            continue;
        };
        if content.is_empty() {
            problem(format!("messages[{i}].content is empty"));
            continue;
        }
        let mut texts = Vec::new();
        for (j, block) in content.iter().enumerate() {
            match text_block(block) {
                Ok(text) => texts.push(text),
                Err(m) => problem(format!("messages[{i}].content[{j}]: {m}")),
            }
        }
        turns.push((role, texts.join("\n")));
    }
    if messages.len() < 2 {
        problem("messages needs a user turn and an assistant turn".into());
    } else if turns
        .last()
        .is_some_and(|(role, _)| *role != Role::Assistant)
    {
        problem("the last turn must be the assistant's".into());
    }
    Some(Record::Conversation { system, turns })
}

/// The text of a `{"text": ...}` content block.
fn text_block(block: &Value) -> std::result::Result<String, String> {
    match block.get("text") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err("text is empty".into()),
        Some(_) => Err("text must be a string".into()),
        None if block.is_object() => Err(format!(
            "only text blocks are supported (text-to-text fine-tuning); found {}",
            block
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_else(|| "an empty block".into())
        )),
        None => Err("expected a {\"text\": ...} block".into()),
    }
}

fn check_record(
    record: &Record,
    rules: &FamilyRules,
    system_prompt: Option<&str>,
    problems: &mut Vec<String>,
) {
    let mut chars = record.chars();
    if rules.format == TrainingFormat::Conversation
        && matches!(record, Record::PromptCompletion { .. })
    {
        chars += system_prompt.map_or(0, |s| s.chars().count());
    }
    if chars > rules.max_chars_per_record {
        problems.push(format!(
            "{chars} characters; {} fine-tuning takes at most {} per record",
            rules.family, rules.max_chars_per_record
        ));
    }
    for text in record.prompts() {
        problems.extend(reserved_in(text, rules));
    }
}

/// Each reserved keyword `text` contains, as a problem.
fn reserved_in(text: &str, rules: &FamilyRules) -> Vec<String> {
    rules
        .reserved
        .iter()
        .filter(|keyword| text.contains(*keyword))
        .map(|keyword| {
            format!(
                "contains {keyword:?}, a keyword {} reserves (the training job would fail)",
                rules.family
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/dialogsum-seed")
            .join(name)
    }

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn problems(error: PipelineError) -> Vec<String> {
        assert_eq!(error.kind(), crate::ErrorKind::BadInput, "{error}");
        let PipelineError::InvalidData { problems, .. } = error else {
            panic!("{error}")
        };
        problems
            .iter()
            .map(|p| {
                p.rsplit_once("t.jsonl:")
                    .map_or(p.clone(), |(_, r)| r.to_string())
            })
            .collect()
    }

    const COHERE: &str = "cohere.command-light-text-v14:7:4k";
    const NOVA: &str = "amazon.nova-micro-v1:0:128k";

    #[test]
    fn the_seed_is_valid_prompt_completion_and_uploaded_as_is() {
        let path = seed("training-data.jsonl");
        let prepared = prepare(
            &path,
            DataRole::Training,
            &FamilyRules::for_model(COHERE),
            None,
        )
        .unwrap();
        // 1000 records; the last line has no trailing newline.
        assert_eq!(prepared.records, 1000);
        assert!(!prepared.converted);
        assert_eq!(prepared.upload, std::fs::read(&path).unwrap());
        assert_eq!(prepared.source_sha256, prepared.upload_sha256());
    }

    #[test]
    fn prompt_completion_becomes_conversations_for_nova() {
        let path = seed("training-data.jsonl");
        let prepared = prepare(
            &path,
            DataRole::Training,
            &FamilyRules::for_model(NOVA),
            Some("Summarize dialogues in one or two sentences."),
        )
        .unwrap();
        assert!(prepared.converted);
        assert_eq!(prepared.records, 1000);
        assert_eq!(prepared.source_format, TrainingFormat::PromptCompletion);
        assert_eq!(prepared.target_format, TrainingFormat::Conversation);
        let source: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let text = String::from_utf8(prepared.upload.clone()).unwrap();
        let records: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 1000);
        for (record, source) in records.iter().zip(&source) {
            assert_eq!(record["schemaVersion"], CONVERSATION_SCHEMA);
            assert_eq!(
                record["system"],
                json!([{ "text": "Summarize dialogues in one or two sentences." }])
            );
            assert_eq!(record["messages"][0]["role"], "user");
            assert_eq!(
                record["messages"][0]["content"][0]["text"],
                source["prompt"]
            );
            assert_eq!(record["messages"][1]["role"], "assistant");
            assert_eq!(
                record["messages"][1]["content"][0]["text"],
                source["completion"]
            );
        }
        // And the converted file is itself valid Nova data, uploaded as is.
        let (_dir, converted) = write(&text);
        let again = prepare(
            &converted,
            DataRole::Training,
            &FamilyRules::for_model(NOVA),
            None,
        )
        .unwrap();
        assert!(!again.converted);
        assert_eq!(again.records, 1000);
        assert!(prepared.first_record().starts_with("{\"schemaVersion\""));
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let (_dir, path) = write(
            "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"prompt\":\"a\"}\nnot json\n\n{\"prompt\":\"\",\"completion\":3}\n[1]\n",
        );
        let shown = problems(
            prepare(
                &path,
                DataRole::Training,
                &FamilyRules::for_model(COHERE),
                None,
            )
            .unwrap_err(),
        );
        assert_eq!(shown.len(), 6, "{shown:?}");
        assert_eq!(shown[0], "2: missing completion");
        assert!(shown[1].starts_with("3: not valid JSON"), "{shown:?}");
        assert_eq!(shown[2], "4: empty line");
        assert_eq!(shown[3], "5: prompt is empty");
        assert_eq!(shown[4], "5: completion must be a string");
        assert!(
            shown[5].starts_with("6: expected a JSON object"),
            "{shown:?}"
        );
    }

    fn conversation(system: Option<&str>, turns: &[(&str, &str)]) -> String {
        let mut record = json!({
            "schemaVersion": CONVERSATION_SCHEMA,
            "messages": turns.iter().map(|(role, text)| json!({"role": role, "content": [{"text": text}]})).collect::<Vec<_>>(),
        });
        if let Some(system) = system {
            record["system"] = json!([{ "text": system }]);
        }
        record.to_string()
    }

    #[test]
    fn conversations_are_checked_turn_by_turn() {
        let good = conversation(None, &[("user", "Hi"), ("assistant", "Hello")]);
        let lines = [
            good.clone(),
            conversation(None, &[("assistant", "Hello"), ("user", "Hi")]),
            conversation(None, &[("user", "Hi")]),
            r#"{"schemaVersion":"bedrock-conversation-2024","messages":[{"role":"user","content":[{"image":{}}]},{"role":"assistant","content":[{"text":"x"}]}]}"#.to_string(),
            r#"{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"text":"b"}]}]}"#.to_string(),
            conversation(None, &[("user", "User: hi"), ("assistant", "fine")]),
            r#"{"prompt":"a","completion":"b"}"#.to_string(),
        ];
        let (_dir, path) = write(&(lines.join("\n") + "\n"));
        let shown = problems(
            prepare(
                &path,
                DataRole::Training,
                &FamilyRules::for_model(NOVA),
                None,
            )
            .unwrap_err(),
        );
        let at = |line: &str| -> Vec<&String> {
            shown
                .iter()
                .filter(|p| p.starts_with(&format!("{line}: ")))
                .collect()
        };
        assert!(at("1").is_empty(), "{shown:?}");
        assert!(
            at("2")[0].contains("messages[0] has role \"assistant\""),
            "{shown:?}"
        );
        assert!(
            at("3")[0].contains("needs a user turn and an assistant turn"),
            "{shown:?}"
        );
        assert!(
            at("4")[0].contains("only text blocks are supported"),
            "{shown:?}"
        );
        assert!(at("5")[0].contains("missing schemaVersion"), "{shown:?}");
        assert!(at("6")[0].contains("\"User:\""), "{shown:?}");
        assert!(at("7")[0].contains("use one format per file"), "{shown:?}");
    }

    #[test]
    fn conversations_for_a_prompt_completion_family() {
        let single = conversation(None, &[("user", "Hi"), ("assistant", "Hello")]);
        let (_dir, path) = write(&format!("{single}\n{single}\n"));
        let prepared = prepare(
            &path,
            DataRole::Training,
            &FamilyRules::for_model(COHERE),
            None,
        )
        .unwrap();
        assert!(prepared.converted);
        assert_eq!(
            String::from_utf8(prepared.upload).unwrap(),
            "{\"prompt\":\"Hi\",\"completion\":\"Hello\"}\n".repeat(2)
        );

        let with_system =
            conversation(Some("Be brief."), &[("user", "Hi"), ("assistant", "Hello")]);
        let multi = conversation(
            None,
            &[
                ("user", "Hi"),
                ("assistant", "Hello"),
                ("user", "Bye"),
                ("assistant", "Bye"),
            ],
        );
        let (_dir, path) = write(&format!("{single}\n{with_system}\n{multi}\n"));
        let shown = problems(
            prepare(
                &path,
                DataRole::Training,
                &FamilyRules::for_model(COHERE),
                None,
            )
            .unwrap_err(),
        );
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("2: Cohere Command fine-tuning takes prompt/completion"),
            "{shown:?}"
        );
        assert!(shown[0].contains("a system turn"), "{shown:?}");
        assert!(
            shown[1].starts_with("3: ") && shown[1].contains("4 turns"),
            "{shown:?}"
        );
    }

    #[test]
    fn family_limits_are_enforced() {
        // Nova needs 8 records.
        let (_dir, path) = write("{\"prompt\":\"a\",\"completion\":\"b\"}\n");
        let error = prepare(
            &path,
            DataRole::Training,
            &FamilyRules::for_model(NOVA),
            None,
        )
        .unwrap_err();
        assert!(error.to_string().contains("at least 8"), "{error}");
        // 4096 tokens x 6 characters per Cohere record.
        let long = "w".repeat(4096 * 6);
        let (_dir, path) = write(&format!("{{\"prompt\":\"{long}\",\"completion\":\"b\"}}\n"));
        let shown = problems(
            prepare(
                &path,
                DataRole::Training,
                &FamilyRules::for_model(COHERE),
                None,
            )
            .unwrap_err(),
        );
        assert_eq!(
            shown,
            vec!["1: 24577 characters; Cohere Command fine-tuning takes at most 24576 per record"]
        );
        // A reserved keyword in the configured system prompt is a config error.
        let error = prepare(
            &seed("training-data.jsonl"),
            DataRole::Training,
            &FamilyRules::for_model(NOVA),
            Some("System: be brief"),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("customization.system_prompt"),
            "{error}"
        );
        assert_eq!(error.kind(), crate::ErrorKind::BadInput);
    }
}
