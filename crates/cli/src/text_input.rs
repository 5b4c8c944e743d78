//! Reading inputs: text files (one text per line, as the `bert-score` CLI reads them) and pair files (the record
//! reader `compare` and the pipeline use: JSONL or a JSON array, the same field aliases and id rule). Every error
//! names the file and the 1-based line; an empty input is an error naming the file. Only regular files are read
//! (a directory, FIFO or device is refused before it is opened), every line at most `--max-line-bytes`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use bertscore_engine::text_file::{
    DEFAULT_MAX_LINE_BYTES, LineLimit, MAX_LINE_BYTES_BOUND, open_regular,
};
use clap::Args;

use crate::exit::CliError;

/// How every command reads its input files: one option, shared through the model options.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Longest line of an input file in bytes (a JSON-array file counts as one line), at most 1 GiB; a longer
    /// line is refused naming its file and line
    #[arg(
        long = "max-line-bytes",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_LINE_BYTES as u64,
        value_parser = clap::value_parser!(u64).range(1..=MAX_LINE_BYTES_BOUND as u64),
        hide_short_help = true
    )]
    pub max_line_bytes: u64,
}

impl InputArgs {
    /// The line limit the option sets.
    pub fn limit(&self) -> LineLimit {
        // The parser bounds the value by MAX_LINE_BYTES_BOUND, which fits a usize.
        LineLimit(usize::try_from(self.max_line_bytes).unwrap_or(MAX_LINE_BYTES_BOUND))
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> CliError {
    CliError::bad_input(anyhow!("{}: {message}", path.display()))
}

/// The lines of a text file, stripped as bert_score's CLI does (`line.strip()`), `\n` or `\r\n` endings.
/// A final newline does not make an extra empty line.
pub fn read_lines(path: &Path, limit: LineLimit) -> Result<Vec<String>, CliError> {
    Ok(bertscore_engine::settings::read_text_lines(path, limit)?)
}

/// One scoring item from a pair file.
#[derive(Debug, Clone)]
pub struct PairRecord {
    pub id: Option<String>,
    pub candidate: String,
    pub references: Vec<String>,
}

/// Reads scoring pairs: JSONL (or a JSON array) of records with the candidate under `candidate` or any of
/// compare's aliases (`completion`, `output`, `generation`, `text`), `reference` and/or `references`, and an
/// optional `id` (all records or none, unique). Blank lines are skipped; an empty file is an error.
pub fn read_pairs_jsonl(path: &Path, limit: LineLimit) -> Result<Vec<PairRecord>, CliError> {
    let records = bertscore_compare::input::read_pairs(path, limit)?;
    Ok(records
        .into_iter()
        .map(|record| PairRecord {
            id: record.id,
            candidate: record.completion,
            references: record.references,
        })
        .collect())
}

/// The `bert-score` CLI's `-c`/`-r` inputs: files of one text per line (several reference files = several
/// references per candidate), or, when neither names a file, a literal candidate and literal references.
/// An empty candidate file is an error, as an empty `--input` is; so is a path to something other than a regular
/// file (a directory, a FIFO, a device).
pub fn read_cands_refs(
    cands: &str,
    refs: &[String],
    limit: LineLimit,
) -> Result<(Vec<String>, Vec<Vec<String>>), CliError> {
    let cand_path = PathBuf::from(cands);
    for path in std::iter::once(cands).chain(refs.iter().map(String::as_str)) {
        let path = Path::new(path);
        if path.exists() && !path.is_file() {
            open_regular(path).map_err(|e| CliError::bad_input(anyhow!(e)))?;
        }
    }
    if !cand_path.is_file() {
        if let Some(existing) = refs.iter().find(|r| Path::new(r).is_file()) {
            return Err(bad(
                &cand_path,
                format!("candidate file does not exist (reference {existing} is a file)"),
            ));
        }
        return Ok((vec![cands.to_string()], vec![refs.to_vec()]));
    }
    let candidates = read_lines(&cand_path, limit)?;
    if candidates.is_empty() {
        return Err(bad(&cand_path, "no candidates: the file is empty"));
    }
    let mut per_file = Vec::with_capacity(refs.len());
    for reference in refs {
        let path = Path::new(reference);
        if !path.is_file() {
            return Err(bad(path, "reference file does not exist"));
        }
        let lines = read_lines(path, limit)?;
        if lines.len() != candidates.len() {
            return Err(bad(
                path,
                format!(
                    "{} references but {} has {} candidates: the files must have one line per pair",
                    lines.len(),
                    cand_path.display(),
                    candidates.len()
                ),
            ));
        }
        per_file.push(lines);
    }
    let references = (0..candidates.len())
        .map(|i| per_file.iter().map(|lines| lines[i].clone()).collect())
        .collect();
    Ok((candidates, references))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    fn file(contents: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), contents).unwrap();
        f
    }

