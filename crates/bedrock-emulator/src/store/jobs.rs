//! Model customization jobs (`InProgress` → `Completed`/`Failed` after
//! [`crate::EmulatorConfig::job_duration`]; a candidate rule or `fail_next_job` fails one) and
//! the custom models completed jobs produce.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use super::{
    ACCOUNT, Job, JobStatus, REGION, Store, copy_present, foundation_model_arn,
    foundation_model_id, hyper_parameters, required_str, required_value,
};
use crate::candidates::{self, CandidateOutcome};
use crate::families;
use crate::wire::{ApiError, rfc3339};

impl Store {
    // ---- customization jobs ----

    /// CreateModelCustomizationJob → `{jobArn}`. A repeated `clientRequestToken` returns the
    /// job it created first. `region` is the request's (from its signature): the base model must be
    /// customizable there, as the catalog says.
    pub fn create_job(&mut self, body: &Value, region: &str) -> Result<Value, ApiError> {
        let token = body
            .get("clientRequestToken")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(token) = &token
            && let Some(job) = self.jobs.iter().find(|j| j.token.as_ref() == Some(token))
        {
            return Ok(json!({ "jobArn": job.arn }));
        }
        let name = required_str(body, "jobName")?.to_owned();
        let custom_model_name = required_str(body, "customModelName")?.to_owned();
        required_str(body, "roleArn")?;
        let base_model_identifier = required_str(body, "baseModelIdentifier")?.to_owned();
        required_value(body, "trainingDataConfig")?;
        required_value(body, "outputDataConfig")?;
        if self.jobs.iter().any(|j| j.name == name) {
            return Err(ApiError::conflict(format!(
                "A model customization job named {name} already exists."
            )));
        }
        let name_taken = self
            .models
            .iter()
            .any(|m| !m.deleted && m.name == custom_model_name)
            || self.jobs.iter().any(|j| {
                j.status == JobStatus::InProgress && j.custom_model_name == custom_model_name
            });
        if name_taken {
            return Err(ApiError::conflict(format!(
                "A custom model named {custom_model_name} already exists."
            )));
        }
        let base_model_id = foundation_model_id(&base_model_identifier).to_owned();
        let hyper_parameters = hyper_parameters(body)?;
        self.check_customization(&base_model_id, body, region, &hyper_parameters)?;
        let id = self.new_id();
        let arn = format!(
            "arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/{base_model_id}/{id}"
        );
        let mut fails = std::mem::take(&mut self.config.faults.fail_next_job).then(|| {
            format!("Training failed (injected fault): the emulator was told to fail job {name}.")
        });
        let mut good_fraction = None;
        if let Some(rule) = candidates::decide(&self.config.candidate_rules, &hyper_parameters) {
            match rule.outcome {
                CandidateOutcome::Fail => {
                    fails.get_or_insert_with(|| {
                        format!(
                            "Training failed: the emulator's candidate rule {:?} fails jobs with these hyper-parameters.",
                            rule.when
                        )
                    });
                }
                CandidateOutcome::GoodFraction(f) => good_fraction = Some(f),
            }
        }
        self.jobs.push(Job {
            arn: arn.clone(),
            name,
            token,
            base_model_identifier,
            base_model_id,
            custom_model_name,
            request: body.clone(),
            created: SystemTime::now(),
            started: Instant::now(),
            duration: self.config.job_duration,
            fails,
            hyper_parameters,
            good_fraction,
            status: JobStatus::InProgress,
            end_time: None,
            failure_message: None,
            output_model_arn: None,
        });
        Ok(json!({ "jobArn": arn }))
    }

