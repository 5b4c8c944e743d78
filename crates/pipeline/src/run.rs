//! The run itself: each step journaled before and after it runs, resumable from the journal, idempotent on the
//! AWS side (client request tokens derived from the run id), and never leaving a provisioned throughput behind
//! without saying so.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::types::{
    CustomizationType, ModelCustomizationJobStatus, OutputDataConfig, ProvisionedModelStatus,
    TrainingDataConfig, ValidationDataConfig, Validator,
};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

use crate::aws::Clients;
use crate::config::{PipelineConfig, seconds};
use crate::data::{self, EvalItem};
use crate::error::{PipelineError, Result};
use crate::inference::{self, ItemOutput, Target};
use crate::journal::{
    Outcome, Resources, RunDir, RunStatus, Step, StepStatus, new_run_id, now_rfc3339,
};
use crate::report::{Disposition, FailureRecord, Report};

/// Files in the run directory.
const ITEMS_FILE: &str = "items.json";
const BASE_OUTPUTS_FILE: &str = "base-outputs.json";
const CUSTOM_OUTPUTS_FILE: &str = "custom-outputs.json";
const COMPARISON_FILE: &str = "comparison.json";
const REPORT_FILE: &str = "report.json";

/// What a step did: finished or skipped, with details for the journal.
type StepResult = Result<(StepStatus, Value)>;

/// Runs, resumes and cleans up one run.
pub struct Pipeline {
    config: PipelineConfig,
    clients: Clients,
    run: RunDir,
}

impl Pipeline {
    /// Creates a new run directory under `state_dir` (with a new run id unless one is given). Makes no AWS call.
    pub fn create(
        config: PipelineConfig,
        clients: Clients,
        state_dir: &Path,
        run_id: Option<&str>,
    ) -> Result<Self> {
        let run_id = run_id.map(str::to_string).unwrap_or_else(new_run_id);
        let default_name = format!("bertscore-{run_id}");
        let custom_model_name = config
            .customization
            .custom_model_name
            .clone()
            .unwrap_or_else(|| default_name.clone());
        let resources = Resources {
            job_name: config
                .customization
                .job_name
                .clone()
                .unwrap_or(default_name),
            throughput_name: config
                .throughput
                .name
                .clone()
                .unwrap_or_else(|| format!("{custom_model_name}-pt")),
            custom_model_name,
            ..Resources::default()
        };
        let run = RunDir::create(state_dir, &run_id, &config, resources)?;
        Ok(Self {
            config,
            clients,
            run,
        })
    }

    /// Opens an existing run (id under `state_dir`, or a run directory) with the config it was started with.
    pub fn open(state_dir: &Path, run: &str, clients: Clients) -> Result<Self> {
        let run = RunDir::open(state_dir, run)?;
        let config = run.config()?;
        Ok(Self {
            config,
            clients,
            run,
        })
    }

    pub fn run_id(&self) -> &str {
        &self.run.state.run_id
    }

    pub fn run_dir(&self) -> &Path {
        self.run.dir()
    }

