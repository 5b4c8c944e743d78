//! Exit codes, one per kind of failure, so scripts can tell them apart.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | a gate failed (`compare --fail-if-worse` with verdict `base`) |
//! | 2 | bad input: a file, a line, an argument, an output path that cannot be written, misaligned items |
//! | 3 | the model could not be obtained or loaded, or it computes NaN/inf |
//! | 4 | a runtime failure: I/O while writing, the engine on a device |
//! | 128 + signal | interrupted by SIGHUP, SIGINT or SIGTERM (129, 130, 143), temporary files removed ([`crate::temp_files`]) |
//!
//! The libraries say whose problem an error is (`kind()` on engine, hub and compare errors); this file is the
//! one place that turns a kind into an exit code. Nothing here looks at messages.

use std::process::ExitCode;

use bertscore_engine::ErrorKind;

/// The process exit codes other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A gate the user asked for failed (`--fail-if-worse`).
    GateFailed = 1,
    /// The user's input, options or output paths are unusable.
    BadInput = 2,
    /// The model could not be obtained, loaded, or computes garbage.
    Model = 3,
    /// Something else failed while running.
    Runtime = 4,
}

impl From<ErrorKind> for Exit {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::BadInput => Exit::BadInput,
            ErrorKind::Model => Exit::Model,
            ErrorKind::Runtime => Exit::Runtime,
        }
    }
}

impl From<bertscore_hub::ErrorKind> for Exit {
    fn from(kind: bertscore_hub::ErrorKind) -> Self {
        match kind {
            bertscore_hub::ErrorKind::BadInput => Exit::BadInput,
            bertscore_hub::ErrorKind::Model => Exit::Model,
        }
    }
}

/// An error with the exit code it should end the process with.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit,
            error: error.into(),
        }
    }
    pub fn bad_input(error: impl Into<anyhow::Error>) -> Self {
        Self::new(Exit::BadInput, error)
    }
    pub fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Self::new(Exit::Runtime, error)
    }
}

impl From<bertscore_engine::EngineError> for CliError {
    fn from(error: bertscore_engine::EngineError) -> Self {
        Self::new(error.kind().into(), error)
    }
}

impl From<bertscore_hub::HubError> for CliError {
    fn from(error: bertscore_hub::HubError) -> Self {
        Self::new(error.kind().into(), error)
    }
}

impl From<bertscore_compare::CompareError> for CliError {
    fn from(error: bertscore_compare::CompareError) -> Self {
        Self::new(error.kind().into(), error)
    }
}

/// Prints the error chain on stderr and turns the result into the process exit code.
pub fn report(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A gate may end the process with nothing more to say.
            // Messages quote paths, ids and texts: control characters in them are shown escaped.
            if e.exit != Exit::GateFailed || !e.error.to_string().is_empty() {
                let message = format!("{:#}", e.error);
                eprintln!("error: {}", bertscore_compare::report::printable(&message));
            }
            ExitCode::from(e.exit as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_documented_codes() {
        assert_eq!(Exit::from(ErrorKind::BadInput) as u8, 2);
        assert_eq!(Exit::from(ErrorKind::Model) as u8, 3);
        assert_eq!(Exit::from(ErrorKind::Runtime) as u8, 4);
        assert_eq!(Exit::from(bertscore_hub::ErrorKind::Model) as u8, 3);
        let error = CliError::from(bertscore_engine::EngineError::UnknownDefaultLayer {
            model: "m".into(),
        });
        assert_eq!(error.exit, Exit::BadInput);
    }
}
