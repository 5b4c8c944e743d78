//! `bertscore compare BASE CUSTOM`: is the fine-tuned model better than the base model, and how sure are we.
//!
//! Reads both models' outputs (JSONL or the AWS sample's JSON arrays), aligns them by id or position, scores
//! both in one engine pass and prints the paired statistics: a table by default, `--json` for machines,
//! `--html FILE` for a self-contained report. `--fail-if-worse` turns a `base` verdict into exit code 1.

use std::path::PathBuf;

use anyhow::anyhow;
use bertscore_compare::{CompareSettings, Verdict};
use clap::Args;

use crate::exit::{CliError, Exit};
use crate::model_args::ModelArgs;
use crate::output::{self, emit, progress_bar};

#[derive(Args)]
pub struct CompareArgs {
    /// The base model's outputs (JSONL with `completion`/`output`/`text`..., or a JSON array of strings)
    #[arg(value_name = "BASE")]
    pub base: PathBuf,

    /// The custom (fine-tuned) model's outputs, same format
    #[arg(value_name = "CUSTOM")]
    pub custom: PathBuf,

    /// References: a JSON array (of strings, or of arrays for several references per item) or JSONL with
    /// `reference`/`references` [default: the `reference(s)` fields of BASE and CUSTOM]
    #[arg(long, value_name = "FILE")]
    pub references: Option<PathBuf>,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Bootstrap resamples for the 95% confidence interval of the mean difference
    #[arg(long, default_value_t = CompareSettings::default().bootstrap, value_name = "N")]
    pub bootstrap: usize,

    /// Random sign patterns for the permutation test (all 2^n are used when there are no more)
    #[arg(long, default_value_t = CompareSettings::default().permutations, value_name = "N")]
    pub permutations: usize,

    /// Seed of the bootstrap and permutation draws (same seed, same numbers)
    #[arg(long, default_value_t = CompareSettings::default().seed)]
    pub seed: u64,

    /// The mean F1 change must exceed this for a `custom` or `base` verdict
    #[arg(long, default_value_t = CompareSettings::default().margin)]
    pub margin: f64,

    /// Significance level of the permutation test
    #[arg(long, default_value_t = CompareSettings::default().alpha)]
    pub alpha: f64,

    /// Print one JSON document instead of the table
    #[arg(long)]
    pub json: bool,

    /// Also write a self-contained HTML report (plots, largest changes, token heatmaps); written as -o is
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Add this item's token heatmap to the HTML report (repeatable; the largest regression and gain are
    /// always drawn)
    #[arg(long = "heatmap", value_name = "ID")]
    pub heatmaps: Vec<String>,

    /// Write the table or JSON to FILE instead of stdout (a file is replaced atomically; a device, FIFO or
    /// socket is written; a symlink is followed)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with status 1 when the verdict is `base` (the custom model is significantly worse)
    #[arg(long)]
    pub fail_if_worse: bool,
}

pub fn run(args: CompareArgs) -> Result<(), CliError> {
    let options = CompareSettings {
        bootstrap: args.bootstrap,
        permutations: args.permutations,
        seed: args.seed,
        margin: args.margin,
        alpha: args.alpha,
    };
    options.validate().map_err(CliError::bad_input)?;
    if args.html.is_none() && !args.heatmaps.is_empty() {
        return Err(CliError::bad_input(anyhow!("--heatmap needs --html FILE")));
    }
    args.model.validate()?;
    check_outputs(args.output.as_deref(), args.html.as_deref())?;

    let items =
        bertscore_compare::load_items(&args.base, &args.custom, args.references.as_deref())?;
    let scorer = args
        .model
        .load_scorer_with_idf_references(Some(bertscore_compare::idf_corpus(&items)))?;

    let bar = progress_bar("scoring");
    let comparison =
        bertscore_compare::compare_with_progress(&scorer, &items, &options, &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
    bar.finish_and_clear();
    for warning in &comparison.warnings {
        tracing::warn!("{warning}");
    }

    // Everything is computed before anything is written: a failure leaves no partial output.
    let html = match &args.html {
        Some(_) => {
            let heatmaps = bertscore_compare::heatmaps(&scorer, &comparison, &args.heatmaps)?;
            Some(bertscore_compare::render_html(&comparison, &heatmaps))
        }
        None => None,
    };
    let report = if args.json {
        let mut json = serde_json::to_string_pretty(&comparison).map_err(CliError::runtime)?;
        json.push('\n');
        json
    } else {
        bertscore_compare::render_table(&comparison)
    };
    if let (Some(path), Some(html)) = (&args.html, &html) {
        output::write(path, html.as_bytes())?;
    }
    emit(args.output.as_deref(), &report)?;

    if args.fail_if_worse && comparison.statistics.verdict == Verdict::Base {
        return Err(CliError::new(
            Exit::GateFailed,
            anyhow!(
                "the custom model is worse than the base model (delta F1 {:+.4}, p = {})",
                comparison.statistics.delta_f1,
                bertscore_compare::report::format_p(comparison.statistics.p_value)
            ),
        ));
    }
    Ok(())
}

/// Both outputs writable, and not the same file (one would overwrite the other), before any work.
fn check_outputs(
    report: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
) -> Result<(), CliError> {
    for path in report.into_iter().chain(html) {
        output::check(path)?;
    }
    if let (Some(report), Some(html)) = (report, html) {
        let same = match (std::fs::canonicalize(report), std::fs::canonicalize(html)) {
            (Ok(a), Ok(b)) => a == b,
            _ => report == html,
        };
        if same {
            return Err(CliError::bad_input(anyhow!(
                "-o {} and --html {} name the same file: one would overwrite the other",
                report.display(),
                html.display()
            )));
        }
    }
    Ok(())
}
