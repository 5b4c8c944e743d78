//! `bertscore score`: a drop-in for the `bert-score` CLI, plus JSONL input and machine-readable outputs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use bertscore_compare::report::printable;
use bertscore_engine::{PairScore, Scorer};
use clap::{Args, ValueEnum};

use crate::exit::CliError;
use crate::model_args::ModelArgs;
use crate::output;
use crate::paths::{self, Named};
use crate::text_input::{self, PairRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoreFormat {
    /// The bert-score CLI's output: `HASH P: … R: … F1: …` (and one `P\tR\tF` line per pair with -s)
    Text,
    /// One JSON object per pair, in input order
    Jsonl,
    /// One document: settings, means and pairs
    Json,
    /// id,precision,recall,f1
    Csv,
    /// Aligned columns for people
    Table,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// JSONL pairs: {"candidate": ..., "reference": ... | "references": [...], "id": ...} per line
    #[arg(long, value_name = "PAIRS.jsonl", conflicts_with_all = ["cands", "refs"])]
    pub input: Option<PathBuf>,

    /// Candidates: a file with one text per line, or a literal text
    #[arg(
        short = 'c',
        long = "cands",
        alias = "cand",
        value_name = "FILE",
        requires = "refs"
    )]
    pub cands: Option<String>,

    /// References: file(s) aligned with the candidates (several files = several references per candidate), or
    /// literal texts
    #[arg(short = 'r', long = "refs", alias = "ref", value_name = "FILE", num_args = 1.., requires = "cands")]
    pub refs: Vec<String>,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Output format
    #[arg(long, value_enum, default_value_t = ScoreFormat::Text)]
    pub format: ScoreFormat,

    /// Scores at every layer from 0 (embeddings) to --num-layers, from one forward pass (bert_score's
    /// all_layers=True): jsonl/json rows get arrays indexed by layer, text/table the mean per layer
    #[arg(long = "all-layers", alias = "all_layers")]
    pub all_layers: bool,

    /// With --format text: also print each pair's P, R, F1 (bert-score's -s)
    #[arg(short = 's', long = "seg-level", alias = "seg_level")]
    pub seg_level: bool,

    /// Write the results to FILE instead of stdout (a file is replaced atomically; a device, FIFO or socket is
    /// written; a symlink is followed)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What is being scored, with optional ids.
struct Inputs {
    /// A literal pair given on the command line rather than files.
    literal: bool,
    ids: Vec<Option<String>>,
    cands: Vec<String>,
    refs: Vec<Vec<String>>,
}

fn read_inputs(args: &ScoreArgs) -> Result<Inputs, CliError> {
    if let Some(path) = &args.input {
        let records = text_input::read_pairs_jsonl(path, args.model.input.limit())?;
        let (ids, pairs): (Vec<_>, Vec<_>) = records
            .into_iter()
            .map(
                |PairRecord {
                     id,
                     candidate,
                     references,
                 }| (id, (candidate, references)),
            )
            .unzip();
        let (cands, refs) = pairs.into_iter().unzip();
        return Ok(Inputs {
            literal: false,
            ids,
            cands,
            refs,
        });
    }
    match &args.cands {
        Some(cands) => {
            // A directory, a device or a FIFO is neither a file of texts nor meant as a literal text.
            for (flag, given) in
                std::iter::once(("-c", cands)).chain(args.refs.iter().map(|r| ("-r", r)))
            {
                if let Some(kind) = paths::not_regular(Path::new(given)) {
                    return Err(CliError::bad_input(anyhow!(
                        "{given}: is {kind}, not a regular file; {flag} takes a file with one text per line \
                         (or a literal text)"
                    )));
                }
            }
            let literal = !std::path::Path::new(cands).is_file();
            let (cands, refs) =
                text_input::read_cands_refs(cands, &args.refs, args.model.input.limit())?;
            Ok(Inputs {
                literal,
                ids: vec![None; cands.len()],
                cands,
                refs,
            })
        }
        None => Err(CliError::bad_input(anyhow!(
            "nothing to score: give --input PAIRS.jsonl, or -c CANDS -r REFS"
        ))),
    }
}

pub fn run(args: ScoreArgs) -> Result<(), CliError> {
    args.model.validate()?;
    check_paths(&args)?;
    let inputs = read_inputs(&args)?;
    if args.model.idf && inputs.literal {
        return Err(CliError::bad_input(anyhow!(
            "--idf needs a set of references; it is not supported for a single literal pair (as in bert-score)"
        )));
    }
    let scorer = args.model.load_scorer()?;

    let layer_baselines = if args.all_layers {
        crate::layers::baselines(&args.model, &scorer)?
    } else {
        None
    };

    let bar = output::progress_bar("embedding");
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let mut report = if args.all_layers {
        scorer.score_all_layers(&inputs.cands, &inputs.refs, &progress)?
    } else {
        scorer.score_with_progress(&inputs.cands, &inputs.refs, &progress)?
    };
    bar.finish_and_clear();
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }

    let rendered = if args.all_layers {
        if let Some(baselines) = &layer_baselines {
            crate::layers::rescale(&mut report.layers, baselines);
        }
        crate::layers::render(
            args.format,
            args.seg_level,
            &scorer,
            layer_baselines.is_some(),
            &inputs.ids,
            &report.layers,
        )
    } else {
        render(&args, &scorer, &inputs, &report.scores)
    };
    output::emit(args.output.as_deref(), &rendered)
}

