//! `preflight`: what the account must offer before a run spends anything, asked with read-only calls only
//! (GetFoundationModel, HeadBucket, GetEmailIdentity, GetAccount, IAM GetRole, ListProvisionedModelThroughputs).
//! Each problem is one line saying what to fix. `bertscore-pipeline preflight` prints them; `run` and `resume`
//! ask the same before their first billed call.

use std::fmt;

use bedrock_catalog::roles;
use serde::Serialize;

use crate::aws::Aws;
use crate::config::PipelineConfig;
use crate::error::{PipelineError, Result};
use crate::serving::ServingKind;

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The config field it is about (`customization.role_arn`, `s3.bucket`, ...).
    pub field: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What preflight found: problems stop a run (exit 2); notes do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Preflight {
    /// Each must be fixed before a run.
    pub problems: Vec<Finding>,
    /// Worth knowing (a legacy model, a check AWS would not answer).
    pub notes: Vec<Finding>,
}

impl Preflight {
    fn problem(&mut self, field: &str, message: String) {
        self.problems.push(Finding {
            field: field.into(),
            message,
        });
    }

    fn note(&mut self, field: &str, message: String) {
        self.notes.push(Finding {
            field: field.into(),
            message,
        });
    }

    /// `Err` (bad input, exit 2) listing every problem, when there is one.
    pub fn into_result(self, origin: &std::path::Path) -> Result<Preflight> {
        if self.problems.is_empty() {
            return Ok(self);
        }
        let lines: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        Err(PipelineError::config(
            origin,
            format!(
                "preflight found {} problem(s) in the account; nothing was created:\n{}",
                lines.len(),
                lines.join("\n")
            ),
        ))
    }
}

/// The jobs a role is assumed for, and the documented trust policy for them: the catalog's (one copy of the
/// facts for the pipeline, its tests and the emulator).
pub use bedrock_catalog::roles::{JobKind, Roles, trust_policy};

/// What the run will do that preflight must check for.
#[derive(Debug, Clone, Default)]
pub struct Intent {
    /// The base model's prompts go through a batch job (its role is checked too).
    pub batch: bool,
    /// Provisioned throughputs that are the run's own already (a resumed run): not counted against the quota.
    pub own_throughputs: Vec<String>,
}

/// Preflight for a run of `config`: the intent worked out from the config and the evaluation data (whether the
/// base model's prompts go through a batch job), then [`check`].
pub async fn for_run(
    config: &PipelineConfig,
    aws: &dyn Aws,
    own_throughputs: Vec<String>,
) -> Result<Preflight> {
    let items = crate::data::load_eval_items(&config.data.validation, &config.data.references)?;
    let batch = matches!(
        crate::batch::choose(config, items.len()),
        Ok(crate::batch::InferencePath::Batch)
    );
    let intent = Intent {
        batch,
        own_throughputs,
    };
    check(config, aws, &intent).await
}

/// Asks the account; makes read-only calls only. `Err` only when a call could not be made at all (exit 4).
pub async fn check(config: &PipelineConfig, aws: &dyn Aws, intent: &Intent) -> Result<Preflight> {
    let mut found = Preflight::default();
    base_model(config, aws, &mut found).await?;
    buckets(config, aws, &mut found).await?;
    email(config, aws, &mut found).await?;
    let mut roles = vec![(
        "customization.role_arn",
        config.customization.role_arn.as_str(),
        JobKind::Customization,
    )];
    if intent.batch {
        match &config.inference.batch_role_arn {
            Some(role) => roles.push(("inference.batch_role_arn", role.as_str(), JobKind::Batch)),
            None => roles.push((
                "customization.role_arn",
                config.customization.role_arn.as_str(),
                JobKind::Batch,
            )),
        }
    }
    for (field, arn, kind) in roles {
        role(aws, field, arn, kind, &mut found).await?;
    }
    if config.serving_kind() == ServingKind::Throughput {
        throughput_quota(config, aws, intent, &mut found).await?;
    }
    Ok(found)
}

/// A read-only call's failure: an answer from the service (access denied, not found) is a finding (`Ok`); no
/// answer at all ends preflight (`Err`).
fn answered(error: PipelineError) -> Result<crate::error::AwsFailure> {
    match error {
        PipelineError::Aws(failure) if failure.answered() => Ok(*failure),
        other => Err(other),
    }
}

