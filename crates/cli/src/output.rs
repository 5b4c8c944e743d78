//! Results go where the user pointed, in one piece, and nothing else is harmed.
//!
//! - A regular file (new or existing) is replaced atomically: a uniquely named temporary file in the same
//!   directory, written, fsynced, renamed over the target, directory fsynced. A failure never leaves half a
//!   file. A new file gets its mode from the umask (0666 & !umask, as `>` in a shell would); an existing file
//!   keeps its mode. A read-only file is refused, never overwritten.
//! - Anything else that exists (a character device such as `/dev/null` or a terminal, a FIFO, a socket) is
//!   written directly: a device is never replaced by a file.
//! - A symbolic link is followed: the link stays, its target is written (atomically when it is a regular file).
//! - Paths are checked with [`check`] before any work (exit 2 naming the path): a missing directory, a
//!   directory, a read-only file, a directory the file cannot be replaced in.
//! - Stdout is written only once everything has been computed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use rustix::fs::Access;

use crate::exit::CliError;
use crate::temp_files::TempFile;

/// More links than this in a chain is a loop (Linux's own limit is 40).
const MAX_SYMLINKS: usize = 40;

/// What a path names once its symbolic links are followed.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A regular file, replaced atomically; `existing` is `None` for a new file.
    Regular {
        path: PathBuf,
        existing: Option<Existing>,
    },
    /// A device or FIFO, opened and written in place.
    Special { path: PathBuf },
    /// A Unix socket: connected to and written.
    Socket { path: PathBuf },
}

/// What a replaced file keeps of the one it replaces.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Existing {
    /// Permission bits (without set-id bits).
    mode: u32,
    uid: u32,
    gid: u32,
}

/// Refuses, before any work, an output path that cannot be written (exit 2 naming it).
pub fn check(path: &Path) -> Result<(), CliError> {
    target(path).map(|_| ())
}

/// Writes `contents` to what `path` names (see the module documentation).
pub fn write(path: &Path, contents: &[u8]) -> Result<(), CliError> {
    // Classified again now: the path may have changed while the work ran.
    match target(path)? {
        Target::Regular {
            path: target,
            existing,
        } => replace_regular(path, &target, existing, contents),
        Target::Special { path: target } => {
            let written = OpenOptions::new()
                .write(true)
                .open(&target)
                .and_then(|mut file| write_all_allowing_closed_reader(&mut file, contents));
            written.map_err(|e| write_error(path, e))
        }
        Target::Socket { path: target } => {
            let written = UnixStream::connect(&target).and_then(|mut stream| {
                write_all_allowing_closed_reader(&mut stream, contents)?;
                stream.shutdown(std::net::Shutdown::Write)
            });
            written.map_err(|e| write_error(path, e))
        }
    }
}

/// Sends a finished report to `path` or, without one, to stdout.
pub fn emit(path: Option<&Path>, contents: &str) -> Result<(), CliError> {
    match path {
        Some(path) => write(path, contents.as_bytes()),
        None => write_all_allowing_closed_reader(&mut io::stdout().lock(), contents.as_bytes())
            .map_err(|e| {
                CliError::runtime(anyhow::Error::new(e).context("cannot write to stdout"))
            }),
    }
}

/// A closed pipe (`| head`, a FIFO reader that stopped) is the reader's choice, not our failure.
fn write_all_allowing_closed_reader(out: &mut impl Write, contents: &[u8]) -> io::Result<()> {
    match out.write_all(contents).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn refuse(path: &Path, why: impl std::fmt::Display) -> CliError {
    CliError::bad_input(anyhow!("cannot write {}: {why}", path.display()))
}

fn refuse_io(path: &Path, why: impl std::fmt::Display, error: io::Error) -> CliError {
    CliError::bad_input(
        anyhow::Error::new(error).context(format!("cannot write {}: {why}", path.display())),
    )
}

fn write_error(path: &Path, error: io::Error) -> CliError {
    CliError::runtime(anyhow::Error::new(error).context(format!("writing {}", path.display())))
}

/// The directory a path's file lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// `path` with every symbolic link of its last component followed (links inside directories are the
/// kernel's to follow). A dangling link gives its missing target: writing creates it, as `>` would.
pub(crate) fn follow_links(path: &Path) -> Result<PathBuf, CliError> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current)
                    .map_err(|e| refuse_io(path, "cannot read the symbolic link", e))?;
                current = if link.is_absolute() {
                    link
                } else {
                    parent_dir(&current).join(link)
                };
            }
            _ => return Ok(current),
        }
    }
    Err(refuse(path, "too many levels of symbolic links"))
}

