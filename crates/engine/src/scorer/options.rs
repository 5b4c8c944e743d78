//! What a [`Scorer`](super::Scorer) is asked to do: model, layer, idf and baseline (what a score
//! means) and batch size, threads, device, precision and backend (how it is computed).

use std::path::PathBuf;

use crate::Baseline;
pub use crate::precision::Precision;

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
    /// These weights, computed elsewhere: bert_score's `idf=<dict>` given as a table, or idf from document
    /// frequencies counted over a distributed dataset and merged
    /// ([`DocumentFrequencies::from_counts`](crate::idf::DocumentFrequencies::from_counts)).
    Weights(crate::idf::TokenWeights),
}

/// What happens to a text longer than the model's window (`model_max_length` tokens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LongTexts {
    /// Cut to the window, as bert_score does.
    #[default]
    Truncate,
    /// Embedded whole in overlapping windows: each token takes its embedding from the window where
    /// it has the most context on both sides; the special tokens appear once (the first window's
    /// start token, the last window's end token). A text that fits is embedded exactly as
    /// `Truncate` embeds it.
    Window {
        /// Tokens between window starts; `None`: half the window's content.
        stride: Option<usize>,
    },
}

/// Where the encoder runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DevicePreference {
    #[default]
    /// The CPU (the fast path where it fits).
    Cpu,
    /// CUDA device by ordinal; needs the `cuda` feature.
    Cuda(usize),
}

/// Which implementation runs the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// The CPU fast path ([`crate::models::packed`]) when the model and the CPU fit it (BERT,
    /// RoBERTa, DistilBERT and MiniLM with exact GELU; f32 on AVX-512, f16 on AVX512-FP16),
    /// candle otherwise.
    #[default]
    Auto,
    /// Always candle (padded batches): the reference implementation the fast path is tested against.
    Candle,
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
    /// Token weighting.
    pub idf: IdfMode,
    /// Rescale with this baseline (bert_score's `rescale_with_baseline=True`).
    pub baseline: Option<Baseline>,
    /// The baseline came from a user's file (bert_score's `baseline_path`) rather than bert_score's
    /// own table; only changes the hash (`-custom-rescaled` instead of `-rescaled`).
    pub custom_baseline: bool,
    /// Texts per encoder batch (on the CPU fast path also cut at 8192 tokens). Scores do not depend on it.
    pub batch_size: usize,
    /// Worker threads (rayon + candle's GEMM). `None`: all cores. Scores do not depend on it.
    pub threads: Option<usize>,
    /// Where the encoder runs.
    pub device: DevicePreference,
    /// The encoder's number format.
    pub precision: Precision,
    /// Which implementation runs the encoder.
    pub backend: Backend,
    /// Candidates scored per chunk. Embeddings live only for their chunk, so memory stays bounded
    /// whatever the number of pairs; idf is computed over all references first, so scores do not
    /// depend on it (a reference shared across chunks is only embedded once per chunk).
    pub chunk_size: usize,
    /// Texts longer than the model's window: truncated (bert_score) or embedded in windows.
    pub long_texts: LongTexts,
}

/// The default [`ScorerOptions::chunk_size`]: a few hundred MB of embeddings at most for MiniLM-sized
/// models and texts of bert_score's benchmark length.
pub const DEFAULT_CHUNK_SIZE: usize = 4096;

impl ScorerOptions {
    /// The options for a model, everything else at [`ScorerSettings`](crate::ScorerSettings)'s defaults.
    pub fn new(model_dir: impl Into<PathBuf>, model_name: impl Into<String>) -> Self {
        let defaults = crate::ScorerSettings::default();
        Self {
            model_dir: model_dir.into(),
            model_name: model_name.into(),
            num_layers: defaults.num_layers,
            idf: IdfMode::Off,
            baseline: None,
            custom_baseline: false,
            batch_size: defaults.batch_size,
            threads: defaults.threads,
            device: defaults.device,
            precision: defaults.dtype,
            backend: defaults.backend,
            chunk_size: defaults.chunk_size,
            long_texts: LongTexts::Truncate,
        }
    }
}
