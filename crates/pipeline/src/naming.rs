//! The names a run gives what it creates: Bedrock resource names, client request tokens and S3 keys. One place,
//! used by the run and by `plan`, so the plan shows exactly what the run will send.

use crate::config::PipelineConfig;
use crate::serving::{self, ServingKind};

/// S3 object names under the run's prefix (`{prefix}/{run_id}/...`), with the role each is recorded under.
pub(crate) mod keys {
    /// The training data (role `training`).
    pub const TRAINING: &str = "data/training-data.jsonl";
    /// The job's own validation set (role `job-validation`).
    pub const JOB_VALIDATION: &str = "data/job-validation.jsonl";
    /// The evaluation prompts (role `validation`).
    pub const VALIDATION: &str = "data/validation-data.json";
    /// The evaluation references (role `references`).
    pub const REFERENCES: &str = "data/reference-inference.json";
    /// The customization job's output prefix.
    pub const JOB_OUTPUT: &str = "job-output/";
    /// The base model's outputs (role `base-outputs`).
    pub const BASE_OUTPUTS: &str = "outputs/base.jsonl";
    /// The custom model's outputs (role `custom-outputs`).
    pub const CUSTOM_OUTPUTS: &str = "outputs/custom.jsonl";
    /// Items without an output (role `failures`).
    pub const FAILURES: &str = "outputs/failures.jsonl";
    /// The full comparison (role `comparison`).
    pub const COMPARISON: &str = "comparison.json";
    /// The report (role `report`).
    pub const REPORT: &str = "report.json";
    /// The base model's batch inference input (role `batch-input`).
    pub const BATCH_INPUT: &str = "batch/input/base.jsonl";
    /// The batch job's output prefix (Bedrock writes `<job id>/base.jsonl.out` under it).
    pub const BATCH_OUTPUT: &str = "batch/output/";
}

/// The Bedrock names of a run's job, custom model and serving (provisioned throughput or on-demand
/// deployment, as the config resolves): the config's, else derived from the run id (`bertscore-{run_id}`,
/// `{custom model}-pt`, `{custom model}-od`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceNames {
    pub job: String,
    pub custom_model: String,
    pub throughput: String,
    pub deployment: String,
    /// What serves the custom model ([`PipelineConfig::serving_kind`]).
    pub serving_kind: ServingKind,
}

impl ResourceNames {
    pub fn of(config: &PipelineConfig, run_id: &str) -> ResourceNames {
        let default_name = format!("bertscore-{run_id}");
        let custom_model = config
            .customization
            .custom_model_name
            .clone()
            .unwrap_or_else(|| default_name.clone());
        ResourceNames {
            job: config
                .customization
                .job_name
                .clone()
                .unwrap_or(default_name),
            throughput: config
                .throughput
                .name
                .clone()
                .unwrap_or_else(|| serving::default_name(ServingKind::Throughput, &custom_model)),
            deployment: config
                .deployment
                .name
                .clone()
                .unwrap_or_else(|| serving::default_name(ServingKind::Deployment, &custom_model)),
            serving_kind: config.serving_kind(),
            custom_model,
        }
    }

    /// The name of the run's serving.
    pub fn serving(&self) -> &str {
        match self.serving_kind {
            ServingKind::Throughput => &self.throughput,
            ServingKind::Deployment => &self.deployment,
        }
    }
}

/// The client request token of the customization job: a retried or repeated create is the same job.
pub(crate) fn job_token(run_id: &str) -> String {
    format!("{run_id}-job")
}

/// The name of the batch inference job that runs the base model's prompts (`part` of them, when they are split
/// over several jobs). `generation` counts jobs replaced after the run stopped one.
pub(crate) fn batch_job_name(run_id: &str, generation: u32, part: usize) -> String {
    format!("bertscore-{run_id}-base{}", batch_suffix(generation, part))
}

/// The client request token of the base model's batch inference job: a repeated create is the same job.
pub(crate) fn batch_token(run_id: &str, generation: u32, part: usize) -> String {
    format!("{run_id}-batch{}", batch_suffix(generation, part))
}

/// `""` for the first job of a single part, then the generation, then `-p{part}` for parts after the first.
fn batch_suffix(generation: u32, part: usize) -> String {
    let generation = match generation {
        0 => String::new(),
        n => n.to_string(),
    };
    match part {
        0 => generation,
        k => format!("{generation}-p{k}"),
    }
}

/// The key (under the run's prefix) of the batch input of `part`.
pub(crate) fn batch_input_key(part: usize) -> String {
    match part {
        0 => keys::BATCH_INPUT.to_string(),
        k => keys::BATCH_INPUT.replace(".jsonl", &format!("-p{k}.jsonl")),
    }
}

/// The output prefix (under the run's prefix) of the batch job of `part`.
pub(crate) fn batch_output_key(part: usize) -> String {
    match part {
        0 => keys::BATCH_OUTPUT.to_string(),
        k => format!("{}p{k}/", keys::BATCH_OUTPUT),
    }
}

/// The client request token of a serving within `scope` (a run id, or a run id and a candidate):
/// `{scope}-pt` / `{scope}-od`; `generation` counts re-creations after a failure deleted it (`{scope}-pt1`).
pub(crate) fn serving_token(scope: &str, kind: ServingKind, generation: u32) -> String {
    let suffix = kind.suffix();
    match generation {
        0 => format!("{scope}-{suffix}"),
        n => format!("{scope}-{suffix}{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_run_and_generation() {
        assert_eq!(job_token("r1"), "r1-job");
        assert_eq!(serving_token("r1", ServingKind::Throughput, 0), "r1-pt");
        assert_eq!(serving_token("r1", ServingKind::Throughput, 2), "r1-pt2");
        assert_eq!(serving_token("r1", ServingKind::Deployment, 0), "r1-od");
        assert_eq!(
            serving_token("r1-c2", ServingKind::Deployment, 1),
            "r1-c2-od1"
        );
    }
}
