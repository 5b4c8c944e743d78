//! The emulator's memory: customization jobs and custom models ([`jobs`]), provisioned
//! throughputs ([`throughputs`]), custom model deployments ([`deployments`]) and batch
//! inference jobs ([`batch`]), with their
//! lifecycles, plus per-operation call counts and the history of servings.
//!
//! Lifecycles advance lazily: every read first moves resources whose duration has elapsed
//! to their final status, so no background task is needed and timings stay exact.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod batch;
mod deployments;
mod history;
mod jobs;
mod throughputs;

pub use batch::{BatchJobState, BatchRequest};
pub use deployments::DeploymentState;
pub use history::{ServingEvent, ServingEventKind, ServingKind};

use crate::config::EmulatorConfig;
use crate::families;
use crate::runtime::{self, Speaker};
use crate::wire::ApiError;

/// The emulator's region: its ARNs', and the one an unsigned request is taken to be for.
pub const REGION: &str = "us-east-1";
/// The emulator's account (moto's default account too, so roles created in moto's IAM belong to it).
pub const ACCOUNT: &str = "123456789012";

/// Snapshot of everything the emulator holds (`GET /_emulator/state`, `Emulator::state`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EmulatorState {
    /// Every customization job created, in creation order.
    pub jobs: Vec<JobState>,
    /// Every custom model a completed job produced (deleted ones too, marked).
    pub custom_models: Vec<CustomModelState>,
    /// Every provisioned throughput created (deleted ones too, marked).
    pub provisioned_throughputs: Vec<ProvisionedThroughputState>,
    /// AWS operation name (e.g. `InvokeModel`) → requests received, failed ones included.
    pub calls: BTreeMap<String, u64>,
    /// Model id as sent to InvokeModel/Converse (percent-decoded) → successful invocations.
    pub invocations: BTreeMap<String, u64>,
    /// Every custom model deployment created (deleted ones too, marked), in creation order.
    #[serde(default)]
    pub custom_model_deployments: Vec<DeploymentState>,
    /// Every batch inference job created, in creation order.
    #[serde(default)]
    pub batch_jobs: Vec<BatchJobState>,
    /// Creations and deletions of provisioned throughputs and deployments, in order.
    #[serde(default)]
    pub serving_history: Vec<ServingEvent>,
}

impl EmulatorState {
    /// The most servings (provisioned throughputs and deployments together) that existed at
    /// once, replaying [`EmulatorState::serving_history`] in order.
    pub fn max_concurrent_servings(&self) -> usize {
        history::max_concurrent(&self.serving_history)
    }

    /// Deployments not deleted.
    pub fn live_deployments(&self) -> Vec<&DeploymentState> {
        self.custom_model_deployments
            .iter()
            .filter(|d| !d.deleted)
            .collect()
    }

    /// Provisioned throughputs not deleted.
    pub fn live_throughputs(&self) -> Vec<&ProvisionedThroughputState> {
        self.provisioned_throughputs
            .iter()
            .filter(|p| !p.deleted)
            .collect()
    }

    /// Calls of one AWS operation received so far.
    pub fn call_count(&self, operation: &str) -> u64 {
        self.calls.get(operation).copied().unwrap_or(0)
    }
}

/// A model customization job.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// The job's ARN.
    pub job_arn: String,
    /// The job's name.
    pub job_name: String,
    /// `InProgress`, `Completed`, `Failed` or `Stopped`.
    pub status: String,
    /// The create call's idempotency token.
    pub client_request_token: Option<String>,
    /// The custom model's ARN, once the job completed.
    pub output_model_arn: Option<String>,
    /// The custom model's name (from the create call).
    pub output_model_name: String,
    /// As given in the create request (id or ARN).
    pub base_model_identifier: String,
    /// Why the job failed, for failed jobs.
    pub failure_message: Option<String>,
    /// The job's hyper-parameters as sent.
    #[serde(default)]
    pub hyper_parameters: BTreeMap<String, String>,
    /// The good fraction a candidate rule gave its custom model, when one matched.
    #[serde(default)]
    pub good_fraction: Option<f64>,
}

/// A custom model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomModelState {
    /// The model's ARN.
    pub model_arn: String,
    /// The model's name.
    pub model_name: String,
    /// The job that produced it.
    pub job_arn: String,
    /// The foundation model it was customized from.
    pub base_model_id: String,
    /// Whether DeleteCustomModel was called on it.
    pub deleted: bool,
}

