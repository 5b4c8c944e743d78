//! Greedy cosine matching: bert_score's `greedy_cos_idf`, for one candidate/reference pair.
//!
//! Embeddings arrive L2-normalised, so cosine similarity is a dot product. Each candidate token is
//! matched to its most similar reference token (precision) and each reference token to its most
//! similar candidate token (recall); the matched similarities are averaged with the token weights
//! (see [`crate::idf`]). Special tokens take part in the maxima — they are real positions of the
//! encoded sequence — but weigh 0 unless idf says otherwise.
//!
//! # bert_score's padding rule
//!
//! bert_score 0.3.13 (`bert_cos_score_idf`) does not match pairs one at a time: it takes the
//! flattened (candidate, reference) pairs — for each candidate in input order, each of its
//! references in order — in consecutive groups of 64 (its `batch_size`), pads every candidate and
//! every reference of a group to the group's longest one (embedding value 2.0), and
//! `greedy_cos_idf` multiplies the similarity matrix by the padding mask. A padded position
//! therefore takes part in the greedy maxima with similarity 0. The consequence, reproduced here:
//!
//! - a candidate token's best match is `max(best, 0)` when its pair's reference is shorter than
//!   the longest reference of the group;
//! - a reference token's best match is `max(best, 0)` when its pair's candidate is shorter than
//!   the longest candidate of the group.
//!
//! Lengths are in tokens, after truncation, special tokens included. Only tokens whose best
//! cosine similarity is negative are affected. The groups are bert_score's, over the whole
//! input ([`PADDING_GROUP`] pairs each, see [`GroupLengths`]), whatever batch size, thread count or
//! chunk size this engine uses; a pair scored on its own is a group of one and never clamped. An
//! input scored in parts keeps the whole input's groups when each pair's [`GroupMaxima`] is given.

use crate::PairScore;

/// One encoded text: `len × dim` L2-normalised vectors (row-major) and one weight per token.
#[derive(Debug, Clone, Copy)]
pub struct TokenVectors<'a> {
    /// `len × hidden` L2-normalised token vectors, row-major.
    pub vectors: &'a [f32],
    /// One weight per token.
    pub weights: &'a [f64],
}

impl TokenVectors<'_> {
    /// Tokens in the text.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether the text has no tokens.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// An empty text: bert_score's test, exactly two tokens (`[CLS] [SEP]` for an empty text with
    /// BERT-style tokenizers, but any two-token text, e.g. a two-piece word with Qwen3's
    /// tokenizer, which adds no special tokens), or no token at all (an empty text with such a
    /// tokenizer).
    pub fn is_empty_text(&self) -> bool {
        self.len() == 2 || self.is_empty()
    }

    fn row(&self, i: usize, dim: usize) -> &[f32] {
        &self.vectors[i * dim..(i + 1) * dim]
    }
}

/// What a pair's matching noticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchNotes {
    /// The candidate had no tokens but its special ones (scores set to 0, as bert_score does).
    pub empty_candidate: bool,
    /// The reference had no tokens but its special ones.
    pub empty_reference: bool,
}

/// How many consecutive flattened pairs bert_score matches together (its default `batch_size`).
pub const PADDING_GROUP: usize = 64;

/// Which sides of a pair bert_score padded in its group (see the [module docs](self)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Padded {
    /// The candidate is shorter than its group's longest candidate: every reference token also
    /// meets padded candidate positions, so its best match is at least 0.
    pub candidate: bool,
    /// The reference is shorter than its group's longest reference: every candidate token's best
    /// match is at least 0.
    pub reference: bool,
}

/// The longest candidate and the longest reference (in tokens) of the group of [`PADDING_GROUP`]
/// flattened pairs that one pair falls in: what decides which sides of the pair bert_score padded.
///
/// Scoring an input in parts (shards, Ray batches) groups its pairs differently than one call over
/// the whole input; computing every pair's maxima over the whole input ([`group_maxima`], from
/// [`Scorer::token_lengths`](crate::Scorer::token_lengths)) and scoring each part with
/// [`Scorer::score_part`](crate::Scorer::score_part) gives the whole input's scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupMaxima {
    /// Tokens in the group's longest candidate.
    pub candidate: usize,
    /// Tokens in the group's longest reference.
    pub reference: usize,
}

