//! Is the custom model better than the base? Paired BERTScore statistics, bootstrap CI, permutation test, reports.
//!
//! The flow, as `bertscore compare` and the pipeline run it:
//! 1. [`input::load_items`]: two files of model outputs (+ references) → aligned [`Item`]s;
//! 2. [`compare`]: one engine call scores every base and custom candidate against the item's references, then
//!    [`stats::paired_statistics`] turns the paired scores into means, a bootstrap CI, a permutation p-value
//!    and a [`Verdict`];
//! 3. [`report::render_table`] (people), the [`Comparison`] itself as JSON (machines), or
//!    [`html::render_html`] with token heatmaps from [`heatmaps`] (a self-contained page).

#![deny(missing_docs)]

pub mod html;
pub mod input;
pub mod multi;
pub mod report;
pub mod stats;

use std::fmt;
use std::path::PathBuf;

use bertscore_engine::{EngineError, PairScore, Scorer};
use serde::{Deserialize, Serialize};

pub use html::{HeatmapSide, ItemHeatmap, render_html, render_systems_html};
pub use input::{Location, align, load_items, read_candidates, read_references};
pub use multi::{Correction, SystemsComparison, SystemsItem, compare_systems, load_systems};
pub use report::{render_systems_table, render_table};
pub use stats::{
    CompareSettings, DeltaStatistics, MAX_RESAMPLES, MeanScores, PairedStatistics, PermutationTest,
    TIE_TOLERANCE, bootstrap_ci95, paired_statistics,
};

/// One prompt's two outputs and the references they are scored against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The id from the files, or the 1-based position when they have none.
    pub id: String,
    /// The prompt, when either file gives one.
    pub prompt: Option<String>,
    /// The base model's output.
    pub base: String,
    /// The custom model's output.
    pub custom: String,
    /// The references both outputs are scored against (at least one).
    pub references: Vec<String>,
}

/// Which model the evidence favours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The custom model is better by more than the margin, significantly.
    Custom,
    /// The base model is better by more than the margin, significantly.
    Base,
    /// Neither: the difference is within the margin or not significant.
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Custom => "custom",
            Verdict::Base => "base",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// A candidate text with its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredText {
    /// The candidate text.
    pub text: String,
    /// BERTScore precision.
    pub precision: f64,
    /// BERTScore recall.
    pub recall: f64,
    /// BERTScore F1.
    pub f1: f64,
}

impl ScoredText {
    fn new(text: &str, score: PairScore) -> Self {
        Self {
            text: text.to_string(),
            precision: score.precision,
            recall: score.recall,
            f1: score.f1,
        }
    }
}

/// One item's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemComparison {
    /// The item's id.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    /// The prompt, when known.
    pub prompt: Option<String>,
    /// The references.
    pub references: Vec<String>,
    /// The base model's output and scores.
    pub base: ScoredText,
    /// The custom model's output and scores.
    pub custom: ScoredText,
    /// custom F1 − base F1.
    pub delta_f1: f64,
}

/// The whole comparison: settings, statistics (flattened into the top level of the JSON document) and items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The scorer's settings string (bert_score's hash): model, layer, idf, rescaling.
    pub settings: String,
    #[serde(flatten)]
    /// Means, the difference's CI and p-value, wins/losses/ties, the verdict.
    pub statistics: PairedStatistics,
    /// What the engine noticed (empty texts, truncation), as it reported it for the combined base+custom run.
    pub warnings: Vec<String>,
    /// Every item, in input order.
    pub items: Vec<ItemComparison>,
}

impl Comparison {
    /// The items sorted by F1 delta, worst regression first.
    pub fn items_by_delta(&self) -> Vec<&ItemComparison> {
        let mut items: Vec<&ItemComparison> = self.items.iter().collect();
        items.sort_by(|a, b| {
            a.delta_f1
                .total_cmp(&b.delta_f1)
                .then_with(|| a.id.cmp(&b.id))
        });
        items
    }

    /// Up to `n` items that lost F1 (largest loss first) and up to `n` that gained (largest gain first); ties
    /// are in neither list.
    pub fn largest_changes(&self, n: usize) -> (Vec<&ItemComparison>, Vec<&ItemComparison>) {
        let sorted = self.items_by_delta();
        let regressions = sorted
            .iter()
            .copied()
            .filter(|item| item.delta_f1 < -TIE_TOLERANCE)
            .take(n)
            .collect();
        let gains = sorted
            .iter()
            .rev()
            .copied()
            .filter(|item| item.delta_f1 > TIE_TOLERANCE)
            .take(n)
            .collect();
        (regressions, gains)
    }

    /// The item with this id.
    pub fn item(&self, id: &str) -> Option<&ItemComparison> {
        self.items.iter().find(|item| item.id == id)
    }
}

