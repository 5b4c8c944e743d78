//! The pipeline's settings: a TOML file (see `datasets/pipeline/nova.toml`), or the AWS sample's Step Functions
//! execution input mapped onto one. Every field but the data files, the bucket and the role has a default, so a
//! config says only what differs from the common case.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bertscore_compare::CompareSettings;
use bertscore_engine::ScorerSettings;
use serde::{Deserialize, Deserializer, Serialize};

use crate::adapter::AdapterKind;
use crate::aws::AwsSettings;
use crate::error::{PipelineError, Result};
use crate::serving::ServingKind;
pub use crate::serving::ServingMode;

/// Everything one run needs. Serialized into the run directory, so `resume` and `cleanup` need no config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// `[data]`: the local files.
    pub data: DataConfig,
    /// `[aws]`: how to reach AWS (default: the standard chain).
    #[serde(default)]
    pub aws: AwsSettings,
    /// `[s3]`: buckets and key prefix.
    pub s3: S3Config,
    /// `[customization]`: the fine-tuning job.
    pub customization: CustomizationConfig,
    /// `[serving]`: how the custom model is served (on-demand deployment or provisioned throughput).
    #[serde(default)]
    pub serving: ServingConfig,
    /// `[deployment]`: the on-demand custom model deployment (when the custom model is served on demand).
    #[serde(default)]
    pub deployment: DeploymentConfig,
    /// `[throughput]`: the provisioned throughput (when the custom model is served by provisioned throughput).
    #[serde(default)]
    pub throughput: ThroughputConfig,
    /// `[polling]`: how long-running resources are waited for.
    #[serde(default)]
    pub polling: PollingConfig,
    /// `[inference]`: the evaluation's model calls.
    #[serde(default)]
    pub inference: InferenceConfig,
    /// `[scoring]`: BERTScore and the statistics.
    #[serde(default)]
    pub scoring: ScoringConfig,
    /// No `[notify]` section: no email.
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
    /// `[sweep]`: fine-tune several hyper-parameter sets and keep the best (see [`crate::sweep`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<crate::sweep::SweepConfig>,
}

/// The local data files; relative paths are resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// JSON Lines, one `{"prompt": ..., "completion": ...}` per line (Bedrock's fine-tuning format).
    pub training: PathBuf,
    /// Optional Bedrock validation set for the job (same format as `training`).
    #[serde(default)]
    pub job_validation: Option<PathBuf>,
    /// The evaluation prompts: a JSON array or JSON Lines of `{"prompt": ..., "id"?: ...}` (or plain strings).
    pub validation: PathBuf,
    /// The reference answers, aligned with `validation` (by `id` when both have ids, else by position).
    pub references: PathBuf,
}

/// Where data, job output, model outputs and reports go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The bucket used for every role that has no bucket of its own.
    pub bucket: String,
    /// The training data (and the job's validation set).
    #[serde(default)]
    pub training_bucket: Option<String>,
    /// Validation prompts and references.
    #[serde(default)]
    pub validation_bucket: Option<String>,
    /// The customization job's output (metrics).
    #[serde(default)]
    pub output_bucket: Option<String>,
    /// Model outputs, failures and the report.
    #[serde(default)]
    pub inference_bucket: Option<String>,
    /// Key prefix; each run writes under `{prefix}/{run_id}/`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Create missing buckets (off when the buckets are managed elsewhere, e.g. by infrastructure code).
    #[serde(default = "yes")]
    pub create_buckets: bool,
}

impl S3Config {
    /// The bucket of the training data.
    pub fn training_bucket(&self) -> &str {
        self.training_bucket.as_deref().unwrap_or(&self.bucket)
    }
    /// The bucket of the evaluation prompts and references.
    pub fn validation_bucket(&self) -> &str {
        self.validation_bucket.as_deref().unwrap_or(&self.bucket)
    }
    /// The bucket of the job's output.
    pub fn output_bucket(&self) -> &str {
        self.output_bucket.as_deref().unwrap_or(&self.bucket)
    }
    /// The bucket of the model outputs, the comparison and the report.
    pub fn inference_bucket(&self) -> &str {
        self.inference_bucket.as_deref().unwrap_or(&self.bucket)
    }
    /// Every distinct bucket, in first-use order.
    pub fn buckets(&self) -> Vec<&str> {
        let mut buckets: Vec<&str> = Vec::new();
        for bucket in [
            self.training_bucket(),
            self.validation_bucket(),
            self.output_bucket(),
            self.inference_bucket(),
        ] {
            if !buckets.contains(&bucket) {
                buckets.push(bucket);
            }
        }
        buckets
    }
    /// The key of `name` under this run's prefix.
    pub fn key(&self, run_id: &str, name: &str) -> String {
        let prefix = self.prefix.trim_matches('/');
        if prefix.is_empty() {
            format!("{run_id}/{name}")
        } else {
            format!("{prefix}/{run_id}/{name}")
        }
    }
}

