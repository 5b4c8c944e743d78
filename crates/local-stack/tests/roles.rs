//! The role a job names, read from moto's IAM by the emulator as Bedrock assumes it: through the real AWS SDK
//! clients, a role IAM lacks, or whose trust policy does not admit Bedrock for that kind of job, is refused with
//! ValidationException "Could not assume provided IAM role." and nothing is created; the documented trust
//! policies are accepted, each for its own kind of job.

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use bedrock_catalog::roles::JobKind;
use bedrock_emulator::EmulatorConfig;
use bertscore_local_stack::LocalStack;
use serde_json::json;

mod common;

const BUCKET: &str = "roles-io";
const NOVA_CUSTOMIZE: &str = "amazon.nova-micro-v1:0:128k";
const NOVA: &str = "amazon.nova-micro-v1:0";

fn role(name: &str) -> String {
    format!("arn:aws:iam::123456789012:role/{name}")
}

struct Clients {
    s3: aws_sdk_s3::Client,
    bedrock: aws_sdk_bedrock::Client,
    iam: aws_sdk_iam::Client,
}

fn clients(stack: &LocalStack) -> Clients {
    let credentials =
        aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "roles-test");
    let moto = stack.moto.endpoint();
    Clients {
        s3: common::s3_client(stack),
        bedrock: common::bedrock_client(stack),
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
                .endpoint_url(&moto)
                .region(aws_sdk_iam::config::Region::new("us-east-1"))
                .credentials_provider(credentials)
                .build(),
        ),
    }
}

