//! Training data per model family and batch inference, end to end: the real AWS SDK against moto (S3, SESv2)
//! and the Bedrock emulator (which reads the uploaded training file and the batch input from moto, as Bedrock
//! reads them from S3), scoring with the real default model. Each test starts its own local stack.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bedrock_emulator::{EmulatorState, Faults, Quality};
use bertscore_pipeline::{ErrorKind, Pipeline, PipelineConfig, RunStatus, Step, StepStatus};
use common::{Harness, SENDER, emulator_config, parse_config, seed, seed_data_table};
use serde_json::Value;

const SYSTEM_PROMPT: &str = "You summarize dialogues in one or two sentences.";
const NOVA: &str = "amazon.nova-micro-v1:0:128k";

impl Harness {
    async fn start(quality: Quality, faults: Faults) -> Harness {
        Harness::with_emulator(emulator_config(quality, faults, |config| {
            config.deployment_duration = Duration::from_millis(300);
            config.batch_duration = Duration::from_millis(600);
            config.batch_min_records = 5;
        }))
        .await
    }

    /// A Nova run on the seed data; `inference` is the body of `[inference]`.
    fn nova_config(&self, inference: &str) -> PipelineConfig {
        let text = format!(
            r#"
            {data}
            [s3]
            bucket = "pipeline-test"
            prefix = "runs"
            [customization]
            base_model_id = "{NOVA}"
            role_arn = "arn:aws:iam::123456789012:role/BedrockCustomization"
            hyper_parameters = {{ epochCount = "1", learningRate = "0.00001" }}
            system_prompt = "{SYSTEM_PROMPT}"
            [polling]
            initial_s = 0.05
            max_s = 0.2
            job_timeout_s = 60
            throughput_timeout_s = 60
            batch_timeout_s = 60
            [inference]
            concurrency = 4
            max_attempts = 4
            retry_base_s = 0.01
            retry_max_s = 0.1
            {inference}
            [scoring]
            model = "sentence-transformers/all-MiniLM-L6-v2"
            bootstrap = 1000
            permutations = 1000
            [notify]
            from = "{SENDER}"
            to = ["ml-team@example.com"]
            "#,
            data = seed_data_table(),
        );
        parse_config(&text, "test.toml")
    }
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Item id (`1`..`11`, by position) → reference.
fn references() -> HashMap<String, String> {
    let refs: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(seed("reference-inference.json")).unwrap())
            .unwrap();
    refs.into_iter()
        .enumerate()
        .map(|(i, r)| ((i + 1).to_string(), r))
        .collect()
}

