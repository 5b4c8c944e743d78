use std::path::PathBuf;

/// Everything the engine can fail with. Messages name the file and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model directory {dir} lacks {file}")]
    MissingModelFile { dir: PathBuf, file: String },

    #[error(
        "unsupported model type {model_type:?} in {config}; supported: bert, roberta, xlm-roberta, distilbert, deberta-v2 (DeBERTa-v2/v3)"
    )]
    UnsupportedArchitecture { model_type: String, config: PathBuf },

    #[error("num_layers {requested} is out of range for {model}: valid range is 0..={max}")]
    LayerOutOfRange {
        model: String,
        requested: usize,
        max: usize,
    },

    #[error(
        "no recommended layer is known for {model} (bert_score's model2layers table); pass num_layers explicitly"
    )]
    UnknownDefaultLayer { model: String },

    #[error("{path}: {message}")]
    InvalidFile { path: PathBuf, message: String },

    #[error("{path}:{line}: {message}")]
    InvalidBaseline {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{cands} candidates but {refs} references: each candidate needs its references")]
    LengthMismatch { cands: usize, refs: usize },

    #[error("candidate {index} has no reference: each candidate needs at least one")]
    NoReferences { index: usize },

    #[error("{precision} is not supported on {device}: {hint}")]
    UnsupportedPrecision {
        precision: String,
        device: String,
        hint: String,
    },

    #[error("invalid option {name}: {message}")]
    InvalidOption { name: String, message: String },

    #[error("loading the encoder from {dir}: {source}")]
    ModelLoad {
        dir: PathBuf,
        #[source]
        source: candle_core::Error,
    },

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
