//! The Bedrock operations that read and write S3, through the real AWS SDK clients against
//! the local stack (a real moto server and the emulator, whose `s3_endpoint` the stack sets):
//! batch inference jobs and the training-file check of CreateModelCustomizationJob.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_bedrock::operation::create_model_customization_job::CreateModelCustomizationJobError;
use aws_sdk_bedrock::operation::create_model_invocation_job::CreateModelInvocationJobError;
use aws_sdk_bedrock::operation::stop_model_invocation_job::StopModelInvocationJobError;
use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobStatus, ModelInvocationType,
};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use aws_sdk_s3::primitives::ByteStream;
use bedrock_catalog::roles::JobKind;
use bedrock_emulator::{EmulatorConfig, Faults, Quality, good_answer};
use bertscore_local_stack::LocalStack;
use serde_json::{Value, json};

mod common;

const NOVA: &str = "amazon.nova-micro-v1:0";
const BUCKET: &str = "bedrock-io";
/// Created in moto's IAM by [`clients`], trusting Bedrock for customization and batch jobs.
const ROLE: &str = "arn:aws:iam::123456789012:role/bedrock-batch";

struct Clients {
    s3: aws_sdk_s3::Client,
    bedrock: aws_sdk_bedrock::Client,
    runtime: aws_sdk_bedrockruntime::Client,
}

async fn clients(stack: &LocalStack) -> Clients {
    let credentials =
        aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "local-stack");
    let s3 = common::s3_client(stack);
    let bedrock = common::bedrock_client(stack);
    let runtime = aws_sdk_bedrockruntime::Client::from_conf(
        aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .endpoint_url(stack.bedrock.endpoint())
            .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let role = stack
        .create_role("bedrock-batch", &[JobKind::Customization, JobKind::Batch])
        .await
        .unwrap();
    assert_eq!(role, ROLE);
    Clients {
        s3,
        bedrock,
        runtime,
    }
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, text: String) {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(text.into_bytes()))
        .send()
        .await
        .unwrap();
}

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> String {
    let object = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap()
}

async fn keys_under(s3: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

fn prompt(i: usize) -> String {
    format!(
        "Summarize the following conversation.\n\n#Person1#: This is dialogue {i}, about the weather today.\n#Person2#: It will rain."
    )
}

fn reference(i: usize) -> String {
    format!("Two people talk about the weather in dialogue {i} and agree that it will rain later.")
}

fn nova_input(text: &str) -> Value {
    json!({
        "schemaVersion": "messages-v1",
        "messages": [{ "role": "user", "content": [{ "text": text }] }],
        "inferenceConfig": { "maxTokens": 100 },
    })
}

fn record_id(i: usize) -> String {
    format!("REC{i:09}")
}

/// `n` Nova records as batch JSONL.
fn batch_input(n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({ "recordId": record_id(i), "modelInput": nova_input(&prompt(i)) }).to_string()
                + "\n"
        })
        .collect()
}

async fn create_batch_job(
    bedrock: &aws_sdk_bedrock::Client,
    name: &str,
    model: &str,
    input_key: &str,
    token: &str,
) -> Result<String, aws_sdk_bedrock::error::SdkError<CreateModelInvocationJobError>> {
    Ok(bedrock
        .create_model_invocation_job()
        .job_name(name)
        .role_arn(ROLE)
        .model_id(model)
        .input_data_config(s3_input(input_key))
        .output_data_config(s3_output("out/"))
        .client_request_token(token)
        .send()
        .await?
        .job_arn)
}

/// A batch job's input: the object or prefix `key` in the bucket.
fn s3_input(key: &str) -> ModelInvocationJobInputDataConfig {
    common::batch_input(format!("s3://{BUCKET}/{key}"))
}

/// A batch job's output: under `key` in the bucket.
fn s3_output(key: &str) -> ModelInvocationJobOutputDataConfig {
    common::batch_output(format!("s3://{BUCKET}/{key}"))
}

