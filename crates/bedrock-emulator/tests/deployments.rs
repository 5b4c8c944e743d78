//! Custom model deployments, the Nova family and candidate rules through the real AWS SDK
//! clients: lifecycle, idempotency, faults, invocation with the deployment ARN, serving history.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_bedrock::operation::create_custom_model_deployment::CreateCustomModelDeploymentError;
use aws_sdk_bedrock::operation::delete_custom_model::DeleteCustomModelError;
use aws_sdk_bedrock::operation::get_custom_model_deployment::GetCustomModelDeploymentError;
use aws_sdk_bedrock::types::CustomModelDeploymentStatus;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use bedrock_emulator::candidates::answers_well;
use bedrock_emulator::{
    EmulatorConfig, Faults, Quality, ServingEventKind, ServingKind, good_answer,
};
use common::*;

const PROMPT: &str = "Summarize the following conversation.\n\n#Person1#: Where are my keys? I left them on the table this morning.\n#Person2#: They are in the drawer.";
const REFERENCE: &str =
    "#Person1# is looking for the keys and #Person2# knows they are in the drawer.";
const WEAK: &str = "#Person1#: Where are my keys? I left them on the table this";

fn config() -> EmulatorConfig {
    EmulatorConfig {
        job_duration: Duration::from_millis(100),
        pt_duration: Duration::from_millis(100),
        deployment_duration: Duration::from_millis(300),
        custom_quality: Quality::Better,
        answers: HashMap::from([(PROMPT.to_owned(), REFERENCE.to_owned())]),
        ..EmulatorConfig::default()
    }
}

async fn create_deployment(
    client: &aws_sdk_bedrock::Client,
    name: &str,
    model: &str,
    token: &str,
) -> Result<String, aws_sdk_bedrock::error::SdkError<CreateCustomModelDeploymentError>> {
    Ok(client
        .create_custom_model_deployment()
        .model_deployment_name(name)
        .model_arn(model)
        .description("emulator test")
        .client_request_token(token)
        .send()
        .await?
        .custom_model_deployment_arn)
}

async fn active(client: &aws_sdk_bedrock::Client, arn: &str) -> CustomModelDeploymentStatus {
    eventually("deployment end of Creating", async || {
        let d = client
            .get_custom_model_deployment()
            .custom_model_deployment_identifier(arn)
            .send()
            .await
            .unwrap();
        (d.status != CustomModelDeploymentStatus::Creating).then_some(d.status)
    })
    .await
}

