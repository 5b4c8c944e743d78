//! `LocalStack::env()` is all a process needs: a child process whose only AWS settings are
//! those variables loads its config with `aws-config` (as the pipeline does) and reaches moto
//! for S3 and SESv2 and the emulator for Bedrock and Bedrock Runtime.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use bedrock_emulator::EmulatorConfig;
use bertscore_local_stack::LocalStack;

const CHILD_MARKER: &str = "LOCAL_STACK_ENV_CHILD";

#[tokio::test]
async fn aws_config_picks_up_the_local_endpoints() {
    if std::env::var_os(CHILD_MARKER).is_some() {
        return child().await;
    }
    let config = EmulatorConfig {
        job_duration: Duration::from_millis(100),
        ..Default::default()
    };
    let stack = LocalStack::start(config).await.unwrap();
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "aws_config_picks_up_the_local_endpoints",
            "--nocapture",
        ])
        .env(CHILD_MARKER, "1")
        // Nothing from this machine's AWS setup may leak in.
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(stack.env());
    let status = command.status().await.unwrap();
    assert!(status.success(), "child failed: {status}");

    let state = stack.bedrock.state();
    assert_eq!(state.calls.get("ListProvisionedModelThroughputs"), Some(&1));
    assert_eq!(
        state.invocations.get("meta.llama3-1-8b-instruct-v1:0"),
        Some(&1)
    );
    let emails = tokio::task::spawn_blocking(move || stack.moto.sent_emails().unwrap())
        .await
        .unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["subject"], "via env");
}

/// Runs in the child process, configured only by the environment.
async fn child() {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;

    let s3 = aws_sdk_s3::Client::new(&config);
    s3.create_bucket()
        .bucket("env-bucket")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("env-bucket")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    let listed = s3
        .list_objects_v2()
        .bucket("env-bucket")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents()[0].key(), Some("k"));

    let ses = aws_sdk_sesv2::Client::new(&config);
    ses.create_email_identity()
        .email_identity("example.com")
        .send()
        .await
        .unwrap();
    ses.send_email()
        .from_email_address("a@example.com")
        .destination(
            aws_sdk_sesv2::types::Destination::builder()
                .to_addresses("b@example.com")
                .build(),
        )
        .content(
            aws_sdk_sesv2::types::EmailContent::builder()
                .simple(
                    aws_sdk_sesv2::types::Message::builder()
                        .subject(
                            aws_sdk_sesv2::types::Content::builder()
                                .data("via env")
                                .build()
                                .unwrap(),
                        )
                        .body(
                            aws_sdk_sesv2::types::Body::builder()
                                .text(
                                    aws_sdk_sesv2::types::Content::builder()
                                        .data("body")
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let bedrock = aws_sdk_bedrock::Client::new(&config);
    let pts = bedrock
        .list_provisioned_model_throughputs()
        .send()
        .await
        .unwrap();
    assert!(pts.provisioned_model_summaries().is_empty());

    let runtime = aws_sdk_bedrockruntime::Client::new(&config);
    let out = runtime
        .invoke_model()
        .model_id("meta.llama3-1-8b-instruct-v1:0")
        .body(aws_sdk_bedrockruntime::primitives::Blob::new(
            r#"{"prompt":"Hello there"}"#,
        ))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(out.body.as_ref()).unwrap();
    assert_eq!(body["generation"], "Hello there");
}
