//! What every `bertscore` end-to-end test needs: the repository root and the real binary run from it.

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run the binary from there, as the README's examples do).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the real `bertscore` binary with `args` from the repository root.
pub fn bertscore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bertscore"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("bertscore runs")
}

/// The run's stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The run's stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the run exited with `code` and its stderr says `needle`.
pub fn assert_fails_with(output: &Output, code: i32, needle: &str) {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
    assert!(stderr(output).contains(needle), "{}", stderr(output));
}
