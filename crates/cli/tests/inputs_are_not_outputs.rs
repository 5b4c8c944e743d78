//! Inputs are never outputs: every command refuses, with exit 2 and before any work, an output path that is the
//! same file as one of its inputs, whether reached through a hard link or a symbolic link, and the input is left
//! as it was. Without the check each of these commands runs (the real tiny model is given) and replaces the input
//! with its results.

use std::path::{Path, PathBuf};

mod common;
use common::{bertscore, repo_root, stderr};

const TINY_BERT: &str = "tests/fixtures/parity/models/tiny-bert";

/// How the output reaches the input.
#[derive(Debug, Clone, Copy)]
enum Link {
    Hard,
    Symbolic,
}

const LINKS: [Link; 2] = [Link::Hard, Link::Symbolic];

/// Copies a repository file into `dir` (the tests never touch the repository's own files).
fn copy(dir: &Path, repo_file: &str) -> PathBuf {
    let source = repo_root().join(repo_file);
    let target = dir.join(source.file_name().unwrap());
    std::fs::copy(&source, &target).unwrap();
    target
}

/// A new name for `input`, made with `link`.
fn link_to(input: &Path, link: Link, name: &str) -> PathBuf {
    let path = input.parent().unwrap().join(name);
    match link {
        Link::Hard => std::fs::hard_link(input, &path).unwrap(),
        Link::Symbolic => std::os::unix::fs::symlink(input, &path).unwrap(),
    }
    path
}

/// Runs `args` (where `{out}` is replaced by the output path) and asserts the refusal: exit 2, a message naming
/// the output and the input with their options, and the input unchanged.
fn assert_refused(args: &[&str], output: &Path, input: &Path, input_option: &str) {
    let before = std::fs::read(input).unwrap();
    let out = output.to_str().unwrap();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{out}" { out } else { a })
        .collect();
    let run = bertscore(&args);
    let message = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{args:?}: {message}");
    assert!(message.contains(out), "{message}");
    assert!(
        message.contains(&format!(
            "is the same file as {input_option} {}",
            input.display()
        )),
        "{message}"
    );
    assert_eq!(
        std::fs::read(input).unwrap(),
        before,
        "{args:?} changed its input"
    );
}

#[test]
fn score_refuses_an_output_that_is_its_input() {
    for link in LINKS {
        let dir = tempfile::tempdir().unwrap();
        let pairs = copy(
            dir.path(),
            "tests/fixtures/parity/baseline-command/pairs.jsonl",
        );
        let cands = copy(dir.path(), "datasets/bert-score-example/hyps.txt");
        let refs = copy(dir.path(), "datasets/bert-score-example/refs.txt");
        let model = ["--model", TINY_BERT, "--num-layers", "2"];

        let out = link_to(&pairs, link, "scores.jsonl");
        let input = pairs.to_str().unwrap();
        let args = [
            &[
                "score", "--input", input, "--format", "jsonl", "-o", "{out}",
            ][..],
            &model,
        ]
        .concat();
        assert_refused(&args, &out, &pairs, "--input");

        let (c, r) = (cands.to_str().unwrap(), refs.to_str().unwrap());
        for (target, option) in [(&cands, "-c"), (&refs, "-r")] {
            let out = link_to(target, link, &format!("out{option}.txt"));
            let args = [&["score", "-c", c, "-r", r, "-o", "{out}"][..], &model].concat();
            assert_refused(&args, &out, target, option);
        }
        // The files options read count too.
        let out = link_to(&refs, link, "idf-out.txt");
        let args = [
            &["score", "-c", c, "-r", r, "--idf-corpus", r, "-o", "{out}"][..],
            &model,
        ]
        .concat();
        assert_refused(&args, &out, &refs, "--idf-corpus");
    }
}

#[test]
fn compare_refuses_a_report_that_is_an_input() {
    for link in LINKS {
        let dir = tempfile::tempdir().unwrap();
        let base = copy(dir.path(), "datasets/dialogsum/base.jsonl");
        let custom = copy(dir.path(), "datasets/dialogsum/custom.jsonl");
        let (b, c) = (base.to_str().unwrap(), custom.to_str().unwrap());
        let model = ["--model", TINY_BERT, "--num-layers", "2"];

        let out = link_to(&base, link, "report.html");
        let args = [&["compare", b, c, "--html", "{out}"][..], &model].concat();
        assert_refused(&args, &out, &base, "BASE");

        let out = link_to(&custom, link, "report.json");
        let args = [&["compare", b, c, "--json", "-o", "{out}"][..], &model].concat();
        assert_refused(&args, &out, &custom, "CUSTOM");
    }
}

