//! `bertscore score` end to end: the real binary, real model weights, bert_score's reference values.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> Value {
    let path = repo_root().join("tests/fixtures/parity/cases").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bertscore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bertscore"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("bertscore runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Writes a case's pairs as JSONL (texts with newlines cannot go through one-per-line files).
fn case_as_jsonl(case: &Value, dir: &Path) -> PathBuf {
    let path = dir.join("pairs.jsonl");
    let mut lines = String::new();
    for (i, (cand, reference)) in case["cands"]
        .as_array()
        .unwrap()
        .iter()
        .zip(case["refs"].as_array().unwrap())
        .enumerate()
    {
        let key = if reference.is_array() {
            "references"
        } else {
            "reference"
        };
        let line = serde_json::json!({"id": format!("p{i}"), "candidate": cand, key: reference});
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    std::fs::write(&path, lines).unwrap();
    path
}

fn assert_matches_expected(case: &Value, rows: &[Value]) {
    let expected = &case["expected"];
    assert_eq!(rows.len(), expected["F"].as_array().unwrap().len());
    let mut max_delta: f64 = 0.0;
    for (i, row) in rows.iter().enumerate() {
        for (key, column) in [("precision", "P"), ("recall", "R"), ("f1", "F")] {
            let got = row[key].as_f64().unwrap();
            let want = expected[column][i].as_f64().unwrap();
            max_delta = max_delta.max((got - want).abs());
        }
    }
    assert!(
        max_delta <= 1e-4,
        "{}: max |Δ| = {max_delta:e}",
        case["name"]
    );
}

#[test]
fn jsonl_input_reproduces_bert_score_with_ids_in_order() {
    let case = fixture("tiny-roberta-L3-rescaled-multi-ref.json");
    let dir = tempfile::tempdir().unwrap();
    let pairs = case_as_jsonl(&case, dir.path());
    let baseline = repo_root()
        .join("tests/fixtures/parity")
        .join(case["baseline"].as_str().unwrap());
    let output = bertscore(&[
        "score",
        "--input",
        pairs.to_str().unwrap(),
        "--model",
        "tests/fixtures/parity/models/tiny-roberta",
        "--num-layers",
        "3",
        "--baseline",
        baseline.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["id"], format!("p{i}"));
    }
    assert_matches_expected(&case, &rows);
}

#[test]
fn bert_score_cli_form_with_two_reference_files() {
    // bert_score's example: hyps.txt against refs.txt and refs2.txt, per-pair output (-s).
    let output = bertscore(&[
        "score",
        "-c",
        "datasets/bert-score-example/hyps.txt",
        "-r",
        "datasets/bert-score-example/refs.txt",
        "datasets/bert-score-example/refs2.txt",
        "-m",
        "tests/fixtures/parity/models/tiny-bert",
        "-l",
        "2",
        "-s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let mut lines = text.lines();
    let summary = lines.next().unwrap();
    // bert_score 0.3.13 still calls itself 0.3.12 in its hashes (see registry::BERT_SCORE_VERSION).
    assert!(
        summary.contains("_L2_no-idf_version=0.3.12(hug_trans=4.46.3)"),
        "{summary}"
    );
    let per_pair: Vec<Vec<f64>> = lines
        .map(|l| l.split('\t').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(per_pair.len(), 10);
    // The summary's F1 is the mean of the per-pair F1 values.
    let mean_f1 = per_pair.iter().map(|r| r[2]).sum::<f64>() / 10.0;
    let reported: f64 = summary
        .rsplit("F1: ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((mean_f1 - reported).abs() < 2e-6, "{mean_f1} vs {reported}");
    for row in &per_pair {
        assert!(row.iter().all(|v| (0.0..=1.0).contains(v)), "{row:?}");
    }
}

#[test]
fn json_document_has_settings_means_and_pairs() {
    let case = fixture("tiny-bert-L3-edge.json");
    let dir = tempfile::tempdir().unwrap();
    let pairs = case_as_jsonl(&case, dir.path());
    let out_file = dir.path().join("scores.json");
    let output = bertscore(&[
        "score",
        "--input",
        pairs.to_str().unwrap(),
        "--model",
        "tests/fixtures/parity/models/tiny-bert",
        "-l",
        "3",
        "--format",
        "json",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).is_empty(),
        "results went to the file, not stdout"
    );
    // The edge case has empty texts: bert_score's warning is repeated.
    assert!(
        stderr(&output).contains("Empty candidate"),
        "{}",
        stderr(&output)
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(doc["num_layers"], 3);
    assert_eq!(doc["idf"], false);
    assert_eq!(doc["rescaled"], false);
    assert!(doc["hash"].as_str().unwrap().contains("_L3_no-idf"));
    let rows = doc["pairs"].as_array().unwrap();
    assert_matches_expected(&case, rows);
    let mean_f1 = rows.iter().map(|r| r["f1"].as_f64().unwrap()).sum::<f64>() / rows.len() as f64;
    assert!((doc["f1"].as_f64().unwrap() - mean_f1).abs() < 1e-12);
}

#[test]
fn mismatched_counts_are_exit_2_with_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let cands = dir.path().join("c.txt");
    let refs = dir.path().join("r.txt");
    std::fs::write(&cands, "a\nb\nc\n").unwrap();
    std::fs::write(&refs, "a\nb\n").unwrap();
    let output = bertscore(&[
        "score",
        "-c",
        cands.to_str().unwrap(),
        "-r",
        refs.to_str().unwrap(),
        "-m",
        "tests/fixtures/parity/models/tiny-bert",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("2 references but"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn malformed_jsonl_line_and_invalid_utf8_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    std::fs::write(
        &pairs,
        "{\"candidate\":\"a\",\"reference\":\"b\"}\n{\"candidate\": \"a\", \"reference\": \n",
    )
    .unwrap();
    let output = bertscore(&[
        "score",
        "--input",
        pairs.to_str().unwrap(),
        "-m",
        "tests/fixtures/parity/models/tiny-bert",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("pairs.jsonl:2: malformed JSON"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());

    std::fs::write(&pairs, b"{\"candidate\":\"a\",\"reference\":\"b\"}\n{\"candidate\":\"\xc3\x28\",\"reference\":\"b\"}\n").unwrap();
    let output = bertscore(&[
        "score",
        "--input",
        pairs.to_str().unwrap(),
        "-m",
        "tests/fixtures/parity/models/tiny-bert",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("pairs.jsonl:2: invalid UTF-8"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn model_problems_are_reported_with_their_own_exit_codes() {
    // Layer out of range: the valid range is named (bad input, exit 2).
    let output = bertscore(&[
        "score",
        "-c",
        "a cat",
        "-r",
        "a dog",
        "-m",
        "tests/fixtures/parity/models/tiny-bert",
        "-l",
        "9",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("0..=3"), "{}", stderr(&output));

    // A model directory lacking a file: the file is named (exit 3).
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(
            repo_root()
                .join("tests/fixtures/parity/models/tiny-bert")
                .join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    let output = bertscore(&[
        "score",
        "-c",
        "a cat",
        "-r",
        "a dog",
        "-m",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("model.safetensors"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn output_file_is_left_untouched_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("scores.jsonl");
    std::fs::write(&out_file, "previous results\n").unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    std::fs::write(&pairs, "{\"candidate\":\"a\"}\n").unwrap();
    let output = bertscore(&[
        "score",
        "--input",
        pairs.to_str().unwrap(),
        "-m",
        "tests/fixtures/parity/models/tiny-bert",
        "--format",
        "jsonl",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "previous results\n"
    );
}

#[test]
fn default_model_reproduces_bert_score_on_its_example_files() {
    // The issue's command on bert_score's example, both reference files: the default model
    // (all-MiniLM-L6-v2 at its default layer 6, from the cache or fetched once) must give bert_score's values.
    let output = bertscore(&[
        "score",
        "-c",
        "datasets/bert-score-example/hyps.txt",
        "-r",
        "datasets/bert-score-example/refs.txt",
        "datasets/bert-score-example/refs2.txt",
        "--format",
        "csv",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,precision,recall,f1"));
    let rows: Vec<Value> = lines
        .map(|line| {
            let v: Vec<f64> = line
                .split(',')
                .skip(1)
                .map(|x| x.parse().unwrap())
                .collect();
            serde_json::json!({"precision": v[0], "recall": v[1], "f1": v[2]})
        })
        .collect();
    assert_matches_expected(&fixture("minilm-L6-multi-ref.json"), &rows);
}
