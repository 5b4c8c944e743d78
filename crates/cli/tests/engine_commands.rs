//! `bertscore baseline`, `score --all-layers`, `matrix` and `mbr` end to end: the real binary, the
//! real tiny models of tests/fixtures/parity/models, and (for `baseline`) numbers computed with
//! bert_score by scripts/baseline_reference.py.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{bertscore, repo_root};

const TINY_BERT: &str = "tests/fixtures/parity/models/tiny-bert";
const PAIRS: &str = "tests/fixtures/parity/baseline-command/pairs.jsonl";

fn ok(args: &[&str]) -> String {
    let output = bertscore(args);
    assert!(
        output.status.success(),
        "bertscore {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn fails_with_2(args: &[&str]) -> String {
    let output = bertscore(args);
    assert_eq!(
        output.status.code(),
        Some(2),
        "bertscore {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).unwrap()
}

/// (P, R, F) per layer of a bert_score-format baseline file.
fn baseline_rows(text: &str) -> Vec<[f64; 3]> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("LAYER,P,R,F"));
    lines
        .enumerate()
        .map(|(layer, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields[0], layer.to_string());
            [1, 2, 3].map(|i| fields[i].parse().unwrap())
        })
        .collect()
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `baseline --pairs-file` equals bert_score's mean P, R, F over the same 150 pairs at every layer
/// (tests/fixtures/parity/baseline-command/*.tsv, made by scripts/baseline_reference.py), on both
/// encoder paths, and the file it writes is a baseline `score --baseline` reads.
#[test]
fn baseline_of_given_pairs_equals_bert_score() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["tiny-bert", "tiny-roberta"] {
        let expected = std::fs::read_to_string(repo_root().join(format!(
            "tests/fixtures/parity/baseline-command/{model}.tsv"
        )))
        .unwrap();
        let expected = baseline_rows(&expected);
        assert_eq!(expected.len(), 4);
        for backend in ["auto", "candle"] {
            let out = dir.path().join(format!("{model}-{backend}.tsv"));
            let model_dir = format!("tests/fixtures/parity/models/{model}");
            ok(&[
                "baseline",
                "--pairs-file",
                PAIRS,
                "-m",
                &model_dir,
                "--backend",
                backend,
                "-o",
                out.to_str().unwrap(),
            ]);
            let ours = baseline_rows(&std::fs::read_to_string(&out).unwrap());
            assert_eq!(ours.len(), expected.len());
            for (layer, (a, b)) in ours.iter().zip(&expected).enumerate() {
                for k in 0..3 {
                    assert!(
                        (a[k] - b[k]).abs() <= 1e-4,
                        "{model} {backend} layer {layer}: ours {a:?}, bert_score {b:?}"
                    );
                }
            }
        }
    }
    // Usable as --baseline: layer 2's F baseline rescales layer 2's F.
    let file = dir.path().join("tiny-bert-auto.tsv");
    let rows = baseline_rows(&std::fs::read_to_string(&file).unwrap());
    let raw = jsonl(&ok(&[
        "score",
        "-c",
        "the cat sat",
        "-r",
        "a cat sat",
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--format",
        "jsonl",
    ]));
    let rescaled = jsonl(&ok(&[
        "score",
        "-c",
        "the cat sat",
        "-r",
        "a cat sat",
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--format",
        "jsonl",
        "--baseline",
        file.to_str().unwrap(),
    ]));
    let b = f64::from(rows[2][2] as f32);
    let want = (raw[0]["f1"].as_f64().unwrap() - b) / (1.0 - b);
    assert!((rescaled[0]["f1"].as_f64().unwrap() - want).abs() < 1e-9);
}

