//! Behaviour of the engine beyond parity: invariance to batch size and threads, the error cases, the
//! multi-reference maximum, idf over a separate corpus, token similarities and the settings hash.
//! All tests run the real tiny models from tests/fixtures/parity/models/.

use bertscore_engine::{
    Backend, Baseline, EngineError, IdfMode, LongTexts, PairScore, Precision, Scorer, ScorerOptions,
};
use serde_json::Value;

mod common;
use common::{case_inputs, fixtures, tiny};

fn options(model: &str, num_layers: usize) -> ScorerOptions {
    let mut options = ScorerOptions::new(tiny(model), model);
    options.num_layers = Some(num_layers);
    options
}

fn max_difference(a: &[PairScore], b: &[PairScore]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            [
                (x.precision - y.precision).abs(),
                (x.recall - y.recall).abs(),
                (x.f1 - y.f1).abs(),
            ]
        })
        .fold(0.0, f64::max)
}

#[test]
fn scores_do_not_depend_on_batch_size_or_threads() {
    let (cands, refs) = case_inputs("tiny-bert-L2-idf-dialogsum-train");
    // RoBERTa's position ids are derived from padding, so it is the family most exposed to batching.
    for (model, layers) in [
        ("tiny-bert", 2),
        ("tiny-roberta", 3),
        ("tiny-distilbert", 2),
    ] {
        let mut reference_options = options(model, layers);
        reference_options.idf = IdfMode::References;
        reference_options.batch_size = 64;
        reference_options.threads = Some(2);
        let reference = Scorer::new(reference_options.clone())
            .unwrap()
            .score(&cands, &refs)
            .unwrap()
            .scores;
        for (batch_size, threads) in [(1, Some(1)), (7, Some(2)), (500, Some(1)), (3, None)] {
            let mut o = reference_options.clone();
            o.batch_size = batch_size;
            o.threads = threads;
            let scores = Scorer::new(o).unwrap().score(&cands, &refs).unwrap().scores;
            let diff = max_difference(&reference, &scores);
            println!("{model}: batch {batch_size}, threads {threads:?}: max |Δ| {diff:.3e}");
            assert!(
                diff <= 1e-6,
                "{model}: batch {batch_size}, threads {threads:?}: max |Δ| {diff:.3e}"
            );
        }
    }
}

/// Chunking bounds memory; it must not change a score, idf included (idf is computed over all
/// references before the first chunk), nor lose a warning's candidate index.
#[test]
fn scores_do_not_depend_on_the_chunk_size() {
    let (mut cands, mut refs) = case_inputs("tiny-bert-L2-idf-dialogsum-train");
    cands.push(String::new());
    refs.push(vec!["an empty candidate in the last chunk".into()]);
    let mut whole = options("tiny-bert", 2);
    whole.idf = IdfMode::References;
    let reference = Scorer::new(whole.clone())
        .unwrap()
        .score(&cands, &refs)
        .unwrap();
    assert!(
        reference.timings.tokens > 0 && reference.timings.padded_tokens >= reference.timings.tokens
    );
    for chunk_size in [1, 3, 7] {
        let mut o = whole.clone();
        o.chunk_size = chunk_size;
        let chunked = Scorer::new(o).unwrap().score(&cands, &refs).unwrap();
        let diff = max_difference(&reference.scores, &chunked.scores);
        assert!(diff <= 1e-6, "chunk {chunk_size}: max |Δ| {diff:.3e}");
        assert_eq!(chunked.warnings, reference.warnings, "chunk {chunk_size}");
    }
    let last = cands.len() - 1;
    assert!(
        reference
            .warnings
            .iter()
            .any(|w| w.contains(&format!("candidate {last}"))),
        "{:?}",
        reference.warnings
    );
}

#[test]
fn layer_zero_to_depth_load_and_beyond_is_an_error() {
    for layers in 0..=3 {
        let scorer = Scorer::new(options("tiny-bert", layers)).unwrap();
        assert_eq!(scorer.num_layers(), layers);
    }
    match Scorer::new(options("tiny-bert", 4)) {
        Err(EngineError::LayerOutOfRange {
            requested: 4,
            max: 3,
            model,
        }) => assert_eq!(model, "tiny-bert"),
        other => panic!("expected LayerOutOfRange, got {:?}", other.err()),
    }
    match Scorer::new(options("tiny-distilbert", 9)) {
        Err(EngineError::LayerOutOfRange {
            requested: 9,
            max: 3,
            ..
        }) => {}
        other => panic!("expected LayerOutOfRange, got {:?}", other.err()),
    }
}

