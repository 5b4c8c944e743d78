//! `bertscore_rs._native.compare`: `bertscore compare --json` on Python lists (crates/compare's logic).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use bertscore_compare::{CompareSettings, Item};
use bertscore_engine::Scorer;
use pyo3::prelude::*;

use crate::MODEL_LOADS;
use crate::error::{Failure, IntoPyResult};
use crate::options::ScoreArgs;

/// Pairs the lists into items: ids default to the 1-based position, as `bertscore compare` names items of
/// files without ids.
fn items(
    base: Vec<String>,
    custom: Vec<String>,
    refs: Vec<Vec<String>>,
    ids: Option<Vec<String>>,
    prompts: Option<Vec<Option<String>>>,
) -> Result<Vec<Item>, Failure> {
    let n = base.len();
    let check = |name: &str, len: usize| {
        if len == n {
            Ok(())
        } else {
            Err(Failure::bad_input(format!(
                "{n} base outputs but {len} {name}: every item needs one of each"
            )))
        }
    };
    check("custom outputs", custom.len())?;
    check("reference entries", refs.len())?;
    if let Some(ids) = &ids {
        check("ids", ids.len())?;
        let mut seen = HashSet::new();
        if let Some(duplicate) = ids.iter().find(|id| !seen.insert(id.as_str())) {
            return Err(Failure::bad_input(format!(
                "id {duplicate:?} is given twice: ids name one item each"
            )));
        }
    }
    if let Some(prompts) = &prompts {
        check("prompts", prompts.len())?;
    }
    let ids = ids.unwrap_or_else(|| (1..=n).map(|i| i.to_string()).collect());
    let prompts = prompts.unwrap_or_else(|| vec![None; n]);
    Ok(ids
        .into_iter()
        .zip(prompts)
        .zip(base.into_iter().zip(custom))
        .zip(refs)
        .map(|(((id, prompt), (base, custom)), references)| Item {
            id,
            prompt,
            base,
            custom,
            references,
        })
        .collect())
}

/// Scores both models' outputs in one engine pass and returns the comparison as `bertscore compare --json`
/// writes it (a JSON document). idf, when asked, is computed over each item's references once.
#[pyfunction]
#[pyo3(signature = (
    base, custom, refs, ids=None, prompts=None, model_type=None, num_layers=None, idf=false, batch_size=64,
    lang=None, rescale_with_baseline=false, baseline_path=None, device=None, nthreads=None, bootstrap=10_000,
    permutations=10_000, seed=0, margin=0.0, alpha=0.05
))]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    base: Vec<String>,
    custom: Vec<String>,
    refs: Vec<Vec<String>>,
    ids: Option<Vec<String>>,
    prompts: Option<Vec<Option<String>>>,
    model_type: Option<String>,
    num_layers: Option<usize>,
    idf: bool,
    batch_size: usize,
    lang: Option<String>,
    rescale_with_baseline: bool,
    baseline_path: Option<PathBuf>,
    device: Option<String>,
    nthreads: Option<usize>,
    bootstrap: usize,
    permutations: usize,
    seed: u64,
    margin: f64,
    alpha: f64,
) -> PyResult<String> {
    let args = ScoreArgs {
        model_type,
        num_layers,
        batch_size,
        nthreads,
        lang,
        rescale_with_baseline,
        baseline_path,
        device,
    };
    let options = CompareSettings {
        bootstrap,
        permutations,
        seed,
        margin,
        alpha,
    };
    py.detach(|| -> Result<String, Failure> {
        let items = items(base, custom, refs, ids, prompts)?;
        options.validate()?;
        let idf_references = idf.then(|| bertscore_compare::idf_corpus(&items));
        let scorer = Scorer::new(args.scorer_options(idf_references)?)?;
        MODEL_LOADS.fetch_add(1, Ordering::Relaxed);
        let comparison = bertscore_compare::compare(&scorer, &items, &options)?;
        serde_json::to_string(&comparison)
            .map_err(|e| Failure::runtime(format!("the comparison cannot be written as JSON: {e}")))
    })
    .into_py(py)
}
