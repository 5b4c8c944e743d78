//! Every value the pipeline sends to AWS, checked against AWS's own rules before the first call: `plan`, the
//! CLI's config loading and the start of `run`/`resume` ([`check`], through [`PipelineConfig::validate`]) use
//! these functions, so a value `plan` accepts is one the services accept.
//!
//! Sources (checked 2026-12-06):
//! - regions: botocore `data/partitions.json`, each partition's `regionRegex`;
//! - bucket names: the Amazon S3 user guide, "General purpose bucket naming rules";
//! - S3 keys under a prefix: Bedrock's `S3Uri` shape (botocore `data/bedrock/2023-04-20/service-2.json`), since
//!   every key the run writes ends up in an `s3://` URI that Bedrock receives;
//! - role ARNs, names, ids and client tokens: the shapes of the same `service-2.json` named at each pattern;
//! - email addresses: RFC 5321 section 4.1.2 (`Mailbox`) and 4.5.3.1 (sizes).

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::config::PipelineConfig;
use crate::error::{PipelineError, Result};

/// A pattern of the service model, matched against the whole value (the service anchors it).
fn whole(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("a service-model pattern compiles")
}

/// botocore `partitions.json`: the `regionRegex` of aws, aws-cn, aws-eusc, aws-iso, aws-iso-b, aws-iso-e,
/// aws-iso-f and aws-us-gov, in one alternation.
static REGION: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"(?:us|eu|ap|sa|ca|me|af|il|mx|cn|eusc-de|us-iso|us-isob|eu-isoe|us-isof|us-gov)-[A-Za-z0-9_]+-[0-9]+",
    )
});
/// `RoleArn`.
static ROLE_ARN: LazyLock<Regex> =
    LazyLock::new(|| whole(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+"));
/// `JobName` (CreateModelCustomizationJob's `jobName`).
static JOB_NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*"));
/// `CustomModelName`, `ModelDeploymentName` and `ProvisionedModelName` (the last without the `{1,63}`, which
/// its `max` of 63 gives anyway).
static MODEL_NAME: LazyLock<Regex> = LazyLock::new(|| whole(r"([0-9a-zA-Z][_-]?){1,63}"));
/// `IdempotencyToken` (the job's, the serving's `clientRequestToken`).
static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| whole(r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?"));
/// `BaseModelIdentifier`.
static BASE_MODEL: LazyLock<Regex> = LazyLock::new(|| {
    whole(
        r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})/[a-z0-9]{12})|(:foundation-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([:][a-z0-9-]{1,63}){0,2})))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+)",
    )
});
/// bedrock-runtime's `InvokeModel`/`Converse` `modelId` (its widest alternative, `[a-zA-Z0-9-:.]+`, holds every
/// id or ARN the pipeline invokes).
static INVOKE_MODEL: LazyLock<Regex> = LazyLock::new(|| whole(r"[a-zA-Z0-9-:./]+"));
/// A key segment of `S3Uri`.
static KEY_SEGMENT: LazyLock<Regex> = LazyLock::new(|| whole(r"[-!_*'().a-z0-9A-Z]+"));

/// The longest `s3.prefix`: with `s3://`, a bucket (63), a run id (40) and the longest object name after it,
/// every URI the run sends stays within `S3Uri`'s 1024 characters.
pub const MAX_PREFIX: usize = 512;
/// `ModelCustomizationJobName`, `CustomModelName`, ...: at most 63 characters.
const MAX_NAME: usize = 63;
/// `IdempotencyToken`: at most 256 characters.
const MAX_TOKEN: usize = 256;
/// `RoleArn`, `BaseModelIdentifier`, `ModelIdentifier`: at most 2048 characters.
const MAX_ID: usize = 2048;
/// `CustomizationType`'s enum.
pub const CUSTOMIZATION_TYPES: [&str; 5] = [
    "FINE_TUNING",
    "CONTINUED_PRE_TRAINING",
    "DISTILLATION",
    "REINFORCEMENT_FINE_TUNING",
    "IMPORTED",
];

/// What is wrong with one value (the caller names the field).
type Check = std::result::Result<(), String>;
/// A field's name, its value, and the rule it must follow.
type Field<'a> = (&'a str, String, fn(&str) -> Check);

