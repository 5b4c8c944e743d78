//! The types of `models/bedrock-models.toml`: one [`Model`] per base model, the account [`Quotas`], and the
//! [`Source`] pages every fact cites.

use serde::Deserialize;

/// A documentation page a fact was read from, and when.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The page's title.
    pub title: String,
    /// The page's URL.
    pub url: String,
    /// The date the fact was checked against the page (YYYY-MM-DD).
    pub checked: String,
}

/// The request/response body of a model's InvokeModel call.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Adapter {
    /// Amazon Nova `messages-v1`.
    Nova,
    /// Meta Llama `{"prompt"}` → `{"generation"}`.
    MetaLlama,
    /// Anthropic Messages (`anthropic_version`, `messages`) → `{"content": [{"text"}]}`.
    AnthropicMessages,
    /// Cohere Command (text) `{"prompt"}` → `{"generations": [{"text"}]}`.
    CohereCommand,
    /// Amazon Titan Text `{"inputText"}` → `{"results": [{"outputText"}]}`.
    TitanText,
}

/// The schema of a model's fine-tuning data (one JSON object per line).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TrainingFormat {
    /// `{"prompt", "completion"}`.
    PromptCompletion,
    /// `{"schemaVersion": "bedrock-conversation-2024", "system", "messages"}`.
    #[serde(rename = "bedrock-conversation-2024")]
    BedrockConversation2024,
    /// `{"system", "messages": [{"role", "content"}]}` (Claude 3 Haiku).
    AnthropicMessages,
}

/// A model's state on Bedrock, as GetFoundationModel's `modelLifecycle.status` spells it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum LifecycleState {
    /// Served and customizable.
    #[serde(rename = "ACTIVE")]
    Active,
    /// Still served; an end-of-life date is announced.
    #[serde(rename = "LEGACY")]
    Legacy,
    /// No longer served: requests fail with ResourceNotFoundException.
    #[serde(rename = "EOL")]
    EndOfLife,
}

impl LifecycleState {
    /// The wire spelling (`ACTIVE`, `LEGACY`, `EOL`).
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Active => "ACTIVE",
            LifecycleState::Legacy => "LEGACY",
            LifecycleState::EndOfLife => "EOL",
        }
    }
}

/// A model's lifecycle.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Active, legacy or end of life.
    pub state: LifecycleState,
    /// The end-of-life date (YYYY-MM-DD) when the source gives one.
    #[serde(default)]
    pub eol_date: Option<String>,
    /// Key into the catalog's sources.
    pub source: String,
}

/// A kind of model customization, as the API spells it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum CustomizationType {
    /// Supervised fine-tuning.
    #[serde(rename = "FINE_TUNING")]
    FineTuning,
    /// Continued pre-training on unlabelled text.
    #[serde(rename = "CONTINUED_PRE_TRAINING")]
    ContinuedPreTraining,
}

impl CustomizationType {
    /// The wire spelling (`FINE_TUNING`, `CONTINUED_PRE_TRAINING`).
    pub fn as_str(self) -> &'static str {
        match self {
            CustomizationType::FineTuning => "FINE_TUNING",
            CustomizationType::ContinuedPreTraining => "CONTINUED_PRE_TRAINING",
        }
    }

    /// The type of a wire spelling.
    pub fn parse(text: &str) -> Option<CustomizationType> {
        match text {
            "FINE_TUNING" => Some(CustomizationType::FineTuning),
            "CONTINUED_PRE_TRAINING" => Some(CustomizationType::ContinuedPreTraining),
            _ => None,
        }
    }
}

/// Which customizations a model takes, and where.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Customization {
    /// The customization types.
    pub types: Vec<CustomizationType>,
    /// The regions where a customization job on this model can be created.
    pub regions: Vec<String>,
    /// Key into the catalog's sources.
    pub source: String,
}

/// The training data a model's fine-tuning takes.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// The record schema.
    pub format: TrainingFormat,
    /// Key into the catalog's sources.
    pub source: String,
}

/// Regions where a feature (batch inference, on-demand deployment) is offered; empty when it is not.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// The regions.
    pub regions: Vec<String>,
    /// Key into the catalog's sources.
    pub source: String,
}

impl Availability {
    /// Whether the feature is offered in `region`.
    pub fn in_region(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r == region)
    }
}

/// Provisioned Throughput for custom models of this base model.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProvisionedThroughput {
    /// Whether a custom model of this base model can be served by a Provisioned Throughput.
    pub custom_model: bool,
    /// Key into the catalog's sources.
    pub source: String,
}

/// Whether a hyper-parameter takes whole numbers or decimals.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HyperParameterKind {
    /// A whole number.
    Integer,
    /// A decimal number.
    Float,
}

/// One hyper-parameter of a model's customization: its API name, kind, range (inclusive) and default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HyperParameter {
    /// The API name (`epochCount`).
    pub name: String,
    /// Integer or float.
    pub kind: HyperParameterKind,
    /// The smallest value taken.
    pub min: f64,
    /// The largest value taken.
    pub max: f64,
    /// The value used when the request does not give one.
    pub default: f64,
    /// Key into the catalog's sources.
    pub source: String,
    /// A caveat on how the source applies.
    #[serde(default)]
    pub note: Option<String>,
}