async fn final_status(
    bedrock: &aws_sdk_bedrock::Client,
    arn: &str,
) -> aws_sdk_bedrock::operation::get_model_invocation_job::GetModelInvocationJobOutput {
    for _ in 0..500 {
        let job = bedrock
            .get_model_invocation_job()
            .job_identifier(arn)
            .send()
            .await
            .unwrap();
        let running = matches!(
            job.status(),
            Some(
                ModelInvocationJobStatus::Submitted
                    | ModelInvocationJobStatus::InProgress
                    | ModelInvocationJobStatus::Stopping
            )
        );
        if !running {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("batch job {arn} never ended");
}

fn validation_message(err: CreateModelInvocationJobError) -> String {
    match err {
        CreateModelInvocationJobError::ValidationException(e) => {
            e.message().unwrap_or_default().to_owned()
        }
        other => panic!("expected a ValidationException, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_job_answers_like_invoke_model_shuffled_with_errors_and_missing_records() {
    let answers: HashMap<String, String> = (0..12).map(|i| (prompt(i), reference(i))).collect();
    let config = EmulatorConfig {
        batch_duration: Duration::from_millis(400),
        batch_min_records: 10,
        // The base model gets the good answers, so outputs differ per record.
        custom_quality: Quality::Worse,
        answers,
        faults: Faults {
            batch_record_errors: 2,
            batch_missing_records: 1,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    };
    let stack = LocalStack::start(config).await.unwrap();
    assert_eq!(
        stack.bedrock.config().s3_endpoint,
        Some(stack.moto.endpoint())
    );
    let c = clients(&stack).await;
    put(&c.s3, "in/prompts.jsonl", batch_input(12)).await;

    let arn = create_batch_job(&c.bedrock, "batch-a", NOVA, "in/prompts.jsonl", "batch-tok")
        .await
        .unwrap();
    let job_id = arn
        .strip_prefix("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/")
        .unwrap_or_else(|| panic!("{arn}"));
    assert_eq!(
        create_batch_job(&c.bedrock, "batch-a", NOVA, "in/prompts.jsonl", "batch-tok")
            .await
            .unwrap(),
        arn,
        "the same clientRequestToken returns the same job"
    );
    let first = c
        .bedrock
        .get_model_invocation_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), Some(&ModelInvocationJobStatus::Submitted));
    assert_eq!(first.model_id, NOVA);
    assert_eq!(first.total_record_count(), Some(12));

    let done = final_status(&c.bedrock, &arn).await;
    // A record left out means the job did not process everything: PartiallyCompleted.
    assert_eq!(
        done.status(),
        Some(&ModelInvocationJobStatus::PartiallyCompleted)
    );
    assert_eq!(done.processed_record_count(), Some(11));
    assert_eq!(done.success_record_count(), Some(9));
    assert_eq!(done.error_record_count(), Some(2));
    assert!(done.end_time().is_some());

    let mut keys = keys_under(&c.s3, "out/").await;
    keys.sort();
    assert_eq!(
        keys,
        vec![
            format!("out/{job_id}/manifest.json.out"),
            format!("out/{job_id}/prompts.jsonl.out"),
        ]
    );
    let manifest: Value =
        serde_json::from_str(&get(&c.s3, &format!("out/{job_id}/manifest.json.out")).await)
            .unwrap();
    assert_eq!(manifest["totalRecordCount"], 12);
    assert_eq!(manifest["processedRecordCount"], 11);
    assert_eq!(manifest["successRecordCount"], 9);
    assert_eq!(manifest["errorRecordCount"], 2);

    let output = get(&c.s3, &format!("out/{job_id}/prompts.jsonl.out")).await;
    let lines: Vec<Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    let ids: Vec<String> = lines
        .iter()
        .map(|l| l["recordId"].as_str().unwrap().to_owned())
        .collect();
    let mut in_input_order = ids.clone();
    in_input_order.sort();
    in_input_order.dedup();
    assert_eq!(in_input_order.len(), 11, "no record twice");
    assert_ne!(ids, in_input_order, "the output order is shuffled");
    let mut errors = 0;
    for line in &lines {
        let i: usize = line["recordId"].as_str().unwrap()[3..].parse().unwrap();
        assert_eq!(
            line["modelInput"],
            nova_input(&prompt(i)),
            "joined by recordId"
        );
        if let Some(error) = line.get("error") {
            errors += 1;
            assert_eq!(error["errorCode"], 500);
            assert!(line.get("modelOutput").is_none());
            continue;
        }
        // Exactly what InvokeModel answers for the same body.
        let invoked = c
            .runtime
            .invoke_model()
            .model_id(NOVA)
            .content_type("application/json")
            .body(Blob::new(line["modelInput"].to_string()))
            .send()
            .await
            .unwrap();
        let invoked: Value = serde_json::from_slice(invoked.body.as_ref()).unwrap();
        assert_eq!(line["modelOutput"], invoked);
        assert_eq!(
            line["modelOutput"]["output"]["message"]["content"][0]["text"],
            good_answer(&reference(i))
        );
    }
    assert_eq!(errors, 2);

    let listed = c.bedrock.list_model_invocation_jobs().send().await.unwrap();
    let summaries = listed.invocation_job_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].job_arn, arn);
    assert_eq!(summaries[0].client_request_token(), Some("batch-tok"));
    let state = stack.bedrock.state();
    assert_eq!(state.batch_jobs.len(), 1);
    let job = &state.batch_jobs[0];
    assert_eq!(job.records, 12);
    assert_eq!(job.status, "PartiallyCompleted");
    assert_eq!(job.input_uri, format!("s3://{BUCKET}/in/prompts.jsonl"));
    assert_eq!(job.output_uri, format!("s3://{BUCKET}/out/"));
    assert_eq!(state.call_count("CreateModelInvocationJob"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_jobs_are_validated_stopped_and_failed_as_told() {
    let config = EmulatorConfig {
        batch_duration: Duration::from_millis(800),
        batch_min_records: 5,
        batch_max_records: 8,
        ..EmulatorConfig::default()
    };
    let stack = LocalStack::start(config.clone()).await.unwrap();
    let c = clients(&stack).await;
    put(&c.s3, "in/few.jsonl", batch_input(3)).await;
    put(&c.s3, "in/many.jsonl", batch_input(9)).await;
    put(&c.s3, "in/enough.jsonl", batch_input(6)).await;
    let mut broken = batch_input(6);
    broken.insert_str(broken.find('\n').unwrap() + 1, "{\"recordId\":\"X\"}\n");
    put(&c.s3, "in/broken.jsonl", broken).await;

    let few = create_batch_job(&c.bedrock, "few", NOVA, "in/few.jsonl", "t-few")
        .await
        .unwrap_err()
        .into_service_error();
    let message = validation_message(few);
    assert!(
        message.contains("has 3 records") && message.contains("at least 5"),
        "{message}"
    );
    // Above the per-job maximum (the catalog's 50,000, lowered here): refused, not split.
    let many = create_batch_job(&c.bedrock, "many", NOVA, "in/many.jsonl", "t-many")
        .await
        .unwrap_err()
        .into_service_error();
    let message = validation_message(many);
    assert!(
        message.contains("has 9 records") && message.contains("at most 8"),
        "{message}"
    );
    let bad = create_batch_job(&c.bedrock, "bad", NOVA, "in/broken.jsonl", "t-bad")
        .await
        .unwrap_err()
        .into_service_error();
    let message = validation_message(bad);
    assert!(
        message
            .contains("s3://bedrock-io/in/broken.jsonl: line 2: the record has no \"modelInput\""),
        "{message}"
    );
    let provisioned = create_batch_job(
        &c.bedrock,
        "pt",
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefabcdef",
        "in/enough.jsonl",
        "t-pt",
    )
    .await
    .unwrap_err()
    .into_service_error();
    // The service model's pattern for a batch job's modelId admits no provisioned-model ARN: AWS refuses it
    // before any rule of the emulator's own.
    let message = validation_message(provisioned);
    assert!(
        message.contains("at 'modelId' failed to satisfy constraint")
            && message.contains("regular expression pattern"),
        "{message}"
    );
    let missing = create_batch_job(&c.bedrock, "missing", NOVA, "in/none.jsonl", "t-missing")
        .await
        .unwrap_err()
        .into_service_error();
    let message = validation_message(missing);
    assert!(
        message.contains("s3://bedrock-io/in/none.jsonl does not exist"),
        "{message}"
    );
    assert!(stack.bedrock.state().batch_jobs.is_empty());

    // Stop: Stopping, then Stopped, and nothing is written.
    let arn = create_batch_job(&c.bedrock, "stopped", NOVA, "in/enough.jsonl", "t-stop")
        .await
        .unwrap();
    c.bedrock
        .stop_model_invocation_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    let stopping = c
        .bedrock
        .get_model_invocation_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(stopping.status(), Some(&ModelInvocationJobStatus::Stopping));
    assert_eq!(
        final_status(&c.bedrock, &arn).await.status(),
        Some(&ModelInvocationJobStatus::Stopped)
    );
    let again = c
        .bedrock
        .stop_model_invocation_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(again, StopModelInvocationJobError::ValidationException(_)),
        "{again:?}"
    );

    // fail_batch_job: Failed with a message, nothing written.
    stack.bedrock.set_config(EmulatorConfig {
        batch_duration: Duration::from_millis(100),
        faults: Faults {
            fail_batch_job: true,
            ..Faults::default()
        },
        ..config
    });
    let failing = create_batch_job(&c.bedrock, "failing", NOVA, "in/enough.jsonl", "t-fail")
        .await
        .unwrap();
    let failed = final_status(&c.bedrock, &failing).await;
    assert_eq!(failed.status(), Some(&ModelInvocationJobStatus::Failed));
    assert!(
        failed
            .message()
            .is_some_and(|m| m.contains("fail_batch_job")),
        "{failed:?}"
    );
    // Past the stopped job's duration too: neither wrote anything.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(keys_under(&c.s3, "out/").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converse_batch_job_answers_like_converse_in_input_order_when_not_shuffled() {
    let answers: HashMap<String, String> = (0..6).map(|i| (prompt(i), reference(i))).collect();
    let config = EmulatorConfig {
        batch_duration: Duration::from_millis(200),
        batch_min_records: 4,
        custom_quality: Quality::Worse,
        answers,
        faults: Faults {
            batch_shuffle: false,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    };
    let stack = LocalStack::start(config).await.unwrap();
    let c = clients(&stack).await;
    let converse_input = |i: usize| {
        json!({
            "messages": [{ "role": "user", "content": [{ "text": prompt(i) }] }],
            "inferenceConfig": { "maxTokens": 100 },
        })
    };
    // A folder of inputs: every .jsonl under it is read, each gets its own .out.
    let records = |range: std::ops::Range<usize>| -> String {
        range
            .map(|i| {
                json!({ "recordId": record_id(i), "modelInput": converse_input(i) }).to_string()
                    + "\n"
            })
            .collect()
    };
    put(&c.s3, "conv/part-1.jsonl", records(0..3)).await;
    put(&c.s3, "conv/part-2.jsonl", records(3..6)).await;
    put(&c.s3, "conv/notes.txt", "not an input".into()).await;
    let model = "meta.llama3-1-8b-instruct-v1:0";
    let arn = c
        .bedrock
        .create_model_invocation_job()
        .job_name("converse-job")
        .role_arn(ROLE)
        .model_id(model)
        .model_invocation_type(ModelInvocationType::Converse)
        .input_data_config(s3_input("conv/"))
        .output_data_config(s3_output("results"))
        .send()
        .await
        .unwrap()
        .job_arn;
    let done = final_status(&c.bedrock, &arn).await;
    assert_eq!(done.status(), Some(&ModelInvocationJobStatus::Completed));
    assert_eq!(
        done.model_invocation_type(),
        Some(&ModelInvocationType::Converse)
    );
    assert_eq!(done.total_record_count(), Some(6));
    let job_id = arn.rsplit('/').next().unwrap();
    let mut keys = keys_under(&c.s3, "results/").await;
    keys.sort();
    assert_eq!(
        keys,
        vec![
            format!("results/{job_id}/manifest.json.out"),
            format!("results/{job_id}/part-1.jsonl.out"),
            format!("results/{job_id}/part-2.jsonl.out"),
        ]
    );
    let output = get(&c.s3, &format!("results/{job_id}/part-2.jsonl.out")).await;
    let lines: Vec<Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["recordId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![record_id(3), record_id(4), record_id(5)],
        "batch_shuffle = false keeps the order"
    );
    for (line, i) in lines.iter().zip(3..) {
        let conversed = c
            .runtime
            .converse()
            .model_id(model)
            .messages(
                Message::builder()
                    .role(ConversationRole::User)
                    .content(ContentBlock::Text(prompt(i)))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let text = conversed
            .output()
            .and_then(|o| o.as_message().ok())
            .and_then(|m| m.content().first())
            .and_then(|b| b.as_text().ok())
            .unwrap()
            .clone();
        assert_eq!(text, good_answer(&reference(i)));
        assert_eq!(
            line["modelOutput"]["output"]["message"]["content"][0]["text"],
            text
        );
        assert_eq!(line["modelOutput"]["stopReason"], "end_turn");
    }

    // The state endpoint, as a test in another language would read it.
    let state: Value = tokio::task::spawn_blocking({
        let url = format!("{}/_emulator/state", stack.bedrock.endpoint());
        move || {
            serde_json::from_str(&ureq::get(&url).call().unwrap().into_string().unwrap()).unwrap()
        }
    })
    .await
    .unwrap();
    let job = &state["batchJobs"][0];
    assert_eq!(job["jobArn"], arn.as_str());
    assert_eq!(job["jobName"], "converse-job");
    assert_eq!(job["status"], "Completed");
    assert_eq!(job["modelId"], model);
    assert_eq!(job["inputUri"], format!("s3://{BUCKET}/conv/"));
    assert_eq!(job["outputUri"], format!("s3://{BUCKET}/results"));
    assert_eq!(job["records"], 6);
    // The SDK fills in an idempotency token when the caller gives none.
    assert_eq!(job["clientRequestToken"].as_str().map(str::len), Some(36));
    assert_eq!(state["customModelDeployments"], json!([]));
    assert_eq!(state["servingHistory"], json!([]));
}

async fn create_customization_job(
    bedrock: &aws_sdk_bedrock::Client,
    name: &str,
    base: &str,
    training_key: &str,
) -> Result<String, CreateModelCustomizationJobError> {
    common::fine_tuning_job(
        bedrock,
        name,
        ROLE,
        base,
        "1",
        format!("s3://{BUCKET}/{training_key}"),
        format!("s3://{BUCKET}/custom/"),
    )
    .send()
    .await
    .map(|out| out.job_arn)
    .map_err(|e| e.into_service_error())
}

fn customization_validation(err: CreateModelCustomizationJobError) -> String {
    match err {
        CreateModelCustomizationJobError::ValidationException(e) => {
            e.message().unwrap_or_default().to_owned()
        }
        other => panic!("expected a ValidationException, got {other:?}"),
    }
}

fn conversation(user: &str, assistant: &str) -> String {
    json!({
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{ "text": "Summarize the dialogue." }],
        "messages": [
            { "role": "user", "content": [{ "text": user }] },
            { "role": "assistant", "content": [{ "text": assistant }] },
        ],
    })
    .to_string()
        + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_file_in_the_wrong_schema_is_refused_with_its_line() {
    let stack = LocalStack::start(EmulatorConfig::default()).await.unwrap();
    let c = clients(&stack).await;
    let prompt_completion = "{\"prompt\":\"Summarize: a\",\"completion\":\"b\"}\n".repeat(3);
    put(&c.s3, "train/pc.jsonl", prompt_completion).await;
    let mixed = conversation("a", "b")
        + &conversation("c", "d")
        + "{\"schemaVersion\":\"bedrock-conversation-2024\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"e\"}]}]}\n";
    put(&c.s3, "train/mixed.jsonl", mixed).await;
    put(
        &c.s3,
        "train/good.jsonl",
        conversation("a", "b") + &conversation("c", "d"),
    )
    .await;

    let nova = "amazon.nova-micro-v1:0:128k";
    let message = customization_validation(
        create_customization_job(&c.bedrock, "nova-pc", nova, "train/pc.jsonl")
            .await
            .unwrap_err(),
    );
    assert_eq!(
        message,
        "Invalid training data in s3://bedrock-io/train/pc.jsonl: line 1: the record has no \"schemaVersion\" (the base model takes bedrock-conversation-2024 records)."
    );
    let message = customization_validation(
        create_customization_job(&c.bedrock, "nova-mixed", nova, "train/mixed.jsonl")
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("train/mixed.jsonl: line 3: \"messages\" needs a user turn followed by an assistant turn"),
        "{message}"
    );
    let message = customization_validation(
        create_customization_job(
            &c.bedrock,
            "cohere-conv",
            "cohere.command-light-text-v14",
            "train/good.jsonl",
        )
        .await
        .unwrap_err(),
    );
    assert!(
        message.contains("line 1: the record has no \"prompt\""),
        "{message}"
    );
    let message = customization_validation(
        create_customization_job(&c.bedrock, "nova-none", nova, "train/none.jsonl")
            .await
            .unwrap_err(),
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(stack.bedrock.state().jobs.is_empty());

    let arn = create_customization_job(&c.bedrock, "nova-good", nova, "train/good.jsonl")
        .await
        .unwrap();
    assert!(
        arn.contains(":model-customization-job/amazon.nova-micro-v1:0:128k/"),
        "{arn}"
    );
    create_customization_job(
        &c.bedrock,
        // Llama is customized in us-west-2 only (the catalog); the stack's client signs for us-east-1, where the
        // AWS sample's Cohere Command Light (served by the local stack for its legacy demo) takes the same format.
        "cohere-pc",
        "cohere.command-light-text-v14:7:4k",
        "train/pc.jsonl",
    )
    .await
    .unwrap();
    assert_eq!(stack.bedrock.state().jobs.len(), 2);
    assert_eq!(
        stack
            .bedrock
            .state()
            .call_count("CreateModelCustomizationJob"),
        6
    );
}
