//! Which of N systems is best: every system against the base with the paired statistics of [`crate::stats`],
//! p-values corrected for testing several systems at once ([`Correction`]), a ranking by mean F1, the best
//! system against the runner-up, and a verdict.
//!
//! The verdict names the best system (highest mean F1) when it beats the base by more than the margin with a
//! corrected p-value below alpha; `base` when every system is significantly worse than the base by more than
//! the margin (corrected); otherwise `inconclusive`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bertscore_engine::text_file::LineLimit;
use bertscore_engine::{PairScore, Scorer};
use serde::{Deserialize, Serialize};

use crate::stats::{MeanScores, MetricDeltas, PermutationTest, paired_statistics};
use crate::{CompareError, CompareSettings, ScoredText, load_items};

/// How the p-values of several systems against the base are adjusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Correction {
    /// Holm's step-down method: controls the family-wise error rate like Bonferroni, never less powerful.
    #[default]
    Holm,
    /// Each p-value times the number of systems (capped at 1).
    Bonferroni,
    /// No adjustment.
    None,
}

impl Correction {
    /// The accepted names, with what each does.
    pub const NAMED: [(&'static str, &'static str); 3] = [
        (
            "holm",
            "Holm's step-down method (family-wise error rate, more power than Bonferroni)",
        ),
        ("bonferroni", "each p-value times the number of systems"),
        ("none", "no adjustment"),
    ];

    /// The adjusted p-values, in the order given.
    ///
    /// Holm: with the m p-values sorted ascending, p(1) ≤ … ≤ p(m), the adjusted p(i) is
    /// max over j ≤ i of min(1, (m − j + 1) · p(j)).
    pub fn adjust(self, p_values: &[f64]) -> Vec<f64> {
        let m = p_values.len() as f64;
        match self {
            Correction::None => p_values.to_vec(),
            Correction::Bonferroni => p_values.iter().map(|p| (p * m).min(1.0)).collect(),
            Correction::Holm => {
                let mut order: Vec<usize> = (0..p_values.len()).collect();
                order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]).then(a.cmp(&b)));
                let mut adjusted = vec![0.0; p_values.len()];
                let mut running_max: f64 = 0.0;
                for (rank, &index) in order.iter().enumerate() {
                    let scaled = ((m - rank as f64) * p_values[index]).min(1.0);
                    running_max = running_max.max(scaled);
                    adjusted[index] = running_max;
                }
                adjusted
            }
        }
    }
}

impl fmt::Display for Correction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Correction::Holm => "holm",
            Correction::Bonferroni => "bonferroni",
            Correction::None => "none",
        })
    }
}

impl FromStr for Correction {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "holm" => Ok(Correction::Holm),
            "bonferroni" => Ok(Correction::Bonferroni),
            "none" => Ok(Correction::None),
            _ => Err(format!(
                "unknown correction {text:?}: expected holm, bonferroni or none"
            )),
        }
    }
}

/// One prompt: the base's output, each system's output (in the order the systems were given), references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemsItem {
    /// The item's id (from the files, or its 1-based position).
    pub id: String,
    /// The prompt, when the files carry one.
    pub prompt: Option<String>,
    /// The base model's output.
    pub base: String,
    /// Each system's output.
    pub systems: Vec<String>,
    /// The references the outputs are scored against.
    pub references: Vec<String>,
}

