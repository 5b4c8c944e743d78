//! Batch inference records: reading the input JSON Lines (`{"recordId", "modelInput"}` per
//! line) and writing the output (`{"recordId", "modelInput", "modelOutput"}` or `{..., "error":
//! {"errorCode", "errorMessage"}}` per line, in a shuffled order, some records left out) and the
//! `manifest.json.out` summary, as Bedrock batch jobs do.

use serde::Serialize;
use serde_json::{Value, json};

use crate::wire::ApiError;

/// One input record.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRecord {
    /// `recordId` as given, or one made up (Bedrock adds one when the input has none).
    pub record_id: String,
    /// The model's InvokeModel body.
    pub model_input: Value,
}

/// One input file and its records.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchInput {
    /// The file's name (last key segment); the output is `<name>.out`.
    pub file_name: String,
    /// Its records, in file order.
    pub records: Vec<BatchRecord>,
}

/// Reads one JSON Lines input file. Every non-blank line must be a JSON object with an object
/// `modelInput` and, when present, a non-empty string `recordId`; errors name the file and line.
/// (Whether `modelInput` fits the model is checked per record when the job runs: such records
/// get an `error` in the output, as on Bedrock.) `first_index` numbers made-up record ids.
pub fn parse_input(
    uri: &str,
    file_name: &str,
    text: &str,
    first_index: usize,
) -> Result<BatchInput, ApiError> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| {
            ApiError::validation(format!(
                "Invalid batch input {uri}: line {}: {why}. Each line must be {{\"recordId\": \"...\", \"modelInput\": {{...}}}}.",
                index + 1
            ))
        };
        let record: Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not valid JSON ({e})")))?;
        let object = record
            .as_object()
            .ok_or_else(|| bad("the record is not a JSON object".into()))?;
        let model_input = match object.get("modelInput") {
            Some(input @ Value::Object(_)) => input.clone(),
            Some(_) => return Err(bad("\"modelInput\" is not a JSON object".into())),
            None => return Err(bad("the record has no \"modelInput\"".into())),
        };
        let record_id = match object.get("recordId") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            None => format!("{:011}", first_index + records.len() + 1),
            Some(_) => return Err(bad("\"recordId\" is not a non-empty string".into())),
        };
        records.push(BatchRecord {
            record_id,
            model_input,
        });
    }
    Ok(BatchInput {
        file_name: file_name.to_owned(),
        records,
    })
}

/// The per-record faults of one job.
#[derive(Clone, Copy, Debug)]
pub struct RecordFaults {
    /// Records that get an `error` object.
    pub errors: usize,
    /// Records left out of the output.
    pub missing: usize,
    /// Whether each output file's order differs from its input's.
    pub shuffle: bool,
}

/// `manifest.json.out`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Records submitted.
    pub total_record_count: usize,
    /// Records processed (in the output).
    pub processed_record_count: usize,
    /// Records with a `modelOutput`.
    pub success_record_count: usize,
    /// Records with an `error`.
    pub error_record_count: usize,
    /// Input tokens of the successful records.
    pub input_token_count: usize,
    /// Output tokens of the successful records.
    pub output_token_count: usize,
}

/// A model's answer to one record: the response body and its input/output token counts.
pub type Answer = Result<(Value, usize, usize), ApiError>;

/// The output files (`<input name>.out` → JSON Lines) and the manifest. `answer` answers one
/// `modelInput` exactly as InvokeModel would; `seed` makes the chosen faults and order stable.
pub fn render(
    inputs: &[BatchInput],
    faults: RecordFaults,
    seed: u64,
    mut answer: impl FnMut(&Value) -> Answer,
) -> (Vec<(String, String)>, Manifest) {
    let mut rng = SplitMix(seed);
    let total: usize = inputs.iter().map(|i| i.records.len()).sum();
    // Which records (by position over all files) get an injected error or go missing.
    let mut positions: Vec<usize> = (0..total).collect();
    rng.shuffle(&mut positions);
    let errors = faults.errors.min(total);
    let missing = faults.missing.min(total - errors);
    let mut fate = vec![Fate::Answer; total];
    for &p in &positions[..errors] {
        fate[p] = Fate::Error;
    }
    for &p in &positions[errors..errors + missing] {
        fate[p] = Fate::Missing;
    }
    let mut manifest = Manifest {
        total_record_count: total,
        ..Manifest::default()
    };
    let mut files = Vec::new();
    let mut position = 0;
    for input in inputs {
        let mut lines = Vec::new();
        for record in &input.records {
            let outcome = match fate[position] {
                Fate::Missing => None,
                Fate::Error => Some(Err(json!({
                    "errorCode": 500,
                    "errorMessage": "The model could not process this record (injected fault batch_record_errors).",
                }))),
                Fate::Answer => Some(answer(&record.model_input).map_err(
                    |e| json!({ "errorCode": e.status.as_u16(), "errorMessage": e.message }),
                )),
            };
            position += 1;
            let Some(outcome) = outcome else { continue };
            manifest.processed_record_count += 1;
            let mut line = json!({
                "recordId": record.record_id,
                "modelInput": record.model_input,
            });
            match outcome {
                Ok((output, input_tokens, output_tokens)) => {
                    manifest.success_record_count += 1;
                    manifest.input_token_count += input_tokens;
                    manifest.output_token_count += output_tokens;
                    line["modelOutput"] = output;
                }
                Err(error) => {
                    manifest.error_record_count += 1;
                    line["error"] = error;
                }
            }
            lines.push(line.to_string());
        }
        if faults.shuffle && lines.len() >= 2 {
            let before = lines.clone();
            rng.shuffle(&mut lines);
            if lines == before {
                lines.rotate_left(1);
            }
        }
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        files.push((format!("{}.out", input.file_name), text));
    }
    (files, manifest)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Answer,
    Error,
    Missing,
}

