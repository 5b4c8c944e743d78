//! [`ScorerSettings`]: what a user chooses about scoring, in one serde type with its defaults and bounds.
//!
//! The `bertscore` command line and the pipeline's `[scoring]` TOML section are both views of this struct:
//! they convert into it, call [`ScorerSettings::validate`] before any work, and turn it into the engine's
//! [`ScorerOptions`] with [`ScorerSettings::scorer_options`] once the model is resolved. Every default is
//! written here, in [`Default`], and nowhere else.
//!
//! The enums the settings name ([`Precision`], [`DevicePreference`], [`Backend`]) are written as strings
//! (`"f32"`, `"cuda:1"`, `"candle"`) in TOML, JSON and on the command line; their names live here too.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::registry;
use crate::text_file::{LineLimit, Lines};
use crate::{
    Backend, Baseline, DEFAULT_CHUNK_SIZE, DevicePreference, EngineError, IdfMode, LongTexts,
    Precision, Result, ScorerOptions,
};

/// Most texts in one encoder batch: a padded batch of this many 512-token texts already holds gigabytes of
/// activations for a large model.
pub const MAX_BATCH_SIZE: usize = 4096;

/// Most candidates in one scoring chunk (their embeddings are held together).
pub const MAX_CHUNK_SIZE: usize = 1 << 20;

/// Worker threads are capped at this many per available core: more only adds scheduling and memory.
pub const THREADS_PER_CORE: usize = 4;

/// The scoring settings a user chooses: which model and layer, idf, rescaling (what a score means), and
/// batch size, threads, device, precision, backend, chunk size (how it is computed; scores do not depend on
/// these beyond the precision's rounding).
///
/// Every field has a default (see [`Default`]); in TOML or JSON a field left out takes it, and an unknown
/// field is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScorerSettings {
    /// A local model directory or a Hugging Face hub id. `None`: bert_score's model for [`Self::lang`] when
    /// a language is given, else the caller's default model (the hub crate's `DEFAULT_MODEL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Language of the texts (bert_score's `lang`): picks the default model and the built-in baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Layer whose hidden states are matched (0 = the embeddings). `None`: bert_score's recommended layer
    /// for the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_layers: Option<usize>,
    /// Weight tokens by inverse document frequency over the references (bert_score's `idf=True`).
    pub idf: bool,
    /// Compute idf over this file (one text per line) instead of the references; implies `idf`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idf_corpus: Option<PathBuf>,
    /// Rescale with bert_score's published baseline for the model and `lang` (default `en`).
    pub rescale_with_baseline: bool,
    /// Rescale with this baseline file (bert_score's `LAYER,P,R,F` format); implies `rescale_with_baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<PathBuf>,
    /// Texts per encoder batch, 1 to [`MAX_BATCH_SIZE`].
    pub batch_size: usize,
    /// Worker threads, 1 to [`THREADS_PER_CORE`] × the available cores. `None`: all cores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Where the encoder runs: `cpu`, `cuda` or `cuda:N`.
    pub device: DevicePreference,
    /// Encoder precision (`f32` is exact: bert_score parity).
    pub dtype: Precision,
    /// Encoder implementation.
    pub backend: Backend,
    /// Candidates scored per chunk, 1 to [`MAX_CHUNK_SIZE`]: embeddings are held for one chunk at a time.
    pub chunk_size: usize,
    /// Texts longer than the model's window: `truncate` (bert_score) or `window` (see [`LongTexts`]).
    pub long_texts: LongTextsMode,
    /// With `window`: tokens between window starts, 1 to the window's content. `None`: half the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_stride: Option<usize>,
}

/// How texts longer than the model's window are scored (the engine's [`LongTexts`] without its stride).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LongTextsMode {
    /// Cut to the window, as bert_score does.
    #[default]
    Truncate,
    /// Embedded whole in overlapping windows.
    Window,
}

impl FromStr for LongTextsMode {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "truncate" => Ok(Self::Truncate),
            "window" => Ok(Self::Window),
            _ => Err(format!(
                "unknown mode {text:?}: expected truncate or window"
            )),
        }
    }
}

impl fmt::Display for LongTextsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncate => "truncate",
            Self::Window => "window",
        })
    }
}