/// A provisioned throughput.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedThroughputState {
    /// The provisioned model's ARN (what InvokeModel takes as model id).
    pub provisioned_model_arn: String,
    /// Its name.
    pub provisioned_model_name: String,
    /// The model served: a custom model ARN or a foundation model ARN.
    pub model_arn: String,
    /// `Creating`, `InService` or `Failed`.
    pub status: String,
    /// Whether DeleteProvisionedModelThroughput was called on it.
    pub deleted: bool,
    /// Model units bought.
    pub model_units: i64,
    /// The create call's idempotency token.
    pub client_request_token: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobStatus {
    InProgress,
    Completed,
    Failed,
    Stopped,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::InProgress => "InProgress",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
            JobStatus::Stopped => "Stopped",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PtStatus {
    Creating,
    InService,
    Failed,
}

impl PtStatus {
    fn as_str(self) -> &'static str {
        match self {
            PtStatus::Creating => "Creating",
            PtStatus::InService => "InService",
            PtStatus::Failed => "Failed",
        }
    }
}

struct Job {
    arn: String,
    name: String,
    token: Option<String>,
    base_model_identifier: String,
    base_model_id: String,
    custom_model_name: String,
    /// The create request, echoed back in Get (data configs, role, hyperparameters...).
    request: Value,
    created: SystemTime,
    started: Instant,
    duration: Duration,
    /// Why the job will fail, when a fault or a candidate rule says it does.
    fails: Option<String>,
    hyper_parameters: BTreeMap<String, String>,
    good_fraction: Option<f64>,
    status: JobStatus,
    end_time: Option<SystemTime>,
    failure_message: Option<String>,
    output_model_arn: Option<String>,
}

struct CustomModel {
    arn: String,
    name: String,
    job_arn: String,
    job_name: String,
    base_model_id: String,
    request: Value,
    created: SystemTime,
    good_fraction: Option<f64>,
    deleted: bool,
}

struct Pt {
    arn: String,
    name: String,
    token: Option<String>,
    model_arn: String,
    base_model_id: String,
    model_units: i64,
    commitment: Option<String>,
    created: SystemTime,
    started: Instant,
    duration: Duration,
    fails: bool,
    status: PtStatus,
    deleted: bool,
}

/// What a runtime model id resolves to.
#[derive(Clone, Debug)]
pub struct ResolvedModel {
    /// Foundation model id whose request/response family applies (e.g. `cohere.command-text-v14`).
    pub base_model_id: String,
    /// Base model or customized model (served through a provisioned throughput or a deployment).
    pub speaker: Speaker,
}

pub struct Store {
    pub config: EmulatorConfig,
    /// Runtime calls since the config was last set: drives the throttle / server-error faults.
    pub runtime_calls: usize,
    next_id: u64,
    jobs: Vec<Job>,
    models: Vec<CustomModel>,
    pts: Vec<Pt>,
    deployments: Vec<deployments::Deployment>,
    batch_jobs: Vec<batch::BatchJob>,
    history: Vec<ServingEvent>,
    calls: BTreeMap<String, u64>,
    invocations: BTreeMap<String, u64>,
}

pub use bedrock_catalog::foundation_model_id;

fn foundation_model_arn(id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}::foundation-model/{id}")
}

fn required_str<'a>(body: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    match body.get(key).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::validation(format!(
            "1 validation error detected: Value at '{key}' failed to satisfy constraint: Member must not be null"
        ))),
    }
}

/// Copies each of `keys` that `request` holds (and is not null) into the `out` object, as the Get calls echo
/// a create request's settings.
fn copy_present(out: &mut Value, request: &Value, keys: &[&str]) {
    for key in keys {
        if let Some(v) = request.get(key).filter(|v| !v.is_null()) {
            out[*key] = v.clone();
        }
    }
}

/// Whether a serving (`status`, `name`, served `model_arn`) passes a List call's `statusEquals`,
/// `nameContains` and `modelArnEquals` filters.
fn listed(query: &BTreeMap<String, String>, status: &str, name: &str, model_arn: &str) -> bool {
    query.get("statusEquals").is_none_or(|s| s == status)
        && query
            .get("nameContains")
            .is_none_or(|s| name.contains(s.as_str()))
        && query.get("modelArnEquals").is_none_or(|s| s == model_arn)
}

fn required_value(body: &Value, key: &str) -> Result<(), ApiError> {
    match body.get(key) {
        Some(v) if !v.is_null() => Ok(()),
        _ => Err(ApiError::validation(format!(
            "1 validation error detected: Value at '{key}' failed to satisfy constraint: Member must not be null"
        ))),
    }
}

impl Store {
    pub fn new(config: EmulatorConfig) -> Self {
        Store {
            config,
            runtime_calls: 0,
            next_id: 1,
            jobs: Vec::new(),
            models: Vec::new(),
            pts: Vec::new(),
            deployments: Vec::new(),
            batch_jobs: Vec::new(),
            history: Vec::new(),
            calls: BTreeMap::new(),
            invocations: BTreeMap::new(),
        }
    }