#[test]
fn deeper_layers_change_the_scores() {
    // Guards against an encoder that ignores num_layers.
    let (cands, refs) = case_inputs("tiny-distilbert-L3-dialogsum-lead");
    let l1 = Scorer::new(options("tiny-bert", 1))
        .unwrap()
        .score(&cands, &refs)
        .unwrap()
        .scores;
    let l3 = Scorer::new(options("tiny-bert", 3))
        .unwrap()
        .score(&cands, &refs)
        .unwrap()
        .scores;
    assert!(max_difference(&l1, &l3) > 1e-3);
}

#[test]
fn default_layer_comes_from_the_registry() {
    let mut o = ScorerOptions::new(tiny("tiny-bert"), "tiny-bert");
    match Scorer::new(o.clone()) {
        Err(EngineError::UnknownDefaultLayer { model }) => assert_eq!(model, "tiny-bert"),
        other => panic!("expected UnknownDefaultLayer, got {:?}", other.err()),
    }
    // bert_score recommends layer 1 for google/bert_uncased_L-2_H-128_A-2.
    o.model_name = "google/bert_uncased_L-2_H-128_A-2".into();
    assert_eq!(Scorer::new(o).unwrap().num_layers(), 1);
}

/// A copy of a tiny model's files in a temporary directory, with `edit` applied to config.json.
fn model_copy(model: &str, edit: impl FnOnce(&mut Value), skip: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tiny(model)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if skip.contains(&name.as_str()) {
            continue;
        }
        std::fs::copy(&path, dir.path().join(&name)).unwrap();
    }
    if !skip.contains(&"config.json") {
        let config_path = dir.path().join("config.json");
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    }
    dir
}

#[test]
fn unsupported_architecture_is_named() {
    let dir = model_copy("tiny-bert", |c| c["model_type"] = "gpt2".into(), &[]);
    let mut o = ScorerOptions::new(dir.path(), "copy");
    o.num_layers = Some(1);
    match Scorer::new(o) {
        Err(e @ EngineError::UnsupportedArchitecture { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("\"gpt2\"") && message.contains("config.json"),
                "{message}"
            );
        }
        other => panic!("expected UnsupportedArchitecture, got {:?}", other.err()),
    }
}

#[test]
fn missing_files_are_named() {
    for missing in ["config.json", "tokenizer.json", "model.safetensors"] {
        let dir = model_copy("tiny-bert", |_| {}, &[missing]);
        let mut o = ScorerOptions::new(dir.path(), "copy");
        o.num_layers = Some(1);
        match Scorer::new(o) {
            Err(EngineError::MissingModelFile { dir: d, file }) => {
                assert_eq!(d, dir.path());
                assert!(file.starts_with(missing), "{file}");
            }
            other => panic!(
                "{missing}: expected MissingModelFile, got {:?}",
                other.err()
            ),
        }
    }
}

#[test]
fn pytorch_only_checkpoint_gets_a_conversion_hint() {
    let dir = model_copy("tiny-bert", |_| {}, &["model.safetensors"]);
    std::fs::write(dir.path().join("pytorch_model.bin"), b"not used").unwrap();
    let mut o = ScorerOptions::new(dir.path(), "copy");
    o.num_layers = Some(1);
    let message = Scorer::new(o).err().expect("must fail").to_string();
    assert!(
        message.contains("pytorch_model.bin") && message.contains("safetensors"),
        "{message}"
    );
}

