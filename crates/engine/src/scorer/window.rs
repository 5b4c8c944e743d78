//! Long texts in windows ([`LongTexts::Window`]): a text longer than the model's window is split
//! into overlapping windows of its content tokens, each embedded as a text of its own (its
//! special tokens around it), and stitched back: every content token takes its vectors from the
//! window where it has the most context on both sides (the first such window on a tie), the start
//! token from the first window and the end token from the last. Texts that fit are embedded as
//! they are, so for them nothing differs from truncation.
//!
//! A long text's windows are embedded [`WINDOWS_AT_ONCE`] at a time and only the rows each gives
//! are kept, so memory beyond the text's own ids and vectors does not grow with its length; a
//! window no token takes its vectors from is not embedded. A text may need at most
//! [`MAX_WINDOWS_PER_TEXT`] windows (a longer text needs a larger stride).

use std::ops::Range;

use super::encoder::{Embeddings, Layers};
use super::{LongTexts, Scorer, Timings};
use crate::tokenize::TokenizedText;
use crate::{EngineError, Result};

/// Most windows one text may be split into: 16,384 windows are 8M token positions of a 512-token
/// model, minutes of encoder time per text on a CPU.
pub const MAX_WINDOWS_PER_TEXT: usize = 16_384;

/// Windows of one text embedded together: their vectors are what is held besides the texts'.
const WINDOWS_AT_ONCE: usize = 16;

/// Window starts over `content` tokens, `width` per window, `stride` apart, the last window ending
/// at the content's end.
fn window_starts(content: usize, width: usize, stride: usize) -> Vec<usize> {
    let last = content - width;
    let mut starts: Vec<usize> = (0..last).step_by(stride).collect();
    starts.push(last);
    starts
}

/// How many windows [`window_starts`] gives.
fn window_count(content: usize, width: usize, stride: usize) -> usize {
    (content - width).div_ceil(stride) + 1
}

/// For each window, the content tokens taking their vectors from it: the tokens `i` for which it
/// is the first window holding `i` with the most context on both sides. Owners only move forward
/// as `i` grows, so one pass finds them.
fn owned_ranges(content: usize, starts: &[usize], width: usize) -> Vec<Range<usize>> {
    let context = |i: usize, s: usize| (i - s).min(s + width - 1 - i);
    let mut ranges = vec![0..0; starts.len()];
    let mut w = 0;
    for i in 0..content {
        while w + 1 < starts.len()
            && starts[w + 1] <= i
            && (i >= starts[w] + width || context(i, starts[w + 1]) > context(i, starts[w]))
        {
            w += 1;
        }
        if ranges[w].is_empty() {
            ranges[w] = i..i + 1;
        } else {
            ranges[w].end = i + 1;
        }
    }
    ranges
}

impl Scorer {
    /// Runs the encoder over `tokenized` (see [`Scorer::embed_batches`]), in windows for texts
    /// longer than the model's window when the settings ask for it.
    pub(super) fn embed(
        &self,
        tokenized: &[TokenizedText],
        layers: Layers,
        progress: &(dyn Fn(usize, usize) + Sync),
        timings: &mut Timings,
    ) -> Result<Embeddings> {
        let max = self.tokenizer.max_length();
        let LongTexts::Window { stride } = self.options.long_texts else {
            return self.embed_batches(tokenized, layers, progress, timings);
        };
        if tokenized.iter().all(|t| t.ids.len() <= max) {
            return self.embed_batches(tokenized, layers, progress, timings);
        }
        // Windows are re-wrapped in the text's start and end tokens; a tokenizer that adds none (Qwen3's) would
        // have its first and last content tokens taken for them.
        if self.tokenizer.cls_id().is_none() || self.tokenizer.sep_id().is_none() {
            return Err(EngineError::InvalidOption {
                name: "long_texts".into(),
                message: format!(
                    "window mode needs a tokenizer that wraps each text in start and end tokens, and this                      model's adds none; a text here is longer than its {max} tokens: use truncation"
                ),
            });
        }
        let width = max - 2;
        let stride = stride.unwrap_or((width / 2).max(1));
        for (index, text) in tokenized.iter().enumerate() {
            let content = text.ids.len().saturating_sub(2);
            if text.ids.len() > max && window_count(content, width, stride) > MAX_WINDOWS_PER_TEXT {
                return Err(EngineError::InvalidOption {
                    name: "window_stride".into(),
                    message: format!(
                        "text {} has {content} tokens: a stride of {stride} makes {} windows of {width}, \
                         more than the {MAX_WINDOWS_PER_TEXT} a text may have; use a stride of at least {}",
                        index + 1,
                        window_count(content, width, stride),
                        (content - width).div_ceil(MAX_WINDOWS_PER_TEXT - 1)
                    ),
                });
            }
        }
        let (long, fitting): (Vec<usize>, Vec<usize>) =
            (0..tokenized.len()).partition(|&i| tokenized[i].ids.len() > max);
        let texts = tokenized.len();
        let pieces: Vec<TokenizedText> = fitting.iter().map(|&i| tokenized[i].clone()).collect();
        let scaled =
            |done: usize, total: usize| progress(done * fitting.len() / total.max(1), texts);
        let mut embedded = self.embed_batches(&pieces, layers, &scaled, timings)?;
        let mut vectors = vec![Vec::new(); texts];
        for (piece, &i) in fitting.iter().enumerate() {
            vectors[i] = std::mem::take(&mut embedded.vectors[piece]);
        }
        for (done, &i) in long.iter().enumerate() {
            vectors[i] = self.embed_windows(&tokenized[i], width, stride, layers, timings)?;
            progress(fitting.len() + done + 1, texts);
        }
        Ok(Embeddings {
            hidden: embedded.hidden,
            layers: embedded.layers,
            vectors,
        })
    }

