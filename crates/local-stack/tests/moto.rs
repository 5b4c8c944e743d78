//! A real moto server driven by the real aws-sdk-s3 and aws-sdk-sesv2 clients, configured
//! only from `LocalStack::env()` (what the pipeline gets).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, RawMessage};
use bedrock_emulator::EmulatorConfig;
use bertscore_local_stack::LocalStack;

fn env_map(stack: &LocalStack) -> HashMap<String, String> {
    stack.env().into_iter().collect()
}

fn s3_client(env: &HashMap<String, String>) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(&env["AWS_ENDPOINT_URL_S3"])
        .region(aws_sdk_s3::config::Region::new(env["AWS_REGION"].clone()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            &env["AWS_ACCESS_KEY_ID"],
            &env["AWS_SECRET_ACCESS_KEY"],
            None,
            None,
            "local-stack",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn ses_client(env: &HashMap<String, String>) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::Config::builder()
        .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
        .endpoint_url(&env["AWS_ENDPOINT_URL_SESV2"])
        .region(aws_sdk_sesv2::config::Region::new(
            env["AWS_REGION"].clone(),
        ))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            &env["AWS_ACCESS_KEY_ID"],
            &env["AWS_SECRET_ACCESS_KEY"],
            None,
            None,
            "local-stack",
        ))
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

fn quick_config() -> EmulatorConfig {
    EmulatorConfig {
        job_duration: Duration::from_millis(100),
        pt_duration: Duration::from_millis(100),
        ..Default::default()
    }
}

#[tokio::test]
async fn s3_put_and_get_through_moto() {
    let stack = LocalStack::start(quick_config()).await.unwrap();
    let env = env_map(&stack);
    assert_eq!(env["AWS_ENDPOINT_URL_S3"], stack.moto.endpoint());
    assert_eq!(env["AWS_ENDPOINT_URL_BEDROCK"], stack.bedrock.endpoint());
    assert_eq!(
        env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"],
        stack.bedrock.endpoint()
    );

    let s3 = s3_client(&env);
    s3.create_bucket()
        .bucket("bertscore-test")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("bertscore-test")
        .key("data/train.jsonl")
        .body(ByteStream::from_static(
            b"{\"prompt\":\"p\",\"completion\":\"c\"}\n",
        ))
        .send()
        .await
        .unwrap();
    let object = s3
        .get_object()
        .bucket("bertscore-test")
        .key("data/train.jsonl")
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], b"{\"prompt\":\"p\",\"completion\":\"c\"}\n");

    let missing = s3
        .get_object()
        .bucket("bertscore-test")
        .key("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_no_such_key(), "{missing:?}");
}

#[tokio::test]
async fn sesv2_emails_need_a_verified_identity_and_are_readable_back() {
    let stack = LocalStack::start(quick_config()).await.unwrap();
    let ses = ses_client(&env_map(&stack));
    let simple = || {
        ses.send_email()
            .from_email_address("pipeline@example.com")
            .destination(
                Destination::builder()
                    .to_addresses("owner@example.com")
                    .build(),
            )
            .content(
                EmailContent::builder()
                    .simple(
                        Message::builder()
                            .subject(
                                Content::builder()
                                    .data("BERTScore: custom model wins")
                                    .build()
                                    .unwrap(),
                            )
                            .body(
                                Body::builder()
                                    .text(
                                        Content::builder()
                                            .data("F1 0.91 vs 0.84 (p = 0.002)")
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
    };

    // moto rejects senders that are not verified identities, like SES in the sandbox.
    let rejected = simple().await.unwrap_err().into_service_error();
    assert!(rejected.is_message_rejected(), "{rejected:?}");
    assert!(stack.moto.sent_emails().unwrap().is_empty());

    ses.create_email_identity()
        .email_identity("example.com")
        .send()
        .await
        .unwrap();
    let sent = simple().await.unwrap();
    let raw_mime = "From: pipeline@example.com\r\nTo: Team <team@example.com>\r\nSubject: Raw report\r\nContent-Type: text/plain\r\n\r\nRaw body line\r\n";
    ses.send_email()
        .from_email_address("pipeline@example.com")
        .destination(
            Destination::builder()
                .to_addresses("team@example.com")
                .build(),
        )
        .content(
            EmailContent::builder()
                .raw(
                    RawMessage::builder()
                        .data(aws_sdk_sesv2::primitives::Blob::new(raw_mime))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let emails = tokio::task::spawn_blocking(move || {
        let emails = stack.moto.sent_emails().unwrap();
        drop(stack);
        emails
    })
    .await
    .unwrap();
    assert_eq!(emails.len(), 2, "{emails:#?}");
    let first = &emails[0];
    assert_eq!(first["kind"], "simple");
    assert_eq!(Some(first["id"].as_str().unwrap()), sent.message_id());
    assert_eq!(first["subject"], "BERTScore: custom model wins");
    assert_eq!(first["body"], "F1 0.91 vs 0.84 (p = 0.002)");
    assert_eq!(first["source"], "pipeline@example.com");
    assert_eq!(
        first["recipients"],
        serde_json::json!(["owner@example.com"])
    );
    let raw = &emails[1];
    assert_eq!(raw["kind"], "raw");
    assert_eq!(raw["subject"], "Raw report");
    assert_eq!(raw["body"], "Raw body line\n");
    assert_eq!(raw["recipients"], serde_json::json!(["team@example.com"]));
}

#[test]
fn missing_moto_is_a_clear_error() {
    // Run this one in a child process so the override cannot leak into other tests.
    if std::env::var_os("LOCAL_STACK_MISSING_MOTO_CHILD").is_none() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "missing_moto_is_a_clear_error", "--nocapture"])
            .env("LOCAL_STACK_MISSING_MOTO_CHILD", "1")
            .env(
                bertscore_local_stack::MOTO_CMD_ENV,
                "definitely-not-a-moto-binary-xyz",
            )
            .status()
            .unwrap();
        assert!(status.success());
        return;
    }
    let err = bertscore_local_stack::Moto::start()
        .err()
        .expect("moto cannot start");
    let message = err.to_string();
    assert!(message.contains("pip install 'moto[server]'"), "{message}");
    assert!(
        message.contains("definitely-not-a-moto-binary-xyz"),
        "{message}"
    );
}
