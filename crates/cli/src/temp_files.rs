//! Interrupted commands leave no temporary files. Every temporary output file (written beside its target, then
//! renamed over it) is a [`TempFile`], listed in one registry while it exists. [`install`] starts a thread that
//! waits for SIGINT, SIGTERM or SIGHUP (the `signal-hook` crate's self-pipe, so no work happens inside a signal
//! handler), removes every listed file and ends the process with 128 + the signal's number: 130 for SIGINT, 143
//! for SIGTERM, 129 for SIGHUP, as a shell reports a process killed by that signal.
//!
//! Creating, renaming and dropping a file hold the registry's lock, and the cleanup holds it until the process
//! has ended, so a file is never created unlisted, nor removed after it was renamed into place.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The temporary files that exist now.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the thread that cleans up on SIGINT, SIGTERM and SIGHUP (once, at the start of the process).
pub fn install() -> io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("cleanup-on-signal".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let live = live();
                for path in live.iter() {
                    let _ = std::fs::remove_file(path);
                }
                // The lock is held until the process ends: nothing is created or renamed after the cleanup.
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
}

/// A temporary file in the registry: removed when dropped, when the process is interrupted, or renamed into
/// place by [`TempFile::persist`].
pub struct TempFile {
    /// Always `Some` until `persist` or `drop` takes it.
    file: Option<tempfile::NamedTempFile>,
}

impl TempFile {
    /// Creates a file in `dir` as `builder` says, listed before anyone can interrupt between the two.
    pub fn create_in(builder: &tempfile::Builder<'_, '_>, dir: &Path) -> io::Result<Self> {
        let mut live = live();
        let file = builder.tempfile_in(dir)?;
        live.push(file.path().to_path_buf());
        Ok(Self { file: Some(file) })
    }

    fn inner(&self) -> &tempfile::NamedTempFile {
        self.file
            .as_ref()
            .expect("present until persisted or dropped")
    }

    pub fn as_file(&self) -> &File {
        self.inner().as_file()
    }

    /// A second handle on the file (for a buffered writer that outlives a borrow).
    pub fn reopen(&self) -> io::Result<File> {
        self.inner().reopen()
    }

    /// Renames the file over `target` and takes it off the list, in one step for the cleanup.
    pub fn persist(mut self, target: &Path) -> io::Result<()> {
        let mut live = live();
        let file = self
            .file
            .take()
            .expect("present until persisted or dropped");
        let path = file.path().to_path_buf();
        let result = file.persist(target).map(drop).map_err(|e| e.error);
        // Renamed, or removed by the failed persist's drop: either way no longer ours to clean.
        live.retain(|p| *p != path);
        result
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("present").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("present").flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let mut live = live();
            let path = file.path().to_path_buf();
            drop(file); // removes it
            live.retain(|p| *p != path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_listed_while_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut kept =
            TempFile::create_in(tempfile::Builder::new().prefix(".k."), dir.path()).unwrap();
        let dropped =
            TempFile::create_in(tempfile::Builder::new().prefix(".d."), dir.path()).unwrap();
        assert!(live().contains(&kept.inner().path().to_path_buf()));
        let dropped_path = dropped.inner().path().to_path_buf();
        drop(dropped);
        assert!(!dropped_path.exists());
        assert!(!live().contains(&dropped_path));
        kept.write_all(b"rows").unwrap();
        let target = dir.path().join("out.npy");
        kept.persist(&target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"rows");
        assert!(!live().iter().any(|p| p.starts_with(dir.path())));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