    /// The catalog's rules for a customization job: a known base model given by its customization id, not end
    /// of life, customizable in `region` with the requested type, and every hyper-parameter known and in range.
    fn check_customization(
        &self,
        base_model_id: &str,
        body: &Value,
        region: &str,
        hyper_parameters: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        let model = families::model_of(base_model_id)?;
        self.check_served(model)?;
        if model.customize_id != base_model_id {
            return Err(ApiError::validation(format!(
                "The base model {base_model_id} does not support fine-tuning; use {} ({}).",
                model.customize_id, model.name
            )));
        }
        let kind = customization_type(body);
        let kind = bedrock_catalog::CustomizationType::parse(kind)
            .ok_or_else(|| ApiError::validation(format!("Unknown customizationType {kind}.")))?;
        if !model.can_customize(region, kind) {
            return Err(ApiError::validation(format!(
                "{} customization of {base_model_id} is not supported in {region} (supported: {}).",
                kind.as_str(),
                model.customization.regions.join(", ")
            )));
        }
        model
            .check_hyper_parameters(
                hyper_parameters
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .map_err(|why| ApiError::validation(format!("Invalid hyperParameters: {why}.")))
    }

    /// The ARN of the job an earlier create with this request's `clientRequestToken` made.
    pub fn job_for_token(&self, body: &Value) -> Option<String> {
        let token = body.get("clientRequestToken").and_then(Value::as_str)?;
        self.jobs
            .iter()
            .find(|j| j.token.as_deref() == Some(token))
            .map(|j| j.arn.clone())
    }

    fn find_job(&self, identifier: &str) -> Result<&Job, ApiError> {
        self.jobs
            .iter()
            .find(|j| j.arn == identifier || j.name == identifier)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Could not find model customization job {identifier}."
                ))
            })
    }

    pub fn get_job(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        let job = self.find_job(identifier)?;
        let mut out = json!({
            "jobArn": job.arn,
            "jobName": job.name,
            "outputModelName": job.custom_model_name,
            "status": job.status.as_str(),
            "creationTime": rfc3339(job.created),
            "lastModifiedTime": rfc3339(job.end_time.unwrap_or(job.created)),
            "baseModelArn": foundation_model_arn(&job.base_model_id),
            "customizationType": customization_type(&job.request),
        });
        copy_present(
            &mut out,
            &job.request,
            &[
                "roleArn",
                "hyperParameters",
                "trainingDataConfig",
                "validationDataConfig",
                "outputDataConfig",
                "clientRequestToken",
                "vpcConfig",
            ],
        );
        if let Some(end) = job.end_time {
            out["endTime"] = json!(rfc3339(end));
        }
        if let Some(message) = &job.failure_message {
            out["failureMessage"] = json!(message);
        }
        if let Some(model_arn) = &job.output_model_arn {
            out["outputModelArn"] = json!(model_arn);
            out["trainingMetrics"] = json!({ "trainingLoss": 0.5 });
        }
        Ok(out)
    }

    /// ListModelCustomizationJobs, newest first; filters `statusEquals` and `nameContains`.
    pub fn list_jobs(&mut self, query: &BTreeMap<String, String>) -> Result<Value, ApiError> {
        self.advance();
        let summaries: Vec<Value> = self
            .jobs
            .iter()
            .rev()
            .filter(|j| {
                query
                    .get("statusEquals")
                    .is_none_or(|s| s == j.status.as_str())
            })
            .filter(|j| {
                query
                    .get("nameContains")
                    .is_none_or(|s| j.name.contains(s.as_str()))
            })
            .map(|j| {
                let mut s = json!({
                    "jobArn": j.arn,
                    "jobName": j.name,
                    "baseModelArn": foundation_model_arn(&j.base_model_id),
                    "status": j.status.as_str(),
                    "creationTime": rfc3339(j.created),
                    "customModelName": j.custom_model_name,
                });
                if let Some(end) = j.end_time {
                    s["endTime"] = json!(rfc3339(end));
                    s["lastModifiedTime"] = json!(rfc3339(end));
                }
                if let Some(arn) = &j.output_model_arn {
                    s["customModelArn"] = json!(arn);
                }
                s
            })
            .collect();
        Ok(json!({ "modelCustomizationJobSummaries": summaries }))
    }

    pub fn stop_job(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        let index = self
            .jobs
            .iter()
            .position(|j| j.arn == identifier || j.name == identifier)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Could not find model customization job {identifier}."
                ))
            })?;
        let job = &mut self.jobs[index];
        if job.status != JobStatus::InProgress {
            return Err(ApiError::conflict(format!(
                "Job {} cannot be stopped: its status is {}.",
                job.name,
                job.status.as_str()
            )));
        }
        job.status = JobStatus::Stopped;
        job.end_time = Some(SystemTime::now());
        Ok(json!({}))
    }

    // ---- custom models ----

    pub(super) fn find_model_index(&self, identifier: &str) -> Result<usize, ApiError> {
        self.models
            .iter()
            .position(|m| !m.deleted && (m.arn == identifier || m.name == identifier))
            .ok_or_else(|| {
                ApiError::not_found(format!("Could not find custom model {identifier}."))
            })
    }

    pub fn get_custom_model(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        let model = &self.models[self.find_model_index(identifier)?];
        let mut out = json!({
            "modelArn": model.arn,
            "modelName": model.name,
            "jobName": model.job_name,
            "jobArn": model.job_arn,
            "baseModelArn": foundation_model_arn(&model.base_model_id),
            "creationTime": rfc3339(model.created),
            "modelStatus": "Active",
            "customizationType": customization_type(&model.request),
        });
        copy_present(
            &mut out,
            &model.request,
            &[
                "hyperParameters",
                "trainingDataConfig",
                "validationDataConfig",
                "outputDataConfig",
            ],
        );
        Ok(out)
    }

    /// DeleteCustomModel; refused (409) while a provisioned throughput still serves the model.
    pub fn delete_custom_model(&mut self, identifier: &str) -> Result<Value, ApiError> {
        self.advance();
        let index = self.find_model_index(identifier)?;
        let arn = self.models[index].arn.clone();
        if let Some(pt) = self.pts.iter().find(|p| !p.deleted && p.model_arn == arn) {
            return Err(ApiError::conflict(format!(
                "Custom model {arn} is in use by provisioned throughput {}; delete it first.",
                pt.arn
            )));
        }
        if let Some(arn_in_use) = self.live_deployment_of(&arn) {
            return Err(ApiError::conflict(format!(
                "Custom model {arn} is in use by custom model deployment {arn_in_use}; delete it first."
            )));
        }
        self.models[index].deleted = true;
        Ok(json!({}))
    }

    /// ListCustomModels (no filters), newest first.
    pub fn list_custom_models(&mut self) -> Result<Value, ApiError> {
        self.advance();
        let summaries: Vec<Value> = self
            .models
            .iter()
            .rev()
            .filter(|m| !m.deleted)
            .map(|m| {
                json!({
                    "modelArn": m.arn,
                    "modelName": m.name,
                    "creationTime": rfc3339(m.created),
                    "baseModelArn": foundation_model_arn(&m.base_model_id),
                    "baseModelName": m.base_model_id,
                    "customizationType": "FINE_TUNING",
                    "modelStatus": "Active",
                })
            })
            .collect();
        Ok(json!({ "modelSummaries": summaries }))
    }
}

/// A create request's `customizationType` (`FINE_TUNING` when not given).
fn customization_type(request: &Value) -> &str {
    request
        .get("customizationType")
        .and_then(Value::as_str)
        .unwrap_or("FINE_TUNING")
}
