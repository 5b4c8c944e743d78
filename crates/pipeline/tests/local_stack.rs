//! End-to-end runs of the pipeline through the real AWS SDK against moto (S3, SESv2) and the Bedrock emulator,
//! scoring with the real default model. Each test starts its own local stack, so tests run in parallel without
//! sharing state or environment variables (endpoints are passed explicitly).

mod common;

use bedrock_emulator::{Faults, Quality};
use bertscore_pipeline::{
    Disposition, ErrorKind, Pipeline, PipelineConfig, PipelineError, RunStatus, Step, StepStatus,
};
use common::{
    Harness, RECIPIENT, SENDER, calls, emulator_config, journal, parse_config, seed,
    seed_data_table,
};
use serde_json::Value;

impl Harness {
    async fn start(quality: Quality, faults: Faults) -> Harness {
        Harness::with_emulator(emulator_config(quality, faults, |_| {})).await
    }

    fn config(&self) -> PipelineConfig {
        let text = format!(
            r#"
            {data}
            [s3]
            bucket = "pipeline-test"
            prefix = "runs"
            [customization]
            base_model_id = "cohere.command-light-text-v14:7:4k"
            role_arn = "arn:aws:iam::123456789012:role/BedrockCustomization"
            hyper_parameters = {{ epochCount = "1", batchSize = "8", learningRate = "0.00001" }}
            [polling]
            initial_s = 0.05
            max_s = 0.2
            job_timeout_s = 60
            throughput_timeout_s = 60
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
            "#,
            data = seed_data_table(),
        );
        parse_config(&text, "test.toml")
    }
}

