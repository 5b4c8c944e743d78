//! The Amazon Bedrock model facts that the pipeline and the emulator share, read from
//! `models/bedrock-models.toml` (compiled into every binary with `include_str!`, parsed and checked once).
//!
//! ```
//! let catalog = bedrock_catalog::catalog();
//! let nova = catalog.by_customize_id("amazon.nova-micro-v1:0:128k").unwrap();
//! assert_eq!(nova.inference_id, "amazon.nova-micro-v1:0");
//! assert!(nova.can_customize("us-east-1", bedrock_catalog::CustomizationType::FineTuning));
//! assert!(nova.hyper_parameter("epochCount").unwrap().check("50").is_err());
//! // Any spelling of a model id finds its entry: ARNs and cross-region inference profiles too.
//! let llama = catalog.by_model_id("arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-1-8b-instruct-v1:0");
//! assert_eq!(llama.unwrap().customize_id, "meta.llama3-1-8b-instruct-v1:0:128k");
//! ```

#![deny(missing_docs)]

mod ids;
mod model;
pub mod roles;

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;

pub use ids::{GEO_PREFIXES, foundation_model_id};
pub use model::{
    Adapter, Availability, BatchRecords, Customization, CustomizationType, HyperParameter,
    HyperParameterKind, Lifecycle, LifecycleState, Model, NoCommitmentThroughput,
    OnDemandDeployment, ProvisionedThroughput, Quotas, Source, Training, TrainingFormat,
};

/// Where the catalog's text comes from (for messages).
pub const CATALOG_PATH: &str = "models/bedrock-models.toml";

const CATALOG_TEXT: &str = include_str!("../../../models/bedrock-models.toml");

/// The whole catalog.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The pages facts cite, by key.
    pub sources: BTreeMap<String, Source>,
    /// Account quotas and service rules.
    pub quotas: Quotas,
    /// The service roles jobs name: who assumes them, for which jobs.
    pub roles: roles::Roles,
    /// The base models.
    #[serde(rename = "model")]
    pub models: Vec<Model>,
}

/// The catalog compiled into this binary, parsed and checked on first use.
///
/// # Panics
/// When `models/bedrock-models.toml` is invalid; its unit tests (`cargo test -p bedrock-catalog`) fail first.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::parse(CATALOG_TEXT).unwrap_or_else(|err| panic!("{CATALOG_PATH}: {err}"))
    })
}

