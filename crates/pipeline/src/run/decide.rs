//! Step `decide`: keep the serving (throughput or deployment) only when the custom model is significantly better
//! (and the config keeps winners), delete the custom model when asked; and the two other places that delete
//! billed resources: the failure handling and `cleanup`.

use serde_json::json;

use super::{Pipeline, StepResult};
use crate::error::{PipelineError, Result};
use crate::journal::{Step, StepStatus};
use crate::serving::ServingKind;

impl Pipeline {
    pub(super) async fn decide(&mut self) -> StepResult {
        let verdict = self
            .run
            .state
            .outcome
            .as_ref()
            .map(|o| o.verdict)
            .ok_or_else(|| PipelineError::Run("no outcome recorded".into()))?;
        let better = verdict == bertscore_compare::Verdict::Custom;
        let mut actions = Vec::new();
        let kind = self.run.state.resources.serving.kind;
        let what = match kind {
            ServingKind::Throughput => "throughput",
            ServingKind::Deployment => "deployment",
        };
        let keeps_winner = self.config.keep_serving_if_better(kind);
        self.aws.note(&format!(
            "verdict {verdict:?}: the {} is {}",
            kind.describe(),
            match (better, keeps_winner) {
                (true, true) => "kept (the custom model is better; keep_if_better = true)",
                (true, false) => "deleted (keep_if_better = false)",
                (false, true) => "deleted (it is kept only when the custom model is better)",
                (false, false) => "deleted",
            }
        ));
        if better && keeps_winner {
            actions.push(format!("{what} kept"));
        } else {
            self.delete_serving(Step::Decide).await?;
            actions.push(format!("{what} deleted"));
        }
        if !better && self.config.customization.delete_custom_model_if_not_better {
            self.delete_custom_model(Step::Decide).await?;
            actions.push("custom model deleted".to_string());
        }
        Ok((
            StepStatus::Finished,
            json!({ "verdict": verdict, "actions": actions }),
        ))
    }

    /// Whether the serving may exist and has not been deleted: its ARN is known, or a create call may have
    /// gone out.
    fn serving_may_exist(&self) -> bool {
        self.run.state.resources.serving.may_exist()
    }

    /// After a failure: deletes a serving that may exist (unless `decide` has finished: then a live serving is
    /// one the user chose to keep; a failed one is deleted too) and stops a running job, noting what was done or
    /// what `cleanup` must still do.
    pub(super) async fn release_after_failure(&mut self) {
        let cleanup_hint = format!("run `bertscore pipeline cleanup {}`", self.run_id());
        if self.serving_may_exist() && !self.run.state.finished(Step::Decide) {
            let step = self.failed_step().unwrap_or(Step::Report);
            let what = self.run.state.resources.serving.kind.describe();
            let note = match self.delete_serving(step).await {
                Ok(true) => Some(format!("the {what} was deleted after the failure")),
                Ok(false) => None,
                Err(e) => Some(format!(
                    "the {what} could NOT be deleted ({}); {cleanup_hint}",
                    e.describe()
                )),
            };
            self.run.state.notes.extend(note);
        }
        if self.run.state.resources.job_status.as_deref() == Some("InProgress") {
            let note = match self.stop_job().await {
                Ok(true) => Some("the customization job was stopped".to_string()),
                Ok(false) => None,
                Err(e) => Some(format!(
                    "the customization job could NOT be stopped ({}); {cleanup_hint}",
                    e.describe()
                )),
            };
            self.run.state.notes.extend(note);
        }
    }

    fn failed_step(&self) -> Option<Step> {
        self.run
            .state
            .steps
            .iter()
            .find(|(_, record)| record.status == StepStatus::Failed)
            .map(|(step, _)| *step)
    }

    /// Deletes every billed resource the run created: stops a running job, deletes the serving (throughput or
    /// deployment), and the custom model too when asked. Safe to repeat.
    pub async fn cleanup(&mut self, delete_custom_model: bool) -> Result<Vec<String>> {
        let mut actions = Vec::new();
        self.run.log(
            None,
            "cleanup-started",
            json!({ "delete_custom_model": delete_custom_model }),
        )?;
        // A sweep's candidates: running jobs stopped, servings deleted (models too when asked).
        actions.extend(self.cleanup_candidates(delete_custom_model).await?);
        if self.run.state.steps.contains_key(&Step::CreateJob) && self.stop_job().await? {
            actions.push(format!(
                "stopped customization job {}",
                self.job_identifier()
            ));
        }
        // The base model's batch inference job (run/batch.rs), if it may still be running.
        if self.stop_batch_job().await? {
            let job = self.run.state.resources.batch_job.as_ref();
            let name = job.map(|j| j.arn.clone().unwrap_or_else(|| j.name.clone()));
            actions.push(format!(
                "stopped batch inference job {}",
                name.unwrap_or_default()
            ));
        }
        if self.serving_may_exist() {
            let identifier = self.custom_model_id();
            if self.delete_serving(Step::Report).await? {
                let what = match self.run.state.resources.serving.kind {
                    ServingKind::Throughput => "provisioned throughput",
                    ServingKind::Deployment => "custom model deployment",
                };
                actions.push(format!("deleted {what} {identifier}"));
            }
        }
        if delete_custom_model && !self.run.state.resources.custom_model_deleted {
            let identifier = self.custom_model_identifier();
            if self.delete_custom_model(Step::Report).await? {
                actions.push(format!("deleted custom model {identifier}"));
            }
        }
        if actions.is_empty() {
            actions.push("nothing billed was left to delete".into());
        }
        self.run
            .state
            .notes
            .push(format!("cleanup: {}", actions.join("; ")));
        self.run.touch()?;
        self.run
            .log(None, "cleanup-finished", json!({ "actions": actions }))?;
        Ok(actions)
    }

    fn custom_model_identifier(&self) -> String {
        let resources = &self.run.state.resources;
        resources
            .custom_model_arn
            .clone()
            .unwrap_or_else(|| resources.custom_model_name.clone())
    }

    /// Deletes the custom model; `false` when it did not exist.
    async fn delete_custom_model(&mut self, step: Step) -> Result<bool> {
        let identifier = self.custom_model_identifier();
        let deleted = crate::serving::delete_custom_model(self.aws.as_ref(), &identifier).await?;
        self.run.state.resources.custom_model_deleted = true;
        self.run.touch()?;
        self.run.log(
            Some(step),
            "custom-model-deleted",
            json!({ "model": identifier, "existed": deleted }),
        )?;
        Ok(deleted)
    }
}