    pub fn state(&self) -> &crate::journal::RunState {
        &self.run.state
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Runs every step not finished yet. On failure after data validation: deletes a live provisioned throughput
    /// (or records that `cleanup` must), emails the failure, writes the report, and returns the error.
    pub async fn execute(&mut self) -> Result<Report> {
        self.prepare_resume()?;
        for step in Step::ALL {
            if self.run.state.finished(step) {
                continue;
            }
            self.run.begin(step)?;
            tracing::info!("run {}: {}", self.run_id(), step.name());
            let result = self.run_step(step).await;
            match result {
                Ok((status, detail)) => self.run.end(step, status, detail, None)?,
                Err(error) => {
                    self.run.end(
                        step,
                        StepStatus::Failed,
                        Value::Null,
                        Some(error.to_string()),
                    )?;
                    return Err(self.fail(step, error).await);
                }
            }
        }
        self.run.state.status = RunStatus::Succeeded;
        self.run.state.error = None;
        self.run.touch()?;
        self.run.log(None, "succeeded", Value::Null)?;
        self.report()
    }

    /// A failed or interrupted run continues where it stopped. A throughput deleted by the failure handling is
    /// created again (with a new client token) when the evaluation still needs it.
    fn prepare_resume(&mut self) -> Result<()> {
        let state = &mut self.run.state;
        if state.status != RunStatus::Running {
            state.status = RunStatus::Running;
            state.error = None;
        }
        if state.resources.throughput_deleted && !state.finished(Step::Inference) {
            state.steps.remove(&Step::CreateThroughput);
            state.steps.remove(&Step::WaitThroughput);
            state.resources.throughput_generation += 1;
            state.resources.throughput_arn = None;
            state.resources.throughput_status = None;
            state.resources.throughput_deleted = false;
            state
                .notes
                .push("the provisioned throughput deleted after a failure is created again".into());
        }
        self.run.touch()
    }

    async fn run_step(&mut self, step: Step) -> StepResult {
        match step {
            Step::Validate => self.validate(),
            Step::Upload => self.upload().await,
            Step::CreateJob => self.create_job().await,
            Step::WaitJob => self.wait_job().await,
            Step::CreateThroughput => self.create_throughput().await,
            Step::WaitThroughput => self.wait_throughput().await,
            Step::Inference => self.inference().await,
            Step::WriteOutputs => self.write_outputs().await,
            Step::Score => self.score().await,
            Step::Decide => self.decide().await,
            Step::Notify => self.notify().await,
            Step::Report => self.write_report().await,
        }
    }

    // ---- steps ----

    fn validate(&mut self) -> StepResult {
        let summary = data::validate_training_data(&self.config.data.training)?;
        if let Some(path) = &self.config.data.job_validation {
            data::validate_training_data(path)?;
        }
        let items =
            data::load_eval_items(&self.config.data.validation, &self.config.data.references)?;
        let bytes =
            serde_json::to_vec_pretty(&items).map_err(|e| PipelineError::Run(e.to_string()))?;
        self.run.write_file(ITEMS_FILE, &bytes)?;
        Ok((
            StepStatus::Finished,
            json!({ "training_records": summary.records, "training_sha256": summary.sha256, "items": items.len() }),
        ))
    }

    async fn upload(&mut self) -> StepResult {
        if self.config.s3.create_buckets {
            for bucket in self.config.s3.buckets() {
                if ensure_bucket(&self.clients, bucket).await? {
                    self.run
                        .state
                        .resources
                        .buckets_created
                        .push(bucket.to_string());
                    self.run.log(
                        Some(Step::Upload),
                        "bucket-created",
                        json!({ "bucket": bucket }),
                    )?;
                }
            }
        }
        let data = self.config.data.clone();
        let s3 = self.config.s3.clone();
        let mut uploads = vec![
            (
                "training",
                s3.training_bucket().to_string(),
                data.training.clone(),
                "data/training-data.jsonl",
            ),
            (
                "validation",
                s3.validation_bucket().to_string(),
                data.validation.clone(),
                "data/validation-data.json",
            ),
            (
                "references",
                s3.validation_bucket().to_string(),
                data.references.clone(),
                "data/reference-inference.json",
            ),
        ];
        if let Some(path) = &data.job_validation {
            uploads.push((
                "job-validation",
                s3.training_bucket().to_string(),
                path.clone(),
                "data/job-validation.jsonl",
            ));
        }
        for (role, bucket, path, name) in uploads {
            let bytes = std::fs::read(&path).map_err(|e| PipelineError::io(&path, e))?;
            let key = s3.key(self.run_id(), name);
            put_object(&self.clients, &bucket, &key, bytes, "application/json").await?;
            self.run
                .state
                .resources
                .objects
                .insert(role.to_string(), format!("s3://{bucket}/{key}"));
        }
        Ok((
            StepStatus::Finished,
            json!({ "objects": self.run.state.resources.objects }),
        ))
    }

    async fn create_job(&mut self) -> StepResult {
        let resources = self.run.state.resources.clone();
        let customization = &self.config.customization;
        let training = resources
            .objects
            .get("training")
            .ok_or_else(|| PipelineError::Run("the training data was not uploaded".into()))?;
        let output_uri = format!(
            "s3://{}/{}",
            self.config.s3.output_bucket(),
            self.config.s3.key(self.run_id(), "job-output/")
        );
        let mut request = self
            .clients
            .bedrock
            .create_model_customization_job()
            .job_name(&resources.job_name)
            .custom_model_name(&resources.custom_model_name)
            .role_arn(&customization.role_arn)
            .base_model_identifier(&customization.base_model_id)
            .customization_type(CustomizationType::from(
                customization.customization_type.as_str(),
            ))
            .client_request_token(self.job_token())
            .training_data_config(TrainingDataConfig::builder().s3_uri(training).build())
            .output_data_config(
                OutputDataConfig::builder()
                    .s3_uri(&output_uri)
                    .build()
                    .map_err(|e| PipelineError::aws("CreateModelCustomizationJob", e))?,
            );
        if let Some(uri) = resources.objects.get("job-validation") {
            let validator = Validator::builder()
                .s3_uri(uri)
                .build()
                .map_err(|e| PipelineError::aws("CreateModelCustomizationJob", e))?;
            let config = ValidationDataConfig::builder()
                .validators(validator)
                .build()
                .map_err(|e| PipelineError::aws("CreateModelCustomizationJob", e))?;
            request = request.validation_data_config(config);
        }
        for (name, value) in &customization.hyper_parameters {
            request = request.hyper_parameters(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| aws_error("CreateModelCustomizationJob", e))?;
        let arn = response.job_arn().to_string();
        self.run.state.resources.job_arn = Some(arn.clone());
        self.run.state.resources.job_status = Some("InProgress".into());
        self.run.touch()?;
        Ok((
            StepStatus::Finished,
            json!({ "job_arn": arn, "output": output_uri }),
        ))
    }

    async fn wait_job(&mut self) -> StepResult {
        let identifier = self.job_identifier();
        let polling = self.config.polling.clone();
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let job = self
                .clients
                .bedrock
                .get_model_customization_job()
                .job_identifier(&identifier)
                .send()
                .await
                .map_err(|e| aws_error("GetModelCustomizationJob", e))?;
            let status = job
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            if self.run.state.resources.job_status.as_deref() != Some(status.as_str()) {
                self.run.state.resources.job_status = Some(status.clone());
                self.run.touch()?;
            }
            if self.run.state.resources.job_arn.is_none() {
                self.run.state.resources.job_arn = Some(job.job_arn().to_string());
            }
            match job.status() {
                Some(ModelCustomizationJobStatus::Completed) => {
                    let model_arn =
                        job.output_model_arn().map(str::to_string).ok_or_else(|| {
                            PipelineError::Resource(format!(
                                "job {identifier} completed without an output model ARN"
                            ))
                        })?;
                    self.run.state.resources.custom_model_arn = Some(model_arn.clone());
                    self.run.touch()?;
                    return Ok((
                        StepStatus::Finished,
                        json!({ "status": status, "custom_model_arn": model_arn }),
                    ));
                }
                Some(
                    ModelCustomizationJobStatus::Failed | ModelCustomizationJobStatus::Stopped,
                ) => {
                    let message = job
                        .failure_message()
                        .unwrap_or("no failure message")
                        .to_string();
                    self.run.state.resources.job_failure = Some(message.clone());
                    self.run.touch()?;
                    return Err(PipelineError::Resource(format!(
                        "customization job {} ended {status}: {message}",
                        self.run.state.resources.job_name
                    )));
                }
                _ => {}
            }
            attempt += 1;
            wait_before_next_poll(
                started,
                attempt,
                polling.initial_s,
                polling.max_s,
                polling.job_timeout_s,
                &format!("customization job {identifier} (status {status})"),
            )
            .await?;
        }
    }

    async fn create_throughput(&mut self) -> StepResult {
        let resources = self.run.state.resources.clone();
        let model_arn = resources
            .custom_model_arn
            .clone()
            .ok_or_else(|| PipelineError::Run("no custom model ARN recorded".into()))?;
        let token = self.throughput_token();
        self.run.log(
            Some(Step::CreateThroughput),
            "billed-resource-requested",
            json!({ "name": resources.throughput_name, "model_units": self.config.throughput.model_units, "client_request_token": token }),
        )?;
        // No commitment term: billed per hour, deletable at any time.
        let response = self
            .clients
            .bedrock
            .create_provisioned_model_throughput()
            .model_units(self.config.throughput.model_units)
            .provisioned_model_name(&resources.throughput_name)
            .model_id(&model_arn)
            .client_request_token(token)
            .send()
            .await
            .map_err(|e| aws_error("CreateProvisionedModelThroughput", e))?;
        let arn = response.provisioned_model_arn().to_string();
        self.run.state.resources.throughput_arn = Some(arn.clone());
        self.run.state.resources.throughput_status = Some("Creating".into());
        self.run.touch()?;
        Ok((
            StepStatus::Finished,
            json!({ "provisioned_model_arn": arn }),
        ))
    }

    async fn wait_throughput(&mut self) -> StepResult {
        let identifier = self.throughput_identifier();
        let polling = self.config.polling.clone();
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let pt = self
                .clients
                .bedrock
                .get_provisioned_model_throughput()
                .provisioned_model_id(&identifier)
                .send()
                .await
                .map_err(|e| aws_error("GetProvisionedModelThroughput", e))?;
            let status = pt.status().as_str().to_string();
            if self.run.state.resources.throughput_status.as_deref() != Some(status.as_str()) {
                self.run.state.resources.throughput_status = Some(status.clone());
                self.run.touch()?;
            }
            match pt.status() {
                ProvisionedModelStatus::InService => {
                    return Ok((StepStatus::Finished, json!({ "status": status })));
                }
                ProvisionedModelStatus::Failed => {
                    return Err(PipelineError::Resource(format!(
                        "provisioned throughput {identifier} failed: {}",
                        pt.failure_message().unwrap_or("no failure message")
                    )));
                }
                _ => {}
            }
            attempt += 1;
            wait_before_next_poll(
                started,
                attempt,
                polling.initial_s,
                polling.max_s,
                polling.throughput_timeout_s,
                &format!("provisioned throughput {identifier} (status {status})"),
            )
            .await?;
        }
    }

