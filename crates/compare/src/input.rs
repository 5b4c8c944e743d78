//! Reading the two models' outputs (and optionally the references) and pairing them item by item.
//!
//! Accepted files, told apart by their first non-blank character (`[` = one JSON array, else JSONL):
//! - JSONL, one object per line: the candidate under `completion` (or `output`, `generation`, `text`,
//!   `candidate`, tried in that order), optional `id` (string or integer), optional `reference` / `references`
//!   (a string or an array of strings), optional `prompt`. Blank lines are skipped.
//! - A JSON array, as the AWS sample writes `base-model-inference.json` / `custom-model-inference.json`: strings,
//!   or objects as above.
//! - References (`--references`): a JSON array of strings, or of arrays of strings (several references per
//!   item), or JSONL objects with `reference(s)` and an optional `id`.
//!
//! - Scoring pairs (`bertscore score --input`): the same records, each with its `reference(s)` ([`read_pairs`]).
//!
//! One id rule for every file: ids are optional, but when one record has an id every record of the file must,
//! and no two may share one. An empty file (no records) is an error naming it. Pairing: by `id` when every
//! record of both files has one, else by position. Every error names the file and the 1-based line of the
//! record at fault.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use bertscore_engine::text_file::{LineLimit, Lines, ReadError};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::{CompareError, Item};

/// The field names a candidate text may have, in order of preference.
pub const COMPLETION_FIELDS: [&str; 5] =
    ["completion", "output", "generation", "text", "candidate"];

/// At most this many mismatches are listed in an alignment error.
const LISTED_MISMATCHES: usize = 5;

/// Where a record was read: a file and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line the record starts on.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// One model output as read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRecord {
    /// The record's `id`, as a string (integers are accepted and written in decimal).
    pub id: Option<String>,
    /// The record's `prompt`.
    pub prompt: Option<String>,
    /// The candidate text (`completion`, or the first alias present).
    pub completion: String,
    /// Empty when the record carries no reference.
    pub references: Vec<String>,
    /// Where the record is.
    pub location: Location,
}

/// One item's references as read from a `--references` file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceRecord {
    /// The record's `id`.
    pub id: Option<String>,
    /// The item's references (at least one).
    pub references: Vec<String>,
    /// Where the record is.
    pub location: Location,
}

/// Reads the files and pairs their records into items (references from `references` when given, else from the
/// records' own fields).
pub fn load_items(
    base: &Path,
    custom: &Path,
    references: Option<&Path>,
    limit: LineLimit,
) -> Result<Vec<Item>, CompareError> {
    let base_records = non_empty(base, read_candidates(base, limit)?)?;
    let custom_records = non_empty(custom, read_candidates(custom, limit)?)?;
    let reference_records = match references {
        Some(path) => Some(non_empty(path, read_references(path, limit)?)?),
        None => None,
    };
    align(&base_records, &custom_records, reference_records.as_deref())
}

/// Reads candidate/reference pairs to score (`bertscore score --input`): the records of [`read_candidates`],
/// each with at least one reference of its own; an empty file is an error.
pub fn read_pairs(path: &Path, limit: LineLimit) -> Result<Vec<CandidateRecord>, CompareError> {
    with_references(non_empty(path, read_candidates(path, limit)?)?)
}

/// As [`read_pairs`], with the number each record holds under `field` (a human judgment, for `bertscore
/// layers --human`): a record without one, or with anything but a number there, is an error naming its line.
pub fn read_pairs_with_number(
    path: &Path,
    field: &str,
    limit: LineLimit,
) -> Result<Vec<(CandidateRecord, f64)>, CompareError> {
    let text = read_text(path, limit)?;
    let values = json_values(&text, path)?;
    let records = with_references(non_empty(path, candidates_from_values(values.clone())?)?)?;
    let numbers = values
        .iter()
        .map(|(value, location)| match value.get(field) {
            Some(Value::Number(number)) => Ok(number.as_f64().unwrap_or(f64::NAN)),
            None | Some(Value::Null) => Err(record_error(
                location,
                format!("no {field}: give the record a `{field}` (a number)"),
            )),
            Some(other) => Err(record_error(
                location,
                format!("{field} must be a number, found {}", kind(other)),
            )),
        })
        .collect::<Result<Vec<f64>, _>>()?;
    Ok(records.into_iter().zip(numbers).collect())
}

/// The records, each with at least one reference (else an error naming the first without).
fn with_references(records: Vec<CandidateRecord>) -> Result<Vec<CandidateRecord>, CompareError> {
    if let Some(record) = records.iter().find(|r| r.references.is_empty()) {
        return Err(record_error(
            &record.location,
            "no reference: give the record a `reference` (a string) or `references` (an array of strings)",
        ));
    }
    Ok(records)
}

