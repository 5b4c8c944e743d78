//! `bertscore layers --human` end to end: the real binary and the real tiny BERT of
//! tests/fixtures/parity (3 layers, so layers 0-3). Human scores are planted: one layer's F1 from
//! `score --all-layers` plus seeded noise; the command must recover that layer, and another one when
//! another is planted.

use std::path::Path;

use rand::{Rng, SeedableRng};
use serde_json::Value;

mod common;
use common::{assert_fails_with, bertscore, stderr, stdout};

const TINY_BERT: &str = "tests/fixtures/parity/models/tiny-bert";
const PAIRS: &str = "tests/fixtures/parity/baseline-command/pairs.jsonl";
const LAYERS: usize = 4;

fn ok(args: &[&str]) -> String {
    let output = bertscore(args);
    assert!(
        output.status.success(),
        "bertscore {args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Each pair of PAIRS (as JSON) with its F1 at every layer 0..=3.
fn pairs_with_f1() -> Vec<(Value, Vec<f64>)> {
    let scored = ok(&[
        "score",
        "--input",
        PAIRS,
        "-m",
        TINY_BERT,
        "-l",
        "3",
        "--all-layers",
        "--format",
        "jsonl",
    ]);
    let pairs = std::fs::read_to_string(common::repo_root().join(PAIRS)).unwrap();
    pairs
        .lines()
        .zip(scored.lines())
        .map(|(pair, row)| {
            let row: Value = serde_json::from_str(row).unwrap();
            let f1 = row["f1"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_f64().unwrap())
                .collect::<Vec<_>>();
            assert_eq!(f1.len(), LAYERS);
            (serde_json::from_str(pair).unwrap(), f1)
        })
        .collect()
}

/// Writes `dir/human-K.jsonl`: every pair with `score` = its F1 at `layer` plus uniform noise of
/// half-width `noise` (seeded).
fn plant(dir: &Path, pairs: &[(Value, Vec<f64>)], layer: usize, noise: f64) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(layer as u64);
    let mut text = String::new();
    for (pair, f1) in pairs {
        let mut record = pair.clone();
        record["score"] = (f1[layer] + rng.random_range(-noise..noise)).into();
        text.push_str(&record.to_string());
        text.push('\n');
    }
    let path = dir.join(format!("human-{layer}.jsonl"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn layers_json(human: &str) -> Value {
    let out = ok(&[
        "layers",
        "--human",
        human,
        "-m",
        TINY_BERT,
        "--bootstrap",
        "300",
        "--seed",
        "5",
        "--json",
    ]);
    serde_json::from_str(&out).unwrap()
}

fn kendall_f1(report: &Value, layer: usize) -> f64 {
    report["layers"][layer]["f1"]["kendall"]["value"]
        .as_f64()
        .unwrap()
}

/// The planted layer is recommended (for two different plantings, so the choice follows the
/// data), with the documented JSON shape and intervals around each estimate.
#[test]
fn the_planted_layer_is_recovered() {
    let pairs = pairs_with_f1();
    assert_eq!(pairs.len(), 150);
    let dir = tempfile::tempdir().unwrap();
    for planted in [1, 3] {
        // Noise as wide as a tenth of the planted layer's F1 range: the ranking stays mostly its own.
        let column: Vec<f64> = pairs.iter().map(|(_, f)| f[planted]).collect();
        let range = column.iter().cloned().fold(f64::MIN, f64::max)
            - column.iter().cloned().fold(f64::MAX, f64::min);
        let human = plant(dir.path(), &pairs, planted, 0.1 * range);
        let report = layers_json(&human);
        assert_eq!(report["recommended_layer"], planted, "{report:#}");
        assert_eq!(report["items"], 150);
        assert_eq!(report["bootstrap"], 300);
        assert_eq!(report["seed"], 5);
        assert!(
            report["rule"]
                .as_str()
                .unwrap()
                .starts_with("the highest Kendall tau-b of F1")
        );
        let layers = report["layers"].as_array().unwrap();
        assert_eq!(layers.len(), LAYERS);
        for (k, layer) in layers.iter().enumerate() {
            assert_eq!(layer["layer"], k);
            for metric in ["precision", "recall", "f1"] {
                for statistic in ["pearson", "kendall"] {
                    let estimate = &layer[metric][statistic];
                    let value = estimate["value"].as_f64().unwrap();
                    let ci: Vec<f64> = estimate["ci95"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect();
                    assert!((-1.0..=1.0).contains(&value), "{k} {metric} {statistic}");
                    assert!(
                        ci[0] <= value && value <= ci[1] && ci[0] < ci[1],
                        "layer {k} {metric} {statistic}: {value} not in {ci:?}"
                    );
                }
            }
            if k != planted {
                assert!(kendall_f1(&report, k) < kendall_f1(&report, planted));
            }
        }
        // The planted scores up to noise: a strong rank agreement.
        assert!(kendall_f1(&report, planted) > 0.7, "{report:#}");
    }
}

/// The table marks the recommended layer's rows and says the rule and how to use the layer.
#[test]
fn the_table_is_readable() {
    let pairs = pairs_with_f1();
    let dir = tempfile::tempdir().unwrap();
    let human = plant(dir.path(), &pairs, 2, 0.01);
    let table = ok(&[
        "layers",
        "--human",
        &human,
        "-m",
        TINY_BERT,
        "--bootstrap",
        "100",
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("correlation with 150 human scores"),
        "{table}"
    );
    assert!(
        lines[1].contains("Pearson r") && lines[1].contains("Kendall tau-b"),
        "{table}"
    );
    // Three rows (P, R, F1) per layer, the recommended layer's marked with `*`.
    assert_eq!(lines.len(), 2 + 3 * LAYERS + 1, "{table}");
    let marked: Vec<&&str> = lines.iter().filter(|l| l.starts_with('*')).collect();
    assert_eq!(marked.len(), 3, "{table}");
    assert!(marked.iter().all(|l| l[1..].trim_start().starts_with("2 ")));
    assert!(
        lines.last().unwrap().starts_with("recommended layer: 2 (")
            && lines.last().unwrap().ends_with("score with --num-layers 2"),
        "{table}"
    );
}

#[test]
fn bad_inputs_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("human.jsonl");
    std::fs::write(
        &file,
        "{\"candidate\": \"a b\", \"reference\": \"a c\", \"score\": 0.5}\n\
         {\"candidate\": \"a b\", \"reference\": \"a c\"}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    assert_fails_with(
        &bertscore(&["layers", "--human", path, "-m", TINY_BERT]),
        2,
        &format!("{path}:2: no score"),
    );
    std::fs::write(
        &file,
        "{\"candidate\": \"a\", \"reference\": \"b\", \"score\": \"high\"}\n",
    )
    .unwrap();
    assert_fails_with(
        &bertscore(&["layers", "--human", path, "-m", TINY_BERT]),
        2,
        &format!("{path}:1: score must be a number, found a string"),
    );
    std::fs::write(
        &file,
        "{\"candidate\": \"a\", \"reference\": \"b\", \"score\": 1}\n\
         {\"candidate\": \"c\", \"reference\": \"d\", \"score\": 1}\n\
         {\"candidate\": \"e\", \"reference\": \"f\", \"score\": 1}\n",
    )
    .unwrap();
    assert_fails_with(
        &bertscore(&["layers", "--human", path, "-m", TINY_BERT]),
        2,
        "every human score is 1",
    );
    for resamples in ["0", "100001"] {
        assert_fails_with(
            &bertscore(&[
                "layers",
                "--human",
                path,
                "-m",
                TINY_BERT,
                "--bootstrap",
                resamples,
            ]),
            2,
            "--bootstrap",
        );
    }
    assert_fails_with(
        &bertscore(&[
            "layers",
            "--human",
            path,
            "-m",
            TINY_BERT,
            "--rescale-with-baseline",
        ]),
        2,
        "leaves every correlation unchanged",
    );
}

/// `bertscore models` prints the engine's list of model types; `score --help` names them too.
#[test]
fn models_and_help_list_the_supported_model_types() {
    let listing: Value = serde_json::from_str(&ok(&["models", "--json"])).unwrap();
    let types: Vec<&str> = listing["model_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for family in ["bert", "roberta", "xlm-roberta", "distilbert", "deberta-v2"] {
        assert!(types.contains(&family), "{types:?}");
    }
    assert_eq!(
        listing["recommended_layers"]["roberta-large"], 17,
        "{listing:#}"
    );
    let text = ok(&["models"]);
    assert!(text.contains("roberta, xlm-roberta"), "{text}");
    let help = ok(&["score", "--help"]);
    assert!(
        help.contains(&format!("model_type is one of: {}", types.join(", "))),
        "{help}"
    );
}
