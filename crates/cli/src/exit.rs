//! Exit codes, one per kind of failure, so scripts can tell them apart.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | a gate failed (`compare --fail-if-worse` with verdict `base`) |
//! | 2 | bad input: a file, a line, an argument, misaligned items |
//! | 3 | the model could not be obtained or loaded |
//! | 4 | a runtime failure: AWS, I/O while writing, the engine |

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    GateFailed = 1,
    BadInput = 2,
    Model = 3,
    Runtime = 4,
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
    pub fn model(error: impl Into<anyhow::Error>) -> Self {
        Self::new(Exit::Model, error)
    }
    pub fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Self::new(Exit::Runtime, error)
    }
}

/// Prints the error chain on stderr and turns the result into the process exit code.
pub fn report(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.exit != Exit::GateFailed || !e.error.to_string().is_empty() {
                eprintln!("error: {:#}", e.error);
            }
            ExitCode::from(e.exit as u8)
        }
    }
}
