//! `bertscore models`: the model types the engine runs (its one list, [`Architecture::ALL`]) and the
//! models with a recommended layer (bert_score's `model2layers`, [`registry::known_models`]).

use std::fmt::Write as _;

use bertscore_engine::models::{Architecture, supported_model_types};
use bertscore_engine::registry;
use clap::Args;

use crate::exit::CliError;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// One JSON document instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--model`'s help: what it takes, with the supported model types.
pub fn model_help() -> String {
    format!(
        "Model: a local directory or a Hugging Face hub id [default: sentence-transformers/all-MiniLM-L6-v2, or \
         bert_score's model for --lang]; its config.json's model_type is one of: {}",
        supported_model_types().collect::<Vec<_>>().join(", ")
    )
}

pub fn run(args: ModelsArgs) -> Result<(), CliError> {
    let mut out = String::new();
    if args.json {
        let families: Vec<_> = Architecture::ALL
            .iter()
            .map(|(family, names)| serde_json::json!({"family": format!("{family:?}"), "model_types": names}))
            .collect();
        let layers: serde_json::Map<String, serde_json::Value> = registry::known_models()
            .map(|(model, layer)| (model.to_string(), layer.into()))
            .collect();
        let document = serde_json::json!({
            "model_types": supported_model_types().collect::<Vec<_>>(),
            "families": families,
            "recommended_layers": layers,
        });
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&document).expect("serialisable")
        );
    } else {
        let _ = writeln!(out, "Supported model types (config.json \"model_type\"):");
        for (family, names) in Architecture::ALL {
            let family = format!("{family:?}");
            let _ = writeln!(out, "  {family:<12} {}", names.join(", "));
        }
        let _ = writeln!(
            out,
            "\nRecommended layers (--num-layers default; other models need --num-layers, see `bertscore layers --human`):"
        );
        for (model, layer) in registry::known_models() {
            let _ = writeln!(out, "  {model:<60} {layer}");
        }
    }
    print!("{out}");
    Ok(())
}
