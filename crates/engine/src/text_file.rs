//! Reading the files a user names (texts, records, corpora) with bounds: only regular files (a directory,
//! FIFO, socket or device is refused before it is opened, so a FIFO cannot hang the reader and
//! `/dev/zero` cannot fill the memory), and every line at most [`LineLimit`] bytes, checked while it is
//! read: memory never exceeds the limit for a line, whatever the file holds.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// `--max-line-bytes`' default: 64 MiB, far above any text a model keeps.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 << 20;

/// The largest `--max-line-bytes` accepted: 1 GiB.
pub const MAX_LINE_BYTES_BOUND: usize = 1 << 30;

/// The most bytes one line of an input file may hold (its `\n` not counted). A JSON-array file is one
/// document and is bounded as a whole by the same limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLimit(pub usize);

impl Default for LineLimit {
    fn default() -> Self {
        Self(DEFAULT_MAX_LINE_BYTES)
    }
}

/// Why an input file cannot be read. Messages name the file, and the 1-based line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The path is not a regular file.
    #[error("{path}: {what}, not a regular file")]
    NotRegular {
        /// The path given.
        path: PathBuf,
        /// What it is instead ("a directory", "a FIFO", ...).
        what: &'static str,
    },
    /// The file cannot be opened or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line is longer than the limit.
    #[error(
        "{path}:{line}: line longer than {limit} bytes (--max-line-bytes; at most {bound})",
        bound = MAX_LINE_BYTES_BOUND
    )]
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// A line is not UTF-8.
    #[error("{path}:{line}: invalid UTF-8 at byte {byte} of the line")]
    Utf8 {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The offset of the first invalid byte in the line.
        byte: usize,
    },
}

/// What a path is when it is not a regular file (`None` for a regular file). Follows symlinks.
fn not_regular(path: &Path) -> Result<Option<&'static str>, ReadError> {
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(path)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .file_type();
    Ok(if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else {
        Some("not a file")
    })
}

/// Opens `path` for reading when it is a regular file (checked before opening: opening a FIFO would block).
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    if let Some(what) = not_regular(path)? {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            what,
        });
    }
    File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The lines of a regular file as bytes (without `\n`; a `\r` before it is kept), each at most `limit`
/// bytes, numbered from 1. A final newline does not make an extra empty line; an empty file has none.
pub struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
    limit: usize,
    line: usize,
    done: bool,
}

impl Lines {
    /// Opens `path` (a regular file) to read its lines with `limit`.
    pub fn open(path: &Path, limit: LineLimit) -> Result<Self, ReadError> {
        Ok(Self {
            reader: BufReader::new(open_regular(path)?),
            path: path.to_path_buf(),
            limit: limit.0,
            line: 0,
            done: false,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next line and its 1-based number; `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<(usize, Vec<u8>)>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let mut buffer = Vec::new();
        // At most the limit and its '\n': a line that is too long shows as one byte more without a '\n'.
        let read = (&mut self.reader)
            .take(self.limit as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .map_err(|source| ReadError::Io {
                path: self.path.clone(),
                source,
            })?;
        if read == 0 {
            self.done = true;
            return Ok(None);
        }
        self.line += 1;
        if buffer.last() == Some(&b'\n') {
            buffer.pop();
        } else {
            // The end of the file, or the limit reached.
            self.done = true;
        }
        if buffer.len() > self.limit {
            return Err(ReadError::LineTooLong {
                path: self.path.clone(),
                line: self.line,
                limit: self.limit,
            });
        }
        Ok(Some((self.line, buffer)))
    }

    /// The next line as UTF-8 text.
    pub fn next_text(&mut self) -> Result<Option<(usize, String)>, ReadError> {
        let Some((line, bytes)) = self.next_line()? else {
            return Ok(None);
        };
        String::from_utf8(bytes)
            .map(|text| Some((line, text)))
            .map_err(|e| ReadError::Utf8 {
                path: self.path.clone(),
                line,
                byte: e.utf8_error().valid_up_to(),
            })
    }
}

/// A whole regular file as bytes, refused (naming line 1) when it holds more than `limit` bytes: for
/// documents read at once (a JSON array).
pub fn read_bounded(path: &Path, limit: LineLimit) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    open_regular(path)?
        .take(limit.0 as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > limit.0 {
        return Err(ReadError::LineTooLong {
            path: path.to_path_buf(),
            line: 1,
            limit: limit.0,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(contents: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), contents).unwrap();
        f
    }

    fn all(path: &Path, limit: usize) -> Result<Vec<(usize, Vec<u8>)>, ReadError> {
        let mut lines = Lines::open(path, LineLimit(limit))?;
        let mut out = Vec::new();
        while let Some(line) = lines.next_line()? {
            out.push(line);
        }
        Ok(out)
    }

    #[test]
    fn lines_are_numbered_and_a_final_newline_adds_none() {
        let f = file(b"ab\r\n\ncd\n");
        let lines = all(f.path(), 4).unwrap();
        assert_eq!(
            lines,
            [(1, b"ab\r".to_vec()), (2, Vec::new()), (3, b"cd".to_vec())]
        );
        assert!(all(file(b"").path(), 4).unwrap().is_empty());
        assert_eq!(all(file(b"x").path(), 4).unwrap(), [(1, b"x".to_vec())]);
    }

    #[test]
    fn a_line_at_the_limit_passes_and_one_byte_more_names_its_line() {
        let f = file(b"abcd\nabcd");
        assert_eq!(all(f.path(), 4).unwrap().len(), 2);
        for contents in [&b"abcd\nabcde\n"[..], b"abcd\nabcde", b"abcd\nabcdefghij"] {
            let f = file(contents);
            let message = all(f.path(), 4).unwrap_err().to_string();
            assert_eq!(
                message,
                format!(
                    "{}:2: line longer than 4 bytes (--max-line-bytes; at most {MAX_LINE_BYTES_BOUND})",
                    f.path().display()
                )
            );
        }
    }

    #[test]
    fn directories_fifos_and_devices_are_refused_without_opening() {
        let dir = tempfile::tempdir().unwrap();
        let message = all(dir.path(), 4).unwrap_err().to_string();
        assert!(
            message.ends_with("a directory, not a regular file"),
            "{message}"
        );
        let fifo = dir.path().join("fifo");
        make_fifo(&fifo);
        // Opening a FIFO without a writer would block forever: the check comes first.
        let message = all(&fifo, 4).unwrap_err().to_string();
        assert!(message.ends_with("a FIFO, not a regular file"), "{message}");
        let message = read_bounded(Path::new("/dev/zero"), LineLimit(4))
            .unwrap_err()
            .to_string();
        assert_eq!(message, "/dev/zero: a character device, not a regular file");
    }

    fn make_fifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn a_document_over_the_limit_is_refused() {
        let f = file(b"[\"abc\"]");
        assert_eq!(read_bounded(f.path(), LineLimit(7)).unwrap(), b"[\"abc\"]");
        assert!(matches!(
            read_bounded(f.path(), LineLimit(6)),
            Err(ReadError::LineTooLong { line: 1, .. })
        ));
    }

    #[test]
    fn invalid_utf8_names_line_and_byte() {
        let f = file(b"ok\nab\xff\n");
        let mut lines = Lines::open(f.path(), LineLimit::default()).unwrap();
        assert_eq!(lines.next_text().unwrap(), Some((1, "ok".to_string())));
        assert!(matches!(
            lines.next_text(),
            Err(ReadError::Utf8 {
                line: 2,
                byte: 2,
                ..
            })
        ));
    }
}