impl GroupMaxima {
    /// Which sides of a pair with these token counts bert_score padded.
    pub fn padded(self, cand_len: usize, ref_len: usize) -> Padded {
        Padded {
            candidate: cand_len < self.candidate,
            reference: ref_len < self.reference,
        }
    }
}

/// Each flattened pair's [`GroupMaxima`], given the (candidate, reference) token counts of every
/// flattened pair of a whole input, in order (for each candidate, one pair per reference).
pub fn group_maxima(lengths: &[(usize, usize)]) -> Vec<GroupMaxima> {
    let groups = GroupLengths::new(0, lengths.iter().copied());
    (0..lengths.len()).map(|pair| groups.maxima(pair)).collect()
}

/// The longest candidate and the longest reference (in tokens) of each of bert_score's groups of
/// [`PADDING_GROUP`] pairs, for a run of consecutive flattened pairs.
#[derive(Debug, Clone, Default)]
pub struct GroupLengths {
    /// Flattened index of the first pair the run covers; a multiple of [`PADDING_GROUP`].
    first_pair: usize,
    /// The maxima of each group, from the group of `first_pair` on.
    longest: Vec<GroupMaxima>,
}

impl GroupLengths {
    /// `lengths` holds the (candidate, reference) token counts of the flattened pairs
    /// `first_pair..first_pair + lengths.len()`; `first_pair` must start a group. Groups that the
    /// run covers only in part get the maxima of the part: give whole groups.
    pub fn new(first_pair: usize, lengths: impl IntoIterator<Item = (usize, usize)>) -> Self {
        assert_eq!(first_pair % PADDING_GROUP, 0, "runs start at a group");
        let mut longest: Vec<GroupMaxima> = Vec::new();
        for (k, (cand, reference)) in lengths.into_iter().enumerate() {
            if k % PADDING_GROUP == 0 {
                longest.push(GroupMaxima::default());
            }
            let group = longest.last_mut().expect("pushed above");
            group.candidate = group.candidate.max(cand);
            group.reference = group.reference.max(reference);
        }
        Self {
            first_pair,
            longest,
        }
    }

    /// The maxima of the group of flattened pair `pair`.
    pub fn maxima(&self, pair: usize) -> GroupMaxima {
        self.longest[(pair - self.first_pair) / PADDING_GROUP]
    }

    /// Which sides of flattened pair `pair` (with these token counts) bert_score padded.
    pub fn padded(&self, pair: usize, cand_len: usize, ref_len: usize) -> Padded {
        self.maxima(pair).padded(cand_len, ref_len)
    }

    /// The flattened pairs whose lengths [`GroupLengths::new`] needs to decide the pairs
    /// `pairs` of an input of `total` pairs: `pairs` widened to whole groups.
    pub fn covering(pairs: std::ops::Range<usize>, total: usize) -> std::ops::Range<usize> {
        let start = pairs.start - pairs.start % PADDING_GROUP;
        let end = pairs.end.div_ceil(PADDING_GROUP) * PADDING_GROUP;
        start..end.min(total)
    }
}

