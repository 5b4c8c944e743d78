//! `bertscore baseline`: a rescale baseline for any model, made as bert_score's own were: the mean P,
//! R and F of random sentence pairs of a corpus at every layer 0..L (one forward pass per batch gives
//! every layer), written in bert_score's file format (`LAYER,P,R,F`), ready for `--baseline FILE`.
//!
//! Sampling follows bert_score's baseline script: `--pairs N` pairs of distinct corpus lines, each
//! line used at most once (2N distinct lines drawn without replacement, seeded). `--pairs-file`
//! scores given pairs instead, so a baseline can be checked against bert_score's numbers.

use std::path::PathBuf;

use anyhow::anyhow;
use bertscore_engine::BaselineTable;
use clap::Args;
use rand::SeedableRng;

use crate::exit::CliError;
use crate::model_args::{self, ModelArgs};
use crate::output;
use crate::paths::{self, Named};
use crate::text_input;

/// The most pairs `--pairs` accepts (bert_score's published baselines used 1M).
pub const MAX_PAIRS: usize = 10_000_000;

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Corpus to sample sentence pairs from: one sentence per line (blank lines are skipped)
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "pairs_file",
        required_unless_present = "pairs_file"
    )]
    pub corpus: Option<PathBuf>,

    /// Sentence pairs to sample from --corpus (each sentence used at most once, so the corpus needs
    /// twice as many lines), at most 10,000,000
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub pairs: usize,

    /// Seed of the pair sampling (the same seed and corpus give the same pairs)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Score these pairs instead of sampling: JSONL {"candidate": ..., "reference": ...} per line
    #[arg(long = "pairs-file", value_name = "PAIRS.jsonl")]
    pub pairs_file: Option<PathBuf>,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Write the baseline to FILE instead of stdout (replaced atomically)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: BaselineArgs) -> Result<(), CliError> {
    args.model.validate()?;
    if args.model.idf || args.model.idf_corpus.is_some() || args.model.rescaled() {
        return Err(CliError::bad_input(anyhow!(
            "a baseline is computed without idf and without rescaling (as bert_score's are): drop --idf, \
             --idf-corpus, --rescale-with-baseline and --baseline"
        )));
    }
    if args.pairs_file.is_none() && !(1..=MAX_PAIRS).contains(&args.pairs) {
        return Err(CliError::bad_input(anyhow!(
            "--pairs: {} is out of range 1..={MAX_PAIRS}",
            args.pairs
        )));
    }
    let mut inputs = args.model.input_files();
    inputs.extend(args.corpus.iter().map(|p| Named::new("--corpus", p)));
    inputs.extend(
        args.pairs_file
            .iter()
            .map(|p| Named::new("--pairs-file", p)),
    );
    let outputs: Vec<_> = args.output.iter().map(|p| Named::new("-o", p)).collect();
    paths::check(&inputs, &outputs)?;
    let (cands, refs) = match (&args.pairs_file, &args.corpus) {
        (Some(path), _) => {
            let records = text_input::read_pairs_jsonl(path, args.model.input.limit())?;
            records
                .into_iter()
                .map(|r| (r.candidate, r.references))
                .unzip()
        }
        (None, Some(corpus)) => {
            sample_pairs(corpus, args.pairs, args.seed, args.model.input.limit())?
        }
        (None, None) => unreachable!("clap requires --corpus or --pairs-file"),
    };

    // Every layer of the model unless --num-layers caps it.
    let settings = crate::layers::every_layer(&args.model)?;
    let scorer = model_args::load_scorer(&settings, None)?;

    let bar = output::progress_bar("embedding");
    let report = scorer.score_all_layers(&cands, &refs, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let means = crate::layers::layer_means(&report.layers);
    output::emit(args.output.as_deref(), &BaselineTable::format(&means))
}

/// `pairs` pairs of distinct non-blank corpus lines, each line used at most once.
fn sample_pairs(
    corpus: &std::path::Path,
    pairs: usize,
    seed: u64,
    limit: bertscore_engine::text_file::LineLimit,
) -> Result<(Vec<String>, Vec<Vec<String>>), CliError> {
    let sentences: Vec<String> = text_input::read_lines(corpus, limit)?
        .into_iter()
        .filter(|line| !line.is_empty())
        .collect();
    if sentences.is_empty() {
        return Err(CliError::bad_input(anyhow!(
            "{}: the corpus has no sentence (one per line)",
            corpus.display()
        )));
    }
    if sentences.len() < 2 * pairs {
        return Err(CliError::bad_input(anyhow!(
            "{}: {} sentences, but --pairs {pairs} needs {} (each sentence is used once, as in bert_score's \
             baselines); give a larger corpus or --pairs {}",
            corpus.display(),
            sentences.len(),
            2 * pairs,
            sentences.len() / 2
        )));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let chosen = rand::seq::index::sample(&mut rng, sentences.len(), 2 * pairs).into_vec();
    let (cands, refs) = chosen
        .chunks_exact(2)
        .map(|two| (sentences[two[0]].clone(), vec![sentences[two[1]].clone()]))
        .unzip();
    Ok((cands, refs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_uses_each_line_once_and_depends_on_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus.txt");
        let lines: Vec<String> = (0..50).map(|i| format!("sentence {i}")).collect();
        std::fs::write(&corpus, lines.join("\n\n")).unwrap();
        let (cands, refs) = sample_pairs(
            &corpus,
            25,
            7,
            bertscore_engine::text_file::LineLimit::default(),
        )
        .unwrap();
        let mut all: Vec<&String> = cands.iter().chain(refs.iter().flatten()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 50, "every line once");
        assert_eq!(
            sample_pairs(
                &corpus,
                25,
                7,
                bertscore_engine::text_file::LineLimit::default()
            )
            .unwrap()
            .0,
            cands
        );
        assert_ne!(
            sample_pairs(
                &corpus,
                25,
                8,
                bertscore_engine::text_file::LineLimit::default()
            )
            .unwrap()
            .0,
            cands
        );
        let error = sample_pairs(
            &corpus,
            26,
            7,
            bertscore_engine::text_file::LineLimit::default(),
        )
        .unwrap_err();
        assert_eq!(error.exit, crate::exit::Exit::BadInput);
        assert!(
            error.error.to_string().contains("50 sentences"),
            "{}",
            error.error
        );
    }
}
