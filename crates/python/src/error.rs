//! The module's one exception class, `bertscore_rs.BertScoreError`, and how every Rust error becomes one.
//!
//! Each error carries its message (the whole chain of causes, outermost first) and its `kind`: `"bad_input"`
//! (the caller's texts, options or files), `"model"` (the model cannot be obtained or loaded) or `"runtime"`
//! (anything else while running) — the engine's [`ErrorKind`], as the CLI maps it to exit codes 2, 3, 4.

use std::error::Error;

use bertscore_engine::ErrorKind;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    bertscore_rs,
    BertScoreError,
    PyException,
    "An error from bertscore_rs. `kind` says whose problem it is: \"bad_input\" (texts, options, files), \
     \"model\" (the model cannot be obtained or loaded) or \"runtime\" (anything else while running)."
);

/// A failure on its way to Python: its kind and its full message.
#[derive(Debug)]
pub struct Failure {
    kind: ErrorKind,
    message: String,
}

impl Failure {
    /// The caller's input is unusable.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::BadInput,
            message: message.into(),
        }
    }

    /// Something went wrong while running that is neither the input's nor the model's fault.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Runtime,
            message: message.into(),
        }
    }

    /// The error and its causes, outermost first: `what failed: why: deeper cause`.
    fn chained(kind: ErrorKind, error: &dyn Error) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Self { kind, message }
    }

    /// The `kind` attribute's value.
    fn kind_name(&self) -> &'static str {
        match self.kind {
            ErrorKind::BadInput => "bad_input",
            ErrorKind::Model => "model",
            ErrorKind::Runtime => "runtime",
        }
    }

    /// The Python exception: a `BertScoreError` with `.kind` set.
    pub fn into_py_err(self, py: Python<'_>) -> PyErr {
        let error = BertScoreError::new_err(self.message.clone());
        if let Err(e) = error.value(py).setattr("kind", self.kind_name()) {
            return e;
        }
        error
    }
}

impl From<bertscore_engine::EngineError> for Failure {
    fn from(error: bertscore_engine::EngineError) -> Self {
        Self::chained(error.kind(), &error)
    }
}

impl From<bertscore_hub::HubError> for Failure {
    fn from(error: bertscore_hub::HubError) -> Self {
        let kind = match error.kind() {
            bertscore_hub::ErrorKind::BadInput => ErrorKind::BadInput,
            bertscore_hub::ErrorKind::Model => ErrorKind::Model,
        };
        Self::chained(kind, &error)
    }
}

impl From<bertscore_compare::CompareError> for Failure {
    fn from(error: bertscore_compare::CompareError) -> Self {
        Self::chained(error.kind(), &error)
    }
}

/// `Result<T, Failure>` → `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Raises the failure as a `BertScoreError`.
    fn into_py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: Into<Failure>> IntoPyResult<T> for Result<T, E> {
    fn into_py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| e.into().into_py_err(py))
    }
}
