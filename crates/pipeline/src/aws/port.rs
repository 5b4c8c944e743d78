//! The pipeline's one door to AWS: every call a run makes, as a trait. [`Clients`](super::Clients) answers it
//! with the AWS SDK (every `.send()` of the crate is in `sdk.rs`); [`DryRun`](super::DryRun) records the calls
//! and answers them as a fresh account would, which is how `plan` runs the run's own step code without calling
//! anything. The types here are the pipeline's words, not the SDK's: a step never sees an SDK type.
//!
//! A failed call is [`PipelineError::Aws`](crate::error::PipelineError::Aws) with the service's error code and
//! HTTP status ([`AwsFailure`](crate::error::AwsFailure)): a caller tells "not there" from an outage with
//! [`PipelineError::is_not_found`](crate::error::PipelineError::is_not_found) and a refusal from a failure to
//! answer with [`AwsFailure::refused`](crate::error::AwsFailure::refused).

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::adapter::AdapterKind;
use crate::error::Result;
use crate::serving::ServingKind;

/// CreateModelCustomizationJob's request.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomizationJob {
    /// `jobName`.
    pub job_name: String,
    /// `customModelName`.
    pub custom_model_name: String,
    /// `roleArn`.
    pub role_arn: String,
    /// `baseModelIdentifier`.
    pub base_model_id: String,
    /// `customizationType` (`FINE_TUNING`, ...).
    pub customization_type: String,
    /// `trainingDataConfig.s3Uri`.
    pub training_uri: String,
    /// `validationDataConfig.validators[0].s3Uri`, when there is job validation data.
    pub validation_uri: Option<String>,
    /// `outputDataConfig.s3Uri`.
    pub output_uri: String,
    /// `hyperParameters`.
    pub hyper_parameters: BTreeMap<String, String>,
    /// `clientRequestToken`: a repeat with the same token is the same job.
    pub client_request_token: String,
}

/// GetModelCustomizationJob's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    /// The job's ARN.
    pub arn: String,
    /// `InProgress`, `Completed`, `Failed`, `Stopping`, `Stopped`.
    pub status: String,
    /// The custom model, once completed.
    pub output_model_arn: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
}

impl JobView {
    /// Whether the job has ended (completed, failed or stopped).
    pub fn ended(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "Failed" | "Stopped")
    }
}

/// CreateProvisionedModelThroughput's or CreateCustomModelDeployment's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingRequest {
    /// Which of the two.
    pub kind: ServingKind,
    /// `provisionedModelName` / `modelDeploymentName`.
    pub name: String,
    /// The custom model's ARN (`modelId` / `modelArn`).
    pub model_arn: String,
    /// `modelUnits` (throughput only; no commitment term).
    pub model_units: i32,
    /// `clientRequestToken`.
    pub client_request_token: String,
}

/// GetProvisionedModelThroughput's or GetCustomModelDeployment's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingView {
    /// Its ARN.
    pub arn: String,
    /// `Creating`, `InService`/`Active`, `Failed`, ...
    pub status: String,
    /// Why it failed.
    pub failure: Option<String>,
}

/// CreateModelInvocationJob's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchJobRequest {
    /// `jobName`.
    pub name: String,
    /// `roleArn`.
    pub role_arn: String,
    /// `modelId`.
    pub model_id: String,
    /// `inputDataConfig.s3InputDataConfig.s3Uri` (JSONL).
    pub input_uri: String,
    /// `outputDataConfig.s3OutputDataConfig.s3Uri`.
    pub output_uri: String,
    /// `timeoutDurationInHours`.
    pub timeout_hours: i32,
    /// `clientRequestToken`.
    pub client_request_token: String,
}

/// GetModelInvocationJob's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchView {
    /// Its ARN.
    pub arn: String,
    /// `Submitted`, ..., `Completed`, `PartiallyCompleted`, `Failed`, `Stopped`, `Expired`.
    pub status: String,
    /// Bedrock's message.
    pub message: Option<String>,
}

impl BatchView {
    /// Whether the job has ended.
    pub fn ended(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Completed" | "PartiallyCompleted" | "Failed" | "Stopped" | "Expired"
        )
    }

    /// Whether it may still run (and can be stopped).
    pub fn running(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Submitted" | "Validating" | "Scheduled" | "InProgress"
        )
    }
}

/// One model call (InvokeModel with the family's body, or Converse).
#[derive(Debug, Clone, PartialEq)]
pub struct Generate<'a> {
    /// A foundation model id, or a serving's ARN.
    pub model_id: &'a str,
    /// The family's request and response bodies.
    pub adapter: AdapterKind,
    /// The system prompt, for families that have one.
    pub system: Option<&'a str>,
    /// The prompt.
    pub prompt: &'a str,
    /// `max_tokens` (or the family's name for it).
    pub max_tokens: i32,
    /// `temperature`.
    pub temperature: f32,
    /// `top_p`, when set.
    pub top_p: Option<f32>,
    /// Attempts, the first included (`inference.max_attempts`); the SDK's standard retry mode retries
    /// throttling, 5xx, timeouts and a model not ready yet, with backoff from `retry_base_s` to `retry_max_s`.
    pub max_attempts: u32,
    /// The first backoff's ceiling, in seconds.
    pub retry_base_s: f64,
    /// The longest backoff, in seconds.
    pub retry_max_s: f64,
}

