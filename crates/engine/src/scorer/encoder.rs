//! Running the encoder: texts → L2-normalised token vectors, in length-sorted batches, on the
//! CPU fast path ([`FastEncoder`]) or on candle.

use candle_core::{DType, Device, Tensor};

use super::{Scorer, Timings};
use crate::matching;
use crate::models::{Encoder, FastEncoder};
use crate::tokenize::TokenizedText;
use crate::{EngineError, Result};

/// The encoder, on the path it runs.
pub(super) enum LoadedEncoder {
    Candle(Box<dyn Encoder>),
    Packed(Box<dyn FastEncoder>),
}

impl LoadedEncoder {
    pub(super) fn hidden_size(&self) -> usize {
        match self {
            Self::Candle(encoder) => encoder.hidden_size(),
            Self::Packed(encoder) => encoder.hidden_size(),
        }
    }
}

/// Most tokens in one batch on the fast path (64 texts of bert_score's benchmark length are ~1,600).
const PACKED_BATCH_TOKENS: usize = 8192;

/// Consecutive runs of `order` with at most `max_texts` texts and, unless a single text exceeds
/// it alone, at most `max_tokens` tokens.
fn batches(
    order: &[usize],
    max_texts: usize,
    max_tokens: usize,
    len: impl Fn(usize) -> usize,
) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        let mut tokens = 0;
        while end < order.len() && end - start < max_texts {
            let next = len(order[end]);
            if end > start && tokens + next > max_tokens {
                break;
            }
            tokens += next;
            end += 1;
        }
        out.push(&order[start..end]);
        start = end;
    }
    out
}

/// Embedded texts: per distinct text, `layers` blocks (one per layer handed out, lowest first) of
/// `len × hidden` L2-normalised token vectors.
pub(super) struct Embeddings {
    pub(super) hidden: usize,
    pub(super) layers: usize,
    pub(super) vectors: Vec<Vec<f32>>,
}

impl Embeddings {
    /// Text `slot`'s vectors at layer block `layer` (`len × hidden`).
    pub(super) fn at(&self, slot: usize, layer: usize) -> &[f32] {
        let text = &self.vectors[slot];
        let block = text.len() / self.layers;
        &text[layer * block..(layer + 1) * block]
    }
}

/// Which hidden states [`Scorer::embed`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layers {
    /// The scorer's layer only.
    Last,
    /// The embedding output and every layer up to the scorer's (bert_score's `all_layers=True`).
    All,
}

impl Scorer {
    /// How many layer blocks [`Scorer::embed`] hands out per text.
    pub(super) fn layer_count(&self, layers: Layers) -> usize {
        match layers {
            Layers::Last => 1,
            Layers::All => self.num_layers + 1,
        }
    }