#[tokio::test]
async fn a_deployment_is_created_once_serves_the_custom_model_and_is_deleted() {
    let emulator = common::start(config()).await.unwrap();
    let client = control_client(&emulator);
    let runtime = runtime_client(&emulator);
    let model = trained_model(&client, "nova-a", NOVA_MICRO, &[("epochCount", "1")]).await;
    assert!(
        model.contains(":custom-model/amazon.nova-micro-v1:0:128k/"),
        "{model}"
    );

    let arn = create_deployment(&client, "dep-a", &model, "tok-a")
        .await
        .unwrap();
    let id = arn
        .strip_prefix("arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/")
        .unwrap_or_else(|| panic!("{arn}"));
    assert_eq!(id.len(), 12);
    assert_eq!(
        create_deployment(&client, "dep-a", &model, "tok-a")
            .await
            .unwrap(),
        arn,
        "the same clientRequestToken returns the same deployment"
    );
    let taken = create_deployment(&client, "dep-a", &model, "tok-other")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            taken,
            CreateCustomModelDeploymentError::ValidationException(_)
        ),
        "{taken:?}"
    );

    let got = client
        .get_custom_model_deployment()
        .custom_model_deployment_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status, CustomModelDeploymentStatus::Creating);
    assert_eq!(got.model_arn, model);
    assert_eq!(got.model_deployment_name, "dep-a");
    assert_eq!(got.description(), Some("emulator test"));

    let early = invoke(&runtime, &arn, &nova_body(PROMPT))
        .await
        .unwrap_err();
    assert!(
        matches!(&early, aws_sdk_bedrockruntime::Error::ValidationException(e) if e.message().unwrap_or_default().contains("is not ready: its status is Creating")),
        "{early:?}"
    );
    assert_eq!(
        active(&client, &arn).await,
        CustomModelDeploymentStatus::Active
    );

    // The deployment answers as the custom model (better than its base here), in Nova's shape.
    let response = invoke(&runtime, &arn, &nova_body(PROMPT)).await.unwrap();
    assert_eq!(nova_text(&response), good_answer(REFERENCE));
    assert_eq!(response["stopReason"], "end_turn");
    assert_eq!(
        response["usage"]["outputTokens"],
        good_answer(REFERENCE).split_whitespace().count()
    );
    let base = invoke(&runtime, "amazon.nova-micro-v1:0", &nova_body(PROMPT))
        .await
        .unwrap();
    assert_eq!(nova_text(&base), WEAK);
    let conversed = runtime
        .converse()
        .model_id(&arn)
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(PROMPT.into()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let text = conversed
        .output()
        .and_then(|o| o.as_message().ok())
        .and_then(|m| m.content().first())
        .and_then(|c| c.as_text().ok())
        .unwrap();
    assert_eq!(text, &good_answer(REFERENCE));

    let listed = client
        .list_custom_model_deployments()
        .status_equals(CustomModelDeploymentStatus::Active)
        .send()
        .await
        .unwrap();
    let summaries = listed.model_deployment_summaries();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].custom_model_deployment_arn, arn);
    assert_eq!(summaries[0].custom_model_deployment_name, "dep-a");

    let in_use = client
        .delete_custom_model()
        .model_identifier(&model)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(in_use, DeleteCustomModelError::ConflictException(_)),
        "{in_use:?}"
    );

    client
        .delete_custom_model_deployment()
        .custom_model_deployment_identifier(&arn)
        .send()
        .await
        .unwrap();
    let gone = client
        .get_custom_model_deployment()
        .custom_model_deployment_identifier(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            gone,
            GetCustomModelDeploymentError::ResourceNotFoundException(_)
        ),
        "{gone:?}"
    );
    let after = invoke(&runtime, &arn, &nova_body(PROMPT))
        .await
        .unwrap_err();
    assert!(
        matches!(
            after,
            aws_sdk_bedrockruntime::Error::ResourceNotFoundException(_)
        ),
        "{after:?}"
    );
    client
        .delete_custom_model()
        .model_identifier(&model)
        .send()
        .await
        .unwrap();

    let state = emulator.state();
    assert_eq!(state.custom_model_deployments.len(), 1);
    let d = &state.custom_model_deployments[0];
    assert_eq!(
        (
            d.arn.as_str(),
            d.name.as_str(),
            d.model_arn.as_str(),
            d.status.as_str()
        ),
        (arn.as_str(), "dep-a", model.as_str(), "Active")
    );
    assert_eq!(d.client_request_token.as_deref(), Some("tok-a"));
    assert!(d.deleted);
    assert_eq!(state.call_count("CreateCustomModelDeployment"), 3);
    let events: Vec<_> = state
        .serving_history
        .iter()
        .map(|e| (e.kind, e.arn.as_str(), e.event))
        .collect();
    assert_eq!(
        events,
        vec![
            (
                ServingKind::Deployment,
                arn.as_str(),
                ServingEventKind::Created
            ),
            (
                ServingKind::Deployment,
                arn.as_str(),
                ServingEventKind::Deleted
            ),
        ]
    );
    assert!(state.serving_history[0].at_ms <= state.serving_history[1].at_ms);
    assert_eq!(state.max_concurrent_servings(), 1);
}

