//! The names a run gives what it creates: Bedrock resource names, client request tokens and S3 keys. One place,
//! used by the run and by `plan`, so the plan shows exactly what the run will send.

use crate::config::PipelineConfig;

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
}

/// The Bedrock names of a run's job, custom model and provisioned throughput: the config's, else derived from
/// the run id (`bertscore-{run_id}`, `{custom model}-pt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceNames {
    pub job: String,
    pub custom_model: String,
    pub throughput: String,
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
                .unwrap_or_else(|| format!("{custom_model}-pt")),
            custom_model,
        }
    }
}

/// The client request token of the customization job: a retried or repeated create is the same job.
pub(crate) fn job_token(run_id: &str) -> String {
    format!("{run_id}-job")
}

/// The client request token of the provisioned throughput; `generation` counts re-creations after a failure
/// deleted it.
pub(crate) fn throughput_token(run_id: &str, generation: u32) -> String {
    match generation {
        0 => format!("{run_id}-pt"),
        n => format!("{run_id}-pt{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_run_and_generation() {
        assert_eq!(job_token("r1"), "r1-job");
        assert_eq!(throughput_token("r1", 0), "r1-pt");
        assert_eq!(throughput_token("r1", 2), "r1-pt2");
    }
}
