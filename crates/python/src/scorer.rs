//! `bertscore_rs._native.Scorer`: one loaded model and its settings, behind `bertscore_rs.BERTScorer`.
//!
//! The model is loaded once, in the constructor; `score` may then be called any number of times, from any
//! number of Python threads at once (the GIL is released while the engine runs). idf weights can be set after
//! loading (`compute_idf`, or precomputed document frequencies or weights, as the Ray integration passes them)
//! without loading the model again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use bertscore_engine::idf::{DocumentFrequencies, TokenWeights};
use bertscore_engine::registry::{self, BaselineOrigin};
use bertscore_engine::{Baseline, IdfMode, PairScore, Scorer as EngineScorer};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::MODEL_LOADS;
use crate::error::{Failure, IntoPyResult};
use crate::groups::{self, MaximaLists};
use crate::options::ScoreArgs;

/// P, R and F as native-endian float32 bytes (numpy reads them without a copy per value), the engine's
/// warnings, and with `all_layers` the number of layers (the bytes then hold `layers × candidates` values,
/// layer-major).
type ScoreOutput<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Vec<String>,
    Option<usize>,
);

/// A loaded model (see the module docs).
#[pyclass(module = "bertscore_rs._native", name = "Scorer", frozen)]
pub struct Scorer {
    state: RwLock<State>,
    /// Whether idf weighting was asked for (bert_score's `BERTScorer(idf=True)`).
    idf: bool,
    lang: Option<String>,
    rescale_with_baseline: bool,
    baseline_path: Option<PathBuf>,
    /// `Some` with bert_score's `all_layers=True`: the baseline of each layer 0..=num_layers when
    /// rescaling, else `None` per layer.
    all_layers: Option<Vec<Option<Baseline>>>,
}

struct State {
    scorer: EngineScorer,
    /// Whether idf weights have been given (`compute_idf` or precomputed ones).
    idf_ready: bool,
}

impl Scorer {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic inside the engine cannot leave the state half-changed (writes only swap the weights).
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets idf weights computed elsewhere. With `idf=False` they are kept out of scoring, as bert_score
    /// ignores its `idf_dict` then.
    fn set_weights(&self, weights: TokenWeights) {
        let mut state = self.write();
        if self.idf {
            state.scorer.set_idf(IdfMode::Weights(weights));
        }
        state.idf_ready = true;
    }
}