/// What `path` names, or why it cannot be written.
fn target(path: &Path) -> Result<Target, CliError> {
    let resolved = follow_links(path)?;
    let meta = match fs::metadata(&resolved) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if resolved.as_os_str().as_encoded_bytes().ends_with(b"/") {
                return Err(refuse(path, "no such directory"));
            }
            let dir = parent_dir(&resolved);
            return match fs::metadata(dir) {
                Ok(d) if d.is_dir() => {
                    directory_writable(path, dir)?;
                    Ok(Target::Regular {
                        path: resolved,
                        existing: None,
                    })
                }
                Ok(_) => Err(refuse(
                    path,
                    format!("{} is not a directory", dir.display()),
                )),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(refuse(
                    path,
                    format!("directory {} does not exist", dir.display()),
                )),
                Err(e) => Err(refuse_io(path, format!("cannot use {}", dir.display()), e)),
            };
        }
        Err(e) => return Err(refuse_io(path, "cannot use the path", e)),
    };
    let file_type = meta.file_type();
    if file_type.is_dir() {
        return Err(refuse(path, "it is a directory"));
    }
    if file_type.is_file() {
        // Mode bits first: root passes every access check, and a read-only file is still not to be replaced.
        if meta.permissions().readonly() {
            return Err(refuse(
                path,
                "the file is read-only (not overwriting it; make it writable or choose another path)",
            ));
        }
        rustix::fs::access(&resolved, Access::WRITE_OK)
            .map_err(|e| refuse_io(path, "no permission to write the file", e.into()))?;
        directory_writable(path, parent_dir(&resolved))?;
        return Ok(Target::Regular {
            path: resolved,
            existing: Some(Existing {
                mode: meta.permissions().mode() & 0o777,
                uid: meta.uid(),
                gid: meta.gid(),
            }),
        });
    }
    rustix::fs::access(&resolved, Access::WRITE_OK)
        .map_err(|e| refuse_io(path, "no permission to write to it", e.into()))?;
    Ok(if file_type.is_socket() {
        Target::Socket { path: resolved }
    } else {
        Target::Special { path: resolved }
    })
}

/// A regular file is replaced by a rename, so its directory must take new entries.
fn directory_writable(path: &Path, dir: &Path) -> Result<(), CliError> {
    rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK).map_err(|e| {
        refuse_io(
            path,
            format!(
                "directory {} does not let a file be created in it",
                dir.display()
            ),
            e.into(),
        )
    })
}

/// Temporary file beside `target` (same file system, so the rename is atomic), fsync, rename, fsync the
/// directory. The mode is the existing file's (and its owner and group where we may set them), else 0666 as
/// the umask leaves it.
fn replace_regular(
    shown: &Path,
    target: &Path,
    existing: Option<Existing>,
    contents: &[u8],
) -> Result<(), CliError> {
    let mode = existing.map(|e| e.mode);
    let dir = parent_dir(target);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let result = (|| -> io::Result<()> {
        // Created with 0666 or the old mode, the umask applied by the kernel as for any new file.
        // Listed for removal if the process is interrupted (see crate::temp_files).
        let mut tmp = TempFile::create_in(
            tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".tmp")
                .permissions(fs::Permissions::from_mode(mode.unwrap_or(0o666))),
            dir,
        )?;
        if let Some(existing) = existing {
            // Best effort: the old owner and group (root may set both, an owner its own groups); a file
            // replaced by someone else otherwise becomes theirs, as with any editor's save.
            let _ =
                std::os::unix::fs::fchown(tmp.as_file(), Some(existing.uid), Some(existing.gid));
            let _ = std::os::unix::fs::fchown(tmp.as_file(), None, Some(existing.gid));
            // Exactly the old mode, whatever the umask would have removed (after chown, which clears set-id
            // bits).
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(existing.mode))?;
        }
        tmp.write_all(contents)?;
        tmp.as_file().sync_all()?;
        tmp.persist(target)?;
        // The rename itself is durable once the directory is synced.
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| write_error(shown, e))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_to_their_target() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("real.txt");
        std::fs::write(&file, "x").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        let chained = dir.path().join("chained.txt");
        std::os::unix::fs::symlink(&link, &chained).unwrap();
        assert_eq!(follow_links(&chained).unwrap(), dir.path().join("real.txt"));

        let looped = dir.path().join("loop");
        std::os::unix::fs::symlink("loop", &looped).unwrap();
        let error = follow_links(&looped).unwrap_err();
        assert!(error.error.to_string().contains("too many levels"));
    }

    #[test]
    fn devices_are_special_not_regular() {
        assert_eq!(
            target(Path::new("/dev/null")).unwrap(),
            Target::Special {
                path: "/dev/null".into()
            }
        );
        write(Path::new("/dev/null"), b"nothing").unwrap();
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}
