//! The real `aws-sdk-bedrock` and `aws-sdk-bedrockruntime` clients against the emulator:
//! every response here went through the SDKs' own deserializers and error mapping.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::types::{
    CustomizationType, OutputDataConfig, ProvisionedModelStatus, TrainingDataConfig,
};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_emulator::{EmulatorConfig, EmulatorState, Faults, Quality};
use common::{
    COHERE_CUSTOMIZE, control_client, eventually, runtime_client, runtime_client_with, start_legacy,
};
use serde_json::{Value, json};

const PROMPT: &str = "Summarize the following conversation.\n\n#Person1#: Where are my keys? I left them on the table this morning.\n#Person2#: They are in the drawer.";
const REFERENCE: &str =
    "#Person1# is looking for the keys and #Person2# knows they are in the drawer.";
/// The first dialogue turn cut to 12 words: what a model without the answer gives.
const WEAK: &str = "#Person1#: Where are my keys? I left them on the table this";
const BASE_MODEL: &str = "cohere.command-light-text-v14";
/// The id CreateModelCustomizationJob takes for the AWS sample's (end-of-life) Cohere Command Light.
const CUSTOMIZE: &str = COHERE_CUSTOMIZE;

fn fast_config() -> EmulatorConfig {
    EmulatorConfig {
        job_duration: Duration::from_millis(200),
        pt_duration: Duration::from_millis(200),
        custom_quality: Quality::Better,
        answers: HashMap::from([(PROMPT.to_owned(), REFERENCE.to_owned())]),
        faults: Faults::default(),
        ..EmulatorConfig::default()
    }
}

async fn create_job(
    client: &aws_sdk_bedrock::Client,
    name: &str,
    token: &str,
) -> Result<String, aws_sdk_bedrock::Error> {
    let out = client
        .create_model_customization_job()
        .job_name(name)
        .custom_model_name(format!("{name}-model"))
        .role_arn("arn:aws:iam::123456789012:role/bedrock-customization")
        .base_model_identifier(CUSTOMIZE)
        .customization_type(CustomizationType::FineTuning)
        .hyper_parameters("epochCount", "1")
        .training_data_config(
            TrainingDataConfig::builder()
                .s3_uri("s3://bucket/train.jsonl")
                .build(),
        )
        .output_data_config(
            OutputDataConfig::builder()
                .s3_uri("s3://bucket/output/")
                .build()
                .unwrap(),
        )
        .client_request_token(token)
        .send()
        .await?;
    Ok(out.job_arn)
}

/// Creates a job, waits for its custom model, and returns the model ARN.
async fn trained_model(client: &aws_sdk_bedrock::Client, name: &str) -> String {
    let job_arn = create_job(client, name, &format!("{name}-token"))
        .await
        .unwrap();
    eventually("job completion", async || {
        let job = client
            .get_model_customization_job()
            .job_identifier(&job_arn)
            .send()
            .await
            .unwrap();
        job.output_model_arn().map(str::to_owned)
    })
    .await
}

/// Creates a provisioned throughput for `model` and waits until it is InService.
async fn serving_pt(client: &aws_sdk_bedrock::Client, model: &str, name: &str) -> String {
    let pt_arn = client
        .create_provisioned_model_throughput()
        .model_id(model)
        .provisioned_model_name(name)
        .model_units(1)
        .client_request_token(format!("{name}-token"))
        .send()
        .await
        .unwrap()
        .provisioned_model_arn;
    eventually("PT in service", async || {
        let pt = client
            .get_provisioned_model_throughput()
            .provisioned_model_id(&pt_arn)
            .send()
            .await
            .unwrap();
        (pt.status == ProvisionedModelStatus::InService).then_some(())
    })
    .await;
    pt_arn
}

async fn invoke(
    runtime: &aws_sdk_bedrockruntime::Client,
    model: &str,
    body: Value,
) -> Result<Value, aws_sdk_bedrockruntime::Error> {
    let out = runtime
        .invoke_model()
        .model_id(model)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await?;
    assert_eq!(out.content_type, "application/json");
    Ok(serde_json::from_slice(out.body.as_ref()).unwrap())
}

