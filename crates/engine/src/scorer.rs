//! The public entry point: [`Scorer`] loads a model once and scores candidate/reference pairs.

use std::path::PathBuf;

use crate::{Baseline, Result};

/// How tokens are weighted when averaging matched similarities.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum IdfMode {
    /// Every token weighs 1, the special tokens ([CLS]/[SEP], <s>/</s>) weigh 0 (bert_score's `idf=False`).
    #[default]
    Off,
    /// idf = log((M+1)/(df+1)) computed over the references being scored, flattened (bert_score's `idf=True`).
    References,
    /// idf computed over this corpus instead (bert_score's `idf=<dict>` built with `get_idf_dict(corpus)`).
    Corpus(Vec<String>),
}

/// Numeric precision of the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// Exact mode: matches bert_score to 1e-4.
    #[default]
    F32,
    Bf16,
    F16,
}

/// Where the encoder runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DevicePreference {
    #[default]
    Cpu,
    /// CUDA device by ordinal; needs the `cuda` feature.
    Cuda(usize),
}

/// Everything that decides what a score means (model, layer, idf, baseline) and how it is computed
/// (batch size, threads, device, precision). Only the first group changes the numbers.
#[derive(Debug, Clone)]
pub struct ScorerOptions {
    /// A local Hugging Face model directory: config.json, tokenizer.json (+ tokenizer_config.json), model.safetensors.
    pub model_dir: PathBuf,
    /// The name the model is known by (hub id such as `roberta-large`, or the directory); used for the
    /// registry's default layer, the language baseline file and the settings hash.
    pub model_name: String,
    /// Layer whose hidden states are matched (0 = embedding output). `None`: the registry's recommended layer.
    pub num_layers: Option<usize>,
    pub idf: IdfMode,
    /// Rescale with this baseline (bert_score's `rescale_with_baseline=True`).
    pub baseline: Option<Baseline>,
    /// Texts per encoder batch. Scores do not depend on it.
    pub batch_size: usize,
    /// Worker threads (rayon + candle's GEMM). `None`: all cores. Scores do not depend on it.
    pub threads: Option<usize>,
    pub device: DevicePreference,
    pub precision: Precision,
}

impl ScorerOptions {
    pub fn new(model_dir: impl Into<PathBuf>, model_name: impl Into<String>) -> Self {
        Self {
            model_dir: model_dir.into(),
            model_name: model_name.into(),
            num_layers: None,
            idf: IdfMode::Off,
            baseline: None,
            batch_size: 64,
            threads: None,
            device: DevicePreference::Cpu,
            precision: Precision::F32,
        }
    }
}

/// One pair's (or one candidate's, with several references) BERTScore.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The scores, in input order, and what was noticed on the way (empty texts, truncation).
#[derive(Debug, Clone)]
pub struct ScoreReport {
    pub scores: Vec<PairScore>,
    pub warnings: Vec<String>,
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
    pub score: PairScore,
}

/// A loaded model plus the scoring settings.
pub struct Scorer {
    // filled in by the implementation
}

impl Scorer {
    /// Loads the tokenizer and the encoder truncated at the chosen layer.
    pub fn new(options: ScorerOptions) -> Result<Self> {
        let _ = options;
        todo!("engine: Scorer::new")
    }

    /// The layer whose hidden states are used.
    pub fn num_layers(&self) -> usize {
        todo!()
    }

    /// bert_score's settings string, e.g. `roberta-large_L17_no-idf_version=0.3.13(hug_trans=4.46.3)-rescaled`.
    pub fn hash(&self) -> String {
        todo!()
    }

    /// Scores `cands[i]` against `refs[i]` (one or more references each). With several references
    /// P, R and F are each the maximum over the references.
    pub fn score(&self, cands: &[String], refs: &[Vec<String>]) -> Result<ScoreReport> {
        self.score_with_progress(cands, refs, &|_, _| {})
    }

    /// As [`Scorer::score`], calling `progress(done, total)` as texts are embedded.
    pub fn score_with_progress(
        &self,
        cands: &[String],
        refs: &[Vec<String>],
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ScoreReport> {
        let _ = (cands, refs, progress);
        todo!("engine: Scorer::score")
    }

    /// Token-level similarities of one pair, for heatmaps.
    pub fn token_similarity(&self, candidate: &str, reference: &str) -> Result<TokenSimilarity> {
        let _ = (candidate, reference);
        todo!("engine: Scorer::token_similarity")
    }
}