/// The records, or [`CompareError::EmptyFile`] naming `path` when there are none.
fn non_empty<T>(path: &Path, records: Vec<T>) -> Result<Vec<T>, CompareError> {
    if records.is_empty() {
        return Err(CompareError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(records)
}

/// Reads a JSONL or JSON-array file of model outputs (see [`read_text`] for `limit`).
pub fn read_candidates(
    path: &Path,
    limit: LineLimit,
) -> Result<Vec<CandidateRecord>, CompareError> {
    let text = read_text(path, limit)?;
    parse_candidates(&text, path)
}

/// Parses model outputs; `path` is only used in messages. Applies the id rule (all or none, unique).
pub fn parse_candidates(text: &str, path: &Path) -> Result<Vec<CandidateRecord>, CompareError> {
    candidates_from_values(json_values(text, path)?)
}

/// Candidate records from a file's values, with the id rule applied.
fn candidates_from_values(
    values: Vec<(Value, Location)>,
) -> Result<Vec<CandidateRecord>, CompareError> {
    let records: Vec<CandidateRecord> = values
        .into_iter()
        .map(|(value, location)| candidate_from_value(value, location))
        .collect::<Result<_, _>>()?;
    ids_of(records.iter().map(|r| (&r.id, &r.location)))?;
    Ok(records)
}

/// Reads a references file (JSON array or JSONL; see [`read_text`] for `limit`).
pub fn read_references(
    path: &Path,
    limit: LineLimit,
) -> Result<Vec<ReferenceRecord>, CompareError> {
    let text = read_text(path, limit)?;
    parse_references(&text, path)
}

/// Parses a references file; `path` is only used in messages. Applies the id rule (all or none, unique).
pub fn parse_references(text: &str, path: &Path) -> Result<Vec<ReferenceRecord>, CompareError> {
    let records: Vec<ReferenceRecord> = json_values(text, path)?
        .into_iter()
        .map(|(value, location)| reference_from_value(value, location))
        .collect::<Result<_, _>>()?;
    ids_of(records.iter().map(|r| (&r.id, &r.location)))?;
    Ok(records)
}

/// A regular file's text (a leading BOM dropped), read line by line: each line at most `limit` bytes, and a
/// JSON array (a file whose first non-blank character is `[`), being one document, at most `limit` in all.
/// Invalid UTF-8 is an error naming its line.
fn read_text(path: &Path, limit: LineLimit) -> Result<String, CompareError> {
    let mut lines = Lines::open(path, limit)?;
    let mut text = String::new();
    let mut array = None;
    while let Some((number, line)) = lines.next_text()? {
        let line = match number {
            1 => line.strip_prefix('\u{feff}').unwrap_or(line.as_str()),
            _ => line.as_str(),
        };
        if array.is_none() && !line.trim().is_empty() {
            array = Some(line.trim_start().starts_with('['));
        }
        if number > 1 {
            text.push('\n');
        }
        text.push_str(line);
        if array == Some(true) && text.len() > limit.0 {
            return Err(ReadError::LineTooLong {
                path: path.to_path_buf(),
                line: number,
                limit: limit.0,
            }
            .into());
        }
    }
    Ok(text)
}

/// An unreadable input file (not a regular file, a line over the limit, not UTF-8) is the user's to fix.
impl From<ReadError> for CompareError {
    fn from(error: ReadError) -> Self {
        CompareError::Engine(error.into())
    }
}

fn parse_error(path: &Path, line: usize, message: impl Into<String>) -> CompareError {
    CompareError::Parse {
        location: Location {
            path: path.to_path_buf(),
            line,
        },
        message: message.into(),
    }
}

/// The file's records as JSON values with the line each starts on: the elements of a top-level array, or one
/// value per non-blank line.
fn json_values(text: &str, path: &Path) -> Result<Vec<(Value, Location)>, CompareError> {
    let location = |line| Location {
        path: path.to_path_buf(),
        line,
    };
    if text.trim_start().starts_with('[') {
        let elements: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| parse_error(path, e.line(), format!("not a valid JSON array: {e}")))?;
        let mut values = Vec::with_capacity(elements.len());
        let (mut line, mut scanned) = (1, 0);
        for raw in elements {
            // A borrowed RawValue is a slice of `text`: its offset gives the line it starts on.
            let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            line += text[scanned..offset].matches('\n').count();
            scanned = offset;
            // The raw value is valid JSON, but a value nested deeper than serde_json's recursion limit
            // is refused when it is built.
            let value = serde_json::from_str(raw.get()).map_err(|e| {
                parse_error(path, line + e.line() - 1, format!("not valid JSON: {e}"))
            })?;
            values.push((value, location(line)));
        }
        return Ok(values);
    }
    let mut values = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line)
            .map_err(|e| parse_error(path, index + 1, format!("not valid JSON: {e}")))?;
        values.push((value, location(index + 1)));
    }
    Ok(values)
}

