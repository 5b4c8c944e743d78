//! The service roles that Bedrock jobs name (`roleArn`): which principal assumes them, for which jobs, and
//! whether a trust policy admits that (the catalog's `[roles]` table, with its source pages).
//!
//! ```
//! use bedrock_catalog::roles::{JobKind, admits, job_arn, trust_policy};
//! let document = trust_policy("123456789012", &["us-east-1"], &[JobKind::Customization]);
//! let job = job_arn("us-east-1", "123456789012", JobKind::Customization, "amazon.nova-micro-v1:0:128k/abc");
//! assert_eq!(admits(&document, "123456789012", &job), Ok(()));
//! let batch = job_arn("us-east-1", "123456789012", JobKind::Batch, "abc");
//! assert!(admits(&document, "123456789012", &batch).unwrap_err().contains("model-invocation-job"));
//! ```

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The catalog's `[roles]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    /// The service principal Bedrock assumes a job's role as (`bedrock.amazonaws.com`).
    pub service_principal: String,
    /// Model customization jobs (CreateModelCustomizationJob).
    pub customization: JobRole,
    /// Batch inference jobs (CreateModelInvocationJob).
    pub batch: JobRole,
}

/// One kind of job's role facts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JobRole {
    /// The job's ARN resource type, as the trust policy's `aws:SourceArn` names it (`model-customization-job`).
    pub resource: String,
    /// Key into the catalog's sources.
    pub source: String,
}

impl Roles {
    /// Every region the catalog's models are customized or run batch jobs in, sorted (where a role that any
    /// model's jobs may use must admit them).
    pub fn regions() -> Vec<&'static str> {
        let mut regions: Vec<&str> = crate::catalog()
            .models
            .iter()
            .flat_map(|m| m.customization.regions.iter().chain(&m.batch.regions))
            .map(String::as_str)
            .collect();
        regions.sort_unstable();
        regions.dedup();
        regions
    }

    /// The facts for `kind` of job.
    pub fn of(&self, kind: JobKind) -> &JobRole {
        match kind {
            JobKind::Customization => &self.customization,
            JobKind::Batch => &self.batch,
        }
    }
}

/// The jobs a role is assumed for (each has its own `aws:SourceArn` resource type in a trust policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// CreateModelCustomizationJob.
    Customization,
    /// CreateModelInvocationJob (batch inference).
    Batch,
}

impl JobKind {
    /// The job's ARN resource type (`model-customization-job`, `model-invocation-job`).
    pub fn resource(self) -> &'static str {
        &crate::catalog().roles.of(self).resource
    }
}

/// The service principal that assumes job roles.
pub fn service_principal() -> &'static str {
    &crate::catalog().roles.service_principal
}

/// The ARN of a `kind` job `id` (the part after the resource type) of `account` in `region`.
pub fn job_arn(region: &str, account: &str, kind: JobKind, id: &str) -> String {
    format!(
        "arn:aws:bedrock:{region}:{account}:{}/{id}",
        kind.resource()
    )
}

/// The documented trust policy for `kinds` of Bedrock jobs of `account` in `regions`: the service principal,
/// limited to the account and to those jobs' ARNs, as IAM's CreateRole takes it.
pub fn trust_policy(account: &str, regions: &[&str], kinds: &[JobKind]) -> String {
    let arns: Vec<String> = regions
        .iter()
        .flat_map(|region| {
            kinds
                .iter()
                .map(move |kind| job_arn(region, account, *kind, "*"))
        })
        .collect();
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service_principal() },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": { "aws:SourceAccount": account },
                "ArnEquals": { "aws:SourceArn": arns }
            }
        }]
    })
    .to_string()
}

