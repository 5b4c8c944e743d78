//! The port on the AWS SDK for Rust: every `.send()` of the pipeline. Each answer is turned into the port's
//! types here, each failure into an [`AwsFailure`] (service, operation, error code, HTTP status, request id).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_sdk_bedrock::types::{
    CustomizationType, ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig, OutputDataConfig,
    S3InputFormat, TrainingDataConfig, ValidationDataConfig, Validator,
};
use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, SystemContentBlock,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::Clients;
use super::port::{
    Aws, BatchJobRequest, BatchView, CustomizationJob, Email, FoundationModelView, Generate,
    Generation, JobView, ServingRequest, ServingView, ThroughputSummary,
};
use crate::error::{AwsFailure, PipelineError, Result};
use crate::serving::ServingKind;
use aws_sdk_bedrockruntime::operation::RequestId;

/// The failure of `operation` on `service`, summarised.
fn failed<E>(
    service: &'static str,
    operation: &'static str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> PipelineError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |error| PipelineError::Aws(Box::new(summarise(service, operation, &error)))
}

/// Summarises an SDK error of any AWS service client: the error variant decides what is said.
pub(crate) fn summarise<E>(
    service: &'static str,
    operation: &'static str,
    error: &SdkError<E, HttpResponse>,
) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let request_id = error.request_id().map(str::to_string);
    let (code, message, status) = match error {
        SdkError::ServiceError(service_error) => {
            let err = service_error.err();
            (
                err.code().map(str::to_string),
                err.message()
                    .map(str::to_string)
                    .unwrap_or_else(|| "no message".into()),
                Some(service_error.raw().status().as_u16()),
            )
        }
        SdkError::TimeoutError(_) => (None, with_causes("timed out", error), None),
        SdkError::DispatchFailure(failure) => {
            let what = if failure.is_timeout() {
                "timed out"
            } else if failure.is_io() {
                "could not reach the endpoint"
            } else {
                "the request could not be sent"
            };
            (None, with_causes(what, error), None)
        }
        SdkError::ResponseError(response) => (
            None,
            with_causes("the response could not be read", error),
            Some(response.raw().status().as_u16()),
        ),
        SdkError::ConstructionFailure(_) => (
            None,
            with_causes("the request could not be built", error),
            None,
        ),
        _ => (None, with_causes("failed", error), None),
    };
    AwsFailure {
        service,
        operation,
        code,
        message,
        status,
        request_id,
    }
}

/// `what` followed by the distinct messages of the error's causes (the SDK's own texts say only "dispatch
/// failure" and the like; the causes say "connection refused").
fn with_causes(what: &str, error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = error.source();
    while let Some(current) = cause {
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = current.source();
    }
    if parts.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", parts.join(": "))
    }
}

/// A request that could not even be built (a required field missing): a bug or a bad value.
fn unbuildable(
    service: &'static str,
    operation: &'static str,
    error: impl std::fmt::Display,
) -> PipelineError {
    PipelineError::Aws(Box::new(AwsFailure {
        service,
        operation,
        code: None,
        message: format!("the request could not be built: {error}"),
        status: None,
        request_id: None,
    }))
}

#[async_trait]
impl Aws for Clients {
    fn region(&self) -> &str {
        &self.region
    }

    fn bedrock_endpoint(&self) -> Option<&str> {
        self.bedrock_endpoint.as_deref()
    }

    async fn head_bucket(&self, bucket: &str) -> Result<Option<String>> {
        let output = self
            .s3
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(failed("s3", "HeadBucket"))?;
        Ok(output.bucket_region().map(str::to_string))
    }

    async fn create_bucket(&self, bucket: &str) -> Result<bool> {
        let mut request = self.s3.create_bucket().bucket(bucket);
        // us-east-1 takes no location constraint (CreateBucket, S3 API reference).
        if self.region != "us-east-1" {
            let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    self.region.as_str(),
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
            Err(e) => Err(failed("s3", "CreateBucket")(e)),
        }
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<()> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(failed("s3", "PutObject"))?;
        Ok(())
    }

