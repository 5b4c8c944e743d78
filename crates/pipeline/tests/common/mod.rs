//! The harness shared by the pipeline's end-to-end tests: a local stack (moto for S3 and SESv2, the Bedrock
//! emulator) started per test, clients pointed at it, a state directory, and the seed data set.
//! Each test file adds its own run configuration (and its own `Harness::start`) on top.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bedrock_emulator::{EmulatorConfig, EmulatorState, Faults, Quality};
use bertscore_local_stack::LocalStack;
use bertscore_pipeline::journal::JournalEntry;
use bertscore_pipeline::preflight::{JobKind, Roles, trust_policy};
use bertscore_pipeline::{AwsSettings, Clients, Endpoints, Pipeline, PipelineConfig};
use serde_json::Value;

pub const SENDER: &str = "pipeline@example.com";
pub const RECIPIENT: &str = "ml-team@example.com";
/// moto's account.
pub const ACCOUNT: &str = "123456789012";
/// The roles the tests' configs name, created in moto's IAM before each run (as on a real account): the
/// customization roles may run batch jobs too, the batch roles batch jobs only.
pub const ROLES: [(&str, &[JobKind]); 3] = [
    (
        "BedrockCustomization",
        &[JobKind::Customization, JobKind::Batch],
    ),
    (
        "BedrockModelCustomizationRole",
        &[JobKind::Customization, JobKind::Batch],
    ),
    ("BatchRole", &[JobKind::Batch]),
];

/// Creates `name` in moto's IAM, trusting Bedrock for `kinds` of jobs in every region of the catalog.
pub async fn create_role(clients: &Clients, name: &str, kinds: &[JobKind]) {
    clients
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy(ACCOUNT, &Roles::regions(), kinds))
        .send()
        .await
        .unwrap();
}

pub fn seed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/dialogsum-seed")
        .join(name)
}

/// The emulator answering the seed's validation prompts, with short jobs and throughputs, `quality` and
/// `faults`; `tweak` changes the rest (durations, candidate rules) before the answers are loaded.
pub fn emulator_config(
    quality: Quality,
    faults: Faults,
    tweak: impl FnOnce(&mut EmulatorConfig),
) -> EmulatorConfig {
    let mut config = EmulatorConfig {
        job_duration: Duration::from_millis(300),
        pt_duration: Duration::from_millis(300),
        custom_quality: quality,
        faults,
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    config
        .load_answers(
            &seed("validation-data.json"),
            &seed("reference-inference.json"),
        )
        .unwrap();
    config
}

/// The `[data]` table of a run on the seed data.
pub fn seed_data_table() -> String {
    format!(
        "[data]\ntraining = {:?}\nvalidation = {:?}\nreferences = {:?}\n",
        seed("training-data.jsonl"),
        seed("validation-data.json"),
        seed("reference-inference.json"),
    )
}

/// A run configuration parsed from `text` and validated, as if read from the file `name`.
pub fn parse_config(text: &str, name: &str) -> PipelineConfig {
    let config = PipelineConfig::from_toml_str(text, Path::new(name)).unwrap();
    config.validate(Path::new(name)).unwrap();
    config
}

/// One local stack, a state directory and clients pointed at the stack.
pub struct Harness {
    pub stack: LocalStack,
    pub clients: Clients,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// A local stack whose Bedrock emulator runs with `emulator`.
    pub async fn with_emulator(emulator: EmulatorConfig) -> Harness {
        let stack = LocalStack::start(emulator).await.unwrap();
        let settings = AwsSettings::local(Endpoints {
            s3: Some(stack.moto.endpoint()),
            bedrock: Some(stack.bedrock.endpoint()),
            bedrock_runtime: Some(stack.bedrock.endpoint()),
            sesv2: Some(stack.moto.endpoint()),
            iam: Some(stack.moto.endpoint()),
        });
        let clients = Clients::connect(&settings).await;
        for (name, kinds) in ROLES {
            create_role(&clients, name, kinds).await;
        }
        // As on a real account, the sender is a verified SES identity before the pipeline runs.
        clients
            .ses
            .create_email_identity()
            .email_identity(SENDER)
            .send()
            .await
            .unwrap();
        Harness {
            stack,
            clients,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pipeline(&self, config: PipelineConfig) -> Pipeline {
        Pipeline::create(config, self.clients.clone(), self.state_dir(), None).unwrap()
    }

    pub fn emulator(&self) -> EmulatorState {
        self.stack.bedrock.state()
    }

    pub fn emails(&self) -> Vec<Value> {
        tokio::task::block_in_place(|| self.stack.moto.sent_emails().unwrap())
    }

    /// The text of the S3 object at `uri` (`s3://bucket/key`).
    pub async fn object(&self, uri: &str) -> String {
        let (bucket, key) = uri.strip_prefix("s3://").unwrap().split_once('/').unwrap();
        let object = self
            .clients
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

/// How many times the emulator was called for `operation`.
pub fn calls(state: &EmulatorState, operation: &str) -> u64 {
    state.calls.get(operation).copied().unwrap_or(0)
}

/// The run's journal, entry by entry.
pub fn journal(pipeline: &Pipeline) -> Vec<JournalEntry> {
    std::fs::read_to_string(pipeline.run_dir().join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