    /// Runs the encoder over all texts, longest first in batches of `batch_size`, and returns each
    /// text's L2-normalised token vectors (padding dropped) at the layers asked for.
    pub(super) fn embed_batches(
        &self,
        tokenized: &[TokenizedText],
        layers: Layers,
        progress: &(dyn Fn(usize, usize) + Sync),
        timings: &mut Timings,
    ) -> Result<Embeddings> {
        let hidden = self.encoder.hidden_size();
        let count = self.layer_count(layers);
        // The layer number a block holds (for errors).
        let layer_of = |block: usize| match layers {
            Layers::Last => self.num_layers,
            Layers::All => block,
        };
        // A text without tokens (an empty text with a tokenizer that adds no special tokens) has
        // no hidden states: it is not run, and its vectors stay empty.
        let mut order: Vec<usize> = (0..tokenized.len())
            .filter(|&i| !tokenized[i].ids.is_empty())
            .collect();
        let without_tokens = tokenized.len() - order.len();
        order.sort_by_key(|&i| std::cmp::Reverse(tokenized[i].ids.len()));

        let mut vectors: Vec<Vec<f32>> = tokenized
            .iter()
            .map(|t| Vec::with_capacity(count * t.ids.len() * hidden))
            .collect();
        // NaN/inf from the model is the model's failure, not a score.
        let mut keep = |text: usize, block: usize, rows: &[f32]| -> Result<()> {
            EngineError::check_finite(rows, layer_of(block), text)?;
            let start = vectors[text].len();
            vectors[text].extend_from_slice(rows);
            matching::normalize_rows(&mut vectors[text][start..], hidden);
            Ok(())
        };
        let total = tokenized.len();
        let mut done = without_tokens;
        timings.texts += without_tokens;
        // The fast path computes no padding, so a batch can also be cut at a token budget: its
        // activations (≈ 10 × hidden floats per token) then stay bounded however long the texts.
        let token_budget = match self.encoder {
            LoadedEncoder::Packed(_) => PACKED_BATCH_TOKENS,
            LoadedEncoder::Candle(_) => usize::MAX,
        };
        let batches = batches(&order, self.options.batch_size, token_budget, |i| {
            tokenized[i].ids.len()
        });
        for batch in batches {
            match &self.encoder {
                LoadedEncoder::Packed(encoder) => {
                    let texts: Vec<&[u32]> = batch.iter().map(|&i| &tokenized[i].ids[..]).collect();
                    let tokens: usize = texts.iter().map(|t| t.len()).sum();
                    timings.tokens += tokens;
                    timings.padded_tokens += tokens;
                    let mut failed = Ok(());
                    let mut each = |block: usize, index: usize, rows: &[f32]| {
                        if failed.is_ok() {
                            failed = keep(batch[index], block, rows);
                        }
                    };
                    match layers {
                        Layers::Last => {
                            encoder.forward(&texts, &mut |index, rows| each(0, index, rows))
                        }
                        Layers::All => encoder.forward_layers(&texts, &mut each),
                    }?;
                    failed?;
                }
                LoadedEncoder::Candle(encoder) => {
                    let seq = batch
                        .iter()
                        .map(|&i| tokenized[i].ids.len())
                        .max()
                        .unwrap_or(0);
                    let mut ids = vec![self.tokenizer.pad_id(); batch.len() * seq];
                    let mut mask = vec![0u32; batch.len() * seq];
                    for (row, &i) in batch.iter().enumerate() {
                        let text_ids = &tokenized[i].ids;
                        ids[row * seq..row * seq + text_ids.len()].copy_from_slice(text_ids);
                        mask[row * seq..row * seq + text_ids.len()].fill(1);
                        timings.tokens += text_ids.len();
                    }
                    timings.padded_tokens += batch.len() * seq;
                    let ids = Tensor::from_vec(ids, (batch.len(), seq), &self.device)?;
                    let mask = Tensor::from_vec(mask, (batch.len(), seq), &self.device)?;
                    let outputs = match layers {
                        Layers::Last => vec![encoder.forward(&ids, &mask)?],
                        Layers::All => encoder.forward_all_layers(&ids, &mask)?,
                    };
                    for (block, output) in outputs.into_iter().enumerate() {
                        let output = output
                            .to_dtype(DType::F32)?
                            .to_device(&Device::Cpu)?
                            .flatten_all()?
                            .to_vec1::<f32>()?;
                        for (row, &i) in batch.iter().enumerate() {
                            let len = tokenized[i].ids.len();
                            let start = row * seq * hidden;
                            keep(i, block, &output[start..start + len * hidden])?;
                        }
                    }
                }
            }
            timings.texts += batch.len();
            done += batch.len();
            progress(done, total);
        }
        Ok(Embeddings {
            hidden,
            layers: count,
            vectors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_respect_text_and_token_limits() {
        let lens = [500, 300, 300, 10, 10, 10, 10];
        let order: Vec<usize> = (0..lens.len()).collect();
        let cut = batches(&order, 3, 600, |i| lens[i]);
        assert_eq!(cut, vec![&[0][..], &[1, 2], &[3, 4, 5], &[6]]);
        // A text longer than the budget still gets a batch of its own.
        assert_eq!(batches(&[0], 3, 100, |i| lens[i]), vec![&[0][..]]);
        assert!(batches(&[], 3, 100, |i| lens[i]).is_empty());
    }
}
