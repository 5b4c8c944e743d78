//! Serving the custom model, end to end: an on-demand custom model deployment for Amazon Nova (no provisioned
//! throughput), the custom model invoked through the deployment's ARN, the deployment kept or deleted by the
//! verdict, deleted once by `cleanup`, deleted after a failure and created again (a new generation) on resume;
//! `serving.mode` choosing provisioned throughput instead, and refusing on-demand for a family without it before
//! any AWS call. The real AWS SDK against moto (S3, SESv2) and the Bedrock emulator, scoring with the real
//! default model; each test starts its own local stack.

mod common;

use std::time::Duration;

use bedrock_emulator::{EmulatorConfig, Faults, Quality};
use bertscore_pipeline::journal::JournalEntry;
use bertscore_pipeline::{
    Disposition, ErrorKind, Pipeline, PipelineConfig, PipelineError, RunStatus, ServingKind,
    ServingMode, ServingRecord, Step, StepStatus, serving,
};
use common::{Harness, SENDER, journal, parse_config, seed_data_table};

const NOVA: &str = "amazon.nova-lite-v1:0:300k";

fn emulator_config(quality: Quality, faults: Faults) -> EmulatorConfig {
    common::emulator_config(quality, faults, |config| {
        config.deployment_duration = Duration::from_millis(400);
    })
}

impl Harness {
    async fn start(quality: Quality, faults: Faults) -> Harness {
        Harness::with_emulator(emulator_config(quality, faults)).await
    }

    /// A run of `base_model` on the seed data (prompt/completion; converted for Nova), every prompt on demand;
    /// `extra` is appended (e.g. a `[serving]` table).
    fn config(&self, base_model: &str, extra: &str) -> PipelineConfig {
        let text = format!(
            r#"
            {data}
            [s3]
            bucket = "pipeline-test"
            prefix = "runs"
            [customization]
            base_model_id = "{base_model}"
            role_arn = "arn:aws:iam::123456789012:role/BedrockCustomization"
            hyper_parameters = {{ epochCount = "1", learningRate = "0.00001" }}
            [polling]
            initial_s = 0.05
            max_s = 0.2
            job_timeout_s = 60
            throughput_timeout_s = 60
            deployment_timeout_s = 60
            [inference]
            mode = "on-demand"
            concurrency = 4
            max_attempts = 4
            retry_base_s = 0.01
            retry_max_s = 0.1
            [scoring]
            model = "sentence-transformers/all-MiniLM-L6-v2"
            bootstrap = 1000
            permutations = 1000
            [notify]
            from = "{SENDER}"
            to = ["ml-team@example.com"]
            {extra}
            "#,
            data = seed_data_table(),
        );
        parse_config(&text, "test.toml")
    }
}

