//! `bertscore-pipeline` (what `bertscore pipeline` runs) as a user runs it: the real binary, configured through
//! the standard AWS environment variables (set on the child process only), against moto and the Bedrock
//! emulator.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bedrock_emulator::EmulatorConfig;
use bertscore_local_stack::LocalStack;
use common::{example_config, pipeline, repo, set, spawn_run, text};
use serde_json::Value;

/// A config for the local stack: the example config with fast polling and a quick scoring setup.
fn write_config(dir: &Path, pt_wait_s: f64) -> PathBuf {
    example_config(dir, "aws-sample-cohere.toml", "pipeline.toml", |config| {
        set(config, "polling", "max_s", (pt_wait_s / 10.0).max(0.1));
        set(config, "scoring", "bootstrap", 2000);
        set(config, "scoring", "permutations", 2000);
    })
}

fn emulator_config(pt_duration: Duration) -> EmulatorConfig {
    common::emulator_config(|config| config.pt_duration = pt_duration)
}

/// Each of `texts` occurs in `stdout`, in this order.
fn assert_in_order(stdout: &str, texts: &[&str]) {
    let mut from = 0;
    for text in texts {
        let at = stdout[from..]
            .find(text)
            .unwrap_or_else(|| panic!("{text} missing or out of order:\n{stdout}"));
        from += at;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_throughput_is_created_then_resumed() {
    // The throughput takes 3 s to come into service: the window in which the process is killed.
    let stack = common::start_stack(emulator_config(Duration::from_secs(3))).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 3.0);
    let state_dir = dir.path().join("runs");
    let run_id = "kill-test-1";

    let mut child = spawn_run(&stack, &state_dir, run_id, &config);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = stack.bedrock.state();
        if !state.provisioned_throughputs.is_empty() {
            assert_eq!(state.provisioned_throughputs[0].status, "Creating");
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before creating the throughput");
        }
        assert!(Instant::now() < deadline, "no throughput was created");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let status = pipeline()
        .args(["--state-dir"])
        .arg(&state_dir)
        .args(["status", run_id, "--json"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    let state: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(state["status"], "running");
    assert_eq!(state["steps"]["create-job"]["status"], "finished");
    assert_ne!(state["steps"]["inference"]["status"], "finished");

    let resumed = common::at(&stack, &state_dir, &["resume", run_id, "--json"], None);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let report: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["outcome"]["verdict"], "custom");
    assert_eq!(report["throughput"], "kept");

    let emulator = stack.bedrock.state();
    assert_eq!(emulator.jobs.len(), 1, "{:?}", emulator.jobs);
    assert_eq!(emulator.calls.get("CreateModelCustomizationJob"), Some(&1));
    assert_eq!(emulator.provisioned_throughputs.len(), 1);
    assert!(!emulator.provisioned_throughputs[0].deleted);
    assert_eq!(emulator.provisioned_throughputs[0].status, "InService");
    // The create call may have been sent again only if the kill came before its journal entry; the client
    // token makes that harmless, and the emulator still holds one throughput.
    assert!(
        emulator
            .calls
            .get("CreateProvisionedModelThroughput")
            .copied()
            .unwrap_or(0)
            <= 2
    );

    let emails = tokio::task::block_in_place(|| stack.moto.sent_emails().unwrap());
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(
        emails[0]["subject"]
            .as_str()
            .unwrap()
            .contains("verdict: custom")
    );

    // The email's SES message id is recorded (the text output says "Email: sent to ...").
    let status_json = pipeline()
        .args(["--state-dir"])
        .arg(&state_dir)
        .args(["status", run_id, "--json"])
        .output()
        .unwrap();
    let state: Value = serde_json::from_slice(&status_json.stdout).unwrap();
    assert_eq!(
        state["resources"]["email_message_id"].as_str(),
        emails[0]["id"].as_str(),
        "{state}"
    );

    // The kept throughput lives on the emulator: `status` says so, and that it is gone with the stack.
    let status = |stack_up: bool| {
        let output = pipeline()
            .args(["--state-dir"])
            .arg(&state_dir)
            .args(["status", run_id])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(!stdout.contains("BILLED"), "stack up: {stack_up}\n{stdout}");
        stdout
    };
    let live = status(true);
    // Without a run id, status shows the run updated last: this one.
    let latest = pipeline()
        .args(["--state-dir"])
        .arg(&state_dir)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(latest.stdout).unwrap(), live);
    assert!(
        live.contains("an emulator, not AWS: nothing is billed"),
        "{live}"
    );
    assert!(live.contains("status   succeeded"), "{live}");
    let LocalStack { moto, bedrock } = stack;
    bedrock.shutdown().await;
    drop(moto);
    let gone = status(false);
    assert!(gone.contains("no longer answers"), "{gone}");
}

/// `run --run-id ID` started, then the state's `create-job` step finished: the run is in the middle of its wait.
fn wait_for_step(state_dir: &Path, run_id: &str, step: &str, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let state_path = state_dir.join(run_id).join("state.json");
    loop {
        if let Ok(text) = std::fs::read_to_string(&state_path)
            && let Ok(state) = serde_json::from_str::<Value>(&text)
            && state["steps"][step]["status"] == "finished"
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before {step} finished");
        }
        assert!(Instant::now() < deadline, "{step} did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_is_refused_while_a_run_is_live() {
    // The job stays InProgress for a minute: the run is live while the other commands try to take it.
    let mut emulator = emulator_config(Duration::from_millis(300));
    emulator.job_duration = Duration::from_secs(60);
    let stack = common::start_stack(emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 1.0);
    let state_dir = dir.path().join("runs");
    let run_id = "lock-test-1";
    let mut child = spawn_run(&stack, &state_dir, run_id, &config);
    let owner = child.id();
    tokio::task::block_in_place(|| wait_for_step(&state_dir, run_id, "create-job", &mut child));

    let second = |args: &[&str]| {
        pipeline()
            .args(["--state-dir"])
            .arg(&state_dir)
            .args(args)
            .envs(common::env(&stack))
            .output()
            .unwrap()
    };
    for args in [
        vec!["resume", run_id],
        vec!["cleanup", run_id],
        vec![
            "run",
            "--run-id",
            run_id,
            "--config",
            config.to_str().unwrap(),
        ],
    ] {
        let output = second(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("in use by process {owner}")),
            "{args:?}: {stderr}"
        );
    }
    let status = second(&["status", run_id]);
    assert!(status.status.success(), "{}", text(&status));
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        stdout.contains(&format!("in progress in process {owner}")),
        "{stdout}"
    );
    // The refused commands changed nothing: one job, never stopped, and the owner still at its wait.
    let emulator = stack.bedrock.state();
    assert_eq!(emulator.jobs.len(), 1);
    assert_eq!(emulator.jobs[0].status, "InProgress");
    assert_eq!(emulator.calls.get("StopModelCustomizationJob"), None);

    // Once the owner is gone, cleanup takes the run and stops the job.
    child.kill().unwrap();
    child.wait().unwrap();
    let cleanup = second(&["cleanup", run_id]);
    assert!(cleanup.status.success(), "{}", text(&cleanup));
    assert!(
        String::from_utf8_lossy(&cleanup.stdout).contains("stopped customization job"),
        "{}",
        text(&cleanup)
    );
    assert_eq!(
        stack.bedrock.state().calls.get("StopModelCustomizationJob"),
        Some(&1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scoring_settings_and_models_stop_the_run_before_any_aws_call() {
    let stack = common::start_stack(emulator_config(Duration::from_millis(300))).await;
    let dir = tempfile::tempdir().unwrap();
    let broken_model = dir.path().join("broken-model");
    std::fs::create_dir(&broken_model).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::write(broken_model.join(file), "not a model").unwrap();
    }
    let cases = [
        ("alpha", toml::Value::from(2.0), 2, "scoring.alpha"),
        ("margin", toml::Value::from(-1), 2, "scoring.margin"),
        (
            "bootstrap",
            toml::Value::from(i64::MAX),
            2,
            "scoring.bootstrap",
        ),
        (
            "model",
            toml::Value::from(broken_model.display().to_string()),
            3,
            "broken-model",
        ),
    ];
    for (field, value, code, mentioned) in cases {
        let config = write_config(dir.path(), 1.0);
        let mut table: toml::Table =
            toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        table["scoring"]
            .as_table_mut()
            .unwrap()
            .insert(field.into(), value);
        std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
        for command in ["plan", "run"] {
            let output = common::at(
                &stack,
                dir.path().join("runs"),
                &[command, "--config"],
                Some(config.as_ref()),
            );
            assert_eq!(
                output.status.code(),
                Some(code),
                "{field} {command}: {}",
                text(&output)
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(mentioned), "{field} {command}: {stderr}");
            // One text per cause: no message repeated in the chain.
            let message = stderr.trim_start_matches("error: ");
            for part in message.split(": ").filter(|p| p.len() > 12) {
                assert_eq!(
                    message.matches(part).count(),
                    1,
                    "{part:?} repeated: {stderr}"
                );
            }
        }
    }
    let emulator = stack.bedrock.state();
    assert!(emulator.calls.is_empty(), "{:?}", emulator.calls);
    let clients = bertscore_pipeline::Clients::connect(&bertscore_pipeline::AwsSettings::local(
        bertscore_pipeline::Endpoints {
            s3: Some(stack.moto.endpoint()),
            ..Default::default()
        },
    ))
    .await;
    let buckets = clients.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty(), "{:?}", buckets.buckets());
    assert!(tokio::task::block_in_place(|| stack.moto.sent_emails().unwrap()).is_empty());
}

#[test]
fn plan_lists_the_calls_and_makes_none() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("runs");
    let stdout = plan_stdout(
        &state_dir,
        [
            repo("datasets/pipeline/aws-sample-cohere.toml"),
            "--input".into(),
            repo("datasets/pipeline/aws-sample-cohere-sfn-input.json"),
        ],
    );
    let order = [
        "CreateBucket",
        "PutObject",
        "CreateModelCustomizationJob",
        "GetModelCustomizationJob",
        "CreateProvisionedModelThroughput",
        "GetProvisionedModelThroughput",
        "InvokeModel",
        "DeleteProvisionedModelThroughput",
        "SendEmail",
    ];
    assert_in_order(&stdout, &order);
    // The Step Functions input's names and hyper-parameters reach the job.
    assert!(
        stdout.contains("jobName=dialogsum-command-light-job-1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("customModelName=dialogsum-command-light-1"),
        "{stdout}"
    );
    assert!(stdout.contains("earlyStoppingPatience=6"), "{stdout}");
    assert!(
        stdout.contains("11 x modelId=cohere.command-light-text-v14 (adapter cohere)"),
        "{stdout}"
    );
    assert!(!state_dir.exists(), "plan must not create a run");
}

#[test]
fn invalid_training_data_exits_2_without_calling_aws() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 1.0);
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"prompt\": \"p\", \"completion\": \"\"}\n").unwrap();
    let text_config = std::fs::read_to_string(&config).unwrap().replace(
        &repo("datasets/dialogsum-seed/training-data.jsonl")
            .display()
            .to_string(),
        &bad.display().to_string(),
    );
    std::fs::write(&config, text_config).unwrap();
    let output = pipeline()
        .args(["--state-dir"])
        .arg(dir.path().join("runs"))
        .args(["run", "--config"])
        .arg(&config)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.jsonl:1: completion is empty"),
        "{stderr}"
    );
}

