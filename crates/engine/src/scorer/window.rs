//! Long texts in windows ([`LongTexts::Window`]): a text longer than the model's window is split
//! into overlapping windows of its content tokens, each embedded as a text of its own (its
//! special tokens around it), and stitched back: every content token takes its vectors from the
//! window where it has the most context on both sides (the first such window on a tie), the start
//! token from the first window and the end token from the last. Texts that fit are embedded as
//! they are, so for them nothing differs from truncation.

use super::encoder::{Embeddings, Layers};
use super::{LongTexts, Scorer, Timings};
use crate::Result;
use crate::tokenize::TokenizedText;

/// How one text is embedded.
enum Plan {
    /// As it is: piece `0`.
    Whole(usize),
    /// In windows: pieces `first..first + starts.len()`, window `w` holding content tokens
    /// `starts[w]..starts[w] + width`.
    Windows {
        first: usize,
        starts: Vec<usize>,
        width: usize,
    },
}

/// Window starts over `content` tokens, `width` per window, `stride` apart, the last window ending
/// at the content's end.
fn window_starts(content: usize, width: usize, stride: usize) -> Vec<usize> {
    let last = content - width;
    let mut starts: Vec<usize> = (0..last).step_by(stride).collect();
    starts.push(last);
    starts
}

/// The window giving content token `i` the most context on both sides.
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
        let width = max - 2;
        let stride = stride.unwrap_or((width / 2).max(1));
        let mut pieces: Vec<TokenizedText> = Vec::new();
        let plans: Vec<Plan> = tokenized
            .iter()
            .map(|t| {
                if t.ids.len() <= max {
                    pieces.push(t.clone());
                    return Plan::Whole(pieces.len() - 1);
                }
                let (start_token, rest) = t.ids.split_first().expect("special tokens");
                let (end_token, content) = rest.split_last().expect("special tokens");
                let starts = window_starts(content.len(), width, stride);
                let first = pieces.len();
                for &s in &starts {
                    let mut ids = Vec::with_capacity(max);
                    ids.push(*start_token);
                    ids.extend_from_slice(&content[s..s + width]);
                    ids.push(*end_token);
                    pieces.push(TokenizedText {
                        ids,
                        truncated: false,
                    });
                }
                Plan::Windows {
                    first,
                    starts,
                    width,
                }
            })
            .collect();
        let texts = tokenized.len();
        let scaled = |done: usize, total: usize| progress(done * texts / total.max(1), texts);
        let embedded = self.embed_batches(&pieces, layers, &scaled, timings)?;
        let hidden = embedded.hidden;
        let vectors = plans
            .iter()
            .zip(tokenized)
            .map(|(plan, text)| match plan {
                Plan::Whole(piece) => embedded.vectors[*piece].clone(),
                Plan::Windows {
                    first,
                    starts,
                    width,
                } => {
                    let content = text.ids.len() - 2;
                    let mut out = Vec::with_capacity(embedded.layers * text.ids.len() * hidden);
                    for block in 0..embedded.layers {
                        let row = |piece: usize, r: usize| {
                            &embedded.at(first + piece, block)[r * hidden..(r + 1) * hidden]
                        };
                        out.extend_from_slice(row(0, 0));
                        for i in 0..content {
                            let w = best_window(i, starts, *width);
                            out.extend_from_slice(row(w, i - starts[w] + 1));
                        }
                        out.extend_from_slice(row(starts.len() - 1, width + 1));
                    }
                    out
                }
            })
            .collect();
        Ok(Embeddings {
            hidden,
            layers: embedded.layers,
            vectors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
