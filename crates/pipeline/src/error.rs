//! What can go wrong, split by who must act ([`PipelineError::kind`]): the user (bad config or data, a run owned
//! by another process), the scoring model, or AWS and the machine. A command-line tool maps the kinds to exit
//! codes 2, 3 and 4, as `bertscore score` does.
//!
//! Messages never repeat their cause: a kept [`source`](std::error::Error::source) is printed by the chain
//! (`{:#}` with anyhow), not by the message. An AWS failure is summarised (service, operation, error code,
//! message, HTTP status, request id), never dumped.

use std::fmt;
use std::path::PathBuf;

pub use bertscore_engine::ErrorKind;

/// Every failure the pipeline reports.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The configuration (TOML or Step Functions input) is unusable.
    #[error("{path}: {message}")]
    Config {
        /// The file (or `<flags>`) the setting came from.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },

    /// A data file is invalid; `problems` lists every bad line found (file:line: what).
    #[error("{path}: invalid data:\n{}", problems.join("\n"))]
    InvalidData {
        /// The data file.
        path: PathBuf,
        /// One `file:line: what` per problem.
        problems: Vec<String>,
    },

    /// A run directory or run id that cannot be used as asked.
    #[error("{0}")]
    Run(String),

    /// Another process holds the run (a `run`, `resume` or `cleanup` of it is in progress).
    #[error(
        "run {run_dir} is in use by {}: one process at a time may run, resume or clean up a run; wait for it \
         to end (or stop it) and try again",
        match pid { Some(pid) => format!("process {pid}"), None => "another process".to_string() }
    )]
    Busy {
        /// The run directory.
        run_dir: PathBuf,
        /// The holder's process id, as it wrote it into the lock file.
        pid: Option<u32>,
    },

    /// An AWS call failed (after the SDK's retries).
    #[error("{0}")]
    Aws(Box<AwsFailure>),

    /// A Bedrock resource reached a state the pipeline cannot continue from (job Failed, PT Failed, timeout).
    #[error("{0}")]
    Resource(String),

    /// Too many prompts failed to give the comparison meaning.
    #[error("{0}")]
    Inference(String),

    /// Reading or writing a local file failed.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The BERTScore model could not be resolved to a local directory.
    #[error("scoring model {model}")]
    ScoringModel {
        /// The model as configured (`[scoring] model`).
        model: String,
        /// Why.
        #[source]
        source: Box<bertscore_hub::HubError>,
    },

    /// The scoring engine failed (loading the model, or scoring).
    #[error("scoring ({context})")]
    Scoring {
        /// What was being done.
        context: String,
        /// The engine's error.
        #[source]
        source: Box<bertscore_engine::EngineError>,
    },

    /// The comparison statistics failed.
    #[error("comparison: {0}")]
    Compare(String),
}

/// An AWS call's failure in brief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure {
    /// `s3`, `bedrock`, `bedrock-runtime` or `sesv2`.
    pub service: &'static str,
    /// The API operation, e.g. `CreateProvisionedModelThroughput`.
    pub operation: &'static str,
    /// The service's error code (`ThrottlingException`, ...), when the service answered with one.
    pub code: Option<String>,
    /// The service's message, or what went wrong on the way (timeout, connection refused).
    pub message: String,
    /// The HTTP status of the answer, if there was one.
    pub status: Option<u16>,
    /// The AWS request id, for AWS support.
    pub request_id: Option<String>,
}

impl AwsFailure {
    /// Whether the service answered and refused the request itself (a 4xx other than throttling: validation,
    /// access, quota, conflict): sending it again would be refused again.
    pub fn refused(&self) -> bool {
        let throttled = self
            .code
            .as_deref()
            .is_some_and(|code| code.contains("Throttl") || code == "TooManyRequestsException");
        matches!(self.status, Some(400..=499)) && self.status != Some(429) && !throttled
    }
}

