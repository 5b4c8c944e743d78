//! `bertscore-pipeline` killed with SIGKILL in the middle of a billed or long-running resource's creation, then
//! resumed: the real binary against moto and the Bedrock emulator, configured through the standard AWS
//! environment variables (set on the child process only). Each test waits on the emulator's state until the
//! resource exists, kills the process, resumes the run and checks that the emulator holds exactly one.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bedrock_emulator::{EmulatorConfig, EmulatorState};
use bertscore_local_stack::LocalStack;
use common::{example_config, pipeline, set, spawn_run, text};
use serde_json::Value;

/// The emulator with the seed's answer key, quick jobs and servings, and a batch job that takes `batch`.
fn emulator_config(batch: Duration) -> EmulatorConfig {
    common::emulator_config(|config| {
        config.pt_duration = Duration::from_millis(300);
        config.deployment_duration = Duration::from_millis(300);
        config.batch_duration = batch;
        config.batch_min_records = 5;
    })
}

/// Starts `bertscore-pipeline run` and SIGKILLs it once the emulator's state satisfies `ready` (failing if the
/// run ends first); returns the emulator's state right after the kill.
async fn run_then_kill_when(
    stack: &LocalStack,
    state_dir: &Path,
    run_id: &str,
    config: &Path,
    what: &str,
    ready: impl Fn(&EmulatorState) -> bool,
) -> EmulatorState {
    let mut child = spawn_run(stack, state_dir, run_id, config);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready(&stack.bedrock.state()) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before {what}");
        }
        assert!(Instant::now() < deadline, "no {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL: no handler runs, nothing is stopped, deleted or written on the way out.
    child.kill().unwrap();
    child.wait().unwrap();
    stack.bedrock.state()
}