/// The fine-tuning job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomizationConfig {
    /// The model to customize, as CreateModelCustomizationJob takes it (e.g. `cohere.command-light-text-v14:7:4k`).
    pub base_model_id: String,
    /// The base model's id for inference. Default: the catalog's inference id of `base_model_id`
    /// (models/bedrock-models.toml: `meta.llama3-1-8b-instruct-v1:0:128k` → `meta.llama3-1-8b-instruct-v1:0`,
    /// `cohere.command-light-text-v14:7:4k` → `cohere.command-light-text-v14`); a model the catalog does not
    /// list is invoked as its id without the context-length variant (`name:version:variant` → `name:version`).
    #[serde(default)]
    pub inference_model_id: Option<String>,
    /// Request/response format for both models; default: chosen by the inference model id.
    #[serde(default)]
    pub adapter: Option<AdapterKind>,
    /// The service role Bedrock assumes to read the training data and write the output.
    pub role_arn: String,
    /// Default: `bertscore-{run_id}`.
    #[serde(default)]
    pub job_name: Option<String>,
    /// Default: `bertscore-{run_id}`.
    #[serde(default)]
    pub custom_model_name: Option<String>,
    /// Bedrock's customization type (`FINE_TUNING`, `CONTINUED_PRE_TRAINING`, ...).
    #[serde(default = "default_customization_type")]
    pub customization_type: String,
    /// Model-specific hyper-parameters; numbers are accepted and sent as strings, as Bedrock wants them.
    #[serde(default, deserialize_with = "string_map")]
    pub hyper_parameters: BTreeMap<String, String>,
    /// Also delete the custom model when it is not better (it costs storage, not hourly throughput).
    #[serde(default)]
    pub delete_custom_model_if_not_better: bool,
    /// The system prompt of a conversation-format family (Nova): the system turn of every training record
    /// converted from prompt/completion, and the system prompt of every evaluation call (both models), so the
    /// model is evaluated as it was trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
}

impl CustomizationConfig {
    /// The base model's id for inference (see `inference_model_id`): the catalog's id to invoke for the base
    /// model (`meta.llama3-1-8b-instruct-v1:0:128k` is invoked as `meta.llama3-1-8b-instruct-v1:0`,
    /// `cohere.command-light-text-v14:7:4k` as `cohere.command-light-text-v14`); validation refuses a model the
    /// catalog does not list, whose id is then used as it is.
    pub fn inference_model_id(&self) -> String {
        if let Some(id) = &self.inference_model_id {
            return id.clone();
        }
        match crate::models::entry(&self.base_model_id) {
            Some(model) => model.inference_id.clone(),
            None => bedrock_catalog::foundation_model_id(&self.base_model_id).to_owned(),
        }
    }

    /// The request/response format: the configured one, else the inference model's family.
    pub fn adapter(&self) -> AdapterKind {
        self.adapter
            .unwrap_or_else(|| AdapterKind::for_model(&self.inference_model_id()))
    }
}

/// `[serving]`: what serves the custom model for its evaluation (see [`crate::serving`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingConfig {
    /// `auto` (default): an on-demand deployment for Nova Micro/Lite/Pro custom models (billed per token,
    /// nothing while idle), provisioned throughput otherwise; `on-demand`; `provisioned`.
    #[serde(default)]
    pub mode: ServingMode,
}

/// `[deployment]`: the on-demand custom model deployment (CreateCustomModelDeployment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Default: `{custom_model_name}-od` (letters, digits, single `-` or `_`; at most 63 characters).
    #[serde(default)]
    pub name: Option<String>,
    /// Keep the deployment when the custom model wins (off: always delete it after the evaluation). A kept
    /// deployment bills only the tokens it serves.
    #[serde(default = "yes")]
    pub keep_if_better: bool,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        Self {
            name: None,
            keep_if_better: true,
        }
    }
}

/// The provisioned throughput the custom model is served through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputConfig {
    /// Model units (each billed per hour).
    #[serde(default = "one")]
    pub model_units: i32,
    /// Default: `{custom_model_name}-pt`.
    #[serde(default)]
    pub name: Option<String>,
    /// Keep the throughput when the custom model wins (off: always delete it after the evaluation).
    #[serde(default = "yes")]
    pub keep_if_better: bool,
}

impl Default for ThroughputConfig {
    fn default() -> Self {
        Self {
            model_units: 1,
            name: None,
            keep_if_better: true,
        }
    }
}

/// How Bedrock's asynchronous resources are waited for: exponential backoff with jitter, no fixed waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollingConfig {
    /// First delay between two status checks, in seconds.
    #[serde(default = "default_poll_initial")]
    pub initial_s: f64,
    /// Longest delay between two checks.
    #[serde(default = "default_poll_max")]
    pub max_s: f64,
    /// Give up on the customization job after this long.
    #[serde(default = "default_job_timeout")]
    pub job_timeout_s: f64,
    /// Give up on the provisioned throughput after this long.
    #[serde(default = "default_throughput_timeout")]
    pub throughput_timeout_s: f64,
    /// Give up on the on-demand deployment after this long.
    #[serde(default = "default_deployment_timeout")]
    pub deployment_timeout_s: f64,
    /// Give up on a batch inference job after this long (also sent as the job's own timeout, rounded up to whole
    /// hours within Bedrock's 24-168).
    #[serde(default = "default_batch_timeout")]
    pub batch_timeout_s: f64,
}

