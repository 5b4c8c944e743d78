//! What the emulator is told to do: timings, the answer key, model quality and faults.
//!
//! JSON form (used by `POST /_emulator/config` and `--config FILE.json`), all keys optional:
//!
//! ```json
//! {
//!   "job_duration_s": 0.2,
//!   "pt_duration_s": 0.2,
//!   "deployment_duration_s": 1.0,
//!   "batch_duration_s": 1.0,
//!   "batch_min_records": 100,
//!   "batch_max_records": 50000,
//!   "no_commitment_model_units": 2,
//!   "allow_end_of_life": ["cohere.command-light-text-v14"],
//!   "s3_endpoint": "http://127.0.0.1:5000",
//!   "iam_endpoint": "http://127.0.0.1:5000",
//!   "skip_role_checks": false,
//!   "custom_quality": "better",
//!   "candidate_rules": [
//!     { "when": { "learningRate": "0.00005" }, "good_fraction": 0.9 },
//!     { "when": { "epochCount": "3" }, "fail": true }
//!   ],
//!   "answers": { "<prompt>": "<reference answer>" },
//!   "faults": {
//!     "throttle_first": 0, "server_error_first": 0,
//!     "fail_next_job": false, "fail_pt_create": false, "pt_fails": false,
//!     "fail_prompts_containing": null,
//!     "fail_deployment_create": false, "deployment_fails": false,
//!     "batch_record_errors": 0, "batch_missing_records": 0, "batch_shuffle": true,
//!     "fail_batch_job": false
//!   }
//! }
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

pub use crate::candidates::CandidateRule;

/// Settings of one emulator. Replaceable at runtime (`Emulator::set_config`,
/// `POST /_emulator/config`); jobs and provisioned throughputs keep the durations
/// they were created with.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct EmulatorConfig {
    /// How long a customization job stays `InProgress`. JSON: `job_duration_s` (seconds, f64).
    #[serde(rename = "job_duration_s", with = "secs_f64")]
    pub job_duration: Duration,
    /// How long a provisioned throughput stays `Creating`. JSON: `pt_duration_s` (seconds, f64).
    #[serde(rename = "pt_duration_s", with = "secs_f64")]
    pub pt_duration: Duration,
    /// How long a custom model deployment stays `Creating`. JSON: `deployment_duration_s`.
    #[serde(rename = "deployment_duration_s", with = "secs_f64")]
    pub deployment_duration: Duration,
    /// How long a batch inference job takes from `Submitted` to its end (`InProgress` from a third of it).
    /// JSON: `batch_duration_s`.
    #[serde(rename = "batch_duration_s", with = "secs_f64")]
    pub batch_duration: Duration,
    /// Fewest records a batch inference job takes (the catalog's quota, 100 by default);
    /// CreateModelInvocationJob answers `ValidationException` below it.
    pub batch_min_records: usize,
    /// Most records a batch inference job takes (the catalog's quota, 50,000 by default; set low in tests);
    /// CreateModelInvocationJob answers `ValidationException` above it.
    pub batch_max_records: usize,
    /// No-commitment model units the account has across Provisioned Throughputs (the catalog's quota, 2 by
    /// default); a create that would exceed it answers `ServiceQuotaExceededException`.
    pub no_commitment_model_units: u32,
    /// End-of-life base models the emulator serves anyway (the AWS sample's `cohere.command-light-text-v14`
    /// for the local demo): any spelling of an id of the model's catalog entry. Logged at start; AWS
    /// answers ResourceNotFoundException for them.
    pub allow_end_of_life: Vec<String>,
    /// Base URL of the S3 service (moto) the emulator reads batch inputs and training files from
    /// and writes batch outputs to, path-style, unsigned. Without it, training files are not
    /// checked and batch jobs are refused. Setting a config without it keeps the current one.
    pub s3_endpoint: Option<String>,
    /// Base URL of the IAM service (moto) that CreateModelCustomizationJob and CreateModelInvocationJob ask for
    /// the role they name (GetRole), refusing a role IAM does not have or whose trust policy does not let
    /// Bedrock assume it for that kind of job, as AWS does. Without it the emulator does not start, unless
    /// [`EmulatorConfig::skip_role_checks`] says so. Setting a config that names neither keeps the current ones.
    pub iam_endpoint: Option<String>,
    /// Accept any well-formed `roleArn` without asking IAM: for tests that run the emulator without moto (its
    /// own). Logged as a warning at start; ignored when [`EmulatorConfig::iam_endpoint`] is set. AWS always
    /// checks.
    pub skip_role_checks: bool,
    /// Hyper-parameters → custom model quality, for sweeps: the first rule whose `when` matches
    /// a customization job decides its custom model (see [`CandidateRule`]).
    pub candidate_rules: Vec<CandidateRule>,
    /// Whether the customized model answers better than, worse than or the same as its base model.
    pub custom_quality: Quality,
    /// Answer key: prompt → reference answer. The "good" model returns the reference for these.
    pub answers: HashMap<String, String>,
    /// Faults to inject.
    pub faults: Faults,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            job_duration: Duration::from_secs(2),
            pt_duration: Duration::from_secs(1),
            deployment_duration: Duration::from_secs(1),
            batch_duration: Duration::from_secs(1),
            batch_min_records: quotas().batch_records.min as usize,
            batch_max_records: quotas().batch_records.max as usize,
            no_commitment_model_units: quotas().no_commitment_throughput.account_model_units,
            allow_end_of_life: Vec::new(),
            s3_endpoint: None,
            iam_endpoint: None,
            skip_role_checks: false,
            candidate_rules: Vec::new(),
            custom_quality: Quality::Better,
            answers: HashMap::new(),
            faults: Faults::default(),
        }
    }
}