async fn base_model(config: &PipelineConfig, aws: &dyn Aws, found: &mut Preflight) -> Result<()> {
    let field = "customization.base_model_id";
    let id = &config.customization.base_model_id;
    let region = aws.region();
    let details = match aws.foundation_model(id).await {
        Ok(details) => details,
        Err(e) => {
            let failure = answered(e)?;
            found.problem(
                field,
                format!(
                    "{id} is not a base model Bedrock offers in {region} ({}); pick a model of the \"Supported \
                     models and Regions for fine-tuning\" page, in its region",
                    failure.code.as_deref().map_or(failure.message.clone(), |code| format!("{code}: {}", failure.message))
                ),
            );
            return Ok(());
        }
    };
    match details.lifecycle.as_deref() {
        Some("ACTIVE") | None => {}
        Some("LEGACY") => found.note(
            field,
            format!("{id} is a legacy model in {region}: it reaches end of life soon; plan a move to an active model"),
        ),
        Some(other) => found.problem(
            field,
            format!("{id} is {other} in {region}: Bedrock no longer runs it; pick an active model"),
        ),
    }
    let wanted = &config.customization.customization_type;
    if !details.customizations.iter().any(|c| c == wanted) {
        found.problem(
            "customization.customization_type",
            format!(
                "{id} does not support {wanted} in {region} (it supports: {}); pick a model that does",
                if details.customizations.is_empty() {
                    "none".to_string()
                } else {
                    details.customizations.join(", ")
                }
            ),
        );
    }
    Ok(())
}

async fn buckets(config: &PipelineConfig, aws: &dyn Aws, found: &mut Preflight) -> Result<()> {
    let s3 = &config.s3;
    let here = aws.region();
    for bucket in s3.buckets() {
        let field = bucket_field(config, bucket);
        let failure = match aws.head_bucket(bucket).await {
            Ok(region) => {
                if let Some(region) = region
                    && region != here
                {
                    found.problem(
                        field,
                        format!(
                            "bucket {bucket} is in {region}, the run in {here}: Bedrock reads and writes buckets of \
                             its own region; use a bucket in {here}"
                        ),
                    );
                }
                continue;
            }
            Err(e) => answered(e)?,
        };
        match failure.status {
            Some(404) if s3.create_buckets => found.note(
                field,
                format!("bucket {bucket} does not exist; the run creates it in {here}"),
            ),
            Some(404) => found.problem(
                field,
                format!(
                    "bucket {bucket} does not exist and s3.create_buckets = false: create it in {here} or set \
                     s3.create_buckets = true"
                ),
            ),
            Some(403) => found.problem(
                field,
                format!(
                    "bucket {bucket} exists but these credentials may not use it (HTTP 403): grant \
                     s3:ListBucket, s3:GetObject and s3:PutObject on it, or use another bucket"
                ),
            ),
            Some(301) => found.problem(
                field,
                format!("bucket {bucket} is in another region than {here}: use a bucket in {here}"),
            ),
            other => found.problem(
                field,
                format!(
                    "bucket {bucket}: HeadBucket answered HTTP {}",
                    other.unwrap_or_default()
                ),
            ),
        }
    }
    Ok(())
}

/// The field that names `bucket` (the first role that uses it).
fn bucket_field(config: &PipelineConfig, bucket: &str) -> &'static str {
    let s3 = &config.s3;
    for (field, value) in [
        ("s3.training_bucket", &s3.training_bucket),
        ("s3.validation_bucket", &s3.validation_bucket),
        ("s3.output_bucket", &s3.output_bucket),
        ("s3.inference_bucket", &s3.inference_bucket),
    ] {
        if value.as_deref() == Some(bucket) {
            return field;
        }
    }
    "s3.bucket"
}

/// The address inside `Name <address>`.
fn address(value: &str) -> &str {
    match value.rsplit_once('<') {
        Some((_, rest)) => rest.trim_end_matches('>'),
        None => value,
    }
}

/// Whether SES may send from or to `identity`: the address or its domain is a verified identity. `None` when
/// neither is an identity.
async fn verified(aws: &dyn Aws, identity: &str) -> Result<Option<bool>> {
    let domain = identity.rsplit_once('@').map(|(_, d)| d);
    let mut known = None;
    for candidate in std::iter::once(identity).chain(domain) {
        match PipelineError::unless_not_found(aws.email_identity_verified(candidate).await)? {
            Some(true) => return Ok(Some(true)),
            Some(false) => known = Some(false),
            None => {}
        }
    }
    Ok(known)
}

