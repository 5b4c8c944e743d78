//! `bertscore matrix`: the |A|×|B| P, R and F matrices of every candidate of A against every
//! reference of B, each text embedded once. B's embeddings are kept; A is embedded and matched a
//! chunk (`--chunk-size`) at a time and its rows written out as they come, so memory is bounded by
//! B plus one chunk of A.
//!
//! A cell is the score of the pair alone (its own group of one in bert_score's padding rule), the
//! number `bertscore score -c A[i] -r B[j]` prints.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use bertscore_engine::{PairScore, Timings};
use clap::{Args, ValueEnum};

use crate::exit::CliError;
use crate::model_args::ModelArgs;
use crate::output;
use crate::paths::{self, Named};
use crate::temp_files::TempFile;
use crate::text_input;

/// Most scores held at once (24 bytes each, plus 8 per output file while written): a block of rows of the
/// matrix, at least one row.
pub const BLOCK_CELLS: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    /// P.npy, R.npy and F.npy (float64, |A|×|B|, numpy's format) in --output-dir
    Npy,
    /// One JSON object per candidate: {"cand": i, "precision": [...], "recall": [...], "f1": [...]}
    Jsonl,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Candidates (rows): one text per line
    #[arg(short = 'c', long, value_name = "FILE")]
    pub cands: PathBuf,

    /// References (columns): one text per line
    #[arg(short = 'r', long, value_name = "FILE")]
    pub refs: PathBuf,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Output format
    #[arg(long, value_enum, default_value_t = MatrixFormat::Npy)]
    pub format: MatrixFormat,

    /// With --format npy: the directory that receives P.npy, R.npy and F.npy (replaced atomically)
    #[arg(long = "output-dir", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// With --format jsonl: write to FILE instead of stdout (replaced atomically)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A sink for matrix rows.
enum Sink {
    /// Three .npy files being written next to their final names.
    Npy(Vec<(TempFile, PathBuf)>),
    /// JSONL to a temporary file next to the target, or to stdout.
    Jsonl(Box<dyn Write>, Option<(TempFile, PathBuf)>),
}

pub fn run(args: MatrixArgs) -> Result<(), CliError> {
    args.model.validate()?;
    match (args.format, &args.output_dir, &args.output) {
        (MatrixFormat::Npy, None, _) => {
            return Err(CliError::bad_input(anyhow!(
                "--format npy writes P.npy, R.npy and F.npy: give --output-dir DIR"
            )));
        }
        (MatrixFormat::Npy, _, Some(_)) => {
            return Err(CliError::bad_input(anyhow!(
                "-o is for --format jsonl; --format npy writes into --output-dir"
            )));
        }
        (MatrixFormat::Jsonl, Some(_), _) => {
            return Err(CliError::bad_input(anyhow!(
                "--output-dir is for --format npy; --format jsonl writes to -o FILE or stdout"
            )));
        }
        _ => {}
    }
    if let Some(dir) = &args.output_dir
        && !dir.is_dir()
    {
        return Err(CliError::bad_input(anyhow!(
            "{}: --output-dir is not a directory",
            dir.display()
        )));
    }
    check_paths(&args)?;
    let cands = non_empty(
        text_input::read_lines(&args.cands, args.model.input.limit())?,
        &args.cands,
    )?;
    let refs = non_empty(
        text_input::read_lines(&args.refs, args.model.input.limit())?,
        &args.refs,
    )?;
    let scorer = args.model.load_scorer()?;

    let mut timings = Timings::default();
    let weights = scorer.weights_for_references(&refs)?;
    let embedded_refs = scorer.embed_texts(&refs, &weights, &mut timings)?;

    let mut sink = match &args.output_dir {
        Some(dir) => Sink::Npy(
            NPY_NAMES
                .iter()
                .map(|name| {
                    let target = dir.join(format!("{name}.npy"));
                    let mut file = TempFile::create_in(
                        tempfile::Builder::new()
                            .prefix(&format!(".{name}.npy."))
                            .permissions(new_file_mode()),
                        dir,
                    )
                    .map_err(|e| write_error(&target, e))?;
                    file.write_all(&npy_header(cands.len(), refs.len()))
                        .map_err(|e| write_error(&target, e))?;
                    Ok((file, target))
                })
                .collect::<Result<_, CliError>>()?,
        ),
        None => match &args.output {
            Some(path) => {
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let file = TempFile::create_in(
                    tempfile::Builder::new()
                        .prefix(".matrix.")
                        .permissions(new_file_mode()),
                    dir,
                )
                .map_err(|e| write_error(path, e))?;
                let writer = file.reopen().map_err(|e| write_error(path, e))?;
                Sink::Jsonl(Box::new(BufWriter::new(writer)), Some((file, path.clone())))
            }
            None => Sink::Jsonl(Box::new(BufWriter::new(std::io::stdout().lock())), None),
        },
    };

    let bar = output::progress_bar("matching");
    bar.set_length(cands.len() as u64);
    let chunk = args.model.chunk_size.max(1);
    // Rows are matched and written a block at a time: memory holds at most BLOCK_CELLS scores whatever |B|
    // and the chunk size.
    let block_rows = (BLOCK_CELLS / refs.len()).max(1);
    for (chunk_index, rows) in cands.chunks(chunk).enumerate() {
        let embedded = scorer.embed_texts(rows, &weights, &mut timings)?;
        for start in (0..rows.len()).step_by(block_rows) {
            let end = (start + block_rows).min(rows.len());
            let block = scorer.match_rows(&embedded, start..end, &embedded_refs);
            write_rows(&mut sink, chunk_index * chunk + start, &block)?;
            bar.inc((end - start) as u64);
        }
    }
    bar.finish_and_clear();
    finish(sink)
}