impl Default for PollingConfig {
    fn default() -> Self {
        Self {
            initial_s: default_poll_initial(),
            max_s: default_poll_max(),
            job_timeout_s: default_job_timeout(),
            throughput_timeout_s: default_throughput_timeout(),
            deployment_timeout_s: default_deployment_timeout(),
            batch_timeout_s: default_batch_timeout(),
        }
    }
}

/// The evaluation's model calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceConfig {
    /// Requests in flight at once, per model.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Most tokens generated per prompt.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: i32,
    /// Sampling temperature (0: greedy).
    #[serde(default)]
    pub temperature: f32,
    /// Nucleus sampling mass, when set.
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Attempts per prompt, the first included: the SDK's standard retry mode retries throttling, 5xx, timeouts,
    /// a model not ready yet and a model that timed out (HTTP 408); other errors fail the item at once.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// The first retry's backoff ceiling in seconds; it doubles per attempt, with jitter (the SDK's standard mode).
    #[serde(default = "default_retry_base")]
    pub retry_base_s: f64,
    /// Longest retry delay in seconds.
    #[serde(default = "default_retry_max")]
    pub retry_max_s: f64,
    /// The run fails (rather than scoring a biased subset) when more than this fraction of items lack an output
    /// from either model.
    #[serde(default = "default_failure_fraction")]
    pub max_failure_fraction: f64,
    /// How the base model's prompts are run: `auto` (a batch job when the model supports batch inference and
    /// there are at least `batch_min_records` prompts, on-demand calls otherwise), `on-demand` or `batch`.
    #[serde(default)]
    pub mode: InferenceMode,
    /// The fewest records Bedrock takes in one batch job (the model's "minimum number of records per batch
    /// inference job" quota; 100 by default).
    #[serde(default = "default_batch_min_records")]
    pub batch_min_records: usize,
    /// The most records in one batch job (the "maximum number of records per batch inference job" quota;
    /// the catalog's 50,000 by default). More prompts run as several jobs of near-equal size, one after another,
    /// each journaled, joined by record id. At least twice `batch_min_records`, so every part reaches the
    /// minimum.
    #[serde(default = "default_batch_max_records")]
    pub batch_max_records: usize,
    /// The service role the batch job runs as (reads the input, writes the output); default:
    /// `customization.role_arn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_role_arn: Option<String>,
    /// Items a batch job answered with an error, or left out, are run again on demand (off: they are failed
    /// items). A failed batch job is then also replaced by on-demand calls.
    #[serde(default = "yes")]
    pub retry_failed_on_demand: bool,
}

/// How the base model's evaluation prompts are run (`[inference] mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InferenceMode {
    /// A batch job when the model supports batch inference and the prompts reach `batch_min_records`; on-demand
    /// calls otherwise.
    #[default]
    Auto,
    /// One InvokeModel/Converse call per prompt.
    OnDemand,
    /// A batch job (CreateModelInvocationJob); an error when the model or the prompt count rules it out.
    Batch,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            max_tokens: default_max_tokens(),
            temperature: 0.0,
            top_p: None,
            max_attempts: default_attempts(),
            retry_base_s: default_retry_base(),
            retry_max_s: default_retry_max(),
            max_failure_fraction: default_failure_fraction(),
            mode: InferenceMode::Auto,
            batch_min_records: default_batch_min_records(),
            batch_max_records: default_batch_max_records(),
            batch_role_arn: None,
            retry_failed_on_demand: true,
        }
    }
}

/// `[scoring]`: how the outputs are scored and judged, as `bertscore compare` does it. One TOML table holds the
/// engine's [`ScorerSettings`] (`model`, `lang`, `num_layers`, `idf`, `batch_size`, `threads`, ...) and compare's
/// [`CompareSettings`] (`bootstrap`, `permutations`, `seed`, `margin`, `alpha`) side by side; each field left out
/// takes that type's default, and an unknown field is an error.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoringConfig {
    /// Model, layer, idf, rescaling, batch size, threads, device, precision.
    pub scorer: ScorerSettings,
    /// Bootstrap and permutation counts, seed, margin, significance level.
    pub statistics: CompareSettings,
}

impl ScoringConfig {
    /// The model to resolve: `model`, else bert_score's model for `lang`, else the project's default model.
    pub fn model_spec(&self) -> String {
        self.scorer
            .model_spec()
            .unwrap_or_else(|| bertscore_hub::DEFAULT_MODEL.to_string())
    }

    /// Checks every scoring and statistics setting (no file read, no model loaded), naming the field as
    /// `scoring.FIELD`: what a run must pass before anything is billed.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        self.scorer.validate().map_err(|error| {
            let message = match error {
                bertscore_engine::EngineError::InvalidOption { name, message } => {
                    format!("scoring.{name}: {message}")
                }
                other => format!("scoring: {other}"),
            };
            PipelineError::config(origin, message)
        })?;
        self.statistics.validate().map_err(|error| {
            let message = match error {
                bertscore_compare::CompareError::InvalidOption(message) => {
                    format!("scoring.{message}")
                }
                other => format!("scoring: {other}"),
            };
            PipelineError::config(origin, message)
        })
    }
}

