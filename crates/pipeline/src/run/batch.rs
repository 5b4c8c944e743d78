//! The base model's prompts as one batch inference job (see [`crate::batch`]): the input uploaded, the job
//! recorded before its create call (name and client request token derived from the run id, so a resumed run
//! re-sends the same request and Bedrock answers with the job it already created), polled with the run's
//! [`Poller`], its output read back and joined by record id; records that errored or are missing retried on
//! demand when `inference.retry_failed_on_demand` is set. Stopped by the failure handling and by `cleanup`.

use serde_json::{Value, json};

use super::Pipeline;
use crate::aws::BatchJobRequest;
use crate::batch;
use crate::config::InferenceMode;
use crate::data::EvalItem;
use crate::error::{PipelineError, Result};
use crate::inference::{self, ItemOutput, Target};
use crate::journal::{BatchJobRecord, Step};
use crate::naming::{batch_input_key, batch_job_name, batch_output_key, batch_token};
use crate::poll::Poller;

/// Record id → item id of the batch job's input, in the run directory.
const BATCH_RECORDS_FILE: &str = "batch-records.json";

impl Pipeline {
    /// The base model's outputs through batch jobs, one per item in item order, and what happened (journal).
    /// Prompts above `inference.batch_max_records` run as several jobs, one part after another: a finished part's
    /// outputs are kept in the run directory (`batch-part-K.json`) before the next part starts, so a resumed run
    /// (kill -9 included) neither repeats a finished part nor creates a part's job twice.
    pub(super) async fn base_by_batch(
        &mut self,
        items: &[EvalItem],
        base: &Target,
    ) -> Result<(Vec<ItemOutput>, Value)> {
        let parts = batch::split(items.len(), self.config.inference.batch_max_records);
        self.aws.note(&format!(
            "the base model's {} prompts run as {} batch job(s) of at most inference.batch_max_records = {} \
             records (at least inference.batch_min_records = {} prompts)",
            items.len(),
            parts.len(),
            self.config.inference.batch_max_records,
            self.config.inference.batch_min_records
        ));
        if parts.len() == 1 {
            return self.base_by_batch_part(items, base, 0).await;
        }
        let mut outputs = Vec::with_capacity(items.len());
        let mut details = Vec::new();
        for (part, range) in parts.iter().enumerate() {
            let file = format!("batch-part-{part}.json");
            if self.run.path(&file).exists() {
                let saved: Vec<ItemOutput> = serde_json::from_slice(&self.run.read_file(&file)?)
                    .map_err(|e| PipelineError::Run(format!("{file} in the run directory: {e}")))?;
                outputs.extend(saved);
                continue;
            }
            let (part_outputs, detail) = self
                .base_by_batch_part(&items[range.clone()], base, part)
                .await?;
            self.run.write_file(&file, &super::to_json(&part_outputs))?;
            self.run.log(
                Some(Step::Inference),
                "batch-part-finished",
                json!({ "part": part + 1, "of": parts.len(), "records": range.len() }),
            )?;
            details.push(detail);
            outputs.extend(part_outputs);
        }
        Ok((
            outputs,
            json!({ "batch_parts": parts.len(), "parts": details }),
        ))
    }