/// Reads the base file and every system's file and aligns them item by item (by id, or by position), with
/// the rules of [`load_items`] applied to each system against the base.
pub fn load_systems(
    base: &Path,
    systems: &[PathBuf],
    references: Option<&Path>,
    limit: LineLimit,
) -> Result<Vec<SystemsItem>, CompareError> {
    let mut items: Vec<SystemsItem> = Vec::new();
    for (k, system) in systems.iter().enumerate() {
        let pairs = load_items(base, system, references, limit)?;
        if k == 0 {
            items = pairs
                .into_iter()
                .map(|item| SystemsItem {
                    id: item.id,
                    prompt: item.prompt,
                    base: item.base,
                    systems: vec![item.custom],
                    references: item.references,
                })
                .collect();
            continue;
        }
        if pairs.len() != items.len() {
            return Err(CompareError::Misaligned(format!(
                "{} gives {} items but {} gives {}",
                system.display(),
                pairs.len(),
                systems[0].display(),
                items.len()
            )));
        }
        for (item, pair) in items.iter_mut().zip(pairs) {
            if pair.id != item.id || pair.references != item.references {
                return Err(CompareError::Misaligned(format!(
                    "{}: item {:?} does not line up with item {:?} of {}",
                    system.display(),
                    pair.id,
                    item.id,
                    systems[0].display()
                )));
            }
            item.systems.push(pair.custom);
        }
    }
    Ok(items)
}

/// The file stems of `paths` (`runs/lr-1e-5.jsonl` → `lr-1e-5`), the default system names.
pub fn default_names(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|path| {
            path.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string())
        })
        .collect()
}

/// Checks system names: one per system, non-empty, distinct, and not `base` or `inconclusive` (the other
/// verdicts).
pub fn check_names(names: &[String], systems: usize) -> Result<(), CompareError> {
    let invalid = |message: String| Err(CompareError::InvalidOption(message));
    if names.len() != systems {
        return invalid(format!(
            "{} names for {systems} systems: give one name per system file",
            names.len()
        ));
    }
    for (index, name) in names.iter().enumerate() {
        if name.trim().is_empty() {
            return invalid(format!("system name {} is empty", index + 1));
        }
        if name == "base" || name == "inconclusive" {
            return invalid(format!(
                "{name:?} cannot name a system: it is a verdict of its own"
            ));
        }
        if names[..index].contains(name) {
            return invalid(format!("two systems are named {name:?}: names must differ"));
        }
    }
    Ok(())
}

/// One system against the base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemStatistics {
    /// The system's name.
    pub name: String,
    /// Its mean precision, recall and F1.
    pub means: MeanScores,
    /// Mean F1 − the base's mean F1.
    pub delta_f1: f64,
    /// 95% paired bootstrap interval of `delta_f1`.
    pub ci95: [f64; 2],
    /// Two-sided paired permutation p-value of `delta_f1`, uncorrected.
    pub p_value: f64,
    /// `p_value` adjusted for the number of systems ([`Correction`]).
    pub p_adjusted: f64,
    /// Items where the system's F1 is higher than the base's (beyond [`crate::TIE_TOLERANCE`]).
    pub wins: usize,
    /// Items where it is lower.
    pub losses: usize,
    /// Items where they tie.
    pub ties: usize,
    /// The paired differences of every metric (uncorrected p-values).
    pub deltas: MetricDeltas,
}

/// A place in the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// 1 for the highest mean F1.
    pub rank: usize,
    /// The system's name.
    pub name: String,
    /// Its mean F1.
    pub f1: f64,
}

/// The best system against the runner-up (paired on the same items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadToHead {
    /// The system ranked first.
    pub best: String,
    /// The system ranked second.
    pub runner_up: String,
    /// best's mean F1 − runner-up's.
    pub delta_f1: f64,
    /// 95% paired bootstrap interval of `delta_f1`.
    pub ci95: [f64; 2],
    /// Two-sided paired permutation p-value.
    pub p_value: f64,
    /// Items where best's F1 is higher.
    pub wins: usize,
    /// Items where it is lower.
    pub losses: usize,
    /// Items where they tie.
    pub ties: usize,
}

/// One item's outcome for every system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemsItemComparison {
    /// The item's id.
    pub id: String,
    /// The prompt, when the files carry one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prompt: Option<String>,
    /// The references.
    pub references: Vec<String>,
    /// The base's output and scores.
    pub base: ScoredText,
    /// Each system's output and scores, in the order of `systems`.
    pub systems: Vec<ScoredText>,
}