impl Serialize for ScoringConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let table = |value: serde_json::Result<serde_json::Value>| match value {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Err(S::Error::custom("settings serialize to a table")),
            Err(e) => Err(S::Error::custom(e)),
        };
        let mut fields = table(serde_json::to_value(&self.scorer))?;
        fields.extend(table(serde_json::to_value(&self.statistics))?);
        fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ScoringConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let (statistics, scorer): (serde_json::Map<_, _>, serde_json::Map<_, _>) = fields
            .into_iter()
            .partition(|(key, _)| CompareSettings::FIELDS.contains(&key.as_str()));
        Ok(Self {
            scorer: serde_json::from_value(serde_json::Value::Object(scorer))
                .map_err(D::Error::custom)?,
            statistics: serde_json::from_value(serde_json::Value::Object(statistics))
                .map_err(D::Error::custom)?,
        })
    }
}

/// The outcome email (SESv2). The sender must be a verified identity in SES.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The sender: a verified SES identity.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// Prepended to every subject.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// Create the sender's SES identity when it does not exist (for local stacks, where creating verifies it; on
    /// real SES this only sends a verification email, and the run's email fails until it is confirmed).
    #[serde(default)]
    pub create_sender_identity: bool,
}

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn default_prefix() -> String {
    "bertscore-pipeline".into()
}
fn default_customization_type() -> String {
    "FINE_TUNING".into()
}
fn default_poll_initial() -> f64 {
    30.0
}
fn default_poll_max() -> f64 {
    300.0
}
fn default_job_timeout() -> f64 {
    24.0 * 3600.0
}
fn default_throughput_timeout() -> f64 {
    2.0 * 3600.0
}
fn default_deployment_timeout() -> f64 {
    3600.0
}
fn default_batch_timeout() -> f64 {
    24.0 * 3600.0
}
fn default_batch_min_records() -> usize {
    100
}

fn default_batch_max_records() -> usize {
    bedrock_catalog::catalog().quotas.batch_records.max as usize
}
fn default_concurrency() -> usize {
    4
}
fn default_max_tokens() -> i32 {
    512
}
fn default_attempts() -> u32 {
    8
}
fn default_retry_base() -> f64 {
    0.5
}
fn default_retry_max() -> f64 {
    30.0
}
fn default_failure_fraction() -> f64 {
    0.2
}
fn default_subject_prefix() -> String {
    "[bertscore pipeline]".into()
}

