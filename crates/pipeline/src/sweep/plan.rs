//! `pipeline plan` for a sweep: the single run's calls with its one job, serving, evaluation and deletes replaced
//! by every candidate's, in the order the sweep makes them. The calls a sweep shares with a single run (buckets,
//! uploads, the base model's inference, the email, the report) are kept as the single run's plan lists them.

use crate::config::PipelineConfig;
use crate::naming::{ResourceNames, keys};
use crate::plan::PlannedCall;
use crate::serving::ServingKind;

use super::{SweepConfig, describe_set, job_token, serving_scope};

/// Operations of the single run's own job, serving and deletes: a sweep makes them per candidate instead.
const PER_CANDIDATE: [&str; 9] = [
    "CreateModelCustomizationJob",
    "GetModelCustomizationJob",
    "CreateProvisionedModelThroughput",
    "GetProvisionedModelThroughput",
    "CreateCustomModelDeployment",
    "GetCustomModelDeployment",
    "DeleteProvisionedModelThroughput",
    "DeleteCustomModelDeployment",
    "DeleteCustomModel",
];

/// `single`: the plan of the same config without `[sweep]`; returns the sweep's plan.
pub(crate) fn calls(
    single: Vec<PlannedCall>,
    config: &PipelineConfig,
    sweep: &SweepConfig,
    run_id: &str,
    items: usize,
    scorer: &str,
) -> crate::error::Result<Vec<PlannedCall>> {
    let candidates = sweep
        .expand(&config.customization.hyper_parameters)
        .map_err(|message| crate::error::PipelineError::config("config", message))?;
    let names = ResourceNames::of(config, run_id);
    let s3 = &config.s3;
    let customization = &config.customization;
    let kind = names.serving_kind;
    let call =
        |service: &str, operation: &str, detail: String, condition: Option<String>| PlannedCall {
            service: service.into(),
            operation: operation.into(),
            detail,
            condition,
        };
    let per_candidate_key = |name: &str| {
        [keys::CUSTOM_OUTPUTS, keys::FAILURES, keys::COMPARISON]
            .iter()
            .any(|key| name.ends_with(&s3.key(run_id, key)))
    };
    let custom_inference =
        |c: &PlannedCall| c.service == "bedrock-runtime" && c.detail.contains(" x modelId=<");
    let is_single_only = |c: &PlannedCall| {
        PER_CANDIDATE.contains(&c.operation.as_str())
            || custom_inference(c)
            || (c.service == "local" && c.operation == "score")
            || (c.operation == "PutObject" && per_candidate_key(&c.detail))
    };
    let training_uri = format!(
        "s3://{}/{}",
        s3.training_bucket(),
        s3.key(run_id, keys::TRAINING)
    );
    let polling = &config.polling;

    let mut jobs = vec![call(
        "local",
        "sweep",
        format!(
            "{} candidates ({}): at most {} customization jobs at once; each trained candidate is served, evaluated \
             and, unless it is the best so far, its serving deleted at once (at most 2 servings at any time); \
             N-way verdict with {} correction",
            candidates.len(),
            if sweep.grid.is_empty() {
                "a list".to_string()
            } else {
                let axes: Vec<String> = sweep
                    .grid
                    .iter()
                    .map(|(name, values)| format!("{} {name}", values.len()))
                    .collect();
                format!("a grid of {}", axes.join(" x "))
            },
            sweep.max_concurrent_jobs,
            sweep.correction
        ),
        None,
    )];
    for (index, c) in candidates.iter().enumerate() {
        let names = super::CandidateNames::of(&names, &c.id);
        jobs.push(call(
            "bedrock",
            "CreateModelCustomizationJob",
            format!(
                "{}: jobName={} customModelName={} baseModelIdentifier={} customizationType={} roleArn={} \
                 trainingDataConfig.s3Uri={training_uri} outputDataConfig.s3Uri=s3://{}/{} hyperParameters={{{}}} \
                 clientRequestToken={}",
                c.id,
                names.job,
                names.custom_model,
                customization.base_model_id,
                customization.customization_type,
                customization.role_arn,
                s3.output_bucket(),
                s3.key(run_id, &format!("job-output/{}/", c.id)),
                describe_set(&c.hyper_parameters),
                job_token(run_id, &c.id)
            ),
            (index >= sweep.max_concurrent_jobs).then(|| {
                format!(
                    "once fewer than {} jobs are running",
                    sweep.max_concurrent_jobs
                )
            }),
        ));
    }
    jobs.push(call(
        "bedrock",
        "GetModelCustomizationJob",
        format!(
            "each running job, repeated until Completed/Failed/Stopped: every {}-{} s with jitter, at most {} s per \
             round of jobs; a failed candidate is recorded and the sweep goes on",
            polling.initial_s, polling.max_s, polling.job_timeout_s
        ),
        None,
    ));

    let adapter = customization.adapter();
    let operation = adapter.runtime_operation();
    let (create, get, delete, ready, timeout, billing) = match kind {
        ServingKind::Throughput => (
            "CreateProvisionedModelThroughput",
            "GetProvisionedModelThroughput",
            "DeleteProvisionedModelThroughput",
            "InService",
            polling.throughput_timeout_s,
            format!(
                "modelUnits={} commitment=none  (BILLED HOURLY until deleted)",
                config.throughput.model_units
            ),
        ),
        ServingKind::Deployment => (
            "CreateCustomModelDeployment",
            "GetCustomModelDeployment",
            "DeleteCustomModelDeployment",
            "Active",
            polling.deployment_timeout_s,
            "(billed per token used, nothing while idle)".to_string(),
        ),
    };
    let mut evaluation = Vec::new();
    for c in &candidates {
        let candidate_names = super::CandidateNames::of(&names, &c.id);
        let trained = Some(format!("if {} trained", c.id));
        let token =
            crate::serving::ServingRecord::new(kind, "").token(&serving_scope(run_id, &c.id));
        evaluation.push(call(
            "bedrock",
            create,
            format!(
                "{}: name={} model=<{} custom model ARN> clientRequestToken={token} {billing}",
                c.id, candidate_names.serving, c.id
            ),
            trained.clone(),
        ));
        evaluation.push(call(
            "bedrock",
            get,
            format!(
                "{}: repeated until {ready}/Failed: every {}-{} s with jitter, at most {timeout} s",
                c.id, polling.initial_s, polling.max_s
            ),
            trained.clone(),
        ));
        evaluation.push(call(
            "bedrock-runtime",
            operation,
            format!(
                "{}: {items} x modelId=<{} serving ARN> (adapter {}), {} at a time, up to {} attempts each",
                c.id,
                c.id,
                adapter.name(),
                config.inference.concurrency,
                config.inference.max_attempts
            ),
            trained.clone(),
        ));
        evaluation.push(call(
            "s3",
            "PutObject",
            format!(
                "s3://{}/{}",
                s3.inference_bucket(),
                s3.key(run_id, &format!("outputs/candidates/{}.jsonl", c.id))
            ),
            trained.clone(),
        ));
        evaluation.push(call(
            "local",
            "score",
            format!("{} against the base: BERTScore with {scorer}", c.id),
            trained,
        ));
        evaluation.push(call(
            "bedrock",
            delete,
            format!("{}: {}", c.id, candidate_names.serving),
            Some(format!(
                "at once unless {} is the best so far; else when a later candidate beats it",
                c.id
            )),
        ));
    }
    evaluation.push(call(
        "local",
        "rank",
        format!(
            "every evaluated candidate against the base on the items all answered ({} correction, margin {}, \
             alpha {}); verdict: the best candidate if it beats the base, else base or inconclusive",
            sweep.correction, config.scoring.statistics.margin, config.scoring.statistics.alpha
        ),
        None,
    ));
    evaluation.push(call(
        "s3",
        "PutObject",
        format!(
            "s3://{}/{}",
            s3.inference_bucket(),
            s3.key(run_id, "sweep-comparison.json")
        ),
        Some("if two or more candidates were evaluated".into()),
    ));
    evaluation.push(call(
        "bedrock",
        delete,
        "the best candidate's serving".into(),
        Some(if config.keep_serving_if_better(kind) {
            "unless the verdict names it (it beats the base), or on failure".into()
        } else {
            "always (keep_if_better = false)".into()
        }),
    ));
    if customization.delete_custom_model_if_not_better {
        for c in &candidates {
            evaluation.push(call(
                "bedrock",
                "DeleteCustomModel",
                format!(
                    "{}: modelIdentifier=<{} custom model ARN> ({})",
                    c.id,
                    c.id,
                    super::CandidateNames::of(&names, &c.id).custom_model
                ),
                Some(format!("if {} trained and is not the winner", c.id)),
            ));
        }
    }

    let base_outputs = s3.key(run_id, keys::BASE_OUTPUTS);
    let mut out = Vec::new();
    let mut jobs = Some(jobs);
    let mut evaluation = Some(evaluation);
    for c in single {
        if c.operation == "CreateModelCustomizationJob" {
            out.extend(jobs.take().into_iter().flatten());
        }
        let after = c.operation == "PutObject" && c.detail.ends_with(&base_outputs);
        if !is_single_only(&c) {
            out.push(c);
        }
        if after {
            out.extend(evaluation.take().into_iter().flatten());
        }
    }
    // Whatever the single plan did not mark (it always has both): at the end, in order.
    out.extend(jobs.into_iter().flatten());
    out.extend(evaluation.into_iter().flatten());
    Ok(out)
}