#[test]
fn baseline_file_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.tsv");
    std::fs::write(&path, "LAYER,P,R,F\n0,0.1,0.2,0.3\n1,0.4,0.5\n").unwrap();
    let err = Baseline::from_file(&path, 0).unwrap_err();
    assert!(
        matches!(err, EngineError::InvalidBaseline { line: 3, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("{}:3: 3 fields, the header has 4", path.display())
    );

    let missing = dir.path().join("absent.tsv");
    let err = Baseline::from_file(&missing, 0).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Read(bertscore_engine::text_file::ReadError::Io { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("absent.tsv"), "{err}");
}

/// Several references: each candidate keeps the maximum of P, R and F over its references, where
/// each pair's score is the one it gets in bert_score's flattened input (one row per reference, in
/// order: the same groups of 64 pairs, so the same padding).
#[test]
fn several_references_take_the_maximum_of_each_score() {
    let (cands, refs) = case_inputs("tiny-distilbert-L1-idf-multi-ref");
    let scorer = Scorer::new(options("tiny-roberta", 2)).unwrap();
    let flattened = |cands: &[String], refs: &[Vec<String>]| {
        let rows: Vec<(String, Vec<String>)> = cands
            .iter()
            .zip(refs)
            .flat_map(|(c, group)| group.iter().map(|r| (c.clone(), vec![r.clone()])))
            .collect();
        let (c, r): (Vec<String>, Vec<Vec<String>>) = rows.into_iter().unzip();
        scorer.score(&c, &r).unwrap().scores
    };
    let max_over = |rows: &[PairScore], refs: &[Vec<String>]| -> Vec<PairScore> {
        let mut rows = rows.iter();
        refs.iter()
            .map(|group| {
                let mut best = *rows.next().unwrap();
                for row in rows.by_ref().take(group.len() - 1) {
                    best.precision = best.precision.max(row.precision);
                    best.recall = best.recall.max(row.recall);
                    best.f1 = best.f1.max(row.f1);
                }
                best
            })
            .collect()
    };
    let together = scorer.score(&cands, &refs).unwrap().scores;
    let expected = max_over(&flattened(&cands, &refs), &refs);
    assert!(max_difference(&together, &expected) <= 1e-9);

    // The maximum is taken per score: a long reference covers the candidate (high P, low R), a short
    // one is covered by it (low P, high R); the candidate keeps the higher of each.
    let cand = vec!["the cat sat".to_string()];
    let long = "the cat sat on the mat with a big hat".to_string();
    let short = "the cat".to_string();
    let group = vec![vec![long, short]];
    let rows = flattened(&cand, &group);
    let (by_long, by_short) = (rows[0], rows[1]);
    assert!(by_long.precision > by_short.precision && by_short.recall > by_long.recall);
    let both = scorer.score(&cand, &group).unwrap().scores[0];
    assert_eq!(both.precision, by_long.precision);
    assert_eq!(both.recall, by_short.recall);
    assert_eq!(both.f1, by_long.f1.max(by_short.f1));
}

#[test]
fn corpus_idf_over_the_references_equals_reference_idf() {
    let (cands, refs) = case_inputs("tiny-bert-L2-idf-dialogsum-train");
    let mut o = options("tiny-bert", 2);
    o.idf = IdfMode::References;
    let by_refs = Scorer::new(o.clone())
        .unwrap()
        .score(&cands, &refs)
        .unwrap()
        .scores;
    o.idf = IdfMode::Corpus(refs.iter().flatten().cloned().collect());
    let by_corpus = Scorer::new(o.clone())
        .unwrap()
        .score(&cands, &refs)
        .unwrap()
        .scores;
    assert_eq!(by_refs, by_corpus);
    // A different corpus gives different weights.
    o.idf = IdfMode::Corpus(cands.clone());
    let by_cands = Scorer::new(o).unwrap().score(&cands, &refs).unwrap().scores;
    assert!(max_difference(&by_refs, &by_cands) > 1e-4);
}

#[test]
fn input_shape_errors() {
    let scorer = Scorer::new(options("tiny-bert", 1)).unwrap();
    let cands = vec!["a".to_string(), "b".to_string()];
    assert!(matches!(
        scorer.score(&cands, &[vec!["a".to_string()]]),
        Err(EngineError::LengthMismatch { cands: 2, refs: 1 })
    ));
    assert!(matches!(
        scorer.score(&cands, &[vec!["a".to_string()], vec![]]),
        Err(EngineError::NoReferences { index: 1 })
    ));
    let mut o = options("tiny-bert", 1);
    o.batch_size = 0;
    assert!(matches!(
        Scorer::new(o),
        Err(EngineError::InvalidOption { .. })
    ));
}

#[test]
fn token_similarity_drops_special_tokens() {
    let scorer = Scorer::new(options("tiny-bert", 2)).unwrap();
    let sim = scorer
        .token_similarity("The cat sat.", "the cat sat down")
        .unwrap();
    assert_eq!(sim.candidate_tokens, ["the", "cat", "sat", "."]);
    assert_eq!(sim.reference_tokens, ["the", "cat", "sat", "down"]);
    assert_eq!(sim.similarity.len(), 4);
    assert!(sim.similarity.iter().all(|row| row.len() == 4));
    assert!(
        sim.similarity
            .iter()
            .flatten()
            .all(|s| (-1.0001..=1.0001).contains(s))
    );
    let expected = scorer
        .score(
            &["The cat sat.".to_string()],
            &[vec!["the cat sat down".to_string()]],
        )
        .unwrap()
        .scores[0];
    assert_eq!(sim.score, expected);

    let same = scorer.token_similarity("ok then", "ok then").unwrap();
    for (i, row) in same.similarity.iter().enumerate() {
        assert!((row[i] - 1.0).abs() < 1e-5, "{row:?}");
    }
    assert!((same.score.f1 - 1.0).abs() < 1e-6);
}

#[test]
fn hash_names_the_settings() {
    let mut o = options("tiny-roberta", 3);
    assert_eq!(
        Scorer::new(o.clone()).unwrap().hash(),
        "tiny-roberta_L3_no-idf_version=0.3.12(hug_trans=4.46.3)_fast-tokenizer"
    );
    o.idf = IdfMode::References;
    o.baseline = Some(Baseline {
        precision: 0.1,
        recall: 0.1,
        f1: 0.1,
    });
    o.custom_baseline = true;
    assert_eq!(
        Scorer::new(o).unwrap().hash(),
        "tiny-roberta_L3_idf_version=0.3.12(hug_trans=4.46.3)-custom-rescaled_fast-tokenizer"
    );
}

#[test]
fn half_precisions_run_close_to_f32_and_bf16_needs_avx512_bf16_on_cpu() {
    let (cands, refs) = case_inputs("tiny-distilbert-L3-dialogsum-lead");
    let exact = Scorer::new(options("tiny-bert", 3))
        .unwrap()
        .score(&cands, &refs)
        .unwrap()
        .scores;
    let mut o = options("tiny-bert", 3);
    o.precision = Precision::F16;
    let half = Scorer::new(o.clone())
        .unwrap()
        .score(&cands, &refs)
        .unwrap()
        .scores;
    let diff = max_difference(&exact, &half);
    assert!(diff < 1e-2, "f16 max |Δ| {diff}");
    // bf16 runs natively where the CPU has AVX512-BF16 (AMD Zen 4/5, recent Xeons); elsewhere it is
    // refused (candle has no bf16 CPU matrix product), never run slowly.
    o.precision = Precision::Bf16;
    if bertscore_kernels::Isa::detect().avx512bf16() {
        let scorer = Scorer::new(o).unwrap();
        assert_eq!(scorer.encoder_name(), "cpu-kernels");
        assert!(scorer.kernel().fallback.is_none());
        let bf16 = scorer.score(&cands, &refs).unwrap().scores;
        let diff = max_difference(&exact, &bf16);
        assert!(diff < 1e-2, "bf16 max |Δ| {diff}");
    } else {
        assert!(matches!(
            Scorer::new(o),
            Err(EngineError::UnsupportedPrecision { .. })
        ));
    }
}

#[test]
fn the_fast_path_runs_the_post_layernorm_families_and_candle_the_rest() {
    // The fast path runs where its AVX-512 kernels do (CI's machines have them).
    let fast = if bertscore_kernels::Isa::detect().avx512f() {
        "cpu-kernels"
    } else {
        "candle"
    };
    for (model, expected) in [
        ("tiny-bert", fast),
        ("tiny-roberta", fast),
        ("tiny-distilbert", fast),
        ("tiny-deberta-v2", "candle"),
    ] {
        let scorer = Scorer::new(options(model, 1)).unwrap();
        assert_eq!(scorer.encoder_name(), expected, "{model}");
        let mut o = options(model, 1);
        o.backend = Backend::Candle;
        assert_eq!(Scorer::new(o).unwrap().encoder_name(), "candle", "{model}");
    }
}

/// f16 on the fast path (AVX512-FP16), or candle's f16 elsewhere: either way within 1e-3 of f32.
#[test]
fn f16_stays_within_1e3_of_f32_on_minilm() {
    let model = bertscore_hub::resolve(bertscore_hub::DEFAULT_MODEL).expect("default model");
    let (cands, refs) = case_inputs("minilm-L4-idf-dialogsum-train");
    let mut o = ScorerOptions::new(&model.dir, &model.name);
    let exact = Scorer::new(o.clone())
        .unwrap()
        .score(&cands, &refs)
        .unwrap()
        .scores;
    o.precision = Precision::F16;
    let half = Scorer::new(o).unwrap().score(&cands, &refs).unwrap().scores;
    let deltas: Vec<f64> = exact
        .iter()
        .zip(&half)
        .map(|(e, h)| (e.f1 - h.f1).abs())
        .collect();
    let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
    let max = deltas.iter().copied().fold(0.0, f64::max);
    println!(
        "f16 vs f32 on {} pairs: mean |ΔF1| {mean:.2e}, max {max:.2e}",
        deltas.len()
    );
    assert!(mean < 1e-3 && max < 5e-3, "mean {mean}, max {max}");
    // f16 is not f32: the test would not notice a path that silently ran f32.
    assert!(max > 0.0);
}

#[test]
fn progress_reports_every_distinct_text() {
    let scorer = Scorer::new(options("tiny-bert", 1)).unwrap();
    let cands: Vec<String> = ["a b", "c", "a b"].map(String::from).to_vec();
    let refs: Vec<Vec<String>> = vec![
        vec!["c".into()],
        vec!["d".into()],
        vec!["e".into(), "c".into()],
    ];
    let seen = std::sync::Mutex::new(Vec::new());
    scorer
        .score_with_progress(&cands, &refs, &|done, total| {
            seen.lock().unwrap().push((done, total))
        })
        .unwrap();
    let seen = seen.into_inner().unwrap();
    // Four distinct texts: "a b", "c", "d", "e".
    assert_eq!(seen.first(), Some(&(0, 4)));
    assert_eq!(seen.last(), Some(&(4, 4)));
}

/// bert_score's padding groups (64 flattened pairs) are global: chunks, encoder batches and threads
/// do not move a pair into another group, even when a group boundary falls between two references
/// of one candidate or between two chunks.
#[test]
fn padding_groups_do_not_depend_on_chunk_or_batch_size() {
    let (cands, single) = case_inputs("tiny-distilbert-L2-idf-negative-max");
    // Every third candidate also gets the next candidate's reference: 107 flattened pairs.
    let refs: Vec<Vec<String>> = single
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let mut group = group.clone();
            if i % 3 == 0 {
                group.push(single[(i + 1) % single.len()][0].clone());
            }
            group
        })
        .collect();
    let mut whole = options("tiny-distilbert", 2);
    whole.idf = IdfMode::References;
    let reference = Scorer::new(whole.clone())
        .unwrap()
        .score(&cands, &refs)
        .unwrap();
    for (chunk_size, batch_size, threads) in [
        (1, 64, None),
        (5, 3, Some(1)),
        (21, 64, Some(2)),
        (33, 500, None),
        (64, 7, None),
    ] {
        let mut o = whole.clone();
        o.chunk_size = chunk_size;
        o.batch_size = batch_size;
        o.threads = threads;
        let chunked = Scorer::new(o).unwrap().score(&cands, &refs).unwrap();
        let diff = max_difference(&reference.scores, &chunked.scores);
        assert!(
            diff <= 1e-6,
            "chunk {chunk_size}, batch {batch_size}: max |Δ| {diff:.3e}"
        );
    }
}