fn fails(ok: bool, why: impl FnOnce() -> String) -> Check {
    if ok { Ok(()) } else { Err(why()) }
}

/// An AWS region (`us-east-1`, `us-gov-west-1`, `cn-north-1`, ...).
pub fn region(value: &str) -> Check {
    fails(REGION.is_match(value), || {
        "not an AWS region (e.g. us-east-1, us-west-2, eu-central-1)".into()
    })
}

/// An S3 general purpose bucket name.
pub fn bucket(value: &str) -> Check {
    let len = value.len();
    if !(3..=63).contains(&len) {
        return Err(format!("{len} characters; a bucket name has 3 to 63"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("use only lowercase letters, digits, '.' and '-'".into());
    }
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge(value.bytes().next()) || !edge(value.bytes().last()) {
        return Err("begin and end with a lowercase letter or a digit".into());
    }
    if value.contains("..") || value.contains(".-") || value.contains("-.") {
        return Err("no two adjacent periods, and no '-' next to a '.'".into());
    }
    if value.split('.').count() == 4 && value.split('.').all(|part| part.parse::<u8>().is_ok()) {
        return Err("a bucket name is not formatted as an IP address".into());
    }
    for reserved in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if value.starts_with(reserved) {
            return Err(format!("the prefix {reserved:?} is reserved by S3"));
        }
    }
    for reserved in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if value.ends_with(reserved) {
            return Err(format!("the suffix {reserved:?} is reserved by S3"));
        }
    }
    Ok(())
}

/// The key prefix every object of a run is written under: relative (no leading `/`), no `.` or `..` segment,
/// each segment in Bedrock's `S3Uri` character set, short enough for every URI the run sends.
pub fn prefix(value: &str) -> Check {
    if value.starts_with('/') {
        return Err("a prefix is relative: no leading '/'".into());
    }
    let trimmed = value.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(());
    }
    if value.len() > MAX_PREFIX {
        return Err(format!(
            "{} characters; at most {MAX_PREFIX}, so that every S3 URI a run sends fits Bedrock's 1024",
            value.len()
        ));
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() {
            return Err("no empty segment ('//')".into());
        }
        if segment == "." || segment == ".." {
            return Err(format!("no {segment:?} segment"));
        }
        if !KEY_SEGMENT.is_match(segment) {
            return Err(format!(
                "segment {segment:?}: use letters, digits and -!_*'(). only (Bedrock's S3Uri)"
            ));
        }
    }
    Ok(())
}

/// An IAM role ARN (`RoleArn`).
pub fn role_arn(value: &str) -> Check {
    fails(
        value.len() <= MAX_ID && !has_control(value) && ROLE_ARN.is_match(value),
        || "not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)".into(),
    )
}

/// A customization job's name (`JobName`); a batch inference job's name follows the same rule.
pub fn job_name(value: &str) -> Check {
    fails(value.len() <= MAX_NAME && JOB_NAME.is_match(value), || {
        format!(
            "use 1-{MAX_NAME} letters, digits, '-', '+' and '.', starting with a letter or digit (Bedrock's \
             JobName)"
        )
    })
}

/// A custom model's, deployment's or provisioned throughput's name (`CustomModelName`,
/// `ModelDeploymentName`, `ProvisionedModelName`).
pub fn model_name(value: &str) -> Check {
    fails(
        value.len() <= MAX_NAME && MODEL_NAME.is_match(value),
        || {
            format!(
                "use 1-{MAX_NAME} letters and digits, with single '-' or '_' between them (Bedrock's \
             CustomModelName)"
            )
        },
    )
}

/// A client request token (`IdempotencyToken`).
pub fn token(value: &str) -> Check {
    fails(value.len() <= MAX_TOKEN && TOKEN.is_match(value), || {
        "use letters, digits and '-', starting and ending with a letter or digit (Bedrock's IdempotencyToken)"
            .into()
    })
}

/// The model to customize (`BaseModelIdentifier`).
pub fn base_model(value: &str) -> Check {
    fails(value.len() <= MAX_ID && BASE_MODEL.is_match(value), || {
        "not a Bedrock model id or ARN (e.g. amazon.nova-micro-v1:0:128k)".into()
    })
}