/// Everything reading, aligning and comparing can fail with; [`CompareError::kind`] says whose problem it is.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// An input file cannot be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A record is malformed.
    #[error("{location}: {message}")]
    Parse {
        /// The file and line of the record.
        location: Location,
        /// What is wrong with it.
        message: String,
    },

    /// The files' records do not pair up (ids or counts differ, references missing or conflicting).
    #[error("{0}")]
    Misaligned(String),

    /// There is nothing to compare.
    #[error("nothing to compare: no items")]
    Empty,

    /// An input file has no records.
    #[error("{path}: no records: the file is empty")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },

    /// A setting is out of its range (the message starts with its name).
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// A heatmap was asked for an id no item has.
    #[error("no item has id {id:?} (ids are e.g. {known})")]
    UnknownItem {
        /// The id asked for.
        id: String,
        /// A few ids that exist.
        known: String,
    },

    /// The engine returned a different number of scores than candidates (a bug, not an input problem).
    #[error("the engine returned {got} scores for {expected} candidates")]
    ScoreCount {
        /// Candidates scored.
        expected: usize,
        /// Scores returned.
        got: usize,
    },

    /// The engine failed (model, options, runtime).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl CompareError {
    /// Whose problem this is: the user's files or options, the model (through the engine), or the machine.
    pub fn kind(&self) -> bertscore_engine::ErrorKind {
        use bertscore_engine::ErrorKind;
        match self {
            CompareError::Engine(engine) => engine.kind(),
            CompareError::ScoreCount { .. } => ErrorKind::Runtime,
            CompareError::Io { .. }
            | CompareError::Parse { .. }
            | CompareError::Misaligned(_)
            | CompareError::Empty
            | CompareError::EmptyFile { .. }
            | CompareError::InvalidOption(_)
            | CompareError::UnknownItem { .. } => ErrorKind::BadInput,
        }
    }
}

/// The references to compute idf over when `--idf` is on: each item's references once.
///
/// The engine's `IdfMode::References` counts the references of every scored pair, and [`compare`] scores each
/// item twice (base and custom), which would double every document frequency; scorers used with `compare` should
/// take `IdfMode::Corpus(idf_corpus(items))` instead, so the scores equal `bertscore score` on either file.
pub fn idf_corpus(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .flat_map(|item| item.references.iter().cloned())
        .collect()
}

/// Scores both models' candidates in one engine call and computes the paired statistics.
pub fn compare(
    scorer: &Scorer,
    items: &[Item],
    options: &CompareSettings,
) -> Result<Comparison, CompareError> {
    compare_with_progress(scorer, items, options, &|_, _| {})
}