#[test]
fn mbr_refuses_an_output_that_is_its_input() {
    for link in LINKS {
        let dir = tempfile::tempdir().unwrap();
        let groups = copy(dir.path(), "datasets/mbr/samples.jsonl");
        let out = link_to(&groups, link, "choices.jsonl");
        let args = [
            "mbr",
            "--input",
            groups.to_str().unwrap(),
            "-o",
            "{out}",
            "--model",
            TINY_BERT,
            "--num-layers",
            "2",
        ];
        assert_refused(&args, &out, &groups, "--input");
    }
}

#[test]
fn layers_human_refuses_an_output_that_is_its_input() {
    for link in LINKS {
        let dir = tempfile::tempdir().unwrap();
        let human = copy(dir.path(), "datasets/layers-human/planted.jsonl");
        let out = link_to(&human, link, "layers.txt");
        let args = [
            "layers",
            "--human",
            human.to_str().unwrap(),
            "-o",
            "{out}",
            "--model",
            TINY_BERT,
            "--num-layers",
            "3",
        ];
        assert_refused(&args, &out, &human, "--human");
    }
}

#[test]
fn matrix_refuses_outputs_that_are_its_inputs() {
    for link in LINKS {
        let dir = tempfile::tempdir().unwrap();
        let cands = copy(dir.path(), "datasets/bert-score-example/hyps.txt");
        let refs = copy(dir.path(), "datasets/bert-score-example/refs.txt");
        let (c, r) = (cands.to_str().unwrap(), refs.to_str().unwrap());
        let model = ["--model", TINY_BERT, "--num-layers", "2"];

        let out = link_to(&cands, link, "rows.jsonl");
        let args = [
            &[
                "matrix", "-c", c, "-r", r, "--format", "jsonl", "-o", "{out}",
            ][..],
            &model,
        ]
        .concat();
        assert_refused(&args, &out, &cands, "-c");

        // --output-dir receives F.npy: here F.npy is the references.
        let out_dir = dir.path().join("matrices");
        std::fs::create_dir(&out_dir).unwrap();
        let f_npy = out_dir.join("F.npy");
        match link {
            Link::Hard => std::fs::hard_link(&refs, &f_npy).unwrap(),
            Link::Symbolic => std::os::unix::fs::symlink(&refs, &f_npy).unwrap(),
        }
        let args = [
            &[
                "matrix",
                "-c",
                c,
                "-r",
                r,
                "--output-dir",
                out_dir.to_str().unwrap(),
            ][..],
            &model,
        ]
        .concat();
        // The message names the file in the directory.
        let before = std::fs::read(&refs).unwrap();
        let run = bertscore(&args);
        let message = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{message}");
        assert!(
            message.contains(&format!(
                "--output-dir {} is the same file as -r {r}",
                f_npy.display()
            )),
            "{message}"
        );
        assert_eq!(std::fs::read(&refs).unwrap(), before);
    }
}

#[test]
fn baseline_refuses_an_output_that_is_its_corpus() {
    for link in LINKS {
        let dir = tempfile::tempdir().unwrap();
        let corpus = copy(dir.path(), "datasets/bert-score-example/refs.txt");
        let pairs = copy(
            dir.path(),
            "tests/fixtures/parity/baseline-command/pairs.jsonl",
        );
        let model = ["--model", TINY_BERT];

        let out = link_to(&corpus, link, "baseline.tsv");
        let args = [
            &[
                "baseline",
                "--corpus",
                corpus.to_str().unwrap(),
                "--pairs",
                "2",
                "-o",
                "{out}",
            ][..],
            &model,
        ]
        .concat();
        assert_refused(&args, &out, &corpus, "--corpus");

        let out = link_to(&pairs, link, "baseline-pairs.tsv");
        let args = [
            &[
                "baseline",
                "--pairs-file",
                pairs.to_str().unwrap(),
                "-o",
                "{out}",
            ][..],
            &model,
        ]
        .concat();
        assert_refused(&args, &out, &pairs, "--pairs-file");
    }
}

/// A new output file and an input in the same directory pass, and the command runs.
#[test]
fn a_new_output_beside_its_input_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let groups = copy(dir.path(), "datasets/mbr/samples.jsonl");
    let out = dir.path().join("choices.jsonl");
    let run = bertscore(&[
        "mbr",
        "--input",
        groups.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--model",
        TINY_BERT,
        "--num-layers",
        "2",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let written = std::fs::read_to_string(&out).unwrap();
    let groups_in = std::fs::read_to_string(&groups).unwrap();
    assert_eq!(written.lines().count(), groups_in.lines().count());
}
