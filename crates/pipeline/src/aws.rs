//! AWS clients. The CLI uses the standard chain (credentials, region, profile, and the `AWS_ENDPOINT_URL` /
//! `AWS_ENDPOINT_URL_<SERVICE>` endpoint variables, which aws-config reads natively); tests pass explicit endpoints
//! and static credentials instead, so parallel tests never touch process-global environment variables.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
use serde::{Deserialize, Serialize};

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
}

/// Static credentials (tests and emulators only; never written to disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

/// How to reach AWS. Everything unset falls back to the standard chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Skip the environment entirely (region and credentials must then be given here).
    #[serde(skip)]
    pub ignore_environment: bool,
    /// Static credentials instead of the chain (tests).
    #[serde(skip)]
    pub credentials: Option<StaticCredentials>,
}

impl AwsSettings {
    /// Settings for local emulators: fixed region, dummy credentials, no environment, path-style S3.
    pub fn local(endpoints: Endpoints) -> Self {
        Self {
            region: Some("us-east-1".into()),
            profile: None,
            s3_force_path_style: true,
            endpoints,
            ignore_environment: true,
            credentials: Some(StaticCredentials {
                access_key_id: "testing".into(),
                secret_access_key: "testing".into(),
            }),
        }
    }
}

/// The four service clients the pipeline calls.
#[derive(Debug, Clone)]
pub struct Clients {
    /// S3: data, outputs, reports.
    pub s3: aws_sdk_s3::Client,
    /// Bedrock: the customization job, the throughput, the custom model.
    pub bedrock: aws_sdk_bedrock::Client,
    /// No SDK retries: the inference step retries throttling and 5xx itself, per item, with jitter.
    pub runtime: aws_sdk_bedrockruntime::Client,
    /// SESv2: the outcome email.
    pub ses: aws_sdk_sesv2::Client,
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
                .retry_config(RetryConfig::standard())
                .timeout_config(timeouts());
            if let Some(credentials) = &settings.credentials {
                builder = builder.credentials_provider(static_provider(credentials));
            }
            builder.build()
        } else {
            let mut loader =
                aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts());
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

        let mut s3 =
            aws_sdk_s3::config::Builder::from(&sdk).force_path_style(settings.s3_force_path_style);
        if let Some(url) = &settings.endpoints.s3 {
            s3 = s3.endpoint_url(url);
        }
        let mut bedrock = aws_sdk_bedrock::config::Builder::from(&sdk);
        if let Some(url) = &settings.endpoints.bedrock {
            bedrock = bedrock.endpoint_url(url);
        }
        let mut runtime = aws_sdk_bedrockruntime::config::Builder::from(&sdk)
            .retry_config(RetryConfig::disabled());
        if let Some(url) = &settings.endpoints.bedrock_runtime {
            runtime = runtime.endpoint_url(url);
        }
        let mut ses = aws_sdk_sesv2::config::Builder::from(&sdk);
        if let Some(url) = &settings.endpoints.sesv2 {
            ses = ses.endpoint_url(url);
        }
        Clients {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            bedrock: aws_sdk_bedrock::Client::from_conf(bedrock.build()),
            runtime: aws_sdk_bedrockruntime::Client::from_conf(runtime.build()),
            ses: aws_sdk_sesv2::Client::from_conf(ses.build()),
            region,
            bedrock_endpoint,
        }
    }
}

/// Generation can take a while for long outputs; the default read timeout of the SDK is none, connect 3.1 s.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(300))
        .build()
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
