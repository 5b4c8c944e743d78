//! What scoring returns: per-pair scores, warnings, timings and token-level similarities.

use std::time::Duration;

/// One pair's (or one candidate's, with several references) BERTScore.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairScore {
    /// BERTScore precision.
    pub precision: f64,
    /// BERTScore recall.
    pub recall: f64,
    /// BERTScore F1.
    pub f1: f64,
}

/// The scores, in input order, and what was noticed on the way (empty texts, truncation).
#[derive(Debug, Clone)]
pub struct ScoreReport {
    /// One score per candidate, in input order.
    pub scores: Vec<PairScore>,
    /// Only from [`Scorer::score_all_layers`](super::Scorer::score_all_layers): per candidate,
    /// P, R and F at layers 0..=num_layers (index = layer), not rescaled. Empty otherwise.
    pub layers: Vec<Vec<PairScore>>,
    /// What bert_score would have printed, and what it did silently (empty texts, truncation).
    pub warnings: Vec<String>,
    /// Where the time went (for `bertscore bench`).
    pub timings: Timings,
}

/// Time per stage and the amount of work done, summed over chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Tokenizing (including the idf pass over the references or corpus).
    pub tokenize: Duration,
    /// Running the encoder, including batch assembly and normalisation of its output.
    pub encode: Duration,
    /// Greedy matching, reference maxima and rescaling.
    pub matching: Duration,
    /// Texts embedded (each distinct text once per chunk).
    pub texts: usize,
    /// Tokens embedded, special tokens included.
    pub tokens: usize,
    /// Token positions the encoder computed, padding included (`tokens` + padding).
    pub padded_tokens: usize,
}

/// The token-by-token cosine similarities of one pair (for bert_score's `plot_example`-style heatmaps).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenSimilarity {
    /// Candidate tokens as strings, without special tokens.
    pub candidate_tokens: Vec<String>,
    /// Reference tokens as strings, without special tokens.
    pub reference_tokens: Vec<String>,
    /// `similarity[i][j]` = cosine(candidate token i, reference token j), possibly rescaled.
    pub similarity: Vec<Vec<f32>>,
    /// The pair's score.
    pub score: PairScore,
}
