//! `bertscore layers --human FILE`: which layer of a model agrees best with human judgments.
//!
//! bert_score's recommended layers (its `model2layers`) were chosen by correlating each layer's F
//! with human scores (WMT16); new models have none. This command does the same for any model: every
//! layer from 0 (embeddings) to the model's depth (or `--num-layers`) is scored in one forward pass
//! per batch (`score --all-layers`), and each layer's P, R and F are correlated with the human
//! scores: Pearson's r and Kendall's tau-b, each with a seeded 95% bootstrap interval (resampling
//! items; one set of resamples for every layer and metric, compare's bootstrap). The recommended
//! layer is the one with the highest Kendall tau-b of F ([`RULE`]).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::anyhow;
use bertscore_engine::PairScore;
use clap::Args;
use rayon::prelude::*;
use serde::Serialize;

use crate::correlation::{kendall_tau_b, pearson};
use crate::exit::CliError;
use crate::model_args::{self, ModelArgs};
use crate::output;
use crate::paths::{self, Named};

/// How the recommended layer is chosen (said in `--help`, the table and the JSON).
pub const RULE: &str =
    "the highest Kendall tau-b of F1 with the human scores; a tie goes to the lower layer";

/// Most bootstrap resamples (each recomputes 6 correlations per layer).
pub const MAX_BOOTSTRAP: u32 = 100_000;

/// The field of each record that holds the human score.
const HUMAN_FIELD: &str = "score";

/// Fewest items a correlation is computed over.
const MIN_ITEMS: usize = 3;

#[derive(Debug, Args)]
#[command(after_help = format!("The recommended layer: {RULE}. Score with it by `score --num-layers K`."))]
pub struct LayersArgs {
    /// Human judgments: JSONL (or a JSON array) of {"candidate": ..., "reference": ... |
    /// "references": [...], "score": <number>}, at least 3 items
    #[arg(long, value_name = "FILE")]
    pub human: PathBuf,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Bootstrap resamples for the 95% intervals, 1 to 100000
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BOOTSTRAP)))]
    pub bootstrap: u32,

    /// Seed of the bootstrap (the same seed and data give the same intervals)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// One JSON document instead of the table
    #[arg(long)]
    pub json: bool,

    /// Write the results to FILE instead of stdout (replaced atomically)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A correlation and its 95% bootstrap interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Estimate {
    /// On all items (`null` in JSON when undefined: a layer whose scores are all equal).
    pub value: f64,
    /// 2.5th and 97.5th percentiles over the resamples.
    pub ci95: [f64; 2],
}

/// Pearson and Kendall of one metric.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MetricCorrelation {
    pub pearson: Estimate,
    pub kendall: Estimate,
}

/// One layer's correlations.
#[derive(Debug, Clone, Serialize)]
pub struct LayerCorrelation {
    pub layer: usize,
    pub precision: MetricCorrelation,
    pub recall: MetricCorrelation,
    pub f1: MetricCorrelation,
}

/// The command's result (its `--json` document).
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub model: String,
    pub items: usize,
    pub bootstrap: u32,
    pub seed: u64,
    pub idf: bool,
    pub rule: &'static str,
    pub recommended_layer: usize,
    pub layers: Vec<LayerCorrelation>,
}

