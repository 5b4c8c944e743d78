//! The pipeline's one door to the Bedrock model catalog (`crates/bedrock-catalog`, `models/bedrock-models.toml`):
//! which entry a model id is and what Bedrock offers for it, where. Validation, `plan`, the adapters, serving and
//! batch decisions all ask here; no other pipeline code names a model id or a model-id prefix. Adding a model is
//! one catalog entry (plus, when its request body is new, one adapter).

use bedrock_catalog::{CATALOG_PATH, CustomizationType, LifecycleState, Model};

/// The catalog entry for any spelling of `id` (customization or inference id, foundation-model ARN, cross-region
/// inference profile); `None` for ids the catalog does not list (custom models, throughputs, unknown models).
pub fn entry(id: &str) -> Option<&'static Model> {
    bedrock_catalog::catalog().by_model_id(id)
}

/// The entry of the base model a job customizes, or why the pipeline cannot take it: a model the catalog does
/// not list (its facts are unknown, so nothing would be checked before billing), or one Bedrock cannot customize
/// with `kind` in `region`.
pub fn base_model(
    base_model_id: &str,
    kind: &str,
    region: Option<&str>,
) -> Result<&'static Model, String> {
    let Some(model) = entry(base_model_id) else {
        return Err(format!(
            "customization.base_model_id {base_model_id:?} is not in the Bedrock model catalog ({CATALOG_PATH}); \
             models it lists: {}. A new model is one catalog entry (README: \"Adding a Bedrock model\")",
            customizable().join(", ")
        ));
    };
    let Some(kind) = CustomizationType::parse(kind) else {
        return Err(format!(
            "customization.customization_type {kind:?} is not one of FINE_TUNING, CONTINUED_PRE_TRAINING, DISTILLATION"
        ));
    };
    if !model.customization.types.contains(&kind) {
        let types: Vec<&str> = model
            .customization
            .types
            .iter()
            .map(|t| t.as_str())
            .collect();
        return Err(format!(
            "{} ({base_model_id}) takes customization types {}, not {}",
            model.name,
            types.join(", "),
            kind.as_str()
        ));
    }
    if let Some(region) = region
        && !model.customization.regions.iter().any(|r| r == region)
    {
        return Err(format!(
            "{} is customized in {} only, not in aws.region {region:?} (the catalog's \"Supported models and \
             Regions for fine-tuning\")",
            model.name,
            model.customization.regions.join(", ")
        ));
    }
    Ok(model)
}

/// What `plan` says about the base model's lifecycle on Bedrock: nothing for an active model; for a legacy one,
/// that its end of life is coming; for an end-of-life one, that a real account refuses it and only the local
/// stack (whose emulator may still serve it) runs it. The catalog's source page is named.
pub fn lifecycle_note(base_model_id: &str) -> Option<String> {
    let model = entry(base_model_id)?;
    let source = bedrock_catalog::catalog()
        .source(&model.lifecycle.source)
        .map(|s| format!(" ({}, checked {})", s.url, s.checked))
        .unwrap_or_default();
    let date = model
        .lifecycle
        .eol_date
        .as_deref()
        .map(|d| format!(" on {d}"))
        .unwrap_or_default();
    match model.lifecycle() {
        LifecycleState::Active => None,
        LifecycleState::Legacy => Some(format!(
            "{} is a legacy model on Amazon Bedrock: it reaches end of life{date}{source}",
            model.name
        )),
        LifecycleState::EndOfLife => Some(format!(
            "{} has reached end of life on Amazon Bedrock{source}: a real account refuses it (`preflight` says \
             so); this config runs only on the local stack, whose emulator still serves the AWS sample's model",
            model.name
        )),
    }
}

/// The customization ids of the catalog's models that are not end of life.
pub fn customizable() -> Vec<&'static str> {
    bedrock_catalog::catalog()
        .active()
        .filter(|m| !m.customization.types.is_empty())
        .map(|m| m.customize_id.as_str())
        .collect()
}