/// The model invoked for the base model's outputs (bedrock-runtime's `modelId`).
pub fn invoke_model(value: &str) -> Check {
    fails(
        value.len() <= MAX_ID && INVOKE_MODEL.is_match(value),
        || "not a Bedrock model id or ARN (letters, digits, '-', ':', '.', '/')".into(),
    )
}

/// `CustomizationType`.
pub fn customization_type(value: &str) -> Check {
    fails(CUSTOMIZATION_TYPES.contains(&value), || {
        format!("one of {}", CUSTOMIZATION_TYPES.join(", "))
    })
}

/// An email address as SMTP takes it (RFC 5321 `Mailbox`: a dot-string local part of at most 64 octets, `@`, a
/// domain of letter-digit-hyphen labels; at most 254 octets in all), optionally with a display name
/// (`Name <address>`). No control character anywhere: a CR or LF would start a new mail header.
pub fn email(value: &str) -> Check {
    if has_control(value) {
        return Err("control characters (CR, LF, ...) are not allowed in an address".into());
    }
    let address = match value.rsplit_once('<') {
        Some((name, rest)) => {
            let Some(address) = rest.strip_suffix('>') else {
                return Err("a display name form is `Name <address>`".into());
            };
            if name.contains(['<', '>', '"']) {
                return Err("the display name has '<', '>' or '\"'".into());
            }
            address
        }
        None => value,
    };
    mailbox(address)
}

fn mailbox(address: &str) -> Check {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("no '@'".into());
    };
    if address.len() > 254 {
        return Err("longer than 254 characters (RFC 5321)".into());
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if local.is_empty()
        || local.len() > 64
        || local
            .split('.')
            .any(|atom| atom.is_empty() || !atom.chars().all(atext))
    {
        return Err(format!(
            "local part {local:?}: 1-64 letters, digits and !#$%&'*+-/=?^_`{{|}}~, dot-separated (RFC 5321)"
        ));
    }
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label) {
        return Err(format!(
            "domain {domain:?}: dot-separated labels of letters, digits and '-' (RFC 5321)"
        ));
    }
    Ok(())
}

/// Text that becomes part of a mail header or a request string: no control characters.
pub fn header_text(value: &str) -> Check {
    fails(!has_control(value), || {
        "control characters (CR, LF, ESC, ...) are not allowed".into()
    })
}

