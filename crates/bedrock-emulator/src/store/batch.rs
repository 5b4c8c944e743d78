//! Batch inference jobs (CreateModelInvocationJob and friends): `Submitted` → `InProgress`
//! (after a third of [`crate::EmulatorConfig::batch_duration`]) → `Completed`, or
//! `PartiallyCompleted` when records are missing from the output, or `Failed`; Stop moves a
//! running job to `Stopping`, then `Stopped`. The S3 reads and writes happen outside the store
//! (see `crate::batch_run`); the store validates, keeps the lifecycle and renders the output.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    ACCOUNT, REGION, ResolvedModel, Store, copy_present, foundation_model_id, required_str,
};
use crate::batch_records::{self, BatchInput, Manifest, RecordFaults};
use crate::families::{self, token_count};
use crate::runtime::{self, Speaker};
use crate::s3::S3Location;
use crate::wire::{ApiError, rfc3339};

/// How long `Stopping` lasts before `Stopped`.
const STOPPING: Duration = Duration::from_millis(100);

/// A batch inference job, as `GET /_emulator/state` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobState {
    /// The job's ARN.
    pub job_arn: String,
    /// The job's name.
    pub job_name: String,
    /// `Submitted`, `InProgress`, `Completed`, `PartiallyCompleted`, `Failed`, `Stopping` or `Stopped`.
    pub status: String,
    /// The create call's idempotency token.
    pub client_request_token: Option<String>,
    /// The model id as given.
    pub model_id: String,
    /// `inputDataConfig.s3InputDataConfig.s3Uri`.
    pub input_uri: String,
    /// `outputDataConfig.s3OutputDataConfig.s3Uri`.
    pub output_uri: String,
    /// Input records read.
    pub records: usize,
}

/// A validated CreateModelInvocationJob request whose input is still to be read.
#[derive(Clone, Debug)]
pub struct BatchRequest {
    /// `jobName`.
    pub name: String,
    /// `clientRequestToken`.
    pub token: Option<String>,
    /// `modelId` as given.
    pub model_id: String,
    /// Where the input JSONL is (a file or a prefix).
    pub input: S3Location,
    /// Where the outputs go (`<output>/<job id>/...`).
    pub output: S3Location,
    /// The S3 endpoint to read and write.
    pub s3_endpoint: String,
    /// The request, echoed back by Get.
    pub body: Value,
}

/// What a finished job writes: `(location, content)` pairs, the manifest last.
pub struct BatchOutput {
    /// Objects to write.
    pub objects: Vec<(S3Location, String)>,
    /// The summary counts.
    pub manifest: Manifest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Submitted,
    InProgress,
    Completed,
    PartiallyCompleted,
    Failed,
    Stopping,
    Stopped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "Submitted",
            Status::InProgress => "InProgress",
            Status::Completed => "Completed",
            Status::PartiallyCompleted => "PartiallyCompleted",
            Status::Failed => "Failed",
            Status::Stopping => "Stopping",
            Status::Stopped => "Stopped",
        }
    }

    fn running(self) -> bool {
        matches!(self, Status::Submitted | Status::InProgress)
    }
}

pub(super) struct BatchJob {
    arn: String,
    request: BatchRequest,
    model: ResolvedModel,
    inputs: Vec<BatchInput>,
    records: usize,
    submitted: SystemTime,
    started: Instant,
    duration: Duration,
    fails: bool,
    faults: RecordFaults,
    status: Status,
    stop_requested: Option<Instant>,
    end_time: Option<SystemTime>,
    message: Option<String>,
    manifest: Option<Manifest>,
}

impl BatchJob {
    fn summary(&self) -> Value {
        let r = &self.request;
        let mut out = json!({
            "jobArn": self.arn,
            "jobName": r.name,
            "modelId": r.model_id,
            "roleArn": r.body.get("roleArn").cloned().unwrap_or_default(),
            "status": self.status.as_str(),
            "submitTime": rfc3339(self.submitted),
            "lastModifiedTime": rfc3339(self.end_time.unwrap_or(self.submitted)),
            "inputDataConfig": r.body.get("inputDataConfig").cloned().unwrap_or_default(),
            "outputDataConfig": r.body.get("outputDataConfig").cloned().unwrap_or_default(),
            "totalRecordCount": self.records,
        });
        copy_present(
            &mut out,
            &r.body,
            &[
                "clientRequestToken",
                "timeoutDurationInHours",
                "modelInvocationType",
                "vpcConfig",
            ],
        );
        if let Some(end) = self.end_time {
            out["endTime"] = json!(rfc3339(end));
        }
        if let Some(message) = &self.message {
            out["message"] = json!(message);
        }
        if let Some(m) = &self.manifest {
            out["processedRecordCount"] = json!(m.processed_record_count);
            out["successRecordCount"] = json!(m.success_record_count);
            out["errorRecordCount"] = json!(m.error_record_count);
        }
        out
    }
}