/// A TOML/JSON scalar, sent to Bedrock as a string (`epochCount = 2` is `"2"`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Scalar {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    pub(crate) fn into_string(self) -> String {
        match self {
            Scalar::String(s) => s,
            Scalar::Integer(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// Accepts `epochCount = 1` as well as `epochCount = "1"`.
fn string_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<String, Scalar>::deserialize(deserializer)?;
    Ok(map
        .into_iter()
        .map(|(key, value)| (key, value.into_string()))
        .collect())
}

pub(crate) fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

impl PipelineConfig {
    /// Reads a TOML config; relative data paths become relative to the file's directory.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = read_config_text(path)?;
        let mut config = Self::from_toml_str(&text, path)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        config.validate(path)?;
        Ok(config)
    }

    /// Parses TOML text (`origin` names it in errors); paths are left as written.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| PipelineError::config(origin, e.to_string()))
    }

    /// Makes the data paths absolute against `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut self.data.training);
        resolve(&mut self.data.validation);
        resolve(&mut self.data.references);
        if let Some(path) = self.data.job_validation.as_mut() {
            resolve(path);
        }
    }

    /// Rejects settings no run could succeed with, naming the field.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        let fail = |message: String| Err(PipelineError::config(origin, message));
        let nonempty = [
            ("s3.bucket", self.s3.bucket.as_str()),
            (
                "customization.base_model_id",
                self.customization.base_model_id.as_str(),
            ),
            (
                "customization.role_arn",
                self.customization.role_arn.as_str(),
            ),
            (
                "customization.customization_type",
                self.customization.customization_type.as_str(),
            ),
        ];
        for (field, value) in nonempty {
            if value.trim().is_empty() {
                return fail(format!("{field} must not be empty"));
            }
        }
        self.scoring.validate(origin)?;
        self.aws
            .validate()
            .map_err(|message| PipelineError::config(origin, message))?;
        // The catalog's facts about the base model: listed, customizable with this type in this region, and the
        // hyper-parameters it takes within their ranges.
        let model = crate::models::base_model(
            &self.customization.base_model_id,
            &self.customization.customization_type,
            self.aws.region.as_deref(),
        )
        .map_err(|message| PipelineError::config(origin, message))?;
        model
            .check_hyper_parameters(
                self.customization
                    .hyper_parameters
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            )
            .map_err(|message| {
                PipelineError::config(origin, format!("customization.hyper_parameters: {message}"))
            })?;
        // The pipeline creates throughputs without a commitment term: AWS takes 1 model unit for those.
        let max_units = crate::models::max_no_commitment_model_units();
        if !(1..=max_units as i32).contains(&self.throughput.model_units) {
            return fail(format!(
                "throughput.model_units must be in [1, {max_units}]: a provisioned throughput without a \
                 commitment term takes {max_units} model unit(s) (the catalog's quotas.no_commitment_throughput)"
            ));
        }
        if self.inference.concurrency == 0 {
            return fail("inference.concurrency must be at least 1".into());
        }
        if !(1..=MAX_INFERENCE_ATTEMPTS).contains(&self.inference.max_attempts) {
            return fail(format!(
                "inference.max_attempts must be in [1, {MAX_INFERENCE_ATTEMPTS}]"
            ));
        }
        if !(self.inference.retry_max_s.is_finite()
            && (0.0..=MAX_RETRY_DELAY_S).contains(&self.inference.retry_max_s))
        {
            return fail(format!(
                "inference.retry_max_s must be in [0, {MAX_RETRY_DELAY_S}] seconds"
            ));
        }
        if !(0.0..=1.0).contains(&self.inference.max_failure_fraction) {
            return fail("inference.max_failure_fraction must be in [0, 1]".into());
        }
        let positive = [
            ("polling.initial_s", self.polling.initial_s),
            ("polling.max_s", self.polling.max_s),
            ("polling.job_timeout_s", self.polling.job_timeout_s),
            (
                "polling.throughput_timeout_s",
                self.polling.throughput_timeout_s,
            ),
            (
                "polling.deployment_timeout_s",
                self.polling.deployment_timeout_s,
            ),
            ("polling.batch_timeout_s", self.polling.batch_timeout_s),
        ];
        for (field, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return fail(format!("{field} must be a positive number of seconds"));
            }
        }
        if !(self.inference.retry_base_s.is_finite() && self.inference.retry_base_s >= 0.0) {
            return fail("inference.retry_base_s must be >= 0".into());
        }
        if let Some(notify) = &self.notify
            && (notify.from.trim().is_empty() || notify.to.is_empty())
        {
            return fail("notify needs a `from` address and at least one `to` address".into());
        }
        if !(1..=MAX_BATCH_RECORDS).contains(&self.inference.batch_min_records) {
            return fail(format!(
                "inference.batch_min_records must be in [1, {MAX_BATCH_RECORDS}]"
            ));
        }
        let quota = bedrock_catalog::catalog().quotas.batch_records.max as usize;
        let lowest = self.inference.batch_min_records.saturating_mul(2);
        if !(lowest..=quota).contains(&self.inference.batch_max_records) {
            return fail(format!(
                "inference.batch_max_records must be in [2 x batch_min_records = {lowest}, {quota}] (Bedrock's \
                 maximum records per batch job; twice the minimum, so every part of a split reaches the minimum)"
            ));
        }
        if let Some(role) = &self.inference.batch_role_arn
            && role.trim().is_empty()
        {
            return fail("inference.batch_role_arn must not be empty when set".into());
        }
        if let Some(system) = &self.customization.system_prompt
            && (system.trim().is_empty() || system.chars().count() > MAX_SYSTEM_PROMPT_CHARS)
        {
            return fail(format!(
                "customization.system_prompt must have 1 to {MAX_SYSTEM_PROMPT_CHARS} characters"
            ));
        }
        self.validate_serving(origin)?;
        // Every value a run sends, against AWS's own rules (regions, buckets, prefixes, ARNs, names, addresses).
        crate::fields::check(self, origin)?;
        if let Some(sweep) = &self.sweep {
            // The longest run id a run may have: the candidates' names must fit Bedrock's limits with any.
            let names = crate::naming::ResourceNames::of(self, &"r".repeat(40));
            sweep.validate(&self.customization.hyper_parameters, &names, origin)?;
            let candidates = sweep
                .expand(&self.customization.hyper_parameters)
                .map_err(|message| PipelineError::config(origin, message))?;
            for candidate in candidates {
                let values = candidate.hyper_parameters.iter();
                model
                    .check_hyper_parameters(values.map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(|message| {
                        PipelineError::config(
                            origin,
                            format!("sweep candidate {}: {message}", candidate.id),
                        )
                    })?;
            }
        }
        Ok(())
    }

    /// What serves the custom model: `[serving] mode` resolved against the base model's family (and `[aws]
    /// region`, when set). `auto` takes an on-demand deployment where Bedrock has one for the family (Amazon
    /// Nova Micro, Lite, Pro, in us-east-1 and us-west-2): billed per token, nothing while idle, where provisioned
    /// throughput bills every hour it exists. [`PipelineConfig::validate`] rejects `on-demand` where there is
    /// none.
    pub fn serving_kind(&self) -> ServingKind {
        let base = &self.customization.base_model_id;
        match self.serving.mode {
            ServingMode::Provisioned => ServingKind::Throughput,
            ServingMode::OnDemand => ServingKind::Deployment,
            ServingMode::Auto
                if crate::models::on_demand_deployment(base, self.aws.region.as_deref()) =>
            {
                ServingKind::Deployment
            }
            ServingMode::Auto => ServingKind::Throughput,
        }
    }

    /// Why [`PipelineConfig::serving_kind`] chose what it chose, in words.
    pub fn serving_reason(&self) -> &'static str {
        match (self.serving.mode, self.serving_kind()) {
            (ServingMode::Auto, ServingKind::Deployment) => {
                "serving.mode = auto: the family has on-demand deployment"
            }
            (ServingMode::Auto, ServingKind::Throughput) => {
                "serving.mode = auto: the family has no on-demand deployment"
            }
            (_, ServingKind::Deployment) => "serving.mode = on-demand",
            (_, ServingKind::Throughput) => "serving.mode = provisioned",
        }
    }

    /// Whether the serving of kind `kind` is kept when the custom model wins (`[deployment]` or `[throughput]
    /// keep_if_better`).
    pub fn keep_serving_if_better(&self, kind: ServingKind) -> bool {
        match kind {
            ServingKind::Throughput => self.throughput.keep_if_better,
            ServingKind::Deployment => self.deployment.keep_if_better,
        }
    }

    fn validate_serving(&self, origin: &Path) -> Result<()> {
        let fail = |message: String| Err(PipelineError::config(origin, message));
        if self.serving.mode == ServingMode::OnDemand {
            let base = &self.customization.base_model_id;
            let regions = crate::models::on_demand_regions(base);
            if regions.is_empty() {
                return fail(format!(
                    "serving.mode = \"on-demand\": Bedrock does not deploy custom models of {base} on demand (the \
                     catalog's on_demand_deployment); they are served by provisioned throughput (use \
                     serving.mode = \"auto\" or \"provisioned\")"
                ));
            }
            if let Some(region) = self.aws.region.as_deref()
                && !regions.iter().any(|r| r == region)
            {
                return fail(format!(
                    "serving.mode = \"on-demand\": on-demand deployment of {base} custom models is offered in {} \
                     only, not in aws.region {region:?}",
                    regions.join(" and ")
                ));
            }
        }
        Ok(())
    }

    /// Applies the AWS sample's Step Functions execution input (`BaseModelIdentifier`, `CustomModelName`,
    /// `JobName`, `HyperParameters`, `TrainingDataFileName`) on top of this config. `TrainingDataFileName` is
    /// looked up next to the configured training file.
    pub fn apply_step_functions_input(&mut self, input: &StepFunctionsInput) {
        self.customization.base_model_id = input.base_model_identifier.clone();
        self.customization.inference_model_id = None;
        if let Some(name) = &input.custom_model_name {
            self.customization.custom_model_name = Some(name.clone());
        }
        if let Some(name) = &input.job_name {
            self.customization.job_name = Some(name.clone());
        }
        if !input.hyper_parameters.is_empty() {
            self.customization.hyper_parameters = input.hyper_parameters.clone();
        }
        if let Some(file) = &input.training_data_file_name {
            let dir = self
                .data
                .training
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            self.data.training = dir.join(file);
        }
    }
}

