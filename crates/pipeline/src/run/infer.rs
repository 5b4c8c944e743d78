//! Steps `inference` and `write-outputs`: every evaluation prompt on both models at once (see
//! [`crate::inference`]; the base model's through a batch job when [`crate::batch::choose`] says so, while the
//! custom model is called on demand), one result per item in item order, then the outputs and failures to S3 in
//! the format `bertscore compare` reads.

use serde_json::{Value, json};

use super::{BASE_OUTPUTS_FILE, CUSTOM_OUTPUTS_FILE, Pipeline, StepResult, to_json};
use crate::batch::{self, InferencePath};
use crate::data::EvalItem;
use crate::error::{PipelineError, Result};
use crate::inference::{self, ItemOutput, Target};
use crate::journal::StepStatus;
use crate::naming::keys;
use crate::report::FailureRecord;

impl Pipeline {
    pub(super) async fn inference(&mut self) -> StepResult {
        let items = self.items()?;
        let custom = Target {
            label: "custom",
            model_id: self.custom_model_id(),
            adapter: self.config.customization.adapter(),
            system: self.config.customization.system_prompt.clone(),
        };
        // The custom model is called on demand while the base model's prompts run (on demand or as a batch job).
        let aws = self.aws.clone();
        let settings = self.config.inference.clone();
        let custom_items = items.clone();
        let custom_target = custom.clone();
        let custom_calls =
            async move { inference::run_all(&aws, &custom_target, &custom_items, &settings).await };
        let (base, custom_outputs) = tokio::join!(self.run_base(&items), custom_calls);
        let (base_outputs, base_detail) = base?;
        let failed =
            |outputs: &[ItemOutput]| outputs.iter().filter(|o| o.completion.is_none()).count();
        let mut detail = json!({
            "items": items.len(),
            "base_failed": failed(&base_outputs),
            "custom_failed": failed(&custom_outputs),
            "custom_model_id": custom.model_id,
        });
        if let (Some(detail), Value::Object(base_detail)) = (detail.as_object_mut(), base_detail) {
            detail.extend(base_detail);
        }
        self.run
            .write_file(BASE_OUTPUTS_FILE, &to_json(&base_outputs))?;
        self.run
            .write_file(CUSTOM_OUTPUTS_FILE, &to_json(&custom_outputs))?;
        Ok((StepStatus::Finished, detail))
    }

    /// The base model as the evaluation calls it.
    pub(super) fn base_target(&self) -> Target {
        Target {
            label: "base",
            model_id: self.config.customization.inference_model_id(),
            adapter: self.config.customization.adapter(),
            system: self.config.customization.system_prompt.clone(),
        }
    }

    /// The base model's outputs for `items`, one per item in item order, by the path [`batch::choose`] picks
    /// (a batch job, resumable and never created twice, or on-demand calls), with what happened for the journal.
    /// Used by the `inference` step and by anything else that evaluates the base model once (a sweep).
    pub(super) async fn run_base(
        &mut self,
        items: &[EvalItem],
    ) -> Result<(Vec<ItemOutput>, Value)> {
        let base = self.base_target();
        let path = batch::choose(&self.config, items.len())
            .map_err(|message| PipelineError::config(self.run.path("config.json"), message))?;
        let (outputs, mut detail) = match path {
            InferencePath::OnDemand { reason } => {
                self.aws
                    .note(&format!("the base model's prompts run on demand: {reason}"));
                let outputs =
                    inference::run_all(&self.aws, &base, items, &self.config.inference).await;
                (
                    outputs,
                    json!({ "base_path": "on-demand", "base_path_reason": reason }),
                )
            }
            InferencePath::Batch => {
                let (outputs, mut detail) = self.base_by_batch(items, &base).await?;
                detail["base_path"] = json!("batch");
                (outputs, detail)
            }
        };
        detail["base_model_id"] = json!(base.model_id);
        detail["adapter"] = json!(base.adapter.name());
        Ok((outputs, detail))
    }

    pub(super) async fn write_outputs(&mut self) -> StepResult {
        let items = self.items()?;
        let (base, custom) = self.outputs()?;
        let bucket = self.config.s3.inference_bucket().to_string();
        let files = [
            (
                "base-outputs",
                keys::BASE_OUTPUTS,
                outputs_jsonl(&items, &base),
            ),
            (
                "custom-outputs",
                keys::CUSTOM_OUTPUTS,
                outputs_jsonl(&items, &custom),
            ),
            (
                "failures",
                keys::FAILURES,
                failures_jsonl(&failures(&base, &custom)),
            ),
        ];
        for (role, name, body) in files {
            let key = self.config.s3.key(self.run_id(), name);
            self.aws
                .put_object(&bucket, &key, body.into_bytes(), "application/x-ndjson")
                .await?;
            self.record_object(role, &bucket, &key);
        }
        Ok((StepStatus::Finished, Value::Null))
    }
}

/// Successful outputs as JSON Lines in the format `bertscore compare` reads (`id`, `prompt`, `completion`,
/// `references`), so `bertscore compare base.jsonl c1.jsonl ...` reproduces a ranking; failed items are in the
/// failures file, under the same ids.
pub(super) fn outputs_jsonl(items: &[EvalItem], outputs: &[ItemOutput]) -> String {
    let mut text = String::new();
    for (item, output) in items.iter().zip(outputs) {
        if let Some(completion) = &output.completion {
            let line = json!({
                "id": item.id,
                "prompt": item.prompt,
                "completion": completion,
                "references": item.references,
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
    }
    text
}

/// Every item without an output, per model.
pub(super) fn failures(base: &[ItemOutput], custom: &[ItemOutput]) -> Vec<FailureRecord> {
    let mut failures = Vec::new();
    for (model, outputs) in [("base", base), ("custom", custom)] {
        for output in outputs {
            if output.completion.is_none() {
                failures.push(FailureRecord {
                    id: output.id.clone(),
                    model: model.to_string(),
                    error: output.error.clone().unwrap_or_default(),
                    attempts: output.attempts,
                });
            }
        }
    }
    failures
}

fn failures_jsonl(failures: &[FailureRecord]) -> String {
    failures
        .iter()
        .map(|f| serde_json::to_string(f).unwrap_or_default() + "\n")
        .collect()
}
