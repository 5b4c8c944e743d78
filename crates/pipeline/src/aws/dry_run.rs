//! The port without AWS: every call is recorded as a [`PlannedCall`] under the step that made it and answered
//! as the account a run needs would answer, so `plan` runs the run's own steps and lists what they would send.
//!
//! What the dry run assumes, so that a plan is read right:
//! - every job completes and every serving becomes ready at the first status check; nothing is waited for;
//! - buckets and the sender identity exist, unless the config lets the run create them: then they are missing
//!   (so the plan shows the create calls, with the assumption as their condition);
//! - the base model is what the catalog says (an end-of-life model answers LEGACY, as the local stack's
//!   emulator does: `plan` prints the end-of-life note), roles trust Bedrock as docs/aws.md says, no
//!   throughput of the account is in use, and SES is in the sandbox with the recipients verified;
//! - every model answers every prompt with the same placeholder text, so base and custom models tie: the
//!   decisions a tie takes are the ones listed (a serving kept only for a better custom model is not).
//!
//! Objects the run writes are kept in memory, so a batch job reads its input and writes one output record per
//! input record, in the family's response body, as Bedrock does.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use bedrock_catalog::roles::{self, JobKind};
use serde::Serialize;

use super::port::{
    Aws, BatchJobRequest, BatchView, CustomizationJob, Email, FoundationModelView, Generate,
    Generation, JobView, ServingRequest, ServingView, ThroughputSummary,
};
use crate::adapter::AdapterKind;
use crate::config::PipelineConfig;
use crate::error::{AwsFailure, PipelineError, Result};
use crate::serving::ServingKind;

/// The text every model answers in a dry run.
pub(crate) const PLACEHOLDER_OUTPUT: &str =
    "a summary of the dialogue (placeholder: plan calls no model)";

/// One call a run would make, or a decision it would take (`service` = `note`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedCall {
    /// The step that makes it (`upload`, `create-job`, ...; `preflight` for the read-only checks).
    pub step: String,
    /// `s3`, `bedrock`, `bedrock-runtime`, `sesv2`, `iam`, or `note`.
    pub service: String,
    /// The API operation (empty for a note).
    pub operation: String,
    /// What the call sends (a note's text).
    pub detail: String,
    /// How many such calls (the evaluation prompts: one per item).
    pub count: usize,
    /// The answer the call depends on, when the dry run assumed it (e.g. "if HeadBucket finds no bucket").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

impl fmt::Display for PlannedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.service == "note" {
            return write!(f, "{:<20} note: {}", self.step, self.detail);
        }
        write!(
            f,
            "{:<20} {:<16} {:<34} ",
            self.step, self.service, self.operation
        )?;
        if self.count > 1 {
            write!(f, "{} x ", self.count)?;
        }
        f.write_str(&self.detail)?;
        if let Some(condition) = &self.condition {
            write!(f, "  [{condition}]")?;
        }
        Ok(())
    }
}

/// The port's dry run. Cheap to share: the calls live behind a mutex.
#[derive(Debug)]
pub struct DryRun {
    region: String,
    account: String,
    /// The run's request and response bodies (`[customization] adapter`, or the catalog's).
    adapter: AdapterKind,
    buckets_missing: bool,
    sender_missing: Option<String>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    step: String,
    calls: Vec<PlannedCall>,
    /// `s3://bucket/key` → body.
    objects: BTreeMap<String, Vec<u8>>,
    /// ARN or name → custom model ARN.
    jobs: BTreeMap<String, String>,
    /// Name → ARN.
    batch_jobs: BTreeMap<String, String>,
}

impl DryRun {
    /// A dry run of `config`'s run in `region` (see [`AwsSettings::region_offline`](super::AwsSettings)); its
    /// account is read from the customization role's ARN.
    pub fn new(config: &PipelineConfig, region: &str) -> DryRun {
        let account = config
            .customization
            .role_arn
            .split(':')
            .nth(4)
            .filter(|a| !a.is_empty())
            .unwrap_or("123456789012")
            .to_string();
        let sender_missing = config
            .notify
            .as_ref()
            .filter(|n| n.create_sender_identity)
            .map(|n| n.from.clone());
        DryRun {
            region: region.to_string(),
            account,
            adapter: config.customization.adapter(),
            buckets_missing: config.s3.create_buckets,
            sender_missing,
            state: Mutex::new(State::default()),
        }
    }

