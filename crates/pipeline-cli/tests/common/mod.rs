//! What the binary's tests share: the binary with a clean AWS environment, its output as text, the Bedrock
//! emulator with the seed's answer key, an example config rewritten for the local stack, a run spawned in the
//! background.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use bedrock_emulator::{EmulatorConfig, Quality};
use bertscore_local_stack::LocalStack;
use bertscore_pipeline::preflight::{JobKind, Roles, trust_policy};
use bertscore_pipeline::{AwsSettings, Clients, Endpoints};

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub fn pipeline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bertscore-pipeline"));
    // Nothing from the developer's shell may point the binary at a real account.
    for key in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_BEDROCK",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_ENDPOINT_URL_SESV2",
        "AWS_SESSION_TOKEN",
        "BERTSCORE_STATE_DIR",
    ] {
        command.env_remove(key);
    }
    command
}

/// The roles the example configs name, as `run` finds them on a real account: the customization role (which
/// may also run the batch job) and the batch role.
const ROLES: [(&str, &[JobKind]); 2] = [
    (
        "BedrockModelCustomizationRole",
        &[JobKind::Customization, JobKind::Batch],
    ),
    ("BedrockBatchInferenceRole", &[JobKind::Batch]),
];

/// The local stack with the example configs' roles in moto's IAM.
pub async fn start_stack(emulator: EmulatorConfig) -> LocalStack {
    let stack = LocalStack::start(emulator).await.unwrap();
    let clients = iam_clients(&stack).await;
    for (name, kinds) in ROLES {
        create_role(&clients, name, kinds).await;
    }
    stack
}

/// Clients of the stack (moto's IAM, S3 and SESv2, the emulator).
pub async fn iam_clients(stack: &LocalStack) -> Clients {
    Clients::connect(&AwsSettings::local(Endpoints {
        s3: Some(stack.moto.endpoint()),
        bedrock: Some(stack.bedrock.endpoint()),
        bedrock_runtime: Some(stack.bedrock.endpoint()),
        sesv2: Some(stack.moto.endpoint()),
        iam: Some(stack.moto.endpoint()),
    }))
    .await
}

/// Creates the role `name` in moto's IAM, trusting Bedrock for `kinds` of jobs in every region of the catalog.
pub async fn create_role(clients: &Clients, name: &str, kinds: &[JobKind]) {
    clients
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy("123456789012", &Roles::regions(), kinds))
        .send()
        .await
        .unwrap();
}

/// The stack's AWS environment for the binary, IAM (moto) included.
pub fn env(stack: &LocalStack) -> Vec<(String, String)> {
    let mut env = stack.env();
    env.push(("AWS_ENDPOINT_URL_IAM".into(), stack.moto.endpoint()));
    env
}

pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The emulator with the seed's answer key, quick jobs and a better custom model; `tweak` sets the rest
/// (serving and batch durations) before the answers are loaded.
pub fn emulator_config(tweak: impl FnOnce(&mut EmulatorConfig)) -> EmulatorConfig {
    let mut config = EmulatorConfig {
        job_duration: Duration::from_millis(300),
        custom_quality: Quality::Better,
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    let seed = repo("datasets/dialogsum-seed");
    config
        .load_answers(
            &seed.join("validation-data.json"),
            &seed.join("reference-inference.json"),
        )
        .unwrap();
    config
}

/// Sets `key` in the table `section` of `config`.
pub fn set(config: &mut toml::Table, section: &str, key: &str, value: impl Into<toml::Value>) {
    config[section]
        .as_table_mut()
        .unwrap()
        .insert(key.into(), value.into());
}

/// `datasets/pipeline/<example>` on the seed data (11 prompts) with fast polling (every 0.05 s up to 0.2 s),
/// quick retries and a quick scoring setup (1000 resamples), changed by `tweak`, written to `dir/<name>`.
pub fn example_config(
    dir: &Path,
    example: &str,
    name: &str,
    tweak: impl FnOnce(&mut toml::Table),
) -> PathBuf {
    let example = std::fs::read_to_string(repo("datasets/pipeline").join(example)).unwrap();
    let mut config: toml::Table = toml::from_str(&example).unwrap();
    let seed = repo("datasets/dialogsum-seed");
    for (key, file) in [
        ("training", "training-data.jsonl"),
        ("validation", "validation-data.json"),
        ("references", "reference-inference.json"),
    ] {
        set(
            &mut config,
            "data",
            key,
            seed.join(file).display().to_string(),
        );
    }
    set(&mut config, "polling", "initial_s", 0.05);
    set(&mut config, "polling", "max_s", 0.2);
    set(&mut config, "inference", "retry_base_s", 0.01);
    set(&mut config, "scoring", "bootstrap", 1000);
    set(&mut config, "scoring", "permutations", 1000);
    tweak(&mut config);
    let path = dir.join(name);
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    path
}

/// `bertscore-pipeline --state-dir STATE_DIR ARGS [PATH]` against `stack`, to its end.
pub fn at(
    stack: &LocalStack,
    state_dir: impl AsRef<Path>,
    args: &[&str],
    path: Option<&Path>,
) -> Output {
    let mut command = pipeline();
    command
        .arg("--state-dir")
        .arg(state_dir.as_ref())
        .args(args);
    if let Some(path) = path {
        command.arg(path);
    }
    command.envs(env(stack)).output().unwrap()
}

/// Spawns `run --run-id RUN_ID --config CONFIG` against `stack`, its output discarded.
pub fn spawn_run(stack: &LocalStack, state_dir: &Path, run_id: &str, config: &Path) -> Child {
    pipeline()
        .args(["--state-dir"])
        .arg(state_dir)
        .args(["run", "--run-id", run_id, "--config"])
        .arg(config)
        .envs(env(stack))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}
