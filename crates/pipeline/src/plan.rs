//! `pipeline plan`: every AWS call a run would make, in order, worked out from the config and the local data
//! alone, after the same checks as the run's `validate` step (config, data, scoring model resolved and loaded).
//! Creates nothing and makes no AWS call (it builds no client).

use std::fmt;

use serde::Serialize;

use crate::config::PipelineConfig;
use crate::data;
use crate::error::Result;
use crate::naming::{ResourceNames, job_token, keys, throughput_token};

/// One call a run would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedCall {
    /// `s3`, `bedrock`, `bedrock-runtime`, `sesv2`, or `local` for work that calls nothing.
    pub service: String,
    /// The API operation.
    pub operation: String,
    /// What the call would send.
    pub detail: String,
    /// When the call happens only under a condition (e.g. "if the verdict is not custom").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

impl fmt::Display for PlannedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<16} {:<36} {}",
            self.service, self.operation, self.detail
        )?;
        if let Some(condition) = &self.condition {
            write!(f, "  [{condition}]")?;
        }
        Ok(())
    }
}

/// The calls of a run with id `run_id` (a placeholder is fine). Checks everything first, as the run's `validate`
/// step does: the config (`origin` names it in errors), the local data, and the scoring model, which is
/// resolved and loaded (blocking; seconds).
pub fn plan(config: &PipelineConfig, run_id: &str) -> Result<Vec<PlannedCall>> {
    config.validate(std::path::Path::new("config"))?;
    let training = data::validate_training_data(&config.data.training)?;
    if let Some(path) = &config.data.job_validation {
        data::validate_training_data(path)?;
    }
    let items = data::load_eval_items(&config.data.validation, &config.data.references)?;
    let references = items
        .iter()
        .flat_map(|item| item.references.iter().cloned())
        .collect();
    let scorer = crate::run::load_scorer(&config.scoring, references)?;
    let names = ResourceNames::of(config, run_id);
    let mut calls = Vec::new();
    let mut add = |service: &str, operation: &str, detail: String, condition: Option<&str>| {
        calls.push(PlannedCall {
            service: service.into(),
            operation: operation.into(),
            detail,
            condition: condition.map(str::to_string),
        })
    };
    add(
        "local",
        "validate",
        format!(
            "{} training records ({}), {} evaluation items",
            training.records,
            config.data.training.display(),
            items.len()
        ),
        None,
    );
    let s3 = &config.s3;
    if s3.create_buckets {
        for bucket in s3.buckets() {
            add("s3", "HeadBucket", format!("bucket={bucket}"), None);
            add(
                "s3",
                "CreateBucket",
                format!("bucket={bucket}"),
                Some("if the bucket is missing"),
            );
        }
    }
    let training_uri = format!(
        "s3://{}/{}",
        s3.training_bucket(),
        s3.key(run_id, keys::TRAINING)
    );
    add("s3", "PutObject", training_uri.clone(), None);
    if config.data.job_validation.is_some() {
        add(
            "s3",
            "PutObject",
            format!(
                "s3://{}/{}",
                s3.training_bucket(),
                s3.key(run_id, keys::JOB_VALIDATION)
            ),
            None,
        );
    }
    for name in [keys::VALIDATION, keys::REFERENCES] {
        add(
            "s3",
            "PutObject",
            format!("s3://{}/{}", s3.validation_bucket(), s3.key(run_id, name)),
            None,
        );
    }
    let customization = &config.customization;
    let (job_name, model_name) = (&names.job, &names.custom_model);
    let hyper: Vec<String> = customization
        .hyper_parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    add(
        "bedrock",
        "CreateModelCustomizationJob",
        format!(
            "jobName={job_name} customModelName={model_name} baseModelIdentifier={} customizationType={} roleArn={} \
             trainingDataConfig.s3Uri={training_uri} outputDataConfig.s3Uri=s3://{}/{} hyperParameters={{{}}} \
             clientRequestToken={}",
            customization.base_model_id,
            customization.customization_type,
            customization.role_arn,
            s3.output_bucket(),
            s3.key(run_id, keys::JOB_OUTPUT),
            hyper.join(", "),
            job_token(run_id)
        ),
        None,
    );
    let polling = &config.polling;
    add(
        "bedrock",
        "GetModelCustomizationJob",
        format!(
            "repeated until Completed/Failed/Stopped: every {}-{} s with jitter, at most {} s",
            polling.initial_s, polling.max_s, polling.job_timeout_s
        ),
        None,
    );
    let throughput_name = &names.throughput;
    add(
        "bedrock",
        "CreateProvisionedModelThroughput",
        format!(
            "provisionedModelName={throughput_name} modelId=<custom model ARN> modelUnits={} commitment=none \
             clientRequestToken={}  (BILLED HOURLY until deleted)",
            config.throughput.model_units,
            throughput_token(run_id, 0)
        ),
        None,
    );
    add(
        "bedrock",
        "GetProvisionedModelThroughput",
        format!(
            "repeated until InService/Failed: every {}-{} s with jitter, at most {} s",
            polling.initial_s, polling.max_s, polling.throughput_timeout_s
        ),
        None,
    );
    let adapter = customization.adapter();
    let operation = if adapter == crate::adapter::AdapterKind::Converse {
        "Converse"
    } else {
        "InvokeModel"
    };
    let inference = &config.inference;
    add(
        "bedrock-runtime",
        operation,
        format!(
            "{} x modelId={} (adapter {}), {} at a time, up to {} attempts each",
            items.len(),
            customization.inference_model_id(),
            adapter.name(),
            inference.concurrency,
            inference.max_attempts
        ),
        None,
    );
    add(
        "bedrock-runtime",
        operation,
        format!(
            "{} x modelId=<provisioned model ARN> (adapter {}), {} at a time, up to {} attempts each",
            items.len(),
            adapter.name(),
            inference.concurrency,
            inference.max_attempts
        ),
        None,
    );
    for name in [keys::BASE_OUTPUTS, keys::CUSTOM_OUTPUTS, keys::FAILURES] {
        add(
            "s3",
            "PutObject",
            format!("s3://{}/{}", s3.inference_bucket(), s3.key(run_id, name)),
            None,
        );
    }
    add(
        "local",
        "score",
        format!(
            "BERTScore with {} (checked: {}; bootstrap {}, permutations {}, margin {}, alpha {})",
            config.scoring.model_spec(),
            scorer.hash(),
            config.scoring.statistics.bootstrap,
            config.scoring.statistics.permutations,
            config.scoring.statistics.margin,
            config.scoring.statistics.alpha
        ),
        None,
    );
    add(
        "s3",
        "PutObject",
        format!(
            "s3://{}/{}",
            s3.inference_bucket(),
            s3.key(run_id, keys::COMPARISON)
        ),
        None,
    );
    let delete_condition = if config.throughput.keep_if_better {
        "if the verdict is not custom, or on failure"
    } else {
        "always (throughput.keep_if_better = false)"
    };
    add(
        "bedrock",
        "DeleteProvisionedModelThroughput",
        format!("provisionedModelId=<provisioned model ARN> ({throughput_name})"),
        Some(delete_condition),
    );
    if customization.delete_custom_model_if_not_better {
        add(
            "bedrock",
            "DeleteCustomModel",
            format!("modelIdentifier=<custom model ARN> ({model_name})"),
            Some("if the verdict is not custom"),
        );
    }
    if let Some(notify) = &config.notify {
        if notify.create_sender_identity {
            add(
                "sesv2",
                "GetEmailIdentity",
                format!("emailIdentity={}", notify.from),
                None,
            );
            add(
                "sesv2",
                "CreateEmailIdentity",
                format!("emailIdentity={}", notify.from),
                Some("if the sender identity is missing"),
            );
        }
        add(
            "sesv2",
            "SendEmail",
            format!("from={} to={}", notify.from, notify.to.join(",")),
            None,
        );
    }
    add(
        "s3",
        "PutObject",
        format!(
            "s3://{}/{}",
            s3.inference_bucket(),
            s3.key(run_id, keys::REPORT)
        ),
        None,
    );
    Ok(calls)
}
