//! `bertscore mbr`: minimum-Bayes-risk selection with BERTScore as the utility. For each group of
//! sampled outputs (JSONL `{"id": ..., "samples": [...]}`), every sample is scored against every
//! other one of its group (each embedded once; each pair scored alone, as in `matrix`) and the
//! sample with the highest mean F1 against the others is chosen.
//!
//! Output, one line per group: `{"id", "choice" (index into samples), "sample", "expected_utility"
//! (its mean F1 against the others), "utilities" (every sample's)}`. A group of one sample chooses
//! it with no expected utility (`null`). Ties go to the first sample.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use bertscore_engine::Timings;
use clap::Args;
use serde::Deserialize;

use crate::exit::CliError;
use crate::model_args::ModelArgs;
use crate::output;
use crate::paths::{self, Named};

#[derive(Debug, Args)]
pub struct MbrArgs {
    /// Groups of samples: JSONL {"id": ..., "samples": ["...", ...]} per line
    #[arg(long, value_name = "GROUPS.jsonl")]
    pub input: PathBuf,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Write the choices to FILE instead of stdout (replaced atomically)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    id: serde_json::Value,
    samples: Vec<String>,
}

/// Reads the groups; every error names the file and line.
fn read_groups(
    path: &Path,
    limit: bertscore_engine::text_file::LineLimit,
) -> Result<Vec<Group>, CliError> {
    let mut lines = bertscore_engine::text_file::Lines::open(path, limit)
        .map_err(|e| CliError::bad_input(anyhow!(e)))?;
    let mut groups = Vec::new();
    let mut first_lines = std::collections::HashMap::new();
    while let Some((number, line)) = lines
        .next_text()
        .map_err(|e| CliError::bad_input(anyhow!(e)))?
    {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| {
            CliError::bad_input(anyhow!("{}:{number}: {message}", path.display()))
        };
        let group: Group = serde_json::from_str(&line).map_err(|e| {
            bad(format!(
                "expected {{\"id\": ..., \"samples\": [\"...\", ...]}}: {e}"
            ))
        })?;
        if group.samples.is_empty() {
            return Err(bad("\"samples\" is empty".into()));
        }
        // Ids are compared as the JSON they are written in (1 and "1" are two ids, as in the output).
        if let Some(first) = first_lines.insert(group.id.to_string(), number) {
            return Err(bad(format!(
                "duplicate group id {} (first at line {first}): each group needs its own id",
                group.id
            )));
        }
        groups.push(group);
    }
    if groups.is_empty() {
        return Err(CliError::bad_input(anyhow!(
            "{}: no group (one JSON object per line)",
            path.display()
        )));
    }
    Ok(groups)
}

/// Index and mean utility of the best sample given its `f1[i][j]` against each other sample, and
/// every sample's mean utility (`None` for a group of one).
pub fn choose(f1: &[Vec<f64>]) -> (usize, Vec<Option<f64>>) {
    let n = f1.len();
    let utilities: Vec<Option<f64>> = (0..n)
        .map(|i| {
            (n > 1)
                .then(|| (0..n).filter(|&j| j != i).map(|j| f1[i][j]).sum::<f64>() / (n - 1) as f64)
        })
        .collect();
    let mut best = 0;
    for i in 1..n {
        if utilities[i].unwrap_or(f64::NEG_INFINITY) > utilities[best].unwrap_or(f64::NEG_INFINITY)
        {
            best = i;
        }
    }
    (best, utilities)
}

pub fn run(args: MbrArgs) -> Result<(), CliError> {
    args.model.validate()?;
    let mut inputs = args.model.input_files();
    inputs.push(Named::new("--input", &args.input));
    let outputs: Vec<_> = args.output.iter().map(|p| Named::new("-o", p)).collect();
    paths::check(&inputs, &outputs)?;
    let groups = read_groups(&args.input, args.model.input.limit())?;
    let scorer = args.model.load_scorer()?;
    let all_samples: Vec<String> = groups.iter().flat_map(|g| g.samples.clone()).collect();
    let weights = scorer.weights_for_references(&all_samples)?;

    let bar = output::progress_bar("groups");
    bar.set_length(groups.len() as u64);
    let mut out = String::new();
    let mut timings = Timings::default();
    for group in &groups {
        let embedded = scorer.embed_texts(&group.samples, &weights, &mut timings)?;
        let f1: Vec<Vec<f64>> = scorer
            .match_all(&embedded, &embedded)
            .into_iter()
            .map(|row| row.into_iter().map(|s| s.f1).collect())
            .collect();
        let (choice, utilities) = choose(&f1);
        let line = serde_json::json!({
            "id": group.id,
            "choice": choice,
            "sample": group.samples[choice],
            "expected_utility": utilities[choice],
            "utilities": utilities,
        });
        out.push_str(&line.to_string());
        out.push('\n');
        bar.inc(1);
    }
    bar.finish_and_clear();
    output::emit(args.output.as_deref(), &out)
}

#[cfg(test)]
mod tests {
    use super::choose;

    #[test]
    fn the_sample_closest_to_the_others_wins() {
        let f1 = vec![
            vec![1.0, 0.2, 0.3],
            vec![0.9, 1.0, 0.8],
            vec![0.4, 0.5, 1.0],
        ];
        let (best, utilities) = choose(&f1);
        assert_eq!(best, 1);
        assert!((utilities[1].unwrap() - 0.85).abs() < 1e-12);
        assert_eq!(choose(&[vec![1.0]]), (0, vec![None]));
    }
}
