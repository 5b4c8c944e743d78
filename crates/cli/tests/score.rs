//! `bertscore score` end to end: the real binary, real model weights, bert_score's reference values.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{assert_fails_with, bertscore, repo_root, stderr, stdout};

fn fixture(name: &str) -> Value {
    let path = repo_root().join("tests/fixtures/parity/cases").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
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
        stderr(&output).contains("pairs.jsonl:2: not valid JSON"),
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
    assert_fails_with(&output, 3, "model.safetensors");
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

// ---------------------------------------------------------------------------------------------------------------
// Outputs go where the user pointed: files replaced atomically, devices/FIFOs/sockets written, links followed,
// modes from the umask or kept, unwritable paths refused before any work.

const TINY_BERT: &str = "tests/fixtures/parity/models/tiny-bert";

/// `score` of two literal texts with the tiny model, as JSON, to `out`; `umask` set for the process when given.
fn score_to(out: &Path, umask: Option<&str>) -> Output {
    let args = [
        "score", "-c", "a cat", "-r", "a dog", "-m", TINY_BERT, "-l", "2", "--format", "json", "-o",
    ];
    match umask {
        None => {
            let mut all: Vec<&str> = args.to_vec();
            all.push(out.to_str().unwrap());
            bertscore(&all)
        }
        Some(mask) => Command::new("sh")
            .arg("-c")
            .arg(format!("umask {mask} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_bertscore"))
            .args(args)
            .arg(out)
            .current_dir(repo_root())
            .output()
            .expect("sh runs"),
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn assert_is_score_document(text: &str) {
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc["n"], 1, "{doc}");
    assert!(doc["f1"].as_f64().unwrap() > 0.0, "{doc}");
}

#[test]
fn a_new_output_file_gets_its_mode_from_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    for (umask, expected) in [("022", 0o644), ("027", 0o640), ("077", 0o600)] {
        let out = dir.path().join(format!("scores-{umask}.json"));
        let output = score_to(&out, Some(umask));
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(mode(&out), expected, "umask {umask}");
        assert_is_score_document(&std::fs::read_to_string(&out).unwrap());
    }
    // Nothing else is left in the directory (no temporary files).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

#[test]
fn an_existing_output_file_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scores.json");
    std::fs::write(&out, "old").unwrap();
    set_mode(&out, 0o664);
    // A umask that would strip the group write bit of a new file does not touch an existing one's mode.
    let output = score_to(&out, Some("077"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&out), 0o664);
    assert_is_score_document(&std::fs::read_to_string(&out).unwrap());
}

#[test]
fn an_existing_output_file_keeps_its_owner_and_group_when_root_replaces_it() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scores.json");
    std::fs::write(&out, "old").unwrap();
    if std::fs::metadata(&out).unwrap().uid() != 0 {
        return; // only root can give the file to someone else
    }
    std::os::unix::fs::chown(&out, Some(4321), Some(4321)).unwrap();
    let output = score_to(&out, None);
    assert!(output.status.success(), "{}", stderr(&output));
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 4321));
    assert_is_score_document(&std::fs::read_to_string(&out).unwrap());
}