    async fn inference(&mut self) -> StepResult {
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
        let inference = &self.config.inference;
        let (base_outputs, custom_outputs) = tokio::join!(
            inference::run_all(&self.clients.runtime, &base, &items, inference),
            inference::run_all(&self.clients.runtime, &custom, &items, inference),
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
        for (name, outputs) in [
            (BASE_OUTPUTS_FILE, &base_outputs),
            (CUSTOM_OUTPUTS_FILE, &custom_outputs),
        ] {
            let bytes = serde_json::to_vec_pretty(outputs)
                .map_err(|e| PipelineError::Run(e.to_string()))?;
            self.run.write_file(name, &bytes)?;
        }
        Ok((StepStatus::Finished, detail))
    }

    async fn write_outputs(&mut self) -> StepResult {
        let items = self.items()?;
        let (base, custom) = self.outputs()?;
        let bucket = self.config.s3.inference_bucket().to_string();
        let files = [
            (
                "base-outputs",
                "outputs/base.jsonl",
                outputs_jsonl(&items, &base),
            ),
            (
                "custom-outputs",
                "outputs/custom.jsonl",
                outputs_jsonl(&items, &custom),
            ),
            (
                "failures",
                "outputs/failures.jsonl",
                failures_jsonl(&failures(&base, &custom)),
            ),
        ];
        for (role, name, body) in files {
            let key = self.config.s3.key(self.run_id(), name);
            put_object(
                &self.clients,
                &bucket,
                &key,
                body.into_bytes(),
                "application/x-ndjson",
            )
            .await?;
            self.run
                .state
                .resources
                .objects
                .insert(role.to_string(), format!("s3://{bucket}/{key}"));
        }
        Ok((StepStatus::Finished, Value::Null))
    }

    async fn score(&mut self) -> StepResult {
        let items = self.items()?;
        let (base, custom) = self.outputs()?;
        let mut compare_items = Vec::new();
        let mut failed_items = Vec::new();
        for ((item, b), c) in items.iter().zip(&base).zip(&custom) {
            match (&b.completion, &c.completion) {
                (Some(base_text), Some(custom_text)) if b.id == item.id && c.id == item.id => {
                    compare_items.push(bertscore_compare::Item {
                        id: item.id.clone(),
                        prompt: Some(item.prompt.clone()),
                        base: base_text.clone(),
                        custom: custom_text.clone(),
                        references: item.references.clone(),
                    })
                }
                _ => failed_items.push(item.id.clone()),
            }
        }
        let total = items.len();
        let failed_fraction = failed_items.len() as f64 / total.max(1) as f64;
        let limit = self.config.inference.max_failure_fraction;
        if compare_items.is_empty() || failed_fraction > limit {
            return Err(PipelineError::Inference(format!(
                "{} of {total} items lack an output from the base or the custom model ({:.0}% > the {:.0}% allowed by \
                 inference.max_failure_fraction); not scoring a biased subset. Failed items: {}",
                failed_items.len(),
                failed_fraction * 100.0,
                limit * 100.0,
                failed_items.join(", ")
            )));
        }
        let scoring = self.config.scoring.clone();
        let comparison = tokio::task::spawn_blocking(move || score_items(&scoring, &compare_items))
            .await
            .map_err(|e| PipelineError::Scoring(format!("the scoring task failed: {e}")))??;
        let bytes = serde_json::to_vec_pretty(&comparison)
            .map_err(|e| PipelineError::Run(e.to_string()))?;
        self.run.write_file(COMPARISON_FILE, &bytes)?;
        let stats = &comparison.statistics;
        let outcome = Outcome {
            verdict: stats.verdict,
            items: total,
            scored: stats.n,
            failed_items,
            base_f1: stats.base.f1,
            custom_f1: stats.custom.f1,
            delta_f1: stats.delta_f1,
            ci95: stats.ci95,
            p_value: stats.p_value,
            wins: stats.wins,
            losses: stats.losses,
            ties: stats.ties,
            settings: comparison.settings.clone(),
        };
        let detail = json!({ "verdict": outcome.verdict, "delta_f1": outcome.delta_f1, "p_value": outcome.p_value, "scored": outcome.scored });
        self.run.state.outcome = Some(outcome);
        self.run.touch()?;
        let key = self.config.s3.key(self.run_id(), "comparison.json");
        let bucket = self.config.s3.inference_bucket().to_string();
        put_object(&self.clients, &bucket, &key, bytes, "application/json").await?;
        self.run
            .state
            .resources
            .objects
            .insert("comparison".into(), format!("s3://{bucket}/{key}"));
        Ok((StepStatus::Finished, detail))
    }

    async fn decide(&mut self) -> StepResult {
        let verdict = self
            .run
            .state
            .outcome
            .as_ref()
            .map(|o| o.verdict)
            .ok_or_else(|| PipelineError::Run("no outcome recorded".into()))?;
        let better = verdict == bertscore_compare::Verdict::Custom;
        let mut actions = Vec::new();
        if better && self.config.throughput.keep_if_better {
            actions.push("throughput kept".to_string());
        } else {
            self.delete_throughput(Step::Decide).await?;
            actions.push("throughput deleted".to_string());
        }
        if !better && self.config.customization.delete_custom_model_if_not_better {
            self.delete_custom_model(Step::Decide).await?;
            actions.push("custom model deleted".to_string());
        }
        Ok((
            StepStatus::Finished,
            json!({ "verdict": verdict, "actions": actions }),
        ))
    }

    async fn notify(&mut self) -> StepResult {
        let Some(notify) = self.config.notify.clone() else {
            return Ok((
                StepStatus::Skipped,
                json!({ "reason": "no [notify] section" }),
            ));
        };
        // Decide has finished: the evaluation succeeded, whatever happens to the email.
        let report = self.report_as(RunStatus::Succeeded);
        let message_id = send_email(&self.clients, &notify, &report).await?;
        Ok((
            StepStatus::Finished,
            json!({ "message_id": message_id, "to": notify.to }),
        ))
    }

    async fn write_report(&mut self) -> StepResult {
        // The report describes the finished run.
        self.run.state.status = RunStatus::Succeeded;
        let report = self.save_report().await?;
        Ok((
            StepStatus::Finished,
            json!({ "report": report.objects.get("report") }),
        ))
    }

    // ---- failure handling and cleanup ----

    /// After a failure: make sure nothing billed is left running unnoticed, tell the user, write the report.
    async fn fail(&mut self, step: Step, error: PipelineError) -> PipelineError {
        self.run.state.status = RunStatus::Failed;
        self.run.state.error = Some(format!("{}: {error}", step.name()));
        let _ = self.run.touch();
        let _ = self.run.log(
            Some(step),
            "run-failed",
            json!({ "error": error.to_string() }),
        );
        if step == Step::Validate {
            // Nothing was created and no AWS call was made; the error says what to fix.
            let _ = self
                .run
                .write_file(REPORT_FILE, &report_bytes(&self.report_unchecked()));
            return error;
        }
        // Once Decide has finished, a live throughput is one the user chose to keep. Before that, a throughput
        // that may exist (ARN known, or a create call that may have gone through) is deleted.
        let resources = &self.run.state.resources;
        let may_exist = !resources.throughput_deleted
            && (resources.throughput_arn.is_some()
                || self.run.state.steps.contains_key(&Step::CreateThroughput));
        if may_exist && !self.run.state.finished(Step::Decide) {
            match self.delete_throughput(step).await {
                Ok(true) => self
                    .run
                    .state
                    .notes
                    .push("the provisioned throughput was deleted after the failure".into()),
                Ok(false) => {}
                Err(e) => self.run.state.notes.push(format!(
                    "the provisioned throughput could NOT be deleted ({e}); run `bertscore pipeline cleanup {}`",
                    self.run_id()
                )),
            }
        }
        if matches!(
            self.run.state.resources.job_status.as_deref(),
            Some("InProgress")
        ) {
            match self.stop_job().await {
                Ok(true) => self.run.state.notes.push("the customization job was stopped".into()),
                Ok(false) => {}
                Err(e) => self.run.state.notes.push(format!(
                    "the customization job could NOT be stopped ({e}); run `bertscore pipeline cleanup {}`",
                    self.run_id()
                )),
            }
        }
        let _ = self.run.touch();
        match self.save_report().await {
            Ok(_) => {}
            Err(e) => tracing::warn!("could not write the report: {e}"),
        }
        if let Some(notify) = self.config.notify.clone() {
            match self.report() {
                Ok(report) => match send_email(&self.clients, &notify, &report).await {
                    Ok(id) => {
                        let _ =
                            self.run
                                .log(None, "failure-email-sent", json!({ "message_id": id }));
                    }
                    Err(e) => {
                        tracing::warn!("could not send the failure email: {e}");
                        let _ = self.run.log(
                            None,
                            "failure-email-failed",
                            json!({ "error": e.to_string() }),
                        );
                    }
                },
                Err(e) => tracing::warn!("{e}"),
            }
        }
        error
    }

    /// Deletes every billed resource the run created: stops a running job, deletes the throughput, and the custom
    /// model too when asked. Safe to repeat.
    pub async fn cleanup(&mut self, delete_custom_model: bool) -> Result<Vec<String>> {
        let mut actions = Vec::new();
        self.run.log(
            None,
            "cleanup-started",
            json!({ "delete_custom_model": delete_custom_model }),
        )?;
        if self.run.state.steps.contains_key(&Step::CreateJob) && self.stop_job().await? {
            actions.push(format!(
                "stopped customization job {}",
                self.job_identifier()
            ));
        }
        let resources = &self.run.state.resources;
        if !resources.throughput_deleted
            && (resources.throughput_arn.is_some()
                || self.run.state.steps.contains_key(&Step::CreateThroughput))
        {
            let identifier = self.throughput_identifier();
            if self.delete_throughput(Step::Report).await? {
                actions.push(format!("deleted provisioned throughput {identifier}"));
            }
        }
        if delete_custom_model && !self.run.state.resources.custom_model_deleted {
            let identifier = self
                .run
                .state
                .resources
                .custom_model_arn
                .clone()
                .unwrap_or_else(|| self.run.state.resources.custom_model_name.clone());
            if self.delete_custom_model(Step::Report).await? {
                actions.push(format!("deleted custom model {identifier}"));
            }
        }
        if actions.is_empty() {
            actions.push("nothing billed was left to delete".into());
        }
        self.run
            .state
            .notes
            .push(format!("cleanup: {}", actions.join("; ")));
        self.run.touch()?;
        self.run
            .log(None, "cleanup-finished", json!({ "actions": actions }))?;
        Ok(actions)
    }

    /// Stops the job if it is still running; `false` when there was nothing to stop.
    async fn stop_job(&mut self) -> Result<bool> {
        let identifier = self.job_identifier();
        let job = match self
            .clients
            .bedrock
            .get_model_customization_job()
            .job_identifier(&identifier)
            .send()
            .await
        {
            Ok(job) => job,
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => return Err(aws_error("GetModelCustomizationJob", e)),
        };
        let status = job.status().map(|s| s.as_str().to_string());
        self.run.state.resources.job_status = status.clone();
        if job.status() != Some(&ModelCustomizationJobStatus::InProgress) {
            return Ok(false);
        }
        self.clients
            .bedrock
            .stop_model_customization_job()
            .job_identifier(&identifier)
            .send()
            .await
            .map_err(|e| aws_error("StopModelCustomizationJob", e))?;
        self.run.state.resources.job_status = Some("Stopping".into());
        self.run.touch()?;
        self.run
            .log(None, "job-stopped", json!({ "job": identifier }))?;
        Ok(true)
    }

    /// Deletes the throughput (by ARN, or by name when the ARN was never recorded); `false` when it did not exist.
    async fn delete_throughput(&mut self, step: Step) -> Result<bool> {
        let identifier = self.throughput_identifier();
        let existed = match self
            .clients
            .bedrock
            .delete_provisioned_model_throughput()
            .provisioned_model_id(&identifier)
            .send()
            .await
        {
            Ok(_) => true,
            // Never created (the create call failed or never went out) or already deleted.
            Err(e) if is_not_found(&e) => false,
            Err(e) => return Err(aws_error("DeleteProvisionedModelThroughput", e)),
        };
        if existed || self.run.state.resources.throughput_arn.is_some() {
            self.run.state.resources.throughput_deleted = true;
        }
        self.run.touch()?;
        self.run.log(
            Some(step),
            if existed {
                "billed-resource-deleted"
            } else {
                "billed-resource-absent"
            },
            json!({ "provisioned_model": identifier }),
        )?;
        Ok(existed)
    }

    async fn delete_custom_model(&mut self, step: Step) -> Result<bool> {
        let resources = &self.run.state.resources;
        let identifier = resources
            .custom_model_arn
            .clone()
            .unwrap_or_else(|| resources.custom_model_name.clone());
        let deleted = match self
            .clients
            .bedrock
            .delete_custom_model()
            .model_identifier(&identifier)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if is_not_found(&e) => false,
            Err(e) => return Err(aws_error("DeleteCustomModel", e)),
        };
        self.run.state.resources.custom_model_deleted = true;
        self.run.touch()?;
        self.run.log(
            Some(step),
            "custom-model-deleted",
            json!({ "model": identifier, "existed": deleted }),
        )?;
        Ok(deleted)
    }

