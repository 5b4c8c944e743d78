//! No panic on any input: every file a `bertscore` command reads is given each entry of a corpus of malformed
//! inputs (deep JSON nesting, invalid UTF-8, NUL bytes, huge numbers, wrong types, truncated JSON, empty files, a
//! directory, /dev/null, a FIFO, and BOM/CRLF variants). A malformed input must end the command with exit 2 and a
//! message naming the file (and the line where there is one); an input that may be valid (a BOM, CRLF endings,
//! a NUL inside a text) must be scored or refused the same way. Never exit 101 (a panic), never a hang.
//!
//! Every failure is collected, so one run lists all of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::repo_root;

const TINY_BERT: &str = "tests/fixtures/parity/models/tiny-bert";
/// The longest a refusal may take (a FIFO nobody writes to must not be waited on).
const PATIENCE: Duration = Duration::from_secs(20);

/// What a file holds.
enum Contents {
    Bytes(Vec<u8>),
    Directory,
    DevNull,
    Fifo,
}

/// What the command must do with it.
#[derive(Clone, Copy)]
enum Expect {
    /// Exit 2 naming the file, and `file:line` (or `line N`) when a line is given.
    Refused { line: Option<usize> },
    /// Exit 0, or exit 2 naming the file: valid in some readers, not in others; never a panic.
    ScoredOrRefused,
}

struct Case {
    name: &'static str,
    contents: Contents,
    expect: Expect,
}

fn refused(line: Option<usize>) -> Expect {
    Expect::Refused { line }
}

fn nested(depth: usize, open: &str, close: &str) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

/// Malformed inputs every reader must refuse, whatever its format.
fn common_cases() -> Vec<Case> {
    vec![
        Case {
            name: "empty",
            contents: Contents::Bytes(vec![]),
            expect: refused(None),
        },
        Case {
            name: "directory",
            contents: Contents::Directory,
            expect: refused(None),
        },
        Case {
            name: "dev-null",
            contents: Contents::DevNull,
            expect: refused(None),
        },
        Case {
            name: "fifo",
            contents: Contents::Fifo,
            expect: refused(None),
        },
        Case {
            name: "invalid-utf8",
            contents: Contents::Bytes(b"bad \xff\xfe\n".to_vec()),
            expect: refused(Some(1)),
        },
    ]
}

/// Malformed JSON for the readers of JSON records (JSONL or a JSON array).
fn json_cases() -> Vec<Case> {
    let line = |s: String| Contents::Bytes(format!("{s}\n").into_bytes());
    vec![
        Case {
            name: "deep-array",
            contents: line(nested(200, "[", "]")),
            expect: refused(Some(1)),
        },
        Case {
            name: "deep-object",
            contents: line(format!("{}1{}", "{\"a\":".repeat(150), "}".repeat(150))),
            expect: refused(Some(1)),
        },
        Case {
            name: "deep-in-record",
            contents: line(format!(
                "{{\"id\": \"x\", \"candidate\": \"a\", \"samples\": [\"a\"], \"reference\": {}}}",
                nested(140, "[", "]")
            )),
            expect: refused(Some(1)),
        },
        Case {
            name: "huge-number",
            contents: line(
                "{\"id\": 1e999999, \"candidate\": 1e999999, \"samples\": 1e999999}".into(),
            ),
            expect: refused(Some(1)),
        },
        Case {
            name: "wrong-types",
            contents: line(
                "{\"id\": [1], \"candidate\": {\"x\": 1}, \"reference\": 5, \"samples\": \"s\"}"
                    .into(),
            ),
            expect: refused(Some(1)),
        },
        Case {
            name: "nul-in-json",
            contents: Contents::Bytes(
                b"{\"candidate\": \"a\0b\", \"reference\": \"c\"}\n".to_vec(),
            ),
            expect: refused(Some(1)),
        },
        Case {
            name: "truncated",
            contents: line("{\"candidate\": \"a\", \"refer".into()),
            expect: refused(Some(1)),
        },
        Case {
            name: "scalar",
            contents: line("42".into()),
            expect: refused(None),
        },
    ]
}

/// Inputs a one-text-per-line reader may take or refuse: ten lines each, like the files beside them.
fn text_cases() -> Vec<Case> {
    let ten = |prefix: &str, eol: &str, first: &str| {
        let body: String = (0..10)
            .map(|i| format!("{first}{prefix} text {i}{eol}"))
            .collect();
        body.into_bytes()
    };
    vec![
        Case {
            name: "bom",
            contents: Contents::Bytes([b"\xef\xbb\xbf".as_slice(), &ten("bom", "\n", "")].concat()),
            expect: Expect::ScoredOrRefused,
        },
        Case {
            name: "crlf",
            contents: Contents::Bytes(ten("crlf", "\r\n", "")),
            expect: Expect::ScoredOrRefused,
        },
        Case {
            name: "nul",
            contents: Contents::Bytes(ten("nul\0", "\n", "")),
            expect: Expect::ScoredOrRefused,
        },
        Case {
            name: "deep-json-as-text",
            contents: Contents::Bytes(ten(&nested(200, "[", "]"), "\n", "")),
            expect: Expect::ScoredOrRefused,
        },
    ]
}