/// The N-way comparison, as `bertscore compare BASE SYS1 SYS2 …` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemsComparison {
    /// The scorer's settings string (bert_score's hash).
    pub settings: String,
    /// Items compared.
    pub n: usize,
    /// The base's mean scores.
    pub base: MeanScores,
    /// Every system against the base, in the order given.
    pub systems: Vec<SystemStatistics>,
    /// The systems by mean F1, highest first.
    pub ranking: Vec<Ranked>,
    /// The first of the ranking against the second.
    pub best_vs_runner_up: HeadToHead,
    /// The best system's name, `base`, or `inconclusive`.
    pub verdict: String,
    /// How the p-values were adjusted.
    pub correction: Correction,
    /// How the p-values were obtained.
    pub permutation_test: PermutationTest,
    /// Bootstrap resamples.
    pub bootstrap: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// The margin a verdict needs.
    pub margin: f64,
    /// The significance level.
    pub alpha: f64,
    /// What the engine noticed.
    pub warnings: Vec<String>,
    /// Every item.
    pub items: Vec<SystemsItemComparison>,
}

impl SystemsComparison {
    /// The statistics of the system called `name`.
    pub fn system(&self, name: &str) -> Option<&SystemStatistics> {
        self.systems.iter().find(|s| s.name == name)
    }
}

