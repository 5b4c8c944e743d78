//! Hyper-parameter sweeps end to end: the real AWS SDK against moto (S3, SESv2) and the Bedrock emulator, whose
//! candidate rules make each candidate's quality follow from its hyper-parameters (one fails to train), scored
//! with the real default model. The winner is known in advance; the emulator's serving history says how many
//! servings were billed at once. The sweep is `datasets/pipeline/sweep.toml`'s: Amazon Nova Micro, its candidates
//! served by on-demand deployments; the provisioned-throughput path (every other family) runs on the same sweep
//! with `[serving] mode = "provisioned"`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bedrock_emulator::{CandidateRule, EmulatorConfig, Faults, Quality};
use bertscore_pipeline::journal::JournalEntry;
use bertscore_pipeline::{
    Disposition, ErrorKind, Pipeline, PipelineConfig, RunStatus, ServingKind, Step, StepStatus,
};
use common::{Harness, RECIPIENT, SENDER, journal, parse_config, seed_data_table};
use serde_json::{Value, json};

/// The grid below expands, keys in alphabetical order, to
/// c1 = (epochCount 1, learningRate 0.00001): fails to train;
/// c2 = (1, 0.00005): answers half the prompts well;
/// c3 = (2, 0.00001): a quarter;
/// c4 = (2, 0.00005): every prompt: the winner.
fn candidate_rules() -> Vec<CandidateRule> {
    serde_json::from_value(json!([
        { "when": { "epochCount": "1", "learningRate": "0.00001" }, "fail": true },
        { "when": { "epochCount": "1", "learningRate": "0.00005" }, "good_fraction": 0.5 },
        { "when": { "epochCount": "2", "learningRate": "0.00001" }, "good_fraction": 0.25 },
        { "when": { "epochCount": "2", "learningRate": "0.00005" }, "good_fraction": 1.0 },
    ]))
    .unwrap()
}

fn emulator_config() -> EmulatorConfig {
    common::emulator_config(Quality::Better, Faults::default(), |config| {
        config.job_duration = Duration::from_millis(400);
        config.deployment_duration = Duration::from_millis(300);
        config.candidate_rules = candidate_rules();
    })
}

const SWEEP: &str = r#"
    [sweep]
    learningRate = ["0.00001", "0.00005"]
    epochCount = ["1", "2"]
    max_concurrent_jobs = 2
"#;

/// Amazon Nova Micro with `datasets/pipeline/sweep.toml`'s hyper-parameters and grid on the seed data (11 prompts,
/// on demand); `[serving] mode` is left at "auto": on-demand deployments.
fn config_text() -> String {
    format!(
        r#"
        {data}
        [s3]
        bucket = "pipeline-test"
        prefix = "runs"
        [customization]
        base_model_id = "amazon.nova-micro-v1:0:128k"
        role_arn = "arn:aws:iam::123456789012:role/BedrockCustomization"
        hyper_parameters = {{ epochCount = "2", learningRate = "0.00001", learningRateWarmupSteps = "10" }}
        system_prompt = "Summarize the dialogue."
        delete_custom_model_if_not_better = true
        [polling]
        initial_s = 0.05
        max_s = 0.2
        job_timeout_s = 60
        throughput_timeout_s = 60
        deployment_timeout_s = 60
        [inference]
        concurrency = 4
        max_attempts = 12
        retry_base_s = 0.01
        retry_max_s = 0.2
        [scoring]
        model = "sentence-transformers/all-MiniLM-L6-v2"
        bootstrap = 2000
        permutations = 2000
        [notify]
        from = "{SENDER}"
        to = ["{RECIPIENT}"]
        {SWEEP}
        "#,
        data = seed_data_table(),
    )
}

fn sweep_config() -> PipelineConfig {
    parse_config(&config_text(), "sweep.toml")
}

/// The same sweep served by provisioned throughput (`[serving] mode = "provisioned"`, which the catalog allows for
/// Nova Micro custom models): one no-commitment model unit per serving, two in the account's default quota.
fn provisioned_sweep_config() -> PipelineConfig {
    let config = parse_config(
        &format!("{}\n[serving]\nmode = \"provisioned\"\n", config_text()),
        "sweep-provisioned.toml",
    );
    assert_eq!(config.serving_kind(), ServingKind::Throughput);
    config
}