/// Whether Bedrock deploys custom models of `base_model_id` on demand (in `region`, or in some region when the
/// SDK's default region decides).
pub fn on_demand_deployment(base_model_id: &str, region: Option<&str>) -> bool {
    entry(base_model_id).is_some_and(|m| match region {
        Some(region) => m.on_demand_deployment.in_region(region),
        None => !m.on_demand_deployment.regions.is_empty(),
    })
}

/// The regions where custom models of `base_model_id` are deployed on demand.
pub fn on_demand_regions(base_model_id: &str) -> Vec<String> {
    entry(base_model_id)
        .map(|m| m.on_demand_deployment.regions.clone())
        .unwrap_or_default()
}

/// Whether Bedrock runs batch inference for `model_id` (a foundation model id, ARN or inference profile) in
/// `region` (or in some region). Provisioned throughputs, deployments and custom models are not batch targets.
pub fn batch(model_id: &str, region: Option<&str>) -> bool {
    entry(model_id).is_some_and(|m| match region {
        Some(region) => m.batch.in_region(region),
        None => !m.batch.regions.is_empty(),
    })
}

/// The most model units one no-commitment provisioned throughput takes (the catalog's quota).
pub fn max_no_commitment_model_units() -> u32 {
    bedrock_catalog::catalog()
        .quotas
        .no_commitment_throughput
        .max_model_units_each
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_models_are_catalog_entries_customizable_where_the_catalog_says() {
        let nova = base_model(
            "amazon.nova-micro-v1:0:128k",
            "FINE_TUNING",
            Some("us-east-1"),
        )
        .unwrap();
        assert_eq!(nova.inference_id, "amazon.nova-micro-v1:0");
        let west = base_model(
            "amazon.nova-micro-v1:0:128k",
            "FINE_TUNING",
            Some("us-west-2"),
        )
        .unwrap_err();
        assert!(west.contains("customized in us-east-1 only"), "{west}");
        let unknown = base_model("acme.writer-v2:1:32k", "FINE_TUNING", None).unwrap_err();
        assert!(
            unknown.contains("not in the Bedrock model catalog"),
            "{unknown}"
        );
        assert!(unknown.contains("amazon.nova-micro-v1:0:128k"), "{unknown}");
        assert!(
            !unknown.contains("cohere"),
            "end-of-life models are not offered: {unknown}"
        );
        let kind = base_model(
            "amazon.nova-micro-v1:0:128k",
            "CONTINUED_PRE_TRAINING",
            None,
        )
        .unwrap_err();
        assert!(kind.contains("not CONTINUED_PRE_TRAINING"), "{kind}");
        assert!(
            base_model(
                "meta.llama3-1-8b-instruct-v1:0:128k",
                "FINE_TUNING",
                Some("us-west-2")
            )
            .is_ok()
        );
    }

    #[test]
    fn plan_names_an_end_of_life_model() {
        assert_eq!(lifecycle_note("amazon.nova-micro-v1:0:128k"), None);
        let cohere = lifecycle_note("cohere.command-light-text-v14:7:4k").unwrap();
        assert!(
            cohere.starts_with("Cohere Command Light has reached end of life"),
            "{cohere}"
        );
        assert!(cohere.contains("model-lifecycle"), "{cohere}");
        assert!(cohere.contains("only on the local stack"), "{cohere}");
    }

    #[test]
    fn serving_and_batch_follow_the_catalog() {
        assert!(on_demand_deployment(
            "amazon.nova-lite-v1:0:300k",
            Some("us-west-2")
        ));
        assert!(!on_demand_deployment(
            "amazon.nova-lite-v1:0:300k",
            Some("eu-west-1")
        ));
        assert!(!on_demand_deployment(
            "meta.llama3-1-8b-instruct-v1:0:128k",
            None
        ));
        assert!(!on_demand_deployment(
            "cohere.command-light-text-v14:7:4k",
            None
        ));
        assert!(batch("us.amazon.nova-lite-v1:0", None));
        assert!(batch("meta.llama3-1-8b-instruct-v1:0", Some("us-west-2")));
        assert!(!batch("cohere.command-light-text-v14", None));
        assert!(!batch(
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc",
            None
        ));
        assert_eq!(max_no_commitment_model_units(), 1);
    }
}