impl Store {
    pub(super) fn advance_batch_jobs(&mut self, now: Instant) {
        for job in &mut self.batch_jobs {
            if job.status == Status::Submitted
                && now.duration_since(job.started) >= job.duration / 3
            {
                job.status = Status::InProgress;
            }
            if job.status == Status::Stopping
                && job
                    .stop_requested
                    .is_some_and(|at| now.duration_since(at) >= STOPPING)
            {
                job.status = Status::Stopped;
                job.end_time = Some(SystemTime::now());
            }
        }
    }

    pub(super) fn batch_job_states(&self) -> Vec<BatchJobState> {
        self.batch_jobs
            .iter()
            .map(|j| BatchJobState {
                job_arn: j.arn.clone(),
                job_name: j.request.name.clone(),
                status: j.status.as_str().to_owned(),
                client_request_token: j.request.token.clone(),
                model_id: j.request.model_id.clone(),
                input_uri: j.request.input.uri(),
                output_uri: j.request.output.uri(),
                records: j.records,
            })
            .collect()
    }

    fn batch_by_token(&self, token: Option<&String>) -> Option<&BatchJob> {
        let token = token?;
        self.batch_jobs
            .iter()
            .find(|j| j.request.token.as_ref() == Some(token))
    }

    /// First half of CreateModelInvocationJob: `Ok(Err(arn))` for a repeated token, else the
    /// validated request whose input the caller reads from S3 before [`Store::insert_batch_job`].
    pub fn prepare_batch_job(
        &mut self,
        body: &Value,
    ) -> Result<Result<BatchRequest, String>, ApiError> {
        self.advance();
        let token = body
            .get("clientRequestToken")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(job) = self.batch_by_token(token.as_ref()) {
            return Ok(Err(job.arn.clone()));
        }
        let name = required_str(body, "jobName")?.to_owned();
        required_str(body, "roleArn")?;
        let model_id = required_str(body, "modelId")?.to_owned();
        let uri_at = |config: &str, inner: &str| -> Result<S3Location, ApiError> {
            let uri = body
                .get(config)
                .and_then(|c| c.get(inner))
                .and_then(|c| c.get("s3Uri"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "1 validation error detected: Value at '{config}.{inner}.s3Uri' failed to satisfy constraint: Member must not be null"
                    ))
                })?;
            S3Location::parse(uri).map_err(|e| ApiError::validation(e.to_string()))
        };
        let input = uri_at("inputDataConfig", "s3InputDataConfig")?;
        let output = uri_at("outputDataConfig", "s3OutputDataConfig")?;
        self.resolve_batch_model(&model_id)?;
        if self.batch_jobs.iter().any(|j| j.request.name == name) {
            return Err(ApiError::conflict(format!(
                "A batch inference job named {name} already exists."
            )));
        }
        let s3_endpoint = self.config.s3_endpoint.clone().ok_or_else(|| {
            ApiError::validation(
                "The Bedrock emulator cannot run batch inference jobs: it has no s3_endpoint (the local stack sets it to moto's).",
            )
        })?;
        Ok(Ok(BatchRequest {
            name,
            token,
            model_id,
            input,
            output,
            s3_endpoint,
            body: body.clone(),
        }))
    }

    /// Second half of CreateModelInvocationJob, once the input is read: checks the record count
    /// and creates the job. Returns its ARN and when it should finish.
    pub fn insert_batch_job(
        &mut self,
        request: BatchRequest,
        inputs: Vec<BatchInput>,
    ) -> Result<(String, Duration), ApiError> {
        self.advance();
        if let Some(job) = self.batch_by_token(request.token.as_ref()) {
            return Ok((job.arn.clone(), Duration::ZERO));
        }
        if self
            .batch_jobs
            .iter()
            .any(|j| j.request.name == request.name)
        {
            return Err(ApiError::conflict(format!(
                "A batch inference job named {} already exists.",
                request.name
            )));
        }
        let records: usize = inputs.iter().map(|i| i.records.len()).sum();
        let minimum = self.config.batch_min_records;
        if records < minimum {
            return Err(ApiError::validation(format!(
                "The batch input {} has {records} records; a batch inference job for {} needs at least {minimum}.",
                request.input.uri(),
                request.model_id
            )));
        }
        // The config may lower the catalog's quota (tests), never raise it.
        let quota = bedrock_catalog::catalog().quotas.batch_records.max as usize;
        let maximum = self.config.batch_max_records.min(quota);
        if records > maximum {
            return Err(ApiError::validation(format!(
                "The batch input {} has {records} records; a batch inference job takes at most {maximum}.",
                request.input.uri(),
            )));
        }
        let model = self.resolve_batch_model(&request.model_id)?;
        let id = self.new_id();
        let arn = format!("arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{id}");
        let faults = &self.config.faults;
        let duration = self.config.batch_duration;
        self.batch_jobs.push(BatchJob {
            arn: arn.clone(),
            request,
            model,
            inputs,
            records,
            submitted: SystemTime::now(),
            started: Instant::now(),
            duration,
            fails: faults.fail_batch_job,
            faults: RecordFaults {
                errors: faults.batch_record_errors,
                missing: faults.batch_missing_records,
                shuffle: faults.batch_shuffle,
            },
            status: Status::Submitted,
            stop_requested: None,
            end_time: None,
            message: None,
            manifest: None,
        });
        Ok((arn, duration))
    }

    /// The model a batch job may use: a foundation model or a custom model; never a provisioned
    /// throughput or a deployment.
    fn resolve_batch_model(&self, model_id: &str) -> Result<ResolvedModel, ApiError> {
        if model_id.contains(":provisioned-model/")
            || self.pts.iter().any(|p| !p.deleted && p.name == model_id)
        {
            return Err(ApiError::validation(format!(
                "Batch inference is not available for provisioned models ({model_id}); use a foundation model id."
            )));
        }
        if model_id.contains(":custom-model-deployment/") {
            return Err(ApiError::validation(format!(
                "Batch inference is not available for custom model deployments ({model_id})."
            )));
        }
        if let Some(model) = self
            .models
            .iter()
            .find(|m| !m.deleted && (m.arn == model_id || m.name == model_id))
        {
            return Ok(ResolvedModel {
                base_model_id: model.base_model_id.clone(),
                speaker: Speaker::Custom {
                    good_fraction: model.good_fraction,
                },
            });
        }
        if model_id.contains(":custom-model/")
            || (model_id.starts_with("arn:") && !model_id.contains(":foundation-model/"))
        {
            return Err(ApiError::not_found(format!("Model {model_id} not found.")));
        }
        let base_model_id = foundation_model_id(model_id).to_owned();
        let entry = families::model_of(&base_model_id)?;
        self.check_served(entry)?;
        if !entry.batch.in_region(REGION) {
            return Err(ApiError::validation(format!(
                "Batch inference is not supported for {base_model_id} in {REGION} (catalog: {:?}).",
                entry.batch_regions()
            )));
        }
        Ok(ResolvedModel {
            base_model_id,
            speaker: Speaker::Base,
        })
    }

    /// When a job's time is up: what it writes, or `None` when it was stopped or fails (then
    /// its status is already final).
    pub fn batch_output(&mut self, arn: &str) -> Option<(String, BatchOutput)> {
        self.advance();
        let index = self.batch_jobs.iter().position(|j| j.arn == arn)?;
        let job = &self.batch_jobs[index];
        if !job.status.running() {
            return None;
        }
        if job.fails {
            let job = &mut self.batch_jobs[index];
            job.status = Status::Failed;
            job.end_time = Some(SystemTime::now());
            job.message = Some(format!(
                "Batch inference job {} failed (injected fault fail_batch_job).",
                job.request.name
            ));
            return None;
        }
        let adapter = families::model_of(&job.model.base_model_id).ok()?.adapter();
        // `modelInvocationType: "Converse"`: records carry Converse requests and get Converse
        // responses; otherwise the family's InvokeModel bodies.
        let converse = job
            .request
            .body
            .get("modelInvocationType")
            .and_then(Value::as_str)
            == Some("Converse");
        let seed = batch_records::seed_of(&job.arn);
        let (files, manifest) =
            batch_records::render(&job.inputs, job.faults, seed, |model_input| {
                let prompt = if converse {
                    runtime::last_user_text(model_input)?
                } else {
                    families::prompt(adapter, model_input)?
                };
                let text = self.answer(&job.model, &prompt)?;
                let response = if converse {
                    runtime::converse_response(&prompt, &text)
                } else {
                    families::response(adapter, &prompt, &text, 0)
                };
                Ok((response, token_count(&prompt), token_count(&text)))
            });
        let job_id = job.arn.rsplit('/').next().unwrap_or_default();
        let prefix = job.request.output.key.trim_end_matches('/');
        let at = |name: &str| S3Location {
            bucket: job.request.output.bucket.clone(),
            key: if prefix.is_empty() {
                format!("{job_id}/{name}")
            } else {
                format!("{prefix}/{job_id}/{name}")
            },
        };
        let mut objects: Vec<(S3Location, String)> = files
            .into_iter()
            .map(|(name, text)| (at(&name), text))
            .collect();
        objects.push((
            at("manifest.json.out"),
            serde_json::to_string(&manifest).expect("manifest serializes"),
        ));
        let endpoint = job.request.s3_endpoint.clone();
        Some((endpoint, BatchOutput { objects, manifest }))
    }

    /// Records how writing the output went.
    pub fn finish_batch_job(&mut self, arn: &str, manifest: Manifest, written: Result<(), String>) {
        let Some(job) = self.batch_jobs.iter_mut().find(|j| j.arn == arn) else {
            return;
        };
        job.end_time = Some(SystemTime::now());
        match written {
            Ok(()) => {
                job.status = if manifest.processed_record_count < manifest.total_record_count {
                    job.message = Some(format!(
                        "{} of {} records were not processed.",
                        manifest.total_record_count - manifest.processed_record_count,
                        manifest.total_record_count
                    ));
                    Status::PartiallyCompleted
                } else {
                    Status::Completed
                };
                job.manifest = Some(manifest);
            }
            Err(why) => {
                job.status = Status::Failed;
                job.message = Some(format!("Could not write the output: {why}"));
            }
        }
    }

    fn find_batch_index(&self, identifier: &str) -> Result<usize, ApiError> {
        self.batch_jobs
            .iter()
            .position(|j| j.arn == identifier || j.request.name == identifier)
            .ok_or_else(|| {
                ApiError::not_found(format!("Could not find batch inference job {identifier}."))
            })
    }

    pub fn get_batch_job(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        Ok(self.batch_jobs[self.find_batch_index(identifier)?].summary())
    }

    /// StopModelInvocationJob: a running job goes `Stopping`, then `Stopped`, writing nothing.
    pub fn stop_batch_job(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        let index = self.find_batch_index(identifier)?;
        let job = &mut self.batch_jobs[index];
        if !job.status.running() {
            return Err(ApiError::validation(format!(
                "Batch inference job {} cannot be stopped: its status is {}.",
                job.request.name,
                job.status.as_str()
            )));
        }
        job.status = Status::Stopping;
        job.stop_requested = Some(Instant::now());
        Ok(json!({}))
    }

    /// ListModelInvocationJobs; filters `statusEquals`, `nameContains`; `sortOrder`
    /// `Ascending` or `Descending` (default) by submit time.
    pub fn list_batch_jobs(&mut self, query: &BTreeMap<String, String>) -> Result<Value, ApiError> {
        self.advance();
        let mut summaries: Vec<Value> = self
            .batch_jobs
            .iter()
            .filter(|j| {
                query
                    .get("statusEquals")
                    .is_none_or(|s| s == j.status.as_str())
            })
            .filter(|j| {
                query
                    .get("nameContains")
                    .is_none_or(|s| j.request.name.contains(s.as_str()))
            })
            .map(BatchJob::summary)
            .collect();
        if query.get("sortOrder").map(String::as_str) != Some("Ascending") {
            summaries.reverse();
        }
        Ok(json!({ "invocationJobSummaries": summaries }))
    }
}
