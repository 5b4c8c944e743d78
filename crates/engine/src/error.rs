//! What the engine can fail with, and whose problem each failure is ([`ErrorKind`]).
//!
//! Every message names the file, option or text at fault. A cause (an I/O error, a candle error) is kept as
//! the error's [`source`](std::error::Error::source) and is not repeated in the message: print the chain
//! (`{:#}` with anyhow) to see both.

use std::path::PathBuf;

/// Whose problem an error is: what a command-line tool maps to its exit code (2, 3, 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller's input or options are unusable: a file, a line, an option, misaligned items.
    BadInput,
    /// The model cannot be obtained or loaded, or it computes garbage (NaN/inf).
    Model,
    /// Anything else going wrong while running: the device, the tokenizer on a text, the machine.
    Runtime,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::BadInput => "bad input",
            ErrorKind::Model => "model",
            ErrorKind::Runtime => "runtime",
        })
    }
}

/// Everything the engine can fail with. Messages name the file and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model directory lacks a file the engine needs.
    #[error("model directory {dir} lacks {file}")]
    MissingModelFile {
        /// The model directory.
        dir: PathBuf,
        /// The missing file's name.
        file: String,
    },

    /// config.json names an architecture the engine does not implement.
    #[error(
        "unsupported model type {model_type:?} in {config}; supported: {}",
        crate::models::supported_model_types().collect::<Vec<_>>().join(", ")
    )]
    UnsupportedArchitecture {
        /// `model_type` as config.json has it.
        model_type: String,
        /// The config.json read.
        config: PathBuf,
    },

    /// The layer asked for does not exist in the model.
    #[error("num_layers {requested} is out of range for {model}: valid range is 0..={max}")]
    LayerOutOfRange {
        /// The model's name.
        model: String,
        /// The layer asked for.
        requested: usize,
        /// The model's last layer.
        max: usize,
    },

    /// No layer was given and bert_score's table has no default for the model.
    #[error(
        "no default layer is known for {model} (it is not in bert_score's model2layers table): choose the layer \
         to score with (--num-layers N in the bertscore command, num_layers in settings)"
    )]
    UnknownDefaultLayer {
        /// The model's name.
        model: String,
    },

    /// A model file (config.json, tokenizer.json, tokenizer_config.json, ...) is present but unusable.
    #[error("{path}: {message}")]
    InvalidFile {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A baseline file (bert_score's `LAYER,P,R,F` CSV) is malformed.
    #[error("{path}:{line}: {message}")]
    InvalidBaseline {
        /// The baseline file.
        path: PathBuf,
        /// The 1-based line at fault.
        line: usize,
        /// What is wrong with it.
        message: String,
    },

    /// Candidates and references do not pair up.
    #[error("{cands} candidates but {refs} references: each candidate needs its references")]
    LengthMismatch {
        /// How many candidates.
        cands: usize,
        /// How many reference lists.
        refs: usize,
    },

    /// A candidate has an empty reference list.
    #[error("candidate {index} has no reference: each candidate needs at least one")]
    NoReferences {
        /// The candidate's 0-based index.
        index: usize,
    },

    /// The precision asked for does not run on the device.
    #[error("{precision} is not supported on {device}: {hint}")]
    UnsupportedPrecision {
        /// The precision asked for (`bf16`, ...).
        precision: String,
        /// The device (`CPU`, `CUDA`).
        device: String,
        /// What to use instead.
        hint: String,
    },

    /// The device asked for is not available in this build or on this machine.
    #[error("device {device} is not available: {reason}")]
    UnsupportedDevice {
        /// The device asked for (`cuda:0`).
        device: String,
        /// Why, and what to do instead.
        reason: String,
    },

    /// An option has a value out of its range.
    #[error("invalid option {name}: {message}")]
    InvalidOption {
        /// The option's name.
        name: String,
        /// What is wrong with its value.
        message: String,
    },

    /// The encoder's weights cannot be loaded (a corrupt or truncated model.safetensors, missing tensors).
    #[error("cannot load the encoder from {dir}")]
    ModelLoad {
        /// The model directory.
        dir: PathBuf,
        /// What candle reported.
        #[source]
        source: candle_core::Error,
    },

    /// A model file cannot be read.
    #[error("cannot read model file {path}")]
    ModelFile {
        /// The model file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The encoder produced NaN or infinity: corrupt weights, or arithmetic that overflowed.
    #[error(
        "the model produced {value} in the hidden states of layer {layer} (the layer scored) for text {text}: \
         its weights are corrupt or its arithmetic overflowed (with --dtype f16, try f32)"
    )]
    NonFiniteOutput {
        /// The layer whose hidden states were read.
        layer: usize,
        /// The 0-based index of the first text affected, among the distinct texts embedded.
        text: usize,
        /// `NaN`, `inf` or `-inf`.
        value: String,
    },

    /// The tokenizer failed on a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A tensor operation failed while running.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// A file the caller gave (a baseline, an idf corpus) cannot be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// An input file is not a regular file, has a line over the limit or is not UTF-8.
    #[error(transparent)]
    Read(#[from] crate::text_file::ReadError),
}

impl EngineError {
    /// Whose problem this is.
    pub fn kind(&self) -> ErrorKind {
        use EngineError as E;
        match self {
            E::LayerOutOfRange { .. }
            | E::UnknownDefaultLayer { .. }
            | E::InvalidBaseline { .. }
            | E::LengthMismatch { .. }
            | E::NoReferences { .. }
            | E::UnsupportedPrecision { .. }
            | E::UnsupportedDevice { .. }
            | E::InvalidOption { .. }
            | E::Io { .. }
            | E::Read(_) => ErrorKind::BadInput,
            E::MissingModelFile { .. }
            | E::UnsupportedArchitecture { .. }
            | E::InvalidFile { .. }
            | E::ModelLoad { .. }
            | E::ModelFile { .. }
            | E::NonFiniteOutput { .. } => ErrorKind::Model,
            E::Tokenizer(_) | E::Candle(_) => ErrorKind::Runtime,
        }
    }

    /// [`EngineError::NonFiniteOutput`] for the first NaN or infinity in `values`, if any.
    pub(crate) fn check_finite(
        values: &[f32],
        layer: usize,
        text: usize,
    ) -> Result<(), EngineError> {
        match values.iter().find(|v| !v.is_finite()) {
            None => Ok(()),
            Some(bad) => Err(EngineError::NonFiniteOutput {
                layer,
                text,
                value: if bad.is_nan() {
                    "NaN".into()
                } else if *bad > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message and the source each say their part once: no text repeated down the chain.
    fn chain(error: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![error.to_string()];
        let mut next = error.source();
        while let Some(e) = next {
            out.push(e.to_string());
            next = e.source();
        }
        out
    }

    #[test]
    fn io_causes_are_sources_not_repeated_in_the_message() {
        let error = EngineError::Io {
            path: "b.csv".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file"),
        };
        assert_eq!(chain(&error), ["cannot read b.csv", "No such file"]);
        assert_eq!(error.kind(), ErrorKind::BadInput);

        let error = EngineError::ModelFile {
            path: "m/config.json".into(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "Permission denied"),
        };
        assert_eq!(
            chain(&error),
            ["cannot read model file m/config.json", "Permission denied"]
        );
        assert_eq!(error.kind(), ErrorKind::Model);

        let error = EngineError::ModelLoad {
            dir: "m".into(),
            source: candle_core::Error::Msg("header too large".into()),
        };
        assert_eq!(
            chain(&error),
            ["cannot load the encoder from m", "header too large"]
        );
        assert_eq!(error.kind(), ErrorKind::Model);
    }

    #[test]
    fn kinds_follow_whose_problem_it_is() {
        let bad = [
            EngineError::UnknownDefaultLayer { model: "x".into() },
            EngineError::UnsupportedPrecision {
                precision: "bf16".into(),
                device: "CPU".into(),
                hint: "use f32".into(),
            },
            EngineError::UnsupportedDevice {
                device: "cuda:0".into(),
                reason: "not built with CUDA".into(),
            },
            EngineError::LengthMismatch { cands: 1, refs: 2 },
        ];
        for error in bad {
            assert_eq!(error.kind(), ErrorKind::BadInput, "{error}");
        }
        let model = [
            EngineError::MissingModelFile {
                dir: "m".into(),
                file: "model.safetensors".into(),
            },
            EngineError::NonFiniteOutput {
                layer: 3,
                text: 0,
                value: "NaN".into(),
            },
        ];
        for error in model {
            assert_eq!(error.kind(), ErrorKind::Model, "{error}");
        }
        assert_eq!(
            EngineError::Tokenizer("x".into()).kind(),
            ErrorKind::Runtime
        );
    }

    #[test]
    fn non_finite_values_are_found_and_named() {
        assert!(EngineError::check_finite(&[0.0, 1.5, -2.0], 3, 0).is_ok());
        let error = EngineError::check_finite(&[0.0, f32::NAN, f32::INFINITY], 3, 7).unwrap_err();
        assert!(
            matches!(&error, EngineError::NonFiniteOutput { layer: 3, text: 7, value } if value == "NaN"),
            "{error}"
        );
        assert!(error.to_string().contains("layer 3"), "{error}");
        let error = EngineError::check_finite(&[f32::NEG_INFINITY], 1, 0).unwrap_err();
        assert!(error.to_string().contains("-inf"), "{error}");
    }
}
