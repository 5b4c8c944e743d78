//! Steps `notify` and `report`: the outcome email (SESv2) and the report (local and S3), both rendered from one
//! [`Report`], so they never disagree; and the failure email.

use serde_json::json;

use super::{Pipeline, REPORT_FILE, StepResult, report_bytes};
use crate::aws::{Aws, Email};
use crate::config::NotifyConfig;
use crate::error::Result;
use crate::journal::{RunStatus, StepStatus, now_rfc3339};
use crate::naming::keys;
use crate::report::{Disposition, Report};
use crate::serving::ServingKind;

impl Pipeline {
    pub(super) async fn notify(&mut self) -> StepResult {
        let Some(notify) = self.config.notify.clone() else {
            return Ok((
                StepStatus::Skipped,
                json!({ "reason": "no [notify] section" }),
            ));
        };
        // Decide has finished: the evaluation succeeded, whatever happens to the email.
        let report = self.report_as(RunStatus::Succeeded);
        let message_id = send_email(self.aws.as_ref(), &notify, &report).await?;
        self.run.state.resources.email_message_id = Some(message_id.clone());
        Ok((
            StepStatus::Finished,
            json!({ "message_id": message_id, "to": notify.to }),
        ))
    }

    pub(super) async fn write_report(&mut self) -> StepResult {
        // The report describes the finished run.
        self.run.state.status = RunStatus::Succeeded;
        let report = self.save_report().await?;
        Ok((
            StepStatus::Finished,
            json!({ "report": report.objects.get("report") }),
        ))
    }

    /// Emails the failure (best effort: a failure to send is logged, not raised over the first error).
    pub(super) async fn email_failure(&mut self) {
        let Some(notify) = self.config.notify.clone() else {
            return;
        };
        let report = self.report();
        match send_email(self.aws.as_ref(), &notify, &report).await {
            Ok(id) => {
                let _ = self
                    .run
                    .log(None, "failure-email-sent", json!({ "message_id": id }));
            }
            Err(e) => {
                tracing::warn!("could not send the failure email: {}", e.describe());
                let _ = self.run.log(
                    None,
                    "failure-email-failed",
                    json!({ "error": e.describe() }),
                );
            }
        }
    }

    pub(super) fn report_as(&self, status: RunStatus) -> Report {
        let state = &self.run.state;
        let resources = &state.resources;
        let serving = &resources.serving;
        let serving_disposition = if serving.deleted {
            Disposition::Deleted
        } else if serving.arn.is_none() {
            Disposition::None
        } else if status == RunStatus::Succeeded {
            Disposition::Kept
        } else {
            Disposition::NeedsCleanup
        };
        let (throughput, deployment) = match serving.kind {
            ServingKind::Throughput => (serving_disposition, Disposition::None),
            ServingKind::Deployment => (Disposition::None, serving_disposition),
        };
        let arn_of = |kind: ServingKind| serving.arn.clone().filter(|_| serving.kind == kind);
        let custom_model = if resources.custom_model_arn.is_none() {
            Disposition::None
        } else if resources.custom_model_deleted {
            Disposition::Deleted
        } else {
            Disposition::Kept
        };
        let failures = self
            .outputs()
            .map(|(base, custom)| super::infer::failures(&base, &custom))
            .unwrap_or_default();
        let failed_step = state
            .steps
            .iter()
            .find(|(_, record)| record.status == StepStatus::Failed)
            .map(|(step, _)| step.name().to_string());
        Report {
            run_id: state.run_id.clone(),
            status,
            created_at: state.created_at.clone(),
            finished_at: now_rfc3339(),
            base_model_id: self.config.customization.base_model_id.clone(),
            inference_model_id: self.config.customization.inference_model_id(),
            adapter: self.config.customization.adapter().name().to_string(),
            job_name: resources.job_name.clone(),
            job_arn: resources.job_arn.clone(),
            job_status: resources.job_status.clone(),
            job_failure: resources.job_failure.clone(),
            custom_model_name: resources.custom_model_name.clone(),
            custom_model_arn: resources.custom_model_arn.clone(),
            custom_model,
            throughput_arn: arn_of(ServingKind::Throughput),
            throughput,
            serving: serving.kind,
            deployment_arn: arn_of(ServingKind::Deployment),
            deployment,
            endpoint: state.endpoint.clone(),
            outcome: state.outcome.clone(),
            failures,
            failed_step: if status == RunStatus::Failed {
                failed_step
            } else {
                None
            },
            error: state.error.clone(),
            notes: state.notes.clone(),
            objects: resources.objects.clone(),
            sweep: state.sweep.as_ref().and_then(|sweep| sweep.result.clone()),
            batch_job: resources.batch_job.clone(),
        }
    }

    /// Writes the report to S3 and to the run directory.
    pub(super) async fn save_report(&mut self) -> Result<Report> {
        let bucket = self.config.s3.inference_bucket().to_string();
        let key = self.config.s3.key(self.run_id(), keys::REPORT);
        self.record_object("report", &bucket, &key);
        let report = self.report();
        let bytes = report_bytes(&report);
        self.run.write_file(REPORT_FILE, &bytes)?;
        let uploaded = self
            .aws
            .put_object(&bucket, &key, bytes, "application/json")
            .await;
        if uploaded.is_err() {
            self.run.state.resources.objects.remove("report");
        }
        self.run.touch()?;
        uploaded?;
        Ok(report)
    }
}

/// Sends the report as an email (text and HTML); returns the SES message id.
async fn send_email(aws: &dyn Aws, notify: &NotifyConfig, report: &Report) -> Result<String> {
    if notify.create_sender_identity {
        ensure_sender_identity(aws, &notify.from).await?;
    }
    let email = report.email(&notify.subject_prefix);
    aws.send_email(&Email {
        from: notify.from.clone(),
        to: notify.to.clone(),
        subject: email.subject,
        text: email.text,
        html: email.html,
    })
    .await
}

/// Creates the sender's SES identity unless it exists.
async fn ensure_sender_identity(aws: &dyn Aws, from: &str) -> Result<()> {
    match aws.email_identity_verified(from).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => aws.create_email_identity(from).await,
        Err(e) => Err(e),
    }
}