impl Default for ScorerSettings {
    fn default() -> Self {
        Self {
            model: None,
            lang: None,
            num_layers: None,
            idf: false,
            idf_corpus: None,
            rescale_with_baseline: false,
            baseline: None,
            batch_size: 64,
            threads: None,
            device: DevicePreference::default(),
            dtype: Precision::default(),
            backend: Backend::default(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            long_texts: LongTextsMode::Truncate,
            window_stride: None,
        }
    }
}

fn invalid(name: &str, message: impl Into<String>) -> EngineError {
    EngineError::InvalidOption {
        name: name.into(),
        message: message.into(),
    }
}

/// The most worker threads allowed on this machine: [`THREADS_PER_CORE`] × the available cores.
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    THREADS_PER_CORE * cores
}

/// The bounds every scorer checks, whether its options came from [`ScorerSettings`] or were built directly.
pub(crate) fn check_sizes(
    batch_size: usize,
    threads: Option<usize>,
    chunk_size: usize,
) -> Result<()> {
    if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
        return Err(invalid(
            "batch_size",
            format!("{batch_size} is out of range: use 1 to {MAX_BATCH_SIZE} texts per batch"),
        ));
    }
    if let Some(threads) = threads {
        let max = max_threads();
        if threads == 0 {
            return Err(invalid("threads", "must be at least 1"));
        }
        if threads > max {
            return Err(invalid(
                "threads",
                format!(
                    "{threads} is more than the {max} allowed on this machine ({THREADS_PER_CORE} per \
                     available core); leave it unset to use every core"
                ),
            ));
        }
    }
    if !(1..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        return Err(invalid(
            "chunk_size",
            format!("{chunk_size} is out of range: use 1 to {MAX_CHUNK_SIZE} candidates per chunk"),
        ));
    }
    Ok(())
}

impl ScorerSettings {
    /// Rejects settings no scorer could run with, naming the field: sizes out of their bounds, empty names,
    /// a device this build lacks. Reads no file (see [`Self::scorer_options`]).
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [("model", &self.model), ("lang", &self.lang)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(invalid(name, "must not be empty"));
            }
        }
        for (name, value) in [
            ("idf_corpus", &self.idf_corpus),
            ("baseline", &self.baseline),
        ] {
            if value.as_deref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(invalid(name, "must not be an empty path"));
            }
        }
        check_sizes(self.batch_size, self.threads, self.chunk_size)?;
        match (self.long_texts, self.window_stride) {
            (LongTextsMode::Truncate, Some(_)) => {
                return Err(invalid(
                    "window_stride",
                    "only applies with long_texts = window",
                ));
            }
            (LongTextsMode::Window, Some(0)) => {
                return Err(invalid(
                    "window_stride",
                    "0 is out of range: use at least 1",
                ));
            }
            _ => {}
        }
        if matches!(self.device, DevicePreference::Cuda(_)) && !cfg!(feature = "cuda") {
            return Err(EngineError::UnsupportedDevice {
                device: self.device.to_string(),
                reason: "this build has no CUDA support (build with --features cuda)".into(),
            });
        }
        Ok(())
    }

    /// The model to resolve: `model`, else bert_score's default model for `lang`; `None` when neither is
    /// given (the caller's default model applies).
    pub fn model_spec(&self) -> Option<String> {
        match (&self.model, &self.lang) {
            (Some(model), _) => Some(model.clone()),
            (None, Some(lang)) => Some(registry::default_model_for_language(lang).to_string()),
            (None, None) => None,
        }
    }

    /// Whether idf weighting is on (`idf`, or an `idf_corpus`).
    pub fn idf_enabled(&self) -> bool {
        self.idf || self.idf_corpus.is_some()
    }

    /// Whether scores are rescaled with a baseline (`rescale_with_baseline`, or a `baseline` file).
    pub fn rescaled(&self) -> bool {
        self.rescale_with_baseline || self.baseline.is_some()
    }

    /// The engine's options for these settings and a resolved model (`model_dir`, known as `model_name`):
    /// validates, picks bert_score's layer for the model when none is set, reads the idf corpus and the
    /// baseline. With idf on and no `idf_corpus`, `idf_references` (when given) is the corpus instead of the
    /// scored references: `compare` scores every item twice and passes each item's references once.
    pub fn scorer_options(
        &self,
        model_dir: &Path,
        model_name: &str,
        idf_references: Option<Vec<String>>,
    ) -> Result<ScorerOptions> {
        self.validate()?;
        let num_layers = self
            .num_layers
            .or_else(|| registry::default_layer(model_name));
        let idf = match &self.idf_corpus {
            Some(path) => {
                let documents = read_text_lines(path, LineLimit::default())?;
                // No documents: every idf weight would be log(1/1) = 0 and every score NaN.
                if documents.is_empty() {
                    return Err(invalid(
                        "idf_corpus",
                        format!(
                            "{}: no documents (an idf corpus needs at least one line)",
                            path.display()
                        ),
                    ));
                }
                IdfMode::Corpus(documents)
            }
            None if self.idf => idf_references.map_or(IdfMode::References, IdfMode::Corpus),
            None => IdfMode::Off,
        };
        let (baseline, custom_baseline) = if self.rescaled() {
            let layer = num_layers.ok_or_else(|| EngineError::UnknownDefaultLayer {
                model: model_name.to_string(),
            })?;
            match &self.baseline {
                Some(path) => (Some(Baseline::from_file(path, layer)?), true),
                None => {
                    let lang = self.lang.as_deref().unwrap_or("en");
                    let baseline = Baseline::builtin(lang, model_name, layer)?.ok_or_else(|| {
                        invalid(
                            "rescale_with_baseline",
                            format!(
                                "bert_score publishes no baseline for model {model_name} and language {lang}; \
                                 give a baseline file"
                            ),
                        )
                    })?;
                    (Some(baseline), false)
                }
            }
        } else {
            (None, false)
        };
        let mut options = ScorerOptions::new(model_dir, model_name);
        options.num_layers = num_layers;
        options.idf = idf;
        options.baseline = baseline;
        options.custom_baseline = custom_baseline;
        options.batch_size = self.batch_size;
        options.threads = self.threads;
        options.device = self.device;
        options.precision = self.dtype;
        options.backend = self.backend;
        options.chunk_size = self.chunk_size;
        options.long_texts = match self.long_texts {
            LongTextsMode::Truncate => LongTexts::Truncate,
            LongTextsMode::Window => LongTexts::Window {
                stride: self.window_stride,
            },
        };
        Ok(options)
    }
}

