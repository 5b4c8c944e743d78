//! The options that choose a model and how it scores, shared by `score`, `compare` and `bench`: the command
//! line's view of the engine's [`ScorerSettings`], whose [`Default`] gives every default shown here.
//!
//! Both spellings are accepted: ours (`--num-layers`) and the `bert-score` CLI's (`--num_layers`), so existing
//! scripts keep working.

use std::path::PathBuf;

use anyhow::anyhow;
use bertscore_engine::settings::LongTextsMode;
use bertscore_engine::{Backend, DevicePreference, EngineError, Precision, Scorer, ScorerSettings};
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::exit::CliError;

/// A value parser accepting exactly the named values of a settings enum, with their help lines.
fn named_values<T>(
    named: &'static [(T, &'static str, &'static str)],
) -> impl TypedValueParser<Value = T>
where
    T: Copy + Send + Sync + 'static,
{
    PossibleValuesParser::new(
        named
            .iter()
            .map(|(_, name, help)| PossibleValue::new(*name).help(*help)),
    )
    .map(move |chosen| {
        named
            .iter()
            .find(|(_, name, _)| *name == chosen)
            .map(|(value, _, _)| *value)
            .expect("clap only passes a possible value")
    })
}

#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    // Its help names the supported model types, from the engine's list.
    #[arg(short = 'm', long, help = crate::models::model_help())]
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

    /// Texts per encoder batch, at most 4096 (scores do not depend on it)
    #[arg(
        short = 'b',
        long = "batch-size",
        alias = "batch_size",
        value_name = "N",
        default_value_t = ScorerSettings::default().batch_size
    )]
    pub batch_size: usize,

    /// Worker threads, at most 4 per core [default: all cores] (scores do not depend on it)
    #[arg(long, alias = "nthreads", value_name = "N")]
    pub threads: Option<usize>,

    /// Where the encoder runs: cpu, cuda or cuda:N (cuda needs a build with --features cuda)
    #[arg(
        long,
        value_name = "DEVICE",
        value_parser = str::parse::<DevicePreference>,
        default_value_t = ScorerSettings::default().device
    )]
    pub device: DevicePreference,

    /// Encoder precision
    #[arg(
        long,
        value_parser = named_values(Precision::NAMED),
        default_value_t = ScorerSettings::default().dtype
    )]
    pub dtype: Precision,

    /// Encoder implementation (scores agree to 1e-4 either way)
    #[arg(
        long,
        value_parser = named_values(Backend::NAMED),
        default_value_t = ScorerSettings::default().backend
    )]
    pub backend: Backend,

    /// Candidates scored per chunk: embeddings are held for one chunk at a time (scores do not depend on it)
    #[arg(
        long = "chunk-size",
        value_name = "N",
        default_value_t = ScorerSettings::default().chunk_size,
        hide_short_help = true
    )]
    pub chunk_size: usize,

    /// Texts longer than the model's window: truncate (as bert_score) or window (embedded whole in overlapping
    /// windows, each token taking the window where it has the most context)
    #[arg(
        long = "long-texts",
        value_name = "MODE",
        value_parser = str::parse::<LongTextsMode>,
        default_value_t = ScorerSettings::default().long_texts
    )]
    pub long_texts: LongTextsMode,

    /// With --long-texts window: tokens between window starts, 1 to the window's content [default: half the
    /// window]
    #[arg(long = "window-stride", value_name = "N")]
    pub window_stride: Option<usize>,

    /// How input files are read (--max-line-bytes).
    #[command(flatten)]
    pub input: crate::text_input::InputArgs,
}

impl ModelArgs {
    /// The engine settings these arguments choose: the one conversion from the command line.
    pub fn settings(&self) -> ScorerSettings {
        ScorerSettings {
            model: self.model.clone(),
            lang: self.lang.clone(),
            num_layers: self.num_layers,
            idf: self.idf,
            idf_corpus: self.idf_corpus.clone(),
            rescale_with_baseline: self.rescale_with_baseline,
            baseline: self.baseline.clone(),
            batch_size: self.batch_size,
            threads: self.threads,
            device: self.device,
            dtype: self.dtype,
            backend: self.backend,
            chunk_size: self.chunk_size,
            long_texts: self.long_texts,
            window_stride: self.window_stride,
        }
    }

    /// Validates the settings, resolves the model, reads idf corpus and baseline files, and loads the scorer.
    pub fn load_scorer(&self) -> Result<Scorer, CliError> {
        load_scorer(&self.settings(), None)
    }

    /// As [`Self::load_scorer`]; with `--idf` (and no `--idf-corpus`), idf is computed over `idf_references`
    /// when given instead of over the references of the scored pairs. `compare` scores every item twice (base
    /// and custom), so it passes each item's references once to keep the document frequencies of `score`.
    pub fn load_scorer_with_idf_references(
        &self,
        idf_references: Option<Vec<String>>,
    ) -> Result<Scorer, CliError> {
        load_scorer(&self.settings(), idf_references)
    }