#[test]
fn a_missing_run_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let output = pipeline()
        .args(["--state-dir"])
        .arg(dir.path())
        .args(["status", "no-such-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no run \"no-such-run\""));
}

#[test]
fn plan_shows_the_nova_conversion_and_the_batch_job() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("runs");
    let stdout = plan_stdout(&state_dir, [repo("datasets/pipeline/nova.toml")]);
    assert!(
        stdout.contains(
            "880 training records (" // path, then the formats
        ) && stdout
            .contains("prompt/completion; Amazon Nova fine-tuning takes bedrock-conversation-2024"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "880 records to bedrock-conversation-2024 with customization.system_prompt as the system turn"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "first record: {\"schemaVersion\":\"bedrock-conversation-2024\",\"system\":[{\"text\":\"You summarize dialogues"
        ),
        "{stdout}"
    );
    // 120 prompts reach the batch minimum (100): the base model's prompts go to one batch job, after the upload;
    // its output is read back from the job's folder.
    let order = [
        "CreateModelCustomizationJob",
        "the base model's 120 prompts run as 1 batch job(s)",
        "batch/input/base.jsonl  (",
        "CreateModelInvocationJob",
        "GetModelInvocationJob",
        "ListObjectsV2",
        "GetObject",
        "batch/output/<bertscore-<run-id>-base>/base.jsonl.out",
    ];
    assert_in_order(&stdout, &order);
    assert!(
        stdout.contains("modelId=amazon.nova-micro-v1:0 roleArn=arn:aws:iam::123456789012:role/BedrockBatchInferenceRole"),
        "{stdout}"
    );
    assert!(
        stdout.contains("clientRequestToken=<run-id>-batch"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("120 x modelId=amazon.nova-micro-v1:0"),
        "{stdout}"
    );
    assert!(!state_dir.exists(), "plan must not create a run");
}