impl HyperParameter {
    /// Checks a request's value (the API takes every hyper-parameter as a string). The error says what is
    /// wrong and the range.
    pub fn check(&self, value: &str) -> Result<(), String> {
        let range = format!("[{}, {}]", self.min, self.max);
        let number = match self.kind {
            HyperParameterKind::Integer => {
                value.trim().parse::<i64>().map(|n| n as f64).map_err(|_| {
                    format!("{} must be an integer in {range}, not {value:?}", self.name)
                })?
            }
            HyperParameterKind::Float => value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| {
                    format!("{} must be a number in {range}, not {value:?}", self.name)
                })?,
        };
        if number < self.min || number > self.max {
            return Err(format!(
                "{} = {value} is outside its range {range}",
                self.name
            ));
        }
        Ok(())
    }
}

/// One base model.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// The model's name (`Amazon Nova Micro`).
    pub name: String,
    /// The id CreateModelCustomizationJob takes as `baseModelIdentifier` (`amazon.nova-micro-v1:0:128k`).
    pub customize_id: String,
    /// The id InvokeModel, Converse and batch jobs take (`amazon.nova-micro-v1:0`).
    pub inference_id: String,
    /// The InvokeModel body.
    pub adapter: Adapter,
    /// Active, legacy or end of life.
    pub lifecycle: Lifecycle,
    /// Customization types and regions.
    pub customization: Customization,
    /// The fine-tuning data format.
    pub training: Training,
    /// Batch inference regions.
    pub batch: Availability,
    /// On-demand custom model deployment regions.
    pub on_demand_deployment: Availability,
    /// Provisioned Throughput for its custom models.
    pub provisioned_throughput: ProvisionedThroughput,
    /// The customization hyper-parameters.
    pub hyper_parameters: Vec<HyperParameter>,
}

impl Model {
    /// The model's adapter.
    pub fn adapter(&self) -> Adapter {
        self.adapter
    }

    /// The model's lifecycle state.
    pub fn lifecycle(&self) -> LifecycleState {
        self.lifecycle.state
    }

    /// Whether the model has reached end of life.
    pub fn is_end_of_life(&self) -> bool {
        self.lifecycle.state == LifecycleState::EndOfLife
    }

    /// Whether a customization job of `kind` on this model can be created in `region`.
    pub fn can_customize(&self, region: &str, kind: CustomizationType) -> bool {
        self.customization.types.contains(&kind)
            && self.customization.regions.iter().any(|r| r == region)
    }

    /// The hyper-parameter called `name`.
    pub fn hyper_parameter(&self, name: &str) -> Option<&HyperParameter> {
        self.hyper_parameters.iter().find(|hp| hp.name == name)
    }

    /// Checks every given hyper-parameter: a name the model does not take or a value out of its range is an
    /// error naming it.
    pub fn check_hyper_parameters<'a>(
        &self,
        given: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), String> {
        for (name, value) in given {
            let Some(hp) = self.hyper_parameter(name) else {
                let known: Vec<&str> = self
                    .hyper_parameters
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect();
                return Err(format!(
                    "{} does not take the hyper-parameter {name} (it takes {})",
                    self.name,
                    known.join(", ")
                ));
            };
            hp.check(value)?;
        }
        Ok(())
    }

    /// The regions where batch inference on this model runs (empty: none).
    pub fn batch_regions(&self) -> &[String] {
        &self.batch.regions
    }

    /// The regions where its custom models can be deployed on demand (empty: none).
    pub fn on_demand_deployment_regions(&self) -> &[String] {
        &self.on_demand_deployment.regions
    }

    /// The keys of every source this entry cites.
    pub fn cited_sources(&self) -> Vec<&str> {
        let mut keys = vec![
            self.lifecycle.source.as_str(),
            self.customization.source.as_str(),
            self.training.source.as_str(),
            self.batch.source.as_str(),
            self.on_demand_deployment.source.as_str(),
            self.provisioned_throughput.source.as_str(),
        ];
        keys.extend(self.hyper_parameters.iter().map(|hp| hp.source.as_str()));
        keys
    }
}

/// Records per batch inference job.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BatchRecords {
    /// The fewest records a job takes.
    pub min: u64,
    /// The most records a job takes.
    pub max: u64,
    /// Key into the catalog's sources.
    pub source: String,
}

/// No-commitment Provisioned Throughput limits.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NoCommitmentThroughput {
    /// Model units one no-commitment throughput may take.
    pub max_model_units_each: u32,
    /// No-commitment model units an account has across custom models by default.
    pub account_model_units: u32,
    /// Key into the catalog's sources.
    pub source: String,
}

/// On-demand custom model deployments.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OnDemandDeployment {
    /// Models customized on or after this date (YYYY-MM-DD) can be deployed.
    pub customized_since: String,
    /// Key into the catalog's sources.
    pub source: String,
}

/// Account quotas and service rules (AWS's defaults).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Records per batch inference job.
    pub batch_records: BatchRecords,
    /// No-commitment Provisioned Throughput.
    pub no_commitment_throughput: NoCommitmentThroughput,
    /// On-demand custom model deployments.
    pub on_demand_deployment: OnDemandDeployment,
}
