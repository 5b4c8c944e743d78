//! `bertscore pipeline ...`: runs `bertscore-pipeline ...`, the Bedrock customization loop's own binary
//! (crates/pipeline-cli), found next to this executable. The loop lives in a binary of its own so that building
//! `bertscore` for `score` and `compare` never compiles the AWS SDK.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use anyhow::anyhow;
use clap::Args;

use crate::exit::CliError;

/// The pipeline binary's name.
const PIPELINE_BINARY: &str = "bertscore-pipeline";

#[derive(Debug, Args)]
#[command(disable_help_flag = true, disable_version_flag = true)]
pub struct PipelineArgs {
    /// Arguments for bertscore-pipeline (run, plan, status, resume, cleanup; --help for more)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

/// Replaces this process with `bertscore-pipeline ARGS` (on Unix; elsewhere runs it and exits with its code).
pub fn run(args: PipelineArgs) -> Result<(), CliError> {
    let binary = pipeline_binary()?;
    let mut command = Command::new(&binary);
    command.args(&args.args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        Err(CliError::runtime(anyhow!(
            "cannot run {}: {error}",
            binary.display()
        )))
    }
    #[cfg(not(unix))]
    {
        let status = command.status().map_err(|error| {
            CliError::runtime(anyhow!("cannot run {}: {error}", binary.display()))
        })?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// `bertscore-pipeline` in this executable's directory.
fn pipeline_binary() -> Result<PathBuf, CliError> {
    let me = std::env::current_exe()
        .map_err(|e| CliError::runtime(anyhow!("cannot locate the bertscore executable: {e}")))?;
    let binary = me.with_file_name(format!("{PIPELINE_BINARY}{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        return Ok(binary);
    }
    Err(CliError::bad_input(anyhow!(
        "`bertscore pipeline` runs {PIPELINE_BINARY}, which is not installed next to {}: build it with \
         `cargo build -p bertscore-pipeline-cli` (or install it with `cargo install --path crates/pipeline-cli`), \
         or run `cargo run -p bertscore-pipeline-cli -- ARGS`",
        me.display()
    )))
}
