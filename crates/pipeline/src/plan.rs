//! `pipeline plan`: every AWS call a run would make, in order, worked out from the config and the local data
//! alone, after the same checks as the run's `validate` step (config, data, scoring model resolved and loaded).
//! Creates nothing and makes no AWS call (it builds no client).

use std::fmt;

use serde::Serialize;

use crate::batch::{self, InferencePath};
use crate::config::PipelineConfig;
use crate::data;
use crate::error::Result;
use crate::naming::{
    ResourceNames, batch_input_key, batch_job_name, batch_output_key, batch_token, job_token, keys,
    serving_token,
};
use crate::serving::ServingKind;
use crate::training::{self, DataRole, FamilyRules};

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
    let rules = FamilyRules::for_model(&config.customization.base_model_id);
    let system = config.customization.system_prompt.as_deref();
    let training = training::prepare(&config.data.training, DataRole::Training, &rules, system)?;
    if let Some(path) = &config.data.job_validation {
        training::prepare(path, DataRole::JobValidation, &rules, system)?;
    }
    let items = data::load_eval_items(&config.data.validation, &config.data.references)?;
    let inference_path = batch::choose(config, items.len())
        .map_err(|message| crate::error::PipelineError::config("config", message))?;
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
            "{} training records ({}, {}; {} fine-tuning takes {}), {} evaluation items",
            training.records,
            config.data.training.display(),
            training.source_format.name(),
            rules.family,
            training.target_format.name(),
            items.len()
        ),
        None,
    );
    for warning in &training.warnings {
        add("local", "warning", warning.clone(), None);
    }
    if training.converted {
        let mut first = training.first_record().to_string();
        if first.chars().count() > 300 {
            first = first.chars().take(300).collect::<String>() + "...";
        }
        add(
            "local",
            "convert",
            format!(
                "{} records to {}{} → <run dir>/training-data.jsonl (uploaded instead of the file); first \
                 record: {first}",
                training.records,
                training.target_format.name(),
                if system.is_some() {
                    " with customization.system_prompt as the system turn"
                } else {
                    ""
                },
            ),
            None,
        );
    }
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
    let serving_kind = names.serving_kind;
    let serving_name = names.serving();
    let serving_why = match (config.serving.mode, serving_kind) {
        (crate::serving::ServingMode::Auto, ServingKind::Deployment) => {
            "serving.mode = auto: the family has on-demand deployment"
        }
        (crate::serving::ServingMode::Auto, ServingKind::Throughput) => {
            "serving.mode = auto: the family has no on-demand deployment"
        }
        (_, ServingKind::Deployment) => "serving.mode = on-demand",
        (_, ServingKind::Throughput) => "serving.mode = provisioned",
    };
    let token = serving_token(run_id, serving_kind, 0);
    match serving_kind {
        ServingKind::Throughput => {
            add(
                "bedrock",
                "CreateProvisionedModelThroughput",
                format!(
                    "provisionedModelName={serving_name} modelId=<custom model ARN> modelUnits={} commitment=none \
                     clientRequestToken={token}  (BILLED HOURLY until deleted; {serving_why})",
                    config.throughput.model_units,
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
        }
        ServingKind::Deployment => {
            add(
                "bedrock",
                "CreateCustomModelDeployment",
                format!(
                    "modelDeploymentName={serving_name} modelArn=<custom model ARN> clientRequestToken={token}  \
                     (billed per token used, nothing while idle; {serving_why})"
                ),
                None,
            );
            add(
                "bedrock",
                "GetCustomModelDeployment",
                format!(
                    "repeated until Active/Failed: every {}-{} s with jitter, at most {} s",
                    polling.initial_s, polling.max_s, polling.deployment_timeout_s
                ),
                None,
            );
        }
    }
    let adapter = customization.adapter();
    let operation = adapter.runtime_operation();
    let inference = &config.inference;
    match &inference_path {
        InferencePath::OnDemand { reason } => add(
            "bedrock-runtime",
            operation,
            format!(
                "{} x modelId={} (adapter {}), {} at a time, up to {} attempts each  (on demand: {reason})",
                items.len(),
                customization.inference_model_id(),
                adapter.name(),
                inference.concurrency,
                inference.max_attempts
            ),
            None,
        ),
        InferencePath::Batch => {
            let bucket = s3.inference_bucket();
            let parts = batch::split(items.len(), inference.batch_max_records);
            let count = parts.len();
            for (part, range) in parts.into_iter().enumerate() {
                add(
                    "s3",
                    "PutObject",
                    format!(
                        "s3://{bucket}/{}  ({} batch records{})",
                        s3.key(run_id, &batch_input_key(part)),
                        range.len(),
                        part_of(part, count)
                    ),
                    None,
                );
                add(
                    "bedrock",
                    "CreateModelInvocationJob",
                    format!(
                        "jobName={} modelId={} roleArn={} inputDataConfig.s3Uri=s3://{bucket}/{} \
                     outputDataConfig.s3Uri=s3://{bucket}/{} timeoutDurationInHours={} clientRequestToken={}  \
                     ({} prompts >= inference.batch_min_records = {}{})",
                        batch_job_name(run_id, 0, part),
                        customization.inference_model_id(),
                        inference
                            .batch_role_arn
                            .as_deref()
                            .unwrap_or(&customization.role_arn),
                        s3.key(run_id, &batch_input_key(part)),
                        s3.key(run_id, &batch_output_key(part)),
                        batch::timeout_hours(polling.batch_timeout_s),
                        batch_token(run_id, 0, part),
                        range.len(),
                        inference.batch_min_records,
                        part_of(part, count)
                    ),
                    None,
                );
                add(
                    "bedrock",
                    "GetModelInvocationJob",
                    format!(
                        "repeated until Completed/PartiallyCompleted/Failed/Stopped/Expired: every {}-{} s with jitter, \
                     at most {} s",
                        polling.initial_s, polling.max_s, polling.batch_timeout_s
                    ),
                    None,
                );
                add(
                    "s3",
                    "GetObject",
                    format!(
                        "s3://{bucket}/{}<job id>/base.jsonl.out (joined by recordId)",
                        s3.key(run_id, &batch_output_key(part))
                    ),
                    None,
                );
            }
            if inference.retry_failed_on_demand {
                add(
                    "bedrock-runtime",
                    operation,
                    format!(
                        "modelId={} for each record the batch job answered with an error or left out",
                        customization.inference_model_id()
                    ),
                    Some("if the batch job leaves records without output"),
                );
            }
        }
    }
    add(
        "bedrock-runtime",
        operation,
        format!(
            "{} x modelId=<{} ARN> (adapter {}), {} at a time, up to {} attempts each",
            items.len(),
            match serving_kind {
                ServingKind::Throughput => "provisioned model",
                ServingKind::Deployment => "custom model deployment",
            },
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
    let delete_condition = match (config.keep_serving_if_better(serving_kind), serving_kind) {
        (true, _) => "if the verdict is not custom, or on failure",
        (false, ServingKind::Throughput) => "always (throughput.keep_if_better = false)",
        (false, ServingKind::Deployment) => "always (deployment.keep_if_better = false)",
    };
    match serving_kind {
        ServingKind::Throughput => add(
            "bedrock",
            "DeleteProvisionedModelThroughput",
            format!("provisionedModelId=<provisioned model ARN> ({serving_name})"),
            Some(delete_condition),
        ),
        ServingKind::Deployment => add(
            "bedrock",
            "DeleteCustomModelDeployment",
            format!("customModelDeploymentIdentifier=<deployment ARN> ({serving_name})"),
            Some(delete_condition),
        ),
    }
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
    match &config.sweep {
        // A sweep: one job, serving and evaluation per candidate in place of the run's one.
        Some(sweep) => {
            crate::sweep::plan::calls(calls, config, sweep, run_id, items.len(), &scorer.hash())
        }
        None => Ok(calls),
    }
}

/// `, part 2 of 3` when the prompts are split over several batch jobs (inference.batch_max_records).
fn part_of(part: usize, count: usize) -> String {
    if count > 1 {
        format!(", part {} of {count}", part + 1)
    } else {
        String::new()
    }
}
