//! The catalog's contract, on the real AWS SDK: every active catalog entry goes through the emulator as it would
//! go through Bedrock — fine-tune in a region the catalog lists (training data in moto's S3, in the entry's
//! format), serve the custom model (an on-demand deployment where the catalog offers one, else a no-commitment
//! Provisioned Throughput), invoke it with its adapter's body, and run a batch job on the base model where the
//! catalog supports batch inference. The jobs name the example configs' roles, created in moto's IAM first: the
//! emulator reads their trust policies as Bedrock does.

use std::time::Duration;

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_s3::primitives::ByteStream;
use bedrock_catalog::{Adapter, Model, TrainingFormat, catalog};
use bedrock_emulator::{EmulatorConfig, RequestRecord};
use bertscore_local_stack::{EXAMPLE_ROLES, LocalStack};
use serde_json::{Value, json};

mod common;

const BUCKET: &str = "contract";
const ROLE: &str = "arn:aws:iam::123456789012:role/BedrockModelCustomizationRole";

fn credentials() -> aws_sdk_s3::config::Credentials {
    aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "contract")
}

fn bedrock(stack: &LocalStack, region: &str) -> aws_sdk_bedrock::Client {
    aws_sdk_bedrock::Client::from_conf(
        aws_sdk_bedrock::Config::builder()
            .behavior_version(aws_sdk_bedrock::config::BehaviorVersion::latest())
            .endpoint_url(stack.bedrock.endpoint())
            .region(aws_sdk_bedrock::config::Region::new(region.to_owned()))
            .credentials_provider(credentials())
            .build(),
    )
}

fn runtime(stack: &LocalStack) -> aws_sdk_bedrockruntime::Client {
    aws_sdk_bedrockruntime::Client::from_conf(
        aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .endpoint_url(stack.bedrock.endpoint())
            .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .build(),
    )
}

fn training_record(format: TrainingFormat) -> Value {
    match format {
        TrainingFormat::PromptCompletion => json!({"prompt": "Say hi.", "completion": "Hi."}),
        TrainingFormat::BedrockConversation2024 => json!({
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                {"role": "user", "content": [{"text": "Say hi."}]},
                {"role": "assistant", "content": [{"text": "Hi."}]}
            ]
        }),
        TrainingFormat::AnthropicMessages => json!({
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi."}]
        }),
    }
}

/// The InvokeModel body of an adapter, and where its answer is.
fn invoke_body(adapter: Adapter, prompt: &str) -> (Value, &'static str) {
    match adapter {
        Adapter::Nova => (
            json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": prompt}]}]}),
            "/output/message/content/0/text",
        ),
        Adapter::MetaLlama => (json!({"prompt": prompt}), "/generation"),
        Adapter::CohereCommand => (json!({"prompt": prompt}), "/generations/0/text"),
        Adapter::TitanText => (json!({"inputText": prompt}), "/results/0/outputText"),
        Adapter::AnthropicMessages => (
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                   "messages": [{"role": "user", "content": prompt}]}),
            "/content/0/text",
        ),
    }
}

