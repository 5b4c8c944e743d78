//! GetFoundationModel and ListFoundationModels, answered from the catalog: each catalog entry is two foundation
//! models on Bedrock, the id to invoke (ON_DEMAND, no customization) and the context-length variant to customize
//! (PROVISIONED, the catalog's customization types), each with the entry's `modelLifecycle`. An end-of-life
//! model the config serves anyway ([`EmulatorConfig::allow_end_of_life`]) answers LEGACY: this emulated account
//! still runs it, as an account did before its end-of-life date.

use std::collections::BTreeMap;

use bedrock_catalog::Model;
use serde_json::{Value, json};

use crate::config::EmulatorConfig;
use crate::store::REGION;
use crate::wire::ApiError;

fn details(config: &EmulatorConfig, model: &Model, id: &str) -> Value {
    let customizable = id == model.customize_id;
    let customizations: Vec<&str> = if customizable {
        model
            .customization
            .types
            .iter()
            .map(|t| t.as_str())
            .collect()
    } else {
        Vec::new()
    };
    let inference = if customizable {
        "PROVISIONED"
    } else {
        "ON_DEMAND"
    };
    json!({
        "modelArn": format!("arn:aws:bedrock:{REGION}::foundation-model/{id}"),
        "modelId": id,
        "modelName": model.name,
        "providerName": model.name.split(' ').next().unwrap_or(""),
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": !customizable,
        "customizationsSupported": customizations,
        "inferenceTypesSupported": [inference],
        "modelLifecycle": { "status": lifecycle(config, model) },
    })
}

fn lifecycle(config: &EmulatorConfig, model: &Model) -> &'static str {
    if model.is_end_of_life() && config.allows_end_of_life(model) {
        "LEGACY"
    } else {
        model.lifecycle().as_str()
    }
}

/// GetFoundationModel: `{modelDetails}` for any spelling of a catalog id.
pub fn get(config: &EmulatorConfig, identifier: &str) -> Result<Value, ApiError> {
    let model = crate::families::model_of(identifier)?;
    let id = bedrock_catalog::foundation_model_id(identifier);
    Ok(json!({ "modelDetails": details(config, model, id) }))
}

/// ListFoundationModels with its filters `byProvider`, `byCustomizationType`, `byInferenceType` and
/// `byOutputModality`.
pub fn list(config: &EmulatorConfig, query: &BTreeMap<String, String>) -> Value {
    let summaries: Vec<Value> = bedrock_catalog::catalog()
        .models
        .iter()
        .flat_map(|m| {
            [
                details(config, m, &m.inference_id),
                details(config, m, &m.customize_id),
            ]
        })
        .filter(|d| {
            let has = |key: &str, value: &String| {
                d[key]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(value.as_str())))
            };
            query.get("byProvider").is_none_or(|p| {
                d["providerName"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(p))
            }) && query
                .get("byCustomizationType")
                .is_none_or(|t| has("customizationsSupported", t))
                && query
                    .get("byInferenceType")
                    .is_none_or(|t| has("inferenceTypesSupported", t))
                && query
                    .get("byOutputModality")
                    .is_none_or(|t| has("outputModalities", t))
        })
        .collect();
    json!({ "modelSummaries": summaries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_micro_128k_is_active_and_fine_tunable() {
        let config = EmulatorConfig::default();
        let get = |id: &str| get(&config, id);
        let out = get("amazon.nova-micro-v1:0:128k").unwrap();
        let d = &out["modelDetails"];
        assert_eq!(d["modelLifecycle"]["status"], "ACTIVE");
        assert_eq!(d["customizationsSupported"], json!(["FINE_TUNING"]));
        assert_eq!(
            get("amazon.nova-micro-v1:0").unwrap()["modelDetails"]["customizationsSupported"],
            json!([])
        );
        let cohere = get("cohere.command-light-text-v14").unwrap();
        assert_eq!(cohere["modelDetails"]["modelLifecycle"]["status"], "EOL");
        assert_eq!(get("ai21.j2").unwrap_err().code, "ValidationException");
    }

    #[test]
    fn an_end_of_life_model_served_anyway_is_legacy() {
        let mut config = EmulatorConfig::default();
        config
            .allow_end_of_life
            .push("cohere.command-light-text-v14".into());
        let cohere = get(&config, "cohere.command-light-text-v14:7:4k").unwrap();
        assert_eq!(cohere["modelDetails"]["modelLifecycle"]["status"], "LEGACY");
        let titan = get(&config, "amazon.titan-text-express-v1").unwrap();
        assert_eq!(titan["modelDetails"]["modelLifecycle"]["status"], "EOL");
    }

    #[test]
    fn lists_with_filters() {
        let query = BTreeMap::from([("byCustomizationType".to_owned(), "FINE_TUNING".to_owned())]);
        let all = list(&EmulatorConfig::default(), &query);
        let ids: Vec<&str> = all["modelSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["modelId"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&"meta.llama3-1-8b-instruct-v1:0:128k"),
            "{ids:?}"
        );
        assert!(!ids.contains(&"meta.llama3-1-8b-instruct-v1:0"), "{ids:?}");
    }
}