/// The padding rule itself: a pair whose candidate has a token with no positively similar reference
/// token scores higher precision when a longer reference shares its group of 64 pairs (the padded
/// positions count as similarity 0), and exactly its lone score when the longer reference is in the
/// next group.
#[test]
fn a_longer_reference_in_the_same_group_raises_negative_best_matches_to_zero() {
    let (cands, refs) = case_inputs("tiny-distilbert-L3-negative-max");
    let scorer = Scorer::new(options("tiny-distilbert", 3)).unwrap();
    let score = |c: &[String], r: &[Vec<String>]| scorer.score(c, r).unwrap().scores;
    let longest = refs
        .iter()
        .max_by_key(|r| scorer.tokenize(&r[0]).unwrap().len())
        .unwrap()
        .clone();
    let longest_len = scorer.tokenize(&longest[0]).unwrap().len();
    let mut raised = 0;
    for (cand, reference) in cands.iter().zip(&refs) {
        if scorer.tokenize(&reference[0]).unwrap().len() == longest_len {
            continue;
        }
        let alone = score(std::slice::from_ref(cand), std::slice::from_ref(reference))[0];
        let grouped = score(
            &[cand.clone(), cand.clone()],
            &[reference.clone(), longest.clone()],
        )[0];
        assert!(grouped.precision >= alone.precision);
        assert_eq!(
            grouped.recall, alone.recall,
            "same candidate length: recall unchanged"
        );
        if grouped.precision > alone.precision + 1e-6 {
            raised += 1;
        }
        // 64 filler pairs put the longer reference into the next group.
        let mut far_cands = vec![cand.clone(); 65];
        let mut far_refs = vec![reference.clone(); 64];
        far_cands.push(cand.clone());
        far_refs.push(longest.clone());
        far_refs.insert(64, reference.clone());
        far_cands.truncate(far_refs.len());
        let far = score(&far_cands, &far_refs)[0];
        assert!(max_difference(&[far], &[alone]) <= 1e-9);
    }
    assert!(
        raised > 0,
        "the case has tokens whose best match is negative"
    );
}