    /// The calls recorded so far, in order.
    pub fn calls(&self) -> Vec<PlannedCall> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while recording leaves a usable list: poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a call; an identical one of the same step counts once more.
    fn record(&self, service: &str, operation: &str, detail: String, condition: Option<&str>) {
        let mut state = self.lock();
        let step = state.step.clone();
        let condition = condition.map(str::to_string);
        if let Some(same) = state.calls.iter_mut().find(|c| {
            c.step == step
                && c.service == service
                && c.operation == operation
                && c.detail == detail
                && c.condition == condition
        }) {
            same.count += 1;
            return;
        }
        state.calls.push(PlannedCall {
            step,
            service: service.into(),
            operation: operation.into(),
            detail,
            count: 1,
            condition,
        });
    }

    /// The ARN Bedrock would give a new `resource` named `name` (its id is unknown until the call).
    fn arn(&self, resource: &str, name: &str) -> String {
        format!(
            "arn:aws:bedrock:{}:{}:{resource}/<{name}>",
            self.region, self.account
        )
    }

    fn not_found(service: &'static str, operation: &'static str, what: String) -> PipelineError {
        PipelineError::Aws(Box::new(AwsFailure {
            service,
            operation,
            code: Some("ResourceNotFoundException".into()),
            message: what,
            status: Some(404),
            request_id: None,
        }))
    }

    /// A batch job's output as Bedrock writes it: one record per input record, `modelOutput` in the family's
    /// response body, under `<output uri><job id>/<input file>.out`.
    fn write_batch_output(&self, job: &BatchJobRequest, arn: &str) {
        // The base model's body, as the run reads it back.
        let adapter = self.adapter;
        let mut state = self.lock();
        let Some(input) = state.objects.get(&job.input_uri) else {
            return;
        };
        let mut output = String::new();
        for line in String::from_utf8_lossy(input).lines() {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let answer = serde_json::json!({
                "recordId": record["recordId"],
                "modelInput": record["modelInput"],
                "modelOutput": adapter.response_body(PLACEHOLDER_OUTPUT),
            });
            output.push_str(&answer.to_string());
            output.push('\n');
        }
        let job_id = arn.rsplit('/').next().unwrap_or(arn);
        let file = job.input_uri.rsplit('/').next().unwrap_or("input.jsonl");
        let key = format!("{}{job_id}/{file}.out", job.output_uri);
        state.objects.insert(key, output.into_bytes());
    }
}

