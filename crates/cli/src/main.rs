//! `bertscore`: BERTScore evaluation and the Bedrock customization loop.
//!
//! Each subcommand lives in its own module; this file only parses arguments, dispatches, and maps
//! errors to exit codes (see [`exit`]).

mod exit;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bertscore", version, about = "BERTScore evaluation, fast and exact (bert_score 0.3.13 parity)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // score / compare / bench / pipeline are added by their modules.
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result: Result<(), exit::CliError> = match cli.command {};
    exit::report(result)
}