async fn cohere_text(
    runtime: &aws_sdk_bedrockruntime::Client,
    model: &str,
    prompt: &str,
) -> Result<String, aws_sdk_bedrockruntime::Error> {
    let body = invoke(
        runtime,
        model,
        json!({ "prompt": prompt, "max_tokens": 200 }),
    )
    .await?;
    Ok(body["generations"][0]["text"]
        .as_str()
        .expect("cohere text")
        .to_owned())
}

/// GET/POST on the emulator's test endpoints with a plain HTTP client.
async fn http(method: &'static str, url: String, body: Option<Value>) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let request = ureq::request(method, &url);
        let result = match body {
            Some(body) => request
                .set("content-type", "application/json")
                .send_string(&body.to_string()),
            None => request.call(),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        let status = response.status();
        (
            status,
            serde_json::from_str(&response.into_string().unwrap()).unwrap(),
        )
    })
    .await
    .unwrap()
}

// ---- control plane ----

#[tokio::test]
async fn customization_job_completes_and_its_token_is_idempotent() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let client = control_client(&emulator);

    let arn = create_job(&client, "job-a", "token-a").await.unwrap();
    assert!(
        arn.starts_with("arn:aws:bedrock:us-east-1:123456789012:model-customization-job/"),
        "{arn}"
    );
    let again = create_job(&client, "job-a", "token-a").await.unwrap();
    assert_eq!(
        again, arn,
        "same clientRequestToken must return the same job"
    );
    assert_eq!(emulator.state().jobs.len(), 1);

    let job = client
        .get_model_customization_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        job.status(),
        Some(&aws_sdk_bedrock::types::ModelCustomizationJobStatus::InProgress)
    );
    assert_eq!(job.job_name, "job-a");
    assert_eq!(job.output_model_name, "job-a-model");
    assert_eq!(
        job.base_model_arn,
        format!("arn:aws:bedrock:us-east-1::foundation-model/{CUSTOMIZE}")
    );
    assert_eq!(job.client_request_token(), Some("token-a"));
    assert_eq!(
        job.training_data_config().and_then(|c| c.s3_uri()),
        Some("s3://bucket/train.jsonl")
    );
    assert!(job.output_model_arn().is_none());
    assert!(
        job.creation_time.secs() > 1_700_000_000,
        "creationTime is now, not the epoch"
    );

    // A second job with the same name but another token is a conflict, not a duplicate.
    let err = create_job(&client, "job-a", "token-b").await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_bedrock::Error::ConflictException(_)),
        "{err:?}"
    );

    let model_arn = eventually("job completion", async || {
        let job = client
            .get_model_customization_job()
            .job_identifier("job-a")
            .send()
            .await
            .unwrap();
        (job.status() == Some(&aws_sdk_bedrock::types::ModelCustomizationJobStatus::Completed))
            .then(|| job.output_model_arn().unwrap().to_owned())
    })
    .await;
    assert!(model_arn.contains(":custom-model/"), "{model_arn}");

    let model = client
        .get_custom_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(model.model_name, "job-a-model");
    assert_eq!(model.job_arn(), Some(arn.as_str()));
    let by_name = client
        .get_custom_model()
        .model_identifier("job-a-model")
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.model_arn, model_arn);

    let listed = client.list_model_customization_jobs().send().await.unwrap();
    let summaries = listed.model_customization_job_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].custom_model_arn(), Some(model_arn.as_str()));

    let state = emulator.state();
    assert_eq!(state.jobs[0].status, "Completed");
    assert_eq!(
        state.jobs[0].client_request_token.as_deref(),
        Some("token-a")
    );
    assert_eq!(
        state.jobs[0].output_model_arn.as_deref(),
        Some(model_arn.as_str())
    );
    assert_eq!(state.jobs[0].base_model_identifier, CUSTOMIZE);
    assert_eq!(state.custom_models.len(), 1);
    assert_eq!(state.calls["CreateModelCustomizationJob"], 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn unknown_job_is_resource_not_found() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let client = control_client(&emulator);
    let err = client
        .get_model_customization_job()
        .job_identifier(
            "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-micro-v1:0:128k/nopenopenope",
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(err.message().unwrap().contains("nope"));
}

#[tokio::test]
async fn fail_next_job_fails_exactly_one_job() {
    let mut config = fast_config();
    config.faults.fail_next_job = true;
    let emulator = start_legacy(config).await.unwrap();
    let client = control_client(&emulator);

    let failing = create_job(&client, "doomed", "t1").await.unwrap();
    let healthy = create_job(&client, "fine", "t2").await.unwrap();
    let failed = eventually("job failure", async || {
        let job = client
            .get_model_customization_job()
            .job_identifier(&failing)
            .send()
            .await
            .unwrap();
        (job.status() != Some(&aws_sdk_bedrock::types::ModelCustomizationJobStatus::InProgress))
            .then_some(job)
    })
    .await;
    assert_eq!(
        failed.status(),
        Some(&aws_sdk_bedrock::types::ModelCustomizationJobStatus::Failed)
    );
    assert!(failed.failure_message().is_some_and(|m| !m.is_empty()));
    assert!(failed.output_model_arn().is_none());

    let model = eventually("second job", async || {
        let job = client
            .get_model_customization_job()
            .job_identifier(&healthy)
            .send()
            .await
            .unwrap();
        job.output_model_arn().map(str::to_owned)
    })
    .await;
    assert!(!model.is_empty());
    assert!(
        !emulator.config().faults.fail_next_job,
        "the fault is one-shot"
    );
    assert_eq!(emulator.state().custom_models.len(), 1);
}

#[tokio::test]
async fn provisioned_throughput_lifecycle_list_and_delete() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let client = control_client(&emulator);
    let model_arn = trained_model(&client, "pt-job").await;

    let create = || {
        client
            .create_provisioned_model_throughput()
            .model_id(&model_arn)
            .provisioned_model_name("pt-1")
            .model_units(1)
            .client_request_token("pt-token")
            .send()
    };
    let pt_arn = create().await.unwrap().provisioned_model_arn;
    assert_eq!(
        create().await.unwrap().provisioned_model_arn,
        pt_arn,
        "idempotent token"
    );
    assert_eq!(emulator.state().provisioned_throughputs.len(), 1);

    let pt = client
        .get_provisioned_model_throughput()
        .provisioned_model_id(&pt_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(pt.status, ProvisionedModelStatus::Creating);
    assert_eq!(pt.model_arn, model_arn);
    assert_eq!(pt.provisioned_model_name, "pt-1");
    assert_eq!(pt.model_units, 1);
    assert_eq!(
        pt.foundation_model_arn,
        format!("arn:aws:bedrock:us-east-1::foundation-model/{CUSTOMIZE}")
    );

    eventually("PT in service", async || {
        let pt = client
            .get_provisioned_model_throughput()
            .provisioned_model_id("pt-1")
            .send()
            .await
            .unwrap();
        (pt.status == ProvisionedModelStatus::InService).then_some(())
    })
    .await;

    let listed = client
        .list_provisioned_model_throughputs()
        .send()
        .await
        .unwrap();
    let summaries = listed.provisioned_model_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].provisioned_model_arn, pt_arn);
    assert_eq!(summaries[0].status, ProvisionedModelStatus::InService);
    let filtered = client
        .list_provisioned_model_throughputs()
        .status_equals(ProvisionedModelStatus::Creating)
        .send()
        .await
        .unwrap();
    assert!(filtered.provisioned_model_summaries().is_empty());

    // The custom model cannot go while a throughput serves it.
    let err = client
        .delete_custom_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_conflict_exception(), "{err:?}");

    client
        .delete_provisioned_model_throughput()
        .provisioned_model_id(&pt_arn)
        .send()
        .await
        .unwrap();
    let err = client
        .get_provisioned_model_throughput()
        .provisioned_model_id(&pt_arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let err = client
        .delete_provisioned_model_throughput()
        .provisioned_model_id(&pt_arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(
        client
            .list_provisioned_model_throughputs()
            .send()
            .await
            .unwrap()
            .provisioned_model_summaries()
            .is_empty()
    );

    client
        .delete_custom_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .unwrap();
    let err = client
        .get_custom_model()
        .model_identifier(&model_arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let state = emulator.state();
    assert!(state.provisioned_throughputs[0].deleted);
    assert_eq!(state.provisioned_throughputs[0].status, "InService");
    assert!(state.custom_models[0].deleted);
    assert_eq!(state.calls["DeleteProvisionedModelThroughput"], 2);
}

#[tokio::test]
async fn provisioned_throughput_faults() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let client = control_client(&emulator);
    let model_arn = trained_model(&client, "fault-job").await;

    let mut config = fast_config();
    config.faults.fail_pt_create = true;
    emulator.set_config(config.clone());
    let err = client
        .create_provisioned_model_throughput()
        .model_id(&model_arn)
        .provisioned_model_name("refused")
        .model_units(1)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_service_quota_exceeded_exception(), "{err:?}");
    assert!(emulator.state().provisioned_throughputs.is_empty());

    config.faults.fail_pt_create = false;
    config.faults.pt_fails = true;
    emulator.set_config(config);
    let pt_arn = client
        .create_provisioned_model_throughput()
        .model_id(&model_arn)
        .provisioned_model_name("broken")
        // No commitment term: one model unit (the catalog's rule).
        .model_units(1)
        .send()
        .await
        .unwrap()
        .provisioned_model_arn;
    let pt = eventually("PT failure", async || {
        let pt = client
            .get_provisioned_model_throughput()
            .provisioned_model_id(&pt_arn)
            .send()
            .await
            .unwrap();
        (pt.status != ProvisionedModelStatus::Creating).then_some(pt)
    })
    .await;
    assert_eq!(pt.status, ProvisionedModelStatus::Failed);
    assert!(pt.failure_message().is_some());

    // A throughput that is not InService cannot be invoked.
    let runtime = runtime_client(&emulator);
    let err = runtime
        .invoke_model()
        .model_id(&pt_arn)
        .body(Blob::new(br#"{"prompt":"hi"}"#.to_vec()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");

    let unknown = client
        .create_provisioned_model_throughput()
        .model_id("arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/abcdefabcdef")
        .provisioned_model_name("nothing")
        .model_units(1)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(unknown.is_resource_not_found_exception(), "{unknown:?}");
}

// ---- runtime ----

#[tokio::test]
async fn invoke_model_speaks_each_family() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let runtime = runtime_client(&emulator);

    let cohere = invoke(
        &runtime,
        "cohere.command-text-v14",
        json!({ "prompt": PROMPT }),
    )
    .await
    .unwrap();
    assert_eq!(cohere["generations"][0]["text"], WEAK);

    let titan = invoke(
        &runtime,
        "amazon.titan-text-express-v1",
        json!({ "inputText": PROMPT, "textGenerationConfig": { "maxTokenCount": 100 } }),
    )
    .await
    .unwrap();
    assert_eq!(titan["results"][0]["outputText"], WEAK);

    let llama = invoke(
        &runtime,
        "meta.llama3-1-8b-instruct-v1:0",
        json!({ "prompt": PROMPT, "max_gen_len": 100 }),
    )
    .await
    .unwrap();
    assert_eq!(llama["generation"], WEAK);

    // A foundation-model ARN works like its id.
    let by_arn = invoke(
        &runtime,
        "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-1-8b-instruct-v1:0",
        json!({ "prompt": "Say hello" }),
    )
    .await
    .unwrap();
    assert_eq!(by_arn["generation"], "Say hello");

    // A body of the wrong family is a validation error, as on Bedrock.
    let err = invoke(
        &runtime,
        "amazon.titan-text-express-v1",
        json!({ "prompt": PROMPT }),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, aws_sdk_bedrockruntime::Error::ValidationException(_)),
        "{err:?}"
    );

    let state = emulator.state();
    assert_eq!(state.calls["InvokeModel"], 5);
    assert_eq!(state.invocations["meta.llama3-1-8b-instruct-v1:0"], 1);
}