impl AwsFailure {
    /// Whether the service said the resource is not there: a not-found error code (Bedrock's
    /// ResourceNotFoundException, SESv2's NotFoundException, IAM's NoSuchEntity, S3's NotFound/NoSuchBucket/
    /// NoSuchKey), or S3's bare HTTP 404 (HeadBucket has no body). A code-less 404 from any other service (a
    /// proxy, an emulator without the API) is not taken for "gone": nothing billed is forgotten on it.
    pub fn is_not_found(&self) -> bool {
        let code = self.code.as_deref().unwrap_or_default();
        matches!(
            code,
            "ResourceNotFoundException"
                | "NotFoundException"
                | "NoSuchEntity"
                | "NoSuchBucket"
                | "NoSuchKey"
                | "NotFound"
        ) || (self.service == "s3" && self.code.is_none() && self.status == Some(404))
    }

    /// Whether the service answered at all (a failure with an HTTP status), rather than timing out or being
    /// unreachable.
    pub fn answered(&self) -> bool {
        self.status.is_some()
    }
}

impl fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} failed: ", self.service, self.operation)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)?;
        match (self.status, &self.request_id) {
            (Some(status), Some(id)) => write!(f, " (HTTP {status}, request id {id})"),
            (Some(status), None) => write!(f, " (HTTP {status})"),
            (None, Some(id)) => write!(f, " (request id {id})"),
            (None, None) => Ok(()),
        }
    }
}

impl PipelineError {
    /// Whose problem this is: bad input (exit code 2), the scoring model (3), or AWS and the machine (4).
    pub fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::Config { .. }
            | PipelineError::InvalidData { .. }
            | PipelineError::Run(_)
            | PipelineError::Busy { .. } => ErrorKind::BadInput,
            PipelineError::ScoringModel { source, .. } => match source.kind() {
                bertscore_hub::ErrorKind::BadInput => ErrorKind::BadInput,
                bertscore_hub::ErrorKind::Model => ErrorKind::Model,
            },
            PipelineError::Scoring { source, .. } => source.kind(),
            PipelineError::Aws(_)
            | PipelineError::Resource(_)
            | PipelineError::Inference(_)
            | PipelineError::Io { .. }
            | PipelineError::Compare(_) => ErrorKind::Runtime,
        }
    }

    /// The error with its causes on one line (`message: cause: cause`), each text once: for the journal, the
    /// state, the report and the email.
    pub fn describe(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(current) = cause {
            let more = current.to_string();
            if !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            cause = current.source();
        }
        text
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

    /// Whether this is an AWS answer saying the resource is not there ([`AwsFailure::is_not_found`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, PipelineError::Aws(failure) if failure.is_not_found())
    }

    /// A call's answer, with "not there" as `Ok(None)` and every other failure kept.
    pub(crate) fn unless_not_found<T>(result: Result<T>) -> Result<Option<T>> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The pipeline's result type.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_whose_problem_it_is() {
        let busy = PipelineError::Busy {
            run_dir: "runs/r1".into(),
            pid: Some(42),
        };
        assert_eq!(busy.kind(), ErrorKind::BadInput);
        assert!(busy.to_string().contains("in use by process 42"), "{busy}");
        let model = PipelineError::ScoringModel {
            model: "/nowhere".into(),
            source: Box::new(bertscore_hub::HubError::MissingFile {
                dir: "/nowhere".into(),
                file: "config.json".into(),
            }),
        };
        assert_eq!(model.kind(), ErrorKind::Model);
        assert_eq!(
            model.describe(),
            "scoring model /nowhere: model directory /nowhere lacks config.json"
        );
        let io = PipelineError::io(
            "/x/state.json",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        );
        assert_eq!(io.kind(), ErrorKind::Runtime);
        assert_eq!(io.describe(), "/x/state.json: denied");
    }

    #[test]
    fn an_aws_failure_reads_as_one_line() {
        let failure = AwsFailure {
            service: "bedrock",
            operation: "CreateProvisionedModelThroughput",
            code: Some("ServiceQuotaExceededException".into()),
            message: "quota is 0".into(),
            status: Some(400),
            request_id: Some("req-1".into()),
        };
        assert_eq!(
            failure.to_string(),
            "bedrock CreateProvisionedModelThroughput failed: ServiceQuotaExceededException: quota is 0 \
             (HTTP 400, request id req-1)"
        );
    }
}
