//! `preflight`: what the account must offer before a run spends anything, asked with read-only calls only
//! (GetFoundationModel, HeadBucket, GetEmailIdentity, GetAccount, IAM GetRole, ListProvisionedModelThroughputs).
//! Each problem is one line saying what to fix. `bertscore-pipeline preflight` prints them; `run` and `resume`
//! ask the same before their first billed call.

use std::fmt;

use aws_sdk_bedrock::types::{FoundationModelLifecycleStatus, ProvisionedModelStatus};
use bedrock_catalog::roles;
use serde::Serialize;

use crate::aws::Clients;
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
    clients: &Clients,
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
    check(config, clients, &intent).await
}

/// Asks the account; makes read-only calls only. `Err` only when a call could not be made at all (exit 4).
pub async fn check(
    config: &PipelineConfig,
    clients: &Clients,
    intent: &Intent,
) -> Result<Preflight> {
    let mut found = Preflight::default();
    base_model(config, clients, &mut found).await?;
    buckets(config, clients, &mut found).await?;
    email(config, clients, &mut found).await?;
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
        role(clients, field, arn, kind, &mut found).await?;
    }
    if config.serving_kind() == ServingKind::Throughput {
        throughput_quota(config, clients, intent, &mut found).await?;
    }
    Ok(found)
}

/// A read-only call's failure: an answer from the service (access denied, not found) is a finding; no answer at
/// all ends preflight.
fn unanswered<E>(
    error: &aws_sdk_bedrock::error::SdkError<E, aws_sdk_bedrock::config::http::HttpResponse>,
) -> bool {
    error.raw_response().is_none()
}