#[tokio::test]
async fn converse_returns_an_assistant_message() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let runtime = runtime_client(&emulator);
    let out = runtime
        .converse()
        .model_id("amazon.titan-text-express-v1")
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(PROMPT.to_owned()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let message = out.output().unwrap().as_message().unwrap();
    assert_eq!(message.role, ConversationRole::Assistant);
    assert_eq!(message.content[0].as_text().unwrap(), WEAK);
    assert_eq!(
        out.stop_reason,
        aws_sdk_bedrockruntime::types::StopReason::EndTurn
    );
    let usage = out.usage().unwrap();
    assert_eq!(usage.output_tokens, WEAK.split_whitespace().count() as i32);
    assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);
    assert_eq!(emulator.state().calls["Converse"], 1);
}

/// Trains a model, serves it, and asks both it and its base model the answer-key prompt.
async fn custom_and_base_answers(quality: Quality) -> (String, String) {
    let mut config = fast_config();
    config.custom_quality = quality;
    let emulator = start_legacy(config).await.unwrap();
    let client = control_client(&emulator);
    let runtime = runtime_client(&emulator);
    let model_arn = trained_model(&client, "quality-job").await;
    let pt_arn = serving_pt(&client, &model_arn, "quality-pt").await;

    let custom = cohere_text(&runtime, &pt_arn, PROMPT).await.unwrap();
    let base = cohere_text(&runtime, BASE_MODEL, PROMPT).await.unwrap();
    // Invoking the custom model without its throughput is refused, as on Bedrock.
    let err = cohere_text(&runtime, &model_arn, PROMPT).await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_bedrockruntime::Error::ValidationException(_)),
        "{err:?}"
    );
    assert_eq!(emulator.state().invocations[&pt_arn], 1);
    (custom, base)
}

