//! Parity with bert_score for the modern families (ModernBERT, Qwen3 as an embedder): every case
//! in tests/fixtures/parity-modern/cases/ (copied from ../shared/fixtures/parity-modern, whose
//! README pins the rules) holds the inputs, settings and the P, R, F bert_score 0.3.13 computed
//! under transformers 4.53.3; we recompute them with the real tiny models' weights on both encoder
//! paths (the CPU kernels and candle) and require every value within 1e-4. A case with
//! `"all_layers": true` holds one list per hidden state, compared with
//! [`Scorer::score_all_layers`].
//!
//! `BERTSCORE_TEST_DEVICE=cuda cargo test -p bertscore-engine --features cuda --test
//! parity_modern` runs the same cases on GPU 0 (candle's CUDA backend).

use std::path::{Path, PathBuf};

use bertscore_engine::{
    Backend, DevicePreference, IdfMode, LongTexts, PairScore, Precision, Scorer, ScorerOptions,
};
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity-modern")
}

fn model_dir(model: &str) -> PathBuf {
    fixtures().join("models").join(model)
}

fn read_case(name: &str) -> Value {
    let path = fixtures().join("cases").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn texts(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("array of strings")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn case_inputs(case: &Value) -> (Vec<String>, Vec<Vec<String>>) {
    let cands = texts(&case["cands"]);
    let refs = case["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r.as_str() {
            Some(one) => vec![one.to_string()],
            None => texts(r),
        })
        .collect();
    (cands, refs)
}

fn case_options(case: &Value, backend: Backend, device: DevicePreference) -> ScorerOptions {
    let model = case["model"].as_str().unwrap();
    let mut options = ScorerOptions::new(model_dir(model), model);
    options.num_layers = Some(case["num_layers"].as_u64().unwrap() as usize);
    options.backend = backend;
    options.device = device;
    if case["idf"].as_bool().unwrap() {
        options.idf = IdfMode::References;
    }
    assert!(case["baseline"].is_null(), "no modern case is rescaled");
    options
}

/// The encoder paths a case runs on: both on the CPU, or candle on GPU 0.
fn paths() -> Vec<(Backend, DevicePreference)> {
    match std::env::var("BERTSCORE_TEST_DEVICE").as_deref() {
        Ok("cuda") => vec![(Backend::Auto, DevicePreference::Cuda(0))],
        Ok("cpu") | Err(_) => vec![
            (Backend::Auto, DevicePreference::Cpu),
            (Backend::Candle, DevicePreference::Cpu),
        ],
        Ok(other) => panic!("BERTSCORE_TEST_DEVICE={other:?}: expected cpu or cuda"),
    }
}

/// Compares `got[i]` with the case's `expected[P|R|F][i]` (`at` picks a hidden state's list for
/// all-layers cases); returns the largest |Δ| and the failures.
fn compare(expected: &Value, got: &[PairScore], label: &str, failures: &mut Vec<String>) -> f64 {
    let mut max_delta = 0f64;
    for (key, pick) in [
        ("P", (|s| s.precision) as fn(&PairScore) -> f64),
        ("R", |s| s.recall),
        ("F", |s| s.f1),
    ] {
        let want: Vec<f64> = expected[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(want.len(), got.len(), "{label} {key}: count");
        for (i, (w, g)) in want.iter().zip(got.iter().map(pick)).enumerate() {
            let delta = (w - g).abs();
            max_delta = max_delta.max(if delta.is_nan() { f64::INFINITY } else { delta });
            if delta.is_nan() || delta > TOLERANCE {
                failures.push(format!(
                    "{label} {key}[{i}]: bert_score {w}, ours {g} (|Δ| {delta:.3e})"
                ));
            }
        }
    }
    max_delta
}

/// Runs case `name` on every encoder path of [`paths`].
fn run_case(name: &str) {
    let case = read_case(name);
    let (cands, refs) = case_inputs(&case);
    let all_layers = case["all_layers"].as_bool().unwrap_or(false);
    for (backend, device) in paths() {
        let scorer = Scorer::new(case_options(&case, backend, device)).unwrap();
        let label = format!("{name} ({}, {device:?})", scorer.encoder_name());
        let mut failures = Vec::new();
        let max_delta = if all_layers {
            let report = scorer.score_all_layers(&cands, &refs, &|_, _| {}).unwrap();
            let states = case["expected"]["P"].as_array().unwrap().len();
            (0..states)
                .map(|k| {
                    let expected: serde_json::Map<String, Value> = ["P", "R", "F"]
                        .iter()
                        .map(|key| (key.to_string(), case["expected"][key][k].clone()))
                        .collect();
                    let layer: Vec<PairScore> = report.layers.iter().map(|l| l[k]).collect();
                    let label = format!("{label} hidden state {k}");
                    compare(&Value::Object(expected), &layer, &label, &mut failures)
                })
                .fold(0f64, f64::max)
        } else {
            let report = scorer.score(&cands, &refs).unwrap();
            compare(&case["expected"], &report.scores, &label, &mut failures)
        };
        println!(
            "{label}: max |Δ| = {max_delta:.3e} over {} candidates",
            cands.len()
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
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
    tiny_qwen3_l3_dialogsum_lead => "tiny-qwen3-L3-dialogsum-lead",
    tiny_qwen3_l2_idf_dialogsum_train => "tiny-qwen3-L2-idf-dialogsum-train",
    tiny_qwen3_l3_edge => "tiny-qwen3-L3-edge",
    tiny_qwen3_l3_long => "tiny-qwen3-L3-long",
    tiny_qwen3_l3_negative_max => "tiny-qwen3-L3-negative-max",
    tiny_qwen3_all_layers_dialogsum_lead => "tiny-qwen3-all-layers-dialogsum-lead",
    tiny_modernbert_l3_dialogsum_lead => "tiny-modernbert-L3-dialogsum-lead",
    tiny_modernbert_l2_idf_dialogsum_train => "tiny-modernbert-L2-idf-dialogsum-train",
    tiny_modernbert_l3_edge => "tiny-modernbert-L3-edge",
    tiny_modernbert_l3_long => "tiny-modernbert-L3-long",
    tiny_modernbert_l3_negative_max => "tiny-modernbert-L3-negative-max",
    tiny_modernbert_all_layers_dialogsum_lead => "tiny-modernbert-all-layers-dialogsum-lead",
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
        .fold(0f64, f64::max)
}

/// Scores do not depend on the batch size, the thread count or the chunk size, on either path
/// (the negative-max case: bert_score's padding groups decide 332 of its best matches).
#[test]
fn qwen3_scores_do_not_depend_on_batch_threads_or_chunks() {
    assert_invariant_under_batch_threads_and_chunks("tiny-qwen3-L3-negative-max");
}

/// ModernBERT's negative-max case (119 best matches decided by the padding groups; local and
/// global layers differ on 94 of its texts).
#[test]
fn modernbert_scores_do_not_depend_on_batch_threads_or_chunks() {
    assert_invariant_under_batch_threads_and_chunks("tiny-modernbert-L3-negative-max");
}

/// Case `name` scores the same (within 1e-6) under other batch sizes, thread counts and chunk
/// sizes, on every encoder path.
fn assert_invariant_under_batch_threads_and_chunks(name: &str) {
    let case = read_case(name);
    let (cands, refs) = case_inputs(&case);
    for (backend, device) in paths() {
        let base = case_options(&case, backend, device);
        let reference = Scorer::new(base.clone())
            .unwrap()
            .score(&cands, &refs)
            .unwrap();
        for (batch_size, threads, chunk_size) in
            [(1, Some(1), 7), (5, Some(2), 33), (200, None, 1000)]
        {
            let mut o = base.clone();
            o.batch_size = batch_size;
            o.threads = threads;
            o.chunk_size = chunk_size;
            let got = Scorer::new(o).unwrap().score(&cands, &refs).unwrap();
            let diff = max_difference(&got.scores, &reference.scores);
            println!(
                "{backend:?} batch {batch_size} threads {threads:?} chunk {chunk_size}: {diff:.3e}"
            );
            assert!(
                diff <= 1e-6,
                "{backend:?} batch {batch_size}, threads {threads:?}, chunk {chunk_size}: max |Δ| {diff:.3e}"
            );
        }
    }
}

/// Qwen3's tokenizer adds no special tokens: an empty text has none, a two-piece word two.
/// bert_score gives an empty text P = NaN (or R = NaN) and F = 0; we give P = R = F = 0 with its
/// warning. A two-token text is "empty" to bert_score: P = R = 0, F kept.
#[test]
fn qwen3_empty_and_two_token_texts() {
    let case = read_case("tiny-qwen3-L3-edge");
    for (backend, device) in paths() {
        let scorer = Scorer::new(case_options(&case, backend, device)).unwrap();
        assert_eq!(scorer.tokenize("  ").unwrap(), Vec::<u32>::new());
        assert_eq!(scorer.tokenize("ok").unwrap().len(), 2, "o|k");
        let cands: Vec<String> = ["", "The meeting is moved to Friday.", "ok", ""]
            .map(String::from)
            .to_vec();
        let refs: Vec<Vec<String>> = [
            "The meeting is moved to Friday.",
            " \t ",
            "The meeting is moved to Friday.",
            "",
        ]
        .map(|r| vec![r.to_string()])
        .to_vec();
        let report = scorer.score(&cands, &refs).unwrap();
        for i in [0, 1, 3] {
            let s = report.scores[i];
            assert_eq!((s.precision, s.recall, s.f1), (0.0, 0.0, 0.0), "pair {i}");
        }
        let two = report.scores[2];
        assert_eq!((two.precision, two.recall), (0.0, 0.0));
        assert!(two.f1 > 0.0 && two.f1 < 1.0, "F kept: {two:?}");
        let warnings = report.warnings.join("\n");
        assert!(
            warnings.contains("Empty candidate sentence detected (for candidate 0, 2, 3)"),
            "{warnings}"
        );
        assert!(
            warnings.contains("Empty reference sentence detected (for candidate 1, 3)"),
            "{warnings}"
        );
        // The all-layers pass and idf take the same texts without NaN.
        let all = scorer.score_all_layers(&cands, &refs, &|_, _| {}).unwrap();
        assert!(all.layers.iter().flatten().all(|s| s.f1.is_finite()));
    }
}

/// bert_score loads the slow Qwen2 tokenizer, which adds no special token; a tokenizer.json whose
/// template appends `<|endoftext|>` (Qwen3-Embedding's, for last-token pooling) gives the same ids.
#[test]
fn qwen3_tokenizer_json_templates_are_not_applied() {
    let source = model_dir("tiny-qwen3");
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let mut tokenizer: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokenizer.json")).unwrap())
            .unwrap();
    tokenizer["post_processor"] = serde_json::json!({
        "type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "<|endoftext|>", "type_id": 1}}],
        "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let mut options = ScorerOptions::new(&dir, "tiny-qwen3-template");
    options.num_layers = Some(3);
    let templated = Scorer::new(options).unwrap();
    let plain = Scorer::new(case_options(
        &read_case("tiny-qwen3-L3-edge"),
        Backend::Auto,
        DevicePreference::Cpu,
    ))
    .unwrap();
    for text in ["", "ok", "The meeting is moved to Friday."] {
        let ids = templated.tokenize(text).unwrap();
        assert_eq!(ids, plain.tokenize(text).unwrap(), "{text:?}");
        assert!(!ids.contains(&0), "{text:?}: {ids:?}");
    }
}

/// `--dtype fast` (bf16 or f16 linear layers on the CPU kernels; norms, rotary embedding,
/// attention and SwiGLU in f32) stays within mean |ΔF1| 1e-3 of f32 for Qwen3.
#[test]
fn qwen3_fast_stays_within_1e3_of_f32() {
    assert_fast_within_1e3_of_f32("tiny-qwen3-L2-idf-dialogsum-train");
}

/// The same for ModernBERT (f16/bf16 linear layers, GeGLU with GELU's tanh form).
#[test]
fn modernbert_fast_stays_within_1e3_of_f32() {
    assert_fast_within_1e3_of_f32("tiny-modernbert-L2-idf-dialogsum-train");
}

/// Case `name` on `--dtype fast` is within mean |ΔF1| 1e-3 (max 5e-3) of f32 on the CPU kernels.
fn assert_fast_within_1e3_of_f32(name: &str) {
    let case = read_case(name);
    let (cands, refs) = case_inputs(&case);
    let options = case_options(&case, Backend::Auto, DevicePreference::Cpu);
    let exact = Scorer::new(options.clone()).unwrap();
    assert_eq!(exact.encoder_name(), "cpu-kernels");
    let exact = exact.score(&cands, &refs).unwrap().scores;
    let mut fast = options;
    fast.precision = Precision::Fast;
    let fast = match Scorer::new(fast) {
        Ok(scorer) => scorer,
        Err(e) => {
            println!("no reduced precision on this CPU: {e}");
            return;
        }
    };
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
        "{name}: fast = {} ({}, {}) vs f32 on {} pairs: mean |ΔF1| {mean:.2e}, max {max:.2e}",
        kernel.precision,
        kernel.kernel(),
        fast.encoder_name(),
        deltas.len()
    );
    assert!(mean <= 1e-3 && max < 5e-3, "mean {mean}, max {max}");
}

/// ModernBERT's tokenizer (tokenizer.json only, template `[CLS] $A [SEP]`, no prefix space): an
/// empty text gets no tokens (transformers' `PreTrainedTokenizerFast` adds none to `[]`), a word
/// its pieces between `[CLS]` (2) and `[SEP]` (3); texts are cut at 512 tokens, the model's context.
#[test]
fn modernbert_tokenizer_follows_sent_encode() {
    let scorer = Scorer::new(case_options(
        &read_case("tiny-modernbert-L3-edge"),
        Backend::Auto,
        DevicePreference::Cpu,
    ))
    .unwrap();
    assert_eq!(scorer.tokenize(" \t ").unwrap(), Vec::<u32>::new());
    let ids = scorer.tokenize("  Hello there.  ").unwrap();
    assert_eq!((ids[0], ids[ids.len() - 1]), (2, 3), "{ids:?}");
    assert!(ids.len() > 2, "{ids:?}");
    assert_eq!(ids, scorer.tokenize("Hello there.").unwrap(), "strip()ped");
    assert_eq!(scorer.max_tokens(), 512);
    let long = "word ".repeat(2000);
    assert_eq!(scorer.tokenize(&long).unwrap().len(), 512);
}

/// The tiny ModernBERT with `max_position_embeddings` 8192 (its tokenizer_config still says 512)
/// in a temporary directory.
fn modernbert_with_context(context: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = model_dir("tiny-modernbert");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let config_path = dir.path().join("config.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["max_position_embeddings"] = context.into();
    // Copied files keep the fixtures' read-only mode.
    std::fs::remove_file(&config_path).unwrap();
    std::fs::write(&config_path, config.to_string()).unwrap();
    dir
}

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A ModernBERT text up to the model's context is scored whole, without windows: a 6,000-token
/// text against itself is 1.0, and its first half against it is not (were both cut at 512 tokens,
/// they would be the same text and score 1.0).
#[test]
fn modernbert_scores_a_6000_token_text_whole() {
    let dir = modernbert_with_context(8192);
    let mut options = ScorerOptions::new(dir.path().to_path_buf(), "tiny-modernbert-8k");
    options.num_layers = Some(3);
    let scorer = Scorer::new(options).unwrap();
    assert_eq!(scorer.max_tokens(), 8192);
    // Dialogue words until the text is 6,000 tokens or more.
    let (cands, refs) = case_inputs(&read_case("tiny-modernbert-L3-long"));
    let words: Vec<&str> = cands
        .iter()
        .chain(refs.iter().flatten())
        .flat_map(|t| t.split_whitespace())
        .cycle()
        .take(20_000)
        .collect();
    let (mut lo, mut hi) = (0, words.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if scorer.tokenize(&words[..mid].join(" ")).unwrap().len() >= 6000 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let text = words[..lo].join(" ");
    let half = words[..lo / 2].join(" ");
    let tokens = scorer.tokenize(&text).unwrap().len();
    assert!((6000..6100).contains(&tokens), "{tokens} tokens");
    assert!(scorer.tokenize(&half).unwrap().len() > 512);

    let report = scorer
        .score(&[text.clone(), half], &[vec![text.clone()], vec![text]])
        .unwrap();
    let whole = report.scores[0];
    for value in [whole.precision, whole.recall, whole.f1] {
        assert!((value - 1.0).abs() < 1e-5, "{whole:?}");
    }
    let part = report.scores[1];
    assert!(part.recall < 0.999 && part.f1 < 0.999, "{part:?}");
    assert!(
        report.warnings.iter().all(|w| !w.contains("truncat")),
        "{:?}",
        report.warnings
    );
    println!(
        "{tokens}-token text on {}: P/R/F {:.6}/{:.6}/{:.6}; first half: R {:.4}; peak RSS {:.0} MiB",
        scorer.encoder_name(),
        whole.precision,
        whole.recall,
        whole.f1,
        part.recall,
        peak_rss_mib()
    );
}

/// Windows are re-wrapped in a text's start and end tokens; Qwen3's tokenizer adds none, so window mode
/// is refused for a text that needs windows (instead of taking its first and last tokens for them),
/// and a text that fits is scored as in truncation.
#[test]
fn qwen3_window_mode_is_refused_for_a_long_text() {
    let mut options = ScorerOptions::new(model_dir("tiny-qwen3"), "tiny-qwen3");
    options.num_layers = Some(3);
    options.long_texts = LongTexts::Window { stride: None };
    let scorer = Scorer::new(options).unwrap();
    let short = "#Person1# asks about the weather.".to_string();
    let refs = vec![vec![short.clone()]];
    let fits = scorer.score(std::slice::from_ref(&short), &refs).unwrap();
    assert!(
        (fits.scores[0].f1 - 1.0).abs() < 1e-5,
        "{:?}",
        fits.scores[0]
    );
    let long = "the weather is fine today and ".repeat(200);
    assert!(scorer.tokenize(&long).unwrap().len() > scorer.max_tokens());
    let error = scorer
        .score(std::slice::from_ref(&long), &[vec![long.clone()]])
        .unwrap_err()
        .to_string();
    assert!(error.contains("window mode needs a tokenizer"), "{error}");
}