    async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(failed("s3", "ListObjectsV2"))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(keys)
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(failed("s3", "GetObject"))?;
        let bytes =
            object.body.collect().await.map_err(|e| {
                PipelineError::Resource(format!("reading s3://{bucket}/{key}: {e}"))
            })?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn foundation_model(&self, id: &str) -> Result<FoundationModelView> {
        let output = self
            .bedrock
            .get_foundation_model()
            .model_identifier(id)
            .send()
            .await
            .map_err(failed("bedrock", "GetFoundationModel"))?;
        let details = output.model_details();
        Ok(FoundationModelView {
            lifecycle: details
                .and_then(|d| d.model_lifecycle())
                .map(|l| l.status().as_str().to_string()),
            customizations: details
                .map(|d| {
                    d.customizations_supported()
                        .iter()
                        .map(|c| c.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    async fn create_customization_job(&self, job: &CustomizationJob) -> Result<String> {
        const OPERATION: &str = "CreateModelCustomizationJob";
        let mut request = self
            .bedrock
            .create_model_customization_job()
            .job_name(&job.job_name)
            .custom_model_name(&job.custom_model_name)
            .role_arn(&job.role_arn)
            .base_model_identifier(&job.base_model_id)
            .customization_type(CustomizationType::from(job.customization_type.as_str()))
            .client_request_token(&job.client_request_token)
            .training_data_config(
                TrainingDataConfig::builder()
                    .s3_uri(&job.training_uri)
                    .build(),
            )
            .output_data_config(
                OutputDataConfig::builder()
                    .s3_uri(&job.output_uri)
                    .build()
                    .map_err(|e| unbuildable("bedrock", OPERATION, e))?,
            );
        if let Some(uri) = &job.validation_uri {
            let validator = Validator::builder()
                .s3_uri(uri)
                .build()
                .map_err(|e| unbuildable("bedrock", OPERATION, e))?;
            let config = ValidationDataConfig::builder()
                .validators(validator)
                .build()
                .map_err(|e| unbuildable("bedrock", OPERATION, e))?;
            request = request.validation_data_config(config);
        }
        for (name, value) in &job.hyper_parameters {
            request = request.hyper_parameters(name, value);
        }
        let output = request.send().await.map_err(failed("bedrock", OPERATION))?;
        Ok(output.job_arn().to_string())
    }

    async fn customization_job(&self, identifier: &str) -> Result<JobView> {
        let job = self
            .bedrock
            .get_model_customization_job()
            .job_identifier(identifier)
            .send()
            .await
            .map_err(failed("bedrock", "GetModelCustomizationJob"))?;
        Ok(JobView {
            arn: job.job_arn().to_string(),
            status: job
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            output_model_arn: job.output_model_arn().map(str::to_string),
            failure: job.failure_message().map(str::to_string),
        })
    }

    async fn stop_customization_job(&self, identifier: &str) -> Result<()> {
        self.bedrock
            .stop_model_customization_job()
            .job_identifier(identifier)
            .send()
            .await
            .map_err(failed("bedrock", "StopModelCustomizationJob"))?;
        Ok(())
    }

    async fn delete_custom_model(&self, identifier: &str) -> Result<()> {
        self.bedrock
            .delete_custom_model()
            .model_identifier(identifier)
            .send()
            .await
            .map_err(failed("bedrock", "DeleteCustomModel"))?;
        Ok(())
    }

    async fn create_serving(&self, request: &ServingRequest) -> Result<String> {
        Ok(match request.kind {
            ServingKind::Throughput => self
                .bedrock
                .create_provisioned_model_throughput()
                .model_units(request.model_units)
                .provisioned_model_name(&request.name)
                .model_id(&request.model_arn)
                .client_request_token(&request.client_request_token)
                .send()
                .await
                .map_err(failed("bedrock", "CreateProvisionedModelThroughput"))?
                .provisioned_model_arn()
                .to_string(),
            ServingKind::Deployment => self
                .bedrock
                .create_custom_model_deployment()
                .model_deployment_name(&request.name)
                .model_arn(&request.model_arn)
                .description("bertscore pipeline: serves the custom model for its evaluation")
                .client_request_token(&request.client_request_token)
                .send()
                .await
                .map_err(failed("bedrock", "CreateCustomModelDeployment"))?
                .custom_model_deployment_arn()
                .to_string(),
        })
    }

    async fn serving(&self, kind: ServingKind, identifier: &str) -> Result<ServingView> {
        Ok(match kind {
            ServingKind::Throughput => {
                let pt = self
                    .bedrock
                    .get_provisioned_model_throughput()
                    .provisioned_model_id(identifier)
                    .send()
                    .await
                    .map_err(failed("bedrock", "GetProvisionedModelThroughput"))?;
                ServingView {
                    arn: pt.provisioned_model_arn().to_string(),
                    status: pt.status().as_str().to_string(),
                    failure: pt.failure_message().map(str::to_string),
                }
            }
            ServingKind::Deployment => {
                let deployment = self
                    .bedrock
                    .get_custom_model_deployment()
                    .custom_model_deployment_identifier(identifier)
                    .send()
                    .await
                    .map_err(failed("bedrock", "GetCustomModelDeployment"))?;
                ServingView {
                    arn: deployment.custom_model_deployment_arn().to_string(),
                    status: deployment.status().as_str().to_string(),
                    failure: deployment.failure_message().map(str::to_string),
                }
            }
        })
    }

    async fn delete_serving(&self, kind: ServingKind, identifier: &str) -> Result<()> {
        match kind {
            ServingKind::Throughput => {
                self.bedrock
                    .delete_provisioned_model_throughput()
                    .provisioned_model_id(identifier)
                    .send()
                    .await
                    .map_err(failed("bedrock", "DeleteProvisionedModelThroughput"))?;
            }
            ServingKind::Deployment => {
                self.bedrock
                    .delete_custom_model_deployment()
                    .custom_model_deployment_identifier(identifier)
                    .send()
                    .await
                    .map_err(failed("bedrock", "DeleteCustomModelDeployment"))?;
            }
        }
        Ok(())
    }

    async fn throughputs(&self) -> Result<Vec<ThroughputSummary>> {
        let mut all = Vec::new();
        let mut pages = self
            .bedrock
            .list_provisioned_model_throughputs()
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(failed("bedrock", "ListProvisionedModelThroughputs"))?;
            all.extend(
                page.provisioned_model_summaries()
                    .iter()
                    .map(|s| ThroughputSummary {
                        name: s.provisioned_model_name().to_string(),
                        status: s.status().as_str().to_string(),
                        model_units: s.model_units(),
                        committed: s.commitment_duration().is_some(),
                    }),
            );
        }
        Ok(all)
    }

    async fn create_batch_job(&self, job: &BatchJobRequest) -> Result<String> {
        const OPERATION: &str = "CreateModelInvocationJob";
        let input = ModelInvocationJobS3InputDataConfig::builder()
            .s3_uri(&job.input_uri)
            .s3_input_format(S3InputFormat::Jsonl)
            .build()
            .map_err(|e| unbuildable("bedrock", OPERATION, e))?;
        let output = ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(&job.output_uri)
            .build()
            .map_err(|e| unbuildable("bedrock", OPERATION, e))?;
        let response = self
            .bedrock
            .create_model_invocation_job()
            .job_name(&job.name)
            .role_arn(&job.role_arn)
            .model_id(&job.model_id)
            .client_request_token(&job.client_request_token)
            .timeout_duration_in_hours(job.timeout_hours)
            .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(input))
            .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
                output,
            ))
            .send()
            .await
            .map_err(failed("bedrock", OPERATION))?;
        Ok(response.job_arn().to_string())
    }

    async fn batch_job(&self, identifier: &str) -> Result<BatchView> {
        let job = self
            .bedrock
            .get_model_invocation_job()
            .job_identifier(identifier)
            .send()
            .await
            .map_err(failed("bedrock", "GetModelInvocationJob"))?;
        Ok(BatchView {
            arn: job.job_arn().to_string(),
            status: job
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "Unknown".into()),
            message: job.message().map(str::to_string),
        })
    }

    async fn find_batch_job(&self, name: &str) -> Result<Option<String>> {
        let output = self
            .bedrock
            .list_model_invocation_jobs()
            .name_contains(name)
            .send()
            .await
            .map_err(failed("bedrock", "ListModelInvocationJobs"))?;
        Ok(output
            .invocation_job_summaries()
            .iter()
            .find(|job| job.job_name() == name)
            .map(|job| job.job_arn().to_string()))
    }

    async fn stop_batch_job(&self, identifier: &str) -> Result<()> {
        self.bedrock
            .stop_model_invocation_job()
            .job_identifier(identifier)
            .send()
            .await
            .map_err(failed("bedrock", "StopModelInvocationJob"))?;
        Ok(())
    }

    async fn generate(&self, request: &Generate<'_>) -> Generation {
        let attempts = CountAttempts::default();
        let text = generate(&self.runtime, request, &attempts).await;
        Generation {
            text,
            attempts: attempts.0.load(Ordering::Relaxed).max(1),
        }
    }

    async fn email_identity_verified(&self, identity: &str) -> Result<bool> {
        let output = self
            .ses
            .get_email_identity()
            .email_identity(identity)
            .send()
            .await
            .map_err(failed("sesv2", "GetEmailIdentity"))?;
        // GetEmailIdentity (SESv2 API reference): `VerifiedForSendingStatus`, or `VerificationStatus` SUCCESS
        // ("the verification process completed successfully"); moto sets only the second.
        let success = output.verification_status()
            == Some(&aws_sdk_sesv2::types::VerificationStatus::Success);
        Ok(output.verified_for_sending_status() || success)
    }

    async fn create_email_identity(&self, identity: &str) -> Result<()> {
        self.ses
            .create_email_identity()
            .email_identity(identity)
            .send()
            .await
            .map_err(failed("sesv2", "CreateEmailIdentity"))?;
        Ok(())
    }

    async fn production_access(&self) -> Result<bool> {
        let account = self
            .ses
            .get_account()
            .send()
            .await
            .map_err(failed("sesv2", "GetAccount"))?;
        Ok(account.production_access_enabled())
    }

    async fn send_email(&self, email: &Email) -> Result<String> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| unbuildable("sesv2", "SendEmail", e))
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
        let response = self
            .ses
            .send_email()
            .from_email_address(&email.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(email.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(failed("sesv2", "SendEmail"))?;
        Ok(response.message_id().unwrap_or_default().to_string())
    }

    async fn role_trust_policy(&self, role_name: &str) -> Result<String> {
        let output = self
            .iam
            .get_role()
            .role_name(role_name)
            .send()
            .await
            .map_err(failed("iam", "GetRole"))?;
        let document = output
            .role
            .and_then(|r| r.assume_role_policy_document)
            .unwrap_or_default();
        // IAM returns the policy URL-encoded (GetRole, IAM API reference).
        Ok(percent_encoding::percent_decode_str(&document)
            .decode_utf8_lossy()
            .into_owned())
    }
}

/// Counts the attempts of one call (the SDK retries inside `send`).
#[derive(Debug, Clone, Default)]
struct CountAttempts(Arc<AtomicU32>);

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Model answers worth another attempt beyond the SDK's standard classifiers (throttling codes, 500/502/503/504,
/// transport failures, ModelNotReadyException): a model that did not answer in time (ModelTimeoutException, HTTP
/// 408: InvokeModel and Converse, Bedrock runtime API reference), any 429, and any other 5xx.
#[derive(Debug)]
pub(super) struct TransientModelAnswer;

impl ClassifyRetry for TransientModelAnswer {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let failed = matches!(ctx.output_or_error(), Some(Err(_)));
        let status = ctx.response().map(|r| r.status().as_u16());
        if failed && matches!(status, Some(408 | 429 | 500..=599)) {
            RetryAction::transient_error()
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "TransientModelAnswer"
    }
}

/// A runtime call's failure, summarised (code, message, request id; never the SDK's debug dump).
fn summary<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    error: SdkError<E, HttpResponse>,
) -> String {
    summarise("bedrock-runtime", operation, &error).to_string()
}