/// Whether the trust policy `document` (JSON, as IAM's GetRole gives it once URL-decoded) lets Bedrock assume
/// the role for the job `job_arn` of `account`: an `Allow` statement for `sts:AssumeRole` naming the service
/// principal whose conditions hold for `aws:SourceAccount` = `account` and `aws:SourceArn` = `job_arn`, and no
/// `Deny` statement that applies. IAM's evaluation for the parts trust policies use: `Action` wildcards,
/// the `String*`, `Arn*` and `Null` condition operators with `IfExists`; any other condition key is absent from
/// the request. `Err` says what is missing, in words.
pub fn admits(document: &str, account: &str, job_arn: &str) -> Result<(), String> {
    let policy: Value = serde_json::from_str(document)
        .map_err(|e| format!("its trust policy is not JSON ({e})"))?;
    let statements = match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err("its trust policy has no statements".into()),
    };
    let principal = service_principal();
    let context = [("aws:sourceaccount", account), ("aws:sourcearn", job_arn)];
    let effect = |statement: &Value| {
        statement
            .get("Effect")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let applying: Vec<&Value> = statements
        .into_iter()
        .filter(|s| names_principal(s, principal) && allows_assume_role(s))
        .collect();
    let holding = |wanted: &str| {
        applying.iter().any(|s| {
            effect(s).as_deref() == Some(wanted) && conditions_hold(s.get("Condition"), &context)
        })
    };
    if holding("Deny") {
        return Err(format!(
            "its trust policy denies {principal} sts:AssumeRole"
        ));
    }
    if holding("Allow") {
        return Ok(());
    }
    if applying
        .iter()
        .any(|s| effect(s).as_deref() == Some("Allow"))
    {
        let resource = job_arn
            .split(':')
            .nth(5)
            .and_then(|r| r.split('/').next())
            .unwrap_or(job_arn);
        return Err(format!(
            "its trust policy lets {principal} assume it, but its conditions do not admit {resource} jobs of account \
             {account} (aws:SourceArn {job_arn})"
        ));
    }
    Err(format!(
        "its trust policy does not let {principal} assume it (sts:AssumeRole)"
    ))
}

/// A string or a list of strings.
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn names_principal(statement: &Value, principal: &str) -> bool {
    match statement.get("Principal") {
        Some(Value::String(any)) => any == "*",
        Some(Value::Object(kinds)) => {
            strings(kinds.get("Service")).contains(&principal)
                || strings(kinds.get("AWS")).contains(&"*")
        }
        _ => false,
    }
}

fn allows_assume_role(statement: &Value) -> bool {
    strings(statement.get("Action"))
        .iter()
        .any(|action| glob_matches(&action.to_ascii_lowercase(), "sts:assumerole"))
}

/// Every operator's every key holds (IAM: AND across operators and keys, OR across a key's values).
fn conditions_hold(condition: Option<&Value>, context: &[(&str, &str)]) -> bool {
    let Some(condition) = condition else {
        return true;
    };
    let Some(operators) = condition.as_object() else {
        return false;
    };
    operators.iter().all(|(operator, keys)| {
        keys.as_object()
            .is_some_and(|keys| operator_holds(operator, keys, context))
    })
}

fn operator_holds(operator: &str, keys: &Map<String, Value>, context: &[(&str, &str)]) -> bool {
    let (base, if_exists) = match operator.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (operator, false),
    };
    keys.iter().all(|(key, expected)| {
        let key = key.to_ascii_lowercase();
        let actual = context
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value);
        let expected = strings(Some(expected));
        if base == "Null" {
            // "true": the key must be absent; "false": present.
            return expected.iter().any(|e| (*e == "true") == actual.is_none());
        }
        let Some(actual) = actual else {
            // An absent key: IfExists and the negated operators hold, the others do not.
            return if_exists || base.contains("Not");
        };
        let any = |matches: &dyn Fn(&str) -> bool| expected.iter().any(|e| matches(e));
        match base {
            "StringEquals" => any(&|e| e == actual),
            "StringNotEquals" => !any(&|e| e == actual),
            "StringEqualsIgnoreCase" => any(&|e| e.eq_ignore_ascii_case(actual)),
            "StringNotEqualsIgnoreCase" => !any(&|e| e.eq_ignore_ascii_case(actual)),
            "StringLike" | "ArnEquals" | "ArnLike" => any(&|e| glob_matches(e, actual)),
            "StringNotLike" | "ArnNotEquals" | "ArnNotLike" => !any(&|e| glob_matches(e, actual)),
            // An operator trust policies do not use: not evaluated, so not satisfied.
            _ => false,
        }
    })
}

