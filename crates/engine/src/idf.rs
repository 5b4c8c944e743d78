//! Per-token weights: bert_score's `idf_dict`.
//!
//! With idf off every token weighs 1 except `[CLS]`/`[SEP]` (`<s>`/`</s>`), which weigh 0: they are
//! still matched against, but do not count in the averages. A tokenizer without them (Qwen3's)
//! zeroes nothing: every token weighs 1. With idf on (`get_idf_dict`), each
//! document is one reference's token-id *set* (special tokens included), `M` is the number of
//! documents (duplicates count), and `idf(t) = ln((M + 1) / (df(t) + 1))`; ids never seen get
//! `ln(M + 1)`.

use std::collections::HashMap;

/// A token id → weight table with a default for ids not in it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenWeights {
    weights: HashMap<u32, f64>,
    default: f64,
}

impl TokenWeights {
    /// idf off: 1 everywhere, 0 for `zero_ids` (the tokenizer's `[CLS]` and `[SEP]` ids, see
    /// [`TextTokenizer::zero_weight_ids`](crate::tokenize::TextTokenizer::zero_weight_ids); none
    /// for tokenizers without them).
    pub fn uniform(zero_ids: &[u32]) -> Self {
        Self {
            weights: zero_ids.iter().map(|&id| (id, 0.0)).collect(),
            default: 1.0,
        }
    }

    /// idf over `documents` (each a tokenized text, special tokens included).
    pub fn idf<D: AsRef<[u32]>>(documents: &[D]) -> Self {
        let mut frequencies = DocumentFrequencies::default();
        for document in documents {
            frequencies.add(document.as_ref());
        }
        frequencies.into_idf()
    }

    /// An explicit table (bert_score's `idf_dict` given by the caller): `weights[id]`, and `default` for
    /// ids not in it.
    pub fn from_table(weights: HashMap<u32, f64>, default: f64) -> Self {
        Self { weights, default }
    }

    /// The weight of one token id.
    pub fn weight(&self, id: u32) -> f64 {
        self.weights.get(&id).copied().unwrap_or(self.default)
    }

    /// The weights of a token sequence.
    pub fn weights_of(&self, ids: &[u32]) -> Vec<f64> {
        ids.iter().map(|&id| self.weight(id)).collect()
    }
}

/// Document frequencies counted one document at a time, so idf over a corpus of any size needs only
/// the vocabulary in memory, not the tokenized corpus.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentFrequencies {
    counts: HashMap<u32, usize>,
    documents: usize,
}

impl DocumentFrequencies {
    /// Counts one document (a tokenized text): each distinct id once.
    pub fn add(&mut self, document: &[u32]) {
        let mut distinct: Vec<u32> = document.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for id in distinct {
            *self.counts.entry(id).or_default() += 1;
        }
        self.documents += 1;
    }

    /// Frequencies counted elsewhere: `counts[id]` documents contain `id`, out of `documents`. Summing the
    /// counts of the parts of a corpus (see [`DocumentFrequencies::merge`]) gives the corpus's, which is how
    /// idf is computed over a distributed dataset.
    pub fn from_counts(counts: HashMap<u32, usize>, documents: usize) -> Self {
        Self { counts, documents }
    }

    /// Adds another part of the corpus.
    pub fn merge(&mut self, other: &DocumentFrequencies) {
        for (&id, &count) in &other.counts {
            *self.counts.entry(id).or_default() += count;
        }
        self.documents += other.documents;
    }

    /// Documents containing each token id seen.
    pub fn counts(&self) -> &HashMap<u32, usize> {
        &self.counts
    }

    /// Documents counted.
    pub fn documents(&self) -> usize {
        self.documents
    }

    /// `idf(t) = ln((M + 1) / (df(t) + 1))`, and `ln(M + 1)` for ids never seen.
    pub fn into_idf(self) -> TokenWeights {
        let num_docs = self.documents as f64;
        let weights = self
            .counts
            .into_iter()
            .map(|(id, df)| (id, ((num_docs + 1.0) / (df as f64 + 1.0)).ln()))
            .collect();
        TokenWeights {
            weights,
            default: (num_docs + 1.0).ln(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_zeroes_cls_and_sep() {
        let w = TokenWeights::uniform(&[101, 102]);
        assert_eq!(w.weights_of(&[101, 7, 8, 102]), vec![0.0, 1.0, 1.0, 0.0]);
        let none = TokenWeights::uniform(&[]);
        assert_eq!(none.weights_of(&[0, 101, 7]), vec![1.0, 1.0, 1.0]);
    }

    #[test]
    fn idf_counts_documents_not_occurrences() {
        // Three documents; id 5 occurs twice in the first but counts once.
        let docs = vec![vec![1, 5, 5, 2], vec![1, 6, 2], vec![1, 5, 2]];
        let w = TokenWeights::idf(&docs);
        assert!((w.weight(1) - (4.0f64 / 4.0).ln()).abs() < 1e-12);
        assert!((w.weight(5) - (4.0f64 / 3.0).ln()).abs() < 1e-12);
        assert!((w.weight(6) - (4.0f64 / 2.0).ln()).abs() < 1e-12);
        assert!((w.weight(99) - 4.0f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn merged_parts_give_the_whole_corpus() {
        let docs = vec![vec![1, 5, 5, 2], vec![1, 6, 2], vec![1, 5, 2]];
        let mut parts = DocumentFrequencies::default();
        for half in [&docs[..1], &docs[1..]] {
            let mut part = DocumentFrequencies::default();
            half.iter().for_each(|d| part.add(d));
            parts.merge(&DocumentFrequencies::from_counts(
                part.counts().clone(),
                part.documents(),
            ));
        }
        assert_eq!(parts.documents(), 3);
        assert_eq!(parts.counts()[&5], 2);
        assert_eq!(parts.into_idf(), TokenWeights::idf(&docs));
    }
}
