//! All-pairs scoring (score matrices, minimum-Bayes-risk selection): texts are embedded once and
//! any candidate can then be matched against any reference.
//!
//! A matrix cell is the score of the pair *alone*: the pair is its own group of one in bert_score's
//! padding rule (see [`crate::matching`]), so no best match is raised to 0 — exactly what
//! [`Scorer::score`] gives for that single pair.

use std::time::Instant;

use super::encoder::{Embeddings, Layers};
use super::{PairScore, Scorer, Timings};
use crate::Result;
use crate::idf::TokenWeights;
use crate::matching::{self, Padded, TokenVectors};

/// Texts tokenized, weighted and embedded once, at the scorer's layer.
pub struct EmbeddedTexts {
    weights: Vec<Vec<f64>>,
    embeddings: Embeddings,
}

impl EmbeddedTexts {
    /// How many texts.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    fn view(&self, i: usize) -> TokenVectors<'_> {
        TokenVectors {
            vectors: self.embeddings.at(i, 0),
            weights: &self.weights[i],
        }
    }
}

impl Scorer {
    /// The token weights the settings ask for when `references` are the references (idf over them
    /// with `IdfMode::References`; uniform, the corpus's or the given table otherwise).
    pub fn weights_for_references(&self, references: &[String]) -> Result<TokenWeights> {
        self.in_pool(|| self.token_weights(std::slice::from_ref(&references.to_vec())))
    }

    /// Tokenizes and embeds `texts` once (in length-sorted batches) with these token weights.
    pub fn embed_texts(
        &self,
        texts: &[String],
        weights: &TokenWeights,
        timings: &mut Timings,
    ) -> Result<EmbeddedTexts> {
        self.in_pool(|| {
            let started = Instant::now();
            let tokenized = self.tokenizer.encode_all(texts)?;
            let text_weights = tokenized
                .iter()
                .map(|t| weights.weights_of(&t.ids))
                .collect();
            timings.tokenize += started.elapsed();
            let started = Instant::now();
            let embeddings = self.embed(&tokenized, Layers::Last, &|_, _| {}, timings)?;
            timings.encode += started.elapsed();
            Ok(EmbeddedTexts {
                weights: text_weights,
                embeddings,
            })
        })
    }

    /// The score of candidate `i` of `cands` against reference `j` of `refs`, as a pair scored
    /// alone (rescaled when the scorer has a baseline).
    pub fn match_embedded(
        &self,
        cands: &EmbeddedTexts,
        i: usize,
        refs: &EmbeddedTexts,
        j: usize,
    ) -> PairScore {
        let (score, _) = matching::score_pair(
            cands.view(i),
            refs.view(j),
            cands.embeddings.hidden,
            Padded::default(),
        );
        match &self.options.baseline {
            Some(baseline) => baseline.rescale(score),
            None => score,
        }
    }

    /// Every candidate of `cands` against every reference of `refs`: `[i][j]`, rows in parallel.
    pub fn match_all(&self, cands: &EmbeddedTexts, refs: &EmbeddedTexts) -> Vec<Vec<PairScore>> {
        self.match_rows(cands, 0..cands.len(), refs)
    }

    /// Rows `rows` of [`Self::match_all`]'s matrix (`[i - rows.start][j]`), rows in parallel: a caller
    /// writing a large matrix holds one block of rows at a time.
    pub fn match_rows(
        &self,
        cands: &EmbeddedTexts,
        rows: std::ops::Range<usize>,
        refs: &EmbeddedTexts,
    ) -> Vec<Vec<PairScore>> {
        use rayon::prelude::*;
        self.in_pool(|| {
            rows.into_par_iter()
                .map(|i| {
                    (0..refs.len())
                        .map(|j| self.match_embedded(cands, i, refs, j))
                        .collect()
                })
                .collect()
        })
    }
}