pub fn run(args: LayersArgs) -> Result<(), CliError> {
    args.model.validate()?;
    if args.model.rescaled() {
        return Err(CliError::bad_input(anyhow!(
            "rescaling with a baseline is linear and leaves every correlation unchanged: drop \
             --rescale-with-baseline and --baseline"
        )));
    }
    let mut inputs = args.model.input_files();
    inputs.push(Named::new("--human", &args.human));
    let outputs: Vec<_> = args.output.iter().map(|p| Named::new("-o", p)).collect();
    paths::check(&inputs, &outputs)?;
    let records = bertscore_compare::input::read_pairs_with_number(
        &args.human,
        HUMAN_FIELD,
        args.model.input.limit(),
    )?;
    if records.len() < MIN_ITEMS {
        return Err(CliError::bad_input(anyhow!(
            "{}: {} items; a correlation needs at least {MIN_ITEMS}",
            args.human.display(),
            records.len()
        )));
    }
    if records.iter().all(|(_, human)| *human == records[0].1) {
        return Err(CliError::bad_input(anyhow!(
            "{}: every human score is {}: there is nothing to correlate with",
            args.human.display(),
            records[0].1
        )));
    }
    let human: Vec<f64> = records.iter().map(|(_, score)| *score).collect();
    let (cands, refs): (Vec<String>, Vec<Vec<String>>) = records
        .into_iter()
        .map(|(record, _)| (record.completion, record.references))
        .unzip();

    let settings = crate::layers::every_layer(&args.model)?;
    let scorer = model_args::load_scorer(&settings, None)?;
    let bar = output::progress_bar("embedding");
    let scored = scorer.score_all_layers(&cands, &refs, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    for warning in &scored.warnings {
        eprintln!("warning: {warning}");
    }

    let layers = correlate(&scored.layers, &human, args.bootstrap as usize, args.seed);
    let report = LayerReport {
        model: scorer.model_name().to_string(),
        items: human.len(),
        bootstrap: args.bootstrap,
        seed: args.seed,
        idf: settings.idf || settings.idf_corpus.is_some(),
        rule: RULE,
        recommended_layer: recommended(&layers),
        layers,
    };
    let rendered = if args.json {
        let mut text = serde_json::to_string_pretty(&report).expect("serialisable");
        text.push('\n');
        text
    } else {
        render_table(&report)
    };
    output::emit(args.output.as_deref(), &rendered)
}

/// The 6 correlations (P, R, F × Pearson, Kendall) of every layer on the items `indices` picks.
fn correlations_at(columns: &[[Vec<f64>; 3]], human: &[f64], indices: &[usize]) -> Vec<f64> {
    let human: Vec<f64> = indices.iter().map(|&i| human[i]).collect();
    columns
        .par_iter()
        .flat_map_iter(|metrics| {
            metrics
                .iter()
                .flat_map(|column| {
                    let scores: Vec<f64> = indices.iter().map(|&i| column[i]).collect();
                    [pearson(&scores, &human), kendall_tau_b(&scores, &human)]
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Per-layer correlations of `layers` (per item, per layer) with `human`, with bootstrap intervals.
pub fn correlate(
    layers: &[Vec<PairScore>],
    human: &[f64],
    bootstrap: usize,
    seed: u64,
) -> Vec<LayerCorrelation> {
    let depth = layers.first().map_or(0, Vec::len);
    let columns: Vec<[Vec<f64>; 3]> = (0..depth)
        .map(|k| {
            [
                layers.iter().map(|l| l[k].precision).collect(),
                layers.iter().map(|l| l[k].recall).collect(),
                layers.iter().map(|l| l[k].f1).collect(),
            ]
        })
        .collect();
    let all: Vec<usize> = (0..human.len()).collect();
    let values = correlations_at(&columns, human, &all);
    let intervals = bertscore_compare::bootstrap_ci95(human.len(), bootstrap, seed, |indices| {
        correlations_at(&columns, human, indices)
    });
    let estimate = |i: usize| Estimate {
        value: values[i],
        ci95: intervals[i],
    };
    let metric = |i: usize| MetricCorrelation {
        pearson: estimate(i),
        kendall: estimate(i + 1),
    };
    (0..depth)
        .map(|k| LayerCorrelation {
            layer: k,
            precision: metric(6 * k),
            recall: metric(6 * k + 2),
            f1: metric(6 * k + 4),
        })
        .collect()
}

/// The layer [`RULE`] picks (layer 0 when no Kendall of F is defined).
pub fn recommended(layers: &[LayerCorrelation]) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for layer in layers {
        let tau = layer.f1.kendall.value;
        if !tau.is_nan() && best.is_none_or(|(_, top)| tau > top) {
            best = Some((layer.layer, tau));
        }
    }
    best.map_or(0, |(layer, _)| layer)
}

/// Aligned rows for people: one row per layer and metric, the recommended layer marked.
fn render_table(report: &LayerReport) -> String {
    let number = |x: f64| {
        if x.is_nan() {
            format!("{:>7}", "n/a")
        } else {
            format!("{x:>7.4}")
        }
    };
    let cell = |e: &Estimate| {
        format!(
            "{}  [{}, {}]",
            number(e.value),
            number(e.ci95[0]),
            number(e.ci95[1])
        )
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: correlation with {} human scores (95% bootstrap intervals, {} resamples, seed {})",
        report.model, report.items, report.bootstrap, report.seed
    );
    let _ = writeln!(
        out,
        "  {:<5}  {:<6}  {:<27}  Kendall tau-b  [95% CI]",
        "layer", "metric", "Pearson r  [95% CI]"
    );
    for layer in &report.layers {
        let mark = if layer.layer == report.recommended_layer {
            '*'
        } else {
            ' '
        };
        for (name, metric) in [
            ("P", &layer.precision),
            ("R", &layer.recall),
            ("F1", &layer.f1),
        ] {
            let _ = writeln!(
                out,
                "{mark} {:<5}  {:<6}  {:<27}  {}",
                layer.layer,
                name,
                cell(&metric.pearson),
                cell(&metric.kendall)
            );
        }
    }
    let best = &report.layers[report.recommended_layer];
    let _ = writeln!(
        out,
        "recommended layer: {} (Kendall tau-b of F1 {:.4}; rule: {}); score with --num-layers {}",
        report.recommended_layer, best.f1.kendall.value, report.rule, report.recommended_layer
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(f1: f64) -> PairScore {
        PairScore {
            precision: f1,
            recall: f1,
            f1,
        }
    }

    #[test]
    fn the_layer_that_orders_items_as_people_do_is_recommended() {
        let human = [0.1, 0.4, 0.2, 0.9, 0.5, 0.7];
        // Layer 0 reverses the human order, layer 1 is noise, layer 2 is a monotone map of it.
        let noise = [0.3, 0.1, 0.6, 0.2, 0.5, 0.4];
        let layers: Vec<Vec<PairScore>> = (0..human.len())
            .map(|i| vec![pair(-human[i]), pair(noise[i]), pair(human[i] * human[i])])
            .collect();
        let result = correlate(&layers, &human, 200, 7);
        assert_eq!(result.len(), 3);
        assert_eq!(result[0].f1.kendall.value, -1.0);
        assert_eq!(result[2].f1.kendall.value, 1.0);
        assert!(result[2].f1.pearson.value > 0.95 && result[2].f1.pearson.value < 1.0);
        assert_eq!(recommended(&result), 2);
        // A perfect monotone relation survives every resample (ties included).
        assert_eq!(result[2].f1.kendall.ci95, [1.0, 1.0]);
        let ci = result[1].f1.pearson.ci95;
        assert!(ci[0] < result[1].f1.pearson.value && result[1].f1.pearson.value < ci[1]);
        // Seeded: the same seed gives the same intervals, another seed others.
        let again = correlate(&layers, &human, 200, 7);
        assert_eq!(again[1].f1.pearson.ci95, ci);
        assert_ne!(correlate(&layers, &human, 200, 8)[1].f1.pearson.ci95, ci);
    }

    #[test]
    fn ties_go_to_the_lower_layer_and_undefined_layers_are_skipped() {
        let human = [0.1, 0.4, 0.2, 0.9];
        let layers: Vec<Vec<PairScore>> = human
            .iter()
            .map(|&h| vec![pair(0.5), pair(h), pair(2.0 * h)])
            .collect();
        let result = correlate(&layers, &human, 10, 0);
        assert!(result[0].f1.kendall.value.is_nan());
        assert_eq!(recommended(&result), 1);
    }
}