/// `bucket=..`-style list of hyper-parameters.
fn hyper_parameters(values: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

#[async_trait]
impl Aws for DryRun {
    fn region(&self) -> &str {
        &self.region
    }

    fn waits(&self) -> bool {
        false
    }

    fn step(&self, step: &str) {
        self.lock().step = step.to_string();
    }

    fn note(&self, text: &str) {
        self.record("note", "", text.to_string(), None);
    }

    async fn head_bucket(&self, bucket: &str) -> Result<Option<String>> {
        self.record("s3", "HeadBucket", format!("bucket={bucket}"), None);
        if self.buckets_missing {
            return Err(PipelineError::Aws(Box::new(AwsFailure {
                service: "s3",
                operation: "HeadBucket",
                code: None,
                message: format!("no bucket {bucket} (dry run)"),
                status: Some(404),
                request_id: None,
            })));
        }
        Ok(Some(self.region.clone()))
    }

    async fn create_bucket(&self, bucket: &str) -> Result<bool> {
        self.record(
            "s3",
            "CreateBucket",
            format!("bucket={bucket} region={}", self.region),
            Some("if HeadBucket finds no bucket"),
        );
        Ok(true)
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<()> {
        let uri = format!("s3://{bucket}/{key}");
        self.record(
            "s3",
            "PutObject",
            format!("{uri}  ({} bytes, {content_type})", body.len()),
            None,
        );
        self.lock().objects.insert(uri, body);
        Ok(())
    }

    async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        self.record(
            "s3",
            "ListObjectsV2",
            format!("s3://{bucket}/{prefix}"),
            None,
        );
        let start = format!("s3://{bucket}/{prefix}");
        let root = format!("s3://{bucket}/");
        Ok(self
            .lock()
            .objects
            .keys()
            .filter(|uri| uri.starts_with(&start))
            .filter_map(|uri| uri.strip_prefix(&root).map(str::to_string))
            .collect())
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let uri = format!("s3://{bucket}/{key}");
        self.record("s3", "GetObject", uri.clone(), None);
        self.lock()
            .objects
            .get(&uri)
            .cloned()
            .ok_or_else(|| Self::not_found("s3", "GetObject", format!("no object {uri}")))
    }

    async fn foundation_model(&self, id: &str) -> Result<FoundationModelView> {
        self.record(
            "bedrock",
            "GetFoundationModel",
            format!("modelIdentifier={id}"),
            None,
        );
        let model = crate::models::entry(id).ok_or_else(|| {
            Self::not_found(
                "bedrock",
                "GetFoundationModel",
                format!("{id} is not in the catalog"),
            )
        })?;
        let lifecycle = match model.lifecycle() {
            bedrock_catalog::LifecycleState::EndOfLife => bedrock_catalog::LifecycleState::Legacy,
            state => state,
        };
        let customizations = if model.customization.regions.contains(&self.region) {
            model
                .customization
                .types
                .iter()
                .map(|t| t.as_str().to_string())
                .collect()
        } else {
            Vec::new()
        };
        Ok(FoundationModelView {
            lifecycle: Some(lifecycle.as_str().to_string()),
            customizations,
        })
    }

    async fn create_customization_job(&self, job: &CustomizationJob) -> Result<String> {
        let mut detail = format!(
            "jobName={} customModelName={} baseModelIdentifier={} customizationType={} roleArn={} \
             trainingDataConfig.s3Uri={} ",
            job.job_name,
            job.custom_model_name,
            job.base_model_id,
            job.customization_type,
            job.role_arn,
            job.training_uri
        );
        if let Some(uri) = &job.validation_uri {
            detail.push_str(&format!("validationDataConfig.validators[0].s3Uri={uri} "));
        }
        detail.push_str(&format!(
            "outputDataConfig.s3Uri={} hyperParameters={} clientRequestToken={}",
            job.output_uri,
            hyper_parameters(&job.hyper_parameters),
            job.client_request_token
        ));
        self.record("bedrock", "CreateModelCustomizationJob", detail, None);
        let arn = self.arn("model-customization-job", &job.job_name);
        let model = self.arn("custom-model", &job.custom_model_name);
        let mut state = self.lock();
        state.jobs.insert(arn.clone(), model.clone());
        state.jobs.insert(job.job_name.clone(), model);
        Ok(arn)
    }

    async fn customization_job(&self, identifier: &str) -> Result<JobView> {
        self.record(
            "bedrock",
            "GetModelCustomizationJob",
            format!("jobIdentifier={identifier}"),
            None,
        );
        let model = self.lock().jobs.get(identifier).cloned().ok_or_else(|| {
            Self::not_found(
                "bedrock",
                "GetModelCustomizationJob",
                format!("no job {identifier}"),
            )
        })?;
        Ok(JobView {
            arn: identifier.to_string(),
            status: "Completed".into(),
            output_model_arn: Some(model),
            failure: None,
        })
    }

    async fn stop_customization_job(&self, identifier: &str) -> Result<()> {
        self.record(
            "bedrock",
            "StopModelCustomizationJob",
            format!("jobIdentifier={identifier}"),
            None,
        );
        Ok(())
    }

    async fn delete_custom_model(&self, identifier: &str) -> Result<()> {
        self.record(
            "bedrock",
            "DeleteCustomModel",
            format!("modelIdentifier={identifier}"),
            None,
        );
        Ok(())
    }

    async fn create_serving(&self, request: &ServingRequest) -> Result<String> {
        let (operation, detail, resource) = match request.kind {
            ServingKind::Throughput => (
                "CreateProvisionedModelThroughput",
                format!(
                    "provisionedModelName={} modelId={} modelUnits={} commitmentDuration=none \
                     clientRequestToken={}  (BILLED HOURLY until deleted)",
                    request.name,
                    request.model_arn,
                    request.model_units,
                    request.client_request_token
                ),
                "provisioned-model",
            ),
            ServingKind::Deployment => (
                "CreateCustomModelDeployment",
                format!(
                    "modelDeploymentName={} modelArn={} clientRequestToken={}  (billed per token used, nothing \
                     while idle)",
                    request.name, request.model_arn, request.client_request_token
                ),
                "custom-model-deployment",
            ),
        };
        self.record("bedrock", operation, detail, None);
        Ok(self.arn(resource, &request.name))
    }

    async fn serving(&self, kind: ServingKind, identifier: &str) -> Result<ServingView> {
        let (operation, field) = match kind {
            ServingKind::Throughput => ("GetProvisionedModelThroughput", "provisionedModelId"),
            ServingKind::Deployment => (
                "GetCustomModelDeployment",
                "customModelDeploymentIdentifier",
            ),
        };
        self.record("bedrock", operation, format!("{field}={identifier}"), None);
        Ok(ServingView {
            arn: identifier.to_string(),
            status: kind.ready_status().to_string(),
            failure: None,
        })
    }

    async fn delete_serving(&self, kind: ServingKind, identifier: &str) -> Result<()> {
        let (operation, field) = match kind {
            ServingKind::Throughput => ("DeleteProvisionedModelThroughput", "provisionedModelId"),
            ServingKind::Deployment => (
                "DeleteCustomModelDeployment",
                "customModelDeploymentIdentifier",
            ),
        };
        self.record("bedrock", operation, format!("{field}={identifier}"), None);
        Ok(())
    }

    async fn throughputs(&self) -> Result<Vec<ThroughputSummary>> {
        self.record(
            "bedrock",
            "ListProvisionedModelThroughputs",
            String::new(),
            None,
        );
        Ok(Vec::new())
    }

    async fn create_batch_job(&self, job: &BatchJobRequest) -> Result<String> {
        self.record(
            "bedrock",
            "CreateModelInvocationJob",
            format!(
                "jobName={} modelId={} roleArn={} inputDataConfig.s3Uri={} outputDataConfig.s3Uri={} \
                 timeoutDurationInHours={} clientRequestToken={}",
                job.name,
                job.model_id,
                job.role_arn,
                job.input_uri,
                job.output_uri,
                job.timeout_hours,
                job.client_request_token
            ),
            None,
        );
        let arn = self.arn("model-invocation-job", &job.name);
        self.write_batch_output(job, &arn);
        self.lock().batch_jobs.insert(job.name.clone(), arn.clone());
        Ok(arn)
    }

    async fn batch_job(&self, identifier: &str) -> Result<BatchView> {
        self.record(
            "bedrock",
            "GetModelInvocationJob",
            format!("jobIdentifier={identifier}"),
            None,
        );
        Ok(BatchView {
            arn: identifier.to_string(),
            status: "Completed".into(),
            message: None,
        })
    }

    async fn find_batch_job(&self, name: &str) -> Result<Option<String>> {
        self.record(
            "bedrock",
            "ListModelInvocationJobs",
            format!("nameContains={name}"),
            None,
        );
        Ok(self.lock().batch_jobs.get(name).cloned())
    }

    async fn stop_batch_job(&self, identifier: &str) -> Result<()> {
        self.record(
            "bedrock",
            "StopModelInvocationJob",
            format!("jobIdentifier={identifier}"),
            None,
        );
        Ok(())
    }

    async fn generate(&self, request: &Generate<'_>) -> Generation {
        self.record(
            "bedrock-runtime",
            request.adapter.runtime_operation(),
            format!(
                "modelId={} (adapter {}), up to {} attempts",
                request.model_id,
                request.adapter.name(),
                request.max_attempts
            ),
            None,
        );
        Generation {
            text: Ok(PLACEHOLDER_OUTPUT.to_string()),
            attempts: 1,
        }
    }

    async fn email_identity_verified(&self, identity: &str) -> Result<bool> {
        self.record(
            "sesv2",
            "GetEmailIdentity",
            format!("emailIdentity={identity}"),
            None,
        );
        let missing = self
            .sender_missing
            .as_deref()
            .is_some_and(|sender| sender == identity || sender.ends_with(&format!("<{identity}>")));
        if missing {
            return Err(PipelineError::Aws(Box::new(AwsFailure {
                service: "sesv2",
                operation: "GetEmailIdentity",
                code: Some("NotFoundException".into()),
                message: format!("{identity} is not an identity (dry run)"),
                status: Some(404),
                request_id: None,
            })));
        }
        Ok(true)
    }

    async fn create_email_identity(&self, identity: &str) -> Result<()> {
        self.record(
            "sesv2",
            "CreateEmailIdentity",
            format!("emailIdentity={identity}"),
            Some("if the sender is not an SES identity yet"),
        );
        Ok(())
    }

    async fn production_access(&self) -> Result<bool> {
        self.record("sesv2", "GetAccount", String::new(), None);
        Ok(false)
    }

    async fn send_email(&self, email: &Email) -> Result<String> {
        self.record(
            "sesv2",
            "SendEmail",
            format!(
                "from={} to={} subject={:?}",
                email.from,
                email.to.join(","),
                email.subject
            ),
            None,
        );
        Ok("<message id>".into())
    }

    async fn role_trust_policy(&self, role_name: &str) -> Result<String> {
        self.record("iam", "GetRole", format!("roleName={role_name}"), None);
        Ok(roles::trust_policy(
            &self.account,
            &[self.region.as_str()],
            &[JobKind::Customization, JobKind::Batch],
        ))
    }
}
