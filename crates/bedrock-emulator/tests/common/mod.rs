//! Clients and waits shared by the SDK-level test files (the real `aws-sdk-bedrock` and
//! `aws-sdk-bedrockruntime` clients pointed at an emulator).

#![allow(dead_code)]

use std::time::Duration;

use aws_sdk_bedrock::types::{CustomizationType, OutputDataConfig, TrainingDataConfig};
use aws_sdk_bedrockruntime::primitives::Blob;
use bedrock_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

pub const NOVA_MICRO: &str = "amazon.nova-micro-v1:0:128k";

fn credentials() -> aws_sdk_bedrock::config::Credentials {
    aws_sdk_bedrock::config::Credentials::new("testing", "testing", None, None, "emulator-tests")
}

/// The AWS sample's Cohere Command Light, end of life on Bedrock: the id to customize.
pub const COHERE_CUSTOMIZE: &str = "cohere.command-light-text-v14:7:4k";

/// Starts an emulator for these tests, which run without IAM: role checks are skipped, explicitly
/// (`skip_role_checks`; the local stack's tests check roles against moto's IAM).
pub async fn start(mut config: EmulatorConfig) -> std::io::Result<Emulator> {
    config.skip_role_checks = true;
    Emulator::start(config).await
}

/// Starts an emulator (as [`start`]) that also serves the end-of-life models these tests were written around (the AWS sample's
/// Cohere Command Light, as the local stack's legacy demo does, and Cohere Command and Titan Text Express for
/// their request bodies).
pub async fn start_legacy(mut config: EmulatorConfig) -> std::io::Result<Emulator> {
    config.allow_end_of_life.extend(
        [
            "cohere.command-light-text-v14",
            "cohere.command-text-v14",
            "amazon.titan-text-express-v1",
        ]
        .map(str::to_owned),
    );
    start(config).await
}

pub fn control_client(emulator: &Emulator) -> aws_sdk_bedrock::Client {
    let config = aws_sdk_bedrock::Config::builder()
        .behavior_version(aws_sdk_bedrock::config::BehaviorVersion::latest())
        .endpoint_url(emulator.endpoint())
        .region(aws_sdk_bedrock::config::Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(aws_sdk_bedrock::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_bedrock::Client::from_conf(config)
}

/// A runtime client that does not retry.
pub fn runtime_client(emulator: &Emulator) -> aws_sdk_bedrockruntime::Client {
    runtime_client_with(
        emulator,
        aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled(),
    )
}

pub fn runtime_client_with(
    emulator: &Emulator,
    retry: aws_sdk_bedrockruntime::config::retry::RetryConfig,
) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
        .endpoint_url(emulator.endpoint())
        .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
        .credentials_provider(credentials())
        .retry_config(retry)
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

/// Polls until `probe` gives a value; the emulator's durations in these tests are well under
/// a second, so 10 s means it is stuck.
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Creates a customization job on `base` with `hyper_parameters`; returns its ARN.
pub async fn create_job(
    client: &aws_sdk_bedrock::Client,
    name: &str,
    base: &str,
    hyper_parameters: &[(&str, &str)],
) -> Result<String, aws_sdk_bedrock::Error> {
    let mut request = client
        .create_model_customization_job()
        .job_name(name)
        .custom_model_name(format!("{name}-model"))
        .role_arn("arn:aws:iam::123456789012:role/bedrock-customization")
        .base_model_identifier(base)
        .customization_type(CustomizationType::FineTuning)
        .training_data_config(
            TrainingDataConfig::builder()
                .s3_uri(format!("s3://bucket/{name}/train.jsonl"))
                .build(),
        )
        .output_data_config(
            OutputDataConfig::builder()
                .s3_uri("s3://bucket/output/")
                .build()
                .unwrap(),
        )
        .client_request_token(format!("{name}-token"));
    for (key, value) in hyper_parameters {
        request = request.hyper_parameters(*key, *value);
    }
    Ok(request.send().await?.job_arn)
}

/// Waits for a job's end: `Ok(custom model ARN)` or `Err(failure message)`.
pub async fn job_outcome(
    client: &aws_sdk_bedrock::Client,
    job_arn: &str,
) -> Result<String, String> {
    eventually("job end", async || {
        let job = client
            .get_model_customization_job()
            .job_identifier(job_arn)
            .send()
            .await
            .unwrap();
        if let Some(model) = job.output_model_arn() {
            return Some(Ok(model.to_owned()));
        }
        job.failure_message().map(|m| Err(m.to_owned()))
    })
    .await
}

/// Trains a custom model of `base` and returns its ARN.
pub async fn trained_model(
    client: &aws_sdk_bedrock::Client,
    name: &str,
    base: &str,
    hyper_parameters: &[(&str, &str)],
) -> String {
    let job = create_job(client, name, base, hyper_parameters)
        .await
        .unwrap();
    job_outcome(client, &job).await.unwrap()
}

/// InvokeModel with a JSON body; the JSON response.
pub async fn invoke(
    runtime: &aws_sdk_bedrockruntime::Client,
    model: &str,
    body: &Value,
) -> Result<Value, aws_sdk_bedrockruntime::Error> {
    let out = runtime
        .invoke_model()
        .model_id(model)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(serde_json::to_vec(body).unwrap()))
        .send()
        .await?;
    Ok(serde_json::from_slice(out.body.as_ref()).unwrap())
}

/// A Nova `messages-v1` request for `prompt`.
pub fn nova_body(prompt: &str) -> Value {
    serde_json::json!({
        "schemaVersion": "messages-v1",
        "system": [{ "text": "Summarize the dialogue." }],
        "messages": [{ "role": "user", "content": [{ "text": prompt }] }],
        "inferenceConfig": { "maxTokens": 200, "temperature": 0.0 },
    })
}

/// The text of a Nova InvokeModel response.
pub fn nova_text(response: &Value) -> String {
    response["output"]["message"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a Nova response: {response}"))
        .to_owned()
}
