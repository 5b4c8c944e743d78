//! Paired statistics on per-item scores: means, a bootstrap confidence interval for the mean difference, a
//! sign-flip permutation test, wins/losses/ties and the verdict.
//!
//! Everything is computed on the paired differences `d_i = custom_i - base_i` (for P, R and F1 alike; the
//! verdict uses F1):
//! - **bootstrap**: `B` resamples of the item indices with replacement; the CI is the 2.5th and 97.5th
//!   percentiles of the resampled means (linear interpolation between order statistics, numpy's default);
//! - **permutation test** (approximate randomization): under "no difference" each `d_i` is as likely to be
//!   `-d_i`, so the signs are flipped at random and the p-value is the share of sign patterns whose
//!   `|mean|` reaches the observed one. With at most `permutations` distinct patterns (`2^n`, small `n`) all
//!   are enumerated and `p = count / 2^n` exactly; otherwise `N` random patterns give
//!   `p = (count + 1) / (N + 1)`. All differences zero gives `p = 1`;
//! - **ties**: `|d_i| <= 1e-9` ([`TIE_TOLERANCE`]): identical texts score identically, and differences that
//!   small are below what f32 encoders resolve.
//!
//! The random draws come from ChaCha8 seeded with `seed`, one stream for the bootstrap and another for the
//! permutations, so each is reproducible on every platform and neither depends on the other's count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use bertscore_engine::PairScore;

use crate::{CompareError, Verdict};

/// Differences at most this large (in absolute value) are ties.
pub const TIE_TOLERANCE: f64 = 1e-9;

/// Exact enumeration is used up to this many items (2^20 patterns), when `permutations` allows it.
const MAX_EXACT_ITEMS: usize = 20;

const BOOTSTRAP_STREAM: u64 = 1;
const PERMUTATION_STREAM: u64 = 2;

/// Mean precision, recall and F1 over the items.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanScores {
    /// Mean precision.
    pub precision: f64,
    /// Mean recall.
    pub recall: f64,
    /// Mean F1.
    pub f1: f64,
}

/// The paired difference custom − base of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeltaStatistics {
    /// Mean of the per-item differences (= difference of the means).
    pub mean: f64,
    /// 95% paired bootstrap percentile interval of `mean`.
    pub ci95: [f64; 2],
    /// Two-sided paired permutation p-value.
    pub p_value: f64,
}

/// [`DeltaStatistics`] for each metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricDeltas {
    /// Precision.
    pub precision: DeltaStatistics,
    /// Recall.
    pub recall: DeltaStatistics,
    /// F1 (the verdict's metric).
    pub f1: DeltaStatistics,
}

/// How the p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum PermutationTest {
    /// All `2^n` sign patterns.
    Exact {
        /// `2^n`.
        patterns: u64,
    },
    /// `permutations` random sign patterns.
    MonteCarlo {
        /// How many.
        permutations: usize,
    },
}

/// Everything computed from the paired scores. F1 is the headline metric: `delta_f1`, `ci95` and `p_value`
/// repeat `deltas.f1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedStatistics {
    /// Items compared.
    pub n: usize,
    /// The base model's mean scores.
    pub base: MeanScores,
    /// The custom model's mean scores.
    pub custom: MeanScores,
    /// Mean F1 difference, custom − base.
    pub delta_f1: f64,
    /// 95% bootstrap interval of `delta_f1`.
    pub ci95: [f64; 2],
    /// Two-sided permutation p-value of `delta_f1`.
    pub p_value: f64,
    /// Items where custom's F1 is higher than base's by more than [`TIE_TOLERANCE`].
    pub wins: usize,
    /// Items where custom's F1 is lower.
    pub losses: usize,
    /// Items whose F1 differs by at most [`TIE_TOLERANCE`].
    pub ties: usize,
    /// Which model the evidence favours.
    pub verdict: Verdict,
    /// The same statistics for precision, recall and F1.
    pub deltas: MetricDeltas,
    /// How the p-values were computed.
    pub permutation_test: PermutationTest,
    /// Bootstrap resamples drawn.
    pub bootstrap: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// The margin the verdict used.
    pub margin: f64,
    /// The significance level the verdict used.
    pub alpha: f64,
}