/// Scores one pair the way `greedy_cos_idf` does:
/// `P = Σᵢ w(cᵢ)·maxⱼ cos(cᵢ, rⱼ) / Σᵢ w(cᵢ)`, `R` likewise over the reference, `F = 2PR/(P+R)`.
/// A candidate or reference of exactly two tokens gets `P = R = 0`; `F` is computed from the raw
/// `P` and `R` first and then only NaN is replaced by 0, as bert_score does. A candidate or
/// reference with no token at all (an empty text with a tokenizer that adds no special tokens,
/// Qwen3's) gets `P = R = F = 0`, where bert_score divides 0 by 0 (P or R NaN, F 0): the score
/// bert_score gives an empty text with every other tokenizer, and NaN would poison every mean
/// and test over the scores. `padded` says which best matches bert_score's padding raises to 0
/// (see the [module docs](self)).
pub fn score_pair(
    candidate: TokenVectors,
    reference: TokenVectors,
    dim: usize,
    padded: Padded,
) -> (PairScore, MatchNotes) {
    let (mut best_for_candidate, mut best_for_reference) = best_matches(candidate, reference, dim);
    // A padded position's similarity is 0 (`sim * mask`); `torch.max` keeps NaN.
    let meet_padding = |best: &mut [f32]| {
        for b in best {
            if *b < 0.0 {
                *b = 0.0;
            }
        }
    };
    if padded.reference {
        meet_padding(&mut best_for_candidate);
    }
    if padded.candidate {
        meet_padding(&mut best_for_reference);
    }
    let mut precision = weighted_mean(&best_for_candidate, candidate.weights);
    let mut recall = weighted_mean(&best_for_reference, reference.weights);
    let mut f1 = 2.0 * precision * recall / (precision + recall);
    let notes = MatchNotes {
        empty_candidate: candidate.is_empty_text(),
        empty_reference: reference.is_empty_text(),
    };
    if notes.empty_candidate || notes.empty_reference {
        precision = 0.0;
        recall = 0.0;
    }
    if candidate.is_empty() || reference.is_empty() {
        f1 = 0.0;
    }
    if f1.is_nan() {
        f1 = 0.0;
    }
    (
        PairScore {
            precision,
            recall,
            f1,
        },
        notes,
    )
}

/// For each candidate token its best similarity over the reference, and for each reference token
/// its best similarity over the candidate.
pub fn best_matches(
    candidate: TokenVectors,
    reference: TokenVectors,
    dim: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut best_for_candidate = vec![f32::NEG_INFINITY; candidate.len()];
    let mut best_for_reference = vec![f32::NEG_INFINITY; reference.len()];
    for (i, best_i) in best_for_candidate.iter_mut().enumerate() {
        let c = candidate.row(i, dim);
        for (j, best_j) in best_for_reference.iter_mut().enumerate() {
            let s = dot(c, reference.row(j, dim));
            *best_i = best_i.max(s);
            *best_j = best_j.max(s);
        }
    }
    (best_for_candidate, best_for_reference)
}

/// `cos(cᵢ, rⱼ)` for all token pairs of two texts' normalised vectors (`len × dim`, row-major):
/// `similarity[i][j]`.
pub fn similarity_matrix(candidate: &[f32], reference: &[f32], dim: usize) -> Vec<Vec<f32>> {
    candidate
        .chunks_exact(dim)
        .map(|c| reference.chunks_exact(dim).map(|r| dot(c, r)).collect())
        .collect()
}

/// Divides each `dim`-wide row by its L2 norm (bert_score's `emb.div_(torch.norm(emb, dim=-1))`).
pub fn normalize_rows(vectors: &mut [f32], dim: usize) {
    for row in vectors.chunks_exact_mut(dim) {
        let norm = row
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt() as f32;
        for x in row {
            *x /= norm;
        }
    }
}

/// `Σ bestᵢ·wᵢ / Σ wᵢ` (NaN when the weights sum to 0, as in bert_score).
fn weighted_mean(best: &[f32], weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    best.iter()
        .zip(weights)
        .map(|(&b, &w)| f64::from(b) * (w / total))
        .sum()
}