fn journal_details(pipeline: &Pipeline, step: &str, event: &str) -> Vec<Value> {
    std::fs::read_to_string(pipeline.run_dir().join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["step"] == step && e["event"] == event)
        .map(|e| e["detail"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nova_gets_its_prompt_completion_data_as_conversations() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    // 11 prompts: under the default batch minimum, so `auto` calls the base model on demand.
    let mut pipeline = harness.pipeline(harness.nova_config(""));
    let report = pipeline.execute().await.unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);

    // The object the job trained on, read back from S3: the seed's 1000 prompt/completion records, each now a
    // valid bedrock-conversation-2024 record with the configured system prompt.
    let uploaded = jsonl(&harness.object(&report.objects["training"]).await);
    let source = jsonl(&std::fs::read_to_string(seed("training-data.jsonl")).unwrap());
    assert_eq!(uploaded.len(), 1000);
    assert_eq!(uploaded.len(), source.len());
    for (record, source) in uploaded.iter().zip(&source) {
        let keys: Vec<&String> = record.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{record}");
        assert_eq!(record["schemaVersion"], "bedrock-conversation-2024");
        assert_eq!(
            record["system"],
            serde_json::json!([{ "text": SYSTEM_PROMPT }])
        );
        let messages = record["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2, "{record}");
        assert_eq!(messages[0]["role"], "user");
        assert_eq!(
            messages[0]["content"],
            serde_json::json!([{ "text": source["prompt"] }])
        );
        assert_eq!(messages[1]["role"], "assistant");
        assert_eq!(
            messages[1]["content"],
            serde_json::json!([{ "text": source["completion"] }])
        );
    }
    // The run directory keeps the converted file; the journal says what was converted.
    let local = std::fs::read_to_string(pipeline.run_dir().join("training-data.jsonl")).unwrap();
    assert_eq!(local, harness.object(&report.objects["training"]).await);
    let validate = &journal_details(&pipeline, "validate", "finished")[0];
    assert_eq!(validate["training_format"], "prompt/completion");
    assert_eq!(validate["uploaded_format"], "bedrock-conversation-2024");
    assert_eq!(validate["training_family"], "Amazon Nova");
    assert!(
        validate["base_inference"]
            .as_str()
            .unwrap()
            .starts_with("on-demand (11 prompts < inference.batch_min_records = 100)"),
        "{validate}"
    );

    // The emulator checked the file as Bedrock does (a wrong schema fails the job) and trained on it.
    let emulator = harness.emulator();
    assert_eq!(emulator.jobs.len(), 1);
    assert_eq!(emulator.jobs[0].status, "Completed");
    assert_eq!(emulator.jobs[0].base_model_identifier, NOVA);
    assert!(emulator.batch_jobs.is_empty());
    // Both models were asked on demand with the Nova body; the base model under its invocable id.
    assert_eq!(
        emulator.invocations.get("amazon.nova-micro-v1:0"),
        Some(&11)
    );
    let outcome = report.outcome.unwrap();
    assert_eq!(outcome.verdict, bertscore_compare::Verdict::Custom);
    assert_eq!(outcome.scored, 11);
}

/// A Nova run whose 11 base prompts go through a batch job (minimum 5) that answers 2 records with errors, leaves
/// 1 out and shuffles the rest; the base model is the good one, so every base output is the paraphrase of its
/// own item's reference, and a shifted output would be another item's.
async fn batch_run(
    retry_failed_on_demand: bool,
) -> (Harness, Pipeline, bertscore_pipeline::Report) {
    let faults = Faults {
        batch_record_errors: 2,
        batch_missing_records: 1,
        batch_shuffle: true,
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Worse, faults).await;
    let config = harness.nova_config(&format!(
        "mode = \"batch\"\nbatch_min_records = 5\nretry_failed_on_demand = {retry_failed_on_demand}\n\
         max_failure_fraction = 0.5\nbatch_role_arn = \"arn:aws:iam::123456789012:role/BatchRole\""
    ));
    let mut pipeline = harness.pipeline(config);
    let report = pipeline.execute().await.unwrap();
    (harness, pipeline, report)
}

fn assert_one_batch_job(emulator: &EmulatorState, run_id: &str) {
    assert_eq!(emulator.batch_jobs.len(), 1, "{:?}", emulator.batch_jobs);
    let job = &emulator.batch_jobs[0];
    assert_eq!(
        job.client_request_token.as_deref(),
        Some(format!("{run_id}-batch").as_str())
    );
    assert_eq!(job.job_name, format!("bertscore-{run_id}-base"));
    assert_eq!(job.model_id, "amazon.nova-micro-v1:0");
    assert_eq!(job.records, 11);
    assert_eq!(job.status, "PartiallyCompleted");
    assert_eq!(emulator.calls.get("CreateModelInvocationJob"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_output_is_joined_by_record_id_and_failed_records_stay_failed_items() {
    let (harness, pipeline, report) = batch_run(false).await;
    let emulator = harness.emulator();
    assert_one_batch_job(&emulator, pipeline.run_id());
    // No base prompt was sent on demand.
    assert_eq!(emulator.invocations.get("amazon.nova-micro-v1:0"), None);

    let outcome = report.outcome.clone().unwrap();
    assert_eq!((outcome.items, outcome.scored), (11, 8));
    assert_eq!(outcome.failed_items.len(), 3, "{outcome:?}");
    let base_failures: Vec<_> = report
        .failures
        .iter()
        .filter(|f| f.model == "base")
        .collect();
    assert_eq!(base_failures.len(), 3, "{:?}", report.failures);
    assert!(report.failures.iter().all(|f| f.model == "base"));
    let errored = base_failures
        .iter()
        .filter(|f| f.error.starts_with("batch record error "))
        .count();
    let missing = base_failures
        .iter()
        .filter(|f| f.error.starts_with("no record R"))
        .count();
    assert_eq!((errored, missing), (2, 1), "{base_failures:?}");
    for failure in &base_failures {
        assert!(outcome.failed_items.contains(&failure.id), "{failure:?}");
    }

    // Every other item has its own answer: the paraphrase of its own reference, under its own id.
    let references = references();
    let base = jsonl(&harness.object(&report.objects["base-outputs"]).await);
    assert_eq!(base.len(), 8);
    for line in &base {
        let id = line["id"].as_str().unwrap();
        assert!(!outcome.failed_items.iter().any(|f| f == id));
        assert_eq!(
            line["completion"],
            bedrock_emulator::good_answer(&references[id]),
            "item {id}"
        );
        assert_eq!(line["references"][0], references[id].as_str());
    }
    // Scored against their own references: the good base model's paraphrases score high, item by item.
    let comparison: Value = serde_json::from_str(
        &std::fs::read_to_string(pipeline.run_dir().join("comparison.json")).unwrap(),
    )
    .unwrap();
    let items = comparison["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    for item in items {
        let f1 = item["base"]["f1"].as_f64().unwrap();
        assert!(f1 > 0.8, "{item}");
    }
    assert_eq!(outcome.verdict, bertscore_compare::Verdict::Base);

    // The job was journaled before and after its create call; the mapping of record ids is in the run.
    let requested = journal_details(&pipeline, "inference", "batch-job-requested");
    let created = journal_details(&pipeline, "inference", "batch-job-created");
    assert_eq!((requested.len(), created.len()), (1, 1));
    assert_eq!(
        created[0]["job_arn"],
        emulator.batch_jobs[0].job_arn.as_str()
    );
    let mapping: HashMap<String, String> = serde_json::from_str(
        &std::fs::read_to_string(pipeline.run_dir().join("batch-records.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(mapping.len(), 11);
    assert!(mapping.values().any(|id| id == "7"));
    let inference = &journal_details(&pipeline, "inference", "finished")[0];
    assert_eq!(inference["base_path"], "batch");
    assert_eq!(
        (
            inference["batch_errored"].as_u64(),
            inference["batch_missing"].as_u64()
        ),
        (Some(2), Some(1))
    );
    // The report and the email say the base model's prompts went through the job.
    assert_eq!(report.batch_job.as_ref().unwrap().records, 11);
    let emails = tokio::task::block_in_place(|| harness.stack.moto.sent_emails().unwrap());
    let body = emails[0]["body"].as_str().unwrap();
    assert!(
        body.contains(&format!(
            "batch inference job {} (11 records) [PartiallyCompleted]",
            emulator.batch_jobs[0].job_arn
        )),
        "{body}"
    );
    let state = pipeline.state();
    let record = state.resources.batch_job.as_ref().unwrap();
    assert_eq!(record.status.as_deref(), Some("PartiallyCompleted"));
    assert_eq!(
        record.arn.as_deref(),
        Some(emulator.batch_jobs[0].job_arn.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_a_batch_job_left_without_output_are_retried_on_demand() {
    let (harness, pipeline, report) = batch_run(true).await;
    let emulator = harness.emulator();
    assert_one_batch_job(&emulator, pipeline.run_id());
    // The 3 records without output, and only they, were asked again on demand.
    assert_eq!(emulator.invocations.get("amazon.nova-micro-v1:0"), Some(&3));
    let outcome = report.outcome.clone().unwrap();
    assert_eq!((outcome.items, outcome.scored), (11, 11));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_base_outputs_are_good_answers(&harness, &report).await;
    let inference = &journal_details(&pipeline, "inference", "finished")[0];
    assert_eq!(inference["retried_on_demand"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_file_in_the_wrong_schema_is_stopped_before_any_aws_call() {
    let harness = Harness::start(Quality::Better, Faults::default()).await;
    let conversation = |user: &str, assistant: &str| {
        serde_json::json!({
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                { "role": "user", "content": [{ "text": user }] },
                { "role": "assistant", "content": [{ "text": assistant }] },
            ],
        })
        .to_string()
    };
    // Nova: conversation records, one of them with its turns the wrong way round (line 3), one prompt/completion
    // record among them (line 5).
    let mut lines: Vec<String> = (0..8)
        .map(|i| conversation(&format!("Summarize dialogue {i}."), "A summary."))
        .collect();
    lines[2] = serde_json::json!({
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            { "role": "assistant", "content": [{ "text": "A summary." }] },
            { "role": "user", "content": [{ "text": "Summarize." }] },
        ],
    })
    .to_string();
    lines[4] = r#"{"prompt": "Summarize.", "completion": "A summary."}"#.to_string();
    let nova_training = harness.dir.path().join("nova-training.jsonl");
    std::fs::write(&nova_training, lines.join("\n") + "\n").unwrap();

    // Cohere: multi-turn conversations have no prompt/completion form (line 2).
    let multi_turn = serde_json::json!({
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            { "role": "user", "content": [{ "text": "Hi" }] },
            { "role": "assistant", "content": [{ "text": "Hello" }] },
            { "role": "user", "content": [{ "text": "Summarize." }] },
            { "role": "assistant", "content": [{ "text": "A summary." }] },
        ],
    });
    let cohere_training = harness.dir.path().join("cohere-training.jsonl");
    std::fs::write(
        &cohere_training,
        format!("{}\n{multi_turn}\n", conversation("Hi", "Hello")),
    )
    .unwrap();

    let mut nova = harness.nova_config("");
    nova.data.training = nova_training;
    let mut cohere = harness.nova_config("");
    cohere.customization.base_model_id = "cohere.command-light-text-v14:7:4k".into();
    cohere.customization.system_prompt = None;
    cohere.data.training = cohere_training;
    let cases = [
        (
            nova,
            vec![
                "nova-training.jsonl:3: messages[0] has role \"assistant\"",
                "nova-training.jsonl:5: a prompt/completion record in a file of bedrock-conversation-2024 records",
            ],
        ),
        (
            cohere,
            vec![
                "cohere-training.jsonl:2: Cohere Command fine-tuning takes prompt/completion records; this \
                 bedrock-conversation-2024 record has 4 turns",
            ],
        ),
    ];
    for (index, (config, expected)) in cases.into_iter().enumerate() {
        let state_dir = harness.dir.path().join(format!("runs-{index}"));
        let mut pipeline =
            Pipeline::create(config, harness.clients.clone(), &state_dir, None).unwrap();
        let error = pipeline.execute().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadInput, "{error}");
        let message = error.to_string();
        for text in expected {
            assert!(message.contains(text), "{text:?} not in {message}");
        }
        let state = pipeline.state();
        assert_eq!(state.step_status(Step::Validate), Some(StepStatus::Failed));
        assert_eq!(state.step_status(Step::Upload), None);
        assert!(!pipeline.run_dir().join("training-data.jsonl").exists());
    }
    // Nothing reached AWS: no Bedrock call, no bucket.
    let emulator = harness.emulator();
    assert!(emulator.calls.is_empty(), "{:?}", emulator.calls);
    let buckets = harness.clients.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty(), "{:?}", buckets.buckets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_job_falls_back_to_on_demand_calls_or_fails_the_run() {
    let faults = Faults {
        fail_batch_job: true,
        ..Faults::default()
    };
    let harness = Harness::start(Quality::Worse, faults).await;
    let batch = |retry: bool| {
        harness.nova_config(&format!(
            "mode = \"batch\"\nbatch_min_records = 5\nretry_failed_on_demand = {retry}"
        ))
    };

    // Retried: every prompt on demand, each under its own id, and the report says why.
    let mut pipeline = harness.pipeline(batch(true));
    let report = pipeline.execute().await.unwrap();
    let emulator = harness.emulator();
    assert_eq!(emulator.batch_jobs.len(), 1);
    assert_eq!(emulator.batch_jobs[0].status, "Failed");
    assert_eq!(
        emulator.invocations.get("amazon.nova-micro-v1:0"),
        Some(&11)
    );
    assert_eq!(report.outcome.as_ref().unwrap().scored, 11);
    let references = references();
    for line in jsonl(&harness.object(&report.objects["base-outputs"]).await) {
        let id = line["id"].as_str().unwrap();
        assert_eq!(
            line["completion"],
            bedrock_emulator::good_answer(&references[id])
        );
    }
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("ended Failed") && n.contains("run on demand")),
        "{:?}",
        report.notes
    );

    // Not retried: the run fails at the inference step, naming the job, and deletes what serves the custom model.
    let mut pipeline = harness.pipeline(batch(false));
    let error = pipeline.execute().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Runtime);
    assert!(
        error.to_string().starts_with("batch inference job arn:")
            && error.to_string().contains("ended Failed"),
        "{error}"
    );
    assert_eq!(
        pipeline.state().step_status(Step::Inference),
        Some(StepStatus::Failed)
    );
    let emulator = harness.emulator();
    assert_eq!(emulator.batch_jobs.len(), 2);
    assert!(emulator.live_deployments().is_empty() && emulator.live_throughputs().is_empty());
    // No second on-demand round for the failed run's base prompts.
    assert_eq!(
        emulator.invocations.get("amazon.nova-micro-v1:0"),
        Some(&11)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_create_falls_back_to_on_demand_in_auto_mode() {
    // The emulator keeps Bedrock's minimum of 100 records per job; the config believes 5 is enough, so the
    // 11-prompt job is refused (ValidationException) after the input upload.
    let harness = Harness::with_emulator(emulator_config(
        Quality::Better,
        Faults::default(),
        |config| config.deployment_duration = Duration::from_millis(300),
    ))
    .await;
    let mut pipeline = harness.pipeline(harness.nova_config("batch_min_records = 5"));
    let report = pipeline.execute().await.unwrap();
    assert_eq!(report.status, RunStatus::Succeeded);
    let requests = harness.stack.bedrock.requests();
    let creates: Vec<u16> = requests
        .iter()
        .filter(|r| r.operation == "CreateModelInvocationJob")
        .map(|r| r.status)
        .collect();
    assert_eq!(creates, [400], "one create, refused, never sent again");
    let base_calls = requests
        .iter()
        .filter(|r| {
            r.operation == "InvokeModel" && r.model_id.as_deref() == Some("amazon.nova-micro-v1:0")
        })
        .count();
    assert_eq!(base_calls, 11, "every base prompt on demand");
    assert!(
        pipeline
            .state()
            .notes
            .iter()
            .any(|n| n.contains("refused the base model's batch job")),
        "{:?}",
        pipeline.state().notes
    );
    assert_eq!(
        journal_details(&pipeline, "inference", "batch-job-refused").len(),
        1
    );
    // Nothing left to stop.
    let job = pipeline.state().resources.batch_job.clone().unwrap();
    assert!(!job.may_run(), "{job:?}");

    // `mode = "batch"` asked for the job itself: the refusal fails the run.
    let mut forced =
        harness.pipeline(harness.nova_config("mode = \"batch\"\nbatch_min_records = 5"));
    let error = forced.execute().await.unwrap_err();
    assert!(
        error.to_string().contains("CreateModelInvocationJob"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_above_the_per_job_maximum_run_as_several_jobs_joined_by_record_id() {
    // Bedrock's per-job maximum set to 6 in the emulator (and told to the run): 11 prompts are two jobs, 6 + 5,
    // each written back shuffled.
    let faults = Faults {
        batch_shuffle: true,
        ..Faults::default()
    };
    // A worse custom model: the base model gives the good answers checked below.
    let harness = Harness::with_emulator(emulator_config(Quality::Worse, faults, |config| {
        config.deployment_duration = Duration::from_millis(300);
        config.batch_duration = Duration::from_millis(300);
        config.batch_min_records = 3;
        config.batch_max_records = 6;
    }))
    .await;
    let config =
        harness.nova_config("mode = \"batch\"\nbatch_min_records = 3\nbatch_max_records = 6");
    let mut pipeline = harness.pipeline(config);
    let report = pipeline.execute().await.unwrap();
    assert!(report.outcome.is_some(), "{report:?}");
    let run_id = pipeline.run_id().to_owned();

    let emulator = harness.emulator();
    let jobs: Vec<(String, Option<String>, usize)> = emulator
        .batch_jobs
        .iter()
        .map(|j| {
            (
                j.job_name.clone(),
                j.client_request_token.clone(),
                j.records,
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [
            (
                format!("bertscore-{run_id}-base"),
                Some(format!("{run_id}-batch")),
                6
            ),
            (
                format!("bertscore-{run_id}-base-p1"),
                Some(format!("{run_id}-batch-p1")),
                5
            ),
        ]
    );
    assert_eq!(emulator.calls.get("CreateModelInvocationJob"), Some(&2));
    assert_eq!(
        emulator.invocations.get("amazon.nova-micro-v1:0"),
        None,
        "no prompt on demand"
    );
    let state = pipeline.state();
    assert_eq!(state.resources.batch_parts_done.len(), 1);
    assert_eq!(state.resources.batch_job.as_ref().unwrap().part, 1);
    assert_eq!(
        journal_details(&pipeline, "inference", "batch-part-finished").len(),
        2
    );

    // Every item has its own answer under its own id, across both parts.
    assert_base_outputs_are_good_answers(&harness, &report).await;
}

/// The base model's outputs in S3: all 11 items, each the emulator's good answer for its own reference.
async fn assert_base_outputs_are_good_answers(
    harness: &Harness,
    report: &bertscore_pipeline::Report,
) {
    let references = references();
    let base = jsonl(&harness.object(&report.objects["base-outputs"]).await);
    assert_eq!(base.len(), 11);
    for line in &base {
        let id = line["id"].as_str().unwrap();
        assert_eq!(
            line["completion"],
            bedrock_emulator::good_answer(&references[id]),
            "item {id}"
        );
    }
}
