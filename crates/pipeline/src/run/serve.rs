//! Steps `create-throughput`/`wait-throughput` or `create-deployment`/`wait-deployment`: what serves the custom
//! model for the evaluation (see [`crate::serving`]): a provisioned throughput (no commitment term: billed per
//! hour, deletable at any time) or an on-demand custom model deployment (billed per token, nothing while idle),
//! named in the state before the create call; and deleting it.

use serde_json::json;

use super::{Pipeline, StepResult};
use crate::error::{PipelineError, Result};
use crate::journal::{Step, StepStatus};
use crate::serving::{self, ServingKind, ServingRecord};

impl Pipeline {
    pub(super) async fn create_serving(&mut self, step: Step) -> StepResult {
        let model_arn = self
            .run
            .state
            .resources
            .custom_model_arn
            .clone()
            .ok_or_else(|| PipelineError::Run("no custom model ARN recorded".into()))?;
        let mut record = self.run.state.resources.serving.clone();
        let token = record.token(self.run_id());
        let mut requested = json!({
            "kind": record.kind,
            "name": record.name,
            "client_request_token": token,
        });
        if record.kind == ServingKind::Throughput {
            requested["model_units"] = json!(self.config.throughput.model_units);
        }
        self.run
            .log(Some(step), "billed-resource-requested", requested)?;
        self.aws.note(&format!(
            "the custom model is served by {} ({}): {}",
            record.kind.describe(),
            record.kind.billing(),
            self.config.serving_reason()
        ));
        let run = &mut self.run;
        serving::create(
            self.aws.as_ref(),
            &self.config,
            &mut record,
            &model_arn,
            &token,
            &mut |r: &ServingRecord| {
                run.state.resources.serving = r.clone();
                run.touch()
            },
        )
        .await?;
        let arn = record.arn.clone().unwrap_or_default();
        let detail = match record.kind {
            ServingKind::Throughput => json!({ "provisioned_model_arn": arn }),
            ServingKind::Deployment => json!({ "custom_model_deployment_arn": arn }),
        };
        Ok((StepStatus::Finished, detail))
    }

    pub(super) async fn wait_serving(&mut self) -> StepResult {
        let mut record = self.run.state.resources.serving.clone();
        let run = &mut self.run;
        serving::wait(self.aws.as_ref(), &self.config, &mut record, &mut |r| {
            run.state.resources.serving = r.clone();
            run.touch()
        })
        .await?;
        Ok((StepStatus::Finished, json!({ "status": record.status })))
    }

    /// Deletes the serving (by ARN, or by name when the ARN was never recorded); `false` when it did not exist.
    pub(super) async fn delete_serving(&mut self, step: Step) -> Result<bool> {
        let mut record = self.run.state.resources.serving.clone();
        let identifier = record.identifier().to_string();
        let run = &mut self.run;
        let existed = serving::delete(self.aws.as_ref(), &mut record, &mut |r| {
            run.state.resources.serving = r.clone();
            run.touch()
        })
        .await?;
        let key = match record.kind {
            ServingKind::Throughput => "provisioned_model",
            ServingKind::Deployment => "custom_model_deployment",
        };
        self.run.log(
            Some(step),
            serving::deletion_event(existed),
            json!({ key: identifier }),
        )?;
        Ok(existed)
    }

    /// The model id the custom model is invoked with: its serving's ARN (deployment or throughput), or its name
    /// before the ARN is known (Bedrock accepts either).
    pub(super) fn custom_model_id(&self) -> String {
        self.run.state.resources.serving.identifier().to_string()
    }
}