/// The index of the first journal entry with `event` (and `step`, when given).
fn position(entries: &[JournalEntry], step: Option<Step>, event: &str) -> usize {
    entries
        .iter()
        .position(|e| e.event == event && (step.is_none() || e.step == step))
        .unwrap_or_else(|| panic!("no {event} ({step:?}) in the journal"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nova_is_served_on_demand_kept_when_better_and_cleaned_up_once() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let mut pipeline = harness.pipeline(harness.config(NOVA, ""));
    let run_id = pipeline.run_id().to_string();
    let report = pipeline.execute().await.unwrap();

    let outcome = report.outcome.clone().unwrap();
    assert_eq!(outcome.verdict, bertscore_compare::Verdict::Custom);
    assert_eq!((outcome.items, outcome.scored), (11, 11));
    assert_eq!(report.serving, ServingKind::Deployment);
    assert_eq!(report.deployment, Disposition::Kept);
    assert_eq!(report.throughput, Disposition::None);
    assert_eq!(report.throughput_arn, None);

    // One deployment of the job's custom model, under the run's name and token; no provisioned throughput.
    let emulator = harness.emulator();
    assert_eq!(emulator.jobs.len(), 1);
    let model_arn = emulator.jobs[0].output_model_arn.clone().unwrap();
    assert_eq!(emulator.custom_model_deployments.len(), 1);
    let deployment = &emulator.custom_model_deployments[0];
    assert_eq!(
        (deployment.status.as_str(), deployment.deleted),
        ("Active", false)
    );
    assert_eq!(deployment.model_arn, model_arn);
    assert_eq!(deployment.name, format!("bertscore-{run_id}-od"));
    assert_eq!(
        deployment.client_request_token.as_deref(),
        Some(format!("{run_id}-od").as_str())
    );
    assert_eq!(report.deployment_arn.as_ref(), Some(&deployment.arn));
    assert!(emulator.provisioned_throughputs.is_empty());
    assert_eq!(emulator.call_count("CreateProvisionedModelThroughput"), 0);
    assert_eq!(emulator.call_count("CreateCustomModelDeployment"), 1);
    assert_eq!(emulator.call_count("DeleteCustomModelDeployment"), 0);
    // The custom model answered every prompt through the deployment's ARN, the base model under its own id.
    assert_eq!(emulator.invocations.get(&deployment.arn), Some(&11));
    assert_eq!(emulator.invocations.get(&model_arn), None);
    assert_eq!(emulator.invocations.get("amazon.nova-lite-v1:0"), Some(&11));

    // The run's steps are the on-demand ones, each journaled; the name was recorded before the create call.
    let state = pipeline.state();
    assert_eq!(state.steps(), &Step::ON_DEMAND[..]);
    for &step in &Step::ON_DEMAND {
        assert_eq!(
            state.step_status(step),
            Some(StepStatus::Finished),
            "{step:?}"
        );
    }
    assert_eq!(state.step_status(Step::CreateThroughput), None);
    let serving = &state.resources.serving;
    assert_eq!(serving.kind, ServingKind::Deployment);
    assert_eq!(serving.arn.as_ref(), Some(&deployment.arn));
    assert_eq!(serving.status.as_deref(), Some("Active"));
    let entries = journal(&pipeline);
    let requested = position(
        &entries,
        Some(Step::CreateDeployment),
        "billed-resource-requested",
    );
    assert!(requested < position(&entries, Some(Step::CreateDeployment), "finished"));
    assert_eq!(
        entries[requested].detail["client_request_token"],
        format!("{run_id}-od")
    );

    // The email names the kept deployment and how it bills.
    let emails = harness.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("verdict: custom"), "{subject}");
    assert!(subject.contains("on-demand deployment kept"), "{subject}");
    let body = emails[0]["body"].as_str().unwrap();
    assert!(body.contains("On-demand deployment"), "{body}");
    assert!(
        body.contains(&format!(
            "{} kept (billed per token used, nothing while idle)",
            deployment.arn
        )),
        "{body}"
    );
    assert!(!body.contains("Provisioned throughput"), "{body}");

    // `cleanup` deletes the kept deployment once; a second cleanup finds nothing.
    let actions = pipeline.cleanup(false).await.unwrap();
    assert_eq!(
        actions,
        vec![format!(
            "deleted custom model deployment {}",
            deployment.arn
        )]
    );
    let again = pipeline.cleanup(false).await.unwrap();
    assert_eq!(again, vec!["nothing billed was left to delete".to_string()]);
    let emulator = harness.emulator();
    assert!(emulator.custom_model_deployments[0].deleted);
    assert!(emulator.live_deployments().is_empty());
    assert_eq!(emulator.call_count("DeleteCustomModelDeployment"), 1);
    assert!(pipeline.state().resources.serving.deleted);
    assert!(!pipeline.state().serving_live());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_nova_model_has_its_deployment_deleted() {
    let harness = Harness::start(Quality::Worse, Faults::default()).await;
    let mut pipeline = harness.pipeline(harness.config(NOVA, ""));
    let report = pipeline.execute().await.unwrap();

    let outcome = report.outcome.clone().unwrap();
    assert_eq!(outcome.verdict, bertscore_compare::Verdict::Base);
    assert_eq!(report.deployment, Disposition::Deleted);
    assert_eq!(report.throughput, Disposition::None);

    let emulator = harness.emulator();
    assert_eq!(emulator.custom_model_deployments.len(), 1);
    let deployment = &emulator.custom_model_deployments[0];
    assert!(deployment.deleted);
    assert_eq!(emulator.invocations.get(&deployment.arn), Some(&11));
    assert!(emulator.provisioned_throughputs.is_empty());
    assert_eq!(emulator.call_count("DeleteCustomModelDeployment"), 1);
    // One serving existed, at most one at a time, and it is gone.
    assert_eq!(emulator.max_concurrent_servings(), 1);
    assert_eq!(emulator.serving_history.len(), 2);
    assert!(emulator.live_deployments().is_empty());

    let emails = harness.emails();
    assert_eq!(emails.len(), 1);
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("verdict: base"), "{subject}");
    assert!(
        subject.contains("on-demand deployment deleted"),
        "{subject}"
    );
    let decide = journal(&pipeline)
        .into_iter()
        .find(|e| e.step == Some(Step::Decide) && e.event == "finished")
        .unwrap();
    assert_eq!(
        decide.detail["actions"],
        serde_json::json!(["deployment deleted"])
    );

    // The serving API, as a sweep drives it per candidate, on the custom model the run kept: the record is saved
    // with its name before the create call; a repeated create (a crash before its answer was saved) with the
    // same token is the same deployment; deleting twice deletes once.
    let model_arn = pipeline.state().resources.custom_model_arn.clone().unwrap();
    let clients = harness.clients.clone();
    let config = pipeline.config().clone();
    let mut saved: Vec<ServingRecord> = Vec::new();
    let mut record = ServingRecord::new(
        ServingKind::Deployment,
        serving::default_name(ServingKind::Deployment, "candidate.c2"),
    );
    assert_eq!(record.name, "candidate-c2-od");
    let token = record.token("run-7-c2");
    assert_eq!(token, "run-7-c2-od");
    let mut save = |r: &ServingRecord| {
        saved.push(r.clone());
        Ok(())
    };
    serving::create(
        &clients,
        &config,
        &mut record,
        &model_arn,
        &token,
        &mut save,
    )
    .await
    .unwrap();
    let first_arn = record.arn.clone().unwrap();
    let mut again = ServingRecord::new(ServingKind::Deployment, record.name.clone());
    serving::create(&clients, &config, &mut again, &model_arn, &token, &mut save)
        .await
        .unwrap();
    assert_eq!(again.arn.as_ref(), Some(&first_arn));
    serving::wait(&clients, &config, &mut record, &mut save)
        .await
        .unwrap();
    assert_eq!(record.status.as_deref(), Some("Active"));
    assert!(
        serving::delete(&clients, &mut record, &mut save)
            .await
            .unwrap()
    );
    assert!(
        !serving::delete(&clients, &mut record, &mut save)
            .await
            .unwrap()
    );
    assert!(record.deleted && !record.may_exist());
    assert!(saved[0].requested && saved[0].arn.is_none(), "{saved:?}");
    assert_eq!(saved[1].arn.as_ref(), Some(&first_arn));
    let emulator = harness.emulator();
    let api: Vec<_> = emulator
        .custom_model_deployments
        .iter()
        .filter(|d| d.name == "candidate-c2-od")
        .collect();
    assert_eq!(api.len(), 1, "{:?}", emulator.custom_model_deployments);
    assert!(api[0].deleted);
    assert_eq!(api[0].client_request_token.as_deref(), Some("run-7-c2-od"));
    assert!(emulator.live_deployments().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deployment_is_deleted_emailed_and_created_anew_on_resume() {
    let faults = Faults {
        deployment_fails: true,
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Better, faults).await;
    let mut pipeline = harness.pipeline(harness.config(NOVA, ""));
    let run_id = pipeline.run_id().to_string();
    let error = pipeline.execute().await.unwrap_err();
    assert!(matches!(error, PipelineError::Resource(_)), "{error}");
    assert_eq!(error.kind(), ErrorKind::Runtime);
    let message = error.to_string();
    assert!(
        message.starts_with("on-demand deployment arn:") && message.contains(" failed: "),
        "{message}"
    );
    assert!(message.contains("injected fault"), "{message}");

    // Nothing is left deployed, nothing was invoked, and the state says why.
    let emulator = harness.emulator();
    assert_eq!(emulator.custom_model_deployments.len(), 1);
    assert_eq!(emulator.custom_model_deployments[0].status, "Failed");
    assert!(emulator.custom_model_deployments[0].deleted);
    assert_eq!(
        emulator.call_count("InvokeModel") + emulator.call_count("Converse"),
        0
    );
    assert!(emulator.provisioned_throughputs.is_empty());
    let state = pipeline.state();
    assert_eq!(state.status, RunStatus::Failed);
    assert_eq!(
        state.step_status(Step::WaitDeployment),
        Some(StepStatus::Failed)
    );
    assert!(!state.serving_live());
    assert!(
        state
            .resources
            .serving
            .failure
            .as_deref()
            .is_some_and(|f| f.contains("injected fault")),
        "{:?}",
        state.resources.serving
    );
    assert!(
        state
            .notes
            .contains(&"the on-demand deployment was deleted after the failure".to_string()),
        "{:?}",
        state.notes
    );
    let emails = harness.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("FAILED at wait-deployment"), "{subject}");
    assert!(
        subject.contains("on-demand deployment deleted"),
        "{subject}"
    );
    let body = emails[0]["body"].as_str().unwrap();
    assert!(body.contains("injected fault"), "{body}");
    drop(pipeline);

    // The fault is gone; the resumed run re-uses the job and creates the deployment again under a new token.
    harness
        .stack
        .bedrock
        .set_config(emulator_config(Quality::Better, Faults::default()));
    let mut resumed = Pipeline::open(harness.dir.path(), &run_id, harness.clients.clone()).unwrap();
    let report = resumed.execute().await.unwrap();
    assert_eq!(
        report.outcome.unwrap().verdict,
        bertscore_compare::Verdict::Custom
    );
    assert_eq!(report.deployment, Disposition::Kept);
    let emulator = harness.emulator();
    assert_eq!(emulator.call_count("CreateModelCustomizationJob"), 1);
    assert_eq!(emulator.custom_model_deployments.len(), 2);
    let second = &emulator.custom_model_deployments[1];
    assert_eq!(
        second.client_request_token.as_deref(),
        Some(format!("{run_id}-od1").as_str())
    );
    assert_eq!((second.status.as_str(), second.deleted), ("Active", false));
    assert_eq!(emulator.live_deployments().len(), 1);
    assert_eq!(emulator.max_concurrent_servings(), 1);
    assert_eq!(resumed.state().resources.serving.generation, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_deployment_create_is_emailed_and_leaves_nothing() {
    let faults = Faults {
        fail_deployment_create: true,
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Better, faults).await;
    let mut pipeline = harness.pipeline(harness.config(NOVA, ""));
    let error = pipeline.execute().await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("bedrock CreateCustomModelDeployment failed: "),
        "{message}"
    );
    assert_eq!(error.kind(), ErrorKind::Runtime);

    let emulator = harness.emulator();
    assert!(emulator.live_deployments().is_empty());
    assert!(emulator.provisioned_throughputs.is_empty());
    assert_eq!(emulator.call_count("CreateCustomModelDeployment"), 1);
    let state = pipeline.state();
    assert_eq!(
        state.step_status(Step::CreateDeployment),
        Some(StepStatus::Failed)
    );
    assert_eq!(state.resources.serving.arn, None);
    let report = pipeline.report();
    assert_eq!(report.deployment, Disposition::None);
    let emails = harness.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("FAILED at create-deployment"), "{subject}");
    assert!(
        subject.contains("on-demand deployment not created"),
        "{subject}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_mode_provisioned_serves_nova_by_throughput() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let config = harness.config(NOVA, "[serving]\nmode = \"provisioned\"\n");
    let mut pipeline = harness.pipeline(config);
    let report = pipeline.execute().await.unwrap();
    assert_eq!(report.serving, ServingKind::Throughput);
    assert_eq!(report.throughput, Disposition::Kept);
    assert_eq!(report.deployment, Disposition::None);
    let emulator = harness.emulator();
    assert!(emulator.custom_model_deployments.is_empty());
    assert_eq!(emulator.provisioned_throughputs.len(), 1);
    let pt = &emulator.provisioned_throughputs[0];
    assert_eq!(
        emulator.invocations.get(&pt.provisioned_model_arn),
        Some(&11)
    );
    assert_eq!(pipeline.state().steps(), &Step::ALL[..]);
    let subject = harness.emails()[0]["subject"].as_str().unwrap().to_string();
    assert!(subject.contains("provisioned throughput kept"), "{subject}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_for_a_family_without_it_is_refused_before_any_aws_call() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let mut config = harness.config("cohere.command-light-text-v14:7:4k", "");
    // Set after the file's own validation: the run's `validate` step checks again.
    config.serving.mode = ServingMode::OnDemand;
    let mut pipeline = harness.pipeline(config);
    // ... and the run stops at `validate`, naming the setting and the model.
    let error = pipeline.execute().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadInput, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("serving.mode = \"on-demand\""),
        "{message}"
    );
    assert!(
        message.contains("cohere.command-light-text-v14:7:4k"),
        "{message}"
    );
    assert_eq!(
        pipeline.state().step_status(Step::Validate),
        Some(StepStatus::Failed)
    );
    assert!(harness.emulator().calls.is_empty());
    let buckets = harness.clients.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty());
    assert!(harness.emails().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_serving_a_run_would_create() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    async fn operations(config: &PipelineConfig) -> Vec<(String, String)> {
        bertscore_pipeline::plan(config, "r1")
            .await
            .unwrap()
            .into_iter()
            .map(|call| (call.operation, call.detail))
            .collect()
    }
    let find = |calls: &[(String, String)], operation: &str| {
        calls
            .iter()
            .find(|(op, _)| op == operation)
            .map(|(_, detail)| detail.clone())
    };
    let note = |calls: &[(String, String)], text: &str| {
        calls
            .iter()
            .any(|(op, detail)| op.is_empty() && detail.contains(text))
    };
    // Nova, auto: a deployment, why, and how it bills; no throughput.
    let nova = operations(&harness.config(NOVA, "")).await;
    let create = find(&nova, "CreateCustomModelDeployment").unwrap();
    assert!(
        create.contains("modelDeploymentName=bertscore-r1-od")
            && create.contains("clientRequestToken=r1-od")
            && create.contains("billed per token used, nothing while idle"),
        "{create}"
    );
    assert!(
        note(
            &nova,
            "serving.mode = auto: the family has on-demand deployment"
        ),
        "{nova:?}"
    );
    assert!(find(&nova, "GetCustomModelDeployment").is_some());
    assert!(find(&nova, "DeleteCustomModelDeployment").is_some());
    assert!(
        nova.iter()
            .all(|(op, _)| !op.contains("ProvisionedModelThroughput")),
        "{nova:?}"
    );
    // Cohere, auto: provisioned throughput, as before.
    let cohere = operations(&harness.config("cohere.command-light-text-v14:7:4k", "")).await;
    let create = find(&cohere, "CreateProvisionedModelThroughput").unwrap();
    assert!(
        create.contains("clientRequestToken=r1-pt")
            && create.contains("modelUnits=1 commitmentDuration=none")
            && create.contains("BILLED HOURLY until deleted"),
        "{create}"
    );
    assert!(
        note(&cohere, "the family has no on-demand deployment"),
        "{cohere:?}"
    );
    assert!(
        cohere
            .iter()
            .all(|(op, _)| !op.contains("CustomModelDeployment")),
        "{cohere:?}"
    );
    // plan calls nothing.
    assert!(harness.emulator().calls.is_empty());
}