fn record_error(location: &Location, message: impl Into<String>) -> CompareError {
    CompareError::Parse {
        location: location.clone(),
        message: message.into(),
    }
}

fn candidate_from_value(value: Value, location: Location) -> Result<CandidateRecord, CompareError> {
    let object = match value {
        Value::String(completion) => {
            return Ok(CandidateRecord {
                id: None,
                prompt: None,
                completion,
                references: Vec::new(),
                location,
            });
        }
        Value::Object(object) => object,
        other => {
            return Err(record_error(
                &location,
                format!("expected a string or an object, found {}", kind(&other)),
            ));
        }
    };
    let (field, completion) = COMPLETION_FIELDS
        .iter()
        .find_map(|&field| object.get(field).map(|value| (field, value)))
        .ok_or_else(|| {
            record_error(
                &location,
                format!(
                    "no candidate text: expected one of the fields {}",
                    COMPLETION_FIELDS.join(", ")
                ),
            )
        })?;
    let completion = match completion {
        Value::String(text) => text.clone(),
        other => {
            return Err(record_error(
                &location,
                format!("{field} must be a string, found {}", kind(other)),
            ));
        }
    };
    let prompt = match object.get("prompt") {
        None | Some(Value::Null) => None,
        Some(Value::String(prompt)) => Some(prompt.clone()),
        Some(other) => {
            return Err(record_error(
                &location,
                format!("prompt must be a string, found {}", kind(other)),
            ));
        }
    };
    Ok(CandidateRecord {
        id: id_field(&object, &location)?,
        prompt,
        completion,
        references: reference_fields(&object, &location)?,
        location,
    })
}

fn reference_from_value(value: Value, location: Location) -> Result<ReferenceRecord, CompareError> {
    let (id, references) = match value {
        Value::String(reference) => (None, vec![reference]),
        value @ Value::Array(_) => (None, string_list(&value, "reference list", &location)?),
        Value::Object(object) => {
            let references = reference_fields(&object, &location)?;
            if references.is_empty() {
                return Err(record_error(&location, "no reference or references field"));
            }
            (id_field(&object, &location)?, references)
        }
        other => {
            return Err(record_error(
                &location,
                format!(
                    "expected a string, an array of strings or an object, found {}",
                    kind(&other)
                ),
            ));
        }
    };
    if references.is_empty() {
        return Err(record_error(&location, "empty reference list"));
    }
    Ok(ReferenceRecord {
        id,
        references,
        location,
    })
}

fn id_field(
    object: &serde_json::Map<String, Value>,
    location: &Location,
) -> Result<Option<String>, CompareError> {
    match object.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(Value::Number(id)) if id.is_i64() || id.is_u64() => Ok(Some(id.to_string())),
        Some(other) => Err(record_error(
            location,
            format!("id must be a string or an integer, found {}", kind(other)),
        )),
    }
}

/// `reference` and/or `references`, each a string or an array of strings, concatenated.
fn reference_fields(
    object: &serde_json::Map<String, Value>,
    location: &Location,
) -> Result<Vec<String>, CompareError> {
    let mut references = Vec::new();
    for field in ["reference", "references"] {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(value) => references.extend(string_list(value, field, location)?),
        }
    }
    Ok(references)
}