/// Where a command reads a file: its arguments with `{}` for the file, and the file's format.
struct Slot {
    args: Vec<String>,
    json: bool,
}

fn slot(json: bool, args: &[&str]) -> Slot {
    let model = ["--model", TINY_BERT, "--num-layers", "2", "--threads", "1"];
    let args = args.iter().chain(&model).map(|a| a.to_string()).collect();
    Slot { args, json }
}

/// Every file input of every command, the other inputs valid.
fn slots(valid: &Path) -> Vec<Slot> {
    let v = |name: &str| valid.join(name).to_str().unwrap().to_string();
    let (base, custom) = (v("base.jsonl"), v("custom.jsonl"));
    let (hyps, refs) = (v("hyps.txt"), v("refs.txt"));
    vec![
        slot(true, &["score", "--input", "{}", "--format", "jsonl"]),
        slot(false, &["score", "-c", "{}", "-r", &refs]),
        slot(false, &["score", "-c", &hyps, "-r", "{}"]),
        slot(
            false,
            &["score", "-c", &hyps, "-r", &refs, "--idf-corpus", "{}"],
        ),
        slot(true, &["compare", "{}", &custom]),
        slot(true, &["compare", &base, "{}"]),
        slot(true, &["compare", &base, &custom, "--references", "{}"]),
        slot(true, &["mbr", "--input", "{}"]),
        slot(
            false,
            &["matrix", "-c", "{}", "-r", &refs, "--format", "jsonl"],
        ),
        slot(
            false,
            &["matrix", "-c", &hyps, "-r", "{}", "--format", "jsonl"],
        ),
        slot(false, &["baseline", "--corpus", "{}", "--pairs", "2"]),
        slot(true, &["baseline", "--pairs-file", "{}"]),
        slot(true, &["bench", "--input", "{}", "--pairs", "4"]),
    ]
}

/// Makes the file of `case` in `dir`; the path given to the command.
fn materialise(dir: &Path, index: usize, case: &Case) -> PathBuf {
    let path = dir.join(format!("{index:02}-{}.in", case.name));
    match &case.contents {
        Contents::Bytes(bytes) => std::fs::write(&path, bytes).unwrap(),
        Contents::Directory => std::fs::create_dir(&path).unwrap(),
        Contents::DevNull => return PathBuf::from("/dev/null"),
        Contents::Fifo => {
            let made = Command::new("mkfifo").arg(&path).status().unwrap();
            assert!(made.success(), "mkfifo {}", path.display());
        }
    }
    path
}

/// Runs the command, killing it after [`PATIENCE`]: `None` when it had to be killed.
fn run(args: &[String]) -> Option<(Option<i32>, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bertscore"))
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    Some((
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// What is wrong with the outcome, if anything.
fn judge(expect: Expect, file: &Path, outcome: Option<(Option<i32>, String)>) -> Option<String> {
    let Some((code, stderr)) = outcome else {
        return Some(format!("still running after {PATIENCE:?} (killed)"));
    };
    let shown = file.display().to_string();
    let names_file = stderr.contains(&shown);
    let stderr = stderr.trim();
    match (expect, code) {
        (_, Some(101)) => Some(format!("panicked: {stderr}")),
        (Expect::ScoredOrRefused, Some(0)) => None,
        (_, Some(2)) if !names_file => Some(format!("exit 2 without naming the file: {stderr}")),
        (Expect::Refused { line: Some(line) }, Some(2))
            if !stderr.contains(&format!("{shown}:{line}"))
                && !stderr.contains(&format!("line {line}")) =>
        {
            Some(format!("exit 2 without naming line {line}: {stderr}"))
        }
        (_, Some(2)) => None,
        (_, code) => Some(format!("exit {code:?} instead of 2: {stderr}")),
    }
}

#[test]
fn malformed_inputs_end_with_exit_2_naming_the_file_never_a_panic() {
    let valid = tempfile::tempdir().unwrap();
    for (name, source) in [
        (
            "pairs.jsonl",
            "tests/fixtures/parity/baseline-command/pairs.jsonl",
        ),
        ("base.jsonl", "datasets/dialogsum/base.jsonl"),
        ("custom.jsonl", "datasets/dialogsum/custom.jsonl"),
        ("hyps.txt", "datasets/bert-score-example/hyps.txt"),
        ("refs.txt", "datasets/bert-score-example/refs.txt"),
    ] {
        std::fs::copy(repo_root().join(source), valid.path().join(name)).unwrap();
    }
    let corpus = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut runs = 0;
    for (s, slot) in slots(valid.path()).iter().enumerate() {
        let cases = common_cases().into_iter().chain(if slot.json {
            json_cases()
        } else {
            text_cases()
        });
        for (c, case) in cases.enumerate() {
            let file = materialise(corpus.path(), s * 100 + c, &case);
            let args: Vec<String> = slot
                .args
                .iter()
                .map(|a| {
                    if a == "{}" {
                        file.to_str().unwrap().to_string()
                    } else {
                        a.clone()
                    }
                })
                .collect();
            runs += 1;
            if let Some(problem) = judge(case.expect, &file, run(&args)) {
                failures.push(format!(
                    "{} [{}]: {problem}",
                    args[..args.len() - 6].join(" "),
                    case.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