#[tokio::test]
async fn deployment_faults_and_non_nova_models_are_refused() {
    let emulator = start_legacy(config()).await.unwrap();
    let client = control_client(&emulator);
    let nova = trained_model(&client, "nova-b", NOVA_MICRO, &[]).await;
    let cohere = trained_model(&client, "cohere-b", COHERE_CUSTOMIZE, &[]).await;

    // Nova fine-tunes its context-length variants only.
    let not_customizable = create_job(&client, "nova-plain", "amazon.nova-micro-v1:0", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&not_customizable, aws_sdk_bedrock::Error::ValidationException(e) if e.message().unwrap_or_default().contains("does not support fine-tuning")),
        "{not_customizable:?}"
    );

    let refused = create_deployment(&client, "dep-cohere", &cohere, "t1")
        .await
        .unwrap_err()
        .into_service_error();
    match &refused {
        CreateCustomModelDeploymentError::ValidationException(e) => assert!(
            e.message()
                .unwrap_or_default()
                .contains("On-demand deployment is not supported"),
            "{e:?}"
        ),
        other => panic!("{other:?}"),
    }
    let missing = create_deployment(
        &client,
        "dep-missing",
        "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-micro-v1:0:128k/000000000000",
        "t2",
    )
    .await
    .unwrap_err()
    .into_service_error();
    assert!(
        matches!(
            missing,
            CreateCustomModelDeploymentError::ResourceNotFoundException(_)
        ),
        "{missing:?}"
    );

    emulator.set_config(EmulatorConfig {
        faults: Faults {
            fail_deployment_create: true,
            ..Faults::default()
        },
        ..config()
    });
    let quota = create_deployment(&client, "dep-q", &nova, "t3")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(
            quota,
            CreateCustomModelDeploymentError::ServiceQuotaExceededException(_)
        ),
        "{quota:?}"
    );

    emulator.set_config(EmulatorConfig {
        faults: Faults {
            deployment_fails: true,
            ..Faults::default()
        },
        ..config()
    });
    let arn = create_deployment(&client, "dep-f", &nova, "t4")
        .await
        .unwrap();
    assert_eq!(
        active(&client, &arn).await,
        CustomModelDeploymentStatus::Failed
    );
    let failed = client
        .get_custom_model_deployment()
        .custom_model_deployment_identifier("dep-f")
        .send()
        .await
        .unwrap();
    assert!(
        failed
            .failure_message()
            .is_some_and(|m| m.contains("deployment_fails"))
    );
    let runtime = runtime_client(&emulator);
    let err = invoke(&runtime, &arn, &nova_body(PROMPT))
        .await
        .unwrap_err();
    assert!(
        matches!(err, aws_sdk_bedrockruntime::Error::ValidationException(_)),
        "{err:?}"
    );
    // Only the accepted create is a serving in the history.
    assert_eq!(emulator.state().serving_history.len(), 1);
    let nothing = invoke(&runtime, &nova, &nova_body(PROMPT))
        .await
        .unwrap_err();
    // A custom model itself is no runtime model id: it needs a deployment or a throughput (InvokeModel's
    // modelId pattern already refuses a Nova custom model's ARN).
    assert!(
        matches!(
            &nothing,
            aws_sdk_bedrockruntime::Error::ValidationException(_)
        ),
        "{nothing:?}"
    );
}