/// Sampling from a corpus: reproducible for a seed, different for another, one row per layer.
#[test]
fn baseline_samples_corpus_pairs_reproducibly() {
    let corpus = "../shared/datasets/bert-score-example/hyps_long.txt";
    let corpus = repo_root().join(corpus);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("corpus.txt");
    // The first 400 lines: enough for --pairs 200.
    let text = std::fs::read_to_string(&corpus).unwrap_or_else(|_| {
        (0..400)
            .map(|i| format!("sentence number {i} of a small corpus"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let lines: Vec<&str> = text.lines().take(400).collect();
    std::fs::write(&local, lines.join("\n")).unwrap();
    let run = |seed: &str| {
        ok(&[
            "baseline",
            "--corpus",
            local.to_str().unwrap(),
            "--pairs",
            "200",
            "--seed",
            seed,
            "-m",
            TINY_BERT,
        ])
    };
    let first = run("1");
    assert_eq!(baseline_rows(&first).len(), 4);
    assert_eq!(run("1"), first);
    assert_ne!(run("2"), first);
}

/// Bad input: exit 2, a message naming the file (and line), and no output file.
#[test]
fn baseline_rejects_bad_input_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("baseline.tsv");
    let out_arg = out.to_str().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n\n").unwrap();
    let message = fails_with_2(&[
        "baseline",
        "--corpus",
        empty.to_str().unwrap(),
        "-m",
        TINY_BERT,
        "-o",
        out_arg,
    ]);
    assert!(
        message.contains("empty.txt") && message.contains("no sentence"),
        "{message}"
    );

    let small = dir.path().join("small.txt");
    std::fs::write(&small, "one\ntwo\nthree\n").unwrap();
    let message = fails_with_2(&[
        "baseline",
        "--corpus",
        small.to_str().unwrap(),
        "--pairs",
        "2",
        "-m",
        TINY_BERT,
        "-o",
        out_arg,
    ]);
    assert!(
        message.contains("small.txt") && message.contains("3 sentences"),
        "{message}"
    );

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"candidate\": \"a\", \"reference\": \"b\"}\n{\"candidate\": \"a\", \"reference\"\n",
    )
    .unwrap();
    let message = fails_with_2(&[
        "baseline",
        "--pairs-file",
        bad.to_str().unwrap(),
        "-m",
        TINY_BERT,
        "-o",
        out_arg,
    ]);
    assert!(message.contains("bad.jsonl:2"), "{message}");

    let message = fails_with_2(&[
        "baseline",
        "--corpus",
        small.to_str().unwrap(),
        "--pairs",
        "0",
        "-m",
        TINY_BERT,
    ]);
    assert!(message.contains("--pairs"), "{message}");
    assert!(!out.exists(), "no partial output");
}

/// `score --all-layers`: JSONL rows hold arrays indexed by layer, and layer k equals
/// `--num-layers k` for every k.
#[test]
fn all_layers_rows_equal_scoring_at_each_layer() {
    let all = jsonl(&ok(&[
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
    ]));
    assert_eq!(all.len(), 150);
    for k in 0..=3usize {
        let at_k = jsonl(&ok(&[
            "score",
            "--input",
            PAIRS,
            "-m",
            TINY_BERT,
            "-l",
            &k.to_string(),
            "--format",
            "jsonl",
        ]));
        for (row, single) in all.iter().zip(&at_k) {
            for key in ["precision", "recall", "f1"] {
                let layers = row[key].as_array().unwrap();
                assert_eq!(layers.len(), 4);
                let delta = (layers[k].as_f64().unwrap() - single[key].as_f64().unwrap()).abs();
                assert!(delta <= 1e-6, "layer {k} {key}: |Δ| {delta}");
            }
        }
    }
}

/// A .npy file as numpy writes it: (shape, values), checking the header.
fn read_npy(path: &Path) -> ((usize, usize), Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f8'") && header.contains("'fortran_order': False"));
    let shape = header.split("'shape': (").nth(1).unwrap();
    let shape: Vec<usize> = shape
        .split(')')
        .next()
        .unwrap()
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let values: Vec<f64> = bytes[10 + header_len..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), shape[0] * shape[1]);
    ((shape[0], shape[1]), values)
}

/// Scores one pair alone with `score` (its own padding group).
fn lone_pair(cand: &str, reference: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "score", "-c", cand, "-r", reference, "-m", TINY_BERT, "-l", "2", "--format", "jsonl",
    ];
    args.extend_from_slice(extra);
    jsonl(&ok(&args)).remove(0)
}