#[tokio::test]
async fn better_custom_model_returns_a_close_paraphrase_of_the_reference() {
    assert_eq!(
        custom_and_base_answers(Quality::Better).await,
        (bedrock_emulator::good_answer(REFERENCE), WEAK.to_owned())
    );
}

#[tokio::test]
async fn worse_custom_model_returns_the_weak_answer() {
    assert_eq!(
        custom_and_base_answers(Quality::Worse).await,
        (WEAK.to_owned(), bedrock_emulator::good_answer(REFERENCE))
    );
}

#[tokio::test]
async fn same_quality_gives_identical_answers() {
    assert_eq!(
        custom_and_base_answers(Quality::Same).await,
        (WEAK.to_owned(), WEAK.to_owned())
    );
}

#[tokio::test]
async fn throttling_surfaces_without_retries_and_is_survived_with_standard_retries() {
    let mut config = fast_config();
    config.faults.throttle_first = 2;
    let emulator = start_legacy(config.clone()).await.unwrap();

    let plain = runtime_client(&emulator);
    for _ in 0..2 {
        let err = cohere_text(&plain, BASE_MODEL, PROMPT).await.unwrap_err();
        assert!(
            matches!(err, aws_sdk_bedrockruntime::Error::ThrottlingException(_)),
            "{err:?}"
        );
    }
    assert_eq!(cohere_text(&plain, BASE_MODEL, PROMPT).await.unwrap(), WEAK);

    emulator.set_config(config); // restarts the fault counter
    let retrying = runtime_client_with(
        &emulator,
        aws_sdk_bedrockruntime::config::retry::RetryConfig::standard()
            .with_max_attempts(4)
            .with_initial_backoff(Duration::from_millis(5)),
    );
    assert_eq!(
        cohere_text(&retrying, BASE_MODEL, PROMPT).await.unwrap(),
        WEAK
    );
    let state = emulator.state();
    assert_eq!(
        state.calls["InvokeModel"],
        3 + 3,
        "2 throttled + 1 ok, twice"
    );
    assert_eq!(state.invocations[BASE_MODEL], 2);
}