#[tokio::test]
async fn candidate_rules_fail_a_job_and_order_the_others_by_their_good_fraction() {
    let prompts: Vec<String> = (0..40)
        .map(|i| format!("Summarize the following conversation.\n\n#Person1#: Dialogue number {i} starts here.\n#Person2#: And it goes on."))
        .collect();
    let answers: HashMap<String, String> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                p.clone(),
                format!("Person one opens dialogue {i} and person two carries it further along."),
            )
        })
        .collect();
    let rules = serde_json::from_value(serde_json::json!([
        { "when": { "learningRate": "0.0001" }, "fail": true },
        { "when": { "learningRate": "0.00005", "epochCount": "2" }, "good_fraction": 0.25 },
        { "when": { "learningRate": "0.00002" }, "good_fraction": 0.75 },
    ]))
    .unwrap();
    let emulator = common::start(EmulatorConfig {
        job_duration: Duration::from_millis(100),
        pt_duration: Duration::from_millis(50),
        deployment_duration: Duration::from_millis(50),
        custom_quality: Quality::Same,
        answers: answers.clone(),
        candidate_rules: rules,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let client = control_client(&emulator);
    let runtime = runtime_client(&emulator);

    let failing = create_job(
        &client,
        "lr-high",
        NOVA_MICRO,
        &[("learningRate", "0.0001")],
    )
    .await
    .unwrap();
    let why = job_outcome(&client, &failing).await.unwrap_err();
    assert!(why.contains("candidate rule"), "{why}");
    let low = trained_model(
        &client,
        "lr-mid",
        NOVA_MICRO,
        &[("learningRate", "0.00005"), ("epochCount", "2")],
    )
    .await;
    let high = trained_model(
        &client,
        "lr-low",
        NOVA_MICRO,
        &[("learningRate", "0.00002")],
    )
    .await;
    // No rule matches: custom_quality (same as the base: weak everywhere).
    let plain = trained_model(
        &client,
        "lr-none",
        NOVA_MICRO,
        &[("learningRate", "0.00001")],
    )
    .await;

    let mut well = Vec::new();
    let mut deployments = Vec::new();
    for (i, model) in [&low, &high, &plain].into_iter().enumerate() {
        let arn = create_deployment(&client, &format!("cand-{i}"), model, &format!("cand-{i}"))
            .await
            .unwrap();
        assert_eq!(
            active(&client, &arn).await,
            CustomModelDeploymentStatus::Active
        );
        let mut good = Vec::new();
        for prompt in &prompts {
            let text = nova_text(&invoke(&runtime, &arn, &nova_body(prompt)).await.unwrap());
            good.push(text == good_answer(&answers[prompt]));
        }
        well.push(good);
        deployments.push(arn);
        if i > 0 {
            // At most two at once: delete the previous candidate's serving.
            client
                .delete_custom_model_deployment()
                .custom_model_deployment_identifier(&deployments[i - 1])
                .send()
                .await
                .unwrap();
        }
    }
    let count = |v: &[bool]| v.iter().filter(|b| **b).count();
    let expected = |f: f64| prompts.iter().filter(|p| answers_well(p, f)).count();
    assert_eq!(count(&well[0]), expected(0.25));
    assert_eq!(count(&well[1]), expected(0.75));
    assert_eq!(count(&well[2]), 0);
    assert!(
        count(&well[0]) < count(&well[1]),
        "{} vs {}",
        count(&well[0]),
        count(&well[1])
    );
    assert!((3..=18).contains(&count(&well[0])), "{}", count(&well[0]));
    assert!((22..=37).contains(&count(&well[1])), "{}", count(&well[1]));
    assert!(
        well[0].iter().zip(&well[1]).all(|(l, h)| !l || *h),
        "the larger fraction answers a superset well"
    );

    // A provisioned throughput joins the history too.
    let pt = client
        .create_provisioned_model_throughput()
        .model_id(&high)
        .provisioned_model_name("pt-high")
        .model_units(1)
        .send()
        .await
        .unwrap()
        .provisioned_model_arn;
    let state = emulator.state();
    // cand-0, cand-1 (2 live), -cand-0, cand-2 (2 live), -cand-1, pt (2 live).
    assert_eq!(
        state.max_concurrent_servings(),
        2,
        "{:?}",
        state.serving_history
    );
    assert_eq!(state.serving_history.len(), 6);
    let last = state.serving_history.last().unwrap();
    assert_eq!(
        (last.kind, last.arn.as_str()),
        (ServingKind::Throughput, pt.as_str())
    );
    assert_eq!(state.live_deployments().len(), 1);
    let job = state.jobs.iter().find(|j| j.job_name == "lr-mid").unwrap();
    assert_eq!(job.good_fraction, Some(0.25));
    assert_eq!(job.hyper_parameters["epochCount"], "2");
    let failed = state.jobs.iter().find(|j| j.job_name == "lr-high").unwrap();
    assert_eq!(failed.status, "Failed");
}