/// Dot product with eight independent accumulators, so the compiler can vectorise it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0f32; LANES];
    let (a_chunks, a_rest) = a.split_at(a.len() - a.len() % LANES);
    let (b_chunks, b_rest) = b.split_at(a_chunks.len());
    for (x, y) in a_chunks
        .chunks_exact(LANES)
        .zip(b_chunks.chunks_exact(LANES))
    {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        let dim = v.len();
        normalize_rows(&mut v, dim);
        v
    }

    #[test]
    fn identical_texts_score_one() {
        let vectors: Vec<f32> = [unit(&[1.0, 0.0]), unit(&[0.6, 0.8]), unit(&[0.0, 1.0])].concat();
        let weights = [0.0, 1.0, 0.0];
        let t = TokenVectors {
            vectors: &vectors,
            weights: &weights,
        };
        let (score, notes) = score_pair(t, t, 2, Padded::default());
        assert!((score.precision - 1.0).abs() < 1e-6);
        assert!((score.recall - 1.0).abs() < 1e-6);
        assert!((score.f1 - 1.0).abs() < 1e-6);
        assert_eq!(notes, MatchNotes::default());
    }

    #[test]
    fn precision_and_recall_use_their_own_side() {
        // Candidate: [CLS] a [SEP]; reference: [CLS] a b [SEP] with b orthogonal to everything else.
        let cls = unit(&[1.0, 0.0, 0.0]);
        let a = unit(&[0.0, 1.0, 0.0]);
        let b = unit(&[0.0, 0.0, 1.0]);
        let cand: Vec<f32> = [cls.clone(), a.clone(), cls.clone()].concat();
        let refs: Vec<f32> = [cls.clone(), a, b, cls].concat();
        let (score, _) = score_pair(
            TokenVectors {
                vectors: &cand,
                weights: &[0.0, 1.0, 0.0],
            },
            TokenVectors {
                vectors: &refs,
                weights: &[0.0, 1.0, 1.0, 0.0],
            },
            3,
            Padded::default(),
        );
        assert!((score.precision - 1.0).abs() < 1e-6);
        assert!((score.recall - 0.5).abs() < 1e-6);
        assert!((score.f1 - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn empty_candidate_scores_zero() {
        let v: Vec<f32> = [unit(&[1.0, 0.0]), unit(&[0.0, 1.0])].concat();
        let w = [0.0, 0.0];
        let r: Vec<f32> = [unit(&[1.0, 0.0]), unit(&[1.0, 1.0]), unit(&[0.0, 1.0])].concat();
        let (score, notes) = score_pair(
            TokenVectors {
                vectors: &v,
                weights: &w,
            },
            TokenVectors {
                vectors: &r,
                weights: &[0.0, 1.0, 0.0],
            },
            2,
            Padded::default(),
        );
        assert_eq!((score.precision, score.recall, score.f1), (0.0, 0.0, 0.0));
        assert!(notes.empty_candidate && !notes.empty_reference);
    }

    #[test]
    fn a_text_without_tokens_scores_zero_where_bert_score_gives_nan() {
        let r: Vec<f32> = [unit(&[1.0, 0.0]), unit(&[1.0, 1.0]), unit(&[0.0, 1.0])].concat();
        let some = TokenVectors {
            vectors: &r,
            weights: &[1.0, 1.0, 1.0],
        };
        let none = TokenVectors {
            vectors: &[],
            weights: &[],
        };
        for padded in [
            Padded::default(),
            Padded {
                candidate: true,
                reference: true,
            },
        ] {
            let (score, notes) = score_pair(none, some, 2, padded);
            assert_eq!((score.precision, score.recall, score.f1), (0.0, 0.0, 0.0));
            assert!(notes.empty_candidate && !notes.empty_reference);
            let (score, notes) = score_pair(some, none, 2, padded);
            assert_eq!((score.precision, score.recall, score.f1), (0.0, 0.0, 0.0));
            assert!(!notes.empty_candidate && notes.empty_reference);
        }
    }

    #[test]
    fn a_two_token_text_keeps_its_f_with_every_token_weighed() {
        // Qwen3: a two-piece word, both pieces weighing 1, is "empty" to bert_score: P = R = 0,
        // F = 2PR/(P+R) of the raw P and R.
        let c: Vec<f32> = [unit(&[1.0, 0.0]), unit(&[0.0, 1.0])].concat();
        let r: Vec<f32> = [unit(&[1.0, 0.0]), unit(&[1.0, 1.0]), unit(&[-1.0, 0.2])].concat();
        let candidate = TokenVectors {
            vectors: &c,
            weights: &[1.0, 1.0],
        };
        let reference = TokenVectors {
            vectors: &r,
            weights: &[1.0, 1.0, 1.0],
        };
        let (score, notes) = score_pair(candidate, reference, 2, Padded::default());
        let p = (1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0;
        let r_raw = (1.0 + std::f64::consts::FRAC_1_SQRT_2 + unit(&[-1.0, 0.2])[1] as f64) / 3.0;
        assert_eq!((score.precision, score.recall), (0.0, 0.0));
        assert!(
            (score.f1 - 2.0 * p * r_raw / (p + r_raw)).abs() < 1e-6,
            "{score:?}"
        );
        assert!(notes.empty_candidate && !notes.empty_reference);
    }

    #[test]
    fn padding_raises_negative_best_matches_to_zero() {
        // Candidate [x, x, -x] (weights 0, 1, 1); reference [x, x, x]: the last candidate token's
        // best is -1.
        let x = unit(&[1.0, 0.0]);
        let minus: Vec<f32> = x.iter().map(|v| -v).collect();
        let cand: Vec<f32> = [x.clone(), x.clone(), minus].concat();
        let reference: Vec<f32> = [x.clone(), x.clone(), x].concat();
        let c = TokenVectors {
            vectors: &cand,
            weights: &[0.0, 1.0, 1.0],
        };
        let r = TokenVectors {
            vectors: &reference,
            weights: &[0.0, 1.0, 0.0],
        };
        let alone = score_pair(c, r, 2, Padded::default()).0;
        assert!(alone.precision.abs() < 1e-6, "(1 - 1) / 2");
        let padded = Padded {
            candidate: false,
            reference: true,
        };
        assert!((score_pair(c, r, 2, padded).0.precision - 0.5).abs() < 1e-6);
        // Padding on the candidate side concerns the reference tokens only, all matched at 1.
        let other = Padded {
            candidate: true,
            reference: false,
        };
        assert_eq!(score_pair(c, r, 2, other).0, alone);
        assert!((alone.recall - 1.0).abs() < 1e-6);
    }

    #[test]
    fn groups_of_64_pairs_hold_their_longest_texts() {
        // 130 pairs: groups 0..64, 64..128, 128..130.
        let lengths: Vec<(usize, usize)> = (0..130).map(|p| (p % 7 + 3, 100 - p % 64)).collect();
        let groups = GroupLengths::new(0, lengths.iter().copied());
        let maxima = |candidate, reference| GroupMaxima {
            candidate,
            reference,
        };
        assert_eq!(
            groups.longest,
            [maxima(9, 100), maxima(9, 100), maxima(6, 100)]
        );
        let per_pair = group_maxima(&lengths);
        assert_eq!(per_pair.len(), 130);
        assert_eq!(
            (per_pair[63], per_pair[64]),
            (maxima(9, 100), maxima(9, 100))
        );
        assert_eq!(per_pair[129], maxima(6, 100));
        let first = groups.padded(0, 3, 100);
        assert!(first.candidate && !first.reference);
        let last = groups.padded(129, 6, 99);
        assert!(!last.candidate && last.reference);
        assert_eq!(GroupLengths::covering(70..75, 130), 64..128);
        assert_eq!(GroupLengths::covering(128..130, 130), 128..130);
        assert_eq!(GroupLengths::covering(0..64, 130), 0..64);
        let tail = GroupLengths::new(64, lengths[64..].iter().copied());
        assert_eq!(tail.padded(129, 6, 99), last);
        assert_eq!(tail.padded(100, 3, 100), groups.padded(100, 3, 100));
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let expected: f32 = a.iter().map(|x| x * x).sum();
        assert_eq!(dot(&a, &a), expected);
    }
}