fn references() -> Vec<String> {
    serde_json::from_str(&std::fs::read_to_string(seed("reference-inference.json")).unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_better_keeps_the_throughput_and_emails_the_verdict() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let mut pipeline = harness.pipeline(harness.config());
    let report = pipeline.execute().await.unwrap();

    let outcome = report.outcome.clone().unwrap();
    assert_eq!(outcome.verdict, bertscore_compare::Verdict::Custom);
    assert_eq!((outcome.items, outcome.scored), (11, 11));
    assert!(outcome.custom_f1 > outcome.base_f1 + 0.1, "{outcome:?}");
    // The custom model answered every prompt with a close paraphrase of its reference: high, never perfect.
    assert!(
        outcome.custom_f1 > 0.85 && outcome.custom_f1 < 0.999,
        "{outcome:?}"
    );
    assert!(
        outcome.p_value < 0.05 && outcome.ci95[0] > 0.0,
        "{outcome:?}"
    );
    assert_eq!(report.throughput, Disposition::Kept);
    assert_eq!(report.status, RunStatus::Succeeded);

    let emulator = harness.emulator();
    assert_eq!(emulator.jobs.len(), 1);
    let job = &emulator.jobs[0];
    assert_eq!(
        job.client_request_token.as_deref(),
        Some(format!("{}-job", pipeline.run_id()).as_str())
    );
    assert_eq!(
        job.base_model_identifier,
        "cohere.command-light-text-v14:7:4k"
    );
    assert_eq!(emulator.provisioned_throughputs.len(), 1);
    let pt = &emulator.provisioned_throughputs[0];
    assert_eq!(
        (pt.status.as_str(), pt.deleted, pt.model_units),
        ("InService", false, 1)
    );
    assert_eq!(
        Some(&pt.provisioned_model_arn),
        report.throughput_arn.as_ref()
    );
    assert_eq!(pt.model_arn, job.output_model_arn.clone().unwrap());
    assert_eq!(calls(&emulator, "DeleteProvisionedModelThroughput"), 0);
    // Both models answered all 11 prompts (base by id, custom through the throughput ARN).
    assert_eq!(
        emulator.invocations.get("cohere.command-light-text-v14"),
        Some(&11)
    );
    assert_eq!(
        emulator.invocations.get(&pt.provisioned_model_arn),
        Some(&11)
    );

    let emails = harness.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let email = &emails[0];
    let subject = email["subject"].as_str().unwrap();
    assert!(subject.contains("verdict: custom"), "{subject}");
    assert!(subject.contains("provisioned throughput kept"), "{subject}");
    assert_eq!(email["recipients"], serde_json::json!([RECIPIENT]));
    let body = email["body"].as_str().unwrap();
    assert!(body.contains(&format!("{:.4}", outcome.base_f1)), "{body}");
    assert!(
        body.contains(&format!("{:.4}", outcome.custom_f1)),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "95% CI [{:+.4}, {:+.4}]",
            outcome.ci95[0], outcome.ci95[1]
        )),
        "{body}"
    );

    // Outputs, failures and the report are in S3, keyed by item id.
    let custom = harness.object(&report.objects["custom-outputs"]).await;
    let lines: Vec<Value> = custom
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    let references = references();
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(line["id"], (index + 1).to_string());
        assert_eq!(
            line["completion"],
            bedrock_emulator::good_answer(references[index].as_str())
        );
    }
    assert_eq!(harness.object(&report.objects["failures"]).await, "");
    let stored: Value =
        serde_json::from_str(&harness.object(&report.objects["report"]).await).unwrap();
    assert_eq!(stored["outcome"]["verdict"], "custom");
    assert_eq!(stored["throughput"], "kept");
    let local: Value = serde_json::from_str(
        &std::fs::read_to_string(pipeline.run_dir().join("report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(local["run_id"], pipeline.run_id());

    // Every step was journaled before and after it ran.
    let entries = journal(&pipeline);
    for step in Step::ALL {
        let events: Vec<&str> = entries
            .iter()
            .filter(|e| e.step == Some(step))
            .map(|e| e.event.as_str())
            .filter(|e| ["started", "finished"].contains(e))
            .collect();
        assert_eq!(events, ["started", "finished"], "{step:?}");
        assert_eq!(
            pipeline.state().step_status(step),
            Some(StepStatus::Finished)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_worse_deletes_the_throughput() {
    let harness = Harness::start(Quality::Worse, Faults::default()).await;
    let mut config = harness.config();
    config.customization.delete_custom_model_if_not_better = true;
    let mut pipeline = harness.pipeline(config);
    let report = pipeline.execute().await.unwrap();

    let outcome = report.outcome.clone().unwrap();
    assert_eq!(outcome.verdict, bertscore_compare::Verdict::Base);
    assert!(outcome.base_f1 > outcome.custom_f1, "{outcome:?}");
    assert_eq!(report.throughput, Disposition::Deleted);
    assert_eq!(report.custom_model, Disposition::Deleted);

    let emulator = harness.emulator();
    assert_eq!(emulator.provisioned_throughputs.len(), 1);
    assert!(emulator.provisioned_throughputs[0].deleted);
    assert_eq!(emulator.custom_models.len(), 1);
    assert!(emulator.custom_models[0].deleted);

    let emails = harness.emails();
    assert_eq!(emails.len(), 1);
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("verdict: base"), "{subject}");
    assert!(
        subject.contains("provisioned throughput deleted"),
        "{subject}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_emailed_and_leaves_nothing_billed() {
    let faults = Faults {
        fail_next_job: true,
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Better, faults).await;
    let mut pipeline = harness.pipeline(harness.config());
    let error = pipeline.execute().await.unwrap_err();
    assert!(matches!(error, PipelineError::Resource(_)), "{error}");
    assert_eq!(error.kind(), ErrorKind::Runtime);
    assert!(error.to_string().contains("ended Failed"), "{error}");

    let emulator = harness.emulator();
    assert_eq!(emulator.jobs.len(), 1);
    assert_eq!(emulator.jobs[0].status, "Failed");
    assert!(emulator.provisioned_throughputs.is_empty());
    assert_eq!(calls(&emulator, "CreateProvisionedModelThroughput"), 0);
    assert_eq!(calls(&emulator, "InvokeModel"), 0);

    let state = pipeline.state();
    assert_eq!(state.status, RunStatus::Failed);
    assert_eq!(state.step_status(Step::WaitJob), Some(StepStatus::Failed));
    assert_eq!(state.step_status(Step::CreateThroughput), None);

    let emails = harness.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("FAILED at wait-job"), "{subject}");
    assert!(
        subject.contains("provisioned throughput not created"),
        "{subject}"
    );
    let body = emails[0]["body"].as_str().unwrap();
    assert!(body.contains("injected fault"), "{body}");
    // The step is named once, by the report, not again inside the message.
    assert!(body.contains("wait-job: customization job"), "{body}");
    assert!(!body.contains("wait-job: wait-job"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_is_survived() {
    let faults = Faults {
        throttle_first: 20,
        server_error_first: 6,
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Better, faults).await;
    let mut pipeline = harness.pipeline(harness.config());
    let report = pipeline.execute().await.unwrap();

    let outcome = report.outcome.unwrap();
    assert_eq!(outcome.verdict, bertscore_compare::Verdict::Custom);
    assert_eq!(outcome.scored, 11);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let emulator = harness.emulator();
    let runtime_calls = calls(&emulator, "InvokeModel");
    assert_eq!(runtime_calls, 22 + 20 + 6, "{:?}", emulator.calls);
    assert_eq!(emulator.invocations.values().sum::<u64>(), 22);
    // The SDK retried them; each item counts its own attempts, and together they are every call made.
    let attempts: u64 = ["base-outputs.json", "custom-outputs.json"]
        .iter()
        .flat_map(|name| {
            let text = std::fs::read_to_string(pipeline.run_dir().join(name)).unwrap();
            serde_json::from_str::<Vec<Value>>(&text).unwrap()
        })
        .map(|output| output["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(attempts, runtime_calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_prompt_is_recorded_under_its_id_and_nothing_shifts() {
    let faults = Faults {
        // Only the first validation prompt mentions John Sandals.
        fail_prompts_containing: Some("John Sandals".into()),
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Better, faults).await;
    let mut pipeline = harness.pipeline(harness.config());
    let report = pipeline.execute().await.unwrap();

    let outcome = report.outcome.clone().unwrap();
    assert_eq!((outcome.items, outcome.scored), (11, 10));
    assert_eq!(outcome.failed_items, vec!["1".to_string()]);
    // Validation errors are not retried.
    assert_eq!(report.failures.len(), 2);
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.id == "1" && f.attempts == 1)
    );
    let failures = harness.object(&report.objects["failures"]).await;
    assert_eq!(failures.lines().count(), 2);
    assert!(failures.contains("ValidationException"), "{failures}");

    // Item 2's output is still item 2's answer, scored against item 2's reference.
    let custom = harness.object(&report.objects["custom-outputs"]).await;
    let first: Value = serde_json::from_str(custom.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "2");
    assert_eq!(
        first["completion"],
        bedrock_emulator::good_answer(references()[1].as_str())
    );
    let comparison: Value = serde_json::from_str(
        &std::fs::read_to_string(pipeline.run_dir().join("comparison.json")).unwrap(),
    )
    .unwrap();
    let items = comparison["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(items[0]["id"], "2");
    // Item 2 scored against item 2's reference: its paraphrase scores high (a shifted item would not).
    let custom_f1 = items[0]["custom"]["f1"].as_f64().unwrap();
    assert!(custom_f1 > 0.8, "{custom_f1}");
    assert!(custom_f1 > items[0]["base"]["f1"].as_f64().unwrap() + 0.1);

    let body = harness.emails()[0]["body"].as_str().unwrap().to_string();
    assert!(body.contains("item 1 (base, 1 attempts)"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_failed_prompts_fail_the_run_and_delete_the_throughput() {
    let faults = Faults {
        // Every DialogSum prompt has a #Person2#.
        fail_prompts_containing: Some("#Person2#".into()),
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Better, faults).await;
    let mut pipeline = harness.pipeline(harness.config());
    let error = pipeline.execute().await.unwrap_err();
    assert!(matches!(error, PipelineError::Inference(_)), "{error}");
    assert!(error.to_string().contains("11 of 11 items"), "{error}");

    let emulator = harness.emulator();
    assert_eq!(emulator.provisioned_throughputs.len(), 1);
    assert!(
        emulator.provisioned_throughputs[0].deleted,
        "the throughput must not be left billing"
    );
    let state = pipeline.state();
    assert_eq!(state.step_status(Step::Score), Some(StepStatus::Failed));
    assert!(state.outcome.is_none());

    let emails = harness.emails();
    assert_eq!(emails.len(), 1);
    let subject = emails[0]["subject"].as_str().unwrap();
    assert!(subject.contains("FAILED at score"), "{subject}");
    assert!(
        subject.contains("provisioned throughput deleted"),
        "{subject}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_training_data_is_rejected_before_any_aws_call() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let training = harness.dir.path().join("bad-training.jsonl");
    std::fs::write(
        &training,
        "{\"prompt\": \"Summarize: A met B.\", \"completion\": \"A meets B.\"}\n{\"prompt\": \"x\"}\nnot json\n",
    )
    .unwrap();
    let mut config = harness.config();
    config.data.training = training;
    let state_dir = harness.dir.path().join("runs");
    let mut pipeline = Pipeline::create(config, harness.clients.clone(), &state_dir, None).unwrap();
    let error = pipeline.execute().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadInput, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("bad-training.jsonl:2: missing completion"),
        "{message}"
    );
    assert!(
        message.contains("bad-training.jsonl:3: not valid JSON"),
        "{message}"
    );

    assert!(harness.emulator().calls.is_empty());
    let buckets = harness.clients.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty(), "{:?}", buckets.buckets());
    assert!(harness.emails().is_empty());
    assert_eq!(
        pipeline.state().step_status(Step::Validate),
        Some(StepStatus::Failed)
    );
    assert_eq!(pipeline.state().step_status(Step::Upload), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_failed_throughput_reuses_the_job() {
    let faults = Faults {
        fail_pt_create: true,
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Better, faults).await;
    let mut pipeline = harness.pipeline(harness.config());
    let error = pipeline.execute().await.unwrap_err();
    // Summarised: service, operation, code, message, HTTP status; never the SDK's debug dump.
    let message = error.to_string();
    assert!(
        message.starts_with(
            "bedrock CreateProvisionedModelThroughput failed: ServiceQuotaExceededException: "
        ),
        "{message}"
    );
    assert!(message.contains("(HTTP 4"), "{message}");
    let state_json = std::fs::read_to_string(pipeline.run_dir().join("state.json")).unwrap();
    let report_json = std::fs::read_to_string(pipeline.run_dir().join("report.json")).unwrap();
    for text in [&message, &state_json, &report_json] {
        for dump in ["ServiceError", "raw:", "headers", "SdkBody", "Response {"] {
            assert!(!text.contains(dump), "{dump} in {text}");
        }
    }
    assert_eq!(error.kind(), ErrorKind::Runtime);
    let run_id = pipeline.run_id().to_string();
    assert_eq!(
        pipeline.state().step_status(Step::CreateThroughput),
        Some(StepStatus::Failed)
    );
    drop(pipeline);

    // The quota is raised; the same run continues from its journal.
    harness
        .stack
        .bedrock
        .set_config(emulator_config(Quality::Better, Faults::default(), |_| {}));
    let mut resumed =
        Pipeline::open(harness.state_dir(), &run_id, harness.clients.clone()).unwrap();
    let report = resumed.execute().await.unwrap();
    assert_eq!(
        report.outcome.unwrap().verdict,
        bertscore_compare::Verdict::Custom
    );
    assert_eq!(resumed.state().steps[&Step::CreateThroughput].attempts, 2);
    assert_eq!(resumed.state().steps[&Step::CreateJob].attempts, 1);

    let emulator = harness.emulator();
    assert_eq!(emulator.jobs.len(), 1);
    assert_eq!(calls(&emulator, "CreateModelCustomizationJob"), 1);
    assert_eq!(emulator.provisioned_throughputs.len(), 1);
    assert!(!emulator.provisioned_throughputs[0].deleted);
    // One failure email, one outcome email.
    let emails = harness.emails();
    assert_eq!(emails.len(), 2);
    assert!(
        emails[1]["subject"]
            .as_str()
            .unwrap()
            .contains("verdict: custom")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_deletes_a_kept_throughput_once() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let mut pipeline = harness.pipeline(harness.config());
    pipeline.execute().await.unwrap();
    assert!(!harness.emulator().provisioned_throughputs[0].deleted);

    let actions = pipeline.cleanup(true).await.unwrap();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(
        actions[0].starts_with("deleted provisioned throughput arn:"),
        "{actions:?}"
    );
    assert!(
        actions[1].starts_with("deleted custom model arn:"),
        "{actions:?}"
    );
    let emulator = harness.emulator();
    assert!(emulator.provisioned_throughputs[0].deleted);
    assert!(emulator.custom_models[0].deleted);

    let again = pipeline.cleanup(true).await.unwrap();
    assert_eq!(again, vec!["nothing billed was left to delete".to_string()]);
    assert_eq!(
        calls(&harness.emulator(), "DeleteProvisionedModelThroughput"),
        1
    );
}

/// Nothing reached AWS: no Bedrock call, no bucket, no email.
async fn assert_no_aws_call(harness: &Harness) {
    let emulator = harness.emulator();
    assert!(emulator.calls.is_empty(), "{:?}", emulator.calls);
    let buckets = harness.clients.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty(), "{:?}", buckets.buckets());
    assert!(harness.emails().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoring_settings_and_the_scoring_model_are_checked_before_any_aws_call() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    // A model directory with every file present and none usable: it resolves, then fails to load.
    let broken_model = harness.dir.path().join("broken-model");
    std::fs::create_dir(&broken_model).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::write(broken_model.join(file), "not a model").unwrap();
    }
    type Edit = Box<dyn Fn(&mut PipelineConfig)>;
    let cases: Vec<(&str, Edit, ErrorKind, &str)> = vec![
        (
            "alpha",
            Box::new(|c| c.scoring.statistics.alpha = 2.0),
            ErrorKind::BadInput,
            "alpha",
        ),
        (
            "margin",
            Box::new(|c| c.scoring.statistics.margin = -1.0),
            ErrorKind::BadInput,
            "margin",
        ),
        (
            "bootstrap",
            Box::new(|c| c.scoring.statistics.bootstrap = usize::MAX),
            ErrorKind::BadInput,
            "bootstrap",
        ),
        (
            "model",
            Box::new(move |c| c.scoring.scorer.model = Some(broken_model.display().to_string())),
            ErrorKind::Model,
            "broken-model",
        ),
    ];
    for (name, edit, kind, mentioned) in cases {
        let mut config = harness.config();
        edit(&mut config);
        let state_dir = harness.dir.path().join(format!("runs-{name}"));
        let mut pipeline =
            Pipeline::create(config, harness.clients.clone(), &state_dir, None).unwrap();
        let error = pipeline.execute().await.unwrap_err();
        assert_eq!(error.kind(), kind, "{name}: {}", error.describe());
        assert!(
            error.describe().contains(mentioned),
            "{name}: {}",
            error.describe()
        );
        let state = pipeline.state();
        assert_eq!(state.step_status(Step::Validate), Some(StepStatus::Failed));
        assert_eq!(state.step_status(Step::Upload), None, "{name}");
        assert_no_aws_call(&harness).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_owns_a_run() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let pipeline = harness.pipeline(harness.config());
    let run_id = pipeline.run_id().to_string();
    let lock = std::fs::read_to_string(pipeline.run_dir().join("lock")).unwrap();
    assert_eq!(lock.trim(), std::process::id().to_string());

    // While `pipeline` holds the run, neither resume/cleanup nor a second `run --run-id` can take it.
    let busy = |error: PipelineError| match error {
        PipelineError::Busy { pid, .. } => {
            assert_eq!(pid, Some(std::process::id()));
        }
        other => panic!("expected Busy, got {other}"),
    };
    busy(
        Pipeline::open(harness.state_dir(), &run_id, harness.clients.clone())
            .err()
            .unwrap(),
    );
    busy(
        Pipeline::create(
            harness.config(),
            harness.clients.clone(),
            harness.state_dir(),
            Some(&run_id),
        )
        .err()
        .unwrap(),
    );
    let status = bertscore_pipeline::RunDir::open(harness.state_dir(), &run_id).unwrap();
    assert_eq!(status.holder(), Some(Some(std::process::id())));

    // Once it is dropped, the run is free again.
    drop(pipeline);
    assert_eq!(status.holder(), None);
    let mut resumed =
        Pipeline::open(harness.state_dir(), &run_id, harness.clients.clone()).unwrap();
    resumed.execute().await.unwrap();
    // Every save went through a temporary file of its own, and none is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(resumed.run_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_before_its_first_step_can_be_restarted_or_resumed() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let state_dir = harness.state_dir();

    // Killed right after creating its directory: nothing to resume, and `run --run-id` starts it afresh.
    std::fs::create_dir_all(state_dir.join("empty-run")).unwrap();
    let error = Pipeline::open(state_dir, "empty-run", harness.clients.clone())
        .err()
        .unwrap();
    assert_eq!(error.kind(), ErrorKind::BadInput);
    assert!(
        error.to_string().contains("run --run-id empty-run"),
        "{error}"
    );
    let restarted = Pipeline::create(
        harness.config(),
        harness.clients.clone(),
        state_dir,
        Some("empty-run"),
    )
    .unwrap();
    assert!(restarted.run_dir().join("state.json").is_file());
    drop(restarted);

    // Killed after saving its config, before its state: `resume` starts it from the config, to the end.
    let first = harness.pipeline(harness.config());
    let run_id = first.run_id().to_string();
    let run_dir = first.run_dir().to_path_buf();
    drop(first);
    for file in ["state.json", "journal.jsonl"] {
        std::fs::remove_file(run_dir.join(file)).unwrap();
    }
    let mut resumed = Pipeline::open(state_dir, &run_id, harness.clients.clone()).unwrap();
    let report = resumed.execute().await.unwrap();
    assert_eq!(
        report.outcome.unwrap().verdict,
        bertscore_compare::Verdict::Custom
    );
    assert_eq!(
        resumed.state().resources.job_name,
        format!("bertscore-{run_id}")
    );
    assert_eq!(harness.emulator().jobs.len(), 1);
    drop(resumed);

    // A run that has begun a step is never restarted over: it must be resumed or cleaned up.
    let error = Pipeline::create(
        harness.config(),
        harness.clients.clone(),
        state_dir,
        Some(&run_id),
    )
    .err()
    .unwrap();
    assert_eq!(error.kind(), ErrorKind::BadInput);
    assert!(error.to_string().contains("resume"), "{error}");
}

/// `plan` runs the run's own steps against the dry run: the Bedrock calls it lists are the ones a run makes, in
/// the same order (a status check repeated while a resource is not ready is one call in a plan; the models tie
/// here, so the decision is the dry run's too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_lists_the_bedrock_calls_a_run_makes_in_order() {
    let harness = Harness::start(Quality::Same, Faults::default()).await;
    let config = harness.config();
    let planned = bertscore_pipeline::plan(&config, "r1").await.unwrap();
    assert!(
        harness.stack.bedrock.requests().is_empty(),
        "plan calls nothing"
    );
    let mut pipeline = harness.pipeline(config);
    let report = pipeline.execute().await.unwrap();
    assert_eq!(report.throughput, Disposition::Deleted, "{report:?}");

    /// Consecutive repeats (polling, one call per prompt) as one.
    fn runs(operations: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for operation in operations {
            if out.last() != Some(&operation) {
                out.push(operation);
            }
        }
        out
    }
    let requests = harness.stack.bedrock.requests();
    assert!(requests.iter().all(|r| r.status < 400), "{requests:?}");
    let made = runs(requests.iter().map(|r| r.operation.clone()));
    let listed = runs(
        planned
            .iter()
            .filter(|c| c.service == "bedrock" || c.service == "bedrock-runtime")
            .map(|c| c.operation.clone()),
    );
    assert_eq!(made, listed);
    assert!(
        made.contains(&"CreateProvisionedModelThroughput".to_string())
            && made.contains(&"DeleteProvisionedModelThroughput".to_string()),
        "{made:?}"
    );
    // Every prompt on each model, in the plan as in the run.
    let invoked = requests
        .iter()
        .filter(|r| r.operation == "InvokeModel")
        .count();
    let planned_invocations: usize = planned
        .iter()
        .filter(|c| c.operation == "InvokeModel")
        .map(|c| c.count)
        .sum();
    assert_eq!((invoked, planned_invocations), (22, 22));
}
