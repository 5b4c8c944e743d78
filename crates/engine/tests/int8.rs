//! `--dtype int8` on the CPU fast path: every score is the same whatever the batch, thread and
//! chunk sizes (each token row is quantized with its own scale), and int8 stays within mean
//! |ΔF1| 1e-3 of f32 on the tiny fixture models (BERT, RoBERTa, DistilBERT, ModernBERT, Qwen3)
//! and on all-MiniLM-L6-v2 (the default model).

mod common;

use bertscore_engine::{PairScore, Precision, Scorer, ScorerOptions};
use bertscore_kernels::{Isa, WeightFormat};

fn lines(path: &str, n: usize) -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path))
        .unwrap()
        .lines()
        .take(n)
        .map(str::to_string)
        .collect()
}

/// The first `n` pairs of bert_score's benchmark set.
fn benchmark_pairs(n: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let cands = lines("datasets/bert-score-example/hyps_long.txt", n);
    let refs = lines("datasets/bert-score-example/refs_long.txt", n)
        .into_iter()
        .map(|r| vec![r])
        .collect();
    (cands, refs)
}

/// The tiny fixture models: BERT-family ones in tests/fixtures/parity, ModernBERT and Qwen3 in
/// tests/fixtures/parity-modern.
const TINY: [&str; 5] = [
    "tiny-bert",
    "tiny-roberta",
    "tiny-distilbert",
    "tiny-modernbert",
    "tiny-qwen3",
];

fn tiny(model: &str, precision: Precision) -> ScorerOptions {
    let dir = if model.contains("modernbert") || model.contains("qwen3") {
        common::fixtures()
            .join("../parity-modern/models")
            .join(model)
    } else {
        common::tiny(model)
    };
    let mut options = ScorerOptions::new(dir, model);
    options.num_layers = Some(2);
    options.precision = precision;
    options
}

fn score(options: &ScorerOptions, cands: &[String], refs: &[Vec<String>]) -> Vec<PairScore> {
    let scorer = Scorer::new(options.clone()).unwrap();
    assert_eq!(scorer.kernel().precision, options.precision);
    assert_eq!(scorer.encoder_name(), "cpu-kernels");
    scorer.score(cands, refs).unwrap().scores
}

/// (mean, max) |ΔF1| of `int8` against `exact`.
fn deviation(exact: &[PairScore], int8: &[PairScore]) -> (f64, f64) {
    let deltas: Vec<f64> = exact
        .iter()
        .zip(int8)
        .map(|(e, q)| (e.f1 - q.f1).abs())
        .collect();
    let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
    (mean, deltas.iter().copied().fold(0.0, f64::max))
}

#[test]
fn int8_scores_do_not_depend_on_batch_threads_or_chunks() {
    let (cands, refs) = benchmark_pairs(60);
    for model in TINY {
        let base = tiny(model, Precision::Int8);
        let want = score(&base, &cands, &refs);
        for (batch_size, threads, chunk_size) in [
            (1, Some(1), 7),
            (3, Some(2), 60),
            (64, Some(2), 13),
            (17, None, 1),
        ] {
            let mut options = base.clone();
            (options.batch_size, options.threads, options.chunk_size) =
                (batch_size, threads, chunk_size);
            let got = score(&options, &cands, &refs);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    (g.precision, g.recall, g.f1),
                    (w.precision, w.recall, w.f1),
                    "{model} pair {i}: batch {batch_size}, threads {threads:?}, chunk {chunk_size}"
                );
            }
        }
    }
}

#[test]
fn int8_stays_within_1e3_of_f32_on_the_tiny_models() {
    let (cands, refs) = benchmark_pairs(200);
    for model in TINY {
        let exact = score(&tiny(model, Precision::F32), &cands, &refs);
        let int8 = score(&tiny(model, Precision::Int8), &cands, &refs);
        let (mean, max) = deviation(&exact, &int8);
        println!(
            "{model}: int8 vs f32 on {} pairs: mean |ΔF1| {mean:.2e}, max {max:.2e}",
            cands.len()
        );
        assert!(mean <= 1e-3, "{model}: mean |ΔF1| {mean}, max {max}");
        // Not the same function: int8 moves every score a little.
        assert!(mean > 0.0, "{model}: int8 gave f32's scores exactly");
    }
}

#[test]
fn int8_stays_within_1e3_of_f32_on_minilm() {
    let model = bertscore_hub::resolve(bertscore_hub::DEFAULT_MODEL).expect("default model");
    let (cands, refs) = benchmark_pairs(400);
    let mut options = ScorerOptions::new(&model.dir, &model.name);
    let exact = score(&options, &cands, &refs);
    options.precision = Precision::Int8;
    let scorer = Scorer::new(options).unwrap();
    let kernel = scorer.kernel().clone();
    let int8 = scorer.score(&cands, &refs).unwrap().scores;
    let (mean, max) = deviation(&exact, &int8);
    println!(
        "int8 ({}) vs f32 on {} pairs of all-MiniLM-L6-v2: mean |ΔF1| {mean:.2e}, max {max:.2e}",
        kernel.kernel(),
        cands.len()
    );
    assert!(mean <= 1e-3 && max < 5e-3, "mean {mean}, max {max}");
    assert!(mean > 0.0);
    assert_eq!(
        kernel.fallback.is_none(),
        Isa::detect().runs_natively(WeightFormat::Int8),
        "{kernel:?}"
    );
}

#[test]
fn int8_without_vnni_runs_the_same_math_in_portable_code_and_says_so() {
    // On a CPU without AVX512-VNNI `--dtype int8` must name its fallback; with it, the portable
    // kernels compute the same scores (tested in bertscore-kernels); here: the choice is loud.
    let choice = bertscore_engine::precision::cpu_choice(Precision::Int8).unwrap();
    if Isa::detect().avx512vnni() {
        assert!(choice.fallback.is_none(), "{choice:?}");
        assert!(choice.kernel().contains("VPDPBUSD"), "{}", choice.kernel());
    } else {
        assert!(choice.fallback.as_ref().unwrap().contains("no AVX512-VNNI"));
        assert!(choice.kernel().contains("portable"));
    }
}
