//! Records the git commit the binaries are built from (`git rev-parse HEAD`) in `BERTSCORE_BUILD_COMMIT`.
//! Outside a git checkout (a source archive, an sdist) the `BERTSCORE_COMMIT` environment variable is used, else
//! `unknown`. Rebuilds when HEAD moves: the crate is a leaf, so only the binaries are relinked.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=BERTSCORE_COMMIT");
    let commit = match git(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            // HEAD, the branch it points to, and packed refs: the files a commit or checkout changes.
            for path in ["HEAD", "packed-refs"] {
                if let Some(file) = git(&["rev-parse", "--git-path", path]) {
                    println!("cargo:rerun-if-changed={}", PathBuf::from(file).display());
                }
            }
            if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
                && let Some(file) = git(&["rev-parse", "--git-path", &branch])
            {
                println!("cargo:rerun-if-changed={}", PathBuf::from(file).display());
            }
            commit
        }
        None => std::env::var("BERTSCORE_COMMIT").unwrap_or_else(|_| "unknown".into()),
    };
    println!("cargo:rustc-env=BERTSCORE_BUILD_COMMIT={commit}");
}
