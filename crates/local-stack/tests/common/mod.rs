//! Request builders the local-stack tests share: a fine-tuning job and a batch job's S3 input and output, as the
//! Rust SDK sends them. Each test binary uses a part.

#![allow(dead_code)]

use bertscore_local_stack::LocalStack;

use aws_sdk_bedrock::operation::create_model_customization_job::builders::CreateModelCustomizationJobFluentBuilder;
use aws_sdk_bedrock::types::{
    CustomizationType, ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig, OutputDataConfig,
    TrainingDataConfig,
};

/// CreateModelCustomizationJob (fine-tuning) of `base` as `name` (its model `{name}-model`), with `role_arn`,
/// `epochs` epochs, the training data at `training_uri` and the output under `output_uri`; not sent yet.
pub fn fine_tuning_job(
    client: &aws_sdk_bedrock::Client,
    name: &str,
    role_arn: &str,
    base: &str,
    epochs: &str,
    training_uri: String,
    output_uri: String,
) -> CreateModelCustomizationJobFluentBuilder {
    client
        .create_model_customization_job()
        .job_name(name)
        .custom_model_name(format!("{name}-model"))
        .role_arn(role_arn)
        .base_model_identifier(base)
        .customization_type(CustomizationType::FineTuning)
        .hyper_parameters("epochCount", epochs)
        .training_data_config(TrainingDataConfig::builder().s3_uri(training_uri).build())
        .output_data_config(
            OutputDataConfig::builder()
                .s3_uri(output_uri)
                .build()
                .unwrap(),
        )
}

/// A batch job's input: the object or prefix at `uri`.
pub fn batch_input(uri: String) -> ModelInvocationJobInputDataConfig {
    ModelInvocationJobInputDataConfig::S3InputDataConfig(
        ModelInvocationJobS3InputDataConfig::builder()
            .s3_uri(uri)
            .build()
            .unwrap(),
    )
}

/// A batch job's output: under `uri`.
pub fn batch_output(uri: String) -> ModelInvocationJobOutputDataConfig {
    ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
        ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(uri)
            .build()
            .unwrap(),
    )
}

fn credentials() -> aws_sdk_s3::config::Credentials {
    aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "local-stack-tests")
}

/// S3 on the stack's moto (path-style, as moto serves it).
pub fn s3_client(stack: &LocalStack) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(stack.moto.endpoint())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .force_path_style(true)
            .build(),
    )
}

/// The stack's Bedrock emulator, without SDK retries (a refusal is seen once).
pub fn bedrock_client(stack: &LocalStack) -> aws_sdk_bedrock::Client {
    aws_sdk_bedrock::Client::from_conf(
        aws_sdk_bedrock::Config::builder()
            .behavior_version(aws_sdk_bedrock::config::BehaviorVersion::latest())
            .endpoint_url(stack.bedrock.endpoint())
            .region(aws_sdk_bedrock::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .retry_config(aws_sdk_bedrock::config::retry::RetryConfig::disabled())
            .build(),
    )
}