    /// Checks the settings alone (no file read, no model loaded): for commands that want to fail on a bad
    /// option before reading their inputs.
    pub fn validate(&self) -> Result<(), CliError> {
        self.settings().validate().map_err(option_error)
    }

    /// The files these options read (`--idf-corpus`, `--baseline`), for [`crate::paths::check`].
    pub fn input_files(&self) -> Vec<crate::paths::Named<'_>> {
        let idf = self.idf_corpus.iter().map(|p| ("--idf-corpus", p));
        let baseline = self.baseline.iter().map(|p| ("--baseline", p));
        idf.chain(baseline)
            .map(|(option, path)| crate::paths::Named::new(option, path))
            .collect()
    }

    /// Whether scores are rescaled (for reports).
    pub fn rescaled(&self) -> bool {
        self.settings().rescaled()
    }
}

/// Validates `settings`, resolves the model (the project's default model when the settings name none),
/// and loads the scorer.
pub fn load_scorer(
    settings: &ScorerSettings,
    idf_references: Option<Vec<String>>,
) -> Result<Scorer, CliError> {
    settings.validate().map_err(option_error)?;
    let resolved = match settings.model_spec() {
        Some(spec) => bertscore_hub::resolve(&spec),
        None => bertscore_hub::resolve_default(),
    }?;
    let options = settings
        .scorer_options(&resolved.dir, &resolved.name, idf_references)
        .map_err(option_error)?;
    let scorer = Scorer::new(options).map_err(option_error)?;
    say_fallback_once(&scorer);
    Ok(scorer)
}

/// A slower path than the one asked for (no native kernel for the dtype on this CPU) is said on stderr, once
/// per process however many scorers are loaded.
fn say_fallback_once(scorer: &Scorer) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if let Some(note) = &scorer.kernel().fallback {
        let mut said = SAID.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !said.contains(note) {
            eprintln!("warning: {note}");
            said.push(note.clone());
        }
    }
}

/// An option error in the command line's words (`--batch-size: ...`); other engine errors as they are.
fn option_error(error: EngineError) -> CliError {
    match error {
        EngineError::InvalidOption { name, message } => {
            CliError::bad_input(anyhow!("--{}: {message}", name.replace('_', "-")))
        }
        other => classify_engine_error(other),
    }
}

/// An engine error with the exit code of its kind (mapped in [`crate::exit`], the one place that does).
pub fn classify_engine_error(error: EngineError) -> CliError {
    CliError::from(error)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        model: ModelArgs,
    }

    fn parse(args: &[&str]) -> ModelArgs {
        Cli::try_parse_from(std::iter::once("bertscore").chain(args.iter().copied()))
            .unwrap()
            .model
    }

    #[test]
    fn no_arguments_are_the_engine_defaults() {
        assert_eq!(parse(&[]).settings(), ScorerSettings::default());
    }

    #[test]
    fn arguments_reach_the_settings() {
        let settings = parse(&[
            "--model",
            "m",
            "--num_layers",
            "3",
            "--batch-size",
            "8",
            "--threads",
            "2",
            "--device",
            "cuda:1",
            "--dtype",
            "f16",
            "--backend",
            "candle",
            "--idf",
            "--chunk-size",
            "10",
        ])
        .settings();
        assert_eq!(settings.model.as_deref(), Some("m"));
        assert_eq!(settings.num_layers, Some(3));
        assert_eq!((settings.batch_size, settings.threads), (8, Some(2)));
        assert_eq!(settings.device, DevicePreference::Cuda(1));
        assert_eq!(settings.dtype, Precision::F16);
        assert_eq!(settings.backend, Backend::Candle);
        assert!(settings.idf);
        assert_eq!(settings.chunk_size, 10);
    }

    #[test]
    fn too_many_threads_is_bad_input_naming_the_flag() {
        let error = parse(&["--threads", "100000"]).validate().unwrap_err();
        assert_eq!(error.exit, crate::exit::Exit::BadInput);
        let message = error.error.to_string();
        assert!(
            message.starts_with("--threads: 100000 is more than the ")
                && message.contains("(4 per available core)"),
            "{message}"
        );
        let error = parse(&["--batch-size", "0"]).validate().unwrap_err();
        assert!(
            error
                .error
                .to_string()
                .starts_with("--batch-size: 0 is out of range")
        );
    }

    #[test]
    fn unknown_dtype_is_a_usage_error() {
        let cli = Cli::try_parse_from(["bertscore", "--dtype", "f64"]);
        assert!(cli.is_err());
    }
}