    /// One long text's vectors (as [`Embeddings`] holds them), its windows embedded
    /// [`WINDOWS_AT_ONCE`] at a time.
    fn embed_windows(
        &self,
        text: &TokenizedText,
        width: usize,
        stride: usize,
        layers: Layers,
        timings: &mut Timings,
    ) -> Result<Vec<f32>> {
        let len = text.ids.len();
        let (start_token, content) = (text.ids[0], &text.ids[1..len - 1]);
        let end_token = text.ids[len - 1];
        let starts = window_starts(content.len(), width, stride);
        let owned = owned_ranges(content.len(), &starts, width);
        let last = starts.len() - 1;
        // The windows that give vectors: those owning a token, the first (start token), the last (end token).
        let used: Vec<usize> = (0..starts.len())
            .filter(|&w| w == 0 || w == last || !owned[w].is_empty())
            .collect();
        let mut out: Vec<f32> = Vec::new();
        for group in used.chunks(WINDOWS_AT_ONCE) {
            let pieces: Vec<TokenizedText> = group
                .iter()
                .map(|&w| {
                    let mut ids = Vec::with_capacity(width + 2);
                    ids.push(start_token);
                    ids.extend_from_slice(&content[starts[w]..starts[w] + width]);
                    ids.push(end_token);
                    TokenizedText {
                        ids,
                        truncated: false,
                    }
                })
                .collect();
            let embedded = self.embed_batches(&pieces, layers, &|_, _| {}, timings)?;
            let hidden = embedded.hidden;
            if out.is_empty() {
                out = vec![0.0; embedded.layers * len * hidden];
            }
            for (piece, &w) in group.iter().enumerate() {
                for block in 0..embedded.layers {
                    let window = embedded.at(piece, block);
                    let text_block = &mut out[block * len * hidden..(block + 1) * len * hidden];
                    let mut copy = |to: usize, from: usize| {
                        text_block[to * hidden..(to + 1) * hidden]
                            .copy_from_slice(&window[from * hidden..(from + 1) * hidden]);
                    };
                    if w == 0 {
                        copy(0, 0);
                    }
                    for i in owned[w].clone() {
                        copy(i + 1, i - starts[w] + 1);
                    }
                    if w == last {
                        copy(len - 1, width + 1);
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window giving content token `i` the most context on both sides (the first on a tie),
    /// by trying every window: the definition [`owned_ranges`] computes in one pass.
    fn best_window(i: usize, starts: &[usize], width: usize) -> usize {
        let mut best = 0;
        let mut best_context = None;
        for (w, &s) in starts.iter().enumerate() {
            if s <= i && i < s + width {
                let context = (i - s).min(s + width - 1 - i);
                if best_context.is_none_or(|b| context > b) {
                    best = w;
                    best_context = Some(context);
                }
            }
        }
        best
    }

    #[test]
    fn owned_ranges_are_the_best_windows() {
        for content in [5, 6, 11, 40, 97] {
            for width in [2, 3, 4, 5] {
                if width > content {
                    continue;
                }
                for stride in 1..=width {
                    let starts = window_starts(content, width, stride);
                    assert_eq!(starts.len(), window_count(content, width, stride));
                    let owned = owned_ranges(content, &starts, width);
                    for i in 0..content {
                        let w = best_window(i, &starts, width);
                        assert!(owned[w].contains(&i), "{content} {width} {stride} {i}");
                    }
                    assert_eq!(owned.iter().map(|r| r.len()).sum::<usize>(), content);
                }
            }
        }
    }

    #[test]
    fn windows_cover_the_content_and_end_at_its_end() {
        assert_eq!(window_starts(10, 4, 2), [0, 2, 4, 6]);
        assert_eq!(window_starts(11, 4, 2), [0, 2, 4, 6, 7]);
        assert_eq!(window_starts(5, 4, 4), [0, 1]);
    }

    #[test]
    fn each_token_takes_the_window_where_it_is_most_central() {
        let starts = window_starts(10, 4, 2);
        // Token 0 only in window 0; token 3 is central in window 1 (offset 1 of 0..3: context 1)
        // or window 0 (offset 3: context 0).
        assert_eq!(best_window(0, &starts, 4), 0);
        assert_eq!(best_window(3, &starts, 4), 1);
        assert_eq!(best_window(9, &starts, 4), 3);
        for i in 0..10 {
            let w = best_window(i, &starts, 4);
            assert!(starts[w] <= i && i < starts[w] + 4);
        }
    }
}
