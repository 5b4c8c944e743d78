//! Greedy cosine matching: bert_score's `greedy_cos_idf`, for one candidate/reference pair.
//!
//! Embeddings arrive L2-normalised, so cosine similarity is a dot product. Each candidate token is
//! matched to its most similar reference token (precision) and each reference token to its most
//! similar candidate token (recall); the matched similarities are averaged with the token weights
//! (see [`crate::idf`]). Special tokens take part in the maxima — they are real positions of the
//! encoded sequence — but weigh 0 unless idf says otherwise.

use crate::PairScore;

/// One encoded text: `len × dim` L2-normalised vectors (row-major) and one weight per token.
#[derive(Debug, Clone, Copy)]
pub struct TokenVectors<'a> {
    pub vectors: &'a [f32],
    pub weights: &'a [f64],
}

impl TokenVectors<'_> {
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// bert_score's test for an empty text: only the two special tokens are left.
    pub fn is_empty_text(&self) -> bool {
        self.len() == 2
    }

    fn row(&self, i: usize, dim: usize) -> &[f32] {
        &self.vectors[i * dim..(i + 1) * dim]
    }
}

/// What a pair's matching noticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchNotes {
    pub empty_candidate: bool,
    pub empty_reference: bool,
}

/// Scores one pair the way `greedy_cos_idf` does:
/// `P = Σᵢ w(cᵢ)·maxⱼ cos(cᵢ, rⱼ) / Σᵢ w(cᵢ)`, `R` likewise over the reference, `F = 2PR/(P+R)`.
/// An empty candidate or reference (special tokens only) gets `P = R = 0`; `F` is computed from the
/// raw `P` and `R` first and then only NaN is replaced by 0, as bert_score does.
pub fn score_pair(
    candidate: TokenVectors,
    reference: TokenVectors,
    dim: usize,
) -> (PairScore, MatchNotes) {
    let (best_for_candidate, best_for_reference) = best_matches(candidate, reference, dim);
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
        let (score, notes) = score_pair(t, t, 2);
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
        );
        assert_eq!((score.precision, score.recall, score.f1), (0.0, 0.0, 0.0));
        assert!(notes.empty_candidate && !notes.empty_reference);
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let expected: f32 = a.iter().map(|x| x * x).sum();
        assert_eq!(dot(&a, &a), expected);
    }
}