/// `matrix`: cell (i, j) equals scoring (A[i], B[j]) alone, in .npy (with several chunks of A) and
/// in JSONL; idf is computed over B.
#[test]
fn matrix_cells_equal_lone_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let a = [
        "the cat sat on the mat",
        "a dog barked",
        "nothing at all here",
    ];
    let b = [
        "the cat is on the mat",
        "dogs bark",
        "completely unrelated words",
        "cat",
    ];
    let a_file = dir.path().join("a.txt");
    let b_file = dir.path().join("b.txt");
    std::fs::write(&a_file, a.join("\n")).unwrap();
    std::fs::write(&b_file, b.join("\n")).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    ok(&[
        "matrix",
        "-c",
        a_file.to_str().unwrap(),
        "-r",
        b_file.to_str().unwrap(),
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--chunk-size",
        "2",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    let matrices: Vec<((usize, usize), Vec<f64>)> = ["P", "R", "F"]
        .iter()
        .map(|m| read_npy(&out.join(format!("{m}.npy"))))
        .collect();
    let rows = jsonl(&ok(&[
        "matrix",
        "-c",
        a_file.to_str().unwrap(),
        "-r",
        b_file.to_str().unwrap(),
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--format",
        "jsonl",
    ]));
    assert_eq!(rows.len(), a.len());
    for (i, cand) in a.iter().enumerate() {
        for (j, reference) in b.iter().enumerate() {
            let alone = lone_pair(cand, reference, &[]);
            for (m, key) in ["precision", "recall", "f1"].iter().enumerate() {
                let (shape, values) = &matrices[m];
                assert_eq!(*shape, (a.len(), b.len()));
                let want = alone[key].as_f64().unwrap();
                let npy = values[i * b.len() + j];
                let json = rows[i][key][j].as_f64().unwrap();
                assert!(
                    (npy - want).abs() <= 1e-6,
                    "{key}[{i}][{j}]: {npy} vs {want}"
                );
                assert!(
                    (json - want).abs() <= 1e-6,
                    "{key}[{i}][{j}]: {json} vs {want}"
                );
            }
        }
    }
}

/// `mbr` picks what brute force over lone-pair F1 picks, for each group.
#[test]
fn mbr_picks_the_brute_force_choice() {
    let dir = tempfile::tempdir().unwrap();
    let groups = [
        vec![
            "the cat sat on the mat",
            "a cat sat on a mat",
            "the cat is sitting on the mat",
            "stock prices fell sharply",
        ],
        vec!["one sample only"],
        vec!["dogs bark at night", "the dog barked all night", "night"],
    ];
    let input = dir.path().join("groups.jsonl");
    let lines: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(g, samples)| {
            serde_json::json!({"id": format!("g{g}"), "samples": samples}).to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let chosen = jsonl(&ok(&[
        "mbr",
        "--input",
        input.to_str().unwrap(),
        "-m",
        TINY_BERT,
        "-l",
        "2",
    ]));
    assert_eq!(chosen.len(), groups.len());
    for (g, samples) in groups.iter().enumerate() {
        assert_eq!(chosen[g]["id"], format!("g{g}"));
        if samples.len() == 1 {
            assert_eq!(chosen[g]["choice"], 0);
            assert!(chosen[g]["expected_utility"].is_null());
            continue;
        }
        let utilities: Vec<f64> = (0..samples.len())
            .map(|i| {
                let others: Vec<f64> = (0..samples.len())
                    .filter(|&j| j != i)
                    .map(|j| {
                        lone_pair(samples[i], samples[j], &[])["f1"]
                            .as_f64()
                            .unwrap()
                    })
                    .collect();
                others.iter().sum::<f64>() / others.len() as f64
            })
            .collect();
        let best = (0..samples.len())
            .max_by(|&x, &y| utilities[x].total_cmp(&utilities[y]).then(y.cmp(&x)))
            .unwrap();
        assert_eq!(chosen[g]["choice"], best, "group {g}: {utilities:?}");
        assert_eq!(chosen[g]["sample"], samples[best]);
        let expected = chosen[g]["expected_utility"].as_f64().unwrap();
        assert!((expected - utilities[best]).abs() <= 1e-6);
    }
    // A group without samples is bad input naming the line.
    std::fs::write(
        &input,
        "{\"id\": 1, \"samples\": [\"a\"]}\n{\"id\": 2, \"samples\": []}\n",
    )
    .unwrap();
    let message = fails_with_2(&["mbr", "--input", input.to_str().unwrap(), "-m", TINY_BERT]);
    assert!(message.contains("groups.jsonl:2"), "{message}");
}

/// `--long-texts window`: a long text scored against itself gives 1; the hash says windows were
/// used; a stride of 0 or wider than the window is bad input (exit 2, nothing written).
#[test]
fn long_texts_in_windows_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = std::fs::read_to_string(repo_root().join(PAIRS)).unwrap();
    let long: Vec<String> = pairs
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["candidate"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let long = long.join(" ");
    let input = dir.path().join("long.jsonl");
    std::fs::write(
        &input,
        format!(
            "{}\n",
            serde_json::json!({"candidate": long, "reference": long})
        ),
    )
    .unwrap();
    let input = input.to_str().unwrap();
    let output = bertscore(&[
        "score",
        "--input",
        input,
        "-m",
        TINY_BERT,
        "-l",
        "3",
        "--long-texts",
        "window",
        "--format",
        "json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        (document["f1"].as_f64().unwrap() - 1.0).abs() < 1e-6,
        "{document}"
    );
    assert!(
        document["hash"]
            .as_str()
            .unwrap()
            .ends_with("_long-texts=window(stride=255)"),
        "{document}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("windows"));

    let out = dir.path().join("scores.jsonl");
    for stride in ["0", "511"] {
        let message = fails_with_2(&[
            "score",
            "--input",
            input,
            "-m",
            TINY_BERT,
            "-l",
            "3",
            "--long-texts",
            "window",
            "--window-stride",
            stride,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(message.contains("--window-stride"), "{message}");
    }
    let message = fails_with_2(&[
        "score",
        "--input",
        input,
        "-m",
        TINY_BERT,
        "--window-stride",
        "10",
    ]);
    assert!(message.contains("--window-stride"), "{message}");
    assert!(!out.exists());
}
