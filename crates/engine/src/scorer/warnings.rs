//! What scoring noticed on the way (empty texts, NaN from idf, truncation) and the warnings it
//! turns into.

use super::{PairScore, Scorer};
use crate::matching;
use crate::tokenize::TokenizedText;

impl Scorer {
    /// What bert_score would have printed, and what it silently did (truncation, NaN from idf).
    pub(super) fn warnings(&self, notes: &Notes) -> Vec<String> {
        let mut warnings = Vec::new();
        for (list, what) in [
            (&notes.empty_candidates, "candidate"),
            (&notes.empty_references, "reference"),
        ] {
            if !list.is_empty() {
                warnings.push(format!(
                    "Empty {what} sentence detected (for candidate {}); setting raw BERTScores to 0.",
                    index_list(list)
                ));
            }
        }
        if !notes.nan_candidates.is_empty() {
            warnings.push(format!(
                "All token weights of a text are 0 (every one of its tokens occurs in every idf document) for candidate {}: its precision or recall is NaN, as in bert_score.",
                index_list(&notes.nan_candidates)
            ));
        }
        if let Some(first) = &notes.first_truncated {
            warnings.push(format!(
                "{} text(s) longer than {} tokens were truncated to {} tokens, as bert_score does (first: {:?}).",
                notes.truncated,
                self.tokenizer.max_length(),
                self.tokenizer.max_length(),
                first
            ));
        }
        if let Some(first) = &notes.first_windowed {
            warnings.push(format!(
                "{} text(s) longer than {} tokens were embedded whole in overlapping windows (first: {:?}).",
                notes.windowed,
                self.tokenizer.max_length(),
                first
            ));
        }
        warnings
    }
}

/// What matching noticed, over all chunks, by global candidate index.
#[derive(Default)]
pub(super) struct Notes {
    empty_candidates: Vec<usize>,
    empty_references: Vec<usize>,
    nan_candidates: Vec<usize>,
    truncated: usize,
    first_truncated: Option<String>,
    /// Texts longer than the window, embedded in windows (distinct texts, per chunk).
    windowed: usize,
    first_windowed: Option<String>,
}

impl Notes {
    pub(super) fn record(
        &mut self,
        offset: usize,
        texts: &[&str],
        tokenized: &[TokenizedText],
        pairs: &[(usize, usize, usize)],
        pair_scores: &[(PairScore, matching::MatchNotes)],
        window: usize,
    ) {
        let push = |list: &mut Vec<usize>, i: usize| {
            if list.last() != Some(&i) {
                list.push(i);
            }
        };
        for (&(i, _, _), (score, notes)) in pairs.iter().zip(pair_scores) {
            let i = offset + i;
            if notes.empty_candidate {
                push(&mut self.empty_candidates, i);
            }
            if notes.empty_reference {
                push(&mut self.empty_references, i);
            }
            if score.precision.is_nan() || score.recall.is_nan() {
                push(&mut self.nan_candidates, i);
            }
        }
        for (text, t) in texts.iter().zip(tokenized) {
            if t.truncated {
                self.truncated += 1;
                self.first_truncated
                    .get_or_insert_with(|| text.chars().take(60).collect());
            }
            if t.ids.len() > window {
                self.windowed += 1;
                self.first_windowed
                    .get_or_insert_with(|| text.chars().take(60).collect());
            }
        }
    }
}

/// "3, 5, 8" or "3, 5, 8, ... (12 in all)".
fn index_list(indices: &[usize]) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = indices.iter().take(SHOWN).map(usize::to_string).collect();
    if indices.len() > SHOWN {
        format!("{}, ... ({} in all)", shown.join(", "), indices.len())
    } else {
        shown.join(", ")
    }
}