    // ---- report ----

    /// The report as of now.
    pub fn report(&self) -> Result<Report> {
        Ok(self.report_unchecked())
    }

    fn report_unchecked(&self) -> Report {
        self.report_as(self.run.state.status)
    }

    fn report_as(&self, status: RunStatus) -> Report {
        let state = &self.run.state;
        let resources = &state.resources;
        let throughput = if resources.throughput_deleted {
            Disposition::Deleted
        } else if resources.throughput_arn.is_none() {
            Disposition::None
        } else if status == RunStatus::Succeeded {
            Disposition::Kept
        } else {
            Disposition::NeedsCleanup
        };
        let custom_model = if resources.custom_model_arn.is_none() {
            Disposition::None
        } else if resources.custom_model_deleted {
            Disposition::Deleted
        } else {
            Disposition::Kept
        };
        let failures = self
            .outputs()
            .map(|(base, custom)| failures(&base, &custom))
            .unwrap_or_default();
        let failed_step = state
            .steps
            .iter()
            .find(|(_, record)| record.status == StepStatus::Failed)
            .map(|(step, _)| step.name().to_string());
        Report {
            run_id: state.run_id.clone(),
            status,
            created_at: state.created_at.clone(),
            finished_at: now_rfc3339(),
            base_model_id: self.config.customization.base_model_id.clone(),
            inference_model_id: self.config.customization.inference_model_id(),
            adapter: self.config.customization.adapter().name().to_string(),
            job_name: resources.job_name.clone(),
            job_arn: resources.job_arn.clone(),
            job_status: resources.job_status.clone(),
            job_failure: resources.job_failure.clone(),
            custom_model_name: resources.custom_model_name.clone(),
            custom_model_arn: resources.custom_model_arn.clone(),
            custom_model,
            throughput_arn: resources.throughput_arn.clone(),
            throughput,
            outcome: state.outcome.clone(),
            failures,
            failed_step: if status == RunStatus::Failed {
                failed_step
            } else {
                None
            },
            error: state.error.clone(),
            notes: state.notes.clone(),
            objects: resources.objects.clone(),
        }
    }