#[pymethods]
impl Scorer {
    /// Resolves and loads the model (the GIL is released meanwhile). See `bertscore_rs.BERTScorer`.
    #[new]
    #[pyo3(signature = (
        model_type=None, num_layers=None, batch_size=64, nthreads=None, all_layers=false, idf=false,
        idf_sents=None, device=None, lang=None, rescale_with_baseline=false, baseline_path=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model_type: Option<String>,
        num_layers: Option<usize>,
        batch_size: usize,
        nthreads: Option<usize>,
        all_layers: bool,
        idf: bool,
        idf_sents: Option<Vec<String>>,
        device: Option<String>,
        lang: Option<String>,
        rescale_with_baseline: bool,
        baseline_path: Option<PathBuf>,
    ) -> PyResult<Self> {
        let args = ScoreArgs {
            model_type,
            num_layers,
            batch_size,
            nthreads,
            lang: lang.clone(),
            rescale_with_baseline,
            baseline_path: baseline_path.clone(),
            device,
        };
        let (scorer, layer_baselines) = py
            .detach(|| -> Result<_, Failure> {
                let scorer = EngineScorer::new(args.scorer_options(None)?)?;
                MODEL_LOADS.fetch_add(1, Ordering::Relaxed);
                let layers = scorer.num_layers();
                let layer_baselines = match all_layers {
                    true => Some(match args.layer_baselines(scorer.model_name(), layers)? {
                        Some(baselines) => baselines.into_iter().map(Some).collect(),
                        None => vec![None; layers + 1],
                    }),
                    false => None,
                };
                Ok((scorer, layer_baselines))
            })
            .into_py(py)?;
        let this = Self {
            state: RwLock::new(State {
                scorer,
                idf_ready: false,
            }),
            idf,
            lang,
            rescale_with_baseline,
            baseline_path,
            all_layers: layer_baselines,
        };
        if let Some(sents) = idf_sents {
            this.compute_idf(py, sents)?;
        }
        Ok(this)
    }

    /// Scores `cands[i]` against `refs[i]` (one or more references each; with several, P, R and F are each
    /// the maximum over them). Returns P, R, F as float32 bytes and the engine's warnings. `group_maxima`
    /// (`(longest candidates, longest references)`, one entry per flattened pair, from `group_maxima` over
    /// a whole input) scores this part of a larger input as one call over the whole input would.
    #[pyo3(signature = (cands, refs, group_maxima=None))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        cands: Vec<String>,
        refs: Vec<Vec<String>>,
        group_maxima: Option<MaximaLists>,
    ) -> PyResult<ScoreOutput<'py>> {
        let maxima = group_maxima
            .map(groups::from_lists)
            .transpose()
            .into_py(py)?;
        let report = py
            .detach(|| -> Result<_, Failure> {
                let state = self.read();
                if self.idf && !state.idf_ready {
                    return Err(Failure::bad_input(
                        "idf=True but no idf weights: call compute_idf(sentences) (or pass idf_sents) first, as \
                         bert_score's BERTScorer requires",
                    ));
                }
                let all_layers = self.all_layers.is_some();
                Ok(match (&maxima, all_layers) {
                    (Some(maxima), _) => {
                        state.scorer.score_part(&cands, &refs, maxima, all_layers)?
                    }
                    (None, false) => state.scorer.score(&cands, &refs)?,
                    (None, true) => state.scorer.score_all_layers(&cands, &refs, &|_, _| {})?,
                })
            })
            .into_py(py)?;
        // One layer: the scores as they are. All layers: layer-major, each rescaled with its own row.
        let scores: Vec<PairScore> = match &self.all_layers {
            None => report.scores,
            Some(baselines) => baselines
                .iter()
                .enumerate()
                .flat_map(|(layer, baseline)| {
                    report.layers.iter().map(move |per_layer| {
                        let score = per_layer[layer];
                        baseline.map_or(score, |b| b.rescale(score))
                    })
                })
                .collect(),
        };
        let bytes = |pick: fn(&PairScore) -> f64| {
            let values: Vec<u8> = scores
                .iter()
                .flat_map(|s| (pick(s) as f32).to_ne_bytes())
                .collect();
            PyBytes::new(py, &values)
        };
        Ok((
            bytes(|s| s.precision),
            bytes(|s| s.recall),
            bytes(|s| s.f1),
            report.warnings,
            self.all_layers.as_ref().map(Vec::len),
        ))
    }

    /// idf over `sents` (bert_score's `get_idf_dict`): each sentence is one document. Returns whether
    /// earlier weights were replaced.
    fn compute_idf(&self, py: Python<'_>, sents: Vec<String>) -> PyResult<bool> {
        py.detach(|| -> Result<bool, Failure> {
            let frequencies = self.read().scorer.document_frequencies(&sents)?;
            let replaced = self.read().idf_ready;
            self.set_weights(frequencies.into_idf());
            Ok(replaced)
        })
        .into_py(py)
    }

    /// Document frequencies of `texts` (each one document): `({token id: documents containing it}, documents)`.
    /// Summed over any split of a corpus, they give the corpus's idf (see `set_document_frequencies`).
    fn document_frequencies(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
    ) -> PyResult<(HashMap<u32, usize>, usize)> {
        py.detach(|| -> Result<_, Failure> {
            let frequencies = self.read().scorer.document_frequencies(&texts)?;
            Ok((frequencies.counts().clone(), frequencies.documents()))
        })
        .into_py(py)
    }

    /// idf from precomputed document frequencies: `idf(t) = ln((M + 1) / (df(t) + 1))`, `ln(M + 1)` for ids
    /// not in `counts`, with `M = num_documents`.
    fn set_document_frequencies(
        &self,
        py: Python<'_>,
        counts: HashMap<i64, i64>,
        num_documents: i64,
    ) -> PyResult<()> {
        let checked = || -> Result<DocumentFrequencies, Failure> {
            let documents = usize::try_from(num_documents).map_err(|_| {
                Failure::bad_input(format!(
                    "num_documents is {num_documents}; expected a count (>= 0)"
                ))
            })?;
            let mut table = HashMap::with_capacity(counts.len());
            for (&id, &count) in &counts {
                let id = u32::try_from(id).map_err(|_| {
                    Failure::bad_input(format!(
                        "document frequencies: token id {id} is not a token id (0..2^32)"
                    ))
                })?;
                if count < 0 || count > num_documents {
                    return Err(Failure::bad_input(format!(
                        "document frequencies: token id {id} is in {count} documents, outside 0..={num_documents} \
                         (num_documents)"
                    )));
                }
                table.insert(id, count as usize);
            }
            Ok(DocumentFrequencies::from_counts(table, documents))
        };
        let frequencies = checked().into_py(py)?;
        self.set_weights(frequencies.into_idf());
        Ok(())
    }

    /// Explicit per-token weights (bert_score's `idf_dict`): `weights[id]`, and `default` for other ids.
    fn set_idf_weights(
        &self,
        py: Python<'_>,
        weights: HashMap<i64, f64>,
        default: f64,
    ) -> PyResult<()> {
        let checked = || -> Result<TokenWeights, Failure> {
            if !default.is_finite() {
                return Err(Failure::bad_input(format!(
                    "idf weights: the default weight is {default}; expected a finite number"
                )));
            }
            let mut table = HashMap::with_capacity(weights.len());
            for (&id, &weight) in &weights {
                let id = u32::try_from(id).map_err(|_| {
                    Failure::bad_input(format!("idf weights: {id} is not a token id (0..2^32)"))
                })?;
                if !weight.is_finite() {
                    return Err(Failure::bad_input(format!(
                        "idf weights: token id {id} has weight {weight}; expected a finite number"
                    )));
                }
                table.insert(id, weight);
            }
            Ok(TokenWeights::from_table(table, default))
        };
        let weights = checked().into_py(py)?;
        self.set_weights(weights);
        Ok(())
    }

    /// Token ids of `text` as bert_score's `sent_encode` produces them (special tokens included).
    fn tokenize(&self, py: Python<'_>, text: String) -> PyResult<Vec<u32>> {
        py.detach(|| self.read().scorer.tokenize(&text)).into_py(py)
    }

    /// Each text's length in tokens as scoring counts it (special tokens included, after truncation): what
    /// `group_maxima` is computed from.
    fn token_lengths(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<Vec<usize>> {
        py.detach(|| self.read().scorer.token_lengths(&texts))
            .into_py(py)
    }

    /// bert_score's settings string (`get_hash`), e.g.
    /// `roberta-large_L17_no-idf_version=0.3.12(hug_trans=4.46.3)-rescaled_fast-tokenizer`.
    #[getter]
    fn hash(&self) -> String {
        let state = self.read();
        let options = state.scorer.options();
        let origin = options.baseline.map(|_| {
            if options.custom_baseline {
                BaselineOrigin::Custom
            } else {
                BaselineOrigin::Builtin
            }
        });
        let idf = if self.idf {
            IdfMode::References
        } else {
            IdfMode::Off
        };
        registry::settings_hash(
            state.scorer.model_name(),
            state.scorer.num_layers(),
            &idf,
            origin,
        )
    }

    /// The model's name (hub id, or the directory as given).
    #[getter]
    fn model_type(&self) -> String {
        self.read().scorer.model_name().to_string()
    }

    /// The layer whose hidden states are matched.
    #[getter]
    fn num_layers(&self) -> usize {
        self.read().scorer.num_layers()
    }

    /// Whether tokens are weighted by idf.
    #[getter]
    fn idf(&self) -> bool {
        self.idf
    }

    /// Whether idf weights have been set (`compute_idf`, `idf_sents` or precomputed ones).
    #[getter]
    fn idf_ready(&self) -> bool {
        self.read().idf_ready
    }

    /// The language given, if any.
    #[getter]
    fn lang(&self) -> Option<String> {
        self.lang.clone()
    }

    /// Whether scores are rescaled with a baseline.
    #[getter]
    fn rescale_with_baseline(&self) -> bool {
        self.rescale_with_baseline
    }

    /// The custom baseline file, if any.
    #[getter]
    fn baseline_path(&self) -> Option<String> {
        self.baseline_path
            .as_ref()
            .map(|path| path.display().to_string())
    }

    /// Whether scores are given for every layer 0..=num_layers (bert_score's `all_layers=True`).
    #[getter]
    fn all_layers(&self) -> bool {
        self.all_layers.is_some()
    }

    /// Texts per encoder batch.
    #[getter]
    fn batch_size(&self) -> usize {
        self.read().scorer.options().batch_size
    }

    /// Which implementation runs the encoder: `cpu-kernels` (the CPU fast path) or `candle`.
    #[getter]
    fn encoder(&self) -> &'static str {
        self.read().scorer.encoder_name()
    }

    /// Texts are truncated to this many tokens (special tokens included), as bert_score does.
    #[getter]
    fn max_tokens(&self) -> usize {
        self.read().scorer.max_tokens()
    }
}