fn quotas() -> &'static bedrock_catalog::Quotas {
    &bedrock_catalog::catalog().quotas
}

impl EmulatorConfig {
    /// Where job roles are checked: `Ok(Some(iam_endpoint))`, `Ok(None)` when [`EmulatorConfig::skip_role_checks`]
    /// opts out, `Err` (what to set) when the config says neither.
    pub fn role_checks(&self) -> Result<Option<&str>, String> {
        match (&self.iam_endpoint, self.skip_role_checks) {
            (Some(endpoint), _) => Ok(Some(endpoint)),
            (None, true) => Ok(None),
            (None, false) => Err(
                "the Bedrock emulator checks the role of every customization and batch job in IAM, as AWS does, \
                 but its config has no iam_endpoint: set iam_endpoint (the local stack sets moto's; \
                 bedrock-emulator --iam-endpoint URL) or, for tests without IAM, skip_role_checks = true"
                    .into(),
            ),
        }
    }

    /// Whether the end-of-life `model` is served anyway ([`EmulatorConfig::allow_end_of_life`]).
    pub fn allows_end_of_life(&self, model: &bedrock_catalog::Model) -> bool {
        let catalog = bedrock_catalog::catalog();
        self.allow_end_of_life.iter().any(|id| {
            catalog
                .by_model_id(id)
                .is_some_and(|m| m.name == model.name)
        })
    }
}

/// How the customized model compares with its base model on prompts of the answer key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Custom model returns the reference answer; the base model a weak one.
    #[default]
    Better,
    /// Base model returns the reference answer; the custom model a weak one.
    Worse,
    /// Both return the same weak answer.
    Same,
}

impl FromStr for Quality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "better" => Ok(Quality::Better),
            "worse" => Ok(Quality::Worse),
            "same" => Ok(Quality::Same),
            other => Err(format!(
                "unknown quality {other:?}: expected better, worse or same"
            )),
        }
    }
}

/// Faults to inject. Runtime counters (`throttle_first`, `server_error_first`) count
/// runtime calls (InvokeModel + Converse) since the config was last set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// The first N runtime calls answer 429 `ThrottlingException`.
    pub throttle_first: usize,
    /// The N runtime calls after the throttled ones answer a server error, alternating
    /// 500 `InternalServerException` and 503 `ServiceUnavailableException`.
    pub server_error_first: usize,
    /// The next created customization job ends `Failed` (with a `failureMessage`). One-shot:
    /// cleared when a job consumes it.
    pub fail_next_job: bool,
    /// While set, CreateProvisionedModelThroughput answers 400 `ServiceQuotaExceededException`.
    pub fail_pt_create: bool,
    /// While set, new provisioned throughputs end `Failed` instead of `InService`.
    pub pt_fails: bool,
    /// Every runtime call whose prompt contains this text answers 400 `ValidationException`
    /// (a batch record with such a prompt gets an `error` object).
    pub fail_prompts_containing: Option<String>,
    /// While set, CreateCustomModelDeployment answers 400 `ServiceQuotaExceededException`.
    pub fail_deployment_create: bool,
    /// While set, new custom model deployments end `Failed` instead of `Active`.
    pub deployment_fails: bool,
    /// That many records of each batch job get an `error` object instead of `modelOutput`.
    pub batch_record_errors: usize,
    /// That many records of each batch job are left out of its output (the job then ends
    /// `PartiallyCompleted`).
    pub batch_missing_records: usize,
    /// Whether batch output records come in an order other than the input's (default true).
    pub batch_shuffle: bool,
    /// While set, new batch jobs end `Failed` (with a `message`) and write no output.
    pub fail_batch_job: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            throttle_first: 0,
            server_error_first: 0,
            fail_next_job: false,
            fail_pt_create: false,
            pt_fails: false,
            fail_prompts_containing: None,
            fail_deployment_create: false,
            deployment_fails: false,
            batch_record_errors: 0,
            batch_missing_records: 0,
            batch_shuffle: true,
            fail_batch_job: false,
        }
    }
}