    /// Writes the report to S3 and to the run directory.
    async fn save_report(&mut self) -> Result<Report> {
        let bucket = self.config.s3.inference_bucket().to_string();
        let key = self.config.s3.key(self.run_id(), "report.json");
        self.run
            .state
            .resources
            .objects
            .insert("report".into(), format!("s3://{bucket}/{key}"));
        let report = self.report_unchecked();
        let bytes = report_bytes(&report);
        self.run.write_file(REPORT_FILE, &bytes)?;
        let uploaded = put_object(&self.clients, &bucket, &key, bytes, "application/json").await;
        if uploaded.is_err() {
            self.run.state.resources.objects.remove("report");
        }
        self.run.touch()?;
        uploaded?;
        Ok(report)
    }

    // ---- helpers ----

    fn job_token(&self) -> String {
        format!("{}-job", self.run_id())
    }

    fn throughput_token(&self) -> String {
        match self.run.state.resources.throughput_generation {
            0 => format!("{}-pt", self.run_id()),
            n => format!("{}-pt{n}", self.run_id()),
        }
    }

    fn job_identifier(&self) -> String {
        let resources = &self.run.state.resources;
        resources
            .job_arn
            .clone()
            .unwrap_or_else(|| resources.job_name.clone())
    }

    fn throughput_identifier(&self) -> String {
        let resources = &self.run.state.resources;
        resources
            .throughput_arn
            .clone()
            .unwrap_or_else(|| resources.throughput_name.clone())
    }