/// A small deterministic generator (SplitMix64): the emulator's shuffles must not depend on a
/// random source, so a test sees the same output every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// FNV-1a of `text`: the seed of a job's faults and order.
pub fn seed_of(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n: usize) -> BatchInput {
        let text: String = (0..n)
            .map(|i| {
                format!("{{\"recordId\":\"REC{i:08}\",\"modelInput\":{{\"prompt\":\"p{i}\"}}}}\n")
            })
            .collect();
        parse_input("s3://b/in.jsonl", "in.jsonl", &text, 0).unwrap()
    }

    fn echo(body: &Value) -> Answer {
        Ok((json!({"echo": body["prompt"]}), 1, 2))
    }

    #[test]
    fn parses_records_and_names_bad_lines() {
        let parsed = input(3);
        assert_eq!(parsed.records.len(), 3);
        assert_eq!(parsed.records[2].record_id, "REC00000002");
        let made_up = parse_input("u", "f", "{\"modelInput\":{}}\n", 4).unwrap();
        assert_eq!(made_up.records[0].record_id, "00000000005");
        let err = parse_input(
            "s3://b/in.jsonl",
            "in.jsonl",
            "{\"modelInput\":{}}\n\n{\"recordId\":\"x\"}\n",
            0,
        )
        .unwrap_err();
        assert!(
            err.message.starts_with(
                "Invalid batch input s3://b/in.jsonl: line 3: the record has no \"modelInput\""
            ),
            "{err}"
        );
        assert!(parse_input("u", "f", "[1]", 0).is_err());
        assert!(parse_input("u", "f", "{\"recordId\":7,\"modelInput\":{}}", 0).is_err());
    }

    #[test]
    fn output_is_shuffled_with_errors_and_missing_records() {
        let inputs = [input(10)];
        let faults = RecordFaults {
            errors: 2,
            missing: 1,
            shuffle: true,
        };
        let (files, manifest) = render(&inputs, faults, 7, echo);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "in.jsonl.out");
        let lines: Vec<Value> = files[0]
            .1
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 9);
        let ids: Vec<&str> = lines
            .iter()
            .map(|l| l["recordId"].as_str().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_ne!(ids, sorted, "order must differ from the input's");
        assert_eq!(lines.iter().filter(|l| l.get("error").is_some()).count(), 2);
        for line in lines.iter().filter(|l| l.get("modelOutput").is_some()) {
            assert_eq!(line["modelOutput"]["echo"], line["modelInput"]["prompt"]);
        }
        assert_eq!(
            manifest,
            Manifest {
                total_record_count: 10,
                processed_record_count: 9,
                success_record_count: 7,
                error_record_count: 2,
                input_token_count: 7,
                output_token_count: 14,
            }
        );
        // Stable for a seed.
        assert_eq!(render(&inputs, faults, 7, echo).0, files);
    }

    #[test]
    fn unshuffled_output_keeps_input_order_and_answer_errors_become_record_errors() {
        let inputs = [input(3)];
        let faults = RecordFaults {
            errors: 0,
            missing: 0,
            shuffle: false,
        };
        let (files, manifest) = render(&inputs, faults, 1, |body| {
            if body["prompt"] == "p1" {
                Err(ApiError::validation("bad body"))
            } else {
                echo(body)
            }
        });
        let lines: Vec<Value> = files[0]
            .1
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["recordId"], "REC00000000");
        assert_eq!(
            lines[1]["error"],
            json!({"errorCode": 400, "errorMessage": "bad body"})
        );
        assert_eq!(manifest.error_record_count, 1);
    }
}