async fn fine_tune(stack: &LocalStack, model: &Model, slug: &str) -> String {
    let region = &model.customization.regions[0];
    let client = bedrock(stack, region);
    // Every entry's default epoch count is in its range (the catalog's loader checks it).
    let epochs = model
        .hyper_parameter("epochCount")
        .unwrap()
        .default
        .to_string();
    let job = common::fine_tuning_job(
        &client,
        &format!("{slug}-job"),
        ROLE,
        &model.customize_id,
        &epochs,
        format!("s3://{BUCKET}/{slug}/train.jsonl"),
        format!("s3://{BUCKET}/{slug}/out/"),
    )
    .send()
    .await
    .unwrap_or_else(|e| panic!("{}: customization: {e:?}", model.name))
    .job_arn;
    loop {
        let got = client
            .get_model_customization_job()
            .job_identifier(&job)
            .send()
            .await
            .unwrap();
        if let Some(arn) = got.output_model_arn {
            return arn;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serves a custom model as the catalog says; returns the id to invoke and whether it is a deployment.
async fn serve(stack: &LocalStack, model: &Model, custom: &str, slug: &str) -> (String, bool) {
    let client = bedrock(stack, "us-east-1");
    if model.on_demand_deployment.in_region("us-east-1") {
        let arn = client
            .create_custom_model_deployment()
            .model_deployment_name(format!("{slug}-dep"))
            .model_arn(custom)
            .send()
            .await
            .unwrap()
            .custom_model_deployment_arn;
        loop {
            let got = client
                .get_custom_model_deployment()
                .custom_model_deployment_identifier(&arn)
                .send()
                .await
                .unwrap();
            if got.status.as_str() == "Active" {
                return (arn, true);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(model.provisioned_throughput.custom_model, "{}", model.name);
    let arn = client
        .create_provisioned_model_throughput()
        .provisioned_model_name(format!("{slug}-pt"))
        .model_id(custom)
        .model_units(1)
        .send()
        .await
        .unwrap()
        .provisioned_model_arn;
    loop {
        let got = client
            .get_provisioned_model_throughput()
            .provisioned_model_id(&arn)
            .send()
            .await
            .unwrap();
        if got.status.as_str() == "InService" {
            return (arn, false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn invoke(stack: &LocalStack, model: &Model, model_id: &str) -> String {
    let (body, answer_at) = invoke_body(model.adapter(), "Say hi.");
    let out = runtime(stack)
        .invoke_model()
        .model_id(model_id)
        .body(Blob::new(body.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {model_id}: {e:?}", model.name));
    let response: Value = serde_json::from_slice(out.body.as_ref()).unwrap();
    response
        .pointer(answer_at)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{}: no answer at {answer_at} in {response}", model.name))
        .to_owned()
}

async fn batch(stack: &LocalStack, s3: &aws_sdk_s3::Client, model: &Model, slug: &str) {
    let records: String = (0..3)
        .map(|i| {
            let (body, _) = invoke_body(model.adapter(), &format!("Question {i}?"));
            format!(
                "{}\n",
                json!({"recordId": format!("r{i}"), "modelInput": body})
            )
        })
        .collect();
    s3.put_object()
        .bucket(BUCKET)
        .key(format!("{slug}/batch/in.jsonl"))
        .body(ByteStream::from(records.into_bytes()))
        .send()
        .await
        .unwrap();
    let client = bedrock(stack, "us-east-1");
    let arn = client
        .create_model_invocation_job()
        .job_name(format!("{slug}-batch"))
        .role_arn("arn:aws:iam::123456789012:role/BedrockBatchInferenceRole")
        .model_id(&model.inference_id)
        .input_data_config(common::batch_input(format!(
            "s3://{BUCKET}/{slug}/batch/in.jsonl"
        )))
        .output_data_config(common::batch_output(format!(
            "s3://{BUCKET}/{slug}/batch/out/"
        )))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: batch: {e:?}", model.name))
        .job_arn;
    loop {
        let got = client
            .get_model_invocation_job()
            .job_identifier(&arn)
            .send()
            .await
            .unwrap();
        match got
            .status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .as_deref()
        {
            Some("Completed") => return,
            Some("Failed" | "PartiallyCompleted" | "Stopped") => {
                panic!(
                    "{}: batch job ended {:?}: {:?}",
                    model.name, got.status, got.message
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn every_active_catalog_model_fine_tunes_serves_and_answers() {
    let stack = LocalStack::start(EmulatorConfig {
        job_duration: Duration::from_millis(50),
        pt_duration: Duration::from_millis(50),
        deployment_duration: Duration::from_millis(50),
        batch_duration: Duration::from_millis(50),
        batch_min_records: 1,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(stack.moto.endpoint())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(credentials())
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    // The roles the jobs name, in moto's IAM as on an account (the emulator reads their trust policies).
    for (name, kinds) in EXAMPLE_ROLES {
        stack.create_role(name, kinds).await.unwrap();
    }
    let active: Vec<&Model> = catalog().active().collect();
    assert_eq!(active.len(), 11);
    let mut batches = 0;
    for (i, model) in active.iter().enumerate() {
        let slug = format!("m{i}");
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("{slug}/train.jsonl"))
            .body(ByteStream::from(
                format!("{}\n", training_record(model.training.format)).into_bytes(),
            ))
            .send()
            .await
            .unwrap();
        let custom = fine_tune(&stack, model, &slug).await;
        let (served, deployed) = serve(&stack, model, &custom, &slug).await;
        assert!(
            !invoke(&stack, model, &served).await.is_empty(),
            "{}",
            model.name
        );
        // The base model answers on demand under its inference id.
        assert!(
            !invoke(&stack, model, &model.inference_id).await.is_empty(),
            "{}",
            model.name
        );
        let client = bedrock(&stack, "us-east-1");
        if deployed {
            client
                .delete_custom_model_deployment()
                .custom_model_deployment_identifier(&served)
                .send()
                .await
                .unwrap();
        } else {
            client
                .delete_provisioned_model_throughput()
                .provisioned_model_id(&served)
                .send()
                .await
                .unwrap();
        }
        if model.batch.in_region("us-east-1") {
            batch(&stack, &s3, model, &slug).await;
            batches += 1;
        }
    }
    assert_eq!(
        batches, 10,
        "every active entry but Nova 2 Lite takes batch jobs in us-east-1"
    );
    // The request log names each model's inference id, never a truncated one.
    let log: Vec<RequestRecord> = stack.bedrock.requests();
    for model in &active {
        assert!(
            log.iter().any(|r| r.operation == "InvokeModel"
                && r.model_id.as_deref() == Some(model.inference_id.as_str())
                && r.status == 200),
            "{}",
            model.name
        );
    }
}