    fn items(&self) -> Result<Vec<EvalItem>> {
        let bytes = self.run.read_file(ITEMS_FILE)?;
        serde_json::from_slice(&bytes).map_err(|e| PipelineError::Run(format!("{ITEMS_FILE}: {e}")))
    }

    fn outputs(&self) -> Result<(Vec<ItemOutput>, Vec<ItemOutput>)> {
        let read = |name: &str| -> Result<Vec<ItemOutput>> {
            let bytes = self.run.read_file(name)?;
            serde_json::from_slice(&bytes).map_err(|e| PipelineError::Run(format!("{name}: {e}")))
        };
        Ok((read(BASE_OUTPUTS_FILE)?, read(CUSTOM_OUTPUTS_FILE)?))
    }
}

/// The local run directory of a run id (for messages).
pub fn run_dir_of(state_dir: &Path, run_id: &str) -> PathBuf {
    state_dir.join(run_id)
}

fn report_bytes(report: &Report) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(report).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn score_items(
    scoring: &crate::config::ScoringConfig,
    items: &[bertscore_compare::Item],
) -> Result<bertscore_compare::Comparison> {
    let model = bertscore_hub::resolve(&scoring.model)
        .map_err(|e| PipelineError::ScoringModel(format!("{}: {e}", scoring.model)))?;
    let mut options = bertscore_engine::ScorerOptions::new(model.dir, model.name);
    options.num_layers = scoring.num_layers;
    options.batch_size = scoring.batch_size.max(1);
    options.threads = scoring.threads;
    if scoring.idf {
        options.idf = bertscore_engine::IdfMode::Corpus(bertscore_compare::idf_corpus(items));
    }
    let scorer = bertscore_engine::Scorer::new(options)
        .map_err(|e| PipelineError::ScoringModel(e.to_string()))?;
    let compare_options = bertscore_compare::CompareOptions {
        bootstrap: scoring.bootstrap,
        permutations: scoring.permutations,
        seed: scoring.seed,
        margin: scoring.margin,
        alpha: scoring.alpha,
    };
    bertscore_compare::compare(&scorer, items, &compare_options)
        .map_err(|e| PipelineError::Scoring(e.to_string()))
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

fn failures(base: &[ItemOutput], custom: &[ItemOutput]) -> Vec<FailureRecord> {
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

/// Sleeps before the next status check: exponential (x1.5) from `initial_s` up to `max_s`, ±20% jitter; errors
/// once `timeout_s` has passed.
async fn wait_before_next_poll(
    started: Instant,
    attempt: u32,
    initial_s: f64,
    max_s: f64,
    timeout_s: f64,
    what: &str,
) -> Result<()> {
    let elapsed = started.elapsed();
    let timeout = seconds(timeout_s);
    if elapsed >= timeout {
        return Err(PipelineError::Resource(format!(
            "gave up waiting for {what} after {:.0} s (polling timeout)",
            elapsed.as_secs_f64()
        )));
    }
    let delay = (initial_s * 1.5f64.powi(attempt.saturating_sub(1).min(40) as i32)).min(max_s);
    let jitter = 0.8 + 0.4 * rand::random::<f64>();
    let delay = seconds(delay * jitter)
        .min(timeout - elapsed)
        .max(Duration::from_millis(1));
    tokio::time::sleep(delay).await;
    Ok(())
}

/// Creates the bucket unless it exists; `true` when it was created.
async fn ensure_bucket(clients: &Clients, bucket: &str) -> Result<bool> {
    match clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(false),
        Err(e) => {
            let not_found = e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                || e.as_service_error().is_some_and(|s| s.is_not_found());
            if !not_found {
                return Err(aws_error("HeadBucket", e));
            }
        }
    }
    let mut request = clients.s3.create_bucket().bucket(bucket);
    if clients.region != "us-east-1" {
        let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                clients.region.as_str(),
            ))
            .build();
        request = request.create_bucket_configuration(location);
    }
    match request.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
        {
            Ok(false)
        }
        Err(e) => Err(aws_error("CreateBucket", e)),
    }
}