#[test]
fn a_symlink_is_followed_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.json");
    std::fs::write(&target, "old").unwrap();
    set_mode(&target, 0o640);
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink("real.json", &link).unwrap();
    let output = score_to(&link, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real.json"));
    assert_is_score_document(&std::fs::read_to_string(&target).unwrap());
    assert_eq!(mode(&target), 0o640);

    // A dangling link creates its target, as `>` would.
    let missing = dir.path().join("new.json");
    let dangling = dir.path().join("dangling.json");
    std::os::unix::fs::symlink(&missing, &dangling).unwrap();
    let output = score_to(&dangling, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_is_score_document(&std::fs::read_to_string(&missing).unwrap());
}

#[test]
fn a_fifo_is_written_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("scores.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        // Opening for reading blocks until the writer opens: the reader gets what bertscore wrote.
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let output = score_to(&fifo, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_is_score_document(&reader.join().unwrap());
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn a_unix_socket_is_connected_to_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("scores.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let (mut stream, _) = listener.accept().unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    });
    let output = score_to(&socket, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_is_score_document(&reader.join().unwrap());
}

#[test]
fn a_character_device_is_written_and_a_failed_write_is_a_runtime_error() {
    // /dev/null takes the results and stays a device.
    let output = score_to(Path::new("/dev/null"), None);
    assert!(output.status.success(), "{}", stderr(&output));
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    // /dev/full refuses every byte: I/O while writing is exit 4, with the cause said once.
    if Path::new("/dev/full").exists() {
        let output = score_to(Path::new("/dev/full"), None);
        assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
        let err = stderr(&output);
        assert!(err.contains("writing /dev/full"), "{err}");
        assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    }
}

#[test]
fn unwritable_outputs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    // The model does not exist: had it been loaded first, the error would be about the model (exit 3).
    let refused = |out: &Path| {
        bertscore(&[
            "score",
            "-c",
            "a cat",
            "-r",
            "a dog",
            "-m",
            "/nonexistent/model",
            "-o",
            out.to_str().unwrap(),
        ])
    };

    let missing_dir = dir.path().join("no/such/dir/scores.json");
    let output = refused(&missing_dir);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("scores.json") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("nonexistent/model"), "{err}");

    let output = refused(dir.path());
    assert_fails_with(&output, 2, "is a directory");

    // A read-only file is refused, even for root (who could write it), and left as it was.
    let read_only = dir.path().join("keep.json");
    std::fs::write(&read_only, "keep me").unwrap();
    set_mode(&read_only, 0o444);
    let output = refused(&read_only);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("read-only"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&read_only).unwrap(), "keep me");
    assert_eq!(mode(&read_only), 0o444);
}

// ---------------------------------------------------------------------------------------------------------------
// Errors: one text per cause, exit codes by kind (README: 2 bad input, 3 model, 4 runtime).

/// A copy of tiny-bert whose model.safetensors is transformed by `edit`.
fn tiny_bert_copy(edit: impl FnOnce(&mut Vec<u8>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = repo_root().join(TINY_BERT);
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let weights = dir.path().join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    edit(&mut bytes);
    std::fs::write(&weights, bytes).unwrap();
    dir
}

/// Sets every value of an f32 tensor of a safetensors file to `value`.
fn fill_tensor(bytes: &mut [u8], name: &str, value: f32) {
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let entry = &header[name];
    assert_eq!(entry["dtype"], "F32", "{name}");
    let offsets = entry["data_offsets"].as_array().unwrap();
    let (start, end) = (
        8 + header_len + offsets[0].as_u64().unwrap() as usize,
        8 + header_len + offsets[1].as_u64().unwrap() as usize,
    );
    for chunk in bytes[start..end].chunks_exact_mut(4) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
}

fn score_with_model(model: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "score",
        "-c",
        "a cat sat",
        "-r",
        "a dog sat",
        "-m",
        model.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    bertscore(&args)
}

#[test]
fn a_corrupt_model_file_is_a_model_error() {
    for (what, edit) in [
        (
            "truncated",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() / 2)) as Box<dyn FnOnce(&mut Vec<u8>)>,
        ),
        (
            "garbage",
            Box::new(|b: &mut Vec<u8>| *b = b"this is not a safetensors file".to_vec()),
        ),
    ] {
        let model = tiny_bert_copy(edit);
        let output = score_with_model(model.path(), &["-l", "2"]);
        assert_eq!(output.status.code(), Some(3), "{what}: {}", stderr(&output));
        let err = stderr(&output);
        assert!(
            err.contains("cannot load the encoder from"),
            "{what}: {err}"
        );
        assert!(stdout(&output).is_empty());
    }
}

