//! Reading inputs: text files (one text per line, as the `bert-score` CLI reads them) and JSONL pair files.
//! Every error names the file and the 1-based line.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde_json::Value;

use crate::exit::CliError;

fn bad(path: &Path, line: Option<usize>, message: impl std::fmt::Display) -> CliError {
    let at = match line {
        Some(line) => format!("{}:{line}", path.display()),
        None => path.display().to_string(),
    };
    CliError::bad_input(anyhow!("{at}: {message}"))
}

/// The lines of a text file, stripped as bert_score's CLI does (`line.strip()`), `\n` or `\r\n` endings.
/// A final newline does not make an extra empty line.
pub fn read_lines(path: &Path) -> Result<Vec<String>, CliError> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, None, e))?;
    split_lines(path, &bytes).map(|lines| lines.into_iter().map(|l| l.trim().to_string()).collect())
}

/// Splits into lines, validating UTF-8 per line so the error can say where.
fn split_lines<'a>(path: &Path, bytes: &'a [u8]) -> Result<Vec<&'a str>, CliError> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Ok(if bytes.is_empty() { vec![] } else { vec![""] });
    }
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            std::str::from_utf8(raw).map_err(|e| {
                bad(
                    path,
                    Some(index + 1),
                    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
                )
            })
        })
        .collect()
}

/// One scoring item from a JSONL file.
#[derive(Debug, Clone)]
pub struct PairRecord {
    pub id: Option<String>,
    pub candidate: String,
    pub references: Vec<String>,
}

/// Reads `{"candidate": ..., "reference": ... | "references": [...], "id": ...}` lines. Blank lines are skipped.
pub fn read_pairs_jsonl(path: &Path) -> Result<Vec<PairRecord>, CliError> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, None, e))?;
    let mut records = Vec::new();
    for (index, line) in split_lines(path, &bytes)?.into_iter().enumerate() {
        let line_no = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| bad(path, Some(line_no), format!("malformed JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| bad(path, Some(line_no), "expected a JSON object"))?;
        let candidate = match object.get("candidate") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(bad(path, Some(line_no), "`candidate` must be a string")),
            None => return Err(bad(path, Some(line_no), "missing field `candidate`")),
        };
        let references = match (object.get("reference"), object.get("references")) {
            (Some(Value::String(s)), None) => vec![s.clone()],
            (None, Some(Value::Array(items))) if !items.is_empty() => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    bad(
                        path,
                        Some(line_no),
                        "`references` must be a list of strings",
                    )
                })?,
            (None, Some(Value::Array(_))) => {
                return Err(bad(path, Some(line_no), "`references` is empty"));
            }
            (Some(_), Some(_)) => {
                return Err(bad(
                    path,
                    Some(line_no),
                    "give `reference` or `references`, not both",
                ));
            }
            (None, None) => {
                return Err(bad(
                    path,
                    Some(line_no),
                    "missing field `reference` (or `references`)",
                ));
            }
            _ => {
                return Err(bad(
                    path,
                    Some(line_no),
                    "`reference` must be a string, `references` a list of strings",
                ));
            }
        };
        let id = match object.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return Err(bad(
                    path,
                    Some(line_no),
                    "`id` must be a string or a number",
                ));
            }
        };
        records.push(PairRecord {
            id,
            candidate,
            references,
        });
    }
    if records.is_empty() {
        return Err(bad(path, None, "no pairs in the file"));
    }
    Ok(records)
}

/// The `bert-score` CLI's `-c`/`-r` inputs: files of one text per line (several reference files = several
/// references per candidate), or, when neither names a file, a literal candidate and literal references.
pub fn read_cands_refs(
    cands: &str,
    refs: &[String],
) -> Result<(Vec<String>, Vec<Vec<String>>), CliError> {
    let cand_path = PathBuf::from(cands);
    if !cand_path.is_file() {
        if let Some(existing) = refs.iter().find(|r| Path::new(r).is_file()) {
            return Err(bad(
                &cand_path,
                None,
                format!("candidate file does not exist (reference {existing} is a file)"),
            ));
        }
        return Ok((vec![cands.to_string()], vec![refs.to_vec()]));
    }
    let candidates = read_lines(&cand_path)?;
    let mut per_file = Vec::with_capacity(refs.len());
    for reference in refs {
        let path = Path::new(reference);
        if !path.is_file() {
            return Err(bad(path, None, "reference file does not exist"));
        }
        let lines = read_lines(path)?;
        if lines.len() != candidates.len() {
            return Err(bad(
                path,
                None,
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

    fn file(contents: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), contents).unwrap();
        f
    }

    #[test]
    fn lines_are_stripped_and_final_newline_ignored() {
        let f = file(b" a \r\nb\n\nc\n");
        assert_eq!(read_lines(f.path()).unwrap(), ["a", "b", "", "c"]);
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let f = file(b"ok\nbad \xff\n");
        let err = read_lines(f.path()).unwrap_err();
        assert!(
            err.error
                .to_string()
                .ends_with(":2: invalid UTF-8 at byte 4 of the line"),
            "{:#}",
            err.error
        );
    }

    #[test]
    fn jsonl_errors_name_file_and_line() {
        let f = file(b"{\"candidate\":\"a\",\"reference\":\"b\"}\n{\"candidate\":\"a\"}\n");
        let err = read_pairs_jsonl(f.path()).unwrap_err();
        let message = err.error.to_string();
        assert!(
            message.contains(":2: missing field `reference`"),
            "{message}"
        );

        let f = file(b"{\"candidate\":\"a\",\"reference\":\"b\"}\n{not json\n");
        let message = read_pairs_jsonl(f.path()).unwrap_err().error.to_string();
        assert!(message.contains(":2: malformed JSON"), "{message}");
    }

    #[test]
    fn jsonl_reads_ids_and_reference_lists() {
        let f = file(b"{\"id\":7,\"candidate\":\"a\",\"references\":[\"b\",\"c\"]}\n\n{\"candidate\":\"x\",\"reference\":\"y\"}");
        let pairs = read_pairs_jsonl(f.path()).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].id.as_deref(), Some("7"));
        assert_eq!(pairs[0].references, ["b", "c"]);
        assert_eq!(pairs[1].id, None);
    }

    #[test]
    fn mismatched_line_counts_are_rejected() {
        let c = file(b"a\nb\n");
        let r = file(b"a\n");
        let err = read_cands_refs(
            c.path().to_str().unwrap(),
            &[r.path().to_str().unwrap().to_string()],
        )
        .unwrap_err();
        assert!(
            err.error.to_string().contains("1 references but"),
            "{:#}",
            err.error
        );
    }
}