impl EmulatorConfig {
    /// Fills [`EmulatorConfig::answers`] from a prompts file and a references file, aligned by
    /// position. Each file is either JSON Lines or one JSON array (elements may be spread over
    /// lines). Prompt items are strings or objects with `prompt`; reference items are strings or
    /// objects with `completion` (or `reference`).
    pub fn load_answers(&mut self, prompts_jsonl: &Path, references: &Path) -> anyhow::Result<()> {
        let prompts = read_items(prompts_jsonl, &["prompt"])?;
        let refs = read_items(references, &["completion", "reference"])?;
        if prompts.len() != refs.len() {
            bail!(
                "{} has {} prompts but {} has {} references",
                prompts_jsonl.display(),
                prompts.len(),
                references.display(),
                refs.len()
            );
        }
        self.answers.extend(prompts.into_iter().zip(refs));
        Ok(())
    }
}

/// Reads the string items of a JSON array or JSON Lines file; objects contribute the first of `keys`.
fn read_items(path: &Path, keys: &[&str]) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let values: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(single) => vec![single],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .with_context(|| format!("{}:{}: invalid JSON", path.display(), i + 1))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| match &value {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Object(map) => keys
                .iter()
                .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
                .map(str::to_owned)
                .with_context(|| {
                    format!(
                        "{} item {}: no string field {}",
                        path.display(),
                        i + 1,
                        keys.join(" or ")
                    )
                }),
            _ => bail!(
                "{} item {}: expected a string or an object",
                path.display(),
                i + 1
            ),
        })
        .collect()
}

/// `Duration` as fractional seconds in JSON.
mod secs_f64 {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_uses_seconds() {
        let config: EmulatorConfig = serde_json::from_str(
            r#"{"job_duration_s":0.25,"custom_quality":"worse","faults":{"throttle_first":3}}"#,
        )
        .unwrap();
        assert_eq!(config.job_duration, Duration::from_millis(250));
        assert_eq!(config.pt_duration, Duration::from_secs(1));
        assert_eq!(config.custom_quality, Quality::Worse);
        assert_eq!(config.faults.throttle_first, 3);
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["job_duration_s"], 0.25);
        assert_eq!(json["custom_quality"], "worse");
    }

    #[test]
    fn loads_the_dialogsum_answer_key() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/dialogsum-seed");
        let mut config = EmulatorConfig::default();
        config
            .load_answers(
                &root.join("validation-data.json"),
                &root.join("reference-inference.json"),
            )
            .unwrap();
        assert_eq!(config.answers.len(), 11);
        let smith = config
            .answers
            .iter()
            .find(|(prompt, _)| prompt.contains("Doctor Hawkins"))
            .map(|(_, answer)| answer.as_str());
        assert_eq!(
            smith,
            Some(
                "Mr. Smith goes to the doctor to have a check-up. The doctor advises him to come at least once a year for a check-up. Mr. Smith refuses to quit smoking."
            )
        );
    }

    #[test]
    fn loads_jsonl_prompts_and_completion_references() {
        let dir = tempfile::tempdir().unwrap();
        let prompts = dir.path().join("p.jsonl");
        let refs = dir.path().join("r.jsonl");
        std::fs::write(&prompts, "{\"prompt\":\"a\"}\n\n{\"prompt\":\"b\"}\n").unwrap();
        std::fs::write(&refs, "{\"completion\":\"A\"}\n{\"completion\":\"B\"}\n").unwrap();
        let mut config = EmulatorConfig::default();
        config.load_answers(&prompts, &refs).unwrap();
        assert_eq!(config.answers.get("b").map(String::as_str), Some("B"));

        std::fs::write(&refs, "[\"A\"]").unwrap();
        let err = config.load_answers(&prompts, &refs).unwrap_err();
        assert!(err.to_string().contains("2 prompts but"), "{err}");
    }
}
