//! Issue 19's minor items, end to end with the real binary and the real tiny model: a non-regular file where a
//! file of texts is needed is named for what it is (never "does not exist"), `mbr` refuses a repeated group id
//! naming it and both lines, and control characters in ids, names and messages never reach the terminal raw.

use std::path::Path;

mod common;
use common::{assert_fails_with, bertscore, stderr, stdout};

const TINY_BERT: &str = "tests/fixtures/parity/models/tiny-bert";
const MODEL: [&str; 4] = ["--model", TINY_BERT, "--num-layers", "2"];

fn with_model<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [args, &MODEL].concat()
}

#[test]
fn a_device_or_fifo_as_texts_is_named_for_what_it_is() {
    let refs = "datasets/bert-score-example/refs.txt";
    let run = bertscore(&with_model(&["score", "-c", "/dev/zero", "-r", refs]));
    assert_fails_with(
        &run,
        2,
        "/dev/zero: is a character device, not a regular file; -c takes a file",
    );
    assert!(!stderr(&run).contains("does not exist"), "{}", stderr(&run));

    let run = bertscore(&with_model(&[
        "score",
        "-c",
        "datasets/bert-score-example/hyps.txt",
        "-r",
        "/dev/zero",
    ]));
    assert_fails_with(
        &run,
        2,
        "/dev/zero: is a character device, not a regular file; -r takes a file",
    );

    // A FIFO nobody writes to is refused at once, not waited on.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("texts.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let run = bertscore(&with_model(&[
        "score",
        "-c",
        fifo.to_str().unwrap(),
        "-r",
        refs,
    ]));
    assert_fails_with(&run, 2, "is a FIFO, not a regular file");
}

#[test]
fn mbr_refuses_a_repeated_group_id_naming_it_and_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let groups = dir.path().join("groups.jsonl");
    std::fs::write(
        &groups,
        concat!(
            "{\"id\": \"q1\", \"samples\": [\"a cat\", \"a dog\"]}\n",
            "{\"id\": 1, \"samples\": [\"one\", \"two\"]}\n",
            "\n",
            "{\"id\": \"q1\", \"samples\": [\"rain\", \"snow\"]}\n",
        ),
    )
    .unwrap();
    let run = bertscore(&with_model(&["mbr", "--input", groups.to_str().unwrap()]));
    assert_fails_with(
        &run,
        2,
        &format!(
            "{}:4: duplicate group id \"q1\" (first at line 1)",
            groups.display()
        ),
    );
    assert!(stdout(&run).is_empty());

    // 1 and "1" are two ids, as they are written in the output.
    std::fs::write(
        &groups,
        "{\"id\": \"1\", \"samples\": [\"a\", \"b\"]}\n{\"id\": 1, \"samples\": [\"c\", \"d\"]}\n",
    )
    .unwrap();
    let run = bertscore(&with_model(&["mbr", "--input", groups.to_str().unwrap()]));
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(stdout(&run).lines().count(), 2);
}

/// Ids with an escape sequence (set the window title, clear the screen), a carriage return and a bidi override.
const HOSTILE_IDS: [&str; 3] = ["\u{1b}]0;owned\u{7}", "\u{1b}[2J\rfake", "abc\u{202e}fed"];

fn write_pairs(path: &Path, key: &str) {
    let lines: Vec<String> = HOSTILE_IDS
        .iter()
        .map(|id| {
            serde_json::json!({"id": id, key: "the cat sat", "reference": "a cat sat"}).to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn assert_no_raw_controls(text: &str) {
    for raw in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
        assert!(!text.contains(raw), "raw {raw:?} in {text:?}");
    }
}

#[test]
fn control_characters_in_ids_are_escaped_in_tables() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    write_pairs(&pairs, "candidate");
    let run = bertscore(&with_model(&[
        "score",
        "--input",
        pairs.to_str().unwrap(),
        "--format",
        "table",
    ]));
    assert!(run.status.success(), "{}", stderr(&run));
    let table = stdout(&run);
    assert_no_raw_controls(&table);
    assert!(table.contains("\\u{1b}]0;owned\\u{7}"), "{table}");
    assert!(table.contains("\\u{1b}[2J\\rfake"), "{table}");
    assert!(table.contains("abc\\u{202e}fed"), "{table}");

    // compare's table lists the largest changes by id.
    let base = dir.path().join("base.jsonl");
    let custom = dir.path().join("custom.jsonl");
    write_pairs(&base, "completion");
    std::fs::write(
        &custom,
        HOSTILE_IDS
            .iter()
            .enumerate()
            .map(|(i, id)| {
                serde_json::json!({"id": id, "completion": format!("a dog ran {i}"), "reference": "a cat sat"})
                    .to_string()
                    + "\n"
            })
            .collect::<String>(),
    )
    .unwrap();
    let run = bertscore(&with_model(&[
        "compare",
        base.to_str().unwrap(),
        custom.to_str().unwrap(),
    ]));
    assert!(run.status.success(), "{}", stderr(&run));
    assert_no_raw_controls(&stdout(&run));
    assert!(stdout(&run).contains("\\u{1b}"), "{}", stdout(&run));
}

#[test]
fn control_characters_in_error_messages_are_escaped() {
    // A file name with an escape sequence, quoted by the error naming the file and line.
    let dir = tempfile::tempdir().unwrap();
    let groups = dir.path().join("\u{1b}[31mgroups.jsonl");
    std::fs::write(&groups, "{\"id\": \"a\", \"samples\": 5}\n").unwrap();
    let run = bertscore(&with_model(&["mbr", "--input", groups.to_str().unwrap()]));
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert_no_raw_controls(&stderr(&run));
    assert!(
        stderr(&run).contains("\\u{1b}[31mgroups.jsonl:1: "),
        "{}",
        stderr(&run)
    );
}