/// `score_all_layers` (bert_score's `all_layers=True`): layer `k` of one pass equals scoring with
/// `num_layers = k`, for every family, on both encoder paths, with idf and several references.
#[test]
fn every_layer_of_one_pass_equals_scoring_at_that_layer() {
    let (cands, refs) = case_inputs("tiny-roberta-L3-idf-negative-max-multi");
    for (model, depth) in [
        ("tiny-bert", 3),
        ("tiny-roberta", 3),
        ("tiny-distilbert", 3),
        ("tiny-deberta-v2", 3),
    ] {
        for backend in [Backend::Auto, Backend::Candle] {
            let mut o = options(model, depth);
            o.idf = IdfMode::References;
            o.backend = backend;
            let all = Scorer::new(o.clone())
                .unwrap()
                .score_all_layers(&cands, &refs, &|_, _| {})
                .unwrap();
            assert_eq!(all.layers.len(), cands.len());
            assert!(all.layers.iter().all(|l| l.len() == depth + 1));
            let last: Vec<PairScore> = all.layers.iter().map(|l| l[depth]).collect();
            assert_eq!(last, all.scores, "the scorer's layer is the last");
            for k in 0..=depth {
                let mut at_k = o.clone();
                at_k.num_layers = Some(k);
                let alone = Scorer::new(at_k).unwrap().score(&cands, &refs).unwrap();
                assert!(alone.layers.is_empty());
                let layer: Vec<PairScore> = all.layers.iter().map(|l| l[k]).collect();
                let diff = max_difference(&layer, &alone.scores);
                println!("{model} {backend:?} layer {k}: max |Δ| {diff:.3e}");
                assert!(
                    diff <= 1e-6,
                    "{model} {backend:?} layer {k}: max |Δ| {diff:.3e}"
                );
            }
        }
    }
}

