//! Reading the files a user points the pipeline at (data files, configs) and the run directory's own files
//! (`state.json`, `config.json`, outputs), bounded: only regular files are opened (a FIFO or a device would
//! block or never end, a directory is a mistake), and never more than the file's limit is read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The most a pipeline config (TOML) or Step Functions input (JSON) may hold.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// The most the evaluation prompts or references may hold (each file).
pub const MAX_EVAL_BYTES: u64 = 256 << 20;
/// The most a run directory's `state.json` or `config.json` may hold.
pub const MAX_STATE_BYTES: u64 = 64 << 20;
/// The most any other file of a run directory (items, outputs, comparison) may hold.
pub const MAX_RUN_FILE_BYTES: u64 = 1 << 30;

/// Why a file could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Not there, a directory, a FIFO, a device, a socket, or larger than the limit: the user must fix it.
    Unusable(String),
    /// Reading a regular file failed.
    Io(std::io::Error),
}

/// Checks that `path` is a regular file (following symlinks) without opening it.
pub(crate) fn check_regular(path: &Path) -> Result<u64, ReadError> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadError::Unusable("does not exist".into()));
        }
        Err(e) => return Err(ReadError::Io(e)),
    };
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(metadata.len());
    }
    let what = if kind.is_dir() {
        "a directory"
    } else {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_block_device() || kind.is_char_device() {
            "a device"
        } else {
            "not a regular file"
        }
    };
    Err(ReadError::Unusable(format!(
        "is {what}; a regular file is needed"
    )))
}

/// The bytes of the regular file `path`, at most `max` of them.
pub(crate) fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let size = check_regular(path)?;
    if size > max {
        return Err(too_large(size, max));
    }
    let file = File::open(path).map_err(ReadError::Io)?;
    // Checked again on the open file: it may have been replaced since.
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if !metadata.is_file() {
        return Err(ReadError::Unusable(
            "is not a regular file; a regular file is needed".into(),
        ));
    }
    let mut bytes = Vec::with_capacity(metadata.len().min(max) as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

/// [`read_limited`] as UTF-8 text.
pub(crate) fn read_text(path: &Path, max: u64) -> Result<String, ReadError> {
    let bytes = read_limited(path, max)?;
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        ReadError::Unusable(format!("line {line}: invalid UTF-8"))
    })
}

fn too_large(size: u64, max: u64) -> ReadError {
    ReadError::Unusable(format!("is {size} bytes or more; at most {max} are read"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_limited(&file, 5).unwrap(), b"12345");
        assert!(
            matches!(read_limited(&file, 4), Err(ReadError::Unusable(m)) if m.contains("at most 4"))
        );
        assert!(
            matches!(read_limited(dir.path(), 5), Err(ReadError::Unusable(m)) if m.contains("directory"))
        );
        assert!(
            matches!(read_limited(&dir.path().join("none"), 5), Err(ReadError::Unusable(m)) if m.contains("does not exist"))
        );
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Refused without opening it: opening a FIFO for reading would wait for a writer forever.
        assert!(
            matches!(read_limited(&fifo, 5), Err(ReadError::Unusable(m)) if m.contains("FIFO"))
        );
        assert!(
            matches!(read_limited(Path::new("/dev/zero"), 5), Err(ReadError::Unusable(m)) if m.contains("device"))
        );
        std::fs::write(&file, b"a\n\xff").unwrap();
        assert!(matches!(read_text(&file, 5), Err(ReadError::Unusable(m)) if m.contains("line 2")));
    }
}
