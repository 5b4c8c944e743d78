//! `bertscore_rs._native`: the Rust half of the `bertscore_rs` Python package (PyO3, built with maturin).
//!
//! The Python half (crates/python/python/bertscore_rs) gives it bert_score's API: `score`, `BERTScorer`,
//! numpy arrays, warnings. This module holds the model ([`scorer::Scorer`]), converts the options once
//! ([`options::ScoreArgs`] → the engine's `ScorerOptions`), runs `compare`, computes padding groups across
//! calls ([`groups`], for Ray), and turns every error into one
//! exception class with a kind ([`error::BertScoreError`]). The GIL is released whenever the engine runs.

mod compare;
mod error;
mod groups;
mod options;
mod scorer;

use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::prelude::*;

/// Models loaded by this process through this module (each `Scorer` construction and each `compare` call
/// loads one): what tests check "loaded once" against.
static MODEL_LOADS: AtomicUsize = AtomicUsize::new(0);

/// How many models this process has loaded through bertscore_rs so far.
#[pyfunction]
fn model_load_count() -> usize {
    MODEL_LOADS.load(Ordering::Relaxed)
}

/// The config.json `model_type`s the engine runs, from its one list (`bertscore models` prints the same).
#[pyfunction]
fn supported_model_types() -> Vec<&'static str> {
    bertscore_engine::models::supported_model_types().collect()
}

/// The extension module: the scorer class, compare, the exception class and a few constants.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BertScoreError", m.py().get_type::<error::BertScoreError>())?;
    m.add_class::<scorer::Scorer>()?;
    m.add_function(wrap_pyfunction!(compare::compare, m)?)?;
    m.add_function(wrap_pyfunction!(model_load_count, m)?)?;
    m.add_function(wrap_pyfunction!(supported_model_types, m)?)?;
    m.add_function(wrap_pyfunction!(groups::group_maxima, m)?)?;
    m.add("DEFAULT_MODEL", bertscore_hub::DEFAULT_MODEL)?;
    m.add(
        "BERT_SCORE_VERSION",
        bertscore_engine::registry::BERT_SCORE_VERSION,
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