    /// One batch job's part of the base model's prompts: `items`, as part `part`.
    async fn base_by_batch_part(
        &mut self,
        items: &[EvalItem],
        base: &Target,
        part: usize,
    ) -> Result<(Vec<ItemOutput>, Value)> {
        let record = match self.batch_job_created(items, base, part).await {
            Ok(record) => record,
            // `auto` chose the batch job to save money, not because it must: a create Bedrock refuses (the
            // account's batch quotas, the model's batch support where the catalog is out of date) falls back to
            // on-demand calls. `mode = "batch"` asked for the job itself: the refusal fails the run.
            Err(PipelineError::Aws(failure))
                if failure.refused() && self.config.inference.mode == InferenceMode::Auto =>
            {
                return self
                    .base_on_demand_after_refusal(items, base, &failure)
                    .await;
            }
            Err(error) => return Err(error),
        };
        let arn = record
            .arn
            .clone()
            .ok_or_else(|| PipelineError::Run("the batch job has no ARN".into()))?;
        let settings = self.config.inference.clone();
        let mut poller = Poller::new(
            self.aws.as_ref(),
            &self.config.polling,
            self.config.polling.batch_timeout_s,
        );
        let (status, message) = loop {
            let job = self.aws.batch_job(&arn).await?;
            let status = job.status.clone();
            self.record_batch_status(&status)?;
            if job.ended() {
                break (
                    status,
                    job.message.unwrap_or_else(|| "no message".to_string()),
                );
            }
            poller
                .wait(|| format!("batch inference job {arn} (status {status})"))
                .await?;
        };
        let mut detail = json!({
            "batch_job_arn": arn,
            "batch_job_status": status,
        });
        let mut outputs = if matches!(status.as_str(), "Completed" | "PartiallyCompleted") {
            let text = self.batch_output(&record, &arn).await?;
            let joined = batch::join_output(items, &text, base.adapter);
            detail["batch_errored"] = json!(joined.errored);
            detail["batch_missing"] = json!(joined.missing);
            detail["batch_ignored_lines"] = json!(joined.ignored);
            joined.outputs
        } else if settings.retry_failed_on_demand {
            let note = format!(
                "the base model's batch job {arn} ended {status} ({message}); its prompts were run on demand"
            );
            tracing::warn!("{note}");
            self.run.state.notes.push(note);
            detail["batch_job_message"] = json!(message);
            items
                .iter()
                .map(|item| ItemOutput {
                    id: item.id.clone(),
                    completion: None,
                    error: Some(format!("the batch job ended {status}: {message}")),
                    attempts: 0,
                })
                .collect()
        } else {
            return Err(PipelineError::Resource(format!(
                "batch inference job {arn} ended {status}: {message}"
            )));
        };
        if settings.retry_failed_on_demand {
            let failed: Vec<EvalItem> = items
                .iter()
                .zip(&outputs)
                .filter(|(_, output)| output.completion.is_none())
                .map(|(item, _)| item.clone())
                .collect();
            if !failed.is_empty() {
                let retried = inference::run_all(&self.aws, base, &failed, &settings).await;
                detail["retried_on_demand"] = json!(failed.len());
                for retry in retried {
                    let Some(output) = outputs.iter_mut().find(|o| o.id == retry.id) else {
                        continue;
                    };
                    output.attempts += retry.attempts;
                    match retry.completion {
                        Some(text) => {
                            output.completion = Some(text);
                            output.error = None;
                        }
                        None => {
                            let first = output.error.take().unwrap_or_default();
                            output.error = Some(format!(
                                "{first}; on demand: {}",
                                retry.error.unwrap_or_default()
                            ));
                        }
                    }
                }
            }
        }
        Ok((outputs, detail))
    }