impl Catalog {
    /// Parses and checks a catalog text (see [`Catalog::check`]).
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| e.to_string())?;
        catalog.check()?;
        Ok(catalog)
    }

    /// Checks what the types cannot: ids unique and well formed, every cited source present and dated,
    /// ranges ordered with their defaults inside, quotas ordered.
    pub fn check(&self) -> Result<(), String> {
        for (key, source) in &self.sources {
            if !source.url.starts_with("https://") || !is_date(&source.checked) {
                return Err(format!(
                    "source {key}: needs an https URL and a YYYY-MM-DD checked date"
                ));
            }
        }
        let mut ids = HashSet::new();
        for model in &self.models {
            let name = &model.name;
            for id in [&model.customize_id, &model.inference_id] {
                if !ids.insert(id.as_str()) {
                    return Err(format!("{name}: the id {id} appears twice in the catalog"));
                }
                if id.is_empty() || id.contains('/') || foundation_model_id(id) != id {
                    return Err(format!("{name}: {id} is not a plain foundation-model id"));
                }
            }
            if !model.customize_id.starts_with(&model.inference_id) {
                return Err(format!(
                    "{name}: the customization id {} does not extend the inference id {}",
                    model.customize_id, model.inference_id
                ));
            }
            for key in model.cited_sources() {
                if !self.sources.contains_key(key) {
                    return Err(format!("{name}: cites the unknown source {key}"));
                }
            }
            if let Some(date) = &model.lifecycle.eol_date
                && !is_date(date)
            {
                return Err(format!("{name}: eol_date {date} is not YYYY-MM-DD"));
            }
            if model.customization.types.is_empty() || model.customization.regions.is_empty() {
                return Err(format!(
                    "{name}: customization needs at least one type and region"
                ));
            }
            let mut names = HashSet::new();
            for hp in &model.hyper_parameters {
                if !names.insert(hp.name.as_str()) {
                    return Err(format!("{name}: hyper-parameter {} listed twice", hp.name));
                }
                let ordered = hp.min <= hp.default && hp.default <= hp.max;
                let whole = hp.kind == HyperParameterKind::Float
                    || [hp.min, hp.max, hp.default]
                        .iter()
                        .all(|v| v.fract() == 0.0);
                if !ordered || !whole {
                    return Err(format!(
                        "{name}: hyper-parameter {} needs min <= default <= max (whole numbers for integers)",
                        hp.name
                    ));
                }
            }
        }
        let quotas = &self.quotas;
        for key in [
            &quotas.batch_records.source,
            &quotas.no_commitment_throughput.source,
            &quotas.on_demand_deployment.source,
            &self.roles.customization.source,
            &self.roles.batch.source,
        ] {
            if !self.sources.contains_key(key) {
                return Err(format!("quotas or roles cite the unknown source {key}"));
            }
        }
        if quotas.batch_records.min == 0 || quotas.batch_records.min > quotas.batch_records.max {
            return Err("quotas.batch_records needs 0 < min <= max".into());
        }
        if !is_date(&quotas.on_demand_deployment.customized_since) {
            return Err("quotas.on_demand_deployment.customized_since is not YYYY-MM-DD".into());
        }
        Ok(())
    }

    /// The model whose customization id (`baseModelIdentifier`) is `id`.
    pub fn by_customize_id(&self, id: &str) -> Option<&Model> {
        let id = foundation_model_id(id);
        self.models.iter().find(|m| m.customize_id == id)
    }

    /// The model whose inference id is `id`.
    pub fn by_inference_id(&self, id: &str) -> Option<&Model> {
        let id = foundation_model_id(id);
        self.models.iter().find(|m| m.inference_id == id)
    }

    /// The model for any spelling of its id: customization or inference id, a foundation-model ARN, a
    /// cross-region inference profile (`us.`, `eu.`, `apac.`, `global.`).
    pub fn by_model_id(&self, id: &str) -> Option<&Model> {
        self.by_customize_id(id)
            .or_else(|| self.by_inference_id(id))
    }

    /// The sources table entry `key`.
    pub fn source(&self, key: &str) -> Option<&Source> {
        self.sources.get(key)
    }

    /// The models that are not end of life.
    pub fn active(&self) -> impl Iterator<Item = &Model> {
        self.models.iter().filter(|m| !m.is_end_of_life())
    }
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_date("2026-12-06"));
        assert!(!is_date("2026-12-6"));
        assert!(!is_date("06/12/2026"));
    }

    #[test]
    fn a_duplicate_id_is_refused() {
        let text = CATALOG_TEXT.replace(
            "customize_id = \"amazon.nova-lite-v1:0:300k\"",
            "customize_id = \"amazon.nova-micro-v1:0:128k\"",
        );
        let err = Catalog::parse(&text).unwrap_err();
        assert!(err.contains("appears twice"), "{err}");
    }

    #[test]
    fn an_unordered_range_is_refused() {
        let text = CATALOG_TEXT.replacen(
            "min = 1, max = 5, default = 2",
            "min = 6, max = 5, default = 2",
            1,
        );
        let err = Catalog::parse(&text).unwrap_err();
        assert!(err.contains("min <= default <= max"), "{err}");
    }

    #[test]
    fn an_unknown_source_is_refused() {
        let text = CATALOG_TEXT.replacen("source = \"hp_nova\"", "source = \"hp_novaa\"", 1);
        let err = Catalog::parse(&text).unwrap_err();
        assert!(err.contains("unknown source hp_novaa"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let text =
            CATALOG_TEXT.replacen("adapter = \"nova\"", "adapter = \"nova\"\nadaptor = 1", 1);
        assert!(Catalog::parse(&text).is_err());
    }
}
