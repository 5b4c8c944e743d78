//! Inputs are never outputs. Every command hands its input and output paths to [`check`] once, before any
//! work: each output must be writable ([`crate::output::check`]), must not be the same file as any input (same
//! device and inode, so symbolic links and hard links are seen through), and two outputs must not name the same
//! file. A refusal is exit 2 naming both paths and their options.
//!
//! An output that does not exist yet cannot be an input. Character devices (`/dev/null`, a terminal) are
//! streams, not files: reading one and writing it are independent, so they are never refused here.

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::exit::CliError;
use crate::output;

/// A path as the user gave it, with the option that gave it (`-o`, `--input`, `BASE`...).
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    pub option: &'a str,
    pub path: &'a Path,
}

impl<'a> Named<'a> {
    pub fn new(option: &'a str, path: &'a Path) -> Self {
        Self { option, path }
    }
}

impl std::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.option, self.path.display())
    }
}

/// Refuses (exit 2) an output that cannot be written, is the same file as an input, or is the same file as
/// another output. Inputs that do not exist (a literal text given where a file may be) are not files and are
/// skipped; their own readers say what is wrong with them.
pub fn check(inputs: &[Named<'_>], outputs: &[Named<'_>]) -> Result<(), CliError> {
    for out in outputs {
        output::check(out.path)?;
    }
    for out in outputs {
        let Some(written) = existing_file(out.path) else {
            continue;
        };
        for input in inputs {
            if existing_file(input.path).is_some_and(|read| same_file(&read, &written)) {
                return Err(CliError::bad_input(anyhow!(
                    "{out} is the same file as {input}: writing it would destroy the input; choose another \
                     output path"
                )));
            }
        }
    }
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[i + 1..] {
            if same_output(a.path, b.path) {
                return Err(CliError::bad_input(anyhow!(
                    "{a} and {b} name the same file: one would overwrite the other"
                )));
            }
        }
    }
    Ok(())
}

/// The file's metadata through symbolic links, unless it does not exist or is a character device.
fn existing_file(path: &Path) -> Option<Metadata> {
    std::fs::metadata(path)
        .ok()
        .filter(|meta| !meta.file_type().is_char_device())
}

fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Whether two outputs end up in the same file: the same inode when both exist, else the same place once
/// links and the directory are resolved.
fn same_output(a: &Path, b: &Path) -> bool {
    match (existing_file(a), existing_file(b)) {
        (Some(a), Some(b)) => same_file(&a, &b),
        _ => location(a) == location(b),
    }
}

/// Where a path's file is or will be: its last component's links followed, its directory made canonical.
fn location(path: &Path) -> PathBuf {
    let followed = output::follow_links(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match followed.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), followed.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => followed,
    }
}

/// What a path that exists is, in words, for messages about a path that is not a regular file where one is
/// needed; `None` for a regular file or a path that does not exist.
pub fn not_regular(path: &Path) -> Option<&'static str> {
    let kind = std::fs::metadata(path).ok()?.file_type();
    match () {
        _ if kind.is_file() => None,
        _ if kind.is_dir() => Some("a directory"),
        _ if kind.is_char_device() => Some("a character device"),
        _ if kind.is_block_device() => Some("a block device"),
        _ if kind.is_fifo() => Some("a FIFO"),
        _ if kind.is_socket() => Some("a socket"),
        _ => Some("not a regular file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(path: &Path) -> Named<'_> {
        Named::new("-x", path)
    }

    #[test]
    fn links_to_an_input_are_refused_and_new_files_pass() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, "a\n").unwrap();
        let hard = dir.path().join("hard.txt");
        std::fs::hard_link(&input, &hard).unwrap();
        let soft = dir.path().join("soft.txt");
        std::os::unix::fs::symlink("in.txt", &soft).unwrap();
        for out in [&input, &hard, &soft] {
            let error = check(&[Named::new("--input", &input)], &[named(out)]).unwrap_err();
            assert_eq!(error.exit, crate::exit::Exit::BadInput);
            let message = error.error.to_string();
            assert!(
                message.starts_with(&format!("-x {} is the same file as --input", out.display())),
                "{message}"
            );
        }
        let fresh = dir.path().join("new.txt");
        check(&[named(&input)], &[named(&fresh)]).unwrap();
        check(
            &[named(Path::new("/dev/null"))],
            &[named(Path::new("/dev/null"))],
        )
        .unwrap();
        // A literal text is not a file.
        check(&[named(Path::new("a candidate"))], &[named(&fresh)]).unwrap();
    }

    #[test]
    fn two_outputs_naming_one_new_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("out.txt");
        let b = dir.path().join(".").join("out.txt");
        let error = check(&[], &[named(&a), Named::new("--html", &b)]).unwrap_err();
        assert!(
            error.error.to_string().contains("name the same file"),
            "{}",
            error.error
        );
    }

    #[test]
    fn kinds_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(not_regular(dir.path()), Some("a directory"));
        assert_eq!(
            not_regular(Path::new("/dev/zero")),
            Some("a character device")
        );
        assert_eq!(not_regular(&dir.path().join("missing")), None);
    }
}
