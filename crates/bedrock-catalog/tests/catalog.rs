//! The shipped catalog: every entry valid, the facts the pipeline and the emulator rely on.

use bedrock_catalog::{Adapter, CustomizationType, LifecycleState, TrainingFormat, catalog};

#[test]
fn every_entry_is_valid_and_cites_a_dated_source() {
    let catalog = catalog();
    assert!(catalog.models.len() >= 14, "{}", catalog.models.len());
    for model in &catalog.models {
        for key in model.cited_sources() {
            let source = catalog.source(key).unwrap();
            assert_eq!(source.checked, "2026-12-06", "{key}");
            assert!(
                source.url.starts_with("https://docs.aws.amazon.com/"),
                "{key}"
            );
        }
        // Each id finds its own entry, and only it.
        assert_eq!(
            catalog.by_customize_id(&model.customize_id).unwrap().name,
            model.name
        );
        assert_eq!(
            catalog.by_inference_id(&model.inference_id).unwrap().name,
            model.name
        );
        for hp in &model.hyper_parameters {
            assert!(
                hp.min <= hp.default && hp.default <= hp.max,
                "{} {}",
                model.name,
                hp.name
            );
            hp.check(&hp.default.to_string()).unwrap();
        }
    }
}

#[test]
fn nova_micro() {
    let nova = catalog()
        .by_customize_id("amazon.nova-micro-v1:0:128k")
        .unwrap();
    assert_eq!(nova.adapter(), Adapter::Nova);
    assert_eq!(
        nova.training.format,
        TrainingFormat::BedrockConversation2024
    );
    assert_eq!(nova.lifecycle(), LifecycleState::Active);
    assert!(nova.can_customize("us-east-1", CustomizationType::FineTuning));
    assert!(!nova.can_customize("us-west-2", CustomizationType::FineTuning));
    assert!(!nova.can_customize("us-east-1", CustomizationType::ContinuedPreTraining));
    let epochs = nova.hyper_parameter("epochCount").unwrap();
    assert_eq!((epochs.min, epochs.max, epochs.default), (1.0, 5.0, 2.0));
    assert!(epochs.check("5").is_ok());
    let err = epochs.check("50").unwrap_err();
    assert!(err.contains("outside its range [1, 5]"), "{err}");
    assert!(epochs.check("2.5").is_err());
    assert!(nova.hyper_parameter("batchSize").is_none());
    let err = nova
        .check_hyper_parameters([("batchSize", "8")])
        .unwrap_err();
    assert!(
        err.contains("does not take the hyper-parameter batchSize"),
        "{err}"
    );
    assert!(
        nova.check_hyper_parameters([("learningRate", "0.00001")])
            .is_ok()
    );
    assert!(
        nova.check_hyper_parameters([("learningRate", "0.001")])
            .is_err()
    );
    assert_eq!(nova.batch_regions(), ["us-east-1", "us-west-2"]);
    assert_eq!(
        nova.on_demand_deployment_regions(),
        ["us-east-1", "us-west-2"]
    );
}

#[test]
fn llama_ids_keep_their_version() {
    let llama = catalog()
        .by_customize_id("meta.llama3-1-8b-instruct-v1:0:128k")
        .unwrap();
    assert_eq!(llama.inference_id, "meta.llama3-1-8b-instruct-v1:0");
    assert_eq!(llama.adapter(), Adapter::MetaLlama);
    assert!(llama.can_customize("us-west-2", CustomizationType::FineTuning));
    assert!(!llama.can_customize("us-east-1", CustomizationType::FineTuning));
    assert!(llama.on_demand_deployment_regions().is_empty());
    let by_profile = catalog()
        .by_model_id("us.meta.llama3-1-8b-instruct-v1:0")
        .unwrap();
    assert_eq!(by_profile.name, llama.name);
}

#[test]
fn the_aws_sample_model_is_end_of_life() {
    let cohere = catalog()
        .by_customize_id("cohere.command-light-text-v14:7:4k")
        .unwrap();
    assert!(cohere.is_end_of_life());
    assert_eq!(cohere.lifecycle().as_str(), "EOL");
    assert_eq!(cohere.adapter(), Adapter::CohereCommand);
    assert_eq!(
        catalog()
            .by_model_id("cohere.command-light-text-v14")
            .unwrap()
            .name,
        cohere.name
    );
    let active: Vec<&str> = catalog().active().map(|m| m.name.as_str()).collect();
    assert_eq!(active.len(), 11, "{active:?}");
    assert!(
        !active
            .iter()
            .any(|name| name.contains("Cohere") || name.contains("Titan"))
    );
}

#[test]
fn quotas() {
    let quotas = &catalog().quotas;
    assert_eq!(
        (quotas.batch_records.min, quotas.batch_records.max),
        (100, 50_000)
    );
    assert_eq!(quotas.no_commitment_throughput.max_model_units_each, 1);
    assert_eq!(quotas.no_commitment_throughput.account_model_units, 2);
    assert_eq!(quotas.on_demand_deployment.customized_since, "2025-07-16");
}

#[test]
fn unknown_ids_are_not_found() {
    assert!(catalog().by_model_id("ai21.j2-ultra-v1").is_none());
    assert!(
        catalog()
            .by_model_id("meta.llama3-1-8b-instruct-v1")
            .is_none()
    );
}
