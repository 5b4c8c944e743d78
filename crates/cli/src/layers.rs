//! `score --all-layers` (bert_score's `all_layers=True`): P, R and F at every layer from 0 (the
//! embedding output) to `--num-layers`, from one forward pass, rescaled layer by layer when a
//! baseline is asked for (row `k` of the baseline file rescales layer `k`, as bert_score does).

use std::fmt::Write as _;

use anyhow::anyhow;
use bertscore_engine::models::ModelConfig;
use bertscore_engine::{Baseline, BaselineTable, PairScore, Scorer, ScorerSettings};

use crate::exit::CliError;
use crate::model_args::ModelArgs;
use crate::score::ScoreFormat;

/// The settings for scoring every layer of the model (`baseline`, `layers --human`): `--num-layers`
/// when given caps the depth, else it is the checkpoint's own depth (read from its config.json).
pub fn every_layer(model: &ModelArgs) -> Result<ScorerSettings, CliError> {
    let mut settings = model.settings();
    if settings.num_layers.is_none() {
        let resolved = match settings.model_spec() {
            Some(spec) => bertscore_hub::resolve(&spec),
            None => bertscore_hub::resolve_default(),
        }?;
        let config = ModelConfig::from_file(&resolved.dir.join("config.json"))?;
        settings.num_layers = Some(config.num_hidden_layers());
    }
    Ok(settings)
}

/// The baseline of every layer `0..=scorer.num_layers()`, when the arguments ask for rescaling.
pub fn baselines(model: &ModelArgs, scorer: &Scorer) -> Result<Option<Vec<Baseline>>, CliError> {
    let settings = model.settings();
    if !settings.rescaled() {
        return Ok(None);
    }
    let table = match &settings.baseline {
        Some(path) => BaselineTable::from_file(path)?,
        None => {
            let lang = settings.lang.as_deref().unwrap_or("en");
            BaselineTable::builtin(lang, scorer.model_name())?.ok_or_else(|| {
                CliError::bad_input(anyhow!(
                    "bert_score publishes no baseline for model {} and language {lang}; give a baseline file",
                    scorer.model_name()
                ))
            })?
        }
    };
    let rows = (0..=scorer.num_layers())
        .map(|layer| table.layer(layer))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(rows))
}

/// Rescales each candidate's layer `k` with `baselines[k]`.
pub fn rescale(layers: &mut [Vec<PairScore>], baselines: &[Baseline]) {
    for per_layer in layers {
        for (score, baseline) in per_layer.iter_mut().zip(baselines) {
            *score = baseline.rescale(*score);
        }
    }
}

/// Means over candidates, per layer.
pub fn layer_means(layers: &[Vec<PairScore>]) -> Vec<PairScore> {
    let depth = layers.first().map_or(0, Vec::len);
    let n = layers.len().max(1) as f64;
    (0..depth)
        .map(|k| {
            let (p, r, f) = layers.iter().fold((0.0, 0.0, 0.0), |acc, per_layer| {
                let s = per_layer[k];
                (acc.0 + s.precision, acc.1 + s.recall, acc.2 + s.f1)
            });
            PairScore {
                precision: p / n,
                recall: r / n,
                f1: f / n,
            }
        })
        .collect()
}

/// One candidate's scores as a JSON object of arrays indexed by layer.
fn row_json(id: Option<&str>, per_layer: &[PairScore]) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    if let Some(id) = id {
        object.insert("id".into(), id.into());
    }
    let column = |pick: fn(&PairScore) -> f64| -> serde_json::Value {
        per_layer.iter().map(pick).collect::<Vec<f64>>().into()
    };
    object.insert("precision".into(), column(|s| s.precision));
    object.insert("recall".into(), column(|s| s.recall));
    object.insert("f1".into(), column(|s| s.f1));
    serde_json::Value::Object(object)
}

/// Renders all-layer scores: `jsonl`/`json` rows hold arrays indexed by layer; `text` and `table`
/// give the mean at each layer (text with `-s`: each candidate's P, R, F per layer); `csv` one row
/// per candidate and layer.
pub fn render(
    format: ScoreFormat,
    seg_level: bool,
    scorer: &Scorer,
    rescaled: bool,
    ids: &[Option<String>],
    layers: &[Vec<PairScore>],
) -> String {
    let means = layer_means(layers);
    let mut out = String::new();
    match format {
        ScoreFormat::Text => {
            let _ = writeln!(out, "{}", scorer.hash());
            for (k, m) in means.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "layer {k} P: {:.6} R: {:.6} F1: {:.6}",
                    m.precision, m.recall, m.f1
                );
            }
            if seg_level {
                for per_layer in layers {
                    let cells: Vec<String> = per_layer
                        .iter()
                        .map(|s| format!("{:.6}\t{:.6}\t{:.6}", s.precision, s.recall, s.f1))
                        .collect();
                    let _ = writeln!(out, "{}", cells.join("\t"));
                }
            }
        }
        ScoreFormat::Jsonl => {
            for (id, per_layer) in ids.iter().zip(layers) {
                let _ = writeln!(out, "{}", row_json(id.as_deref(), per_layer));
            }
        }
        ScoreFormat::Json => {
            let rows: Vec<_> = ids
                .iter()
                .zip(layers)
                .map(|(id, per_layer)| row_json(id.as_deref(), per_layer))
                .collect();
            let mut document = row_json(None, &means);
            let object = document.as_object_mut().expect("an object");
            object.insert("model".into(), scorer.model_name().into());
            object.insert("layers".into(), means.len().into());
            object.insert("rescaled".into(), rescaled.into());
            object.insert("hash".into(), scorer.hash().into());
            object.insert("n".into(), layers.len().into());
            object.insert("pairs".into(), rows.into());
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&document).expect("serialisable")
            );
        }
        ScoreFormat::Csv => {
            out.push_str("id,layer,precision,recall,f1\n");
            for (index, (id, per_layer)) in ids.iter().zip(layers).enumerate() {
                let id = id.clone().unwrap_or_else(|| (index + 1).to_string());
                for (k, s) in per_layer.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{},{k},{:.6},{:.6},{:.6}",
                        crate::score::csv_field(&id),
                        s.precision,
                        s.recall,
                        s.f1
                    );
                }
            }
        }
        ScoreFormat::Table => {
            let _ = writeln!(out, "{:<5}  {:>9}  {:>9}  {:>9}", "layer", "P", "R", "F1");
            for (k, m) in means.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{k:<5}  {:>9.6}  {:>9.6}  {:>9.6}",
                    m.precision, m.recall, m.f1
                );
            }
            let _ = writeln!(out, "{}", scorer.hash());
        }
    }
    out
}
