//! Serving a custom model for inference, one of two ways:
//!
//! - an **on-demand custom model deployment** (CreateCustomModelDeployment): billed per token, nothing while
//!   idle; exists for custom models of Amazon Nova Micro, Lite and Pro, in us-east-1 and us-west-2;
//! - a **provisioned throughput** (CreateProvisionedModelThroughput, no commitment term): billed per model unit
//!   and hour from creation until deleted; serves every other family (Cohere, Titan, Llama).
//!
//! Either way the custom model is invoked with the serving's ARN as model id. `[serving] mode` picks the kind
//! ([`ServingMode`]; `auto`: a deployment where the family has one), [`PipelineConfig::serving_kind`] resolves
//! it.
//!
//! A serving's life is a [`ServingRecord`], kept in the caller's durable state, driven by three free functions
//! that make the AWS calls (through the [`Aws`] port) and hand the record to a `save` callback after every change, so the state on disk
//! is never behind AWS:
//!
//! ```no_run
//! # async fn demo(aws: &dyn bertscore_pipeline::Aws, config: &bertscore_pipeline::PipelineConfig,
//! #               model_arn: &str) -> bertscore_pipeline::Result<()> {
//! use bertscore_pipeline::serving::{self, ServingRecord};
//! let kind = config.serving_kind();
//! let mut record = ServingRecord::new(kind, serving::default_name(kind, "my-model-c1"));
//! let token = record.token("run-1-c1"); // stable per run, candidate and generation
//! let mut save = |r: &ServingRecord| -> bertscore_pipeline::Result<()> { /* persist r */ Ok(()) };
//! // Saves the record (name, `requested`) BEFORE the create call, then its ARN. Repeating it after a crash,
//! // with the same token, gives the same serving: never a second one.
//! serving::create(aws, config, &mut record, model_arn, &token, &mut save).await?;
//! // Polls (backoff with jitter, `[polling]` timeouts) until Active / InService; Failed is an error.
//! serving::wait(aws, config, &mut record, &mut save).await?;
//! // ... invoke `record.identifier()` ...
//! serving::delete(aws, &mut record, &mut save).await?; // false when it did not exist
//! # Ok(()) }
//! ```
//!
//! After a failure that deleted the serving, a caller that needs it again calls [`ServingRecord::recreate`]
//! (a new generation: a new client token) before `create`.

use serde::{Deserialize, Serialize};

mod lifecycle;

pub(crate) use lifecycle::delete_custom_model;
pub(crate) use lifecycle::deletion_event;
pub use lifecycle::{create, delete, wait};

/// `[serving] mode`: how the custom model is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServingMode {
    /// An on-demand deployment where the base model's family supports one (Nova Micro, Lite, Pro), and
    /// provisioned throughput otherwise.
    #[default]
    Auto,
    /// Always an on-demand deployment; a config error for a family without one.
    OnDemand,
    /// Always provisioned throughput.
    Provisioned,
}

impl ServingMode {
    /// The mode as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            ServingMode::Auto => "auto",
            ServingMode::OnDemand => "on-demand",
            ServingMode::Provisioned => "provisioned",
        }
    }
}

/// What serves a custom model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServingKind {
    /// A provisioned throughput: billed hourly until deleted (the default: state files written before
    /// deployments existed).
    #[default]
    Throughput,
    /// An on-demand custom model deployment: billed per token, nothing while idle.
    Deployment,
}

impl ServingKind {
    /// In words: `provisioned throughput` or `on-demand deployment`.
    pub fn describe(self) -> &'static str {
        match self {
            ServingKind::Throughput => "provisioned throughput",
            ServingKind::Deployment => "on-demand deployment",
        }
    }

    /// How AWS bills it while it exists.
    pub fn billing(self) -> &'static str {
        match self {
            ServingKind::Throughput => "billed hourly until deleted",
            ServingKind::Deployment => "billed per token used, nothing while idle",
        }
    }

    /// The status in which it serves requests (`InService`, `Active`).
    pub fn ready_status(self) -> &'static str {
        match self {
            ServingKind::Throughput => "InService",
            ServingKind::Deployment => "Active",
        }
    }

    /// The client-token and default-name suffix: `pt` or `od`.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            ServingKind::Throughput => "pt",
            ServingKind::Deployment => "od",
        }
    }
}

/// The default name of a serving for the custom model `custom_model`: `{custom_model}-pt` or
/// `{custom_model}-od`, made valid for the kind (a deployment name takes letters, digits, and single `-` or `_`
/// between them; at most 63 characters).
pub fn default_name(kind: ServingKind, custom_model: &str) -> String {
    let name = format!("{custom_model}-{}", kind.suffix());
    match kind {
        ServingKind::Throughput => name,
        ServingKind::Deployment => deployment_name(&name),
    }
}

