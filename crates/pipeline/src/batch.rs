//! Batch inference (CreateModelInvocationJob) for the base model's evaluation prompts: which path a run takes,
//! the input records, and joining the output back onto the items.
//!
//! Each item becomes one `{"recordId", "modelInput"}` record. Bedrock's examples use 11+ character alphanumeric
//! record ids, and item ids are free text, so the record id is derived from the item id (`R` + 16 hex digits of
//! its SHA-256: stable across resumes, checked unique) and the mapping is kept. The output's order is not
//! guaranteed, so it is joined by `recordId`, never by position; a record answered with an `error`, or missing
//! from the output, becomes a failed item under its own id.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::adapter::{AdapterKind, GenerationParams};
use crate::config::{InferenceMode, PipelineConfig};
use crate::data::{EvalItem, sha256_hex};
use crate::inference::ItemOutput;

/// How a run's base-model prompts are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InferencePath {
    /// One batch inference job.
    Batch,
    /// One call per prompt; `reason` says why not a batch job.
    OnDemand {
        /// Why (for `plan`, the journal and the report).
        reason: String,
    },
}

/// Whether a batch job can run this model's prompts (foundation model id, ARN or inference profile) in `region`:
/// the catalog lists the model for batch inference there, and its calls have an InvokeModel body (a batch record
/// is one). Provisioned throughputs, deployments and custom models are not batch targets.
pub fn model_supports_batch(model_id: &str, region: Option<&str>) -> bool {
    crate::models::batch(model_id, region) && AdapterKind::for_model(model_id).has_invoke_body()
}

/// The path the base model's `prompts` prompts take under `config` (`[inference] mode`). `Err` (a config error)
/// when `mode = "batch"` and batch inference cannot run.
pub fn choose(config: &PipelineConfig, prompts: usize) -> Result<InferencePath, String> {
    let inference = &config.inference;
    let model_id = config.customization.inference_model_id();
    let adapter = config.customization.adapter();
    let on_demand = |reason: String| Ok(InferencePath::OnDemand { reason });
    let no_body = !adapter.has_invoke_body();
    match inference.mode {
        InferenceMode::OnDemand => on_demand("inference.mode = \"on-demand\"".into()),
        InferenceMode::Batch if no_body => Err(format!(
            "inference.mode = \"batch\" needs an InvokeModel body for the model; adapter {} has none (batch \
             records are InvokeModel bodies)",
            adapter.name()
        )),
        InferenceMode::Batch if prompts < inference.batch_min_records => Err(format!(
            "inference.mode = \"batch\": {prompts} prompts is fewer than inference.batch_min_records = {} (the \
             model's minimum records per batch job); use mode = \"auto\" or \"on-demand\"",
            inference.batch_min_records
        )),
        InferenceMode::Batch => Ok(InferencePath::Batch),
        InferenceMode::Auto if no_body => on_demand(format!(
            "adapter {} has no InvokeModel body to batch",
            adapter.name()
        )),
        InferenceMode::Auto if !model_supports_batch(&model_id, config.aws.region.as_deref()) => {
            on_demand(format!(
                "{model_id} is not a model the catalog lists for batch inference{}",
                config
                    .aws
                    .region
                    .as_deref()
                    .map(|region| format!(" in {region}"))
                    .unwrap_or_default()
            ))
        }
        InferenceMode::Auto if prompts < inference.batch_min_records => on_demand(format!(
            "{prompts} prompts < inference.batch_min_records = {}",
            inference.batch_min_records
        )),
        InferenceMode::Auto => Ok(InferencePath::Batch),
    }
}

