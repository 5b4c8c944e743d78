//! boto3 (the Python SDK that moto[server] installs) against the emulator on the local stack: the requests AWS
//! refuses are refused the same way (tests/boto3/strict_emulator.py says which).

use bedrock_catalog::roles::JobKind;
use bedrock_emulator::EmulatorConfig;
use bertscore_local_stack::{EXAMPLE_ROLES, LocalStack};

#[tokio::test]
async fn boto3_is_refused_what_aws_refuses() {
    let stack = LocalStack::start(EmulatorConfig::default()).await.unwrap();
    // The roles the script names, in moto's IAM with the documented trust policies.
    let mut roles = Vec::new();
    for (name, kinds) in EXAMPLE_ROLES {
        roles.push(stack.create_role(name, kinds).await.unwrap());
    }
    let customization_only = stack
        .create_role("CustomizationOnlyRole", &[JobKind::Customization])
        .await
        .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/boto3/strict_emulator.py"
    );
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .env("BEDROCK_ENDPOINT", stack.bedrock.endpoint())
        .env("S3_ENDPOINT", stack.moto.endpoint())
        .env("CUSTOMIZATION_ROLE", &roles[0])
        .env("BATCH_ROLE", &roles[1])
        .env("CUSTOMIZATION_ONLY_ROLE", &customization_only)
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 13, "{stdout}");

    // The request log holds every call boto3 made, in order, with its status.
    let log = stack.bedrock.requests();
    let first = &log[0];
    assert_eq!(first.operation, "GetFoundationModel");
    assert_eq!(
        first.model_id.as_deref(),
        Some("amazon.nova-micro-v1:0:128k")
    );
    assert_eq!(first.status, 200);
    let created: Vec<_> = log
        .iter()
        .filter(|r| r.operation == "CreateProvisionedModelThroughput")
        .map(|r| r.status)
        .collect();
    assert_eq!(created, [400, 201, 201, 400]);
    assert!(log.iter().all(|r| r.operation != "Unknown"), "{log:?}");
    // The batch creates: 99 records, a role for customization jobs only, then the accepted one.
    let batches: Vec<_> = log
        .iter()
        .filter(|r| r.operation == "CreateModelInvocationJob")
        .map(|r| r.status)
        .collect();
    assert_eq!(batches, [400, 400, 200]);
    assert_eq!(stack.bedrock.state().batch_jobs.len(), 1);
}