    fn text(error: CliError) -> String {
        format!("{:#}", error.error)
    }

    #[test]
    fn lines_are_stripped_and_final_newline_ignored() {
        let f = file(b" a \r\nb\n\nc\n");
        assert_eq!(
            read_lines(f.path(), LineLimit::default()).unwrap(),
            ["a", "b", "", "c"]
        );
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let f = file(b"ok\nbad \xff\n");
        let error = read_lines(f.path(), LineLimit::default()).unwrap_err();
        assert_eq!(error.exit, Exit::BadInput);
        let message = text(error);
        assert!(
            message.ends_with(":2: invalid UTF-8 at byte 4 of the line"),
            "{message}"
        );
        assert!(
            message.contains(&f.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn pair_errors_name_file_and_line() {
        let f = file(b"{\"candidate\":\"a\",\"reference\":\"b\"}\n{\"candidate\":\"a\"}\n");
        let message = text(read_pairs_jsonl(f.path(), LineLimit::default()).unwrap_err());
        assert!(message.contains(":2: no reference"), "{message}");

        let f = file(b"{\"candidate\":\"a\",\"reference\":\"b\"}\n{not json\n");
        let message = text(read_pairs_jsonl(f.path(), LineLimit::default()).unwrap_err());
        assert!(message.contains(":2: not valid JSON"), "{message}");
    }

    #[test]
    fn pairs_read_ids_reference_lists_and_completion() {
        let f = file(
            b"{\"id\":7,\"candidate\":\"a\",\"references\":[\"b\",\"c\"]}\n\n{\"id\":8,\"completion\":\"x\",\"reference\":\"y\"}",
        );
        let pairs = read_pairs_jsonl(f.path(), LineLimit::default()).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].id.as_deref(), Some("7"));
        assert_eq!(pairs[0].references, ["b", "c"]);
        assert_eq!(pairs[1].candidate, "x");
    }

    #[test]
    fn duplicate_ids_are_rejected_with_their_lines() {
        let f = file(
            b"{\"id\":\"q\",\"candidate\":\"a\",\"reference\":\"b\"}\n{\"id\":\"q\",\"candidate\":\"c\",\"reference\":\"d\"}\n",
        );
        let error = read_pairs_jsonl(f.path(), LineLimit::default()).unwrap_err();
        assert_eq!(error.exit, Exit::BadInput);
        let message = text(error);
        assert!(
            message.ends_with(":2: duplicate id \"q\" (first at line 1)"),
            "{message}"
        );
    }

    #[test]
    fn empty_inputs_are_errors_naming_the_file() {
        let empty = file(b"");
        for error in [
            read_pairs_jsonl(empty.path(), LineLimit::default()).unwrap_err(),
            read_cands_refs(
                empty.path().to_str().unwrap(),
                &[empty.path().to_str().unwrap().to_string()],
                LineLimit::default(),
            )
            .unwrap_err(),
        ] {
            assert_eq!(error.exit, Exit::BadInput);
            let message = text(error);
            assert!(
                message.starts_with(&empty.path().display().to_string()),
                "{message}"
            );
            assert!(message.contains("the file is empty"), "{message}");
        }
    }

    #[test]
    fn mismatched_line_counts_are_rejected() {
        let c = file(b"a\nb\n");
        let r = file(b"a\n");
        let error = read_cands_refs(
            c.path().to_str().unwrap(),
            &[r.path().to_str().unwrap().to_string()],
            LineLimit::default(),
        )
        .unwrap_err();
        assert!(text(error).contains("1 references but"));
    }

    #[test]
    fn non_regular_candidate_and_reference_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = file(b"a\n");
        let good = good.path().to_str().unwrap().to_string();
        let dir_path = dir.path().to_str().unwrap().to_string();
        for (cands, refs, named, what) in [
            ("/dev/zero", good.clone(), "/dev/zero", "a character device"),
            (
                good.as_str(),
                dir_path.clone(),
                dir_path.as_str(),
                "a directory",
            ),
        ] {
            let error = read_cands_refs(cands, &[refs], LineLimit::default()).unwrap_err();
            assert_eq!(error.exit, Exit::BadInput);
            assert_eq!(text(error), format!("{named}: {what}, not a regular file"));
        }
    }

    #[test]
    fn a_line_over_the_limit_names_file_and_line() {
        let f = file(b"short\nmuch longer\n");
        let error = read_lines(f.path(), LineLimit(6)).unwrap_err();
        assert_eq!(error.exit, Exit::BadInput);
        assert!(text(error).starts_with(&format!(
            "{}:2: line longer than 6 bytes",
            f.path().display()
        )),);
    }
}