/// Scores the base and every system in one engine call and computes the N-way statistics.
pub fn compare_systems(
    scorer: &Scorer,
    items: &[SystemsItem],
    names: &[String],
    settings: &CompareSettings,
    correction: Correction,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SystemsComparison, CompareError> {
    settings.validate()?;
    if items.is_empty() {
        return Err(CompareError::Empty);
    }
    check_names(names, items[0].systems.len())?;
    if names.len() < 2 {
        return Err(CompareError::InvalidOption(
            "an N-way comparison needs at least two systems besides the base".into(),
        ));
    }
    // [base…, system 1…, system 2…, …] against each item's references, repeated: the engine embeds each
    // distinct text once, so the shared references are encoded a single time.
    let columns = names.len() + 1;
    let mut candidates = Vec::with_capacity(items.len() * columns);
    candidates.extend(items.iter().map(|item| item.base.clone()));
    for k in 0..names.len() {
        candidates.extend(items.iter().map(|item| item.systems[k].clone()));
    }
    let references: Vec<Vec<String>> = (0..columns)
        .flat_map(|_| items.iter().map(|item| item.references.clone()))
        .collect();
    let report = scorer.score_with_progress(&candidates, &references, progress)?;
    if report.scores.len() != candidates.len() {
        return Err(CompareError::ScoreCount {
            expected: candidates.len(),
            got: report.scores.len(),
        });
    }
    let scores: Vec<&[PairScore]> = report.scores.chunks(items.len()).collect();
    let mut comparison = statistics(&scores, names, settings, correction)?;
    comparison.settings = scorer.hash();
    comparison.warnings = report.warnings;
    comparison.items = items
        .iter()
        .enumerate()
        .map(|(i, item)| SystemsItemComparison {
            id: item.id.clone(),
            prompt: item.prompt.clone(),
            references: item.references.clone(),
            base: ScoredText::new(&item.base, scores[0][i]),
            systems: (0..names.len())
                .map(|k| ScoredText::new(&item.systems[k], scores[k + 1][i]))
                .collect(),
        })
        .collect();
    Ok(comparison)
}

/// The statistics of `scores[0]` (the base) against each `scores[k]` (system k − 1), without items.
pub fn statistics(
    scores: &[&[PairScore]],
    names: &[String],
    settings: &CompareSettings,
    correction: Correction,
) -> Result<SystemsComparison, CompareError> {
    let (base, systems) = scores
        .split_first()
        .ok_or_else(|| CompareError::InvalidOption("no base scores".into()))?;
    check_names(names, systems.len())?;
    if systems.len() < 2 {
        return Err(CompareError::InvalidOption(
            "an N-way comparison needs at least two systems besides the base".into(),
        ));
    }
    let paired = systems
        .iter()
        .map(|system| paired_statistics(base, system, settings))
        .collect::<Result<Vec<_>, _>>()?;
    let raw: Vec<f64> = paired.iter().map(|p| p.p_value).collect();
    let adjusted = correction.adjust(&raw);
    let stats: Vec<SystemStatistics> = paired
        .iter()
        .zip(names)
        .zip(&adjusted)
        .map(|((p, name), &p_adjusted)| SystemStatistics {
            name: name.clone(),
            means: p.custom,
            delta_f1: p.delta_f1,
            ci95: p.ci95,
            p_value: p.p_value,
            p_adjusted,
            wins: p.wins,
            losses: p.losses,
            ties: p.ties,
            deltas: p.deltas,
        })
        .collect();

    let mut order: Vec<usize> = (0..stats.len()).collect();
    // Highest mean F1 first; the order given breaks exact ties.
    order.sort_by(|&a, &b| {
        stats[b]
            .means
            .f1
            .total_cmp(&stats[a].means.f1)
            .then(a.cmp(&b))
    });
    let ranking = order
        .iter()
        .enumerate()
        .map(|(place, &k)| Ranked {
            rank: place + 1,
            name: stats[k].name.clone(),
            f1: stats[k].means.f1,
        })
        .collect();
    let (best, runner_up) = (order[0], order[1]);
    let head = paired_statistics(systems[runner_up], systems[best], settings)?;
    let best_vs_runner_up = HeadToHead {
        best: stats[best].name.clone(),
        runner_up: stats[runner_up].name.clone(),
        delta_f1: head.delta_f1,
        ci95: head.ci95,
        p_value: head.p_value,
        wins: head.wins,
        losses: head.losses,
        ties: head.ties,
    };

    let significant = |s: &SystemStatistics| s.p_adjusted < settings.alpha;
    let verdict = if significant(&stats[best]) && stats[best].delta_f1 > settings.margin {
        stats[best].name.clone()
    } else if stats
        .iter()
        .all(|s| significant(s) && s.delta_f1 < -settings.margin)
    {
        "base".to_string()
    } else {
        "inconclusive".to_string()
    };
    let first = &paired[0];
    Ok(SystemsComparison {
        settings: String::new(),
        n: first.n,
        base: first.base,
        systems: stats,
        ranking,
        best_vs_runner_up,
        verdict,
        correction,
        permutation_test: first.permutation_test,
        bootstrap: first.bootstrap,
        seed: first.seed,
        margin: settings.margin,
        alpha: settings.alpha,
        warnings: Vec::new(),
        items: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn holm_by_hand() {
        // m = 3, sorted p: 0.01 (×3 = 0.03), 0.03 (×2 = 0.06), 0.04 (×1 = 0.04 → max(0.06, 0.04) = 0.06).
        let p = [0.04, 0.01, 0.03];
        assert!(close(&Correction::Holm.adjust(&p), &[0.06, 0.03, 0.06]));
        assert!(close(
            &Correction::Bonferroni.adjust(&p),
            &[0.12, 0.03, 0.09]
        ));
        assert!(close(&Correction::None.adjust(&p), &p));
        // Capped at 1; monotone in the sorted order.
        let p = [0.5, 0.2, 0.9, 0.001];
        // sorted: 0.001×4 = 0.004, 0.2×3 = 0.6, 0.5×2 = 1.0, 0.9×1 = 0.9 → 1.0
        assert!(close(&Correction::Holm.adjust(&p), &[1.0, 0.6, 1.0, 0.004]));
        assert_eq!("Holm".parse::<Correction>(), Ok(Correction::Holm));
        assert!("sidak".parse::<Correction>().is_err());
    }

    fn scores(f1: &[f64]) -> Vec<PairScore> {
        f1.iter()
            .map(|&f| PairScore {
                precision: f,
                recall: f,
                f1: f,
            })
            .collect()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_best_system_wins_only_when_it_survives_the_correction() {
        // 6 items: exact permutation test over 2^6 = 64 sign patterns. `a` gains 0.1 on all six items: only
        // the all-plus and all-minus patterns reach |mean| ≥ 0.1, p = 2/64 = 0.03125. `b` gains on 5 of 6.
        let base = scores(&[0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
        let a = scores(&[0.6, 0.6, 0.6, 0.6, 0.6, 0.6]);
        let b = scores(&[0.55, 0.55, 0.55, 0.55, 0.55, 0.45]);
        let settings = CompareSettings::default();
        let c = statistics(
            &[&base, &a, &b],
            &names(&["a", "b"]),
            &settings,
            Correction::None,
        )
        .unwrap();
        let pa = c.system("a").unwrap().p_value;
        assert!((pa - 2.0 / 64.0).abs() < 1e-12, "{pa}");
        assert_eq!(c.verdict, "a", "uncorrected, 0.031 < 0.05");
        assert_eq!(c.ranking[0].name, "a");
        assert_eq!(c.best_vs_runner_up.best, "a");
        assert_eq!(c.best_vs_runner_up.runner_up, "b");
        assert!((c.best_vs_runner_up.delta_f1 - (0.1 - (0.05 * 5.0 - 0.05) / 6.0)).abs() < 1e-12);

        // Holm over two systems: a's p is the smaller, so it is doubled (0.0625 >= 0.05): no longer a win.
        let c = statistics(
            &[&base, &a, &b],
            &names(&["a", "b"]),
            &settings,
            Correction::Holm,
        )
        .unwrap();
        let pb = c.system("b").unwrap().p_value;
        assert!(pb > pa);
        let expected = Correction::Holm.adjust(&[pa, pb]);
        assert!((c.system("a").unwrap().p_adjusted - 2.0 * pa).abs() < 1e-12);
        assert!((c.system("a").unwrap().p_adjusted - expected[0]).abs() < 1e-12);
        assert!((c.system("b").unwrap().p_adjusted - expected[1]).abs() < 1e-12);
        assert_eq!(c.verdict, "inconclusive");
    }

    #[test]
    fn base_wins_only_when_every_system_is_significantly_worse() {
        let base = scores(&[0.6; 8]);
        let worse = scores(&[0.5; 8]);
        let much_worse = scores(&[0.4; 8]);
        let settings = CompareSettings::default();
        let c = statistics(
            &[&base, &worse, &much_worse],
            &names(&["w", "mw"]),
            &settings,
            Correction::Holm,
        )
        .unwrap();
        // Each p = 2/256; Holm: 2 × 2/256 and max(that, 1 × 2/256).
        assert!((c.systems[0].p_adjusted - 4.0 / 256.0).abs() < 1e-12);
        assert!((c.systems[1].p_adjusted - 4.0 / 256.0).abs() < 1e-12);
        assert_eq!(c.verdict, "base");
        assert_eq!(c.ranking[0].name, "w");

        let same = scores(&[0.6; 8]);
        let c = statistics(
            &[&base, &worse, &same],
            &names(&["w", "same"]),
            &settings,
            Correction::Holm,
        )
        .unwrap();
        assert_eq!(c.verdict, "inconclusive");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_names(&names(&["a", "b"]), 2).is_ok());
        assert!(check_names(&names(&["a"]), 2).is_err());
        assert!(check_names(&names(&["a", "a"]), 2).is_err());
        assert!(check_names(&names(&["base", "b"]), 2).is_err());
        assert!(check_names(&names(&["", "b"]), 2).is_err());
        assert_eq!(
            default_names(&[PathBuf::from("runs/lr-1e-5.jsonl"), PathBuf::from("b.json")]),
            ["lr-1e-5", "b"]
        );
    }
}