impl Harness {
    async fn start() -> Harness {
        Harness::with_emulator(emulator_config()).await
    }
}

/// The most customization jobs running at once, replaying the journal's job events.
fn most_jobs_running(entries: &[JournalEntry]) -> usize {
    let (mut running, mut most) = (0usize, 0usize);
    for entry in entries {
        match entry.event.as_str() {
            "candidate-job-created" => {
                running += 1;
                most = most.max(running);
            }
            "candidate-job-ended" => running -= 1,
            _ => {}
        }
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_keeps_the_best_candidate_and_never_bills_more_than_two_servings() {
    let harness = Harness::start().await;
    let mut pipeline = harness.pipeline(sweep_config());
    let run_id = pipeline.run_id().to_string();
    let report = pipeline.execute().await.unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);

    // The N-way verdict names the candidate trained with every prompt answered well.
    let sweep = report.sweep.clone().unwrap();
    assert_eq!(sweep.verdict, "c4", "{}", sweep.table());
    let order: Vec<&str> = sweep.ranking.iter().map(|row| row.id.as_str()).collect();
    assert_eq!(order, ["c4", "c2", "c3", "c1"], "{}", sweep.table());
    let ranks: Vec<Option<usize>> = sweep.ranking.iter().map(|row| row.rank).collect();
    assert_eq!(ranks, [Some(1), Some(2), Some(3), None]);
    let winner = &sweep.ranking[0];
    assert_eq!(
        winner.overrides,
        BTreeMap::from([
            ("epochCount".to_string(), "2".to_string()),
            ("learningRate".to_string(), "0.00005".to_string())
        ])
    );
    assert!(winner.p_adjusted.unwrap() < 0.05, "{}", sweep.table());
    // Holm: the smallest of three p-values is tripled.
    assert!(winner.p_adjusted.unwrap() >= winner.p_value.unwrap() * 3.0 - 1e-12);
    let f1: Vec<f64> = sweep.ranking[..3].iter().map(|r| r.f1.unwrap()).collect();
    assert!(
        f1[0] > f1[1] && f1[1] > f1[2] && f1[2] >= sweep.base_f1,
        "{f1:?}"
    );
    assert!(
        sweep.ranking[3].disposition.contains("job Failed"),
        "{}",
        sweep.table()
    );
    assert_eq!(sweep.items, 11);
    let outcome = report.outcome.clone().unwrap();
    assert_eq!(outcome.verdict, bertscore_compare::Verdict::Custom);
    assert_eq!(report.serving, ServingKind::Deployment);
    assert_eq!(report.deployment, Disposition::Kept);
    assert_eq!(report.throughput, Disposition::None);

    let emulator = harness.emulator();
    // One job per candidate, each with its own names and token; c1's failed, the sweep went on.
    assert_eq!(emulator.jobs.len(), 4);
    for (index, job) in emulator.jobs.iter().enumerate() {
        let id = format!("c{}", index + 1);
        let c = pipeline
            .state()
            .sweep
            .as_ref()
            .unwrap()
            .candidate(&id)
            .unwrap()
            .clone();
        assert_eq!(job.job_name, c.job_name);
        assert_eq!(job.job_name, format!("bertscore-{run_id}-{id}"));
        assert_eq!(
            job.client_request_token.as_deref(),
            Some(format!("{run_id}-{id}-job").as_str())
        );
        assert_eq!(job.status, if id == "c1" { "Failed" } else { "Completed" });
    }
    assert_eq!(emulator.call_count("CreateModelCustomizationJob"), 4);

    // c2, c3 and c4 were deployed in turn; only the winner's deployment is left, and at most two existed at once.
    assert_eq!(emulator.custom_model_deployments.len(), 3);
    assert!(emulator.provisioned_throughputs.is_empty());
    let live: Vec<&str> = emulator
        .live_deployments()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(live, [format!("bertscore-{run_id}-c4-od")]);
    assert_eq!(
        report.deployment_arn,
        emulator.live_deployments().first().map(|d| d.arn.clone())
    );
    assert_eq!(report.throughput_arn, None);
    assert_eq!(emulator.max_concurrent_servings(), 2);
    assert!(
        emulator
            .serving_history
            .iter()
            .all(|event| event.kind == bedrock_emulator::ServingKind::Deployment)
    );
    assert!(most_jobs_running(&journal(&pipeline)) <= 2);
    // The losers' custom models are deleted (delete_custom_model_if_not_better), the winner's kept.
    let mut deleted: Vec<(String, bool)> = emulator
        .custom_models
        .iter()
        .map(|m| (m.model_name.clone(), m.deleted))
        .collect();
    deleted.sort();
    let expected: Vec<(String, bool)> = [("c2", true), ("c3", true), ("c4", false)]
        .iter()
        .map(|(id, gone)| (format!("bertscore-{run_id}-{id}"), *gone))
        .collect();
    assert_eq!(deleted, expected);
    // Each model answered every prompt once: the base once for all candidates, each candidate through its
    // deployment's ARN.
    assert_eq!(
        emulator.invocations.get("amazon.nova-micro-v1:0"),
        Some(&11)
    );
    for deployment in &emulator.custom_model_deployments {
        assert_eq!(emulator.invocations.get(&deployment.arn), Some(&11));
    }

    // One email, with the ranking.
    let emails = harness.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("sweep verdict: c4"), "{subject}");
    assert!(subject.contains("on-demand deployment kept"), "{subject}");
    let body = emails[0]["body"].as_str().unwrap();
    assert!(body.contains("Sweep ranking: 4 candidates"), "{body}");
    assert!(
        body.contains("4 candidates; winner c4 (epochCount=2, learningRate=0.00005)"),
        "{body}"
    );
    // The winner against the runner-up: paired, on the same items; c4 answers well every prompt c2 does.
    let head = sweep.best_vs_runner_up.clone().unwrap();
    assert_eq!((head.best.as_str(), head.runner_up.as_str()), ("c4", "c2"));
    assert!(head.delta_f1 > 0.0 && head.losses == 0, "{head:?}");
    assert!(body.contains("c4 vs runner-up c2: delta F1 +"), "{body}");
    for row in &sweep.ranking {
        let line = body
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(row.id.as_str()))
            .unwrap_or_else(|| panic!("no ranking line for {} in {body}", row.id));
        if let Some(f1) = row.f1 {
            assert!(line.contains(&format!("{f1:.4}")), "{line}");
        }
    }

    // Every sweep step ran once; the single run's steps did not run.
    let state = pipeline.state();
    for step in Step::SWEEP {
        assert_eq!(
            state.step_status(step),
            Some(StepStatus::Finished),
            "{step:?}"
        );
    }
    assert_eq!(state.step_status(Step::CreateJob), None);
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(pipeline.run_dir().join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stored["sweep"]["verdict"], "c4");
    assert!(pipeline.run_dir().join("sweep-comparison.json").is_file());

    // `cleanup` deletes the kept serving and, when asked, the winner's model; a second one finds nothing.
    let actions = pipeline.cleanup(true).await.unwrap();
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("c4: deleted serving arn:")),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("c4: deleted custom model arn:")),
        "{actions:?}"
    );
    let emulator = harness.emulator();
    assert!(emulator.live_deployments().is_empty());
    assert!(emulator.custom_models.iter().all(|m| m.deleted));
    let again = pipeline.cleanup(true).await.unwrap();
    assert_eq!(again, ["nothing billed was left to delete"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_over_the_bound_is_refused_before_any_aws_call() {
    let harness = Harness::start().await;
    let text = config_text().replace(
        "max_concurrent_jobs = 2",
        "max_concurrent_jobs = 2\nmax_candidates = 3",
    );
    let config = PipelineConfig::from_toml_str(&text, Path::new("sweep.toml")).unwrap();
    let error = config.validate(Path::new("sweep.toml")).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadInput);
    assert!(
        error
            .to_string()
            .contains("gives 4 candidates, more than sweep.max_candidates = 3"),
        "{error}"
    );
    // The run's own validation refuses it as well, before the first call.
    let error = Pipeline::create(config, harness.clients.clone(), harness.dir.path(), None)
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::BadInput, "{error}");
    assert!(harness.emulator().calls.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_lists_every_call_of_a_sweep() {
    // Nova Micro's default: on-demand deployments; then the same sweep on provisioned throughput.
    for (config, create, delete, suffix, resource) in [
        (
            sweep_config(),
            "CreateCustomModelDeployment",
            "DeleteCustomModelDeployment",
            "od",
            "custom-model-deployment",
        ),
        (
            provisioned_sweep_config(),
            "CreateProvisionedModelThroughput",
            "DeleteProvisionedModelThroughput",
            "pt",
            "provisioned-model",
        ),
    ] {
        plan_lists_every_call(&config, create, delete, suffix, resource).await;
    }
}

/// The plan of the 2 x 2 sweep `config` (the sweep's own steps, run against the dry run: what they send is what
/// a run sends), its candidates served with `create` (names and tokens ending in `-{suffix}`, ARNs of
/// `resource`) and deleted with `delete`.
async fn plan_lists_every_call(
    config: &PipelineConfig,
    create: &str,
    delete: &str,
    suffix: &str,
    resource: &str,
) {
    let calls = bertscore_pipeline::plan(config, "r1").await.unwrap();
    let of = |operation: &str| -> Vec<&bertscore_pipeline::PlannedCall> {
        calls.iter().filter(|c| c.operation == operation).collect()
    };
    let jobs = of("CreateModelCustomizationJob");
    assert_eq!(jobs.len(), 4);
    for (index, (job, (epochs, rate))) in jobs
        .iter()
        .zip([
            ("1", "0.00001"),
            ("1", "0.00005"),
            ("2", "0.00001"),
            ("2", "0.00005"),
        ])
        .enumerate()
    {
        let id = format!("c{}", index + 1);
        assert_eq!(job.step, "train-candidates");
        // The grid's values over [customization] hyper_parameters (learningRateWarmupSteps shared).
        assert!(
            job.detail.contains(&format!("jobName=bertscore-r1-{id} "))
                && job
                    .detail
                    .contains(&format!("clientRequestToken=r1-{id}-job"))
                && job
                    .detail
                    .contains("baseModelIdentifier=amazon.nova-micro-v1:0:128k ")
                && job.detail.contains(&format!(
                    "hyperParameters={{epochCount={epochs}, learningRate={rate}, learningRateWarmupSteps=10}}"
                )),
            "{job}"
        );
    }
    // Two jobs at once: the third is created only after a status check.
    let position = |operation: &str, nth: usize| {
        calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.operation == operation)
            .nth(nth)
            .map(|(i, _)| i)
            .unwrap()
    };
    assert!(position("GetModelCustomizationJob", 0) < position("CreateModelCustomizationJob", 2));
    let servings = of(create);
    assert_eq!(servings.len(), 4);
    for (index, serving) in servings.iter().enumerate() {
        let id = format!("c{}", index + 1);
        assert!(
            serving
                .detail
                .contains(&format!("Name=bertscore-r1-{id}-{suffix} "))
                && serving
                    .detail
                    .contains(&format!("clientRequestToken=r1-{id}-{suffix} "))
                && serving
                    .detail
                    .contains(&format!("custom-model/<bertscore-r1-{id}>")),
            "{serving}"
        );
    }
    // Only the config's kind of serving is created.
    for other in [
        "CreateCustomModelDeployment",
        "CreateProvisionedModelThroughput",
    ] {
        if other != create {
            assert!(of(other).is_empty(), "{other}");
        }
    }
    // At most two servings alive at any time, and none left at the end (the dry run's models tie, so no
    // candidate wins and every serving is deleted; the custom models too, as the config asks).
    let mut alive = 0i32;
    for call in &calls {
        if call.operation == create {
            alive += 1;
        } else if call.operation == delete {
            alive -= 1;
        }
        assert!((0..=2).contains(&alive), "{alive} servings at {call}");
    }
    assert_eq!(alive, 0);
    assert_eq!(of("DeleteCustomModel").len(), 4);
    // The base model runs once, on its inference id; each candidate on its own serving, 11 prompts each.
    let invocations = of("InvokeModel");
    assert_eq!(invocations.len(), 5, "{invocations:?}");
    assert!(invocations.iter().all(|c| c.count == 11), "{invocations:?}");
    assert_eq!(invocations[0].step, "base-inference");
    assert!(
        invocations[0]
            .detail
            .starts_with("modelId=amazon.nova-micro-v1:0 (adapter nova)"),
        "{}",
        invocations[0]
    );
    for (index, call) in invocations[1..].iter().enumerate() {
        assert_eq!(call.step, "evaluate-candidates");
        assert!(
            call.detail.contains(&format!(
                "{resource}/<bertscore-r1-c{}-{suffix}>",
                index + 1
            )),
            "{call}"
        );
    }
    // The ranking before the email, the report last; the single run's own job is never created.
    let sweep_comparison = calls
        .iter()
        .position(|c| c.detail.contains("sweep-comparison.json"))
        .unwrap();
    assert!(sweep_comparison < position("SendEmail", 0));
    assert!(calls.last().unwrap().detail.contains("report.json"));
    assert!(
        !calls
            .iter()
            .any(|c| c.detail.contains("jobName=bertscore-r1 "))
    );
}

/// Nova Micro (served by on-demand deployments) with a list of three candidates instead of the grid:
/// learningRate 0.00001, 0.0001 and 0.00005, three jobs at once.
fn nova_sweep_config() -> PipelineConfig {
    let text = config_text().replace(SWEEP, "")
        + r#"
        [sweep]
        max_concurrent_jobs = 3
        [[sweep.candidates]]
        learningRate = "0.00001"
        [[sweep.candidates]]
        learningRate = "0.0001"
        [[sweep.candidates]]
        learningRate = "0.00005"
        "#;
    parse_config(&text, "nova-sweep.toml")
}

/// A list sweep on Nova Micro, whose custom models are served by on-demand deployments (`[serving] mode =
/// "auto"`): one candidate fails to train, the other two are deployed one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nova_sweep_evaluates_its_candidates_through_on_demand_deployments() {
    let harness = Harness::start().await;
    let mut emulator = emulator_config();
    emulator.deployment_duration = Duration::from_millis(300);
    emulator.candidate_rules = serde_json::from_value(json!([
        { "when": { "learningRate": "0.0001" }, "fail": true },
        { "when": { "learningRate": "0.00001" }, "good_fraction": 0.5 },
        { "when": { "learningRate": "0.00005" }, "good_fraction": 1.0 },
    ]))
    .unwrap();
    harness.stack.bedrock.set_config(emulator);
    let config = nova_sweep_config();
    let mut pipeline = harness.pipeline(config);
    let run_id = pipeline.run_id().to_string();
    let report = pipeline.execute().await.unwrap();

    let sweep = report.sweep.clone().unwrap();
    assert_eq!(sweep.verdict, "c3", "{}", sweep.table());
    let order: Vec<&str> = sweep.ranking.iter().map(|row| row.id.as_str()).collect();
    assert_eq!(order, ["c3", "c1", "c2"], "{}", sweep.table());
    assert_eq!(report.deployment, Disposition::Kept);

    let emulator = harness.emulator();
    assert_eq!(emulator.jobs.len(), 3);
    assert!(emulator.provisioned_throughputs.is_empty());
    let deployments: Vec<(&str, bool)> = emulator
        .custom_model_deployments
        .iter()
        .map(|d| (d.name.as_str(), d.deleted))
        .collect();
    assert_eq!(
        deployments,
        [
            (format!("bertscore-{run_id}-c1-od").as_str(), true),
            (format!("bertscore-{run_id}-c3-od").as_str(), false)
        ]
    );
    assert!(emulator.max_concurrent_servings() <= 2);
    assert!(
        emulator
            .serving_history
            .iter()
            .all(|event| event.kind == bedrock_emulator::ServingKind::Deployment)
    );
    let emails = harness.emails();
    assert_eq!(emails.len(), 1);
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("sweep verdict: c3"), "{subject}");
    assert!(subject.contains("on-demand deployment kept"), "{subject}");
}

