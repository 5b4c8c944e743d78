//! Hostile inputs end with a named error instead of a panic, a hang or unbounded memory: nested JSON, lines
//! over `--max-line-bytes`, devices, FIFOs and directories as inputs, a window stride that would need too many
//! windows, and a model hub that accepts connections and never answers.

mod common;

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_fails_with, bertscore, repo_root, stderr};

const TINY_BERT: &str = "tests/fixtures/parity/models/tiny-bert";

/// Runs `bertscore` with `args` and `env`, killing it (and failing) past `limit`.
fn bertscore_within(args: &[&str], env: &[(&str, &str)], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bertscore"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bertscore runs");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "bertscore {args:?} still running after {limit:?}: {}",
                stderr(&output)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn write(dir: &tempfile::TempDir, name: &str, contents: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn json_nested_past_the_recursion_limit_is_a_named_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
    let array = write(&dir, "deep.json", format!("[\n{deep}\n]\n").as_bytes());
    let ok = write(
        &dir,
        "ok.jsonl",
        b"{\"completion\": \"a\", \"reference\": \"b\"}\n",
    );
    let output = bertscore(&["score", "--input", &array, "-m", TINY_BERT, "-l", "2"]);
    assert_fails_with(
        &output,
        2,
        &format!("{array}:2: not valid JSON: recursion limit exceeded"),
    );
    let output = bertscore(&["compare", &array, &ok, "-m", TINY_BERT, "-l", "2"]);
    assert_fails_with(
        &output,
        2,
        &format!("{array}:2: not valid JSON: recursion limit exceeded"),
    );
}

#[test]
fn a_line_over_the_limit_is_refused_naming_file_and_line_without_reading_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // 4 GiB of zero bytes and no newline, sparse: reading it whole would take gigabytes of memory.
    let huge = dir.path().join("huge.jsonl");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(4 << 30).unwrap();
    let huge = huge.to_str().unwrap();
    let (output, _) = bertscore_within(
        &["score", "--input", huge, "-m", TINY_BERT, "-l", "2"],
        &[],
        Duration::from_secs(60),
    );
    assert_fails_with(
        &output,
        2,
        &format!("{huge}:1: line longer than 67108864 bytes (--max-line-bytes"),
    );

    let texts = write(&dir, "texts.txt", b"short\na line of 25 bytes, past 20\n");
    let output = bertscore(&[
        "score",
        "-c",
        &texts,
        "-r",
        &texts,
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--max-line-bytes",
        "20",
    ]);
    assert_fails_with(&output, 2, &format!("{texts}:2: line longer than 20 bytes"));

    for bad in ["0", "1073741825"] {
        let output = bertscore(&["score", "-c", "a", "-r", "b", "--max-line-bytes", bad]);
        assert_fails_with(&output, 2, "--max-line-bytes");
    }
}

#[test]
fn devices_fifos_and_directories_are_refused_as_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo = fifo.to_str().unwrap();
    let dir_path = dir.path().to_str().unwrap();
    let ok = write(
        &dir,
        "ok.jsonl",
        b"{\"completion\": \"a\", \"reference\": \"b\"}\n",
    );
    for (args, named) in [
        (
            vec!["score", "--input", "/dev/zero"],
            "/dev/zero: a character device, not a regular file",
        ),
        (
            vec!["score", "-c", "/dev/zero", "-r", &ok],
            "/dev/zero: a character device, not a regular file",
        ),
        (
            vec!["score", "--input", fifo],
            &format!("{fifo}: a FIFO, not a regular file"),
        ),
        (
            vec!["compare", &ok, fifo],
            &format!("{fifo}: a FIFO, not a regular file"),
        ),
        (
            vec!["compare", dir_path, &ok],
            &format!("{dir_path}: a directory, not a regular file"),
        ),
        (
            vec!["matrix", "-c", fifo, "-r", &ok, "--format", "jsonl"],
            &format!("{fifo}: a FIFO, not a regular file"),
        ),
    ] {
        let mut args = args.clone();
        args.extend(["-m", TINY_BERT, "-l", "2"]);
        let (output, _) = bertscore_within(&args, &[], Duration::from_secs(60));
        // `score -c` says which option took the path; every message names the path and what it is.
        let (path, what) = named.split_once(": ").unwrap();
        assert_fails_with(&output, 2, path);
        assert_fails_with(&output, 2, what);
    }
}

#[test]
fn a_window_stride_needing_too_many_windows_is_refused_with_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 words: 20,000 content tokens for tiny-bert, 19,491 windows of 510 at stride 1.
    let long = "word ".repeat(20_000);
    let cands = write(&dir, "c.txt", format!("{long}\n").as_bytes());
    let refs = write(&dir, "r.txt", b"a reference\n");
    let output = bertscore(&[
        "score",
        "-c",
        &cands,
        "-r",
        &refs,
        "-m",
        TINY_BERT,
        "-l",
        "2",
        "--long-texts",
        "window",
        "--window-stride",
        "1",
    ]);
    assert_fails_with(
        &output,
        2,
        "text 1 has 20000 tokens: a stride of 1 makes 19491 windows of 510, more than the 16384 a text may \
         have; use a stride of at least 2",
    );
}

#[test]
fn a_silent_model_hub_ends_score_with_exit_3_naming_the_url() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept every connection and never answer (keep them open).
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let hf_home = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let (output, elapsed) = bertscore_within(
        &[
            "score",
            "-c",
            "a",
            "-r",
            "b",
            "-m",
            "someone/silent-model",
            "-l",
            "2",
        ],
        &[
            ("HF_ENDPOINT", &endpoint),
            ("HF_HOME", hf_home.path().to_str().unwrap()),
            ("HF_HUB_OFFLINE", "0"),
            ("BERTSCORE_CONNECT_TIMEOUT", "1"),
            ("BERTSCORE_READ_TIMEOUT", "2"),
        ],
        Duration::from_secs(60),
    );
    assert_fails_with(
        &output,
        3,
        &format!(
            "downloading config.json of someone/silent-model: no answer from \
             {endpoint}/someone/silent-model/resolve/main/config.json for 3 s \
             (BERTSCORE_CONNECT_TIMEOUT + BERTSCORE_READ_TIMEOUT)"
        ),
    );
    // The bound (3 s) and the moment given to the download thread (1 s), not minutes.
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");

    let mut bad = Command::new(env!("CARGO_BIN_EXE_bertscore"));
    bad.args(["score", "-c", "a", "-r", "b", "-m", "someone/model"])
        .env("HF_HOME", hf_home.path())
        .env("HF_HUB_OFFLINE", "0")
        .env("BERTSCORE_READ_TIMEOUT", "0")
        .current_dir(repo_root());
    let output = bad.output().unwrap();
    assert_fails_with(
        &output,
        2,
        "BERTSCORE_READ_TIMEOUT: \"0\" is not a whole number of seconds in 1..=3600",
    );
}