fn has_control(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// Checks every field of `config` that reaches an AWS call; the error names the field and `origin` (the config
/// file). The run's own names (derived from the run id) are checked with the longest run id there can be.
pub fn check(config: &PipelineConfig, origin: &Path) -> Result<()> {
    let mut fields: Vec<Field> = Vec::new();
    if let Some(value) = &config.aws.region {
        fields.push(("aws.region", value.clone(), region));
    }
    let s3 = &config.s3;
    fields.push(("s3.bucket", s3.bucket.clone(), bucket));
    for (field, value) in [
        ("s3.training_bucket", &s3.training_bucket),
        ("s3.validation_bucket", &s3.validation_bucket),
        ("s3.output_bucket", &s3.output_bucket),
        ("s3.inference_bucket", &s3.inference_bucket),
    ] {
        if let Some(value) = value {
            fields.push((field, value.clone(), bucket));
        }
    }
    fields.push(("s3.prefix", s3.prefix.clone(), prefix));
    let customization = &config.customization;
    fields.push((
        "customization.base_model_id",
        customization.base_model_id.clone(),
        base_model,
    ));
    fields.push((
        "customization.inference_model_id",
        customization.inference_model_id(),
        invoke_model,
    ));
    fields.push((
        "customization.role_arn",
        customization.role_arn.clone(),
        role_arn,
    ));
    fields.push((
        "customization.customization_type",
        customization.customization_type.clone(),
        customization_type,
    ));
    if let Some(role) = &config.inference.batch_role_arn {
        fields.push(("inference.batch_role_arn", role.clone(), role_arn));
    }
    // The names the run sends, with the longest run id (40 characters): the configured ones or the defaults.
    let names = crate::naming::ResourceNames::of(config, &"r".repeat(40));
    fields.push(("customization.job_name", names.job.clone(), job_name));
    fields.push((
        "customization.custom_model_name",
        names.custom_model.clone(),
        model_name,
    ));
    let serving_field = match names.serving_kind {
        crate::serving::ServingKind::Throughput => "throughput.name",
        crate::serving::ServingKind::Deployment => "deployment.name",
    };
    fields.push((serving_field, names.serving().to_string(), model_name));
    for (key, value) in &customization.hyper_parameters {
        fields.push(("customization.hyper_parameters", key.clone(), header_text));
        fields.push(("customization.hyper_parameters", value.clone(), header_text));
    }
    if let Some(notify) = &config.notify {
        fields.push(("notify.from", notify.from.clone(), email));
        for to in &notify.to {
            fields.push(("notify.to", to.clone(), email));
        }
        fields.push((
            "notify.subject_prefix",
            notify.subject_prefix.clone(),
            header_text,
        ));
    }
    for (field, value, check) in fields {
        if let Err(why) = check(&value) {
            return Err(PipelineError::config(
                origin,
                format!("{field} {value:?}: {why}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_follow_the_partitions() {
        for good in [
            "us-east-1",
            "us-west-2",
            "eu-central-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "cn-north-1",
            "us-isob-east-1",
        ] {
            assert_eq!(region(good), Ok(()), "{good}");
        }
        for bad in [
            "../../etc",
            "",
            "us-east",
            "useast1",
            "us-east-1/x",
            "xx-east-1",
        ] {
            assert!(region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_follow_the_s3_rules() {
        for good in ["bertscore-pipeline-local", "a.b-c", "abc", &"a".repeat(63)] {
            assert_eq!(bucket(good), Ok(()), "{good}");
        }
        for bad in [
            "Bad_Bucket..Name",
            "ab",
            &"a".repeat(64),
            "a..b",
            "-ab",
            "ab-",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "a.-b",
        ] {
            assert!(bucket(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_are_relative_without_dot_segments() {
        for good in ["", "runs", "runs/", "team-a/runs", "x(1)"] {
            assert_eq!(prefix(good), Ok(()), "{good}");
        }
        for bad in [
            "../../../x",
            "/abs",
            "a/../b",
            "a//b",
            "./a",
            "a b",
            "a\n",
            &"a".repeat(900),
        ] {
            assert!(prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_names_and_tokens_follow_the_service_model() {
        assert_eq!(role_arn("arn:aws:iam::123456789012:role/Bedrock"), Ok(()));
        assert_eq!(role_arn("arn:aws-cn:iam::123456789012:role/p/R"), Ok(()));
        for bad in [
            "not-an-arn",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::1:role/x",
            "arn:aws:iam::123456789012:role/a\nb",
        ] {
            assert!(role_arn(bad).is_err(), "{bad}");
        }
        assert_eq!(job_name("job-1.v2+x"), Ok(()));
        assert!(job_name("job_1").is_err());
        assert!(job_name(&"j".repeat(64)).is_err());
        assert_eq!(model_name("my_model-1"), Ok(()));
        for bad in ["a.b", "a--b", "-a", "", &"m".repeat(64)] {
            assert!(model_name(bad).is_err(), "{bad}");
        }
        assert_eq!(token("r1-job"), Ok(()));
        assert!(token("r1-").is_err());
        assert_eq!(base_model("meta.llama3-1-8b-instruct-v1:0:128k"), Ok(()));
        assert_eq!(
            base_model("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k"),
            Ok(())
        );
        assert!(base_model("../model").is_err());
        assert!(invoke_model("amazon.nova micro").is_err());
        assert_eq!(customization_type("FINE_TUNING"), Ok(()));
        assert!(customization_type("fine-tuning").is_err());
    }

    #[test]
    fn emails_follow_rfc_5321_and_refuse_control_characters() {
        for good in [
            "pipeline@example.com",
            "first.last+tag@sub.example.co",
            "ML Team <ml-team@example.com>",
        ] {
            assert_eq!(email(good), Ok(()), "{good}");
        }
        for bad in [
            "ml-team@example.com\r\nBcc: attacker@evil.example",
            "a@b\u{1b}[31m.com",
            "no-at-sign",
            "a..b@example.com",
            "a@example",
            "a@-example.com",
            "a b@example.com",
            "Name <a@example.com",
            &format!("{}@example.com", "a".repeat(65)),
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }
}