/// The most records one batch job may hold (Bedrock's default per-job quota is 50,000; raised quotas stay below
/// this).
pub const MAX_BATCH_RECORDS: usize = 1_000_000;
/// The most attempts per evaluation prompt (`inference.max_attempts`).
pub const MAX_INFERENCE_ATTEMPTS: u32 = 20;
/// The longest delay between two attempts of a prompt (`inference.retry_max_s`).
pub const MAX_RETRY_DELAY_S: f64 = 300.0;
/// The longest `customization.system_prompt`.
pub const MAX_SYSTEM_PROMPT_CHARS: usize = 100_000;

/// A config file's text: a regular file of at most [`crate::files::MAX_CONFIG_BYTES`].
fn read_config_text(path: &Path) -> Result<String> {
    crate::files::read_text(path, crate::files::MAX_CONFIG_BYTES).map_err(|error| {
        let message = match error {
            crate::files::ReadError::Unusable(why) => why,
            crate::files::ReadError::Io(e) => e.to_string(),
        };
        PipelineError::config(path, message)
    })
}

/// The AWS sample's Step Functions execution input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepFunctionsInput {
    /// `BaseModelIdentifier`: the model to customize.
    pub base_model_identifier: String,
    /// `CustomModelName`.
    #[serde(default)]
    pub custom_model_name: Option<String>,
    /// `JobName`.
    #[serde(default)]
    pub job_name: Option<String>,
    /// `HyperParameters`.
    #[serde(default, deserialize_with = "string_map")]
    pub hyper_parameters: BTreeMap<String, String>,
    /// `TrainingDataFileName`: looked up next to the configured training file.
    #[serde(default)]
    pub training_data_file_name: Option<String>,
}

