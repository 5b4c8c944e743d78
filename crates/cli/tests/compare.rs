//! `bertscore compare` end to end: the real binary, the real default model (all-MiniLM-L6-v2) on the DialogSum
//! example set, and the AWS sample's JSON array files.

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{assert_fails_with, bertscore, repo_root, stderr};

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
    assert_fails_with(&output, 2, "report.html");
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

/// Three systems against the base: `custom` (better on every item), `same` (the base's own outputs) and
/// `mixed` (custom's outputs on the first six items, the base's on the rest).
fn three_systems(dir: &Path) -> [PathBuf; 3] {
    let base = std::fs::read_to_string(repo_root().join(BASE)).unwrap();
    let custom = std::fs::read_to_string(repo_root().join(CUSTOM)).unwrap();
    let same = dir.join("same.jsonl");
    std::fs::write(&same, &base).unwrap();
    let mixed = dir.join("mixed.jsonl");
    let lines: Vec<&str> = custom.lines().take(6).chain(base.lines().skip(6)).collect();
    std::fs::write(&mixed, lines.join("\n") + "\n").unwrap();
    [repo_root().join(CUSTOM), same, mixed]
}

/// Holm's step-down adjustment, computed here independently of the crate.
fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].partial_cmp(&p[b]).unwrap());
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (j, &i) in order.iter().enumerate() {
        running = running.max(((m - j) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[test]
fn n_way_compare_corrects_ranks_and_names_the_best_system() {
    let dir = tempfile::tempdir().unwrap();
    let systems = three_systems(dir.path());
    let paths: Vec<&str> = systems.iter().map(|p| p.to_str().unwrap()).collect();
    let run = |extra: &[&str]| {
        let mut args = vec!["compare", BASE, paths[0], paths[1], paths[2], "--json"];
        args.extend_from_slice(extra);
        let output = bertscore(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let doc = run(&[]);
    assert_eq!(doc["n"], 11);
    assert_eq!(doc["correction"], "holm");
    let names: Vec<&str> = doc["systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["custom", "same", "mixed"],
        "default names: file stems"
    );

    // Each system's raw statistics equal the two-file comparison of that system with the base.
    let pair = compare_json(BASE, CUSTOM, &[]);
    let custom = &doc["systems"][0];
    assert_eq!(custom["p_value"], pair["p_value"]);
    assert_eq!(custom["delta_f1"], pair["delta_f1"]);
    assert_eq!(custom["ci95"], pair["ci95"]);
    assert_eq!(custom["wins"], 11);
    assert_eq!(doc["systems"][1]["delta_f1"], 0.0);
    assert_eq!(doc["systems"][1]["p_value"], 1.0);
    assert_eq!(doc["systems"][1]["ties"], 11);
    assert_eq!(doc["systems"][2]["ties"], 5);

    // Holm-adjusted p-values equal the hand computation from the raw ones.
    let raw: Vec<f64> = (0..3)
        .map(|k| doc["systems"][k]["p_value"].as_f64().unwrap())
        .collect();
    let adjusted: Vec<f64> = (0..3)
        .map(|k| doc["systems"][k]["p_adjusted"].as_f64().unwrap())
        .collect();
    let expected = holm(&raw);
    for k in 0..3 {
        assert!(
            (adjusted[k] - expected[k]).abs() < 1e-12,
            "{adjusted:?} vs {expected:?}"
        );
    }
    // custom's p (2/2048, the smallest) is tripled.
    assert!((adjusted[0] - 3.0 * 2.0 / 2048.0).abs() < 1e-12);

    let ranking: Vec<&str> = doc["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(ranking, ["custom", "mixed", "same"]);
    let head = &doc["best_vs_runner_up"];
    assert_eq!(head["best"], "custom");
    assert_eq!(head["runner_up"], "mixed");
    // custom and mixed share their first six outputs: five decided items, all won by custom.
    assert_eq!(head["ties"], 6);
    assert_eq!(head["wins"], 5);
    assert!((head["p_value"].as_f64().unwrap() - 2.0 / 32.0).abs() < 1e-12);
    assert_eq!(doc["verdict"], "custom");

    // The verdict names the best system only when it survives the correction: at alpha 0.002 custom's raw
    // p (0.00098) passes, its Holm p (0.0029) does not.
    assert_eq!(
        run(&["--alpha", "0.002", "--correction", "none"])["verdict"],
        "custom"
    );
    assert_eq!(run(&["--alpha", "0.002"])["verdict"], "inconclusive");
    let bonferroni = run(&["--correction", "bonferroni", "--names", "a,b,c"]);
    assert_eq!(bonferroni["systems"][2]["name"], "c");
    let p = bonferroni["systems"][2]["p_value"].as_f64().unwrap();
    assert!(
        (bonferroni["systems"][2]["p_adjusted"].as_f64().unwrap() - (3.0 * p).min(1.0)).abs()
            < 1e-12
    );
    assert_eq!(bonferroni["verdict"], "a");
}

#[test]
fn n_way_table_html_and_name_errors() {
    let dir = tempfile::tempdir().unwrap();
    let systems = three_systems(dir.path());
    let html = dir.path().join("report.html");
    let output = bertscore(&[
        "compare",
        BASE,
        systems[0].to_str().unwrap(),
        systems[1].to_str().unwrap(),
        systems[2].to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains("BERTScore comparison of 3 systems against base on 11 items"),
        "{table}"
    );
    assert!(table.contains("ranking by mean F1: 1. custom"), "{table}");
    assert!(
        table.contains("best vs runner-up: custom - mixed"),
        "{table}"
    );
    assert!(table.contains("verdict: custom"), "{table}");
    let page = std::fs::read_to_string(&html).unwrap();
    for needle in [
        "id=\"system-deltas\"",
        "id=\"ranking\"",
        "id=\"system-distributions\"",
        ">mixed<",
    ] {
        assert!(page.contains(needle), "missing {needle}");
    }

    // Names: one per system, distinct, not a verdict.
    for (names, message) in [
        ("a,b", "2 names for 3 systems"),
        ("a,a,b", "two systems are named"),
        ("base,b,c", "cannot name a system"),
    ] {
        let output = bertscore(&[
            "compare",
            BASE,
            systems[0].to_str().unwrap(),
            systems[1].to_str().unwrap(),
            systems[2].to_str().unwrap(),
            "--names",
            names,
        ]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    }
    // Two files keep today's comparison: --names and --correction belong to the N-way form.
    let output = bertscore(&["compare", BASE, CUSTOM, "--correction", "holm"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn resample_counts_and_statistics_settings_are_bounded() {
    for (flag, value, said) in [
        (
            "--bootstrap",
            "18446744073709551615",
            "bootstrap must be 1 to 1000000",
        ),
        (
            "--bootstrap",
            "1000000000",
            "bootstrap must be 1 to 1000000",
        ),
        ("--permutations", "0", "permutations must be 1 to 1000000"),
        ("--alpha", "2.0", "alpha must be in (0, 1)"),
        ("--margin", "-1", "margin must be a finite number >= 0"),
    ] {
        let output = bertscore(&["compare", BASE, CUSTOM, &format!("{flag}={value}")]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{flag} {value}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(said),
            "{flag} {value}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn an_empty_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let output = bertscore(&["compare", empty.to_str().unwrap(), CUSTOM]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(empty.to_str().unwrap()) && message.contains("the file is empty"),
        "{message}"
    );
}