/// A refused call's error code and message.
fn code_and_message(e: impl ProvideErrorMetadata) -> (String, String) {
    (
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

async fn customize(c: &Clients, name: &str, role_arn: &str) -> Result<String, (String, String)> {
    common::fine_tuning_job(
        &c.bedrock,
        name,
        role_arn,
        NOVA_CUSTOMIZE,
        "1",
        format!("s3://{BUCKET}/train.jsonl"),
        format!("s3://{BUCKET}/custom/"),
    )
    .send()
    .await
    .map(|out| out.job_arn)
    .map_err(|e| code_and_message(e.into_service_error()))
}

async fn batch(c: &Clients, name: &str, role_arn: &str) -> Result<String, (String, String)> {
    c.bedrock
        .create_model_invocation_job()
        .job_name(name)
        .role_arn(role_arn)
        .model_id(NOVA)
        .input_data_config(common::batch_input(format!("s3://{BUCKET}/batch/in.jsonl")))
        .output_data_config(common::batch_output(format!("s3://{BUCKET}/batch/out/")))
        .send()
        .await
        .map(|out| out.job_arn)
        .map_err(|e| code_and_message(e.into_service_error()))
}

async fn put(c: &Clients, key: &str, text: String) {
    c.s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(text.into_bytes()))
        .send()
        .await
        .unwrap();
}

/// Refused as AWS refuses a role Bedrock cannot assume, saying why.
fn assert_refused(result: Result<String, (String, String)>, role_arn: &str, why: &str) {
    let (code, message) = result.expect_err("the job's role should be refused");
    assert_eq!(code, "ValidationException", "{message}");
    assert!(
        message.starts_with(&format!(
            "Could not assume provided IAM role. ({role_arn}: "
        )),
        "{message}"
    );
    assert!(message.contains(why), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_only_with_a_role_that_trusts_bedrock_for_their_kind() {
    let stack = LocalStack::start(EmulatorConfig::default()).await.unwrap();
    assert_eq!(
        stack.bedrock.config().iam_endpoint,
        Some(stack.moto.endpoint())
    );
    let c = clients(&stack);
    c.s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let turn = json!({
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            { "role": "user", "content": [{ "text": "Summarize: a" }] },
            { "role": "assistant", "content": [{ "text": "b" }] },
        ],
    });
    put(&c, "train.jsonl", format!("{turn}\n{turn}\n")).await;
    let records: String = (0..100)
        .map(|i| {
            let input = json!({
                "schemaVersion": "messages-v1",
                "messages": [{ "role": "user", "content": [{ "text": format!("prompt {i}") }] }],
            });
            format!(
                "{}\n",
                json!({ "recordId": format!("REC{i:09}"), "modelInput": input })
            )
        })
        .collect();
    put(&c, "batch/in.jsonl", records).await;

    let customization = stack
        .create_role("CustomizationOnly", &[JobKind::Customization])
        .await
        .unwrap();
    let batch_only = stack
        .create_role("BatchOnly", &[JobKind::Batch])
        .await
        .unwrap();
    assert_eq!(customization, role("CustomizationOnly"));
    // A role for another service, and one in a path: IAM's ARN has the path, GetRole takes the name.
    let lambda = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    c.iam
        .create_role()
        .role_name("LambdaRole")
        .assume_role_policy_document(lambda.to_string())
        .send()
        .await
        .unwrap();
    c.iam
        .create_role()
        .role_name("PathRole")
        .path("/service-role/")
        .assume_role_policy_document(bedrock_catalog::roles::trust_policy(
            "123456789012",
            &["us-east-1"],
            &[JobKind::Customization],
        ))
        .send()
        .await
        .unwrap();

    let missing = role("NoSuchRole");
    assert_refused(
        customize(&c, "missing", &missing).await,
        &missing,
        "IAM has no role named NoSuchRole",
    );
    assert_refused(
        batch(&c, "missing", &missing).await,
        &missing,
        "IAM has no role named NoSuchRole",
    );
    assert_refused(
        customize(&c, "batch-role", &batch_only).await,
        &batch_only,
        "do not admit model-customization-job jobs of account 123456789012",
    );
    assert_refused(
        batch(&c, "customization-role", &customization).await,
        &customization,
        "do not admit model-invocation-job jobs of account 123456789012",
    );
    let lambda_role = role("LambdaRole");
    assert_refused(
        customize(&c, "lambda", &lambda_role).await,
        &lambda_role,
        "does not let bedrock.amazonaws.com assume it",
    );
    // The role's name without its path is another ARN.
    let unpathed = role("PathRole");
    assert_refused(
        customize(&c, "unpathed", &unpathed).await,
        &unpathed,
        "arn:aws:iam::123456789012:role/service-role/PathRole, another ARN",
    );
    let state = stack.bedrock.state();
    assert!(state.jobs.is_empty() && state.batch_jobs.is_empty());

    // Each documented trust policy admits its own kind of job.
    customize(&c, "custom-ok", &customization).await.unwrap();
    customize(
        &c,
        "path-ok",
        "arn:aws:iam::123456789012:role/service-role/PathRole",
    )
    .await
    .unwrap();
    let arn = batch(&c, "batch-ok", &batch_only).await.unwrap();
    assert!(arn.contains(":model-invocation-job/"), "{arn}");
    let state = stack.bedrock.state();
    assert_eq!((state.jobs.len(), state.batch_jobs.len()), (2, 1));

    // The request log: every refused create answered 400, the accepted ones 201 and 200.
    let statuses: Vec<(String, u16)> = stack
        .bedrock
        .requests()
        .into_iter()
        .filter(|r| r.operation.starts_with("Create"))
        .map(|r| (r.operation, r.status))
        .collect();
    let customization_job = "CreateModelCustomizationJob".to_owned();
    let batch_job = "CreateModelInvocationJob".to_owned();
    assert_eq!(
        statuses,
        [
            (customization_job.clone(), 400),
            (batch_job.clone(), 400),
            (customization_job.clone(), 400),
            (batch_job.clone(), 400),
            (customization_job.clone(), 400),
            (customization_job.clone(), 400),
            (customization_job.clone(), 201),
            (customization_job, 201),
            (batch_job, 200),
        ]
    );
}
