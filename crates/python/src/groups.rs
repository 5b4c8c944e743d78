//! bert_score's padding groups across calls: `group_maxima` computes, over a whole input, each flattened
//! pair's longest candidate and reference of its group of 64 pairs, so that `Scorer.score(...,
//! group_maxima=...)` can score any part of the input (a Ray batch) exactly as one call over the whole input
//! scores it (the engine's `Scorer::score_part`, see its `matching` module for the rule).

use bertscore_engine::matching::{self, GroupMaxima};
use pyo3::prelude::*;

use crate::error::{Failure, IntoPyResult};

/// `(longest candidates, longest references)`, one entry each per flattened pair, as Python passes them.
pub type MaximaLists = (Vec<usize>, Vec<usize>);

/// Each flattened pair's group maxima, given the token lengths of every flattened pair of a whole input in
/// order (for each candidate, one pair per reference): `(longest candidates, longest references)`.
#[pyfunction]
pub fn group_maxima(
    py: Python<'_>,
    candidate_lengths: Vec<usize>,
    reference_lengths: Vec<usize>,
) -> PyResult<MaximaLists> {
    same_length(&candidate_lengths, &reference_lengths, "lengths").into_py(py)?;
    let lengths: Vec<(usize, usize)> = candidate_lengths
        .into_iter()
        .zip(reference_lengths)
        .collect();
    let maxima = py.detach(|| matching::group_maxima(&lengths));
    Ok(maxima.iter().map(|m| (m.candidate, m.reference)).unzip())
}

/// The engine's form of `(longest candidates, longest references)`.
pub fn from_lists((candidates, references): MaximaLists) -> Result<Vec<GroupMaxima>, Failure> {
    same_length(&candidates, &references, "group_maxima")?;
    Ok(candidates
        .into_iter()
        .zip(references)
        .map(|(candidate, reference)| GroupMaxima {
            candidate,
            reference,
        })
        .collect())
}

fn same_length(candidates: &[usize], references: &[usize], what: &str) -> Result<(), Failure> {
    if candidates.len() == references.len() {
        return Ok(());
    }
    Err(Failure::bad_input(format!(
        "{what}: {} candidate entries but {} reference entries; expected one of each per flattened pair",
        candidates.len(),
        references.len()
    )))
}