/// `name` as a valid deployment name: other characters become `-`, runs of separators one, at most 63
/// characters, ending with a letter or digit.
fn deployment_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        let separator = !c.is_ascii_alphanumeric();
        if separator && (out.is_empty() || out.ends_with(['-', '_'])) {
            continue;
        }
        out.push(c);
    }
    out.truncate(63);
    while out.ends_with(['-', '_']) {
        out.pop();
    }
    out
}

/// One serving of one custom model, as the caller's state keeps it. The name is known (and saved) before the
/// create call: Bedrock's Get and Delete calls accept a name as well as an ARN, so even a crash between the
/// call and saving its answer leaves the serving findable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServingRecord {
    /// Deployment or throughput.
    pub kind: ServingKind,
    /// Its name (`modelDeploymentName` / `provisionedModelName`).
    pub name: String,
    /// Bumped by [`ServingRecord::recreate`] when one deleted after a failure is created again (a new client
    /// token).
    #[serde(default)]
    pub generation: u32,
    /// Whether a create call may have gone out (saved before the call).
    #[serde(default)]
    pub requested: bool,
    /// Its ARN, once the create call answered.
    #[serde(default)]
    pub arn: Option<String>,
    /// The last status seen (`Creating`, `Active`, `InService`, `Failed`, ...).
    #[serde(default)]
    pub status: Option<String>,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Whether it was deleted.
    #[serde(default)]
    pub deleted: bool,
}

impl ServingRecord {
    /// A serving not requested yet.
    pub fn new(kind: ServingKind, name: impl Into<String>) -> ServingRecord {
        ServingRecord {
            kind,
            name: name.into(),
            generation: 0,
            requested: false,
            arn: None,
            status: None,
            failure: None,
            deleted: false,
        }
    }

    /// The id to call it by: its ARN, or its name before the ARN is known (Bedrock accepts either). This is the
    /// model id the custom model is invoked with.
    pub fn identifier(&self) -> &str {
        self.arn.as_deref().unwrap_or(&self.name)
    }

    /// Whether it may exist and has not been deleted (its ARN is known, or a create call may have gone out).
    pub fn may_exist(&self) -> bool {
        !self.deleted && (self.arn.is_some() || self.requested)
    }

    /// The client request token of this generation, within `scope` (a run id, or a run id and a candidate):
    /// `{scope}-pt`, `{scope}-od`, then `{scope}-pt1`, ... A retried or repeated create with the same token is
    /// the same serving.
    pub fn token(&self, scope: &str) -> String {
        crate::naming::serving_token(scope, self.kind, self.generation)
    }

    /// Forgets a deleted serving so that it can be created again, as a new generation (a new token).
    pub fn recreate(&mut self) {
        *self = ServingRecord {
            generation: self.generation + 1,
            ..ServingRecord::new(self.kind, std::mem::take(&mut self.name))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid_for_their_kind() {
        assert_eq!(
            default_name(ServingKind::Throughput, "bertscore-r1"),
            "bertscore-r1-pt"
        );
        assert_eq!(
            default_name(ServingKind::Deployment, "bertscore-r1"),
            "bertscore-r1-od"
        );
        // Custom model names may hold '.' and '+'; deployment names may not.
        assert_eq!(
            default_name(ServingKind::Deployment, "m.v2+x--y"),
            "m-v2-x-y-od"
        );
        let long = default_name(ServingKind::Deployment, &"a".repeat(70));
        assert_eq!(long.len(), 63);
        assert_eq!(crate::fields::model_name(&long), Ok(()));
    }

    #[test]
    fn a_recreated_serving_gets_a_new_token_and_forgets_the_old_one() {
        let mut record = ServingRecord::new(ServingKind::Deployment, "m-od");
        assert!(!record.may_exist());
        assert_eq!(record.identifier(), "m-od");
        assert_eq!(record.token("r1"), "r1-od");
        record.requested = true;
        assert!(record.may_exist());
        record.arn = Some("arn:d".into());
        record.status = Some("Failed".into());
        record.deleted = true;
        assert!(!record.may_exist());
        assert_eq!(record.identifier(), "arn:d");
        record.recreate();
        assert_eq!(record, {
            let mut fresh = ServingRecord::new(ServingKind::Deployment, "m-od");
            fresh.generation = 1;
            fresh
        });
        assert_eq!(record.token("r1"), "r1-od1");
    }
}