impl StepFunctionsInput {
    /// Reads the JSON file.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = read_config_text(path)?;
        serde_json::from_str(&text).map_err(|e| PipelineError::config(path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [data]
        training = "train.jsonl"
        validation = "val.json"
        references = "refs.json"
        [s3]
        bucket = "bkt"
        [customization]
        base_model_id = "cohere.command-light-text-v14:7:4k"
        role_arn = "arn:aws:iam::123456789012:role/r"
        hyper_parameters = { epochCount = 1, learningRate = "0.00001" }
    "#;

    #[test]
    fn minimal_config_gets_defaults() {
        let mut config = PipelineConfig::from_toml_str(MINIMAL, Path::new("x.toml")).unwrap();
        config.resolve_paths(Path::new("/data"));
        config.validate(Path::new("x.toml")).unwrap();
        assert_eq!(config.data.training, PathBuf::from("/data/train.jsonl"));
        assert_eq!(config.customization.hyper_parameters["epochCount"], "1");
        assert_eq!(
            config.customization.inference_model_id(),
            "cohere.command-light-text-v14"
        );
        assert_eq!(config.customization.adapter(), AdapterKind::Cohere);
        assert_eq!(config.throughput.model_units, 1);
        assert_eq!(config.s3.buckets(), vec!["bkt"]);
        assert_eq!(
            config.s3.key("r1", "training/x.jsonl"),
            "bertscore-pipeline/r1/training/x.jsonl"
        );
        assert!(config.notify.is_none());
    }

    #[test]
    fn inference_ids_are_the_ids_aws_invokes() {
        let id_for = |base: &str| {
            let text = MINIMAL.replace("cohere.command-light-text-v14:7:4k", base);
            let config = PipelineConfig::from_toml_str(&text, Path::new("x.toml")).unwrap();
            config.customization.inference_model_id()
        };
        // Cutting at the first `:` invoked `meta.llama3-1-8b-instruct-v1`, a model that does not exist.
        for (base, invoked) in [
            (
                "meta.llama3-1-8b-instruct-v1:0:128k",
                "meta.llama3-1-8b-instruct-v1:0",
            ),
            (
                "meta.llama3-2-3b-instruct-v1:0:128k",
                "meta.llama3-2-3b-instruct-v1:0",
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1:0:200k",
                "anthropic.claude-3-haiku-20240307-v1:0",
            ),
            ("amazon.nova-micro-v1:0:128k", "amazon.nova-micro-v1:0"),
            (
                "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-1-70b-instruct-v1:0:128k",
                "meta.llama3-1-70b-instruct-v1:0",
            ),
            (
                "cohere.command-light-text-v14:7:4k",
                "cohere.command-light-text-v14",
            ),
        ] {
            assert_eq!(id_for(base), invoked, "{base}");
        }
        // Not in the catalog: refused, with the models it lists.
        let text = MINIMAL.replace(
            "cohere.command-light-text-v14:7:4k",
            "vendor.some-model-v2:1:32k",
        );
        let config = PipelineConfig::from_toml_str(&text, Path::new("x.toml")).unwrap();
        let error = config
            .validate(Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("not in the Bedrock model catalog"),
            "{error}"
        );
    }

    #[test]
    fn hyper_parameters_and_model_units_are_the_catalogs() {
        let parse = |edit: &str| {
            let text = format!("{MINIMAL}\n{edit}");
            let config = PipelineConfig::from_toml_str(&text, Path::new("x.toml")).unwrap();
            config
                .validate(Path::new("x.toml"))
                .map_err(|e| e.to_string())
        };
        let nova = |hp: &str| {
            MINIMAL
                .replace(
                    "cohere.command-light-text-v14:7:4k",
                    "amazon.nova-micro-v1:0:128k",
                )
                .replace(
                    r#"hyper_parameters = { epochCount = 1, learningRate = "0.00001" }"#,
                    &format!("hyper_parameters = {{ {hp} }}"),
                )
        };
        let check = |text: String| {
            let config = PipelineConfig::from_toml_str(&text, Path::new("x.toml")).unwrap();
            config
                .validate(Path::new("x.toml"))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            check(nova("epochCount = \"5\", learningRate = \"0.0001\"")),
            Ok(())
        );
        let epochs = check(nova("epochCount = \"50\"")).unwrap_err();
        assert!(
            epochs.contains("epochCount = 50 is outside its range [1, 5]"),
            "{epochs}"
        );
        let batch = check(nova("batchSize = \"8\"")).unwrap_err();
        assert!(
            batch.contains("does not take the hyper-parameter batchSize"),
            "{batch}"
        );
        let units = parse("[throughput]\nmodel_units = 2").unwrap_err();
        assert!(
            units.contains("throughput.model_units must be in [1, 1]"),
            "{units}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        let err = PipelineConfig::from_toml_str(
            &MINIMAL.replace("[s3]", "[s3]\nbukket = 1"),
            Path::new("x.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("bukket"), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::BadInput);
        let text = format!("{MINIMAL}\n[throughput]\nmodel_units = 0\n");
        let config = PipelineConfig::from_toml_str(&text, Path::new("x.toml")).unwrap();
        let err = config.validate(Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("model_units"), "{err}");
    }

    #[test]
    fn step_functions_input_overrides_the_job() {
        let mut config = PipelineConfig::from_toml_str(MINIMAL, Path::new("x.toml")).unwrap();
        config.resolve_paths(Path::new("/data"));
        let input: StepFunctionsInput = serde_json::from_str(
            r#"{"BaseModelIdentifier": "amazon.titan-text-express-v1:0:8k", "CustomModelName": "m1", "JobName": "j1",
                "HyperParameters": {"epochCount": "2"}, "TrainingDataFileName": "other.jsonl"}"#,
        )
        .unwrap();
        config.apply_step_functions_input(&input);
        assert_eq!(
            config.customization.inference_model_id(),
            "amazon.titan-text-express-v1"
        );
        assert_eq!(config.customization.adapter(), AdapterKind::Titan);
        assert_eq!(config.customization.job_name.as_deref(), Some("j1"));
        assert_eq!(config.customization.hyper_parameters.len(), 1);
        assert_eq!(config.data.training, PathBuf::from("/data/other.jsonl"));
    }

    #[test]
    fn serving_auto_deploys_nova_on_demand_and_provisions_the_rest() {
        let nova = MINIMAL.replace(
            "cohere.command-light-text-v14:7:4k",
            "amazon.nova-micro-v1:0:128k",
        );
        let parse = |text: &str| {
            let config = PipelineConfig::from_toml_str(text, Path::new("x.toml"))?;
            config.validate(Path::new("x.toml"))?;
            Ok::<_, PipelineError>(config)
        };
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.serving.mode, ServingMode::Auto);
        assert_eq!(config.serving_kind(), ServingKind::Throughput);
        assert!(config.deployment.keep_if_better);
        assert_eq!(config.polling.deployment_timeout_s, 3600.0);
        assert_eq!(
            parse(&nova).unwrap().serving_kind(),
            ServingKind::Deployment
        );
        let provisioned = format!("{nova}\n[serving]\nmode = \"provisioned\"\n");
        assert_eq!(
            parse(&provisioned).unwrap().serving_kind(),
            ServingKind::Throughput
        );
        // Nova is customized in us-east-1 only (the catalog): another region is refused before anything else.
        let frankfurt = format!("{nova}\n[aws]\nregion = \"eu-central-1\"\n");
        let error = parse(&frankfurt).unwrap_err();
        assert!(
            error.to_string().contains("customized in us-east-1 only"),
            "{error}"
        );
        // On demand for a family without it is a config error naming the field and the model.
        let error = parse(&format!("{MINIMAL}\n[serving]\nmode = \"on-demand\"\n")).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::BadInput);
        let message = error.to_string();
        assert!(
            message.contains("serving.mode = \"on-demand\""),
            "{message}"
        );
        assert!(
            message.contains("cohere.command-light-text-v14:7:4k"),
            "{message}"
        );
        let error = parse(&format!("{nova}\n[serving]\nmode = \"sometimes\"\n")).unwrap_err();
        assert!(error.to_string().contains("sometimes"), "{error}");
        let error = parse(&format!("{nova}\n[deployment]\nname = \"a.b\"\n")).unwrap_err();
        assert!(error.to_string().contains("deployment.name"), "{error}");
    }

    fn with_scoring(lines: &str) -> Result<PipelineConfig> {
        let config = PipelineConfig::from_toml_str(
            &format!("{MINIMAL}\n[scoring]\n{lines}\n"),
            Path::new("x.toml"),
        )?;
        config.validate(Path::new("x.toml"))?;
        Ok(config)
    }

    #[test]
    fn scoring_takes_the_settings_defaults() {
        let config = with_scoring("").unwrap();
        assert_eq!(config.scoring.scorer, ScorerSettings::default());
        assert_eq!(config.scoring.statistics, CompareSettings::default());
        assert_eq!(config.scoring.model_spec(), bertscore_hub::DEFAULT_MODEL);

        let config = with_scoring(
            "model = \"roberta-large\"\nnum_layers = 17\nidf = true\nbatch_size = 8\nbootstrap = 2000\nalpha = 0.01",
        )
        .unwrap();
        assert_eq!(config.scoring.model_spec(), "roberta-large");
        assert_eq!(config.scoring.scorer.num_layers, Some(17));
        assert_eq!(config.scoring.scorer.batch_size, 8);
        assert!(config.scoring.scorer.idf);
        assert_eq!(config.scoring.statistics.bootstrap, 2000);
        assert_eq!(config.scoring.statistics.alpha, 0.01);
        assert_eq!(
            config.scoring.statistics.permutations,
            CompareSettings::default().permutations
        );
    }

    #[test]
    fn bad_scoring_settings_are_rejected_by_validate() {
        for (line, field) in [
            ("batch_size = 0", "scoring.batch_size"),
            ("threads = 100000", "scoring.threads"),
            ("alpha = 2.0", "scoring.alpha"),
            ("margin = -1", "scoring.margin"),
            ("bootstrap = 1000000000", "scoring.bootstrap"),
            ("permutations = 0", "scoring.permutations"),
            ("model = \"\"", "scoring.model"),
        ] {
            let error = with_scoring(line).unwrap_err();
            assert_eq!(
                error.kind(),
                crate::error::ErrorKind::BadInput,
                "{line}: {error}"
            );
            assert!(error.to_string().contains(field), "{line}: {error}");
        }
        let error = with_scoring("bukket = 1").unwrap_err();
        assert!(error.to_string().contains("bukket"), "{error}");
    }

    #[test]
    fn scoring_round_trips_through_toml_and_json() {
        let config =
            with_scoring("lang = \"en\"\nrescale_with_baseline = true\ndevice = \"cpu\"\nseed = 3")
                .unwrap();
        let toml_text = toml::to_string(&config).unwrap();
        let back = PipelineConfig::from_toml_str(&toml_text, Path::new("y.toml")).unwrap();
        assert_eq!(back, config);
        let json = serde_json::to_string(&config).unwrap();
        let back: PipelineConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
        assert_eq!(back.scoring.statistics.seed, 3);
        assert_eq!(back.scoring.scorer.lang.as_deref(), Some("en"));
    }
}
