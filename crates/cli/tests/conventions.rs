//! `bertscore --version` (version, commit, kernels), `bertscore completions SHELL` and `bertscore man`, from the
//! real binary.

mod common;

use std::process::Command;

use bertscore_engine::precision::{Precision, cpu_choice};
use common::{bertscore, repo_root, stderr, stdout};

#[test]
fn version_names_the_workspace_version_the_commit_and_the_kernels() {
    let output = bertscore(&["--version"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    // The crates share the workspace version; the wheels read it from Cargo too (pyproject `dynamic`).
    assert_eq!(
        lines[0],
        format!("bertscore {}", env!("CARGO_PKG_VERSION")),
        "{text}"
    );

    let commit = lines[1].strip_prefix("commit ").expect(&text);
    assert!(
        commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{text}"
    );
    // A commit of this repository (HEAD may have moved on since the build).
    let known = Command::new("git")
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(known.success(), "{commit} is not a commit of this checkout");

    // The kernels the engine chooses on this CPU, exact mode and --dtype fast.
    let exact = cpu_choice(Precision::F32).unwrap();
    assert_eq!(
        lines[2],
        format!(
            "kernel {}, {}: {}",
            exact.kernel(),
            exact.encoder(),
            exact.reason
        ),
        "{text}"
    );
    let fast = cpu_choice(Precision::Fast).unwrap();
    assert!(
        lines[3].starts_with(&format!("kernel (--dtype fast) {}", fast.kernel())),
        "{text}"
    );

    // -V: the version alone.
    let short = stdout(&bertscore(&["-V"]));
    assert_eq!(short.trim_end(), lines[0]);
}

#[test]
fn completions_are_produced_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _bertscore"),
        ("zsh", "#compdef bertscore"),
        ("fish", "complete -c bertscore"),
    ] {
        let output = bertscore(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(script.contains(marker), "{shell}: {script}");
        // Subcommands and their options come from the same clap definitions as --help (fish writes `-l NAME`).
        for word in ["compare", "fail-if-worse", "completions"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let unknown = bertscore(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
}

#[test]
fn the_man_page_is_roff_from_the_clap_definitions() {
    let output = bertscore(&["man"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let page = stdout(&output);
    assert!(
        page.starts_with(".TH bertscore 1") || page.contains("\n.TH bertscore 1"),
        "{page}"
    );
    assert!(page.contains(".SH NAME"), "{page}");
    assert!(
        page.contains(&format!("v{}", env!("CARGO_PKG_VERSION"))),
        "{page}"
    );
    assert!(
        !page.contains("\ncommit "),
        "the man page's version is the version alone: {page}"
    );
    for subcommand in ["score", "compare", "baseline", "completions"] {
        assert!(page.contains(subcommand), "man page lacks {subcommand}");
    }
}
