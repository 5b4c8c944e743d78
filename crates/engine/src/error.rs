use std::path::PathBuf;

/// Everything the engine can fail with. Messages name the file and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model directory {dir} lacks {file}")]
    MissingModelFile { dir: PathBuf, file: String },

    #[error("unsupported model type {model_type:?} in {config}; supported: bert, roberta, xlm-roberta, distilbert, deberta-v2 (DeBERTa-v2/v3)")]
    UnsupportedArchitecture { model_type: String, config: PathBuf },

    #[error("num_layers {requested} is out of range for {model}: valid range is 0..={max}")]
    LayerOutOfRange { model: String, requested: usize, max: usize },

    #[error("{path}: {message}")]
    InvalidFile { path: PathBuf, message: String },

    #[error("{path}:{line}: {message}")]
    InvalidBaseline { path: PathBuf, line: usize, message: String },

    #[error("{cands} candidates but {refs} references: each candidate needs its references")]
    LengthMismatch { cands: usize, refs: usize },

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error("{path}: {source}")]
    Io { path: PathBuf, #[source] source: std::io::Error },
}