/// `datasets/pipeline/nova.toml` on the seed data (11 prompts), with the base model's prompts forced through a
/// batch job (minimum 5 records), fast polling and a quick scoring setup.
fn nova_batch_config(dir: &Path) -> PathBuf {
    example_config(dir, "nova.toml", "nova-batch.toml", |config| {
        set(config, "inference", "mode", "batch");
        set(config, "inference", "batch_min_records", 5);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_batch_job_then_resumed_creates_one_job() {
    // The batch job takes 4 s: the window in which the process is killed.
    let stack = common::start_stack(emulator_config(Duration::from_secs(4))).await;
    let dir = tempfile::tempdir().unwrap();
    let config = nova_batch_config(dir.path());
    let state_dir = dir.path().join("runs");
    let run_id = "kill-batch-1";

    let killed_at = run_then_kill_when(&stack, &state_dir, run_id, &config, "batch job", |state| {
        !state.batch_jobs.is_empty()
    })
    .await;
    assert_eq!(killed_at.batch_jobs.len(), 1);
    assert!(
        ["Submitted", "InProgress"].contains(&killed_at.batch_jobs[0].status.as_str()),
        "{:?}",
        killed_at.batch_jobs
    );

    let resumed = common::at(&stack, &state_dir, &["resume", run_id, "--json"], None);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let report: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["outcome"]["scored"], 11);
    assert_eq!(report["outcome"]["verdict"], "custom");

    let emulator = stack.bedrock.state();
    assert_eq!(emulator.batch_jobs.len(), 1, "{:?}", emulator.batch_jobs);
    let job = &emulator.batch_jobs[0];
    assert_eq!(job.job_arn, killed_at.batch_jobs[0].job_arn);
    assert_eq!(
        job.client_request_token.as_deref(),
        Some("kill-batch-1-batch")
    );
    assert_eq!(job.status, "Completed");
    // The create call went out again only if the kill came before its journal entry; its client token made
    // that harmless.
    assert!(
        emulator
            .calls
            .get("CreateModelInvocationJob")
            .copied()
            .unwrap_or(0)
            <= 2,
        "{:?}",
        emulator.calls
    );
    assert_eq!(emulator.calls.get("StopModelInvocationJob"), None);
    // The base model was never called on demand: its outputs came from the one job.
    assert_eq!(emulator.invocations.get("amazon.nova-micro-v1:0"), None);
    assert_eq!(emulator.jobs.len(), 1);

    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(state_dir.join(run_id).join("state.json")).unwrap(),
    )
    .unwrap();
    let record = &state["resources"]["batch_job"];
    assert_eq!(record["arn"], job.job_arn.as_str());
    assert_eq!(record["status"], "Completed");
    assert_eq!(state["steps"]["inference"]["attempts"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_batch_killed_during_its_second_job_resumes_without_repeating_a_part() {
    // Bedrock's per-job maximum set to 6: the 11 prompts are two jobs (6 + 5), each taking 3 s.
    let stack = common::start_stack(common::emulator_config(|config| {
        config.pt_duration = Duration::from_millis(300);
        config.deployment_duration = Duration::from_millis(300);
        config.batch_duration = Duration::from_secs(3);
        config.batch_min_records = 3;
        config.batch_max_records = 6;
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = example_config(dir.path(), "nova.toml", "nova-split.toml", |config| {
        set(config, "inference", "mode", "batch");
        set(config, "inference", "batch_min_records", 3);
        set(config, "inference", "batch_max_records", 6);
    });
    let state_dir = dir.path().join("runs");
    let run_id = "kill-split-1";

    let killed_at = run_then_kill_when(
        &stack,
        &state_dir,
        run_id,
        &config,
        "second batch job",
        |state| state.batch_jobs.len() == 2,
    )
    .await;
    assert_eq!(killed_at.batch_jobs[0].status, "Completed");

    let resumed = common::at(&stack, &state_dir, &["resume", run_id, "--json"], None);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let report: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["outcome"]["scored"], 11);

    // Two jobs in all, one per part: the finished part was not run again, the running one was taken up.
    let emulator = stack.bedrock.state();
    let jobs: Vec<(&str, Option<&str>, usize, &str)> = emulator
        .batch_jobs
        .iter()
        .map(|j| {
            (
                j.job_name.as_str(),
                j.client_request_token.as_deref(),
                j.records,
                j.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [
            (
                "bertscore-kill-split-1-base",
                Some("kill-split-1-batch"),
                6,
                "Completed"
            ),
            (
                "bertscore-kill-split-1-base-p1",
                Some("kill-split-1-batch-p1"),
                5,
                "Completed"
            ),
        ]
    );
    assert_eq!(emulator.calls.get("StopModelInvocationJob"), None);
    assert_eq!(emulator.invocations.get("amazon.nova-micro-v1:0"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_the_batch_job_then_cleaned_up_stops_it() {
    // The batch job would take a minute: cleanup must stop it.
    let stack = common::start_stack(emulator_config(Duration::from_secs(60))).await;
    let dir = tempfile::tempdir().unwrap();
    let config = nova_batch_config(dir.path());
    let state_dir = dir.path().join("runs");
    let run_id = "kill-batch-2";

    // Killed once the job's ARN is journaled (state.json names it).
    let state_path = state_dir.join(run_id).join("state.json");
    run_then_kill_when(
        &stack,
        &state_dir,
        run_id,
        &config,
        "journaled batch job",
        |state| {
            !state.batch_jobs.is_empty()
                && std::fs::read_to_string(&state_path)
                    .ok()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                    .is_some_and(|s| s["resources"]["batch_job"]["arn"].is_string())
        },
    )
    .await;

    let cleanup = common::at(&stack, &state_dir, &["cleanup", run_id], None);
    assert!(cleanup.status.success(), "{}", text(&cleanup));
    let stdout = String::from_utf8_lossy(&cleanup.stdout);
    let emulator = stack.bedrock.state();
    assert_eq!(emulator.batch_jobs.len(), 1);
    assert!(
        stdout.contains(&format!(
            "stopped batch inference job {}",
            emulator.batch_jobs[0].job_arn
        )),
        "{}",
        text(&cleanup)
    );
    assert_eq!(emulator.calls.get("StopModelInvocationJob"), Some(&1));
    assert!(
        ["Stopping", "Stopped"].contains(&emulator.batch_jobs[0].status.as_str()),
        "{:?}",
        emulator.batch_jobs
    );

    // Again: nothing left to stop.
    let again = common::at(&stack, &state_dir, &["cleanup", run_id], None);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        stack.bedrock.state().calls.get("StopModelInvocationJob"),
        Some(&1)
    );
}

/// `datasets/pipeline/sweep.toml` (Amazon Nova Micro, a 2 x 2 sweep over learningRate and epochCount, two jobs at
/// once, each candidate served by an on-demand deployment) on the seed data (11 prompts, on demand), fast polling
/// and a quick scoring setup.
fn sweep_config(dir: &Path) -> PathBuf {
    example_config(dir, "sweep.toml", "sweep.toml", |config| {
        // The grid the candidate rules below are written for.
        let sweep = config["sweep"].as_table().unwrap();
        let axis = |key: &str| -> Vec<&str> {
            sweep[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect()
        };
        assert_eq!(axis("learningRate"), ["0.00001", "0.00005"]);
        assert_eq!(axis("epochCount"), ["1", "2"]);
        assert_eq!(sweep["max_concurrent_jobs"].as_integer(), Some(2));
        assert_eq!(
            config["customization"]["base_model_id"].as_str(),
            Some("amazon.nova-micro-v1:0:128k")
        );
        assert_eq!(config["serving"]["mode"].as_str(), Some("auto"));
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_killed_while_serving_a_candidate_resumes_without_creating_anything_twice() {
    // c1 (epochCount 1, learningRate 0.00001) fails to train; c2 answers half the prompts well, c3 a quarter, c4
    // all of them. Each deployment takes 2 s to become Active: the window in which the process is killed.
    let mut emulator = emulator_config(Duration::from_secs(1));
    emulator.deployment_duration = Duration::from_secs(2);
    emulator.candidate_rules = serde_json::from_value(serde_json::json!([
        { "when": { "epochCount": "1", "learningRate": "0.00001" }, "fail": true },
        { "when": { "epochCount": "1", "learningRate": "0.00005" }, "good_fraction": 0.5 },
        { "when": { "epochCount": "2", "learningRate": "0.00001" }, "good_fraction": 0.25 },
        { "when": { "epochCount": "2", "learningRate": "0.00005" }, "good_fraction": 1.0 },
    ]))
    .unwrap();
    let stack = common::start_stack(emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let config = sweep_config(dir.path());
    let state_dir = dir.path().join("runs");
    let run_id = "kill-sweep-1";

    // Killed while the second candidate's deployment comes up (the first one's is kept as the best so far).
    let killed_at = run_then_kill_when(
        &stack,
        &state_dir,
        run_id,
        &config,
        "a second deployment",
        |state| state.custom_model_deployments.len() >= 2,
    )
    .await;
    assert_eq!(killed_at.jobs.len(), 4);
    assert_eq!(killed_at.live_deployments().len(), 2);
    assert!(killed_at.provisioned_throughputs.is_empty());

    // `status` shows each candidate's state.
    let status = pipeline()
        .args(["--state-dir"])
        .arg(&state_dir)
        .args(["status", run_id])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(shown.contains("interrupted"), "{shown}");
    assert!(shown.contains("candidates"), "{shown}");
    let line = |id: &str| {
        shown
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no line for {id} in {shown}"))
            .to_string()
    };
    assert!(line("c1").contains("job Failed"), "{shown}");
    assert!(
        line("c2").contains("evaluated") && line("c2").contains("best so far"),
        "{shown}"
    );
    assert!(line("c3").contains("serving"), "{shown}");
    assert!(line("c4").contains("trained"), "{shown}");

    let resumed = common::at(&stack, &state_dir, &["resume", run_id, "--json"], None);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let report: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["sweep"]["verdict"], "c4", "{report:#}");
    assert_eq!(report["serving"], "deployment");
    assert_eq!(report["deployment"], "kept");
    assert_eq!(report["throughput"], "none");

    // Nothing was created twice: four jobs, one deployment per trained candidate, never more than two at once.
    let emulator = stack.bedrock.state();
    assert_eq!(emulator.jobs.len(), 4);
    assert_eq!(emulator.call_count("CreateModelCustomizationJob"), 4);
    assert!(emulator.provisioned_throughputs.is_empty());
    let mut names: Vec<&str> = emulator
        .custom_model_deployments
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bertscore-kill-sweep-1-c2-od",
            "bertscore-kill-sweep-1-c3-od",
            "bertscore-kill-sweep-1-c4-od"
        ]
    );
    assert_eq!(
        killed_at.custom_model_deployments[1].arn,
        emulator.custom_model_deployments[1].arn
    );
    assert!(emulator.max_concurrent_servings() <= 2);
    let live: Vec<&str> = emulator
        .live_deployments()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(live, ["bertscore-kill-sweep-1-c4-od"]);
    assert_eq!(
        report["deployment_arn"],
        emulator.live_deployments()[0].arn.as_str()
    );
    // The base model answered every prompt once, on demand; c3 was evaluated once its deployment became Active:
    // its prompts ran once, after the resume.
    assert_eq!(
        emulator.invocations.get("amazon.nova-micro-v1:0"),
        Some(&11)
    );
    let c3 = &emulator.custom_model_deployments[1].arn;
    assert_eq!(emulator.invocations.get(c3), Some(&11));
    let emails = tokio::task::block_in_place(|| stack.moto.sent_emails().unwrap());
    assert_eq!(emails.len(), 1, "{emails:?}");
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("sweep verdict: c4"), "{subject}");
    assert!(subject.contains("on-demand deployment kept"), "{subject}");
}

/// `datasets/pipeline/nova.toml` on the seed data (11 prompts, all on demand), fast polling and a quick scoring
/// setup: the custom model is served by an on-demand deployment (`serving.mode = "auto"` for Nova).
fn nova_on_demand_config(dir: &Path) -> PathBuf {
    example_config(dir, "nova.toml", "nova-on-demand.toml", |config| {
        set(config, "inference", "mode", "on-demand");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_deployment_creation_then_resumed_creates_one_deployment() {
    // The deployment takes 3 s to become Active: the window in which the process is killed.
    let mut emulator = emulator_config(Duration::from_secs(1));
    emulator.deployment_duration = Duration::from_secs(3);
    let stack = common::start_stack(emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let config = nova_on_demand_config(dir.path());
    let state_dir = dir.path().join("runs");
    let run_id = "kill-deploy-1";

    let killed_at =
        run_then_kill_when(&stack, &state_dir, run_id, &config, "deployment", |state| {
            !state.custom_model_deployments.is_empty()
        })
        .await;
    assert_eq!(killed_at.custom_model_deployments.len(), 1);
    assert_eq!(killed_at.custom_model_deployments[0].status, "Creating");

    let status = |args: &[&str]| {
        let output = pipeline()
            .args(["--state-dir"])
            .arg(&state_dir)
            .arg("status")
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    let shown = status(&[run_id]);
    assert!(shown.contains("interrupted"), "{shown}");
    assert!(shown.contains("create-deployment"), "{shown}");
    assert!(!shown.contains("create-throughput"), "{shown}");

    let resumed = common::at(&stack, &state_dir, &["resume", run_id, "--json"], None);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let report: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["outcome"]["verdict"], "custom");
    assert_eq!(report["serving"], "deployment");
    assert_eq!(report["deployment"], "kept");
    assert_eq!(report["throughput"], "none");

    // One deployment: the one the killed process requested, now Active and serving the evaluation.
    let emulator = stack.bedrock.state();
    assert_eq!(
        emulator.custom_model_deployments.len(),
        1,
        "{:?}",
        emulator.custom_model_deployments
    );
    let deployment = &emulator.custom_model_deployments[0];
    assert_eq!(deployment.arn, killed_at.custom_model_deployments[0].arn);
    assert_eq!(
        (deployment.status.as_str(), deployment.deleted),
        ("Active", false)
    );
    assert_eq!(
        deployment.client_request_token.as_deref(),
        Some("kill-deploy-1-od")
    );
    assert_eq!(report["deployment_arn"], deployment.arn.as_str());
    // The create call went out again only if the kill came before its journal entry; its client token made
    // that harmless.
    assert!(
        emulator.call_count("CreateCustomModelDeployment") <= 2,
        "{:?}",
        emulator.calls
    );
    assert_eq!(emulator.invocations.get(&deployment.arn), Some(&11));
    assert!(emulator.provisioned_throughputs.is_empty());
    assert_eq!(emulator.jobs.len(), 1);
    assert_eq!(emulator.max_concurrent_servings(), 1);

    // `status` names the kept deployment; on the emulator nothing is billed.
    let shown = status(&[run_id]);
    assert!(
        shown.contains(&format!("deployment {} [Active]", deployment.arn)),
        "{shown}"
    );
    assert!(
        shown.contains("an emulator, not AWS: nothing is billed"),
        "{shown}"
    );
    let emails = tokio::task::block_in_place(|| stack.moto.sent_emails().unwrap());
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert!(
        emails[0]["subject"]
            .as_str()
            .unwrap()
            .contains("on-demand deployment kept"),
        "{emails:?}"
    );

    // `cleanup` deletes it once.
    let cleanup = |expected: &str| {
        let output = common::at(&stack, &state_dir, &["cleanup", run_id], None);
        assert!(output.status.success(), "{}", text(&output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(stdout.trim(), expected, "{}", text(&output));
    };
    cleanup(&format!(
        "deleted custom model deployment {}",
        deployment.arn
    ));
    cleanup("nothing billed was left to delete");
    let emulator = stack.bedrock.state();
    assert!(emulator.live_deployments().is_empty());
    assert_eq!(emulator.call_count("DeleteCustomModelDeployment"), 1);
    let shown = status(&[run_id]);
    assert!(
        shown.contains(&format!("deployment {} (deleted)", deployment.arn)),
        "{shown}"
    );
}