    /// Replaces the settings and restarts the runtime fault counters. A config without
    /// `s3_endpoint` keeps the current one (the local stack sets it once); likewise a config that names
    /// neither `iam_endpoint` nor `skip_role_checks` keeps the current role checks.
    pub fn set_config(&mut self, mut config: EmulatorConfig) {
        if config.s3_endpoint.is_none() {
            config.s3_endpoint = self.config.s3_endpoint.take();
        }
        if config.iam_endpoint.is_none() && !config.skip_role_checks {
            config.iam_endpoint = self.config.iam_endpoint.take();
            config.skip_role_checks = self.config.skip_role_checks;
        }
        // Likewise the end-of-life allowance set at start (the local stack's legacy sample) stays when the new
        // config names none.
        if config.allow_end_of_life.is_empty() {
            config.allow_end_of_life = std::mem::take(&mut self.config.allow_end_of_life);
        }
        self.config = config;
        self.runtime_calls = 0;
    }

    /// Forgets every resource and count; keeps the config.
    pub fn reset(&mut self) {
        *self = Store::new(self.config.clone());
    }

    pub fn count_call(&mut self, operation: &str) {
        *self.calls.entry(operation.to_owned()).or_default() += 1;
    }

    pub fn count_invocation(&mut self, model_id: &str) {
        *self.invocations.entry(model_id.to_owned()).or_default() += 1;
    }

    /// Successful invocations so far, all models together.
    pub fn invocation_total(&self) -> u64 {
        self.invocations.values().sum()
    }

    /// A short unique id, like the 12-character suffixes of real Bedrock ARNs.
    fn new_id(&mut self) -> String {
        let n = self.next_id;
        self.next_id += 1;
        // Spread consecutive counters over the id so ARNs don't look like a sequence.
        let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
        format!("{:012x}", mixed & 0xffff_ffff_ffff)
    }

    /// Moves jobs and provisioned throughputs whose time is up to their final status.
    pub fn advance(&mut self) {
        let now = Instant::now();
        let mut finished = Vec::new();
        for (index, job) in self.jobs.iter_mut().enumerate() {
            if job.status == JobStatus::InProgress
                && now.duration_since(job.started) >= job.duration
            {
                job.end_time = Some(job.created + job.duration);
                if let Some(why) = &job.fails {
                    job.status = JobStatus::Failed;
                    job.failure_message = Some(why.clone());
                } else {
                    job.status = JobStatus::Completed;
                    finished.push(index);
                }
            }
        }
        for index in finished {
            let id = self.new_id();
            let job = &mut self.jobs[index];
            let arn = format!(
                "arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/{}/{id}",
                job.base_model_id
            );
            job.output_model_arn = Some(arn.clone());
            let model = CustomModel {
                arn,
                name: job.custom_model_name.clone(),
                job_arn: job.arn.clone(),
                job_name: job.name.clone(),
                base_model_id: job.base_model_id.clone(),
                request: job.request.clone(),
                created: job.created + job.duration,
                good_fraction: job.good_fraction,
                deleted: false,
            };
            self.models.push(model);
        }
        for pt in &mut self.pts {
            if pt.status == PtStatus::Creating && now.duration_since(pt.started) >= pt.duration {
                pt.status = if pt.fails {
                    PtStatus::Failed
                } else {
                    PtStatus::InService
                };
            }
        }
        self.advance_deployments(now);
        self.advance_batch_jobs(now);
    }

    pub fn state(&mut self) -> EmulatorState {
        self.advance();
        EmulatorState {
            jobs: self
                .jobs
                .iter()
                .map(|j| JobState {
                    job_arn: j.arn.clone(),
                    job_name: j.name.clone(),
                    status: j.status.as_str().to_owned(),
                    client_request_token: j.token.clone(),
                    output_model_arn: j.output_model_arn.clone(),
                    output_model_name: j.custom_model_name.clone(),
                    base_model_identifier: j.base_model_identifier.clone(),
                    failure_message: j.failure_message.clone(),
                    hyper_parameters: j.hyper_parameters.clone(),
                    good_fraction: j.good_fraction,
                })
                .collect(),
            custom_models: self
                .models
                .iter()
                .map(|m| CustomModelState {
                    model_arn: m.arn.clone(),
                    model_name: m.name.clone(),
                    job_arn: m.job_arn.clone(),
                    base_model_id: m.base_model_id.clone(),
                    deleted: m.deleted,
                })
                .collect(),
            provisioned_throughputs: self
                .pts
                .iter()
                .map(|p| ProvisionedThroughputState {
                    provisioned_model_arn: p.arn.clone(),
                    provisioned_model_name: p.name.clone(),
                    model_arn: p.model_arn.clone(),
                    status: p.status.as_str().to_owned(),
                    deleted: p.deleted,
                    model_units: p.model_units,
                    client_request_token: p.token.clone(),
                })
                .collect(),
            calls: self.calls.clone(),
            invocations: self.invocations.clone(),
            custom_model_deployments: self.deployment_states(),
            batch_jobs: self.batch_job_states(),
            serving_history: self.history.clone(),
        }
    }

