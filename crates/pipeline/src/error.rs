//! What can go wrong, split by who must act: the user (bad config or data), AWS (a call failed), or the
//! machine (I/O, the scoring engine). The CLI maps the first to exit code 2, a scoring model that cannot be
//! loaded to 3 (as `score` does), and the rest to 4.

use std::path::PathBuf;

/// Every failure the pipeline reports.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The configuration (TOML or Step Functions input) is unusable.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A data file is invalid; `problems` lists every bad line found (file:line: what).
    #[error("{path}: invalid data:\n{}", problems.join("\n"))]
    InvalidData {
        path: PathBuf,
        problems: Vec<String>,
    },

    /// A run directory or run id that cannot be used as asked.
    #[error("{0}")]
    Run(String),

    /// An AWS call failed (after the SDK's and our own retries).
    #[error("{operation}: {message}")]
    Aws { operation: String, message: String },

    /// A Bedrock resource reached a state the pipeline cannot continue from (job Failed, PT Failed, timeout).
    #[error("{0}")]
    Resource(String),

    /// Too many prompts failed to give the comparison meaning.
    #[error("{0}")]
    Inference(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The BERTScore model could not be found or loaded.
    #[error("scoring model: {0}")]
    ScoringModel(String),

    #[error("scoring: {0}")]
    Scoring(String),
}

impl PipelineError {
    /// Whether the user's input is at fault (exit code 2) rather than AWS or the machine (exit code 4).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            PipelineError::Config { .. }
                | PipelineError::InvalidData { .. }
                | PipelineError::Run(_)
        )
    }

    /// Whether the scoring model is at fault (exit code 3).
    pub fn is_model_error(&self) -> bool {
        matches!(self, PipelineError::ScoringModel(_))
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        PipelineError::Config {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn aws(operation: &str, error: impl std::fmt::Display) -> Self {
        PipelineError::Aws {
            operation: operation.to_string(),
            message: error.to_string(),
        }
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::PipelineError;

    #[test]
    fn only_a_scoring_model_failure_is_a_model_error() {
        let model = PipelineError::ScoringModel("no such model".into());
        assert!(model.is_model_error() && !model.is_bad_input());
        for other in [
            PipelineError::Scoring("matching failed".into()),
            PipelineError::Run("busy".into()),
            PipelineError::aws("CreateModelCustomizationJob", "throttled"),
        ] {
            assert!(!other.is_model_error(), "{other}");
        }
    }
}