/// Every candidate's deployment ends Failed: each failure is recorded, each failed deployment deleted, and the
/// sweep fails (nothing to rank) with one email saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_servings_are_recorded_and_deleted() {
    let harness = Harness::start().await;
    let mut emulator = emulator_config();
    emulator.deployment_duration = Duration::from_millis(200);
    emulator.faults.deployment_fails = true;
    harness.stack.bedrock.set_config(emulator);
    let mut pipeline = harness.pipeline(nova_sweep_config());
    let error = pipeline.execute().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Runtime);
    assert!(
        error
            .to_string()
            .contains("no candidate of the sweep could be evaluated"),
        "{error}"
    );
    let state = pipeline.state();
    assert_eq!(
        state.step_status(Step::EvaluateCandidates),
        Some(StepStatus::Failed)
    );
    let sweep = state.sweep.as_ref().unwrap();
    for c in &sweep.candidates {
        assert!(c.score.is_none());
        let failure = c.evaluation_failure.as_deref().unwrap_or_default();
        assert!(
            failure.contains("on-demand deployment"),
            "{}: {failure}",
            c.id
        );
        assert!(c.serving.deleted, "{}", c.id);
    }
    let emulator = harness.emulator();
    assert_eq!(emulator.custom_model_deployments.len(), 3);
    assert!(emulator.custom_model_deployments.iter().all(|d| d.deleted));
    assert!(emulator.max_concurrent_servings() <= 1);
    let emails = harness.emails();
    assert_eq!(emails.len(), 1);
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(
        subject.contains("FAILED at evaluate-candidates"),
        "{subject}"
    );
}