    /// The batch job of this run: created now (input uploaded, journaled before and after the create call), or
    /// the one recorded. A job recorded without an ARN (the process died during the create call) is requested
    /// again with the same client token, which gives back the same job.
    async fn batch_job_created(
        &mut self,
        items: &[EvalItem],
        base: &Target,
        part: usize,
    ) -> Result<BatchJobRecord> {
        // The job of an earlier part has ended (its outputs are kept): it moves to the finished parts.
        if let Some(record) = &self.run.state.resources.batch_job
            && record.part != part
        {
            let done = record.clone();
            self.run.state.resources.batch_parts_done.push(done);
            self.run.state.resources.batch_job = None;
            self.run.touch()?;
        }
        if let Some(record) = &self.run.state.resources.batch_job
            && record.arn.is_some()
            && !record.stopped
        {
            return Ok(record.clone());
        }
        let run_id = self.run_id().to_string();
        let input = batch::build_input(
            items,
            base.adapter,
            base.system.as_deref(),
            &batch::params(&self.config),
        )
        .map_err(PipelineError::Run)?;
        let bucket = self.config.s3.inference_bucket().to_string();
        let input_key = self.config.s3.key(&run_id, &batch_input_key(part));
        self.aws
            .put_object(
                &bucket,
                &input_key,
                input.jsonl.clone(),
                "application/x-ndjson",
            )
            .await?;
        self.record_object("batch-input", &bucket, &input_key);
        // Which item each record id stands for, next to the outputs (the join recomputes it from the item ids).
        let mapping: std::collections::BTreeMap<&String, &String> =
            input.items_by_record.iter().collect();
        let records_file = match part {
            0 => BATCH_RECORDS_FILE.to_string(),
            k => BATCH_RECORDS_FILE.replace(".json", &format!("-p{k}.json")),
        };
        self.run
            .write_file(&records_file, &super::to_json(&mapping))?;
        let mut record = match self.run.state.resources.batch_job.clone() {
            // Requested, never recorded as created: the same request again.
            Some(record) if !record.stopped => record,
            previous => {
                // None yet, or one the run stopped after a failure: a new job under a new token.
                let generation = previous.map_or(0, |r| r.generation + 1);
                BatchJobRecord {
                    name: batch_job_name(&run_id, generation, part),
                    client_request_token: batch_token(&run_id, generation, part),
                    model_id: base.model_id.clone(),
                    input_uri: format!("s3://{bucket}/{input_key}"),
                    output_uri: format!(
                        "s3://{bucket}/{}",
                        self.config.s3.key(&run_id, &batch_output_key(part))
                    ),
                    records: items.len(),
                    arn: None,
                    status: None,
                    stopped: false,
                    generation,
                    part,
                }
            }
        };
        self.run.state.resources.batch_job = Some(record.clone());
        self.run.touch()?;
        self.run.log(
            Some(Step::Inference),
            "batch-job-requested",
            json!({
                "name": record.name,
                "client_request_token": record.client_request_token,
                "model_id": record.model_id,
                "records": record.records,
            }),
        )?;
        let role = self
            .config
            .inference
            .batch_role_arn
            .clone()
            .unwrap_or_else(|| self.config.customization.role_arn.clone());
        let arn = self
            .aws
            .create_batch_job(&BatchJobRequest {
                name: record.name.clone(),
                role_arn: role,
                model_id: record.model_id.clone(),
                input_uri: record.input_uri.clone(),
                output_uri: record.output_uri.clone(),
                timeout_hours: batch::timeout_hours(self.config.polling.batch_timeout_s),
                client_request_token: record.client_request_token.clone(),
            })
            .await?;
        record.arn = Some(arn);
        record.status = Some("Submitted".into());
        self.run.state.resources.batch_job = Some(record.clone());
        self.run.touch()?;
        self.run.log(
            Some(Step::Inference),
            "batch-job-created",
            json!({ "name": record.name, "job_arn": record.arn }),
        )?;
        Ok(record)
    }

    /// The base model's prompts on demand after Bedrock refused the batch job's create call; the refusal is a
    /// note of the run and the step's journal detail.
    async fn base_on_demand_after_refusal(
        &mut self,
        items: &[EvalItem],
        base: &Target,
        failure: &crate::error::AwsFailure,
    ) -> Result<(Vec<ItemOutput>, Value)> {
        let note = format!(
            "Bedrock refused the base model's batch job ({failure}); inference.mode = \"auto\" ran its {} prompts \
             on demand instead",
            items.len()
        );
        tracing::warn!("{note}");
        self.run.state.notes.push(note);
        if let Some(record) = self.run.state.resources.batch_job.as_mut() {
            // Refused: nothing runs under it, nothing for `cleanup` to stop.
            record.stopped = true;
            record.status = Some("Refused".into());
        }
        self.run.touch()?;
        self.run.log(
            Some(Step::Inference),
            "batch-job-refused",
            json!({ "error": failure.to_string(), "code": failure.code }),
        )?;
        let settings = self.config.inference.clone();
        let outputs = inference::run_all(&self.aws, base, items, &settings).await;
        let detail = json!({
            "batch_job_refused": failure.to_string(),
            "on_demand": items.len(),
        });
        Ok((outputs, detail))
    }