/// One model call's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generated text, or why there is none (the last attempt's error, summarised).
    pub text: std::result::Result<String, String>,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
}

/// GetFoundationModel's answer, the parts a run checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundationModelView {
    /// `modelLifecycle.status`: `ACTIVE`, `LEGACY`, ...; `None` when Bedrock did not say.
    pub lifecycle: Option<String>,
    /// `customizationsSupported`.
    pub customizations: Vec<String>,
}

/// One no-commitment-or-not throughput of the account (ListProvisionedModelThroughputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThroughputSummary {
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: String,
    /// Its model units.
    pub model_units: i32,
    /// Whether it has a commitment term.
    pub committed: bool,
}

/// An email (SESv2 SendEmail, simple content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// `FromEmailAddress`.
    pub from: String,
    /// `Destination.ToAddresses`.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Every AWS call the pipeline makes. `Send + Sync`: a run holds one as `Arc<dyn Aws>` and calls it from
/// concurrent tasks (the evaluation prompts).
#[async_trait]
pub trait Aws: Send + Sync {
    /// The region the calls go to.
    fn region(&self) -> &str;

    /// The Bedrock endpoint when it is not AWS's own (an emulator), recorded in the run.
    fn bedrock_endpoint(&self) -> Option<&str> {
        None
    }

    /// Whether waiting between two status checks takes time. The dry run's resources are ready at once.
    fn waits(&self) -> bool {
        true
    }

    /// The step about to run (the dry run lists its calls under it).
    fn step(&self, _step: &str) {}

    /// A decision of the run worth showing next to its calls (logged; the dry run lists it).
    fn note(&self, text: &str) {
        tracing::info!("{text}");
    }

    // S3.

    /// HeadBucket: the bucket's region when it exists (and S3 says). Missing: a failure with HTTP 404.
    async fn head_bucket(&self, bucket: &str) -> Result<Option<String>>;
    /// CreateBucket in the region; `false` when the caller already owns it.
    async fn create_bucket(&self, bucket: &str) -> Result<bool>;
    /// PutObject.
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<()>;
    /// ListObjectsV2, every page: the keys under `prefix`.
    async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>>;
    /// GetObject: the whole body.
    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>>;

    // Bedrock: models and customization jobs.

    /// GetFoundationModel.
    async fn foundation_model(&self, id: &str) -> Result<FoundationModelView>;
    /// CreateModelCustomizationJob: the job's ARN.
    async fn create_customization_job(&self, job: &CustomizationJob) -> Result<String>;
    /// GetModelCustomizationJob (by ARN or name).
    async fn customization_job(&self, identifier: &str) -> Result<JobView>;
    /// StopModelCustomizationJob.
    async fn stop_customization_job(&self, identifier: &str) -> Result<()>;
    /// DeleteCustomModel.
    async fn delete_custom_model(&self, identifier: &str) -> Result<()>;

    // Bedrock: servings.

    /// CreateProvisionedModelThroughput or CreateCustomModelDeployment: its ARN.
    async fn create_serving(&self, request: &ServingRequest) -> Result<String>;
    /// GetProvisionedModelThroughput or GetCustomModelDeployment.
    async fn serving(&self, kind: ServingKind, identifier: &str) -> Result<ServingView>;
    /// DeleteProvisionedModelThroughput or DeleteCustomModelDeployment.
    async fn delete_serving(&self, kind: ServingKind, identifier: &str) -> Result<()>;
    /// ListProvisionedModelThroughputs, every page.
    async fn throughputs(&self) -> Result<Vec<ThroughputSummary>>;

    // Bedrock: batch inference.

    /// CreateModelInvocationJob: its ARN.
    async fn create_batch_job(&self, job: &BatchJobRequest) -> Result<String>;
    /// GetModelInvocationJob.
    async fn batch_job(&self, identifier: &str) -> Result<BatchView>;
    /// ListModelInvocationJobs by name: the ARN of the job named exactly `name`.
    async fn find_batch_job(&self, name: &str) -> Result<Option<String>>;
    /// StopModelInvocationJob.
    async fn stop_batch_job(&self, identifier: &str) -> Result<()>;

    // Bedrock runtime.

    /// InvokeModel (the family's body) or Converse, retried as [`Generate`] says. Never fails as a whole: a
    /// failed item is an item without text.
    async fn generate(&self, request: &Generate<'_>) -> Generation;

    // SESv2.

    /// GetEmailIdentity: whether SES may send from (or, in the sandbox, to) it. Not an identity: not found.
    async fn email_identity_verified(&self, identity: &str) -> Result<bool>;
    /// CreateEmailIdentity.
    async fn create_email_identity(&self, identity: &str) -> Result<()>;
    /// GetAccount: whether the account has production access (out of the sandbox).
    async fn production_access(&self) -> Result<bool>;
    /// SendEmail: the message id.
    async fn send_email(&self, email: &Email) -> Result<String>;

    // IAM.

    /// GetRole: the role's trust policy, decoded.
    async fn role_trust_policy(&self, role_name: &str) -> Result<String>;
}