async fn base_model(
    config: &PipelineConfig,
    clients: &Clients,
    found: &mut Preflight,
) -> Result<()> {
    let field = "customization.base_model_id";
    let id = &config.customization.base_model_id;
    let region = &clients.region;
    let answer = clients
        .bedrock
        .get_foundation_model()
        .model_identifier(id)
        .send()
        .await;
    let output = match answer {
        Ok(output) => output,
        Err(e) if unanswered(&e) => {
            return Err(PipelineError::aws("bedrock", "GetFoundationModel", e));
        }
        Err(e) => {
            let failure = crate::error::AwsFailure::from_sdk("bedrock", "GetFoundationModel", &e);
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
    let Some(details) = output.model_details() else {
        found.problem(field, format!("Bedrock returned no details for {id}"));
        return Ok(());
    };
    match details.model_lifecycle().map(|l| l.status()) {
        Some(FoundationModelLifecycleStatus::Active) | None => {}
        Some(FoundationModelLifecycleStatus::Legacy) => found.note(
            field,
            format!("{id} is a legacy model in {region}: it reaches end of life soon; plan a move to an active model"),
        ),
        Some(other) => found.problem(
            field,
            format!(
                "{id} is {} in {region}: Bedrock no longer runs it; pick an active model",
                other.as_str()
            ),
        ),
    }
    let wanted = &config.customization.customization_type;
    let supported: Vec<&str> = details
        .customizations_supported()
        .iter()
        .map(|c| c.as_str())
        .collect();
    if !supported.contains(&wanted.as_str()) {
        found.problem(
            "customization.customization_type",
            format!(
                "{id} does not support {wanted} in {region} (it supports: {}); pick a model that does",
                if supported.is_empty() { "none".to_string() } else { supported.join(", ") }
            ),
        );
    }
    Ok(())
}

async fn buckets(config: &PipelineConfig, clients: &Clients, found: &mut Preflight) -> Result<()> {
    let s3 = &config.s3;
    for bucket in s3.buckets() {
        let field = bucket_field(config, bucket);
        match clients.s3.head_bucket().bucket(bucket).send().await {
            Ok(output) => {
                if let Some(region) = output.bucket_region()
                    && region != clients.region
                {
                    found.problem(
                        field,
                        format!(
                            "bucket {bucket} is in {region}, the run in {}: Bedrock reads and writes buckets of \
                             its own region; use a bucket in {}",
                            clients.region, clients.region
                        ),
                    );
                }
            }
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                match status {
                    None => return Err(PipelineError::aws("s3", "HeadBucket", e)),
                    Some(404) if s3.create_buckets => found.note(
                        field,
                        format!("bucket {bucket} does not exist; the run creates it in {}", clients.region),
                    ),
                    Some(404) => found.problem(
                        field,
                        format!(
                            "bucket {bucket} does not exist and s3.create_buckets = false: create it in {} or \
                             set s3.create_buckets = true",
                            clients.region
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
                        format!("bucket {bucket} is in another region than {}: use a bucket in {}", clients.region, clients.region),
                    ),
                    Some(other) => found.problem(
                        field,
                        format!("bucket {bucket}: HeadBucket answered HTTP {other}"),
                    ),
                }
            }
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
async fn verified(clients: &Clients, identity: &str) -> Result<Option<bool>> {
    let domain = identity.rsplit_once('@').map(|(_, d)| d);
    let mut known = None;
    for candidate in std::iter::once(identity).chain(domain) {
        match clients
            .ses
            .get_email_identity()
            .email_identity(candidate)
            .send()
            .await
        {
            Ok(output) => {
                // GetEmailIdentity (SESv2 API reference): `VerifiedForSendingStatus`, or `VerificationStatus`
                // SUCCESS ("the verification process completed successfully"); moto sets only the second.
                let success = output.verification_status()
                    == Some(&aws_sdk_sesv2::types::VerificationStatus::Success);
                if output.verified_for_sending_status() || success {
                    return Ok(Some(true));
                }
                known = Some(false);
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) => {}
            Err(e) => return Err(PipelineError::aws("sesv2", "GetEmailIdentity", e)),
        }
    }
    Ok(known)
}

async fn email(config: &PipelineConfig, clients: &Clients, found: &mut Preflight) -> Result<()> {
    let Some(notify) = &config.notify else {
        return Ok(());
    };
    let from = address(&notify.from);
    match verified(clients, from).await? {
        Some(true) => {}
        Some(false) => found.problem(
            "notify.from",
            format!(
                "{from} is an SES identity in {} but not verified yet: confirm the verification email (or the \
                 domain's DNS records)",
                clients.region
            ),
        ),
        None if notify.create_sender_identity => found.note(
            "notify.from",
            format!("{from} is not an SES identity yet; the run creates it (real SES then sends a verification email)"),
        ),
        None => found.problem(
            "notify.from",
            format!(
                "{from} is not a verified SES identity in {}: verify the address or its domain in SES (or set \
                 notify.create_sender_identity = true)",
                clients.region
            ),
        ),
    }
    let sandbox = match clients.ses.get_account().send().await {
        Ok(account) => !account.production_access_enabled(),
        Err(e) if e.raw_response().is_none() => {
            return Err(PipelineError::aws("sesv2", "GetAccount", e));
        }
        Err(e) => {
            let failure = crate::error::AwsFailure::from_sdk("sesv2", "GetAccount", &e);
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
            if verified(clients, to).await? != Some(true) {
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
    clients: &Clients,
    field: &str,
    arn: &str,
    kind: JobKind,
    found: &mut Preflight,
) -> Result<()> {
    // `arn:aws:iam::ACCOUNT:role/PATH/NAME`: GetRole takes the name, the last segment.
    let name = arn.rsplit('/').next().unwrap_or(arn);
    let account = arn.split(':').nth(4).unwrap_or_default();
    let role = match clients.iam.get_role().role_name(name).send().await {
        Ok(output) => output.role,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            found.problem(
                field,
                format!(
                    "role {arn} does not exist: create it (docs/aws.md gives its trust policy)"
                ),
            );
            return Ok(());
        }
        Err(e) if e.raw_response().is_none() => {
            return Err(PipelineError::aws("iam", "GetRole", e));
        }
        Err(e) => {
            let failure = crate::error::AwsFailure::from_sdk("iam", "GetRole", &e);
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
    let document = role
        .and_then(|r| r.assume_role_policy_document)
        .unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(&document).decode_utf8_lossy();
    let job_arn = roles::job_arn(&clients.region, account, kind, "bertscore-preflight");
    if let Err(why) = roles::admits(&decoded, account, &job_arn) {
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
    clients: &Clients,
    intent: &Intent,
    found: &mut Preflight,
) -> Result<()> {
    let mut used = 0;
    let mut pages = clients
        .bedrock
        .list_provisioned_model_throughputs()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| PipelineError::aws("bedrock", "ListProvisionedModelThroughputs", e))?;
        for summary in page.provisioned_model_summaries() {
            let live = !matches!(summary.status(), ProvisionedModelStatus::Failed);
            let own = intent
                .own_throughputs
                .iter()
                .any(|name| name == summary.provisioned_model_name());
            if live && !own && summary.commitment_duration().is_none() {
                used += summary.model_units();
            }
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
                clients.region
            ),
        );
    }
    Ok(())
}