/// Every file read and written, checked before any work (see [`paths::check`]). `-c`/`-r` may be literal texts;
/// those are not files and pass.
fn check_paths(args: &ScoreArgs) -> Result<(), CliError> {
    let mut inputs = args.model.input_files();
    inputs.extend(args.input.iter().map(|p| Named::new("--input", p)));
    inputs.extend(args.cands.iter().map(|c| Named::new("-c", Path::new(c))));
    inputs.extend(args.refs.iter().map(|r| Named::new("-r", Path::new(r))));
    let outputs: Vec<_> = args.output.iter().map(|p| Named::new("-o", p)).collect();
    paths::check(&inputs, &outputs)
}

fn mean(scores: &[PairScore]) -> PairScore {
    let n = scores.len().max(1) as f64;
    let sum = scores.iter().fold((0.0, 0.0, 0.0), |acc, s| {
        (acc.0 + s.precision, acc.1 + s.recall, acc.2 + s.f1)
    });
    PairScore {
        precision: sum.0 / n,
        recall: sum.1 / n,
        f1: sum.2 / n,
    }
}

fn render(args: &ScoreArgs, scorer: &Scorer, inputs: &Inputs, scores: &[PairScore]) -> String {
    let avg = mean(scores);
    let mut out = String::new();
    match args.format {
        ScoreFormat::Text => {
            let _ = writeln!(
                out,
                "{} P: {:.6} R: {:.6} F1: {:.6}",
                scorer.hash(),
                avg.precision,
                avg.recall,
                avg.f1
            );
            if args.seg_level {
                for s in scores {
                    let _ = writeln!(out, "{:.6}\t{:.6}\t{:.6}", s.precision, s.recall, s.f1);
                }
            }
        }
        ScoreFormat::Jsonl => {
            for (id, s) in inputs.ids.iter().zip(scores) {
                let _ = writeln!(out, "{}", pair_json(id.as_deref(), s));
            }
        }
        ScoreFormat::Json => {
            let pairs: Vec<_> = inputs
                .ids
                .iter()
                .zip(scores)
                .map(|(id, s)| pair_json(id.as_deref(), s))
                .collect();
            let document = serde_json::json!({
                "model": scorer.model_name(),
                "num_layers": scorer.num_layers(),
                "idf": args.model.idf || args.model.idf_corpus.is_some(),
                "rescaled": args.model.rescaled(),
                "hash": scorer.hash(),
                "n": scores.len(),
                "precision": avg.precision,
                "recall": avg.recall,
                "f1": avg.f1,
                "pairs": pairs,
            });
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&document).expect("serialisable")
            );
        }
        ScoreFormat::Csv => {
            out.push_str("id,precision,recall,f1\n");
            for (index, (id, s)) in inputs.ids.iter().zip(scores).enumerate() {
                let id = id.clone().unwrap_or_else(|| (index + 1).to_string());
                let _ = writeln!(
                    out,
                    "{},{:.6},{:.6},{:.6}",
                    csv_field(&id),
                    s.precision,
                    s.recall,
                    s.f1
                );
            }
        }
        ScoreFormat::Table => {
            let labels: Vec<String> = inputs
                .ids
                .iter()
                .enumerate()
                .map(|(index, id)| match id {
                    Some(id) => printable(id).into_owned(),
                    None => (index + 1).to_string(),
                })
                .collect();
            let width = labels
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(2)
                .max(4);
            let _ = writeln!(out, "{:<width$}  {:>9}  {:>9}  {:>9}", "id", "P", "R", "F1");
            for (label, s) in labels.iter().zip(scores) {
                let _ = writeln!(
                    out,
                    "{label:<width$}  {:>9.6}  {:>9.6}  {:>9.6}",
                    s.precision, s.recall, s.f1
                );
            }
            let _ = writeln!(
                out,
                "{:<width$}  {:>9.6}  {:>9.6}  {:>9.6}",
                "mean", avg.precision, avg.recall, avg.f1
            );
            let _ = writeln!(out, "{}", scorer.hash());
        }
    }
    out
}

fn pair_json(id: Option<&str>, s: &PairScore) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    if let Some(id) = id {
        object.insert("id".into(), id.into());
    }
    object.insert("precision".into(), s.precision.into());
    object.insert("recall".into(), s.recall.into());
    object.insert("f1".into(), s.f1.into());
    serde_json::Value::Object(object)
}

/// A CSV cell a spreadsheet shows as text: quoted when needed, and a leading `=`, `+`, `-`, `@`, tab or
/// carriage return (what spreadsheets read as the start of a formula) neutralised with a `'` (OWASP's advice).
pub(crate) fn csv_field(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}")
    } else {
        field.to_string()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_cells_cannot_be_formulas() {
        assert_eq!(csv_field("=1+2"), "'=1+2");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            csv_field("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("p1"), "p1");
        assert_eq!(csv_field("a=b"), "a=b");
    }
}
