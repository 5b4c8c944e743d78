//! Interrupted commands leave no temporary files: the real binary, mid-run on an input large enough to be
//! busy, gets SIGTERM (or SIGINT); it must end with 128 + the signal (143, 130) and its output directory must
//! hold nothing but what was there before.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::repo_root;

const TINY_BERT: &str = "tests/fixtures/parity/models/tiny-bert";

/// A file of `n` distinct short texts, one per line.
fn texts(dir: &Path, name: &str, n: usize) -> PathBuf {
    let path = dir.join(name);
    let lines: Vec<String> = (0..n)
        .map(|i| format!("sentence number {i} says something about item {}", i % 97))
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bertscore"))
        .args(args)
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bertscore starts")
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `ready` holds (polling), panicking if the process ends first or it takes over a minute.
fn wait_until(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the command ended ({status}) before {what}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {what} after 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to the still running `child`, waits for it, and returns its exit code and stderr.
fn interrupt(mut child: Child, signal: &str) -> (Option<i32>, String) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "the command already ended: not mid-run"
    );
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `matrix --output-dir` writes P.npy, R.npy and F.npy through temporary files as large as the output; a
/// SIGTERM while they are being written removes them.
#[test]
fn matrix_interrupted_while_writing_leaves_no_temporary_file() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let inputs = tempfile::tempdir().unwrap();
        let cands = texts(inputs.path(), "cands.txt", 20_000);
        let refs = texts(inputs.path(), "refs.txt", 50);
        let out = tempfile::tempdir().unwrap();
        let mut child = spawn(&[
            "matrix",
            "-c",
            cands.to_str().unwrap(),
            "-r",
            refs.to_str().unwrap(),
            "--output-dir",
            out.path().to_str().unwrap(),
            "--model",
            TINY_BERT,
            "--num-layers",
            "2",
            "--chunk-size",
            "1",
            "--threads",
            "1",
        ]);
        // Mid-run: the three temporary matrices exist.
        wait_until(&mut child, "three temporary .npy files", || {
            entries(out.path())
                .iter()
                .filter(|n| n.contains(".npy."))
                .count()
                == 3
        });
        let (exit, stderr) = interrupt(child, signal);
        assert_eq!(exit, Some(code), "SIG{signal}: {stderr}");
        assert_eq!(entries(out.path()), Vec::<String>::new(), "SIG{signal}");
    }
}

/// `score -o` and `baseline -o` write their output through a temporary file at the end: interrupted while
/// scoring they end with 143 and leave the output directory as it was.
#[test]
fn score_and_baseline_interrupted_leave_their_directory_as_it_was() {
    let inputs = tempfile::tempdir().unwrap();
    let cands = texts(inputs.path(), "cands.txt", 40_000);
    let refs = texts(inputs.path(), "refs.txt", 40_000);
    let (c, r) = (cands.to_str().unwrap(), refs.to_str().unwrap());
    let out = tempfile::tempdir().unwrap();
    let score_out = out.path().join("scores.jsonl");
    let baseline_out = out.path().join("baseline.tsv");
    let runs: [Vec<&str>; 2] = [
        vec![
            "score",
            "-c",
            c,
            "-r",
            r,
            "--format",
            "jsonl",
            "--num-layers",
            "2",
            "-o",
            score_out.to_str().unwrap(),
        ],
        vec![
            "baseline",
            "--corpus",
            c,
            "--pairs",
            "20000",
            "-o",
            baseline_out.to_str().unwrap(),
        ],
    ];
    for args in runs {
        let args = [&args[..], &["--model", TINY_BERT, "--threads", "1"]].concat();
        let mut child = spawn(&args);
        // Past the checks and reading: give it a moment to be scoring.
        let start = Instant::now();
        wait_until(&mut child, "a second of work", || {
            start.elapsed() > Duration::from_secs(1)
        });
        let (exit, stderr) = interrupt(child, "TERM");
        assert_eq!(exit, Some(143), "{args:?}: {stderr}");
        assert_eq!(entries(out.path()), Vec::<String>::new(), "{args:?}");
    }
}
