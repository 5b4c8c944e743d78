//! Scoring an input in parts (shards, Ray batches) with each pair's padding-group maxima computed over
//! the whole input ([`Scorer::score_part`], [`matching::group_maxima`], [`Scorer::token_lengths`]) gives
//! the whole input's scores, whatever the parts (bit for bit on the CPU fast path): bert_score's padding groups of 64 flattened pairs
//! raise negative best matches to 0, and the tiny models of the negative-max parity cases have such
//! matches, so scoring the parts without the maxima does change scores. Real tiny models from
//! tests/fixtures/parity/models/.

use bertscore_engine::matching::{self, GroupMaxima};
use bertscore_engine::{Backend, EngineError, IdfMode, PairScore, Scorer, ScorerOptions};
mod common;
use common::{case_inputs, tiny};

/// The 80 candidates of a negative-max case, every third with a second reference (another row's):
/// 107 flattened pairs, two padding groups, a group boundary between two references of candidate 63.
fn input(case: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let (cands, single) = case_inputs(case);
    let refs = single
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let mut group = group.clone();
            if i % 3 == 0 {
                group.push(single[(i * 7 + 5) % single.len()][0].clone());
            }
            group
        })
        .collect();
    (cands, refs)
}

/// Every pair's maxima over the whole input, from the token lengths of its texts.
fn whole_input_maxima(
    scorer: &Scorer,
    cands: &[String],
    refs: &[Vec<String>],
) -> Vec<Vec<GroupMaxima>> {
    let cand_lengths = scorer.token_lengths(cands).unwrap();
    let mut lengths = Vec::new();
    for (cand_len, group) in cand_lengths.iter().zip(refs) {
        for ref_len in scorer.token_lengths(group).unwrap() {
            lengths.push((*cand_len, ref_len));
        }
    }
    let mut flat = matching::group_maxima(&lengths).into_iter();
    refs.iter()
        .map(|group| flat.by_ref().take(group.len()).collect())
        .collect()
}

/// The candidates in a scrambled order (a stride coprime to their number), cut into parts of uneven
/// sizes: what Ray batches of shuffled blocks look like.
fn parts(n: usize) -> Vec<Vec<usize>> {
    let order: Vec<usize> = (0..n).map(|k| (k * 37 + 11) % n).collect();
    let mut parts = Vec::new();
    let mut rest = order.as_slice();
    for size in [1, 9, 30, 2, 17].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (part, tail) = rest.split_at(size.min(rest.len()));
        parts.push(part.to_vec());
        rest = tail;
    }
    parts
}

/// Scores `parts` of the input one call each, with or without the whole input's maxima, and puts
/// the scores back in input order.
fn score_in_parts(
    scorer: &Scorer,
    cands: &[String],
    refs: &[Vec<String>],
    parts: &[Vec<usize>],
    maxima: Option<&[Vec<GroupMaxima>]>,
) -> Vec<PairScore> {
    let mut scores = vec![None; cands.len()];
    for part in parts {
        let part_cands: Vec<String> = part.iter().map(|&i| cands[i].clone()).collect();
        let part_refs: Vec<Vec<String>> = part.iter().map(|&i| refs[i].clone()).collect();
        let report = match maxima {
            Some(maxima) => {
                let given: Vec<GroupMaxima> =
                    part.iter().flat_map(|&i| maxima[i].clone()).collect();
                scorer
                    .score_part(&part_cands, &part_refs, &given, false)
                    .unwrap()
            }
            None => scorer.score(&part_cands, &part_refs).unwrap(),
        };
        for (&i, score) in part.iter().zip(report.scores) {
            scores[i] = Some(score);
        }
    }
    scores.into_iter().map(Option::unwrap).collect()
}

/// The largest difference of P, R or F between two score lists.
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

/// On the CPU fast path (our kernels over unpadded token rows) a text's vectors do not depend on the
/// texts embedded with it: parts score bit for bit as the whole. candle's padded batches change the
/// order of float sums with the batch's shape, so there parts agree to float noise, the bound the
/// engine's batch-size invariance tests use.
fn tolerance(scorer: &Scorer) -> f64 {
    match scorer.encoder_name() {
        "cpu-kernels" => 0.0,
        _ => 1e-6,
    }
}