/// Most bootstrap resamples or permutation sign patterns: a million already pins a 95% interval or a p-value
/// far below the noise of the scores, and each costs one pass over the items.
pub const MAX_RESAMPLES: usize = 1_000_000;

/// How the difference is tested and judged: the settings of `bertscore compare` and of the pipeline's
/// `[scoring]` section. Every field has a default; in TOML or JSON a field left out takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompareSettings {
    /// Bootstrap resamples for the 95% confidence interval, 1 to [`MAX_RESAMPLES`].
    pub bootstrap: usize,
    /// Random sign patterns for the permutation test, 1 to [`MAX_RESAMPLES`] (all `2^n` are enumerated when
    /// there are no more).
    pub permutations: usize,
    /// Seed of the bootstrap and permutation draws.
    pub seed: u64,
    /// The F1 gain (or loss) the mean difference must exceed for a verdict other than `inconclusive`; >= 0.
    pub margin: f64,
    /// Significance level of the permutation test, in (0, 1).
    pub alpha: f64,
}

impl Default for CompareSettings {
    fn default() -> Self {
        Self {
            bootstrap: 10_000,
            permutations: 10_000,
            seed: 0,
            margin: 0.0,
            alpha: 0.05,
        }
    }
}

impl CompareSettings {
    /// The field names, as TOML and JSON spell them.
    pub const FIELDS: [&'static str; 5] = ["bootstrap", "permutations", "seed", "margin", "alpha"];

    /// Rejects settings the statistics cannot be computed with, naming the field: resample counts out of
    /// 1..=[`MAX_RESAMPLES`], a negative or non-finite margin, alpha outside (0, 1).
    pub fn validate(&self) -> Result<(), CompareError> {
        let invalid = |message: String| Err(CompareError::InvalidOption(message));
        for (name, count, unit) in [
            ("bootstrap", self.bootstrap, "resamples"),
            ("permutations", self.permutations, "sign patterns"),
        ] {
            if !(1..=MAX_RESAMPLES).contains(&count) {
                return invalid(format!(
                    "{name} must be 1 to {MAX_RESAMPLES} {unit}, not {count}"
                ));
            }
        }
        if !(self.margin >= 0.0 && self.margin.is_finite()) {
            return invalid(format!(
                "margin must be a finite number >= 0, not {}",
                self.margin
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return invalid(format!("alpha must be in (0, 1), not {}", self.alpha));
        }
        Ok(())
    }
}

/// The verdict on F1: `custom` when its mean gain exceeds `margin` and is significant at `alpha`, `base` for
/// a significant loss beyond `margin`, else `inconclusive`.
pub fn verdict(delta_f1: f64, p_value: f64, options: &CompareSettings) -> Verdict {
    if p_value < options.alpha && delta_f1 > options.margin {
        Verdict::Custom
    } else if p_value < options.alpha && delta_f1 < -options.margin {
        Verdict::Base
    } else {
        Verdict::Inconclusive
    }
}

/// Computes the paired statistics of `custom` against `base` (same items, same order).
pub fn paired_statistics(
    base: &[PairScore],
    custom: &[PairScore],
    options: &CompareSettings,
) -> Result<PairedStatistics, CompareError> {
    options.validate()?;
    if base.len() != custom.len() {
        return Err(CompareError::InvalidOption(format!(
            "{} base scores but {} custom scores",
            base.len(),
            custom.len()
        )));
    }
    if base.is_empty() {
        return Err(CompareError::Empty);
    }
    if let Some(index) = base
        .iter()
        .chain(custom)
        .position(|s| !(s.precision.is_finite() && s.recall.is_finite() && s.f1.is_finite()))
    {
        return Err(CompareError::InvalidOption(format!(
            "score {} is not a finite number",
            index % base.len() + 1
        )));
    }
    let n = base.len();
    let metric = |pick: fn(&PairScore) -> f64| -> Vec<f64> {
        base.iter()
            .zip(custom)
            .map(|(b, c)| pick(c) - pick(b))
            .collect()
    };
    let differences = [
        metric(|s| s.precision),
        metric(|s| s.recall),
        metric(|s| s.f1),
    ];
    let intervals = bootstrap_intervals(&differences, options.bootstrap, options.seed);
    let (p_values, permutation_test) =
        permutation_p_values(&differences, options.permutations, options.seed);

    let delta = |m: usize| DeltaStatistics {
        mean: mean(&differences[m]),
        ci95: intervals[m],
        p_value: p_values[m],
    };
    let deltas = MetricDeltas {
        precision: delta(0),
        recall: delta(1),
        f1: delta(2),
    };
    let f1 = &differences[2];
    let wins = f1.iter().filter(|&&d| d > TIE_TOLERANCE).count();
    let losses = f1.iter().filter(|&&d| d < -TIE_TOLERANCE).count();
    Ok(PairedStatistics {
        n,
        base: means(base),
        custom: means(custom),
        delta_f1: deltas.f1.mean,
        ci95: deltas.f1.ci95,
        p_value: deltas.f1.p_value,
        wins,
        losses,
        ties: n - wins - losses,
        verdict: verdict(deltas.f1.mean, deltas.f1.p_value, options),
        deltas,
        permutation_test,
        bootstrap: options.bootstrap,
        seed: options.seed,
        margin: options.margin,
        alpha: options.alpha,
    })
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn means(scores: &[PairScore]) -> MeanScores {
    let n = scores.len() as f64;
    MeanScores {
        precision: scores.iter().map(|s| s.precision).sum::<f64>() / n,
        recall: scores.iter().map(|s| s.recall).sum::<f64>() / n,
        f1: scores.iter().map(|s| s.f1).sum::<f64>() / n,
    }
}

/// 95% percentile intervals of the three metrics' mean differences, from the same resamples.
fn bootstrap_intervals(differences: &[Vec<f64>; 3], resamples: usize, seed: u64) -> [[f64; 2]; 3] {
    let n = differences[0].len();
    let intervals = bootstrap_ci95(n, resamples, seed, |indices| {
        differences
            .iter()
            .map(|d| indices.iter().map(|&i| d[i]).sum::<f64>() / n as f64)
            .collect()
    });
    std::array::from_fn(|m| intervals[m])
}

/// The seeded bootstrap every resampled statistic of the project uses: `resamples` draws of `n` item
/// indices with replacement (ChaCha8 seeded with `seed`, the bootstrap stream), `statistics` of each draw
/// (always the same number of values), and the 95% percentile interval of each value over the draws
/// (2.5th and 97.5th percentiles, linear interpolation as numpy's default). NaN statistics sort last.
///
/// # Panics
/// When `n` or `resamples` is 0 (callers check their inputs and options first).
pub fn bootstrap_ci95(
    n: usize,
    resamples: usize,
    seed: u64,
    mut statistics: impl FnMut(&[usize]) -> Vec<f64>,
) -> Vec<[f64; 2]> {
    assert!(
        n > 0 && resamples > 0,
        "a bootstrap needs items and resamples"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(BOOTSTRAP_STREAM);
    let mut indices = vec![0; n];
    let mut resampled: Vec<Vec<f64>> = Vec::new();
    for _ in 0..resamples {
        indices
            .iter_mut()
            .for_each(|index| *index = rng.random_range(0..n));
        let values = statistics(&indices);
        if resampled.is_empty() {
            resampled = vec![Vec::with_capacity(resamples); values.len()];
        }
        for (column, value) in resampled.iter_mut().zip(values) {
            column.push(value);
        }
    }
    resampled
        .into_iter()
        .map(|mut column| {
            column.sort_by(f64::total_cmp);
            [percentile(&column, 2.5), percentile(&column, 97.5)]
        })
        .collect()
}

/// The `q`th percentile of sorted values, interpolating linearly between order statistics.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let weight = position - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * weight
}

/// Two-sided sign-flip p-values of the three metrics, from the same sign patterns.
fn permutation_p_values(
    differences: &[Vec<f64>; 3],
    permutations: usize,
    seed: u64,
) -> ([f64; 3], PermutationTest) {
    let n = differences[0].len();
    // A pattern's |mean| reaches the observed one when it is within rounding of it (or above).
    let thresholds = differences
        .clone()
        .map(|d| d.iter().sum::<f64>().abs() - 1e-12);
    let mut counts = [0u64; 3];
    let mut count_pattern = |signs: &dyn Fn(usize) -> bool| {
        let mut sums = [0.0; 3];
        for i in 0..n {
            let flip = signs(i);
            for (sum, d) in sums.iter_mut().zip(differences) {
                *sum += if flip { -d[i] } else { d[i] };
            }
        }
        for ((count, sum), threshold) in counts.iter_mut().zip(sums).zip(thresholds) {
            if sum.abs() >= threshold {
                *count += 1;
            }
        }
    };

    if n <= MAX_EXACT_ITEMS && (1usize << n) <= permutations {
        let patterns = 1u64 << n;
        for pattern in 0..patterns {
            count_pattern(&|i| pattern >> i & 1 == 1);
        }
        let p = counts.map(|count| count as f64 / patterns as f64);
        return (p, PermutationTest::Exact { patterns });
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(PERMUTATION_STREAM);
    let mut bits = vec![0u64; n.div_ceil(64)];
    for _ in 0..permutations {
        bits.iter_mut().for_each(|word| *word = rng.random());
        count_pattern(&|i| bits[i / 64] >> (i % 64) & 1 == 1);
    }
    let p = counts.map(|count| (count + 1) as f64 / (permutations + 1) as f64);
    (p, PermutationTest::MonteCarlo { permutations })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(f1: &[f64]) -> Vec<PairScore> {
        f1.iter()
            .map(|&f| PairScore {
                precision: f,
                recall: f,
                f1: f,
            })
            .collect()
    }

    fn options() -> CompareSettings {
        CompareSettings::default()
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let o = options();
        assert_eq!((o.bootstrap, o.permutations, o.seed), (10_000, 10_000, 0));
        assert_eq!((o.margin, o.alpha), (0.0, 0.05));
    }

    #[test]
    fn clearly_better_custom_wins() {
        let base = scores(&[
            0.50, 0.55, 0.60, 0.52, 0.58, 0.61, 0.49, 0.57, 0.54, 0.53, 0.56, 0.59,
        ]);
        let custom: Vec<PairScore> = base
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let f = s.f1 + 0.08 + 0.01 * (i % 3) as f64;
                PairScore {
                    precision: f,
                    recall: f,
                    f1: f,
                }
            })
            .collect();
        let stats = paired_statistics(&base, &custom, &options()).unwrap();
        assert_eq!(stats.verdict, Verdict::Custom);
        assert_eq!((stats.wins, stats.losses, stats.ties), (12, 0, 0));
        assert!((stats.delta_f1 - 0.09).abs() < 1e-12, "{}", stats.delta_f1);
        assert!(
            stats.ci95[0] > 0.08 && stats.ci95[1] < 0.10,
            "{:?}",
            stats.ci95
        );
        assert!(stats.ci95[0] <= stats.delta_f1 && stats.delta_f1 <= stats.ci95[1]);
        // 12 items: 4096 patterns <= 10000, so exact; only all-plus and all-minus reach the observed |mean|.
        assert_eq!(
            stats.permutation_test,
            PermutationTest::Exact { patterns: 4096 }
        );
        assert_eq!(stats.p_value, 2.0 / 4096.0);

        let swapped = paired_statistics(&custom, &base, &options()).unwrap();
        assert_eq!(swapped.verdict, Verdict::Base);
        assert_eq!((swapped.wins, swapped.losses), (0, 12));
        assert!((swapped.delta_f1 + stats.delta_f1).abs() < 1e-12);
        assert_eq!(swapped.p_value, stats.p_value);
    }

    #[test]
    fn identical_scores_are_inconclusive_with_zero_delta() {
        let base = scores(&[0.3, 0.9, 0.5, 0.7]);
        let stats = paired_statistics(&base, &base, &options()).unwrap();
        assert_eq!(stats.verdict, Verdict::Inconclusive);
        assert_eq!(stats.delta_f1, 0.0);
        assert_eq!(stats.ci95, [0.0, 0.0]);
        assert_eq!(stats.p_value, 1.0);
        assert_eq!((stats.wins, stats.losses, stats.ties), (0, 0, 4));
    }

    #[test]
    fn seeded_bootstrap_is_reproducible_and_seed_dependent() {
        let base = scores(&[
            0.1, 0.4, 0.35, 0.8, 0.2, 0.6, 0.45, 0.3, 0.9, 0.55, 0.25, 0.65, 0.5, 0.7, 0.15, 0.85,
            0.05, 0.75, 0.95, 0.33, 0.44, 0.66,
        ]);
        let custom = scores(&[
            0.2, 0.3, 0.5, 0.7, 0.3, 0.65, 0.4, 0.45, 0.85, 0.6, 0.2, 0.7, 0.55, 0.6, 0.3, 0.9,
            0.1, 0.7, 0.9, 0.4, 0.5, 0.6,
        ]);
        let mut o = options();
        o.seed = 7;
        let first = paired_statistics(&base, &custom, &o).unwrap();
        let second = paired_statistics(&base, &custom, &o).unwrap();
        assert_eq!(first, second);
        // 22 items: too many to enumerate, so the permutation test is random too.
        assert_eq!(
            first.permutation_test,
            PermutationTest::MonteCarlo {
                permutations: 10_000
            }
        );
        o.seed = 8;
        let other = paired_statistics(&base, &custom, &o).unwrap();
        assert_ne!(first.ci95, other.ci95);
        assert_ne!(first.p_value, other.p_value);
        assert_eq!(first.delta_f1, other.delta_f1);
    }

    #[test]
    fn bootstrap_interval_matches_a_direct_computation() {
        // With one item every resample is that item: the interval collapses onto it.
        let stats = paired_statistics(&scores(&[0.2]), &scores(&[0.5]), &options()).unwrap();
        assert!((stats.ci95[0] - 0.3).abs() < 1e-12 && (stats.ci95[1] - 0.3).abs() < 1e-12);
        // Two items with differences 0 and 1: resample means are 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4,
        // so the 2.5th percentile is 0 and the 97.5th is 1.
        let stats =
            paired_statistics(&scores(&[0.0, 0.0]), &scores(&[0.0, 1.0]), &options()).unwrap();
        assert_eq!(stats.ci95, [0.0, 1.0]);
        assert_eq!(percentile(&[0.0, 1.0, 2.0, 3.0, 4.0], 25.0), 1.0);
        assert_eq!(percentile(&[0.0, 10.0], 2.5), 0.25);
    }

    #[test]
    fn exact_permutation_p_value_by_hand() {
        // Differences +0.1, +0.1, -0.05: observed sum 0.15. Sign patterns of the sums:
        // +++ 0.15, ++- 0.25, +-+ -0.05, +-- 0.05, -++ -0.05, -+- 0.05, --+ -0.25, --- -0.15
        // |sum| >= 0.15: 4 of 8.
        let stats = paired_statistics(
            &scores(&[0.5, 0.5, 0.5]),
            &scores(&[0.6, 0.6, 0.45]),
            &options(),
        )
        .unwrap();
        assert_eq!(
            stats.permutation_test,
            PermutationTest::Exact { patterns: 8 }
        );
        assert_eq!(stats.p_value, 0.5);
        assert_eq!(stats.verdict, Verdict::Inconclusive);
        assert_eq!((stats.wins, stats.losses, stats.ties), (2, 1, 0));
    }

    #[test]
    fn monte_carlo_p_value_approaches_the_exact_one() {
        let base = scores(&[0.5, 0.4, 0.6, 0.55, 0.45, 0.5, 0.52, 0.48]);
        let custom = scores(&[0.55, 0.38, 0.66, 0.57, 0.5, 0.49, 0.58, 0.47]);
        let exact = paired_statistics(&base, &custom, &options()).unwrap();
        assert_eq!(
            exact.permutation_test,
            PermutationTest::Exact { patterns: 256 }
        );
        let mut o = options();
        o.permutations = 200; // fewer than 256 patterns: sampled
        let sampled = paired_statistics(&base, &custom, &o).unwrap();
        assert_eq!(
            sampled.permutation_test,
            PermutationTest::MonteCarlo { permutations: 200 }
        );
        // Standard error of a proportion near 0.1 from 200 draws is about 0.02.
        assert!(
            (sampled.p_value - exact.p_value).abs() < 0.08,
            "{} vs {}",
            sampled.p_value,
            exact.p_value
        );
    }

    #[test]
    fn margin_and_alpha_gate_the_verdict() {
        let o = CompareSettings {
            margin: 0.02,
            ..options()
        };
        assert_eq!(verdict(0.03, 0.01, &o), Verdict::Custom);
        assert_eq!(verdict(0.01, 0.001, &o), Verdict::Inconclusive);
        assert_eq!(verdict(-0.03, 0.01, &o), Verdict::Base);
        assert_eq!(verdict(-0.01, 0.01, &o), Verdict::Inconclusive);
        assert_eq!(verdict(0.5, 0.05, &o), Verdict::Inconclusive);
        assert_eq!(verdict(0.5, 0.0499, &o), Verdict::Custom);
    }

    #[test]
    fn ties_use_the_tolerance() {
        let stats = paired_statistics(
            &scores(&[0.5, 0.5, 0.5]),
            &scores(&[0.5 + 5e-10, 0.5 - 5e-10, 0.5 + 2e-9]),
            &options(),
        )
        .unwrap();
        assert_eq!((stats.wins, stats.losses, stats.ties), (1, 0, 2));
    }

    #[test]
    fn bad_options_and_inputs_are_rejected() {
        let s = scores(&[0.5]);
        for o in [
            CompareSettings {
                bootstrap: 0,
                ..options()
            },
            CompareSettings {
                permutations: 0,
                ..options()
            },
            CompareSettings {
                alpha: 0.0,
                ..options()
            },
            CompareSettings {
                margin: -0.1,
                ..options()
            },
            CompareSettings {
                margin: f64::NAN,
                ..options()
            },
            CompareSettings {
                alpha: 1.0,
                ..options()
            },
        ] {
            assert!(
                matches!(
                    paired_statistics(&s, &s, &o),
                    Err(CompareError::InvalidOption(_))
                ),
                "{o:?}"
            );
        }
        assert!(paired_statistics(&s, &scores(&[0.5, 0.6]), &options()).is_err());
        assert!(matches!(
            paired_statistics(&[], &[], &options()),
            Err(CompareError::Empty)
        ));
        assert!(paired_statistics(&s, &scores(&[f64::NAN]), &options()).is_err());
    }

    #[test]
    fn resample_counts_are_capped() {
        for (bootstrap, permutations) in [
            (usize::MAX, 10),
            (1_000_000_000, 10),
            (MAX_RESAMPLES + 1, 10),
            (10, usize::MAX),
        ] {
            let o = CompareSettings {
                bootstrap,
                permutations,
                ..options()
            };
            let error = o.validate().unwrap_err().to_string();
            assert!(error.contains("must be 1 to 1000000"), "{error}");
            // Refused before anything is allocated.
            assert!(paired_statistics(&scores(&[0.5]), &scores(&[0.6]), &o).is_err());
        }
        let o = CompareSettings {
            bootstrap: MAX_RESAMPLES,
            permutations: MAX_RESAMPLES,
            ..options()
        };
        o.validate().unwrap();
    }

    #[test]
    fn settings_round_trip_with_defaults() {
        let json = serde_json::to_value(CompareSettings::default()).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        let mut expected = CompareSettings::FIELDS.to_vec();
        expected.sort_unstable();
        assert_eq!(fields, expected);
        let partial: CompareSettings = serde_json::from_str(r#"{"seed": 7}"#).unwrap();
        assert_eq!(
            partial,
            CompareSettings {
                seed: 7,
                ..CompareSettings::default()
            }
        );
        let error = serde_json::from_str::<CompareSettings>(r#"{"bootstrapp": 1}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `bootstrapp`"),
            "{error}"
        );
    }
}
