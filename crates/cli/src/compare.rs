//! `bertscore compare BASE CUSTOM`: is the fine-tuned model better than the base model, and how sure are we.
//!
//! Reads both models' outputs (JSONL or the AWS sample's JSON arrays), aligns them by id or position, scores
//! both in one engine pass and prints the paired statistics: a table by default, `--json` for machines,
//! `--html FILE` for a self-contained report. `--fail-if-worse` turns a `base` verdict into exit code 1.
//!
//! `bertscore compare BASE SYS1 SYS2 …`: which of several systems is best. Each is compared with the base,
//! the p-values are corrected for the number of systems (`--correction`, Holm by default), the systems are
//! ranked by mean F1 and the best is tested against the runner-up (see `bertscore_compare::multi`).

use std::path::PathBuf;

use anyhow::anyhow;
use bertscore_compare::{CompareSettings, Correction, Verdict};
use clap::Args;

use crate::exit::{CliError, Exit};
use crate::model_args::ModelArgs;
use crate::output::{self, emit, progress_bar};
use crate::paths::{self, Named};

#[derive(Args)]
pub struct CompareArgs {
    /// The base model's outputs (JSONL with `completion`/`output`/`text`..., or a JSON array of strings)
    #[arg(value_name = "BASE")]
    pub base: PathBuf,

    /// The custom (fine-tuned) model's outputs, same format; give several files to compare several systems
    /// with the base (N-way: corrected p-values, ranking, best vs runner-up)
    #[arg(value_name = "CUSTOM", required = true, num_args = 1..)]
    pub systems: Vec<PathBuf>,

    /// N-way: the systems' names, comma-separated, one per CUSTOM file [default: the file stems]
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub names: Vec<String>,

    /// N-way: how the p-values of several systems against the base are adjusted: holm (Holm's step-down
    /// method), bonferroni or none [default: holm]
    #[arg(long, value_name = "METHOD")]
    pub correction: Option<Correction>,

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
    check_paths(&args)?;

    if args.systems.len() > 1 {
        return run_systems(args, &options);
    }
    if !args.names.is_empty() || args.correction.is_some() {
        return Err(CliError::bad_input(anyhow!(
            "--names and --correction are for comparing several systems: give two or more CUSTOM files"
        )));
    }
    let items = bertscore_compare::load_items(
        &args.base,
        &args.systems[0],
        args.references.as_deref(),
        args.model.input.limit(),
    )?;
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

/// `compare BASE SYS1 SYS2 …`: every system against the base, corrected, ranked; best vs runner-up.
fn run_systems(args: CompareArgs, settings: &CompareSettings) -> Result<(), CliError> {
    if !args.heatmaps.is_empty() {
        return Err(CliError::bad_input(anyhow!(
            "--heatmap is for comparing two files; the N-way report has no heatmaps"
        )));
    }
    let names = if args.names.is_empty() {
        bertscore_compare::multi::default_names(&args.systems)
    } else {
        args.names.clone()
    };
    bertscore_compare::multi::check_names(&names, args.systems.len()).map_err(|e| {
        CliError::bad_input(anyhow!(
            "{e}{}",
            if args.names.is_empty() {
                " (the file stems; choose names with --names)"
            } else {
                ""
            }
        ))
    })?;
    let correction = args.correction.unwrap_or_default();

    let items = bertscore_compare::load_systems(
        &args.base,
        &args.systems,
        args.references.as_deref(),
        args.model.input.limit(),
    )?;
    let idf_references = items
        .iter()
        .flat_map(|item| item.references.iter().cloned())
        .collect();
    let scorer = args
        .model
        .load_scorer_with_idf_references(Some(idf_references))?;

    let bar = progress_bar("scoring");
    let comparison = bertscore_compare::compare_systems(
        &scorer,
        &items,
        &names,
        settings,
        correction,
        &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    for warning in &comparison.warnings {
        tracing::warn!("{warning}");
    }

    // Everything is computed before anything is written.
    let html = args
        .html
        .as_ref()
        .map(|_| bertscore_compare::render_systems_html(&comparison));
    let report = if args.json {
        let mut json = serde_json::to_string_pretty(&comparison).map_err(CliError::runtime)?;
        json.push('\n');
        json
    } else {
        bertscore_compare::render_systems_table(&comparison)
    };
    if let (Some(path), Some(html)) = (&args.html, &html) {
        output::write(path, html.as_bytes())?;
    }
    emit(args.output.as_deref(), &report)?;

    if args.fail_if_worse && comparison.verdict == "base" {
        return Err(CliError::new(
            Exit::GateFailed,
            anyhow!("every system is worse than the base model"),
        ));
    }
    Ok(())
}

/// Both outputs writable, neither the same file as an input or as the other, before any work (see
/// [`paths::check`]).
fn check_paths(args: &CompareArgs) -> Result<(), CliError> {
    let mut inputs = args.model.input_files();
    inputs.push(Named::new("BASE", &args.base));
    inputs.extend(args.systems.iter().map(|p| Named::new("CUSTOM", p)));
    inputs.extend(
        args.references
            .iter()
            .map(|p| Named::new("--references", p)),
    );
    let outputs: Vec<_> = args
        .output
        .iter()
        .map(|p| Named::new("-o", p))
        .chain(args.html.iter().map(|p| Named::new("--html", p)))
        .collect();
    paths::check(&inputs, &outputs)
}
