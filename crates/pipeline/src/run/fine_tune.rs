//! Steps `create-job` and `wait-job`: the model customization job, created once (its client request token is
//! derived from the run id) and waited for; and stopping it when a run fails or is cleaned up.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Pipeline, StepResult};
use crate::aws::{Aws, CustomizationJob};
use crate::config::PipelineConfig;
use crate::error::{PipelineError, Result};
use crate::journal::StepStatus;
use crate::naming::{job_token, keys};
use crate::poll::Poller;

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
/// data (`objects`: role → URI); returns the job's ARN. A refused request keeps its error code, so a caller can
/// tell a ValidationException from an outage.
pub(super) async fn send_job(
    aws: &dyn Aws,
    config: &PipelineConfig,
    objects: &BTreeMap<String, String>,
    job: &JobRequest<'_>,
) -> Result<String> {
    let customization = &config.customization;
    let training = objects
        .get("training")
        .ok_or_else(|| PipelineError::Run("the training data was not uploaded".into()))?;
    aws.create_customization_job(&CustomizationJob {
        job_name: job.job_name.to_string(),
        custom_model_name: job.custom_model_name.to_string(),
        role_arn: customization.role_arn.clone(),
        base_model_id: customization.base_model_id.clone(),
        customization_type: customization.customization_type.clone(),
        training_uri: training.clone(),
        validation_uri: objects.get("job-validation").cloned(),
        output_uri: job.output_uri.clone(),
        hyper_parameters: job.hyper_parameters.clone(),
        client_request_token: job.client_request_token.clone(),
    })
    .await
}

/// Stops the job `identifier` if it is still running. Returns its status as last seen (`None`: no such job) and
/// whether it was stopped.
pub(super) async fn stop_if_running(
    aws: &dyn Aws,
    identifier: &str,
) -> Result<(Option<String>, bool)> {
    let Some(job) = PipelineError::unless_not_found(aws.customization_job(identifier).await)?
    else {
        return Ok((None, false));
    };
    if job.status != "InProgress" {
        return Ok((Some(job.status), false));
    }
    aws.stop_customization_job(identifier).await?;
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
        let arn = send_job(self.aws.as_ref(), &self.config, &resources.objects, &job).await?;
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
        let mut poller = Poller::new(
            self.aws.as_ref(),
            &self.config.polling,
            self.config.polling.job_timeout_s,
        );
        loop {
            let job = self.aws.customization_job(&identifier).await?;
            let resources = &mut self.run.state.resources;
            if resources.job_status.as_deref() != Some(job.status.as_str())
                || resources.job_arn.is_none()
            {
                resources.job_status = Some(job.status.clone());
                resources.job_arn = Some(job.arn.clone());
                self.run.touch()?;
            }
            match job.status.as_str() {
                "Completed" => {
                    let model_arn = job.output_model_arn.ok_or_else(|| {
                        PipelineError::Resource(format!(
                            "job {identifier} completed without an output model ARN"
                        ))
                    })?;
                    self.run.state.resources.custom_model_arn = Some(model_arn.clone());
                    self.run.touch()?;
                    return Ok((
                        StepStatus::Finished,
                        json!({ "status": job.status, "custom_model_arn": model_arn }),
                    ));
                }
                "Failed" | "Stopped" => {
                    let message = job
                        .failure
                        .unwrap_or_else(|| "no failure message".to_string());
                    self.run.state.resources.job_failure = Some(message.clone());
                    self.run.touch()?;
                    return Err(PipelineError::Resource(format!(
                        "customization job {} ended {}: {message}",
                        self.run.state.resources.job_name, job.status
                    )));
                }
                _ => {}
            }
            poller
                .wait(|| format!("customization job {identifier} (status {})", job.status))
                .await?;
        }
    }

    /// Stops the job if it is still running; `false` when there was nothing to stop.
    pub(super) async fn stop_job(&mut self) -> Result<bool> {
        let identifier = self.job_identifier();
        let (status, stopped) = stop_if_running(self.aws.as_ref(), &identifier).await?;
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
