//! Steps `create-job` and `wait-job`: the model customization job, created once (its client request token is
//! derived from the run id) and waited for; and stopping it when a run fails or is cleaned up.

use aws_sdk_bedrock::types::{
    CustomizationType, ModelCustomizationJobStatus, OutputDataConfig, TrainingDataConfig,
    ValidationDataConfig, Validator,
};
use std::collections::BTreeMap;

use aws_sdk_bedrock::config::http::HttpResponse;
use aws_sdk_bedrock::error::SdkError;
use serde_json::json;

use super::poll::Poller;
use super::{Pipeline, StepResult};
use crate::aws::Clients;
use crate::config::PipelineConfig;
use crate::error::{PipelineError, Result};
use crate::journal::StepStatus;
use crate::naming::{job_token, keys};

/// One customization job as sent: the run's own, or a sweep candidate's.
pub(super) struct JobRequest<'a> {
    pub job_name: &'a str,
    pub custom_model_name: &'a str,
    pub client_request_token: String,
    pub hyper_parameters: &'a BTreeMap<String, String>,
    /// `s3://` prefix of the job's output.
    pub output_uri: String,
}

/// Sends CreateModelCustomizationJob for `job` with the config's base model, role and type and the uploaded
/// data (`objects`: role → URI); returns the job's ARN. The SDK's error is returned as it is, so a caller can
/// tell a refused request (ValidationException) from an outage.
pub(super) async fn send_job(
    clients: &Clients,
    config: &PipelineConfig,
    objects: &BTreeMap<String, String>,
    job: &JobRequest<'_>,
) -> Result<std::result::Result<String, CreateJobError>> {
    let customization = &config.customization;
    let training = objects
        .get("training")
        .ok_or_else(|| PipelineError::Run("the training data was not uploaded".into()))?;
    const OPERATION: &str = "CreateModelCustomizationJob";
    let mut request = clients
        .bedrock
        .create_model_customization_job()
        .job_name(job.job_name)
        .custom_model_name(job.custom_model_name)
        .role_arn(&customization.role_arn)
        .base_model_identifier(&customization.base_model_id)
        .customization_type(CustomizationType::from(
            customization.customization_type.as_str(),
        ))
        .client_request_token(&job.client_request_token)
        .training_data_config(TrainingDataConfig::builder().s3_uri(training).build())
        .output_data_config(
            OutputDataConfig::builder()
                .s3_uri(&job.output_uri)
                .build()
                .map_err(|e| PipelineError::build("bedrock", OPERATION, e))?,
        );
    if let Some(uri) = objects.get("job-validation") {
        let validator = Validator::builder()
            .s3_uri(uri)
            .build()
            .map_err(|e| PipelineError::build("bedrock", OPERATION, e))?;
        let config = ValidationDataConfig::builder()
            .validators(validator)
            .build()
            .map_err(|e| PipelineError::build("bedrock", OPERATION, e))?;
        request = request.validation_data_config(config);
    }
    for (name, value) in job.hyper_parameters {
        request = request.hyper_parameters(name, value);
    }
    Ok(request
        .send()
        .await
        .map(|response| response.job_arn().to_string()))
}

/// CreateModelCustomizationJob's error as the SDK returns it.
pub(super) type CreateJobError = SdkError<
    aws_sdk_bedrock::operation::create_model_customization_job::CreateModelCustomizationJobError,
    HttpResponse,
>;

/// Stops the job `identifier` if it is still running. Returns its status as last seen (`None`: no such job) and
/// whether it was stopped.
pub(super) async fn stop_if_running(
    clients: &Clients,
    identifier: &str,
) -> Result<(Option<String>, bool)> {
    let Some(job) = PipelineError::unless_not_found(
        "GetModelCustomizationJob",
        clients
            .bedrock
            .get_model_customization_job()
            .job_identifier(identifier)
            .send()
            .await,
        |e| e.is_resource_not_found_exception(),
    )?
    else {
        return Ok((None, false));
    };
    let status = job.status().map(|s| s.as_str().to_string());
    if job.status() != Some(&ModelCustomizationJobStatus::InProgress) {
        return Ok((status, false));
    }
    clients
        .bedrock
        .stop_model_customization_job()
        .job_identifier(identifier)
        .send()
        .await
        .map_err(|e| PipelineError::aws("bedrock", "StopModelCustomizationJob", e))?;
    Ok((Some("Stopping".into()), true))
}

impl Pipeline {
    pub(super) async fn create_job(&mut self) -> StepResult {
        let resources = self.run.state.resources.clone();
        let output_uri = format!(
            "s3://{}/{}",
            self.config.s3.output_bucket(),
            self.config.s3.key(self.run_id(), keys::JOB_OUTPUT)
        );
        let job = JobRequest {
            job_name: &resources.job_name,
            custom_model_name: &resources.custom_model_name,
            client_request_token: job_token(self.run_id()),
            hyper_parameters: &self.config.customization.hyper_parameters,
            output_uri: output_uri.clone(),
        };
        let arn = send_job(&self.clients, &self.config, &resources.objects, &job)
            .await?
            .map_err(|e| PipelineError::aws("bedrock", "CreateModelCustomizationJob", e))?;
        self.run.state.resources.job_arn = Some(arn.clone());
        self.run.state.resources.job_status = Some("InProgress".into());
        self.run.touch()?;
        Ok((
            StepStatus::Finished,
            json!({ "job_arn": arn, "output": output_uri }),
        ))
    }

    pub(super) async fn wait_job(&mut self) -> StepResult {
        let identifier = self.job_identifier();
        let mut poller = Poller::new(&self.config.polling, self.config.polling.job_timeout_s);
        loop {
            let job = self
                .clients
                .bedrock
                .get_model_customization_job()
                .job_identifier(&identifier)
                .send()
                .await
                .map_err(|e| PipelineError::aws("bedrock", "GetModelCustomizationJob", e))?;
            let status = job
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            let resources = &mut self.run.state.resources;
            if resources.job_status.as_deref() != Some(status.as_str())
                || resources.job_arn.is_none()
            {
                resources.job_status = Some(status.clone());
                resources.job_arn = Some(job.job_arn().to_string());
                self.run.touch()?;
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
            poller
                .wait(|| format!("customization job {identifier} (status {status})"))
                .await?;
        }
    }

    /// Stops the job if it is still running; `false` when there was nothing to stop.
    pub(super) async fn stop_job(&mut self) -> Result<bool> {
        let identifier = self.job_identifier();
        let (status, stopped) = stop_if_running(&self.clients, &identifier).await?;
        if status.is_none() {
            return Ok(false);
        }
        self.run.state.resources.job_status = status;
        if stopped {
            self.run.touch()?;
            self.run
                .log(None, "job-stopped", json!({ "job": identifier }))?;
        }
        Ok(stopped)
    }

    /// The job's ARN, or its name before the ARN is known (Bedrock accepts either).
    pub(super) fn job_identifier(&self) -> String {
        let resources = &self.run.state.resources;
        resources
            .job_arn
            .clone()
            .unwrap_or_else(|| resources.job_name.clone())
    }
}