/// The request's retry settings, for this call only.
fn retries(request: &Generate<'_>) -> aws_sdk_bedrockruntime::config::Builder {
    let retry = RetryConfig::standard()
        .with_max_attempts(request.max_attempts.max(1))
        .with_initial_backoff(Duration::from_secs_f64(request.retry_base_s.max(0.0)))
        .with_max_backoff(Duration::from_secs_f64(request.retry_max_s.max(0.0)));
    aws_sdk_bedrockruntime::config::Builder::default().retry_config(retry)
}

async fn generate(
    client: &aws_sdk_bedrockruntime::Client,
    request: &Generate<'_>,
    attempts: &CountAttempts,
) -> std::result::Result<String, String> {
    let params = crate::adapter::GenerationParams {
        max_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
    };
    match request
        .adapter
        .request_body(request.prompt, request.system, &params)
    {
        Some(body) => {
            let response = client
                .invoke_model()
                .model_id(request.model_id)
                .content_type("application/json")
                .accept("application/json")
                .body(Blob::new(body.to_string()))
                .customize()
                .config_override(retries(request))
                .interceptor(attempts.clone())
                .send()
                .await
                .map_err(|e| summary("InvokeModel", e))?;
            request.adapter.response_text(response.body().as_ref())
        }
        None => {
            let message = Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(request.prompt.to_string()))
                .build()
                .map_err(|e| e.to_string())?;
            let mut inference = InferenceConfiguration::builder()
                .max_tokens(params.max_tokens)
                .temperature(params.temperature);
            if let Some(p) = params.top_p {
                inference = inference.top_p(p);
            }
            let mut call = client
                .converse()
                .model_id(request.model_id)
                .messages(message)
                .inference_config(inference.build());
            if let Some(system) = request.system {
                call = call.system(SystemContentBlock::Text(system.to_string()));
            }
            let response = call
                .customize()
                .config_override(retries(request))
                .interceptor(attempts.clone())
                .send()
                .await
                .map_err(|e| summary("Converse", e))?;
            let text: Vec<String> = response
                .output()
                .and_then(|output| output.as_message().ok())
                .map(|message| {
                    message
                        .content()
                        .iter()
                        .filter_map(|block| block.as_text().ok().cloned())
                        .collect()
                })
                .unwrap_or_default();
            if text.is_empty() {
                return Err("the Converse response has no text".into());
            }
            Ok(text.join("\n").trim().to_string())
        }
    }
}
