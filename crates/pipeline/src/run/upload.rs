//! Step `upload`: the buckets (created when missing and allowed) and the data files, under the run's prefix (the
//! training data in the target family's format: the file converted by `validate` when there is one).

use serde_json::json;

use super::{Pipeline, StepResult};
use crate::aws::Aws;
use crate::error::Result;
use crate::journal::{Step, StepStatus};
use crate::naming::keys;

impl Pipeline {
    pub(super) async fn upload(&mut self) -> StepResult {
        if self.config.s3.create_buckets {
            for bucket in self.config.s3.buckets() {
                if ensure_bucket(self.aws.as_ref(), bucket).await? {
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
            self.aws
                .put_object(bucket, &key, bytes, "application/json")
                .await?;
            self.record_object(role, bucket, &key);
        }
        Ok((
            StepStatus::Finished,
            json!({ "objects": self.run.state.resources.objects }),
        ))
    }
}

/// Creates the bucket unless it exists; `true` when it was created.
async fn ensure_bucket(aws: &dyn Aws, bucket: &str) -> Result<bool> {
    match aws.head_bucket(bucket).await {
        Ok(_) => Ok(false),
        // HeadBucket has no body, so a missing bucket is a bare 404.
        Err(e) if e.is_not_found() => aws.create_bucket(bucket).await,
        Err(e) => Err(e),
    }
}