#[tokio::test]
async fn server_errors_map_to_internal_and_unavailable() {
    let mut config = fast_config();
    config.faults.server_error_first = 2;
    let emulator = start_legacy(config).await.unwrap();
    let runtime = runtime_client(&emulator);
    let first = cohere_text(&runtime, BASE_MODEL, PROMPT).await.unwrap_err();
    assert!(
        matches!(
            first,
            aws_sdk_bedrockruntime::Error::InternalServerException(_)
        ),
        "{first:?}"
    );
    let second = runtime
        .converse()
        .model_id(BASE_MODEL)
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("hi".into()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(second.is_service_unavailable_exception(), "{second:?}");
    assert_eq!(
        cohere_text(&runtime, BASE_MODEL, PROMPT).await.unwrap(),
        WEAK
    );
}

#[tokio::test]
async fn poisoned_prompts_fail_permanently() {
    let mut config = fast_config();
    config.faults.fail_prompts_containing = Some("keys".to_owned());
    let emulator = start_legacy(config).await.unwrap();
    let runtime = runtime_client_with(
        &emulator,
        aws_sdk_bedrockruntime::config::retry::RetryConfig::standard()
            .with_initial_backoff(Duration::from_millis(5)),
    );
    let err = cohere_text(&runtime, BASE_MODEL, PROMPT).await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_bedrockruntime::Error::ValidationException(_)),
        "{err:?}"
    );
    assert_eq!(
        emulator.state().calls["InvokeModel"],
        1,
        "validation errors are not retried"
    );
    assert_eq!(
        cohere_text(&runtime, BASE_MODEL, "Say hello")
            .await
            .unwrap(),
        "Say hello"
    );
}

