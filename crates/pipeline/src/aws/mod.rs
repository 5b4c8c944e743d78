//! AWS: the port every call goes through ([`Aws`]), its SDK implementation ([`Clients`]) and its dry run
//! ([`DryRun`], for `plan`), and the settings the clients are built from.
//!
//! AWS clients. The CLI uses the standard chain (credentials, region, profile, and the `AWS_ENDPOINT_URL` /
//! `AWS_ENDPOINT_URL_<SERVICE>` endpoint variables, which aws-config reads natively); tests pass explicit endpoints
//! and static credentials instead, so parallel tests never touch process-global environment variables.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
use serde::{Deserialize, Serialize};

mod dry_run;
mod port;
mod sdk;

pub use dry_run::{DryRun, PlannedCall};
pub use port::{
    Aws, BatchJobRequest, BatchView, CustomizationJob, Email, FoundationModelView, Generate,
    Generation, JobView, ServingRequest, ServingView, ThroughputSummary,
};

/// Explicit endpoints, each overriding what the environment says for that service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    /// S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<String>,
    /// The Bedrock control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedrock: Option<String>,
    /// The Bedrock runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedrock_runtime: Option<String>,
    /// SESv2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sesv2: Option<String>,
    /// IAM (read by `preflight` only: GetRole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<String>,
}

/// Static credentials (tests and emulators only; never written to disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

/// How to reach AWS. Everything unset falls back to the standard chain; every call is bounded in time
/// (`connect_timeout_s`, `read_timeout_s`, `max_attempts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// Default: `AWS_REGION` / the profile's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Default: `AWS_PROFILE` / `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Path-style S3 addressing (`http://host/bucket/key`), needed by S3 emulators such as moto.
    #[serde(default)]
    pub s3_force_path_style: bool,
    /// Per-service endpoints (emulators, VPC endpoints).
    #[serde(default)]
    pub endpoints: Endpoints,
    /// The longest wait for a connection to an endpoint, in seconds (1 to [`MAX_CONNECT_TIMEOUT_S`]).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: f64,
    /// The longest wait for an answer, from sending a request to the answer's first byte, in seconds (1 to
    /// [`MAX_READ_TIMEOUT_S`]). It covers the upload of a request body and the model's generation time of an
    /// InvokeModel/Converse call: raise it for slow links or long generations.
    #[serde(default = "default_read_timeout")]
    pub read_timeout_s: f64,
    /// Attempts per call (the SDK's standard retry mode: throttling, 5xx, timeouts and connection failures are
    /// retried with exponential backoff and jitter), 1 to [`MAX_ATTEMPTS`].
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Skip the environment entirely (region and credentials must then be given here).
    #[serde(skip)]
    pub ignore_environment: bool,
    /// Static credentials instead of the chain (tests).
    #[serde(skip)]
    pub credentials: Option<StaticCredentials>,
}

/// The longest `[aws] connect_timeout_s`.
pub const MAX_CONNECT_TIMEOUT_S: f64 = 300.0;
/// The longest `[aws] read_timeout_s`.
pub const MAX_READ_TIMEOUT_S: f64 = 3600.0;
/// The most `[aws] max_attempts`.
pub const MAX_ATTEMPTS: u32 = 10;
/// The standard retry mode's longest backoff between two attempts (the SDK's default, kept).
const MAX_BACKOFF_S: f64 = 20.0;

fn default_connect_timeout() -> f64 {
    10.0
}
fn default_read_timeout() -> f64 {
    60.0
}
fn default_max_attempts() -> u32 {
    3
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            profile: None,
            s3_force_path_style: false,
            endpoints: Endpoints::default(),
            connect_timeout_s: default_connect_timeout(),
            read_timeout_s: default_read_timeout(),
            max_attempts: default_max_attempts(),
            ignore_environment: false,
            credentials: None,
        }
    }
}

impl AwsSettings {
    /// Settings for local emulators: fixed region, dummy credentials, no environment, path-style S3.
    pub fn local(endpoints: Endpoints) -> Self {
        Self {
            region: Some("us-east-1".into()),
            s3_force_path_style: true,
            endpoints,
            ignore_environment: true,
            credentials: Some(StaticCredentials {
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
            }),
            ..Self::default()
        }
    }

    /// Checks the bounds of the timeouts and attempts; the message names the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (field, value, max) in [
            (
                "aws.connect_timeout_s",
                self.connect_timeout_s,
                MAX_CONNECT_TIMEOUT_S,
            ),
            (
                "aws.read_timeout_s",
                self.read_timeout_s,
                MAX_READ_TIMEOUT_S,
            ),
        ] {
            if !(1.0..=max).contains(&value) {
                return Err(format!(
                    "{field} must be in [1, {max}] seconds, not {value}"
                ));
            }
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(format!(
                "aws.max_attempts must be in [1, {MAX_ATTEMPTS}], not {}",
                self.max_attempts
            ));
        }
        Ok(())
    }

    /// The region a run with these settings calls, found without a network call: `region`, else
    /// `AWS_REGION`/`AWS_DEFAULT_REGION`, else the profile's, else us-east-1 (what [`Clients::connect`] falls back
    /// to). The instance metadata service, last in the SDK's own chain, is not asked.
    pub async fn region_offline(&self) -> String {
        use aws_config::environment::EnvironmentVariableRegionProvider;
        use aws_config::meta::region::RegionProviderChain;
        use aws_config::profile::ProfileFileRegionProvider;
        if let Some(region) = &self.region {
            return region.clone();
        }
        if self.ignore_environment {
            return "us-east-1".into();
        }
        let mut profile = ProfileFileRegionProvider::builder();
        if let Some(name) = &self.profile {
            profile = profile.profile_name(name);
        }
        RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
            .or_else(profile.build())
            .region()
            .await
            .map(|region| region.to_string())
            .unwrap_or_else(|| "us-east-1".into())
    }

    fn timeouts(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs_f64(self.connect_timeout_s))
            .read_timeout(Duration::from_secs_f64(self.read_timeout_s))
            .build()
    }

    fn retries(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_max_backoff(Duration::from_secs_f64(MAX_BACKOFF_S))
    }
}

