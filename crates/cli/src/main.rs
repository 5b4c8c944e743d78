//! `bertscore`: BERTScore evaluation and the Bedrock customization loop.
//!
//! Each subcommand lives in its own module; this file only parses arguments, dispatches, and maps
//! errors to exit codes (see [`exit`]).

mod baseline;
mod bench;
mod compare;
mod correlation;
mod exit;
mod layers;
mod layers_human;
mod matrix;
mod mbr;
mod model_args;
mod models;
mod output;
mod paths;
mod pipeline;
mod score;
mod temp_files;
mod text_input;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bertscore",
    version = bertscore_cli_conventions::VERSION,
    long_version = bertscore_cli_conventions::long_version(),
    about = "BERTScore evaluation, fast and exact (bert_score 0.3.13 parity)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score candidates against references (a drop-in for the bert-score CLI)
    Score(score::ScoreArgs),
    /// Is the custom model better than the base? Paired statistics, CI, significance test, HTML report
    Compare(compare::CompareArgs),
    /// A rescale baseline for any model (bert_score's LAYER,P,R,F file) from random corpus pairs or given pairs
    Baseline(baseline::BaselineArgs),
    /// All-pairs P/R/F matrices of candidates A against references B (numpy .npy or JSONL)
    Matrix(matrix::MatrixArgs),
    /// Minimum-Bayes-risk selection: per group of samples, the one with the highest mean F1 against the others
    Mbr(mbr::MbrArgs),
    /// Which layer agrees best with human judgments: per-layer Pearson and Kendall of P, R, F with bootstrap CIs
    Layers(layers_human::LayersArgs),
    /// The supported model types (config.json model_type) and the models with a recommended layer
    Models(models::ModelsArgs),
    /// Throughput of the engine on a data set: pairs/s, tokens/s, time per stage, padding, peak memory
    Bench(bench::BenchArgs),
    /// The Bedrock customization loop: fine-tune, provision, evaluate, keep or delete, email
    Pipeline(pipeline::PipelineArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout
    Completions(bertscore_cli_conventions::CompletionsArgs),
    /// Print the man page (roff, section 1) on stdout
    Man,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    // An interrupted command removes its temporary files (see temp_files).
    if let Err(error) = temp_files::install() {
        let error = anyhow::Error::new(error).context("cannot watch for SIGINT/SIGTERM");
        return exit::report(Err(exit::CliError::runtime(error)));
    }
    let result: Result<(), exit::CliError> = match cli.command {
        Command::Score(args) => score::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Baseline(args) => baseline::run(args),
        Command::Matrix(args) => matrix::run(args),
        Command::Mbr(args) => mbr::run(args),
        Command::Layers(args) => layers_human::run(args),
        Command::Models(args) => models::run(args),
        Command::Pipeline(args) => pipeline::run(args),
        Command::Completions(args) => {
            bertscore_cli_conventions::completions(args.shell, Cli::command())
                .map_err(exit::CliError::runtime)
        }
        Command::Man => {
            bertscore_cli_conventions::man(Cli::command()).map_err(exit::CliError::runtime)
        }
    };
    exit::report(result)
}