#[test]
fn plan_says_the_aws_sample_model_is_end_of_life() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = plan_stdout(
        dir.path(),
        [repo("datasets/pipeline/aws-sample-cohere.toml")],
    );
    assert!(
        stdout.contains("note: Cohere Command Light has reached end of life on Amazon Bedrock"),
        "{stdout}"
    );
    assert!(stdout.contains("runs only on the local stack"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_llama_run_invokes_the_id_bedrock_serves() {
    // Llama 3.1 is customized in us-west-2: the example roles trust Bedrock's jobs there too.
    let stack = common::start_stack(emulator_config(Duration::from_millis(300))).await;
    let dir = tempfile::tempdir().unwrap();
    let config = example_config(dir.path(), "llama.toml", "llama.toml", |_| {});
    let output = common::at(
        &stack,
        dir.path().join("runs"),
        &["run", "--config"],
        Some(config.as_ref()),
    );
    assert!(output.status.success(), "{}", text(&output));

    let requests = stack.bedrock.requests();
    let named = |operation: &str| -> Vec<Option<String>> {
        requests
            .iter()
            .filter(|r| r.operation == operation)
            .map(|r| r.model_id.clone())
            .collect()
    };
    let job = named("CreateModelCustomizationJob");
    assert_eq!(
        job,
        [Some("meta.llama3-1-8b-instruct-v1:0:128k".to_owned())]
    );
    // The 11 seed prompts, on demand, on the base model's inference id (never `...-v1`, cut at the first `:`).
    let invoked = named("InvokeModel");
    let base: Vec<_> = invoked
        .iter()
        .filter(|id| id.as_deref() == Some("meta.llama3-1-8b-instruct-v1:0"))
        .collect();
    assert_eq!(base.len(), 11, "{invoked:?}");
    assert!(
        requests.iter().all(|r| r.status < 400),
        "every request was accepted: {requests:?}"
    );
    // The custom model is served by a provisioned throughput (no on-demand deployment for Llama).
    assert_eq!(named("CreateProvisionedModelThroughput").len(), 1);
    assert!(named("CreateCustomModelDeployment").is_empty());
}

#[test]
fn plan_shows_each_part_of_a_split_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = example_config(dir.path(), "nova.toml", "split.toml", |config| {
        set(config, "inference", "mode", "batch");
        set(config, "inference", "batch_min_records", 3);
        set(config, "inference", "batch_max_records", 6);
    });
    let stdout = plan_stdout(dir.path(), [config]);
    assert_in_order(
        &stdout,
        &[
            "the base model's 11 prompts run as 2 batch job(s) of at most inference.batch_max_records = 6",
            "batch/input/base.jsonl  (",
            "jobName=bertscore-<run-id>-base ",
            "batch/input/base-p1.jsonl  (",
            "jobName=bertscore-<run-id>-base-p1 ",
            "clientRequestToken=<run-id>-batch-p1",
        ],
    );
}

/// `plan --config ARGS...` with its runs under `state_dir`, against an endpoint nobody listens on (any AWS call
/// would fail it): its standard output, once it succeeded.
fn plan_stdout(state_dir: &Path, args: impl IntoIterator<Item = PathBuf>) -> String {
    let output = pipeline()
        .args(["--state-dir"])
        .arg(state_dir)
        .args(["plan", "--config"])
        .args(args)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8(output.stdout).unwrap()
}