/// `--long-texts window` embeds texts that fit exactly as truncation does: on every parity fixture
/// each pair whose texts fit the window scores bit for bit the same, on both encoder paths.
#[test]
fn window_equals_truncate_on_every_fixture() {
    for entry in std::fs::read_dir(fixtures().join("cases")).unwrap() {
        let path = entry.unwrap().path();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let model = case["model"].as_str().unwrap();
        if model == "all-MiniLM-L6-v2" {
            continue; // the tiny models cover every family; MiniLM is BERT
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let (cands, refs) = case_inputs(&name);
        for backend in [Backend::Auto, Backend::Candle] {
            let mut o = options(model, case["num_layers"].as_u64().unwrap() as usize);
            o.backend = backend;
            let truncate = Scorer::new(o.clone())
                .unwrap()
                .score(&cands, &refs)
                .unwrap();
            o.long_texts = LongTexts::Window { stride: None };
            let scorer = Scorer::new(o).unwrap();
            let window = scorer.score(&cands, &refs).unwrap();
            // Pairs with a text longer than the window are the ones windows change.
            let fits = |t: &String| scorer.tokenize(t).unwrap().len() <= scorer.max_tokens();
            for (i, (cand, group)) in cands.iter().zip(&refs).enumerate() {
                if fits(cand) && group.iter().all(fits) {
                    // Where the encoder pads its batches (candle: every family on Backend::Candle, DeBERTa
                    // on both), windows are grouped differently (16 a batch) than truncated texts: float
                    // rounding only.
                    let (t, w) = (truncate.scores[i], window.scores[i]);
                    let d = (t.precision - w.precision)
                        .abs()
                        .max((t.recall - w.recall).abs())
                        .max((t.f1 - w.f1).abs());
                    assert!(d < 1e-6, "{name} {backend:?} {i}: {t:?} vs {w:?}");
                } else {
                    assert!(window.warnings.iter().any(|w| w.contains("windows")));
                }
            }
        }
    }
}

/// A text of about 1,500 tokens: in windows it matches itself exactly and a change to its last 200
/// tokens lowers the score; truncated (bert_score) the change is invisible.
#[test]
fn window_sees_the_whole_of_a_long_text() {
    let pairs = std::fs::read_to_string(fixtures().join("baseline-command/pairs.jsonl")).unwrap();
    let sentences: Vec<String> = pairs
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["candidate"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut windowed = options("tiny-bert", 3);
    windowed.long_texts = LongTexts::Window { stride: None };
    let window = Scorer::new(windowed.clone()).unwrap();
    let truncate = Scorer::new(options("tiny-bert", 3)).unwrap();
    let mut long = String::new();
    let mut sentences_used = 0;
    while window.tokenize(&long).unwrap().len() < 1500 {
        long.push_str(&sentences[sentences_used % sentences.len()]);
        long.push(' ');
        sentences_used += 1;
    }
    let tokens = window.tokenize(&long).unwrap().len();
    assert!((1500..1700).contains(&tokens), "{tokens} tokens");
    assert_eq!(
        truncate.tokenize(&long).unwrap().len(),
        truncate.max_tokens()
    );
    // The same text with its last sentences (about 200 tokens) replaced.
    let mut changed = long.clone();
    let mut tail_tokens = 0;
    while tail_tokens < 200 {
        let cut = changed.trim_end().rfind(". ").unwrap_or(0);
        changed.truncate(cut);
        tail_tokens = tokens - window.tokenize(&changed).unwrap().len();
    }
    changed.push_str(" purple elephants compute the integral of bananas over the winter solstice");
    let score = |scorer: &Scorer, a: &str, b: &str| {
        scorer
            .score(&[a.to_string()], &[vec![b.to_string()]])
            .unwrap()
    };
    let same = score(&window, &long, &long);
    assert!(
        (same.scores[0].f1 - 1.0).abs() < 1e-6,
        "{:?}",
        same.scores[0]
    );
    assert!(
        same.warnings.iter().any(|w| w.contains("windows")),
        "{:?}",
        same.warnings
    );
    let window_changed = score(&window, &long, &changed).scores[0];
    let truncate_changed = score(&truncate, &long, &changed).scores[0];
    assert!(window_changed.f1 < 1.0 - 1e-3, "{window_changed:?}");
    assert!(
        (truncate_changed.f1 - 1.0).abs() < 1e-6,
        "{truncate_changed:?}"
    );
    assert!(
        window.hash().ends_with("_long-texts=window(stride=255)"),
        "{}",
        window.hash()
    );

    // Strides of 0 or wider than the window are refused.
    for stride in [0, 511] {
        let mut o = windowed.clone();
        o.long_texts = LongTexts::Window {
            stride: Some(stride),
        };
        assert!(matches!(
            Scorer::new(o),
            Err(EngineError::InvalidOption { name, .. }) if name == "window_stride"
        ));
    }
    // A shorter stride gives the same self-match and still sees the change.
    let mut o = windowed;
    o.long_texts = LongTexts::Window { stride: Some(100) };
    let short_stride = Scorer::new(o).unwrap();
    assert!((score(&short_stride, &long, &long).scores[0].f1 - 1.0).abs() < 1e-6);
    assert!(score(&short_stride, &long, &changed).scores[0].f1 < 1.0 - 1e-3);
}