async fn email(config: &PipelineConfig, aws: &dyn Aws, found: &mut Preflight) -> Result<()> {
    let Some(notify) = &config.notify else {
        return Ok(());
    };
    let region = aws.region();
    let from = address(&notify.from);
    match verified(aws, from).await? {
        Some(true) => {}
        Some(false) => found.problem(
            "notify.from",
            format!(
                "{from} is an SES identity in {region} but not verified yet: confirm the verification email (or \
                 the domain's DNS records)"
            ),
        ),
        None if notify.create_sender_identity => found.note(
            "notify.from",
            format!("{from} is not an SES identity yet; the run creates it (real SES then sends a verification email)"),
        ),
        None => found.problem(
            "notify.from",
            format!(
                "{from} is not a verified SES identity in {region}: verify the address or its domain in SES (or \
                 set notify.create_sender_identity = true)"
            ),
        ),
    }
    let sandbox = match aws.production_access().await {
        Ok(production) => !production,
        Err(e) => {
            let failure = answered(e)?;
            found.note(
                "notify.to",
                format!(
                    "could not tell whether the SES account is in the sandbox ({}); recipients were not checked",
                    failure.message
                ),
            );
            return Ok(());
        }
    };
    if sandbox {
        for to in &notify.to {
            let to = address(to);
            if verified(aws, to).await? != Some(true) {
                found.problem(
                    "notify.to",
                    format!(
                        "{to} is not a verified SES identity, and the account is in the SES sandbox (it sends \
                         only to verified addresses): verify {to}, or request production access"
                    ),
                );
            }
        }
    }
    Ok(())
}

async fn role(
    aws: &dyn Aws,
    field: &str,
    arn: &str,
    kind: JobKind,
    found: &mut Preflight,
) -> Result<()> {
    // `arn:aws:iam::ACCOUNT:role/PATH/NAME`: GetRole takes the name, the last segment.
    let name = arn.rsplit('/').next().unwrap_or(arn);
    let account = arn.split(':').nth(4).unwrap_or_default();
    let document = match aws.role_trust_policy(name).await {
        Ok(document) => document,
        Err(e) if e.is_not_found() => {
            found.problem(
                field,
                format!(
                    "role {arn} does not exist: create it (docs/aws.md gives its trust policy)"
                ),
            );
            return Ok(());
        }
        Err(e) => {
            let failure = answered(e)?;
            found.problem(
                field,
                format!(
                    "role {arn} could not be read ({}): allow iam:GetRole, or check the ARN",
                    failure.message
                ),
            );
            return Ok(());
        }
    };
    let job_arn = roles::job_arn(aws.region(), account, kind, "bertscore-preflight");
    if let Err(why) = roles::admits(&document, account, &job_arn) {
        found.problem(
            field,
            format!(
                "role {arn}: {why} (docs/aws.md gives the trust policy for {}/*)",
                kind.resource()
            ),
        );
    }
    Ok(())
}

async fn throughput_quota(
    config: &PipelineConfig,
    aws: &dyn Aws,
    intent: &Intent,
    found: &mut Preflight,
) -> Result<()> {
    let mut used = 0;
    for summary in aws.throughputs().await? {
        let live = summary.status != "Failed";
        let own = intent.own_throughputs.contains(&summary.name);
        if live && !own && !summary.committed {
            used += summary.model_units;
        }
    }
    let needed = config.throughput.model_units;
    // The account's default quota of no-commitment model units across custom models (the catalog's).
    let quota = bedrock_catalog::catalog()
        .quotas
        .no_commitment_throughput
        .account_model_units;
    let quota = i32::try_from(quota).unwrap_or(i32::MAX);
    if used + needed > quota {
        found.problem(
            "throughput.model_units",
            format!(
                "the run needs {needed} no-commitment model unit(s) and the account uses {used} of its \
                 {quota} in {} already: delete a no-commitment provisioned throughput, or ask \
                 for a higher quota (Service Quotas, Bedrock)",
                aws.region()
            ),
        );
    }
    Ok(())
}