#[test]
fn parts_with_the_whole_inputs_group_maxima_score_as_the_whole_input() {
    // The models and layers of the parity cases whose inputs have the most negative best matches.
    for (case, model, layers) in [
        ("tiny-deberta-v2-L3-negative-max", "tiny-deberta-v2", 3),
        ("tiny-distilbert-L2-idf-negative-max", "tiny-distilbert", 2),
    ] {
        let (cands, refs) = input(case);
        let all_refs: Vec<String> = refs.iter().flatten().cloned().collect();
        let scrambled = parts(cands.len());
        let singles: Vec<Vec<usize>> = (0..cands.len()).map(|i| vec![i]).collect();
        for backend in [Backend::Auto, Backend::Candle] {
            for idf in [false, true] {
                let mut options = ScorerOptions::new(tiny(model), model);
                options.num_layers = Some(layers);
                options.backend = backend;
                options.idf = if idf {
                    IdfMode::References
                } else {
                    IdfMode::Off
                };
                let mut scorer = Scorer::new(options).unwrap();
                let label = format!("{model} L{layers} {} idf={idf}", scorer.encoder_name());
                let tolerance = tolerance(&scorer);
                let whole = scorer.score(&cands, &refs).unwrap().scores;
                if idf {
                    // The parts' idf is the whole input's, as Ray's aggregation passes it.
                    let frequencies = scorer.document_frequencies(&all_refs).unwrap();
                    scorer.set_idf(IdfMode::Weights(frequencies.into_idf()));
                }
                let maxima = whole_input_maxima(&scorer, &cands, &refs);
                let parts = score_in_parts(&scorer, &cands, &refs, &scrambled, Some(&maxima));
                let diff = max_difference(&whole, &parts);
                assert!(
                    diff <= tolerance,
                    "{label}: parts differ from the whole by {diff:.3e}"
                );

                // Without the maxima each part pads to its own longest texts: scored one candidate
                // at a time (Ray batches of one row), scores move.
                let regrouped = score_in_parts(&scorer, &cands, &refs, &singles, None);
                let ungrouped = score_in_parts(&scorer, &cands, &refs, &singles, Some(&maxima));
                let diff_singles = max_difference(&whole, &ungrouped);
                assert!(
                    diff_singles <= tolerance,
                    "{label}: single candidates differ from the whole by {diff_singles:.3e}"
                );
                let moved = whole
                    .iter()
                    .zip(&regrouped)
                    .filter(|(w, r)| max_difference(&[**w], &[**r]) > 1e-4)
                    .count();
                println!(
                    "{label}: parts equal the whole (max |Δ| {diff:.1e}); without the maxima {moved} of {} \
                     candidates move by more than 1e-4",
                    cands.len()
                );
                assert!(moved > 0, "{label}: the input has negative best matches");

                // Every layer at once, with the same maxima, equals scoring the whole input.
                let part: Vec<usize> = (10..75).collect();
                let part_cands: Vec<String> = part.iter().map(|&i| cands[i].clone()).collect();
                let part_refs: Vec<Vec<String>> = part.iter().map(|&i| refs[i].clone()).collect();
                let given: Vec<GroupMaxima> =
                    part.iter().flat_map(|&i| maxima[i].clone()).collect();
                let layered = scorer
                    .score_part(&part_cands, &part_refs, &given, true)
                    .unwrap();
                let last: Vec<PairScore> = layered.layers.iter().map(|l| l[layers]).collect();
                let expected: Vec<PairScore> = part.iter().map(|&i| whole[i]).collect();
                assert!(
                    max_difference(&expected, &last) <= tolerance,
                    "{label}: all layers"
                );
                assert!(
                    max_difference(&expected, &layered.scores) <= tolerance,
                    "{label}: all layers, the scorer's layer"
                );
            }
        }
    }
}

#[test]
fn token_lengths_count_what_scoring_counts() {
    let mut options = ScorerOptions::new(tiny("tiny-bert"), "tiny-bert");
    options.num_layers = Some(2);
    let scorer = Scorer::new(options).unwrap();
    let long = "word ".repeat(2 * scorer.max_tokens());
    let texts = ["", "a cat sat", long.as_str()];
    let lengths = scorer.token_lengths(&texts).unwrap();
    let ids: Vec<usize> = texts
        .iter()
        .map(|t| scorer.tokenize(t).unwrap().len())
        .collect();
    assert_eq!(lengths, ids);
    assert_eq!(lengths[0], 2, "special tokens only");
    assert_eq!(
        lengths[2],
        scorer.max_tokens(),
        "truncated as scoring truncates"
    );
}

#[test]
fn wrong_group_maxima_are_named() {
    let (cands, refs) = input("tiny-distilbert-L3-negative-max");
    let mut options = ScorerOptions::new(tiny("tiny-distilbert"), "tiny-distilbert");
    options.num_layers = Some(3);
    let scorer = Scorer::new(options).unwrap();
    let maxima: Vec<GroupMaxima> = whole_input_maxima(&scorer, &cands[..3], &refs[..3])
        .into_iter()
        .flatten()
        .collect();
    // Candidate 0 has two references: 4 pairs for 3 candidates.
    let error = scorer
        .score_part(&cands[..3], &refs[..3], &maxima[..3], false)
        .unwrap_err();
    assert!(matches!(error, EngineError::InvalidOption { ref name, .. } if name == "group_maxima"));
    assert!(
        error
            .to_string()
            .contains("3 entries for 4 flattened pairs"),
        "{error}"
    );

    let mut short = maxima.clone();
    short[2].reference = 1;
    let error = scorer
        .score_part(&cands[..3], &refs[..3], &short, false)
        .unwrap_err();
    assert_eq!(error.kind(), bertscore_engine::ErrorKind::BadInput);
    assert!(error.to_string().contains("flattened pair 2"), "{error}");
}
