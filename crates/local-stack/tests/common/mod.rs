//! Request builders the local-stack tests share: a fine-tuning job and a batch job's S3 input and output, as the
//! Rust SDK sends them. Each test binary uses a part.

#![allow(dead_code)]

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
