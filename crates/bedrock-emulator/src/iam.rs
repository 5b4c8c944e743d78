//! The role a customization or batch job names, checked as Bedrock checks it when it assumes the role: IAM
//! (moto's, [`crate::EmulatorConfig::iam_endpoint`]) must have a role with that ARN, and its trust policy must let
//! `bedrock.amazonaws.com` assume it for that kind of job (`bedrock_catalog::roles`: the user guide's trust
//! policies for model customization and for batch inference). AWS refuses the create otherwise with
//! `ValidationException` "Could not assume provided IAM role." (as reported for CreateModelCustomizationJob in
//! aws-samples/amazon-bedrock-workshop#367); the emulator says the same and adds why.

use std::time::Duration;

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_iam::error::DisplayErrorContext;
use bedrock_catalog::roles::{self, JobKind};

use crate::store::ACCOUNT;
use crate::wire::ApiError;

/// What AWS answers when Bedrock cannot assume the job's role.
const REFUSAL: &str = "Could not assume provided IAM role.";

/// How long one GetRole may take (moto answers in milliseconds).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Checks that IAM at `endpoint` has the role `role_arn` and that its trust policy admits Bedrock for a `kind`
/// job of the emulator's account in `region` (the job's ARN ends in `job_id`; a new job's id is not known yet,
/// so trust policies that name one job do not match, as on AWS before the job exists).
pub async fn check_role(
    endpoint: &str,
    role_arn: &str,
    kind: JobKind,
    region: &str,
    job_id: &str,
) -> Result<(), ApiError> {
    let refuse = |why: String| ApiError::validation(format!("{REFUSAL} ({role_arn}: {why})"));
    // `arn:aws:iam::ACCOUNT:role/PATH/NAME` (the service model's pattern has checked the shape): GetRole takes
    // the name, the last segment.
    let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "bedrock-emulator",
        ))
        .endpoint_url(endpoint)
        .timeout_config(
            aws_sdk_iam::config::timeout::TimeoutConfig::builder()
                .operation_timeout(TIMEOUT)
                .build(),
        )
        .build();
    let client = aws_sdk_iam::Client::from_conf(config);
    let role = match client.get_role().role_name(name).send().await {
        Ok(output) => output.role,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            return Err(refuse(format!("IAM has no role named {name}")));
        }
        Err(e) => {
            return Err(ApiError::internal(format!(
                "The Bedrock emulator could not read the role {name} from IAM at {endpoint} (iam_endpoint): {}",
                DisplayErrorContext(&e)
            )));
        }
    };
    let Some(role) = role else {
        return Err(refuse(format!("IAM answered no role for {name}")));
    };
    if role.arn != role_arn {
        return Err(refuse(format!(
            "IAM's role named {name} is {}, another ARN",
            role.arn
        )));
    }
    // IAM gives the trust policy URL-encoded.
    let encoded = role.assume_role_policy_document.unwrap_or_default();
    let document = percent_encoding::percent_decode_str(&encoded).decode_utf8_lossy();
    let job = roles::job_arn(region, ACCOUNT, kind, job_id);
    roles::admits(&document, ACCOUNT, &job).map_err(refuse)
}