/// The names of the three matrices written into `--output-dir`.
const NPY_NAMES: [&str; 3] = ["P", "R", "F"];

/// Inputs and every output file (`-o`, or P.npy, R.npy and F.npy in `--output-dir`) checked before any work
/// (see [`paths::check`]).
fn check_paths(args: &MatrixArgs) -> Result<(), CliError> {
    let npy: Vec<PathBuf> = args
        .output_dir
        .iter()
        .flat_map(|dir| NPY_NAMES.map(|name| dir.join(format!("{name}.npy"))))
        .collect();
    let mut inputs = args.model.input_files();
    inputs.push(Named::new("-c", &args.cands));
    inputs.push(Named::new("-r", &args.refs));
    let outputs: Vec<_> = args
        .output
        .iter()
        .map(|p| Named::new("-o", p))
        .chain(npy.iter().map(|p| Named::new("--output-dir", p)))
        .collect();
    paths::check(&inputs, &outputs)
}

fn non_empty(lines: Vec<String>, path: &Path) -> Result<Vec<String>, CliError> {
    if lines.is_empty() {
        return Err(CliError::bad_input(anyhow!(
            "{}: no text (one per line)",
            path.display()
        )));
    }
    Ok(lines)
}

/// 0666 for a new file, the umask applied by the kernel (tempfile's default would be 0600).
fn new_file_mode() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o666)
}

fn write_error(path: &Path, error: std::io::Error) -> CliError {
    CliError::runtime(anyhow!("{}: cannot write: {error}", path.display()))
}

/// numpy's `.npy` header (format 1.0) for a C-order float64 matrix.
pub fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + header length (2) + dict + padding + '\n', a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let padding = unpadded.div_ceil(64) * 64 - unpadded;
    let header = format!("{dict}{}\n", " ".repeat(padding));
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

fn write_rows(sink: &mut Sink, first: usize, matrix: &[Vec<PairScore>]) -> Result<(), CliError> {
    match sink {
        Sink::Npy(files) => {
            let picks: [fn(&PairScore) -> f64; 3] = [|s| s.precision, |s| s.recall, |s| s.f1];
            for ((file, target), pick) in files.iter_mut().zip(picks) {
                let mut bytes = Vec::with_capacity(matrix.len() * matrix[0].len() * 8);
                for row in matrix {
                    for cell in row {
                        bytes.extend_from_slice(&pick(cell).to_le_bytes());
                    }
                }
                file.write_all(&bytes).map_err(|e| write_error(target, e))?;
            }
        }
        Sink::Jsonl(writer, target) => {
            let shown = target
                .as_ref()
                .map_or(PathBuf::from("<stdout>"), |(_, p)| p.clone());
            for (offset, row) in matrix.iter().enumerate() {
                let column = |pick: fn(&PairScore) -> f64| row.iter().map(pick).collect::<Vec<_>>();
                let line = serde_json::json!({
                    "cand": first + offset,
                    "precision": column(|s| s.precision),
                    "recall": column(|s| s.recall),
                    "f1": column(|s| s.f1),
                });
                writeln!(writer, "{line}").map_err(|e| write_error(&shown, e))?;
            }
        }
    }
    Ok(())
}

fn finish(sink: Sink) -> Result<(), CliError> {
    match sink {
        Sink::Npy(files) => {
            for (file, target) in files {
                file.as_file()
                    .sync_all()
                    .map_err(|e| write_error(&target, e))?;
                file.persist(&target).map_err(|e| write_error(&target, e))?;
            }
        }
        Sink::Jsonl(mut writer, target) => {
            let shown = target
                .as_ref()
                .map_or(PathBuf::from("<stdout>"), |(_, p)| p.clone());
            writer.flush().map_err(|e| write_error(&shown, e))?;
            drop(writer);
            if let Some((file, path)) = target {
                file.persist(&path).map_err(|e| write_error(&path, e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::npy_header;

    #[test]
    fn npy_header_is_aligned_and_names_the_shape() {
        let header = npy_header(3, 1000);
        assert_eq!(header.len() % 64, 0);
        assert_eq!(&header[..8], b"\x93NUMPY\x01\x00");
        let text = String::from_utf8_lossy(&header[10..]);
        assert!(text.contains("'shape': (3, 1000)"), "{text}");
        assert!(text.ends_with('\n'));
    }
}
