//! Reduced precisions on the CPU at hand: `Precision::Fast` stays within bert_score's accuracy
//! bound of f32 on the real MiniLM, and every precision either runs on its native kernels, says
//! that it falls back, or is refused: never a silent slow path.

use std::path::{Path, PathBuf};

use bertscore_engine::{EngineError, Precision, Scorer, ScorerOptions};
use bertscore_kernels::{Isa, WeightFormat};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lines(path: &str, n: usize) -> Vec<String> {
    std::fs::read_to_string(repo().join(path))
        .unwrap()
        .lines()
        .take(n)
        .map(str::to_string)
        .collect()
}

fn tiny(model: &str, precision: Precision) -> ScorerOptions {
    let dir = repo().join("tests/fixtures/parity/models").join(model);
    let mut options = ScorerOptions::new(dir, model);
    options.num_layers = Some(2);
    options.precision = precision;
    options
}

#[test]
fn fast_stays_within_1e3_of_f32_on_minilm() {
    let model = bertscore_hub::resolve(bertscore_hub::DEFAULT_MODEL).expect("default model");
    let cands = lines("datasets/bert-score-example/hyps_long.txt", 400);
    let refs: Vec<Vec<String>> = lines("datasets/bert-score-example/refs_long.txt", 400)
        .into_iter()
        .map(|r| vec![r])
        .collect();
    let mut options = ScorerOptions::new(&model.dir, &model.name);
    let exact = Scorer::new(options.clone()).unwrap();
    let exact = exact.score(&cands, &refs).unwrap().scores;
    options.precision = Precision::Fast;
    let fast = Scorer::new(options).unwrap();
    let kernel = fast.kernel().clone();
    let scores = fast.score(&cands, &refs).unwrap().scores;
    let deltas: Vec<f64> = exact
        .iter()
        .zip(&scores)
        .map(|(e, f)| (e.f1 - f.f1).abs())
        .collect();
    let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
    let max = deltas.iter().copied().fold(0.0, f64::max);
    println!(
        "fast = {} ({}) vs f32 on {} pairs: mean |ΔF1| {mean:.2e}, max {max:.2e}",
        kernel.precision,
        kernel.kernel(),
        deltas.len()
    );
    assert!(mean < 1e-3 && max < 5e-3, "mean {mean}, max {max}");
    match Isa::detect().fastest_reduced_precision() {
        Some((format, _)) => {
            assert_eq!(kernel.encoder(), "cpu-kernels");
            let expected = match format {
                WeightFormat::F16 => Precision::F16,
                WeightFormat::Bf16 => Precision::Bf16,
                WeightFormat::F32 => Precision::F32,
                WeightFormat::Int8 => Precision::Int8,
            };
            assert_eq!(kernel.precision, expected);
            assert!(kernel.fallback.is_none());
        }
        None => {
            assert_eq!(kernel.precision, Precision::F32);
            assert!(
                kernel
                    .fallback
                    .unwrap()
                    .contains("no native reduced precision")
            );
        }
    }
}

#[test]
fn every_precision_runs_natively_says_it_falls_back_or_is_refused() {
    let isa = Isa::detect();
    for precision in [
        Precision::F32,
        Precision::Bf16,
        Precision::F16,
        Precision::Fast,
        Precision::Int8,
    ] {
        let native = match precision {
            Precision::F32 => isa.runs_natively(WeightFormat::F32),
            Precision::Bf16 => isa.runs_natively(WeightFormat::Bf16),
            Precision::F16 => isa.runs_natively(WeightFormat::F16),
            Precision::Fast => isa.fastest_reduced_precision().is_some(),
            Precision::Int8 => isa.runs_natively(WeightFormat::Int8),
        };
        match Scorer::new(tiny("tiny-bert", precision)) {
            Ok(scorer) => {
                let kernel = scorer.kernel();
                assert_eq!(kernel.fallback.is_none(), native, "{precision}: {kernel:?}");
                assert_eq!(kernel.encoder(), scorer.encoder_name());
                if native {
                    assert_eq!(scorer.encoder_name(), "cpu-kernels", "{precision}");
                }
            }
            Err(EngineError::UnsupportedPrecision { hint, .. }) => {
                assert_eq!(precision, Precision::Bf16);
                assert!(!native);
                assert!(hint.contains("AVX512-BF16"), "{hint}");
            }
            Err(other) => panic!("{precision}: {other}"),
        }
    }
}

#[test]
fn fast_runs_f32_on_candle_for_a_model_without_a_fast_path() {
    let scorer = Scorer::new(tiny("tiny-deberta-v2", Precision::Fast)).unwrap();
    assert_eq!(scorer.encoder_name(), "candle");
    assert_eq!(scorer.kernel().precision, Precision::F32);
    assert!(
        scorer.kernel().reason.contains("no CPU fast path"),
        "{}",
        scorer.kernel().reason
    );
    // And bf16 there is refused rather than run on a path that has no bf16 CPU product.
    assert!(matches!(
        Scorer::new(tiny("tiny-deberta-v2", Precision::Bf16)),
        Err(EngineError::UnsupportedPrecision { .. })
    ));
}