// ---- test endpoints ----

#[tokio::test]
async fn state_and_config_endpoints() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let client = control_client(&emulator);
    let job_arn = create_job(&client, "http-job", "http-token").await.unwrap();

    let (status, body) = http(
        "GET",
        format!("{}/_emulator/state", emulator.endpoint()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["jobs"][0]["jobArn"], job_arn.as_str());
    assert_eq!(body["jobs"][0]["jobName"], "http-job");
    assert_eq!(body["jobs"][0]["clientRequestToken"], "http-token");
    assert_eq!(body["calls"]["CreateModelCustomizationJob"], 1);
    let parsed: EmulatorState = serde_json::from_value(body).unwrap();
    assert_eq!(parsed.jobs[0].job_arn, job_arn);

    // Faults can be switched over HTTP; the answer key survives when not resent.
    let (status, config) = http(
        "POST",
        format!("{}/_emulator/config", emulator.endpoint()),
        Some(json!({ "job_duration_s": 0.05, "custom_quality": "worse", "faults": { "throttle_first": 1 } })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(config["custom_quality"], "worse");
    let current = emulator.config();
    assert_eq!(current.job_duration, Duration::from_millis(50));
    assert_eq!(current.custom_quality, Quality::Worse);
    assert_eq!(current.faults.throttle_first, 1);
    assert_eq!(
        current.answers.get(PROMPT).map(String::as_str),
        Some(REFERENCE)
    );
    let runtime = runtime_client(&emulator);
    let err = cohere_text(&runtime, BASE_MODEL, PROMPT).await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_bedrockruntime::Error::ThrottlingException(_)),
        "{err:?}"
    );
    // Worse: the base model now knows the reference.
    assert_eq!(
        cohere_text(&runtime, BASE_MODEL, PROMPT).await.unwrap(),
        bedrock_emulator::good_answer(REFERENCE)
    );

    let (status, error) = http(
        "POST",
        format!("{}/_emulator/config", emulator.endpoint()),
        Some(json!({ "custom_quality": "great" })),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error["message"].as_str().unwrap().contains("great"));

    let (status, _) = http(
        "POST",
        format!("{}/_emulator/reset", emulator.endpoint()),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(emulator.state().jobs.is_empty());
}

/// DNS rebinding: a page served from another host name that resolves to 127.0.0.1 sends its own `Host`. The test
/// endpoints answer only a loopback `Host` with the emulator's port (403 otherwise), reads included.
#[tokio::test]
async fn the_test_endpoints_answer_only_a_loopback_host() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let port = emulator.local_addr().port();
    for (host, expected) in [
        (format!("127.0.0.1:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("rebind.example:{port}"), 403),
        (format!("127.0.0.1:{}", port.wrapping_add(1)), 403),
    ] {
        let url = format!("{}/_emulator/state", emulator.endpoint());
        let status = tokio::task::spawn_blocking({
            let host = host.clone();
            move || match ureq::get(&url).set("Host", &host).call() {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
                Err(e) => panic!("GET {url}: {e}"),
            }
        })
        .await
        .unwrap();
        assert_eq!(status, expected, "Host: {host}");
    }
}

/// What a web page can send without a CORS preflight: a `text/plain` or form POST. The emulator refuses it.
#[tokio::test]
async fn a_page_cannot_reconfigure_or_reset_the_emulator() {
    let emulator = start_legacy(fast_config()).await.unwrap();
    let client = control_client(&emulator);
    create_job(&client, "kept-job", "kept-token").await.unwrap();
    let before = emulator.config();
    let body =
        json!({ "custom_quality": "worse", "faults": { "fail_next_job": true } }).to_string();
    for (path, content_type) in [
        ("config", Some("text/plain")),
        ("config", Some("text/plain;charset=UTF-8")),
        ("config", Some("application/x-www-form-urlencoded")),
        ("config", None),
        ("reset", Some("text/plain")),
        ("reset", None),
    ] {
        let url = format!("{}/_emulator/{path}", emulator.endpoint());
        let body = body.clone();
        let (status, answer) = tokio::task::spawn_blocking(move || {
            let mut request = ureq::post(&url);
            if let Some(content_type) = content_type {
                request = request.set("content-type", content_type);
            }
            let response = match request.send_string(&body) {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("POST {url}: {e}"),
            };
            let status = response.status();
            let answer: Value = serde_json::from_str(&response.into_string().unwrap()).unwrap();
            (status, answer)
        })
        .await
        .unwrap();
        assert_eq!(status, 415, "{path} with {content_type:?}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{answer}"
        );
    }
    let after = emulator.config();
    assert_eq!(after.custom_quality, before.custom_quality);
    assert_eq!(after.faults.fail_next_job, before.faults.fail_next_job);
    assert_eq!(emulator.state().jobs.len(), 1, "the state was reset");
    // A JSON POST still works (the tools and tests use it).
    let (status, _) = http(
        "POST",
        format!("{}/_emulator/config", emulator.endpoint()),
        Some(json!({ "custom_quality": "same" })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(emulator.config().custom_quality, Quality::Same);
}

/// The emulator never accepts any role silently: without an IAM endpoint it starts only when the config opts
/// out (`skip_role_checks`), and a later config that names neither keeps that choice.
#[tokio::test]
async fn refuses_to_start_without_an_iam_endpoint_or_an_explicit_opt_out() {
    let err = match bedrock_emulator::Emulator::start(EmulatorConfig::default()).await {
        Ok(_) => panic!("an emulator without iam_endpoint or skip_role_checks started"),
        Err(err) => err.to_string(),
    };
    assert!(err.contains("no iam_endpoint"), "{err}");
    assert!(err.contains("skip_role_checks"), "{err}");
    assert!(bedrock_emulator::router(EmulatorConfig::default()).is_err());

    let emulator = common::start(fast_config()).await.unwrap();
    assert!(emulator.config().skip_role_checks);
    emulator.set_config(fast_config());
    assert!(emulator.config().skip_role_checks);
    emulator.set_config(EmulatorConfig {
        iam_endpoint: Some("http://127.0.0.1:9".into()),
        ..fast_config()
    });
    let config = emulator.config();
    assert_eq!(config.iam_endpoint.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(config.role_checks(), Ok(Some("http://127.0.0.1:9")));
}