async fn put_object(
    clients: &Clients,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<()> {
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| aws_error("PutObject", e))?;
    Ok(())
}

/// Sends the report as an email (text and HTML); returns the SES message id.
async fn send_email(
    clients: &Clients,
    notify: &crate::config::NotifyConfig,
    report: &Report,
) -> Result<String> {
    use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
    if notify.create_sender_identity {
        ensure_sender_identity(clients, &notify.from).await?;
    }
    let email = report.email(&notify.subject_prefix);
    let content = |data: &str| {
        Content::builder()
            .data(data)
            .charset("UTF-8")
            .build()
            .map_err(|e| PipelineError::aws("SendEmail", e))
    };
    let message = Message::builder()
        .subject(content(&email.subject)?)
        .body(
            Body::builder()
                .text(content(&email.text)?)
                .html(content(&email.html)?)
                .build(),
        )
        .build();
    let response = clients
        .ses
        .send_email()
        .from_email_address(&notify.from)
        .destination(
            Destination::builder()
                .set_to_addresses(Some(notify.to.clone()))
                .build(),
        )
        .content(EmailContent::builder().simple(message).build())
        .send()
        .await
        .map_err(|e| aws_error("SendEmail", e))?;
    Ok(response.message_id().unwrap_or_default().to_string())
}

/// Creates the sender's SES identity unless it exists.
async fn ensure_sender_identity(clients: &Clients, from: &str) -> Result<()> {
    match clients
        .ses
        .get_email_identity()
        .email_identity(from)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception())
                || is_not_found(&e) =>
        {
            clients
                .ses
                .create_email_identity()
                .email_identity(from)
                .send()
                .await
                .map_err(|e| aws_error("CreateEmailIdentity", e))?;
            Ok(())
        }
        Err(e) => Err(aws_error("GetEmailIdentity", e)),
    }
}

fn is_not_found<E: ProvideErrorMetadata>(error: &E) -> bool {
    matches!(
        error.code(),
        Some("ResourceNotFoundException" | "NotFound" | "NoSuchKey")
    )
}

/// An SDK error with its whole chain (the SDK's `Display` alone says only "service error").
fn aws_error<E: std::error::Error + 'static>(operation: &str, error: E) -> PipelineError {
    PipelineError::aws(
        operation,
        aws_sdk_bedrock::error::DisplayErrorContext(&error),
    )
}