/// As [`compare`], reporting the engine's progress (`done`, `total` texts).
pub fn compare_with_progress(
    scorer: &Scorer,
    items: &[Item],
    options: &CompareSettings,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Comparison, CompareError> {
    options.validate()?;
    if items.is_empty() {
        return Err(CompareError::Empty);
    }
    // [base..., custom...] against [refs..., refs...]: the engine embeds each distinct text once, so the shared
    // references (and any output both models produced verbatim) are encoded a single time.
    let candidates: Vec<String> = items
        .iter()
        .map(|item| item.base.clone())
        .chain(items.iter().map(|item| item.custom.clone()))
        .collect();
    let references: Vec<Vec<String>> = items
        .iter()
        .chain(items)
        .map(|item| item.references.clone())
        .collect();
    let report = scorer.score_with_progress(&candidates, &references, progress)?;
    if report.scores.len() != candidates.len() {
        return Err(CompareError::ScoreCount {
            expected: candidates.len(),
            got: report.scores.len(),
        });
    }
    let (base_scores, custom_scores) = report.scores.split_at(items.len());
    let statistics = paired_statistics(base_scores, custom_scores, options)?;
    let items = items
        .iter()
        .zip(base_scores.iter().zip(custom_scores))
        .map(|(item, (base, custom))| ItemComparison {
            id: item.id.clone(),
            prompt: item.prompt.clone(),
            references: item.references.clone(),
            base: ScoredText::new(&item.base, *base),
            custom: ScoredText::new(&item.custom, *custom),
            delta_f1: custom.f1 - base.f1,
        })
        .collect();
    Ok(Comparison {
        settings: scorer.hash(),
        statistics,
        warnings: report.warnings,
        items,
    })
}

/// The items the report's heatmaps show by default: the lowest delta (the largest regression, or the smallest
/// gain when nothing regressed) and the highest (the largest gain), each with a label.
pub fn default_heatmap_items(comparison: &Comparison) -> Vec<(String, String)> {
    let sorted = comparison.items_by_delta();
    let (Some(worst), Some(best)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let label = |delta: f64, down: &str, up: &str| {
        if delta < -TIE_TOLERANCE {
            down.to_string()
        } else if delta > TIE_TOLERANCE {
            up.to_string()
        } else {
            "no change".to_string()
        }
    };
    let mut chosen = vec![(
        worst.id.clone(),
        label(worst.delta_f1, "largest regression", "smallest gain"),
    )];
    if best.id != worst.id {
        chosen.push((
            best.id.clone(),
            label(best.delta_f1, "smallest regression", "largest gain"),
        ));
    }
    chosen
}

/// Token similarity heatmaps for the default items plus `chosen` ids (in that order, each item once). Each side
/// is drawn against the reference that gives it its best F1, as multi-reference scores take the maximum.
pub fn heatmaps(
    scorer: &Scorer,
    comparison: &Comparison,
    chosen: &[String],
) -> Result<Vec<ItemHeatmap>, CompareError> {
    let mut wanted = default_heatmap_items(comparison);
    for id in chosen {
        if comparison.item(id).is_none() {
            let known: Vec<&str> = comparison
                .items
                .iter()
                .take(5)
                .map(|item| item.id.as_str())
                .collect();
            return Err(CompareError::UnknownItem {
                id: id.clone(),
                known: known.join(", "),
            });
        }
        if !wanted.iter().any(|(w, _)| w == id) {
            wanted.push((id.clone(), "chosen".to_string()));
        }
    }
    wanted
        .into_iter()
        .map(|(id, label)| {
            let item = comparison.item(&id).expect("ids checked above");
            Ok(ItemHeatmap {
                id,
                label,
                base: best_reference_heatmap(scorer, &item.base.text, &item.references)?,
                custom: best_reference_heatmap(scorer, &item.custom.text, &item.references)?,
            })
        })
        .collect()
}

fn best_reference_heatmap(
    scorer: &Scorer,
    candidate: &str,
    references: &[String],
) -> Result<HeatmapSide, CompareError> {
    let mut best: Option<HeatmapSide> = None;
    for (reference_index, reference) in references.iter().enumerate() {
        let similarity = scorer.token_similarity(candidate, reference)?;
        if best
            .as_ref()
            .is_none_or(|b| similarity.score.f1 > b.similarity.score.f1)
        {
            best = Some(HeatmapSide {
                reference_index,
                similarity,
            });
        }
    }
    best.ok_or(CompareError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn comparison_from(deltas: &[(&str, f64, f64)]) -> Comparison {
        let score = |f: f64| PairScore {
            precision: f,
            recall: f,
            f1: f,
        };
        let base: Vec<PairScore> = deltas.iter().map(|d| score(d.1)).collect();
        let custom: Vec<PairScore> = deltas.iter().map(|d| score(d.2)).collect();
        let statistics = paired_statistics(&base, &custom, &CompareSettings::default()).unwrap();
        Comparison {
            settings: "test".into(),
            statistics,
            warnings: vec![],
            items: deltas
                .iter()
                .map(|&(id, b, c)| ItemComparison {
                    id: id.into(),
                    prompt: None,
                    references: vec![format!("ref {id}")],
                    base: ScoredText::new(&format!("base {id}"), score(b)),
                    custom: ScoredText::new(&format!("custom {id}"), score(c)),
                    delta_f1: c - b,
                })
                .collect(),
        }
    }

    #[test]
    fn default_heatmaps_pick_the_extremes() {
        let c = comparison_from(&[("a", 0.5, 0.6), ("b", 0.5, 0.3), ("c", 0.5, 0.9)]);
        assert_eq!(
            default_heatmap_items(&c),
            vec![
                ("b".to_string(), "largest regression".to_string()),
                ("c".to_string(), "largest gain".to_string())
            ]
        );
        let c = comparison_from(&[("a", 0.5, 0.6), ("b", 0.5, 0.7)]);
        assert_eq!(
            default_heatmap_items(&c)[0],
            ("a".to_string(), "smallest gain".to_string())
        );
        let c = comparison_from(&[("only", 0.5, 0.5)]);
        assert_eq!(
            default_heatmap_items(&c),
            vec![("only".to_string(), "no change".to_string())]
        );
    }

    #[test]
    fn json_document_has_the_promised_fields() {
        let c = comparison_from(&[("a", 0.5, 0.6), ("b", 0.4, 0.45)]);
        let json = serde_json::to_value(&c).unwrap();
        for field in [
            "n", "base", "custom", "delta_f1", "ci95", "p_value", "wins", "losses", "ties",
            "verdict", "items",
        ] {
            assert!(json.get(field).is_some(), "missing {field}: {json}");
        }
        for side in ["base", "custom"] {
            for metric in ["precision", "recall", "f1"] {
                assert!(json[side][metric].is_f64(), "{side}.{metric}");
            }
        }
        assert_eq!(json["n"], 2);
        assert_eq!(json["verdict"], "inconclusive");
        assert_eq!(json["ci95"].as_array().unwrap().len(), 2);
        assert_eq!(json["items"][0]["id"], "a");
        assert!((json["items"][0]["delta_f1"].as_f64().unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(json["items"][0]["custom"]["f1"], 0.6);
        assert_eq!(json["items"][0]["base"]["text"], "base a");
        // And it reads back.
        let back: Comparison = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn idf_corpus_has_each_reference_once() {
        let items = vec![
            Item {
                id: "1".into(),
                prompt: None,
                base: "b".into(),
                custom: "c".into(),
                references: vec!["r1".into(), "r2".into()],
            },
            Item {
                id: "2".into(),
                prompt: None,
                base: "b".into(),
                custom: "c".into(),
                references: vec!["r3".into()],
            },
        ];
        assert_eq!(idf_corpus(&items), vec!["r1", "r2", "r3"]);
    }
}