/// The lines of a UTF-8 text file, each stripped of surrounding whitespace as bert_score's CLI does
/// (`line.strip()`), `\n` or `\r\n` endings; a final newline does not make an extra empty line. Only a regular
/// file is read, each line at most `limit` bytes; invalid UTF-8 or a longer line is an error naming its line.
pub fn read_text_lines(path: &Path, limit: LineLimit) -> Result<Vec<String>> {
    let mut lines = Lines::open(path, limit)?;
    let mut out = Vec::new();
    while let Some((_, line)) = lines.next_text()? {
        out.push(line.trim().to_string());
    }
    Ok(out)
}

/// A settings enum written as a string: its names, each value's name, and parsing back.
macro_rules! named_values {
    ($type:ty, $what:literal, [$($value:path => $name:literal: $help:literal),+ $(,)?]) => {
        impl $type {
            /// Every value with its name and a one-line description (for `--help` and error messages).
            pub const NAMED: &'static [(Self, &'static str, &'static str)] = &[$(($value, $name, $help)),+];
        }

        impl FromStr for $type {
            type Err = String;
            fn from_str(text: &str) -> std::result::Result<Self, String> {
                Self::NAMED
                    .iter()
                    .find(|(_, name, _)| name.eq_ignore_ascii_case(text))
                    .map(|(value, _, _)| *value)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::NAMED.iter().map(|(_, name, _)| *name).collect();
                        format!("unknown {} {text:?}: expected one of {}", $what, names.join(", "))
                    })
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Exhaustive: a new variant does not compile until it is named here.
                f.write_str(match self {
                    $($value => $name),+
                })
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_values!(Precision, "dtype", [
    Precision::F32 => "f32": "exact: bert_score parity to 1e-4",
    Precision::F16 => "f16": "f16 linear layers (natively on CPUs with AVX512-FP16, and on CUDA)",
    Precision::Bf16 => "bf16": "bf16 linear layers, f32 sums (CPUs with AVX512-BF16, and CUDA)",
    Precision::Fast => "fast": "the fastest reduced precision this hardware runs natively",
    Precision::Int8 => "int8": "int8 linear layers, per-token scales, int32 sums (CPU kernels; VPDPBUSD on AVX512-VNNI)",
]);

named_values!(Backend, "backend", [
    Backend::Auto => "auto": "the CPU fast path for BERT, RoBERTa, DistilBERT and MiniLM; candle for the rest",
    Backend::Candle => "candle": "candle with padded batches (the reference the fast path is tested against)",
]);

impl DevicePreference {
    /// The device names accepted, with a description (`cuda:N` picks a GPU by ordinal).
    pub const NAMED: &'static [(&'static str, &'static str)] = &[
        ("cpu", "the CPU"),
        (
            "cuda",
            "the first CUDA GPU (`cuda:N` for GPU N); needs a build with --features cuda",
        ),
    ];
}

impl FromStr for DevicePreference {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let lower = text.to_ascii_lowercase();
        match lower.split_once(':') {
            None if lower == "cpu" => Ok(Self::Cpu),
            None if lower == "cuda" => Ok(Self::Cuda(0)),
            Some(("cuda", ordinal)) => ordinal.parse().map(Self::Cuda).map_err(|_| {
                format!("unknown device {text:?}: the GPU ordinal must be a number (cuda:0)")
            }),
            _ => Err(format!(
                "unknown device {text:?}: expected cpu, cuda or cuda:N"
            )),
        }
    }
}

