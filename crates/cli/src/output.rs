//! Results leave in one piece: written to a temporary file beside the target and renamed over it, or printed to
//! stdout only once everything has been computed. A failure never leaves half an output behind.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::exit::CliError;

/// Writes `contents` to `path` atomically (same-directory temporary file, fsync, rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let result = (|| -> anyhow::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot create a file in {}", dir.display()))?;
        tmp.write_all(contents)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    })();
    result.map_err(CliError::runtime)
}

/// Sends a finished report to `path` (atomically) or to stdout.
pub fn emit(path: Option<&Path>, contents: &str) -> Result<(), CliError> {
    match path {
        Some(path) => write_atomic(path, contents.as_bytes()),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(contents.as_bytes())
                .and_then(|()| stdout.flush())
                .or_else(|e| {
                    // A closed pipe (`| head`) is the reader's choice, not our failure.
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .context("cannot write to stdout")
                .map_err(CliError::runtime)
        }
    }
}

/// A progress bar on stderr when stderr is a terminal; hidden otherwise so logs stay clean.
pub fn progress_bar(message: &'static str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} texts ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}
