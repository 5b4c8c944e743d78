//! BERTScore, reproducing the reference Python package `bert_score` 0.3.13.
//!
//! The path a score takes, top-down:
//! 1. [`tokenize`]: text → token ids exactly as `bert_score.utils.sent_encode` does;
//! 2. [`models`]: token ids → hidden states of a BERT-family encoder truncated after `num_layers` layers
//!    (on CPU, BERT/RoBERTa/DistilBERT/MiniLM run on [`models::packed`], our own kernels over unpadded
//!    token rows; DeBERTa and CUDA on candle);
//! 3. [`idf`]: per-token weights (idf from the references, or uniform with special tokens at 0);
//! 4. [`matching`]: greedy cosine matching → precision, recall, F1 per pair;
//! 5. [`baseline`]: optional rescaling `(x - b) / (1 - b)`;
//!
//! [`Scorer`] ties them together: each distinct text is embedded once, in length-sorted batches,
//! and pairs are matched in parallel.

#![deny(missing_docs)]

mod baseline;
mod error;
pub mod idf;
pub mod matching;
pub mod models;
pub mod precision;
pub mod registry;
mod scorer;
pub mod settings;
pub mod text_file;
pub mod tokenize;

pub use baseline::{Baseline, BaselineTable};
pub use error::{EngineError, ErrorKind};
pub use precision::KernelChoice;
pub use scorer::{
    Backend, DEFAULT_CHUNK_SIZE, DevicePreference, EmbeddedTexts, IdfMode, LongTexts, PairScore,
    Precision, ScoreReport, Scorer, ScorerOptions, Timings, TokenSimilarity,
};
pub use settings::ScorerSettings;

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
