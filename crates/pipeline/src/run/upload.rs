//! Step `upload`: the buckets (created when missing and allowed) and the data files, under the run's prefix (the
//! training data in the target family's format: the file converted by `validate` when there is one).

use aws_sdk_s3::primitives::ByteStream;
use serde_json::json;

use super::{Pipeline, StepResult};
use crate::aws::Clients;
use crate::error::{PipelineError, Result};
use crate::journal::{Step, StepStatus};
use crate::naming::keys;

impl Pipeline {
    pub(super) async fn upload(&mut self) -> StepResult {
        if self.config.s3.create_buckets {
            for bucket in self.config.s3.buckets() {
                if ensure_bucket(&self.clients, bucket).await? {
                    self.run
                        .state
                        .resources
                        .buckets_created
                        .push(bucket.to_string());
                    self.run.log(
                        Some(Step::Upload),
                        "bucket-created",
                        json!({ "bucket": bucket }),
                    )?;
                }
            }
        }
        let mut data = self.config.data.clone();
        // The training data as the family takes it: converted by `validate` when its format differed.
        let converted = self.run.path(super::validate::CONVERTED_TRAINING);
        if converted.is_file() {
            data.training = converted;
        }
        let converted = self.run.path(super::validate::CONVERTED_JOB_VALIDATION);
        if data.job_validation.is_some() && converted.is_file() {
            data.job_validation = Some(converted);
        }
        let s3 = self.config.s3.clone();
        let mut uploads = vec![
            (
                "training",
                s3.training_bucket(),
                &data.training,
                keys::TRAINING,
            ),
            (
                "validation",
                s3.validation_bucket(),
                &data.validation,
                keys::VALIDATION,
            ),
            (
                "references",
                s3.validation_bucket(),
                &data.references,
                keys::REFERENCES,
            ),
        ];
        if let Some(path) = &data.job_validation {
            uploads.push((
                "job-validation",
                s3.training_bucket(),
                path,
                keys::JOB_VALIDATION,
            ));
        }
        for (role, bucket, path, name) in uploads {
            let bytes = crate::data::read_data(path, crate::training::MAX_TRAINING_BYTES)?;
            let key = s3.key(self.run_id(), name);
            put_object(&self.clients, bucket, &key, bytes, "application/json").await?;
            self.record_object(role, bucket, &key);
        }
        Ok((
            StepStatus::Finished,
            json!({ "objects": self.run.state.resources.objects }),
        ))
    }
}

/// Creates the bucket unless it exists; `true` when it was created.
async fn ensure_bucket(clients: &Clients, bucket: &str) -> Result<bool> {
    match clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(false),
        // HeadBucket has no body, so a missing bucket is a bare 404.
        Err(e)
            if e.as_service_error().is_some_and(|s| s.is_not_found())
                || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
        Err(e) => return Err(PipelineError::aws("s3", "HeadBucket", e)),
    }
    let mut request = clients.s3.create_bucket().bucket(bucket);
    if clients.region != "us-east-1" {
        let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                clients.region.as_str(),
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
        Err(e) => Err(PipelineError::aws("s3", "CreateBucket", e)),
    }
}

/// Writes one object.
pub(super) async fn put_object(
    clients: &Clients,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<()> {
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| PipelineError::aws("s3", "PutObject", e))?;
    Ok(())
}