    // ---- runtime ----

    /// Resolves an InvokeModel/Converse model id: a provisioned throughput (ARN or name) that is
    /// InService, or a foundation model id/ARN. Custom models must be reached through a PT.
    pub fn resolve_runtime_model(&mut self, model_id: &str) -> Result<ResolvedModel, ApiError> {
        self.advance();
        if model_id.contains(":custom-model-deployment/") {
            return self.resolve_deployment(model_id);
        }
        if model_id.contains(":provisioned-model/")
            || self.pts.iter().any(|p| !p.deleted && p.name == model_id)
        {
            let pt = &self.pts[self.find_pt_index(model_id)?];
            if pt.status != PtStatus::InService {
                return Err(ApiError::validation(format!(
                    "Provisioned throughput {} is not ready: its status is {}.",
                    pt.arn,
                    pt.status.as_str()
                )));
            }
            let speaker = if pt.model_arn.contains(":custom-model/") {
                Speaker::Custom {
                    good_fraction: self.good_fraction_of(&pt.model_arn),
                }
            } else {
                Speaker::Base
            };
            return Ok(ResolvedModel {
                base_model_id: pt.base_model_id.clone(),
                speaker,
            });
        }
        if model_id.contains(":custom-model/") || self.models.iter().any(|m| m.name == model_id) {
            return Err(ApiError::validation(format!(
                "Invocation of custom model {model_id} requires a provisioned throughput or a custom model deployment; use its ARN as the model id."
            )));
        }
        if model_id.starts_with("arn:") && foundation_model_id(model_id) == model_id {
            return Err(ApiError::not_found(format!("Model {model_id} not found.")));
        }
        let entry = families::model_of(model_id)?;
        self.check_served(entry)?;
        if foundation_model_id(model_id) != entry.inference_id {
            return Err(ApiError::validation(format!(
                "The provided model identifier is invalid: {model_id} (InvokeModel takes {}; {} is the id to customize).",
                entry.inference_id, entry.customize_id
            )));
        }
        Ok(ResolvedModel {
            base_model_id: foundation_model_id(model_id).to_owned(),
            speaker: Speaker::Base,
        })
    }

    /// The good fraction a candidate rule gave the custom model `arn` (any, deleted too).
    fn good_fraction_of(&self, model_arn: &str) -> Option<f64> {
        self.models
            .iter()
            .find(|m| m.arn == model_arn)
            .and_then(|m| m.good_fraction)
    }

    /// The answer of `model` to `prompt`: the injected prompt fault, then the answer key. The one
    /// answer function of InvokeModel, Converse and batch records.
    pub fn answer(&self, model: &ResolvedModel, prompt: &str) -> Result<String, ApiError> {
        if let Some(needle) = self.config.faults.fail_prompts_containing.as_deref()
            && prompt.contains(needle)
        {
            return Err(ApiError::validation(format!(
                "Input is not acceptable: it contains {needle:?} (injected fault)."
            )));
        }
        Ok(runtime::answer(
            prompt,
            model.speaker,
            self.config.custom_quality,
            &self.config.answers,
        ))
    }

    /// The InvokeModel response body of `model` for the request `body` (its family's shape).
    pub fn invoke_body(
        &self,
        model: &ResolvedModel,
        body: &Value,
        request_number: u64,
    ) -> Result<(String, String, Value), ApiError> {
        let adapter = families::model_of(&model.base_model_id)?.adapter();
        let prompt = families::prompt(adapter, body)?;
        let text = self.answer(model, &prompt)?;
        let response = families::response(adapter, &prompt, &text, request_number);
        Ok((prompt, text, response))
    }

    /// Refuses an end-of-life base model as Bedrock does (ResourceNotFoundException), unless the config
    /// allows it ([`EmulatorConfig::allow_end_of_life`]).
    pub fn check_served(&self, model: &bedrock_catalog::Model) -> Result<(), ApiError> {
        if model.is_end_of_life() && !self.config.allows_end_of_life(model) {
            return Err(ApiError::not_found(format!(
                "This model version has reached the end of its life. Please refer to the AWS documentation for more details. ({})",
                model.name
            )));
        }
        Ok(())
    }
}

/// The `hyperParameters` of a create request: a map of strings.
fn hyper_parameters(body: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    match body.get("hyperParameters") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(ApiError::validation(format!(
                    "hyperParameters.{k} must be a string, not {other}"
                ))),
            })
            .collect(),
        Some(other) => Err(ApiError::validation(format!(
            "hyperParameters must be a map of strings, not {other}"
        ))),
    }
}
