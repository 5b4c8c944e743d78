//! `bertscore-pipeline --version`, `completions SHELL` and `man`: the same conventions as `bertscore`
//! (crates/cli-conventions), from the real binary.

mod common;

use common::{pipeline, text};

#[test]
fn version_names_the_workspace_version_the_commit_and_the_kernel() {
    let output = pipeline().arg("--version").output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("bertscore-pipeline {}", env!("CARGO_PKG_VERSION")),
        "{stdout}"
    );
    let commit = lines[1].strip_prefix("commit ").expect(&stdout);
    assert!(
        commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{stdout}"
    );
    let exact =
        bertscore_engine::precision::cpu_choice(bertscore_engine::precision::Precision::F32)
            .unwrap();
    assert!(
        lines[2].starts_with(&format!("kernel {}", exact.kernel())),
        "{stdout}"
    );
}

#[test]
fn completions_and_the_man_page_are_produced() {
    for (args, marker) in [
        (
            &["completions", "bash"][..],
            // clap_complete names the function after the binary, `-` spelt `__`.
            "complete -F _bertscore__pipeline",
        ),
        (&["completions", "zsh"][..], "#compdef bertscore-pipeline"),
        (
            &["completions", "fish"][..],
            "complete -c bertscore-pipeline",
        ),
        (&["man"][..], ".TH bertscore-pipeline 1"),
    ] {
        let output = pipeline().args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", text(&output));
        let produced = String::from_utf8_lossy(&output.stdout);
        assert!(produced.contains(marker), "{args:?}: {produced}");
        for word in ["plan", "cleanup", "state"] {
            assert!(produced.contains(word), "{args:?} lacks {word}");
        }
    }
}
