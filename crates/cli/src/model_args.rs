//! The options that choose a model and how it scores, shared by `score`, `compare` and `bench`.
//!
//! Both spellings are accepted: ours (`--num-layers`) and the `bert-score` CLI's (`--num_layers`), so existing
//! scripts keep working.

use std::path::PathBuf;

use anyhow::Context;
use bertscore_engine::{
    Backend, Baseline, DevicePreference, IdfMode, Precision, Scorer, ScorerOptions, registry,
};
use clap::{Args, ValueEnum};

use crate::exit::CliError;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    F32,
    Bf16,
    F16,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    /// The CPU fast path for BERT, RoBERTa, DistilBERT and MiniLM; candle for the rest
    Auto,
    /// candle with padded batches (the reference the fast path is tested against)
    Candle,
}

#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model: a local directory or a Hugging Face hub id [default: sentence-transformers/all-MiniLM-L6-v2, or
    /// bert_score's model for --lang]
    #[arg(short = 'm', long)]
    pub model: Option<String>,

    /// Language of the texts (bert_score's `--lang`): picks bert_score's default model for it when --model is
    /// not given, and the baseline file for --rescale-with-baseline
    #[arg(long)]
    pub lang: Option<String>,

    /// Use the hidden states of layer N (0 = embeddings) [default: the registry's recommended layer]
    #[arg(
        short = 'l',
        long = "num-layers",
        alias = "num_layers",
        value_name = "N"
    )]
    pub num_layers: Option<usize>,

    /// Weight tokens by inverse document frequency computed over the references
    #[arg(long)]
    pub idf: bool,

    /// Compute idf over this corpus (one text per line) instead of the references; implies --idf
    #[arg(long = "idf-corpus", value_name = "FILE")]
    pub idf_corpus: Option<PathBuf>,

    /// Rescale scores with bert_score's published baseline for the model and --lang (default en)
    #[arg(long = "rescale-with-baseline", alias = "rescale_with_baseline")]
    pub rescale_with_baseline: bool,

    /// Rescale with this baseline file (bert_score format: LAYER,P,R,F); implies --rescale-with-baseline
    #[arg(
        long,
        alias = "baseline_path",
        alias = "baseline-path",
        value_name = "FILE"
    )]
    pub baseline: Option<PathBuf>,

    /// Texts per encoder batch (scores do not depend on it)
    #[arg(
        short = 'b',
        long = "batch-size",
        alias = "batch_size",
        default_value_t = 64
    )]
    pub batch_size: usize,

    /// Worker threads [default: all cores] (scores do not depend on it)
    #[arg(long, alias = "nthreads", value_name = "N")]
    pub threads: Option<usize>,

    /// Where the encoder runs (cuda needs a build with --features cuda)
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,

    /// Encoder precision: f32 is exact (bert_score parity); f16 is the fast CPU mode (AVX512-FP16),
    /// bf16 is for CUDA
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,

    /// Encoder implementation (scores agree to 1e-4 either way)
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
}

impl ModelArgs {
    /// The model name as given, or the default for --lang, or the project default.
    pub fn model_spec(&self) -> String {
        match (&self.model, &self.lang) {
            (Some(model), _) => model.clone(),
            (None, Some(lang)) => registry::default_model_for_language(lang).to_string(),
            (None, None) => bertscore_hub::DEFAULT_MODEL.to_string(),
        }
    }

    /// Resolves the model, reads idf corpus and baseline files, and loads the scorer.
    pub fn load_scorer(&self) -> Result<Scorer, CliError> {
        self.load_scorer_with_idf_references(None)
    }

    /// As [`Self::load_scorer`]; with `--idf` (and no `--idf-corpus`), idf is computed over `idf_references`
    /// when given instead of over the references of the scored pairs. `compare` scores every item twice (base
    /// and custom), so it passes each item's references once to keep the document frequencies of `score`.
    pub fn load_scorer_with_idf_references(
        &self,
        idf_references: Option<Vec<String>>,
    ) -> Result<Scorer, CliError> {
        if self.batch_size == 0 {
            return Err(CliError::bad_input(anyhow::anyhow!(
                "--batch-size must be at least 1"
            )));
        }
        if self.threads == Some(0) {
            return Err(CliError::bad_input(anyhow::anyhow!(
                "--threads must be at least 1"
            )));
        }
        let spec = self.model_spec();
        let resolved = bertscore_hub::resolve(&spec).map_err(|e| match e {
            bertscore_hub::HubError::NotAModel(_) => CliError::bad_input(e),
            other => CliError::model(other),
        })?;

        let idf = match &self.idf_corpus {
            Some(path) => IdfMode::Corpus(crate::text_input::read_lines(path)?),
            None if self.idf => match idf_references {
                Some(references) => IdfMode::Corpus(references),
                None => IdfMode::References,
            },
            None => IdfMode::Off,
        };
        let mut options = ScorerOptions::new(&resolved.dir, &resolved.name);
        options.num_layers = self.num_layers;
        options.idf = idf;
        options.batch_size = self.batch_size;
        options.threads = self.threads;
        options.device = match self.device {
            DeviceArg::Cpu => DevicePreference::Cpu,
            DeviceArg::Cuda => DevicePreference::Cuda(0),
        };
        options.backend = match self.backend {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Candle => Backend::Candle,
        };
        options.precision = match self.dtype {
            DtypeArg::F32 => Precision::F32,
            DtypeArg::Bf16 => Precision::Bf16,
            DtypeArg::F16 => Precision::F16,
        };
        // The registry's layer for known models; for others the engine picks (and says) its own.
        options.num_layers = self
            .num_layers
            .or_else(|| registry::default_layer(&resolved.name));
        if self.rescaled() {
            let layer = options.num_layers.ok_or_else(|| {
                CliError::bad_input(anyhow::anyhow!(
                    "{} is not in the layer registry: give --num-layers to rescale with a baseline",
                    resolved.name
                ))
            })?;
            options.baseline = self.baseline(&resolved.name, layer)?;
        }
        Scorer::new(options).map_err(classify_engine_error)
    }

    /// The baseline to rescale with: a given file, or bert_score's file for (lang, model).
    fn baseline(&self, model: &str, layer: usize) -> Result<Option<Baseline>, CliError> {
        if let Some(path) = &self.baseline {
            return Baseline::from_file(path, layer)
                .map(Some)
                .map_err(CliError::bad_input);
        }
        if !self.rescale_with_baseline {
            return Ok(None);
        }
        let lang = self.lang.as_deref().unwrap_or("en");
        Baseline::builtin(lang, model, layer)
            .map_err(CliError::bad_input)?
            .map(Some)
            .with_context(|| {
                format!(
                    "no published baseline for model {model} and language {lang}; pass one with --baseline FILE"
                )
            })
            .map_err(CliError::bad_input)
    }

    /// Whether scores are rescaled (for reports).
    pub fn rescaled(&self) -> bool {
        self.rescale_with_baseline || self.baseline.is_some()
    }
}

/// Engine errors caused by the user's input are exit 2; the rest are model/runtime failures.
pub fn classify_engine_error(error: bertscore_engine::EngineError) -> CliError {
    use bertscore_engine::EngineError as E;
    match error {
        E::LayerOutOfRange { .. }
        | E::LengthMismatch { .. }
        | E::InvalidBaseline { .. }
        | E::InvalidFile { .. } => CliError::bad_input(error),
        E::MissingModelFile { .. } | E::UnsupportedArchitecture { .. } => CliError::model(error),
        _ => CliError::runtime(error),
    }
}
