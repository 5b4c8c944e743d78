//! `bertscore compare` end to end: the real binary, the real default model (all-MiniLM-L6-v2) on the DialogSum
//! example set, and the AWS sample's JSON array files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bertscore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bertscore"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("bertscore runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `compare --json` and returns the document, asserting success.
fn compare_json(base: &str, custom: &str, extra: &[&str]) -> Value {
    let mut args = vec!["compare", base, custom, "--json"];
    args.extend_from_slice(extra);
    let output = bertscore(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("one JSON document on stdout")
}

const BASE: &str = "datasets/dialogsum/base.jsonl";
const CUSTOM: &str = "datasets/dialogsum/custom.jsonl";

#[test]
fn clearly_better_custom_model_wins_and_swapping_the_files_flips_the_verdict() {
    let forward = compare_json(BASE, CUSTOM, &[]);
    assert_eq!(forward["n"], 11);
    assert_eq!(forward["verdict"], "custom");
    assert_eq!(forward["wins"], 11);
    let delta = forward["delta_f1"].as_f64().unwrap();
    let (low, high) = (
        forward["ci95"][0].as_f64().unwrap(),
        forward["ci95"][1].as_f64().unwrap(),
    );
    assert!(
        low > 0.0 && low < delta && delta < high,
        "{low} < {delta} < {high}"
    );
    // 11 wins out of 11: the exact permutation test gives 2 / 2^11.
    assert!((forward["p_value"].as_f64().unwrap() - 2.0 / 2048.0).abs() < 1e-12);
    let mean = |side: &str| forward[side]["f1"].as_f64().unwrap();
    assert!((mean("custom") - mean("base") - delta).abs() < 1e-12);
    // Per-item scores equal `bertscore score` on the same pairs.
    let first = &forward["items"][0];
    assert_eq!(first["id"], "dialogsum-01");
    assert!(
        (first["custom"]["f1"].as_f64().unwrap()
            - first["base"]["f1"].as_f64().unwrap()
            - first["delta_f1"].as_f64().unwrap())
        .abs()
            < 1e-12
    );

    let backward = compare_json(CUSTOM, BASE, &[]);
    assert_eq!(backward["verdict"], "base");
    assert_eq!(backward["losses"], 11);
    assert!((backward["delta_f1"].as_f64().unwrap() + delta).abs() < 1e-9);

    // --fail-if-worse gates on the `base` verdict only.
    let gated = bertscore(&["compare", CUSTOM, BASE, "--fail-if-worse"]);
    assert_eq!(gated.status.code(), Some(1), "{}", stderr(&gated));
    assert!(stderr(&gated).contains("worse"), "{}", stderr(&gated));
    let passed = bertscore(&["compare", BASE, CUSTOM, "--fail-if-worse"]);
    assert_eq!(passed.status.code(), Some(0), "{}", stderr(&passed));
    let table = String::from_utf8(passed.stdout).unwrap();
    assert!(table.contains("verdict: custom"), "{table}");
}

#[test]
fn identical_files_are_inconclusive_with_zero_delta() {
    let same = compare_json(BASE, BASE, &[]);
    assert_eq!(same["verdict"], "inconclusive");
    assert_eq!(same["delta_f1"].as_f64().unwrap(), 0.0);
    assert_eq!(same["ties"], 11);
    assert_eq!(same["p_value"].as_f64().unwrap(), 1.0);
}

#[test]
fn the_seed_makes_the_bootstrap_reproducible() {
    let args = [
        "--seed",
        "7",
        "--bootstrap",
        "2000",
        "--permutations",
        "500",
    ];
    let once = compare_json(BASE, CUSTOM, &args);
    let again = compare_json(BASE, CUSTOM, &args);
    assert_eq!(once["ci95"], again["ci95"]);
    assert_eq!(once["deltas"], again["deltas"]);
    let other = compare_json(BASE, CUSTOM, &["--seed", "8", "--bootstrap", "2000"]);
    assert_ne!(
        once["ci95"], other["ci95"],
        "another seed draws other resamples"
    );
}

#[test]
fn misaligned_ids_are_named_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let custom = dir.path().join("custom.jsonl");
    let text = std::fs::read_to_string(repo_root().join(CUSTOM)).unwrap();
    std::fs::write(
        &custom,
        text.replace("dialogsum-03", "dialogsum-99")
            .replace("dialogsum-07", "extra-7"),
    )
    .unwrap();
    let output = bertscore(&["compare", BASE, custom.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    for id in ["dialogsum-03", "dialogsum-99", "dialogsum-07", "extra-7"] {
        assert!(message.contains(id), "{id} not named in: {message}");
    }
    assert!(output.stdout.is_empty(), "no partial output");
}

#[test]
fn the_aws_samples_json_arrays_work() {
    let dir = tempfile::tempdir().unwrap();
    let read = |path: &str| -> Vec<Value> {
        std::fs::read_to_string(repo_root().join(path))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let completions =
        |rows: &[Value]| -> Value { rows.iter().map(|r| r["completion"].clone()).collect() };
    let (base, custom) = (read(BASE), read(CUSTOM));
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let base_path = write("base-model-inference.json", &completions(&base));
    let custom_path = write("custom-model-inference.json", &completions(&custom));
    let references = repo_root().join("datasets/dialogsum-seed/reference-inference.json");
    let arrays = compare_json(
        &base_path,
        &custom_path,
        &["--references", references.to_str().unwrap()],
    );
    let jsonl = compare_json(BASE, CUSTOM, &[]);
    assert_eq!(arrays["n"], 11);
    assert_eq!(arrays["verdict"], jsonl["verdict"]);
    // Same pairs, same scores: only the ids differ (positions instead of the files' ids).
    assert!(
        (arrays["delta_f1"].as_f64().unwrap() - jsonl["delta_f1"].as_f64().unwrap()).abs() < 1e-9
    );
    assert_eq!(arrays["base"], jsonl["base"]);

    // Several references per item: arrays of arrays.
    let multi: Value = base
        .iter()
        .map(|r| serde_json::json!([r["reference"], "An unrelated sentence."]))
        .collect();
    let multi_path = write("references-multi.json", &multi);
    let with_two = compare_json(&base_path, &custom_path, &["--references", &multi_path]);
    let f1 = |doc: &Value, side: &str| doc["base"][side].as_f64().unwrap();
    // The maximum over references can only raise a score.
    assert!(f1(&with_two, "f1") >= f1(&jsonl, "f1") - 1e-9);
}

#[test]
fn the_html_report_is_self_contained_and_has_every_part() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let output = bertscore(&[
        "compare",
        BASE,
        CUSTOM,
        "--html",
        html.to_str().unwrap(),
        "--heatmap",
        "dialogsum-05",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let page = std::fs::read_to_string(&html).unwrap();
    for part in [
        "id=\"verdict\"",
        "verdict: <strong>custom</strong>",
        "id=\"f1-distributions\"",
        "id=\"f1-deltas\"",
        "id=\"gains\"",
        "id=\"heatmap-select\"",
        "dialogsum-05 (chosen)",
    ] {
        assert!(page.contains(part), "missing {part}");
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing fetched"
    );

    let unknown = bertscore(&[
        "compare",
        BASE,
        CUSTOM,
        "--html",
        html.to_str().unwrap(),
        "--heatmap",
        "nope",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("nope"));
}

#[test]
fn outputs_are_checked_before_scoring_and_may_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    // A missing directory for --html is refused before the model is loaded (the model does not exist).
    let html = dir.path().join("missing/report.html");
    let output = bertscore(&[
        "compare",
        BASE,
        CUSTOM,
        "-m",
        "/nonexistent/model",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("report.html"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stderr(&output).contains("nonexistent/model"),
        "{}",
        stderr(&output)
    );

    // -o and --html naming the same file (here through a symlink) would overwrite each other.
    let report = dir.path().join("report.txt");
    std::fs::write(&report, "old").unwrap();
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink(&report, &link).unwrap();
    let output = bertscore(&[
        "compare",
        BASE,
        CUSTOM,
        "-o",
        report.to_str().unwrap(),
        "--html",
        link.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("same file"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), "old");
}

#[test]
fn the_html_report_follows_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.html");
    std::fs::write(&target, "old").unwrap();
    let link = dir.path().join("latest.html");
    std::os::unix::fs::symlink("report.html", &link).unwrap();
    let output = bertscore(&["compare", BASE, CUSTOM, "--html", link.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let html = std::fs::read_to_string(&target).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"),
        "{}",
        &html[..100]
    );
}