    fn record_batch_status(&mut self, status: &str) -> Result<()> {
        if let Some(record) = self.run.state.resources.batch_job.as_mut()
            && record.status.as_deref() != Some(status)
        {
            record.status = Some(status.to_string());
            self.run.touch()?;
        }
        Ok(())
    }

    /// The job's output records: every `.jsonl.out` object under `<output uri><job id>/` (the manifest left out).
    async fn batch_output(&self, record: &BatchJobRecord, arn: &str) -> Result<String> {
        let job_id = arn.rsplit('/').next().unwrap_or(arn);
        let (bucket, prefix) = record
            .output_uri
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| {
                PipelineError::Run(format!("bad batch output URI {}", record.output_uri))
            })?;
        let prefix = format!("{prefix}{job_id}/");
        let keys: Vec<String> = self
            .aws
            .list_keys(bucket, &prefix)
            .await?
            .into_iter()
            .filter(|key| key.ends_with(".jsonl.out"))
            .collect();
        if keys.is_empty() {
            return Err(PipelineError::Resource(format!(
                "batch inference job {arn} completed but wrote no .jsonl.out under s3://{bucket}/{prefix}"
            )));
        }
        let mut text = String::new();
        for key in keys {
            let bytes = self.aws.get_object(bucket, &key).await?;
            text.push_str(&String::from_utf8_lossy(&bytes));
            text.push('\n');
        }
        Ok(text)
    }

    /// Stops the run's batch job if it may still be running; `false` when there was nothing to stop. A job
    /// requested but never recorded with an ARN is looked up by name.
    pub(super) async fn stop_batch_job(&mut self) -> Result<bool> {
        let Some(record) = self.run.state.resources.batch_job.clone() else {
            return Ok(false);
        };
        if !record.may_run() {
            return Ok(false);
        }
        let arn = match record.arn.clone() {
            Some(arn) => Some(arn),
            None => self.aws.find_batch_job(&record.name).await?,
        };
        let Some(arn) = arn else {
            // The create call never went through: nothing runs.
            if let Some(record) = self.run.state.resources.batch_job.as_mut() {
                record.stopped = true;
            }
            self.run.touch()?;
            return Ok(false);
        };
        let Some(job) = PipelineError::unless_not_found(self.aws.batch_job(&arn).await)? else {
            return Ok(false);
        };
        let running = job.running();
        if let Some(record) = self.run.state.resources.batch_job.as_mut() {
            record.arn = Some(arn.clone());
            record.status = Some(job.status.clone());
        }
        if !running {
            self.run.touch()?;
            return Ok(false);
        }
        self.aws.stop_batch_job(&arn).await?;
        if let Some(record) = self.run.state.resources.batch_job.as_mut() {
            record.status = Some("Stopping".into());
            record.stopped = true;
        }
        self.run.touch()?;
        self.run
            .log(None, "batch-job-stopped", json!({ "job_arn": arn }))?;
        Ok(true)
    }

    /// After a failure: stops a batch job that may still be running, noting what was done or what `cleanup`
    /// must still do.
    pub(super) async fn stop_batch_after_failure(&mut self) {
        let note = match self.stop_batch_job().await {
            Ok(true) => Some("the batch inference job was stopped".to_string()),
            Ok(false) => None,
            Err(e) => Some(format!(
                "the batch inference job could NOT be stopped ({}); run `bertscore pipeline cleanup {}`",
                e.describe(),
                self.run_id()
            )),
        };
        self.run.state.notes.extend(note);
    }
}
