//! Steps `create-throughput` and `wait-throughput`: the provisioned throughput that serves the custom model
//! (no commitment term: billed per hour, deletable at any time), journaled before the create call; and deleting
//! it.

use aws_sdk_bedrock::types::ProvisionedModelStatus;
use serde_json::json;

use super::poll::Poller;
use super::{Pipeline, StepResult};
use crate::error::{PipelineError, Result};
use crate::journal::{Step, StepStatus};
use crate::naming::throughput_token;

impl Pipeline {
    pub(super) async fn create_throughput(&mut self) -> StepResult {
        let resources = self.run.state.resources.clone();
        let model_arn = resources
            .custom_model_arn
            .clone()
            .ok_or_else(|| PipelineError::Run("no custom model ARN recorded".into()))?;
        let token = throughput_token(self.run_id(), resources.throughput_generation);
        self.run.log(
            Some(Step::CreateThroughput),
            "billed-resource-requested",
            json!({ "name": resources.throughput_name, "model_units": self.config.throughput.model_units, "client_request_token": token }),
        )?;
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
            .map_err(|e| PipelineError::aws("bedrock", "CreateProvisionedModelThroughput", e))?;
        let arn = response.provisioned_model_arn().to_string();
        self.run.state.resources.throughput_arn = Some(arn.clone());
        self.run.state.resources.throughput_status = Some("Creating".into());
        self.run.touch()?;
        Ok((
            StepStatus::Finished,
            json!({ "provisioned_model_arn": arn }),
        ))
    }

    pub(super) async fn wait_throughput(&mut self) -> StepResult {
        let identifier = self.throughput_identifier();
        let mut poller = Poller::new(
            &self.config.polling,
            self.config.polling.throughput_timeout_s,
        );
        loop {
            let pt = self
                .clients
                .bedrock
                .get_provisioned_model_throughput()
                .provisioned_model_id(&identifier)
                .send()
                .await
                .map_err(|e| PipelineError::aws("bedrock", "GetProvisionedModelThroughput", e))?;
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
            poller
                .wait(|| format!("provisioned throughput {identifier} (status {status})"))
                .await?;
        }
    }

    /// Deletes the throughput (by ARN, or by name when the ARN was never recorded); `false` when it did not
    /// exist.
    pub(super) async fn delete_throughput(&mut self, step: Step) -> Result<bool> {
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
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => {
                return Err(PipelineError::aws(
                    "bedrock",
                    "DeleteProvisionedModelThroughput",
                    e,
                ));
            }
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

    /// The throughput's ARN, or its name before the ARN is known (Bedrock accepts either).
    pub(super) fn throughput_identifier(&self) -> String {
        let resources = &self.run.state.resources;
        resources
            .throughput_arn
            .clone()
            .unwrap_or_else(|| resources.throughput_name.clone())
    }
}