#[test]
fn nan_weights_are_a_model_error_naming_the_layer() {
    let model = tiny_bert_copy(|b| fill_tensor(b, "encoder.layer.1.output.dense.bias", f32::NAN));
    for backend in ["auto", "candle"] {
        let output = score_with_model(model.path(), &["-l", "3", "--backend", backend]);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{backend}: {}",
            stderr(&output)
        );
        let err = stderr(&output);
        assert!(
            err.contains("NaN") && err.contains("layer 3"),
            "{backend}: {err}"
        );
        assert!(!err.contains("idf"), "{backend}: {err}");
        assert!(stdout(&output).is_empty(), "no NaN scores are printed");
    }
    // The layers before the corrupt one still score.
    let output = score_with_model(model.path(), &["-l", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn options_this_build_or_cpu_cannot_run_are_bad_input() {
    let model = repo_root().join(TINY_BERT);
    // bf16 on CPU runs only on the fast path with AVX512-BF16; candle has no bf16 CPU matrix product.
    let output = score_with_model(
        &model,
        &["-l", "2", "--dtype", "bf16", "--backend", "candle"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("bf16"), "{}", stderr(&output));

    if !cfg!(feature = "cuda") {
        let output = score_with_model(&model, &["-l", "2", "--device", "cuda"]);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains("CUDA"), "{}", stderr(&output));
    }
}

#[test]
fn a_model_without_a_known_default_layer_asks_for_one() {
    // A local directory is not in bert_score's model2layers table.
    let model = tiny_bert_copy(|_| {});
    let output = score_with_model(model.path(), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("no default layer is known"), "{err}");
    assert!(err.contains("--num-layers"), "{err}");
}

#[test]
fn a_directory_given_as_texts_is_named_as_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.txt");
    std::fs::write(&refs, "a dog\n").unwrap();
    for (cands, refs) in [
        (dir.path().to_str().unwrap(), refs.to_str().unwrap()),
        ("a cat", dir.path().to_str().unwrap()),
    ] {
        let output = bertscore(&["score", "-c", cands, "-r", refs, "-m", TINY_BERT, "-l", "2"]);
        assert_fails_with(&output, 2, "is a directory");
    }
}

#[test]
fn csv_cells_cannot_become_spreadsheet_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    let mut lines = String::new();
    for id in ["=1+2", "+1", "-1", "@SUM(A1)", "plain"] {
        lines.push_str(
            &serde_json::json!({"id": id, "candidate": "a cat", "reference": "a dog"}).to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(&pairs, lines).unwrap();
    let output = bertscore(&[
        "score",
        "--input",
        pairs.to_str().unwrap(),
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--format",
        "csv",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let ids: Vec<String> = stdout(&output)
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["'=1+2", "'+1", "'-1", "'@SUM(A1)", "plain"]);
}

#[test]
fn a_baseline_file_gives_bert_scores_custom_rescaled_hash() {
    let case = fixture("tiny-roberta-L3-rescaled-multi-ref.json");
    let baseline = repo_root()
        .join("tests/fixtures/parity")
        .join(case["baseline"].as_str().unwrap());
    let output = bertscore(&[
        "score",
        "-c",
        "a cat",
        "-r",
        "a dog",
        "-m",
        "tests/fixtures/parity/models/tiny-roberta",
        "-l",
        "3",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("_L3_no-idf_version=0.3.12(hug_trans=4.46.3)-custom-rescaled_fast-tokenizer"),
        "{text}"
    );
}

#[test]
fn a_missing_baseline_file_is_bad_input_said_once() {
    let output = bertscore(&[
        "score",
        "-c",
        "a cat",
        "-r",
        "a dog",
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--baseline",
        "/nonexistent/baseline.tsv",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("/nonexistent/baseline.tsv"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert_eq!(err.matches("/nonexistent/baseline.tsv").count(), 1, "{err}");
}

// Settings and inputs shared with `compare` and the pipeline (ScorerSettings, the one record reader).

#[test]
fn sizes_beyond_their_bounds_are_refused_before_any_work() {
    let model = repo_root().join(TINY_BERT);
    for (flag, value, said) in [
        ("--threads", "100000", "per available core"),
        ("--batch-size", "0", "out of range"),
        ("--chunk-size", "0", "out of range"),
    ] {
        let output = score_with_model(&model, &["-l", "2", flag, value]);
        assert_eq!(output.status.code(), Some(2), "{flag}: {}", stderr(&output));
        let err = stderr(&output);
        assert!(err.contains(flag) && err.contains(said), "{flag}: {err}");
        assert!(stdout(&output).is_empty());
    }
}

fn score_input(lines: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairs.jsonl");
    std::fs::write(&path, lines).unwrap();
    let output = bertscore(&[
        "score",
        "--input",
        path.to_str().unwrap(),
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--format",
        "jsonl",
    ]);
    (output, dir)
}

#[test]
fn score_input_rejects_duplicate_ids_with_their_line() {
    let (output, _dir) = score_input(
        "{\"id\": \"a\", \"candidate\": \"a cat\", \"reference\": \"a dog\"}\n\
         {\"id\": \"a\", \"candidate\": \"a cow\", \"reference\": \"a dog\"}\n",
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("pairs.jsonl:2: duplicate id \"a\" (first at line 1)"),
        "{err}"
    );
    assert!(stdout(&output).is_empty());
}

#[test]
fn score_input_reads_compare_records_with_completion() {
    let (by_candidate, _a) =
        score_input("{\"id\": 1, \"candidate\": \"a cat sat\", \"reference\": \"a dog sat\"}\n");
    let (by_completion, _b) = score_input(
        "{\"id\": 1, \"prompt\": \"p\", \"completion\": \"a cat sat\", \"references\": [\"a dog sat\"]}\n",
    );
    assert!(by_candidate.status.success(), "{}", stderr(&by_candidate));
    assert!(by_completion.status.success(), "{}", stderr(&by_completion));
    let row: Value = serde_json::from_str(stdout(&by_completion).trim()).unwrap();
    assert_eq!(row["id"], "1");
    assert!(row["f1"].as_f64().unwrap() > 0.0);
    assert_eq!(stdout(&by_candidate), stdout(&by_completion));
}

#[test]
fn empty_inputs_are_bad_input_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let empty = empty.to_str().unwrap();
    for args in [
        vec!["score", "-c", empty, "-r", empty],
        vec!["score", "--input", empty],
    ] {
        let mut args = args.clone();
        args.extend(["-m", TINY_BERT, "-l", "2"]);
        let output = bertscore(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        let err = stderr(&output);
        assert!(
            err.contains(empty) && err.contains("the file is empty"),
            "{args:?}: {err}"
        );
        assert!(stdout(&output).is_empty());
    }
}