/// The four service clients the pipeline calls.
#[derive(Debug, Clone)]
pub struct Clients {
    /// S3: data, outputs, reports.
    pub s3: aws_sdk_s3::Client,
    /// Bedrock: the customization job, the throughput, the custom model.
    pub bedrock: aws_sdk_bedrock::Client,
    /// Each call retried by the SDK's standard mode as `[inference]` says (`max_attempts`, `retry_base_s`,
    /// `retry_max_s`), a model timeout (HTTP 408) included; each item's attempts are counted for the report.
    pub runtime: aws_sdk_bedrockruntime::Client,
    /// SESv2: the outcome email.
    pub ses: aws_sdk_sesv2::Client,
    /// IAM: `preflight` reads the roles' trust policies (never writes).
    pub iam: aws_sdk_iam::Client,
    /// The region the clients use.
    pub region: String,
    /// The Bedrock endpoint when it is not AWS's own (`[aws.endpoints] bedrock`, `AWS_ENDPOINT_URL_BEDROCK`,
    /// `AWS_ENDPOINT_URL`): recorded in the run, so `status` can tell an emulator's throughput from a billed one.
    pub bedrock_endpoint: Option<String>,
}

impl Clients {
    /// Builds the clients; makes no call.
    pub async fn connect(settings: &AwsSettings) -> Clients {
        let sdk = if settings.ignore_environment {
            let mut builder = aws_config::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(
                    settings
                        .region
                        .clone()
                        .unwrap_or_else(|| "us-east-1".into()),
                ))
                .retry_config(settings.retries())
                .timeout_config(settings.timeouts());
            if let Some(credentials) = &settings.credentials {
                builder = builder.credentials_provider(static_provider(credentials));
            }
            builder.build()
        } else {
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .retry_config(settings.retries())
                .timeout_config(settings.timeouts());
            if let Some(region) = &settings.region {
                loader = loader.region(Region::new(region.clone()));
            }
            if let Some(profile) = &settings.profile {
                loader = loader.profile_name(profile);
            }
            if let Some(credentials) = &settings.credentials {
                loader = loader.credentials_provider(static_provider(credentials));
            }
            loader.load().await
        };
        let bedrock_endpoint = settings.endpoints.bedrock.clone().or_else(|| {
            if settings.ignore_environment {
                return None;
            }
            let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
                .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
            let from_env = std::env::var("AWS_ENDPOINT_URL_BEDROCK").ok();
            (!ignored)
                .then(|| from_env.or_else(|| sdk.endpoint_url().map(str::to_string)))
                .flatten()
        });
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());

        let named = crate::endpoint::NamedEndpoint::new(settings.max_attempts);
        let mut s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(settings.s3_force_path_style)
            .interceptor(named.clone());
        if let Some(url) = &settings.endpoints.s3 {
            s3 = s3.endpoint_url(url);
        }
        let mut bedrock = aws_sdk_bedrock::config::Builder::from(&sdk).interceptor(named.clone());
        if let Some(url) = &settings.endpoints.bedrock {
            bedrock = bedrock.endpoint_url(url);
        }
        // Model calls retry in a partition of their own with no retry quota: the standard mode's shared token
        // bucket (500 tokens, 5 per retry) would run dry in a long throttled evaluation and fail later prompts at
        // their first throttle, with fewer attempts than `[inference] max_attempts`.
        use aws_sdk_bedrockruntime::config::retry::{RetryPartition, TokenBucket};
        let model_calls = RetryPartition::custom("bertscore-model-calls")
            .token_bucket(TokenBucket::unlimited())
            .build();
        let mut runtime = aws_sdk_bedrockruntime::config::Builder::from(&sdk)
            .retry_partition(model_calls)
            .retry_classifier(sdk::TransientModelAnswer)
            .interceptor(named.clone());
        if let Some(url) = &settings.endpoints.bedrock_runtime {
            runtime = runtime.endpoint_url(url);
        }
        let mut ses = aws_sdk_sesv2::config::Builder::from(&sdk).interceptor(named.clone());
        if let Some(url) = &settings.endpoints.sesv2 {
            ses = ses.endpoint_url(url);
        }
        let mut iam = aws_sdk_iam::config::Builder::from(&sdk).interceptor(named);
        if let Some(url) = &settings.endpoints.iam {
            iam = iam.endpoint_url(url);
        }
        Clients {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            bedrock: aws_sdk_bedrock::Client::from_conf(bedrock.build()),
            runtime: aws_sdk_bedrockruntime::Client::from_conf(runtime.build()),
            ses: aws_sdk_sesv2::Client::from_conf(ses.build()),
            iam: aws_sdk_iam::Client::from_conf(iam.build()),
            region,
            bedrock_endpoint,
        }
    }
}

fn static_provider(credentials: &StaticCredentials) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        None,
        None,
        "bertscore-pipeline",
    ))
}
