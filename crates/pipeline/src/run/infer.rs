//! Steps `inference` and `write-outputs`: every evaluation prompt on both models at once (see
//! [`crate::inference`]), one result per item in item order, then the outputs and failures to S3 in the format
//! `bertscore compare` reads.

use serde_json::{Value, json};

use super::{BASE_OUTPUTS_FILE, CUSTOM_OUTPUTS_FILE, Pipeline, StepResult, to_json};
use crate::data::EvalItem;
use crate::inference::{self, ItemOutput, Target};
use crate::journal::StepStatus;
use crate::naming::keys;
use crate::report::FailureRecord;

impl Pipeline {
    pub(super) async fn inference(&mut self) -> StepResult {
        let items = self.items()?;
        let adapter = self.config.customization.adapter();
        let base = Target {
            label: "base",
            model_id: self.config.customization.inference_model_id(),
            adapter,
        };
        let custom = Target {
            label: "custom",
            model_id: self.throughput_identifier(),
            adapter,
        };
        let settings = &self.config.inference;
        let (base_outputs, custom_outputs) = tokio::join!(
            inference::run_all(&self.clients.runtime, &base, &items, settings),
            inference::run_all(&self.clients.runtime, &custom, &items, settings),
        );
        let failed =
            |outputs: &[ItemOutput]| outputs.iter().filter(|o| o.completion.is_none()).count();
        let detail = json!({
            "items": items.len(),
            "base_failed": failed(&base_outputs),
            "custom_failed": failed(&custom_outputs),
            "base_model_id": base.model_id,
            "custom_model_id": custom.model_id,
            "adapter": adapter.name(),
        });
        self.run
            .write_file(BASE_OUTPUTS_FILE, &to_json(&base_outputs))?;
        self.run
            .write_file(CUSTOM_OUTPUTS_FILE, &to_json(&custom_outputs))?;
        Ok((StepStatus::Finished, detail))
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
            super::upload::put_object(
                &self.clients,
                &bucket,
                &key,
                body.into_bytes(),
                "application/x-ndjson",
            )
            .await?;
            self.record_object(role, &bucket, &key);
        }
        Ok((StepStatus::Finished, Value::Null))
    }
}

/// Successful outputs as JSON Lines in the format `bertscore compare` reads (`id`, `prompt`, `completion`,
/// `references`); failed items are in the failures file, under the same ids.
fn outputs_jsonl(items: &[EvalItem], outputs: &[ItemOutput]) -> String {
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