impl fmt::Display for DevicePreference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(0) => f.write_str("cuda"),
            Self::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
        }
    }
}

impl Serialize for DevicePreference {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DevicePreference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(error: EngineError) -> String {
        match error {
            EngineError::InvalidOption { name, .. } => name,
            other => panic!("expected InvalidOption, got {other}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_round_trip_through_json() {
        let defaults = ScorerSettings::default();
        defaults.validate().unwrap();
        let json = serde_json::to_value(&defaults).unwrap();
        assert_eq!(json["batch_size"], 64);
        assert_eq!(json["device"], "cpu");
        assert_eq!(json["dtype"], "f32");
        assert_eq!(json["backend"], "auto");
        assert!(
            json.get("model").is_none(),
            "unset options are left out: {json}"
        );
        assert_eq!(
            serde_json::from_value::<ScorerSettings>(json).unwrap(),
            defaults
        );
        // An empty document is the defaults.
        assert_eq!(
            serde_json::from_str::<ScorerSettings>("{}").unwrap(),
            defaults
        );
    }

    #[test]
    fn every_field_round_trips() {
        let settings = ScorerSettings {
            model: Some("roberta-large".into()),
            lang: Some("en".into()),
            num_layers: Some(17),
            idf: true,
            idf_corpus: Some("corpus.txt".into()),
            rescale_with_baseline: true,
            baseline: Some("b.tsv".into()),
            batch_size: 8,
            threads: Some(1),
            device: DevicePreference::Cuda(1),
            dtype: Precision::F16,
            backend: Backend::Candle,
            chunk_size: 100,
            long_texts: LongTextsMode::Window,
            window_stride: Some(100),
        };
        let json = serde_json::to_string(&settings).unwrap();
        assert!(json.contains("\"long_texts\":\"window\""), "{json}");
        assert!(json.contains("\"device\":\"cuda:1\""), "{json}");
        assert_eq!(
            serde_json::from_str::<ScorerSettings>(&json).unwrap(),
            settings
        );
    }

    #[test]
    fn unknown_fields_and_names_are_rejected() {
        let error = serde_json::from_str::<ScorerSettings>(r#"{"batch_sise": 3}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `batch_sise`"),
            "{error}"
        );
        let error = serde_json::from_str::<ScorerSettings>(r#"{"dtype": "f64"}"#).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unknown dtype \"f64\": expected one of f32, f16, bf16, fast"),
            "{error}"
        );
        assert_eq!(
            "CUDA:2".parse::<DevicePreference>(),
            Ok(DevicePreference::Cuda(2))
        );
        assert!("cuda:x".parse::<DevicePreference>().is_err());
        assert!("tpu".parse::<DevicePreference>().is_err());
    }

    #[test]
    fn sizes_are_bounded() {
        let with = |change: fn(&mut ScorerSettings)| {
            let mut settings = ScorerSettings::default();
            change(&mut settings);
            settings.validate()
        };
        assert_eq!(
            name_of(with(|s| s.batch_size = 0).unwrap_err()),
            "batch_size"
        );
        assert_eq!(
            name_of(with(|s| s.batch_size = MAX_BATCH_SIZE + 1).unwrap_err()),
            "batch_size"
        );
        with(|s| s.batch_size = MAX_BATCH_SIZE).unwrap();
        assert_eq!(
            name_of(with(|s| s.threads = Some(0)).unwrap_err()),
            "threads"
        );
        assert_eq!(
            name_of(with(|s| s.chunk_size = 0).unwrap_err()),
            "chunk_size"
        );
        assert_eq!(
            name_of(with(|s| s.model = Some(" ".into())).unwrap_err()),
            "model"
        );
    }

    #[test]
    fn threads_are_capped_at_four_per_core() {
        let cores = std::thread::available_parallelism().unwrap().get();
        let mut settings = ScorerSettings {
            threads: Some(4 * cores),
            ..ScorerSettings::default()
        };
        settings.validate().unwrap();
        settings.threads = Some(4 * cores + 1);
        let error = settings.validate().unwrap_err();
        assert!(
            error.to_string().contains("(4 per available core)"),
            "{error}"
        );
        settings.threads = Some(100_000);
        assert_eq!(name_of(settings.validate().unwrap_err()), "threads");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_bad_input() {
        let settings = ScorerSettings {
            device: DevicePreference::Cuda(0),
            ..ScorerSettings::default()
        };
        let error = settings.validate().unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::BadInput);
        assert!(error.to_string().contains("--features cuda"), "{error}");
    }

    #[test]
    fn model_spec_prefers_model_then_language() {
        let mut settings = ScorerSettings::default();
        assert_eq!(settings.model_spec(), None);
        settings.lang = Some("zh".into());
        assert_eq!(settings.model_spec().as_deref(), Some("bert-base-chinese"));
        settings.model = Some("m".into());
        assert_eq!(settings.model_spec().as_deref(), Some("m"));
    }

    #[test]
    fn options_carry_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus.txt");
        std::fs::write(&corpus, " a \r\nb\n").unwrap();
        let baseline = dir.path().join("b.tsv");
        std::fs::write(&baseline, "LAYER,P,R,F\n0,0.1,0.2,0.3\n1,0.4,0.5,0.6\n").unwrap();
        let settings = ScorerSettings {
            num_layers: Some(1),
            idf_corpus: Some(corpus),
            baseline: Some(baseline),
            batch_size: 3,
            threads: Some(1),
            ..ScorerSettings::default()
        };
        let options = settings.scorer_options(dir.path(), "m", None).unwrap();
        assert_eq!(options.idf, IdfMode::Corpus(vec!["a".into(), "b".into()]));
        assert_eq!(options.baseline.unwrap().precision, f64::from(0.4f32));
        assert!(options.custom_baseline);
        assert_eq!(
            (options.num_layers, options.batch_size, options.threads),
            (Some(1), 3, Some(1))
        );

        // idf over the given references when there is no corpus; the registry's layer for known models.
        let settings = ScorerSettings {
            idf: true,
            ..ScorerSettings::default()
        };
        let options = settings
            .scorer_options(dir.path(), "roberta-large", Some(vec!["r".into()]))
            .unwrap();
        assert_eq!(options.idf, IdfMode::Corpus(vec!["r".into()]));
        assert_eq!(options.num_layers, Some(17));

        // Rescaling needs a layer.
        let settings = ScorerSettings {
            rescale_with_baseline: true,
            ..ScorerSettings::default()
        };
        let error = settings
            .scorer_options(dir.path(), "unknown/model", None)
            .unwrap_err();
        assert!(
            matches!(error, EngineError::UnknownDefaultLayer { .. }),
            "{error}"
        );
    }

    #[test]
    fn text_lines_name_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.txt");
        std::fs::write(&path, b"ok\nbad \xff\n").unwrap();
        let error = read_text_lines(&path, LineLimit::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{}:2: invalid UTF-8 at byte 4 of the line", path.display())
        );
        std::fs::write(&path, b"").unwrap();
        assert!(
            read_text_lines(&path, LineLimit::default())
                .unwrap()
                .is_empty()
        );
        std::fs::write(&path, b"\n").unwrap();
        assert_eq!(read_text_lines(&path, LineLimit::default()).unwrap(), [""]);
    }
}
