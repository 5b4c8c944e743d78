//! A serving's life on AWS, through the [`Aws`] port: created once per client token, waited for, deleted.
//! Each function hands the [`ServingRecord`] to a `save` callback after every change, so the caller's state on
//! disk is never behind AWS.

use super::{ServingKind, ServingRecord};
use crate::aws::{Aws, ServingRequest};
use crate::config::PipelineConfig;
use crate::error::{PipelineError, Result};
use crate::poll::Poller;

/// Sends the create call for `record` (not created yet) serving the custom model `model_arn`, with the client
/// request token `token`. `save` gets the record with `requested` set before the call and with its ARN after
/// it. A repeated call with the same token answers the same serving.
pub async fn create(
    aws: &dyn Aws,
    config: &PipelineConfig,
    record: &mut ServingRecord,
    model_arn: &str,
    token: &str,
    save: &mut (dyn FnMut(&ServingRecord) -> Result<()> + Send),
) -> Result<()> {
    record.requested = true;
    record.deleted = false;
    save(record)?;
    let arn = aws
        .create_serving(&ServingRequest {
            kind: record.kind,
            name: record.name.clone(),
            model_arn: model_arn.to_string(),
            model_units: config.throughput.model_units,
            client_request_token: token.to_string(),
        })
        .await?;
    record.arn = Some(arn);
    record.status = Some("Creating".into());
    save(record)
}

/// Polls `record` until it serves (`InService` / `Active`), with the poller of `[polling]` (backoff with
/// jitter; `throughput_timeout_s` or `deployment_timeout_s`). `save` gets the record on every status change
/// (and its ARN, when only the name was known). `Failed` is a [`PipelineError::Resource`] naming the serving
/// and Bedrock's failure message, recorded in `failure`.
pub async fn wait(
    aws: &dyn Aws,
    config: &PipelineConfig,
    record: &mut ServingRecord,
    save: &mut (dyn FnMut(&ServingRecord) -> Result<()> + Send),
) -> Result<()> {
    let timeout_s = match record.kind {
        ServingKind::Throughput => config.polling.throughput_timeout_s,
        ServingKind::Deployment => config.polling.deployment_timeout_s,
    };
    let mut poller = Poller::new(aws, &config.polling, timeout_s);
    loop {
        let identifier = record.identifier().to_string();
        let seen = aws.serving(record.kind, &identifier).await?;
        if record.status.as_deref() != Some(seen.status.as_str()) || record.arn.is_none() {
            record.status = Some(seen.status.clone());
            record.arn = Some(seen.arn.clone());
            save(record)?;
        }
        if seen.status == record.kind.ready_status() {
            return Ok(());
        }
        if seen.status == "Failed" {
            let message = seen
                .failure
                .unwrap_or_else(|| "no failure message".to_string());
            record.failure = Some(message.clone());
            save(record)?;
            return Err(PipelineError::Resource(format!(
                "{} {identifier} failed: {message}",
                record.kind.describe()
            )));
        }
        poller
            .wait(|| {
                format!(
                    "{} {identifier} (status {})",
                    record.kind.describe(),
                    seen.status
                )
            })
            .await?;
    }
}

/// Deletes `record`'s serving (by ARN, or by name when the ARN was never recorded); `false` when it did not
/// exist. `save` gets the record marked deleted (when it existed or its ARN was known).
pub async fn delete(
    aws: &dyn Aws,
    record: &mut ServingRecord,
    save: &mut (dyn FnMut(&ServingRecord) -> Result<()> + Send),
) -> Result<bool> {
    let identifier = record.identifier().to_string();
    // Not found: never created (the create call failed or never went out) or already deleted.
    let existed =
        PipelineError::unless_not_found(aws.delete_serving(record.kind, &identifier).await)?
            .is_some();
    if existed || record.arn.is_some() {
        record.deleted = true;
    }
    save(record)?;
    Ok(existed)
}

/// Deletes the custom model `identifier` (name or ARN; after its serving); `false` when it did not exist.
pub(crate) async fn delete_custom_model(aws: &dyn Aws, identifier: &str) -> Result<bool> {
    let deleted = PipelineError::unless_not_found(aws.delete_custom_model(identifier).await)?;
    Ok(deleted.is_some())
}

/// The journal event of a serving's deletion: [`delete`] found it (`existed`) or not.
pub(crate) fn deletion_event(existed: bool) -> &'static str {
    if existed {
        "billed-resource-deleted"
    } else {
        "billed-resource-absent"
    }
}