/// IAM's wildcard match: `*` any run of characters (`/` and `:` included), `?` one character.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was and the text position it has absorbed up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_pi, star_ti)) = star {
            pi = star_pi + 1;
            ti = star_ti + 1;
            star = Some((star_pi, star_ti + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";

    fn jobs() -> (String, String) {
        (
            job_arn(
                "us-east-1",
                ACCOUNT,
                JobKind::Customization,
                "amazon.nova-micro-v1:0:128k/x1",
            ),
            job_arn("us-east-1", ACCOUNT, JobKind::Batch, "x2"),
        )
    }

    #[test]
    fn the_documented_policies_admit_their_own_kind_of_job_only() {
        let (customization, batch) = jobs();
        let both = trust_policy(
            ACCOUNT,
            &["us-east-1"],
            &[JobKind::Customization, JobKind::Batch],
        );
        assert_eq!(admits(&both, ACCOUNT, &customization), Ok(()));
        assert_eq!(admits(&both, ACCOUNT, &batch), Ok(()));
        let only_customization = trust_policy(ACCOUNT, &["us-east-1"], &[JobKind::Customization]);
        let err = admits(&only_customization, ACCOUNT, &batch).unwrap_err();
        assert!(
            err.contains("do not admit model-invocation-job jobs"),
            "{err}"
        );
        let only_batch = trust_policy(ACCOUNT, &["us-east-1"], &[JobKind::Batch]);
        assert!(admits(&only_batch, ACCOUNT, &customization).is_err());
        // Another region's jobs, another account's.
        let west = trust_policy(ACCOUNT, &["us-west-2"], &[JobKind::Customization]);
        let both_regions = trust_policy(
            ACCOUNT,
            &["us-west-2", "us-east-1"],
            &[JobKind::Customization],
        );
        assert_eq!(admits(&both_regions, ACCOUNT, &customization), Ok(()));
        assert!(admits(&west, ACCOUNT, &customization).is_err());
        assert!(admits(&only_customization, "210987654321", &customization).is_err());
    }

    #[test]
    fn a_policy_for_another_service_or_action_is_refused() {
        let (customization, _) = jobs();
        let lambda = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}}"#;
        let err = admits(lambda, ACCOUNT, &customization).unwrap_err();
        assert!(
            err.contains("does not let bedrock.amazonaws.com assume it"),
            "{err}"
        );
        let tag_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":["bedrock.amazonaws.com"]},"Action":"sts:TagSession"}]}"#;
        assert!(admits(tag_only, ACCOUNT, &customization).is_err());
        assert!(
            admits("", ACCOUNT, &customization)
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(admits("{}", ACCOUNT, &customization).is_err());
    }

    #[test]
    fn unconditioned_wildcard_and_denied_policies() {
        let (customization, batch) = jobs();
        let open = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":["sts:Assume*"]}]}"#;
        assert_eq!(admits(open, ACCOUNT, &batch), Ok(()));
        let like = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole",
            "Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:bedrock:*:123456789012:model-customization-job/*"}}}]}"#;
        assert_eq!(admits(like, ACCOUNT, &customization), Ok(()));
        assert!(admits(like, ACCOUNT, &batch).is_err());
        let denied = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"},
            {"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:SourceAccount":"123456789012"}}}]}"#;
        assert_eq!(admits(denied, ACCOUNT, &batch), Ok(()));
        let err = admits(denied, "210987654321", &batch).unwrap_err();
        assert!(err.contains("denies"), "{err}");
        // A condition on a key Bedrock does not send is not met; IfExists is.
        let other_key = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole",
            "Condition":{"StringEquals":{"aws:PrincipalTag/team":"ml"}}}]}"#;
        assert!(admits(other_key, ACCOUNT, &batch).is_err());
        let if_exists = other_key.replace("StringEquals", "StringEqualsIfExists");
        assert_eq!(admits(&if_exists, ACCOUNT, &batch), Ok(()));
    }

    #[test]
    fn the_catalog_regions() {
        assert_eq!(Roles::regions(), ["us-east-1", "us-west-2"]);
    }

    #[test]
    fn globs_match_as_iam_does() {
        assert!(glob_matches(
            "arn:aws:bedrock:us-east-1:1:model-invocation-job/*",
            "arn:aws:bedrock:us-east-1:1:model-invocation-job/a/b"
        ));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(!glob_matches("a*b", "acbd"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("abc", "abcd"));
    }
}