/// `prompts` items as batch jobs of at most `max` records: the fewest parts, of near-equal size (item ranges,
/// in order). With `max` at least twice the minimum, every part of a split reaches the minimum.
pub fn split(prompts: usize, max: usize) -> Vec<std::ops::Range<usize>> {
    let parts = prompts.div_ceil(max.max(1)).max(1);
    let (size, larger) = (prompts / parts, prompts % parts);
    let mut start = 0;
    (0..parts)
        .map(|part| {
            let len = size + usize::from(part < larger);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// The generation settings of `config`.
pub(crate) fn params(config: &PipelineConfig) -> GenerationParams {
    GenerationParams {
        max_tokens: config.inference.max_tokens,
        temperature: config.inference.temperature,
        top_p: config.inference.top_p,
    }
}

/// The record id of an item: `R` and 16 hex digits of the SHA-256 of its id (17 alphanumeric characters).
pub fn record_id(item_id: &str) -> String {
    format!("R{}", &sha256_hex(item_id.as_bytes())[..16])
}

/// A batch job's input: the JSONL and which item each record id stands for.
#[derive(Debug, Clone)]
pub struct BatchInput {
    /// One `{"recordId", "modelInput"}` per item, in item order.
    pub jsonl: Vec<u8>,
    /// Record id → item id.
    pub items_by_record: HashMap<String, String>,
}

/// The input records for `items`. `Err` when the adapter has no InvokeModel body or two item ids share a record id.
pub fn build_input(
    items: &[EvalItem],
    adapter: AdapterKind,
    system: Option<&str>,
    params: &GenerationParams,
) -> Result<BatchInput, String> {
    let mut jsonl = String::new();
    let mut items_by_record = HashMap::with_capacity(items.len());
    for item in items {
        let body = adapter
            .request_body(&item.prompt, system, params)
            .ok_or_else(|| format!("adapter {} has no InvokeModel body", adapter.name()))?;
        let id = record_id(&item.id);
        if let Some(other) = items_by_record.insert(id.clone(), item.id.clone()) {
            return Err(format!(
                "items {other:?} and {:?} share batch record id {id}",
                item.id
            ));
        }
        jsonl.push_str(&json!({ "recordId": id, "modelInput": body }).to_string());
        jsonl.push('\n');
    }
    Ok(BatchInput {
        jsonl: jsonl.into_bytes(),
        items_by_record,
    })
}

/// A batch job's output joined onto the items.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedOutput {
    /// One output per item, in item order.
    pub outputs: Vec<ItemOutput>,
    /// Records answered with an `error`.
    pub errored: usize,
    /// Items with no record in the output.
    pub missing: usize,
    /// Output lines that were not records of this job (unknown record id, not JSON): counted, never used.
    pub ignored: usize,
}

/// Joins the output JSONL (`{"recordId", "modelInput", "modelOutput"}` or `{..., "error": {"errorCode",
/// "errorMessage"}}` per line, any order, possibly spread over several files) onto `items` by record id.
pub fn join_output(items: &[EvalItem], output: &str, adapter: AdapterKind) -> JoinedOutput {
    let wanted: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(index, item)| (record_id(&item.id), index))
        .collect();
    let mut results: Vec<Option<Result<String, String>>> = vec![None; items.len()];
    let mut ignored = 0;
    let mut seen = HashSet::new();
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            ignored += 1;
            continue;
        };
        let Some(&index) = record
            .get("recordId")
            .and_then(Value::as_str)
            .and_then(|id| wanted.get(id))
        else {
            ignored += 1;
            continue;
        };
        if !seen.insert(index) {
            // A record id twice: the first answer stands.
            ignored += 1;
            continue;
        }
        let result = if let Some(error) = record.get("error") {
            let code = error
                .get("errorCode")
                .map(|c| match c {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "error".into());
            let message = error
                .get("errorMessage")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            Err(format!("batch record error {code}: {message}"))
        } else if let Some(body) = record.get("modelOutput") {
            adapter.response_text(body.to_string().as_bytes())
        } else {
            Err("the batch record has neither modelOutput nor error".into())
        };
        results[index] = Some(result);
    }
    let mut errored = 0;
    let mut missing = 0;
    let outputs = items
        .iter()
        .zip(results)
        .map(|(item, result)| {
            let (completion, error) = match result {
                Some(Ok(text)) => (Some(text), None),
                Some(Err(message)) => {
                    errored += 1;
                    (None, Some(message))
                }
                None => {
                    missing += 1;
                    (
                        None,
                        Some(format!(
                            "no record {} in the batch job's output",
                            record_id(&item.id)
                        )),
                    )
                }
            };
            ItemOutput {
                id: item.id.clone(),
                completion,
                error,
                attempts: 1,
            }
        })
        .collect();
    JoinedOutput {
        outputs,
        errored,
        missing,
        ignored,
    }
}