/// A failure after the best candidate was evaluated deletes its serving with the rest; the resumed sweep
/// evaluates the others, and the winner is served again (a new generation, a new token) and kept. On provisioned
/// throughput (`[serving] mode = "provisioned"`): the serving every family but Nova gets, whose no-commitment
/// quota (two model units) a third live throughput would exceed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_winner_deleted_by_a_failure_is_served_again_on_resume() {
    let harness = Harness::start().await;
    // c2 answers every prompt well: the winner, evaluated first.
    let mut rules = emulator_config();
    rules.candidate_rules = serde_json::from_value(json!([
        { "when": { "epochCount": "1", "learningRate": "0.00001" }, "fail": true },
        { "when": { "epochCount": "1", "learningRate": "0.00005" }, "good_fraction": 1.0 },
        { "when": { "epochCount": "2", "learningRate": "0.00001" }, "good_fraction": 0.25 },
        { "when": { "epochCount": "2", "learningRate": "0.00005" }, "good_fraction": 0.5 },
    ]))
    .unwrap();
    harness.stack.bedrock.set_config(rules.clone());
    let mut pipeline = harness.pipeline(provisioned_sweep_config());
    let run_id = pipeline.run_id().to_string();
    // Once c2 has answered every prompt, the next serving cannot be created (a quota, say).
    let fault = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let state = harness.emulator();
            if let Some(pt) = state.provisioned_throughputs.first()
                && state.invocations.get(&pt.provisioned_model_arn) == Some(&11)
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "c2 was never evaluated"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut faulty = rules.clone();
        faulty.faults.fail_pt_create = true;
        harness.stack.bedrock.set_config(faulty);
    };
    let (result, ()) = tokio::join!(pipeline.execute(), fault);
    let error = result.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("CreateProvisionedModelThroughput"),
        "{error}"
    );
    let c2 = pipeline
        .state()
        .sweep
        .as_ref()
        .unwrap()
        .candidate("c2")
        .unwrap()
        .clone();
    assert!(c2.score.is_some() && c2.serving.deleted, "{c2:?}");
    assert!(harness.emulator().live_throughputs().is_empty());
    drop(pipeline);

    harness.stack.bedrock.set_config(rules);
    let mut resumed = Pipeline::open(harness.dir.path(), &run_id, harness.clients.clone()).unwrap();
    let report = resumed.execute().await.unwrap();
    let sweep = report.sweep.clone().unwrap();
    assert_eq!(sweep.verdict, "c2", "{}", sweep.table());
    assert_eq!(report.throughput, Disposition::Kept);
    let emulator = harness.emulator();
    let live: Vec<(&str, Option<&str>)> = emulator
        .live_throughputs()
        .iter()
        .map(|pt| {
            (
                pt.provisioned_model_name.as_str(),
                pt.client_request_token.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        live,
        [(
            format!("bertscore-{run_id}-c2-pt").as_str(),
            Some(format!("{run_id}-c2-pt1").as_str())
        )]
    );
    // c2 twice (deleted by the failure, then again), c3 and c4 once each; never more than two at once.
    assert_eq!(emulator.provisioned_throughputs.len(), 4);
    assert!(emulator.custom_model_deployments.is_empty());
    assert!(emulator.max_concurrent_servings() <= 2);
    assert_eq!(
        report.throughput_arn,
        emulator
            .live_throughputs()
            .first()
            .map(|pt| pt.provisioned_model_arn.clone())
    );
}