fn string_list(
    value: &Value,
    what: &str,
    location: &Location,
) -> Result<Vec<String>, CompareError> {
    match value {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(values) => values
            .iter()
            .map(|value| match value {
                Value::String(text) => Ok(text.clone()),
                other => Err(record_error(
                    location,
                    format!("{what} must hold strings, found {}", kind(other)),
                )),
            })
            .collect(),
        other => Err(record_error(
            location,
            format!(
                "{what} must be a string or an array of strings, found {}",
                kind(other)
            ),
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether a file's records carry ids: all do (`Some`, in order), none do (`None`), or some do (an error
/// naming the first record without one). Duplicate ids are errors too.
fn ids_of<'a>(
    records: impl Iterator<Item = (&'a Option<String>, &'a Location)> + Clone,
) -> Result<Option<Vec<String>>, CompareError> {
    let with_id = records.clone().find(|(id, _)| id.is_some());
    let without_id = records.clone().find(|(id, _)| id.is_none());
    match (with_id, without_id) {
        (None, _) => Ok(None),
        (Some((_, first_with)), Some((_, missing))) => Err(record_error(
            missing,
            format!(
                "record has no id, but others in this file do (e.g. line {}): give every record an id or none",
                first_with.line
            ),
        )),
        (Some(_), None) => {
            let mut seen: HashMap<&str, &Location> = HashMap::new();
            for (id, location) in records.clone() {
                let id = id.as_deref().expect("every record has an id");
                if let Some(first) = seen.insert(id, location) {
                    return Err(record_error(
                        location,
                        format!("duplicate id {id:?} (first at line {})", first.line),
                    ));
                }
            }
            Ok(Some(
                records
                    .map(|(id, _)| id.clone().expect("checked"))
                    .collect(),
            ))
        }
    }
}

/// `a, b, c and 4 more`.
fn listing<T: fmt::Display>(things: &[T]) -> String {
    let shown: Vec<String> = things
        .iter()
        .take(LISTED_MISMATCHES)
        .map(|t| t.to_string())
        .collect();
    let mut text = shown.join(", ");
    if things.len() > LISTED_MISMATCHES {
        text.push_str(&format!(" and {} more", things.len() - LISTED_MISMATCHES));
    }
    text
}

/// Ids present in `left` but not in `right`, in `left`'s order, quoted.
fn missing_ids(left: &[String], right: &[String]) -> Vec<String> {
    let right: HashSet<&str> = right.iter().map(String::as_str).collect();
    left.iter()
        .filter(|id| !right.contains(id.as_str()))
        .map(|id| format!("{id:?}"))
        .collect()
}

fn id_mismatch(
    left_name: &Path,
    left: &[String],
    right_name: &Path,
    right: &[String],
) -> Option<CompareError> {
    let only_left = missing_ids(left, right);
    let only_right = missing_ids(right, left);
    if only_left.is_empty() && only_right.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !only_left.is_empty() {
        parts.push(format!(
            "{} id(s) only in {}: {}",
            only_left.len(),
            left_name.display(),
            listing(&only_left)
        ));
    }
    if !only_right.is_empty() {
        parts.push(format!(
            "{} id(s) only in {}: {}",
            only_right.len(),
            right_name.display(),
            listing(&only_right)
        ));
    }
    Some(CompareError::Misaligned(format!(
        "the ids of {} and {} differ: {}",
        left_name.display(),
        right_name.display(),
        parts.join("; ")
    )))
}

fn count_mismatch(
    left_name: &Path,
    left: usize,
    right_name: &Path,
    right: usize,
    unmatched: &[Location],
) -> CompareError {
    CompareError::Misaligned(format!(
        "{} has {left} item(s) but {} has {right}, and without ids on every record items are paired by position; \
         unpaired: {}",
        left_name.display(),
        right_name.display(),
        listing(unmatched)
    ))
}

/// Pairs base and custom records (by id when both files have ids on every record, else by position) and
/// attaches references: from `references` when given (by id when it and the items have ids, else by position),
/// else from the records' own `reference(s)` fields, which must agree between the two files.
pub fn align(
    base: &[CandidateRecord],
    custom: &[CandidateRecord],
    references: Option<&[ReferenceRecord]>,
) -> Result<Vec<Item>, CompareError> {
    let base_path = base.first().map(|r| r.location.path.as_path());
    let custom_path = custom.first().map(|r| r.location.path.as_path());
    let (Some(base_path), Some(custom_path)) = (base_path, custom_path) else {
        return Err(CompareError::Empty);
    };
    let base_ids = ids_of(base.iter().map(|r| (&r.id, &r.location)))?;
    let custom_ids = ids_of(custom.iter().map(|r| (&r.id, &r.location)))?;

    // (base index, custom index, id, whether the id came from the files)
    let pairs: Vec<(usize, usize, String, bool)> = match (&base_ids, &custom_ids) {
        (Some(base_ids), Some(custom_ids)) => {
            if let Some(error) = id_mismatch(base_path, base_ids, custom_path, custom_ids) {
                return Err(error);
            }
            let custom_index: HashMap<&str, usize> = custom_ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i))
                .collect();
            base_ids
                .iter()
                .enumerate()
                .map(|(i, id)| (i, custom_index[id.as_str()], id.clone(), true))
                .collect()
        }
        _ => {
            if base.len() != custom.len() {
                let longer = if base.len() > custom.len() {
                    base
                } else {
                    custom
                };
                let unmatched: Vec<Location> = longer[base.len().min(custom.len())..]
                    .iter()
                    .map(|r| r.location.clone())
                    .collect();
                return Err(count_mismatch(
                    base_path,
                    base.len(),
                    custom_path,
                    custom.len(),
                    &unmatched,
                ));
            }
            let ids = base_ids.or(custom_ids);
            (0..base.len())
                .map(|i| match &ids {
                    Some(ids) => (i, i, ids[i].clone(), true),
                    None => (i, i, (i + 1).to_string(), false),
                })
                .collect()
        }
    };

    let external = match references {
        Some(references) => Some(external_references(&pairs, base_path, references)?),
        None => None,
    };

    pairs
        .into_iter()
        .enumerate()
        .map(|(position, (b, c, id, _))| {
            let (base, custom) = (&base[b], &custom[c]);
            let references = match &external {
                Some(external) => external[position].clone(),
                None => own_references(&id, base, custom)?,
            };
            Ok(Item {
                id,
                prompt: base.prompt.clone().or_else(|| custom.prompt.clone()),
                base: base.completion.clone(),
                custom: custom.completion.clone(),
                references,
            })
        })
        .collect()
}

/// References from a `--references` file, one list per pair, in the pairs' order.
fn external_references(
    pairs: &[(usize, usize, String, bool)],
    base_path: &Path,
    references: &[ReferenceRecord],
) -> Result<Vec<Vec<String>>, CompareError> {
    let Some(references_path) = references.first().map(|r| r.location.path.as_path()) else {
        return Err(CompareError::Misaligned(format!(
            "the references file is empty but {} has {} item(s)",
            base_path.display(),
            pairs.len()
        )));
    };
    let reference_ids = ids_of(references.iter().map(|r| (&r.id, &r.location)))?;
    let items_have_ids = pairs.iter().all(|p| p.3);
    if let (Some(reference_ids), true) = (&reference_ids, items_have_ids) {
        let item_ids: Vec<String> = pairs.iter().map(|p| p.2.clone()).collect();
        if let Some(error) = id_mismatch(base_path, &item_ids, references_path, reference_ids) {
            return Err(error);
        }
        let by_id: HashMap<&str, &ReferenceRecord> = reference_ids
            .iter()
            .zip(references)
            .map(|(id, record)| (id.as_str(), record))
            .collect();
        return Ok(item_ids
            .iter()
            .map(|id| by_id[id.as_str()].references.clone())
            .collect());
    }
    if references.len() != pairs.len() {
        let unmatched: Vec<Location> = references
            .iter()
            .skip(pairs.len())
            .map(|r| r.location.clone())
            .collect();
        let unmatched = if unmatched.is_empty() {
            vec![format!(
                "items {}..={} have no reference",
                references.len() + 1,
                pairs.len()
            )]
        } else {
            unmatched.iter().map(ToString::to_string).collect()
        };
        return Err(CompareError::Misaligned(format!(
            "{} has {} item(s) but {} has {} reference entries, and without ids items are paired by position; \
             unpaired: {}",
            base_path.display(),
            pairs.len(),
            references_path.display(),
            references.len(),
            listing(&unmatched)
        )));
    }
    Ok(references.iter().map(|r| r.references.clone()).collect())
}

/// The references the records carry themselves: either file's, and the same in both when both have them.
fn own_references(
    id: &str,
    base: &CandidateRecord,
    custom: &CandidateRecord,
) -> Result<Vec<String>, CompareError> {
    match (base.references.is_empty(), custom.references.is_empty()) {
        (true, true) => Err(CompareError::Misaligned(format!(
            "item {id:?} ({} and {}) has no reference: add a reference field or pass --references FILE",
            base.location, custom.location
        ))),
        (false, true) => Ok(base.references.clone()),
        (true, false) => Ok(custom.references.clone()),
        (false, false) if base.references == custom.references => Ok(base.references.clone()),
        (false, false) => Err(CompareError::Misaligned(format!(
            "item {id:?}: the references at {} and {} differ; pass --references FILE to use one set",
            base.location, custom.location
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(text: &str, name: &str) -> Vec<CandidateRecord> {
        parse_candidates(text, Path::new(name)).unwrap()
    }

    fn error_text(result: Result<Vec<Item>, CompareError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn jsonl_fields_and_aliases() {
        let records = candidates(
            "{\"id\": 7, \"prompt\": \"P\", \"output\": \"a\", \"reference\": \"r\"}\n\n\
             {\"id\": \"x\", \"generation\": \"b\", \"references\": [\"r1\", \"r2\"]}\n",
            "f.jsonl",
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].id.as_deref(), Some("7"));
        assert_eq!(records[0].prompt.as_deref(), Some("P"));
        assert_eq!(records[0].completion, "a");
        assert_eq!(records[0].references, vec!["r"]);
        assert_eq!(records[1].completion, "b");
        assert_eq!(records[1].references, vec!["r1", "r2"]);
        // The blank line still counts: the second record is on line 3.
        assert_eq!(records[1].location.line, 3);
    }

    #[test]
    fn completion_is_preferred_over_later_aliases() {
        let records = candidates("{\"text\": \"t\", \"completion\": \"c\"}", "f.jsonl");
        assert_eq!(records[0].completion, "c");
    }

    #[test]
    fn json_array_elements_know_their_line() {
        let text = "[\n  \"first\",\n  \"second\\nstill second\",\n\n  \"third\"\n]\n";
        let records = candidates(text, "base-model-inference.json");
        let lines: Vec<usize> = records.iter().map(|r| r.location.line).collect();
        assert_eq!(lines, vec![2, 3, 5]);
        assert_eq!(records[1].completion, "second\nstill second");
    }

    #[test]
    fn errors_name_file_and_line() {
        let error = parse_candidates(
            "{\"completion\": \"a\"}\n{\"prompt\": \"p\"}\n",
            Path::new("b.jsonl"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("b.jsonl:2: no candidate text"), "{error}");

        let error = parse_candidates("[\"a\",\n 3]", Path::new("b.json"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("b.json:2: expected a string or an object, found a number"),
            "{error}"
        );

        let error = parse_candidates("{\"completion\": \"a\"}\n{oops\n", Path::new("c.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("c.jsonl:2: not valid JSON"), "{error}");

        let error = parse_candidates("[\"a\",\n\n \"b\" oops]", Path::new("d.json"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("d.json:3: not a valid JSON array"),
            "{error}"
        );
    }

    #[test]
    fn references_as_strings_or_lists() {
        let records =
            parse_references("[\"r1\", [\"r2a\", \"r2b\"]]", Path::new("refs.json")).unwrap();
        assert_eq!(records[0].references, vec!["r1"]);
        assert_eq!(records[1].references, vec!["r2a", "r2b"]);
        let error = parse_references("[\"r1\", []]", Path::new("refs.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "refs.json:1: empty reference list");
    }

    #[test]
    fn aligns_by_id_in_base_order() {
        let base = candidates(
            "{\"id\": \"a\", \"completion\": \"ba\", \"reference\": \"ra\"}\n\
             {\"id\": \"b\", \"completion\": \"bb\", \"reference\": \"rb\"}",
            "base.jsonl",
        );
        let custom = candidates(
            "{\"id\": \"b\", \"completion\": \"cb\"}\n{\"id\": \"a\", \"completion\": \"ca\", \"prompt\": \"pa\"}",
            "custom.jsonl",
        );
        let items = align(&base, &custom, None).unwrap();
        assert_eq!(items[0].id, "a");
        assert_eq!(items[0].custom, "ca");
        assert_eq!(items[0].prompt.as_deref(), Some("pa"));
        assert_eq!(items[1].custom, "cb");
        assert_eq!(items[1].references, vec!["rb"]);
    }

    #[test]
    fn different_ids_are_listed() {
        let base = candidates(
            "{\"id\": \"a\", \"completion\": \"x\", \"reference\": \"r\"}\n\
             {\"id\": \"b\", \"completion\": \"x\", \"reference\": \"r\"}",
            "base.jsonl",
        );
        let custom = candidates(
            "{\"id\": \"a\", \"completion\": \"y\"}\n{\"id\": \"c\", \"completion\": \"y\"}",
            "custom.jsonl",
        );
        let error = error_text(align(&base, &custom, None));
        assert!(
            error.contains("1 id(s) only in base.jsonl: \"b\""),
            "{error}"
        );
        assert!(
            error.contains("1 id(s) only in custom.jsonl: \"c\""),
            "{error}"
        );
    }

    #[test]
    fn long_mismatch_lists_are_cut() {
        let base: String = (0..9)
            .map(|i| format!("{{\"id\": \"b{i}\", \"completion\": \"x\"}}\n"))
            .collect();
        let custom = "{\"id\": \"c\", \"completion\": \"y\"}";
        let error = error_text(align(
            &candidates(&base, "base.jsonl"),
            &candidates(custom, "custom.jsonl"),
            None,
        ));
        assert!(
            error.contains(
                "9 id(s) only in base.jsonl: \"b0\", \"b1\", \"b2\", \"b3\", \"b4\" and 4 more"
            ),
            "{error}"
        );
    }

    #[test]
    fn positional_count_mismatch_names_unpaired_lines() {
        let base = candidates("[\"a\", \"b\",\n\"c\"]", "base.json");
        let custom = candidates("[\"a\"]", "custom.json");
        let refs = parse_references("[\"r\", \"r\", \"r\"]", Path::new("refs.json")).unwrap();
        let error = error_text(align(&base, &custom, Some(&refs)));
        assert!(
            error.contains("base.json has 3 item(s) but custom.json has 1"),
            "{error}"
        );
        assert!(
            error.contains("unpaired: base.json:1, base.json:2"),
            "{error}"
        );
    }

    #[test]
    fn positional_ids_are_one_based_positions() {
        let base = candidates("[\"a\", \"b\"]", "base.json");
        let custom = candidates("[\"c\", \"d\"]", "custom.json");
        let refs = parse_references("[\"r1\", [\"r2\", \"r3\"]]", Path::new("refs.json")).unwrap();
        let items = align(&base, &custom, Some(&refs)).unwrap();
        assert_eq!(items[1].id, "2");
        assert_eq!(items[1].base, "b");
        assert_eq!(items[1].custom, "d");
        assert_eq!(items[1].references, vec!["r2", "r3"]);
    }

    #[test]
    fn reference_file_count_must_match() {
        let base = candidates("[\"a\", \"b\"]", "base.json");
        let custom = candidates("[\"c\", \"d\"]", "custom.json");
        let refs = parse_references("[\"r1\"]", Path::new("refs.json")).unwrap();
        let error = error_text(align(&base, &custom, Some(&refs)));
        assert!(
            error.contains("base.json has 2 item(s) but refs.json has 1 reference entries"),
            "{error}"
        );
        assert!(error.contains("items 2..=2 have no reference"), "{error}");
    }

    #[test]
    fn reference_file_by_id() {
        let base = candidates(
            "{\"id\": 1, \"completion\": \"a\"}\n{\"id\": 2, \"completion\": \"b\"}",
            "base.jsonl",
        );
        let custom = candidates(
            "{\"id\": 2, \"completion\": \"d\"}\n{\"id\": 1, \"completion\": \"c\"}",
            "custom.jsonl",
        );
        let refs = parse_references(
            "{\"id\": 2, \"reference\": \"r2\"}\n{\"id\": 1, \"references\": [\"r1\"]}",
            Path::new("refs.jsonl"),
        )
        .unwrap();
        let items = align(&base, &custom, Some(&refs)).unwrap();
        assert_eq!(items[0].references, vec!["r1"]);
        assert_eq!(items[1].references, vec!["r2"]);

        let refs = parse_references(
            "{\"id\": 3, \"reference\": \"r\"}\n{\"id\": 1, \"reference\": \"r\"}",
            Path::new("refs.jsonl"),
        )
        .unwrap();
        let error = error_text(align(&base, &custom, Some(&refs)));
        assert!(error.contains("only in base.jsonl: \"2\""), "{error}");
        assert!(error.contains("only in refs.jsonl: \"3\""), "{error}");
    }

    #[test]
    fn missing_or_conflicting_own_references() {
        let base = candidates("{\"completion\": \"a\"}", "base.jsonl");
        let custom = candidates("{\"completion\": \"b\"}", "custom.jsonl");
        let error = error_text(align(&base, &custom, None));
        assert!(
            error.contains("item \"1\" (base.jsonl:1 and custom.jsonl:1) has no reference"),
            "{error}"
        );

        let base = candidates(
            "{\"completion\": \"a\", \"reference\": \"r1\"}",
            "base.jsonl",
        );
        let custom = candidates(
            "{\"completion\": \"b\", \"reference\": \"r2\"}",
            "custom.jsonl",
        );
        let error = error_text(align(&base, &custom, None));
        assert!(
            error.contains("the references at base.jsonl:1 and custom.jsonl:1 differ"),
            "{error}"
        );
    }

    #[test]
    fn ids_all_or_none_and_unique() {
        let error = parse_candidates(
            "{\"id\": 1, \"completion\": \"a\"}\n{\"completion\": \"b\"}",
            Path::new("b.jsonl"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("b.jsonl:2: record has no id, but others in this file do"),
            "{error}"
        );

        let error = parse_candidates(
            "{\"id\": 1, \"completion\": \"a\"}\n\n{\"id\": \"1\", \"completion\": \"b\"}",
            Path::new("b.jsonl"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(error, "b.jsonl:3: duplicate id \"1\" (first at line 1)");

        // References files follow the same rule.
        let error = parse_references(
            "{\"id\": \"a\", \"reference\": \"r\"}\n{\"id\": \"a\", \"reference\": \"s\"}",
            Path::new("refs.jsonl"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(error, "refs.jsonl:2: duplicate id \"a\" (first at line 1)");
    }

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), contents).unwrap();
        f
    }

    #[test]
    fn pairs_take_every_candidate_alias_and_need_references() {
        let f = file(
            "{\"id\": 1, \"candidate\": \"a\", \"reference\": \"r\"}\n\
             {\"id\": 2, \"completion\": \"b\", \"references\": [\"r1\", \"r2\"]}\n",
        );
        let pairs = read_pairs(f.path(), LineLimit::default()).unwrap();
        assert_eq!(pairs[0].completion, "a");
        assert_eq!(pairs[1].completion, "b");
        assert_eq!(pairs[1].references, ["r1", "r2"]);

        let f = file("{\"candidate\": \"a\", \"reference\": \"r\"}\n{\"candidate\": \"b\"}\n");
        let error = read_pairs(f.path(), LineLimit::default())
            .unwrap_err()
            .to_string();
        assert!(error.ends_with(":2: no reference: give the record a `reference` (a string) or `references` (an array of strings)"), "{error}");
    }

    #[test]
    fn empty_files_name_the_file() {
        for contents in ["", "\n  \n", "[]"] {
            let f = file(contents);
            let error = read_pairs(f.path(), LineLimit::default()).unwrap_err();
            assert!(
                matches!(error, CompareError::EmptyFile { .. }),
                "{contents:?}: {error}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with(&f.path().display().to_string())
            );
            let other = file("[\"a\"]");
            let error = load_items(f.path(), other.path(), None, LineLimit::default()).unwrap_err();
            assert!(
                matches!(error, CompareError::EmptyFile { .. }),
                "{contents:?}: {error}"
            );
        }
    }

    #[test]
    fn empty_files_are_rejected() {
        let base = candidates("", "base.jsonl");
        let custom = candidates("[\"a\"]", "custom.json");
        assert!(matches!(
            align(&base, &custom, None),
            Err(CompareError::Empty)
        ));
    }

    #[test]
    fn nesting_past_the_recursion_limit_is_an_error_naming_the_line() {
        // serde_json refuses values nested more than 128 deep; inside a JSON array this used to panic.
        let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
        let f = file(&format!("[\n\"ok\",\n{deep}\n]"));
        let error = read_candidates(f.path(), LineLimit::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "{}:3: not valid JSON: recursion limit exceeded",
                f.path().display()
            )),
            "{error}"
        );
        let f = file(&format!("{{\"completion\": \"a\"}}\n{deep}\n"));
        let error = read_candidates(f.path(), LineLimit::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "{}:2: not valid JSON: recursion limit exceeded",
                f.path().display()
            )),
            "{error}"
        );
    }

    #[test]
    fn lines_and_arrays_over_the_limit_are_refused_naming_the_line() {
        let f = file("{\"completion\": \"a\"}\n{\"completion\": \"a long one\"}\n");
        assert_eq!(read_candidates(f.path(), LineLimit(30)).unwrap().len(), 2);
        let error = read_candidates(f.path(), LineLimit(20)).unwrap_err();
        assert_eq!(error.kind(), bertscore_engine::ErrorKind::BadInput);
        assert!(
            error.to_string().starts_with(&format!(
                "{}:2: line longer than 20 bytes",
                f.path().display()
            )),
            "{error}"
        );
        let f = file("[\n\"a\",\n\"b\"\n]\n");
        assert_eq!(read_candidates(f.path(), LineLimit(16)).unwrap().len(), 2);
        // The array's text up to line 3 is 10 bytes (newlines between lines counted): over 9 there.
        let error = read_candidates(f.path(), LineLimit(9))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "{}:3: line longer than 9 bytes",
                f.path().display()
            )),
            "{error}"
        );
    }

    #[test]
    fn non_regular_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (path, what) in [
            (dir.path(), "a directory"),
            (Path::new("/dev/zero"), "a character device"),
        ] {
            let error = load_items(path, path, None, LineLimit::default()).unwrap_err();
            assert_eq!(error.kind(), bertscore_engine::ErrorKind::BadInput);
            assert_eq!(
                error.to_string(),
                format!("{}: {what}, not a regular file", path.display())
            );
        }
    }
}