/// The job's own timeout: `timeout_s` in whole hours, within Bedrock's 24-168.
pub fn timeout_hours(timeout_s: f64) -> i32 {
    ((timeout_s / 3600.0).ceil() as i64).clamp(24, 168) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn items(n: usize) -> Vec<EvalItem> {
        (1..=n)
            .map(|i| EvalItem {
                id: i.to_string(),
                prompt: format!("prompt {i}"),
                references: vec![format!("reference {i}")],
            })
            .collect()
    }

    const PARAMS: GenerationParams = GenerationParams {
        max_tokens: 10,
        temperature: 0.0,
        top_p: None,
    };

    #[test]
    fn record_ids_are_stable_alphanumeric_and_long_enough() {
        let id = record_id("item 1/ä");
        assert_eq!(id, record_id("item 1/ä"));
        assert_eq!(id.len(), 17);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        assert_ne!(record_id("1"), record_id("2"));
    }

    #[test]
    fn input_records_carry_the_invoke_model_body() {
        let input = build_input(&items(3), AdapterKind::Nova, Some("Be brief."), &PARAMS).unwrap();
        let lines: Vec<Value> = std::str::from_utf8(&input.jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["recordId"], record_id("2"));
        assert_eq!(
            lines[1]["modelInput"]["messages"][0]["content"][0]["text"],
            "prompt 2"
        );
        assert_eq!(lines[1]["modelInput"]["system"][0]["text"], "Be brief.");
        assert_eq!(input.items_by_record[&record_id("3")], "3");
        assert!(build_input(&items(1), AdapterKind::Converse, None, &PARAMS).is_err());
    }

    fn nova_output(item: usize, text: &str) -> String {
        json!({
            "recordId": record_id(&item.to_string()),
            "modelInput": {},
            "modelOutput": {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn"},
        })
        .to_string()
    }

    #[test]
    fn outputs_join_by_record_id_never_by_position() {
        let items = items(5);
        let error = json!({
            "recordId": record_id("2"),
            "modelInput": {},
            "error": {"errorCode": 400, "errorMessage": "Malformed input"},
        });
        // Shuffled; item 4 missing; a stranger and a duplicate ignored.
        let output = [
            nova_output(5, "five"),
            error.to_string(),
            nova_output(1, "one"),
            "not json".to_string(),
            json!({"recordId": "Rxxxxxxxxxxxxxxxx", "modelOutput": {}}).to_string(),
            nova_output(3, "three"),
            nova_output(1, "one again"),
        ]
        .join("\n");
        let joined = join_output(&items, &output, AdapterKind::Nova);
        assert_eq!((joined.errored, joined.missing, joined.ignored), (1, 1, 3));
        let by_id: Vec<(&str, Option<&str>)> = joined
            .outputs
            .iter()
            .map(|o| (o.id.as_str(), o.completion.as_deref()))
            .collect();
        assert_eq!(
            by_id,
            [
                ("1", Some("one")),
                ("2", None),
                ("3", Some("three")),
                ("4", None),
                ("5", Some("five"))
            ]
        );
        assert_eq!(
            joined.outputs[1].error.as_deref(),
            Some("batch record error 400: Malformed input")
        );
        assert!(
            joined.outputs[3]
                .error
                .as_deref()
                .unwrap()
                .starts_with("no record R"),
            "{:?}",
            joined.outputs[3]
        );
    }

    fn config(extra: &str) -> PipelineConfig {
        let text = format!(
            r#"
            [data]
            training = "t.jsonl"
            validation = "v.json"
            references = "r.json"
            [s3]
            bucket = "bkt"
            [customization]
            base_model_id = "amazon.nova-micro-v1:0:128k"
            role_arn = "arn:aws:iam::123456789012:role/r"
            [inference]
            {extra}
            "#
        );
        let config = PipelineConfig::from_toml_str(&text, Path::new("x.toml")).unwrap();
        config.validate(Path::new("x.toml")).unwrap();
        config
    }

    #[test]
    fn the_path_follows_mode_model_and_count() {
        let auto = config("batch_min_records = 10");
        assert_eq!(
            auto.customization.inference_model_id(),
            "amazon.nova-micro-v1:0"
        );
        assert_eq!(choose(&auto, 10), Ok(InferencePath::Batch));
        assert!(
            matches!(choose(&auto, 9), Ok(InferencePath::OnDemand { reason }) if reason.contains("9 prompts"))
        );
        let forced = config("mode = \"batch\"\nbatch_min_records = 10");
        assert!(choose(&forced, 9).unwrap_err().contains("fewer than"));
        let on_demand = config("mode = \"on-demand\"");
        assert!(matches!(
            choose(&on_demand, 1000),
            Ok(InferencePath::OnDemand { .. })
        ));
        let mut cohere = config("");
        cohere.customization.base_model_id = "cohere.command-light-text-v14:7:4k".into();
        assert!(
            matches!(choose(&cohere, 1000), Ok(InferencePath::OnDemand { reason }) if reason.contains("not a model"))
        );
        assert_eq!(
            split(11, 50_000),
            vec![std::ops::Range { start: 0, end: 11 }]
        );
        assert_eq!(split(11, 6), [0..6, 6..11]);
        assert_eq!(
            split(100_001, 50_000),
            [0..33_334, 33_334..66_668, 66_668..100_001]
        );
        assert_eq!(split(0, 6).len(), 1, "no prompts: one empty part");
        assert!(model_supports_batch("us.amazon.nova-lite-v1:0", None));
        assert!(model_supports_batch(
            "meta.llama3-1-8b-instruct-v1:0",
            Some("us-west-2")
        ));
        // Listed for batch inference, but called through Converse: no InvokeModel body to batch.
        assert!(!model_supports_batch(
            "anthropic.claude-3-haiku-20240307-v1:0",
            None
        ));
        assert!(!model_supports_batch(
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
            None
        ));
        assert_eq!(
            (
                timeout_hours(60.0),
                timeout_hours(48.5 * 3600.0),
                timeout_hours(1e9)
            ),
            (24, 49, 168)
        );
    }
}
