//! `bertscore pipeline ARGS` runs `bertscore-pipeline ARGS` from the directory of the `bertscore` executable
//! (the AWS SDK lives only in that binary), or says how to build it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory holding this build's `bertscore` (hard-linked, so `current_exe` is inside it).
fn bertscore_alone() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let binary = dir.path().join("bertscore");
    let source = Path::new(env!("CARGO_BIN_EXE_bertscore"));
    if std::fs::hard_link(source, &binary).is_err() {
        std::fs::copy(source, &binary).unwrap();
    }
    (dir, binary)
}

#[test]
fn without_the_pipeline_binary_it_says_how_to_build_it() {
    let (_dir, bertscore) = bertscore_alone();
    let output = Command::new(&bertscore)
        .args(["pipeline", "status", "some-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cargo build -p bertscore-pipeline-cli"),
        "{stderr}"
    );
    assert!(stderr.contains("not installed next to"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn arguments_and_exit_code_pass_through_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, bertscore) = bertscore_alone();
    // A stand-in that shows what it was given: one argument per line, then exits 3.
    let stand_in = dir.path().join("bertscore-pipeline");
    std::fs::write(
        &stand_in,
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    for args in [
        vec!["--help"],
        vec!["--state-dir", "my runs", "status", "r-1", "--json"],
        vec!["run", "--config", "a b.toml", "--", "-x"],
    ] {
        let output = Command::new(&bertscore)
            .arg("pipeline")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3), "{args:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.lines().collect::<Vec<_>>(), args, "{args:?}");
    }
}
