//! Multi-head self-attention over unpadded sequences: softmax(q kᵀ/√d) v per sequence and head.
//!
//! bert_score pads a batch to its longest text and masks the padding keys with the dtype's lowest
//! value, so their softmax weight is exactly 0. Attending over each sequence's own tokens only
//! computes the same function without the padded rows and columns.

use rayon::prelude::*;

use crate::{Isa, math};

/// A sequence's token rows in a batch: rows `start .. start + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceSpan {
    /// The sequence's first row.
    pub start: usize,
    /// Its number of rows (tokens).
    pub len: usize,
}

/// Query rows computed together: independent accumulator chains for the FMA pipes.
const QUERY_GROUP: usize = 4;

/// `context = attention(q, k, v)` for every sequence and head.
///
/// `qkv` is `rows × 3·hidden` (the query, key and value projections side by side, heads
/// contiguous within each), `context` is `rows × hidden`; `spans` cover the rows in order.
pub fn attention(
    qkv: &[f32],
    hidden: usize,
    heads: usize,
    spans: &[SequenceSpan],
    context: &mut [f32],
    isa: Isa,
) {
    assert_eq!(
        hidden % heads,
        0,
        "hidden size is not a multiple of the head count"
    );
    let rows = context.len() / hidden;
    assert_eq!(qkv.len(), rows * 3 * hidden, "qkv shape");
    let mut parts = Vec::with_capacity(spans.len());
    let mut rest = context;
    let mut next_row = 0;
    for span in spans {
        assert_eq!(span.start, next_row, "spans must cover the rows in order");
        let (this, tail) = rest.split_at_mut(span.len * hidden);
        parts.push((*span, this));
        rest = tail;
        next_row += span.len;
    }
    assert_eq!(next_row, rows, "spans must cover every row");

    let head_dim = hidden / heads;
    parts.into_par_iter().for_each(|(span, out)| {
        let sequence = &qkv[span.start * 3 * hidden..(span.start + span.len) * 3 * hidden];
        let mut scratch = Vec::new();
        for head in 0..heads {
            let job = HeadJob {
                qkv: sequence,
                hidden,
                head_dim,
                head,
                len: span.len,
            };
            #[cfg(target_arch = "x86_64")]
            if isa.avx512f() {
                // SAFETY: avx512f is present; `job` describes `sequence` and `out` exactly.
                let done = unsafe { avx512::head(&job, out, &mut scratch) };
                if done {
                    continue;
                }
            }
            head_portable(&job, out, &mut scratch);
        }
    });
}

/// One head of one sequence.
struct HeadJob<'a> {
    /// The sequence's `len × 3·hidden` rows.
    qkv: &'a [f32],
    hidden: usize,
    head_dim: usize,
    head: usize,
    len: usize,
}

impl HeadJob<'_> {
    fn q(&self, i: usize, c: usize) -> f32 {
        self.qkv[i * 3 * self.hidden + self.head * self.head_dim + c]
    }
    fn k(&self, j: usize, c: usize) -> f32 {
        self.qkv[j * 3 * self.hidden + self.hidden + self.head * self.head_dim + c]
    }
    fn v(&self, j: usize, c: usize) -> f32 {
        self.qkv[j * 3 * self.hidden + 2 * self.hidden + self.head * self.head_dim + c]
    }
    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

fn head_portable(job: &HeadJob<'_>, out: &mut [f32], scratch: &mut Vec<f32>) {
    let len = job.len;
    scratch.clear();
    scratch.resize(len, 0.0);
    for i in 0..len {
        let scores = &mut scratch[..len];
        for (j, score) in scores.iter_mut().enumerate() {
            let dot =
                (0..job.head_dim).fold(0.0f32, |acc, c| job.q(i, c).mul_add(job.k(j, c), acc));
            *score = dot * job.scale();
        }
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for score in scores.iter_mut() {
            *score = math::exp(*score - max);
            sum += *score;
        }
        let inv = 1.0 / sum;
        for c in 0..job.head_dim {
            let value = (0..len).fold(0.0f32, |acc, j| scores[j].mul_add(job.v(j, c), acc));
            out[i * job.hidden + job.head * job.head_dim + c] = value * inv;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{HeadJob, QUERY_GROUP};
    use crate::math::avx512::exp;

    /// Runs one head when its width is 16, 32, 64 or 128; returns false otherwise.
    ///
    /// # Safety
    /// avx512f; `out` is the sequence's `len × hidden` context rows.
    pub(super) unsafe fn head(job: &HeadJob<'_>, out: &mut [f32], scratch: &mut Vec<f32>) -> bool {
        // SAFETY: forwarded contract.
        unsafe {
            match job.head_dim {
                16 => head_of::<1>(job, out, scratch),
                32 => head_of::<2>(job, out, scratch),
                64 => head_of::<4>(job, out, scratch),
                128 => head_of::<8>(job, out, scratch),
                _ => return false,
            }
        }
        true
    }

    /// A head of `DV` vectors of 16: keys transposed once so each query's scores are
    /// computed 16 keys at a time; the softmax runs on whole vectors with the tail masked.
    #[target_feature(enable = "avx512f")]
    unsafe fn head_of<const DV: usize>(job: &HeadJob<'_>, out: &mut [f32], scratch: &mut Vec<f32>) {
        let (len, d, hidden) = (job.len, job.head_dim, job.hidden);
        let padded = len.div_ceil(16) * 16;
        let chunks = padded / 16;
        scratch.clear();
        scratch.resize(d * padded + QUERY_GROUP * padded, 0.0);
        let (keys_t, probs) = scratch.split_at_mut(d * padded);
        for j in 0..len {
            for c in 0..d {
                keys_t[c * padded + j] = job.k(j, c);
            }
        }
        let ld = 3 * hidden;
        let q_base = job.qkv[job.head * d..].as_ptr();
        let v_base = job.qkv[2 * hidden + job.head * d..].as_ptr();
        let scale = _mm512_set1_ps(job.scale());
        let tail = len - (chunks - 1) * 16;
        let tail_mask: __mmask16 = if tail == 16 { !0 } else { (1 << tail) - 1 };

        for first in (0..len).step_by(QUERY_GROUP) {
            let rows = QUERY_GROUP.min(len - first);
            // Rows past the sequence repeat its last row; their results are not stored.
            let row = |r: usize| first + r.min(rows - 1);
            for chunk in 0..chunks {
                let mut acc = [_mm512_setzero_ps(); QUERY_GROUP];
                for c in 0..d {
                    // SAFETY: `keys_t` has `d × padded` floats; q rows are inside the sequence.
                    unsafe {
                        let k = _mm512_loadu_ps(keys_t.as_ptr().add(c * padded + chunk * 16));
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let q = _mm512_set1_ps(*q_base.add(row(r) * ld + c));
                            *acc = _mm512_fmadd_ps(q, k, *acc);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    // SAFETY: `probs` has QUERY_GROUP rows of `padded`.
                    unsafe {
                        _mm512_storeu_ps(
                            probs.as_mut_ptr().add(r * padded + chunk * 16),
                            _mm512_mul_ps(*acc, scale),
                        )
                    };
                }
            }
            for r in 0..rows {
                let scores = &mut probs[r * padded..(r + 1) * padded];
                // SAFETY: `scores` holds `chunks` vectors.
                unsafe { softmax_in_place(scores, chunks, tail_mask) };
            }
            let mut acc = [[_mm512_setzero_ps(); DV]; QUERY_GROUP];
            for j in 0..len {
                // SAFETY: value row `j` is inside the sequence; probs rows as above.
                unsafe {
                    let v_row = v_base.add(j * ld);
                    let p: [__m512; QUERY_GROUP] =
                        std::array::from_fn(|r| _mm512_set1_ps(probs[r * padded + j]));
                    let values: [__m512; DV] =
                        std::array::from_fn(|v| _mm512_loadu_ps(v_row.add(v * 16)));
                    for (acc, &p) in acc.iter_mut().zip(&p) {
                        for (acc, &values) in acc.iter_mut().zip(&values) {
                            *acc = _mm512_fmadd_ps(p, values, *acc);
                        }
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate().take(rows) {
                let at = (first + r) * hidden + job.head * d;
                for (v, &value) in acc.iter().enumerate() {
                    // SAFETY: row `first + r` < len of the context rows.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(at + v * 16), value) };
                }
            }
        }
    }

    /// Softmax over the first `(chunks - 1)·16 + popcount(tail_mask)` scores; the rest become 0.
    #[target_feature(enable = "avx512f")]
    unsafe fn softmax_in_place(scores: &mut [f32], chunks: usize, tail_mask: __mmask16) {
        let ptr = scores.as_mut_ptr();
        let mask = |chunk: usize| if chunk + 1 == chunks { tail_mask } else { !0 };
        // SAFETY: `scores` holds `chunks` vectors.
        unsafe {
            let mut max = _mm512_set1_ps(f32::NEG_INFINITY);
            for chunk in 0..chunks {
                max =
                    _mm512_mask_max_ps(max, mask(chunk), max, _mm512_loadu_ps(ptr.add(chunk * 16)));
            }
            let max = _mm512_set1_ps(_mm512_reduce_max_ps(max));
            let mut sum = _mm512_setzero_ps();
            for chunk in 0..chunks {
                let x = _mm512_sub_ps(_mm512_loadu_ps(ptr.add(chunk * 16)), max);
                let e = _mm512_maskz_mov_ps(mask(chunk), exp(x));
                sum = _mm512_add_ps(sum, e);
                _mm512_storeu_ps(ptr.add(chunk * 16), e);
            }
            let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sum));
            for chunk in 0..chunks {
                let p = ptr.add(chunk * 16);
                _mm512_storeu_ps(p, _mm512_mul_ps(_mm512_loadu_ps(p), inv));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Padded, masked attention in f64, the way a padded batch computes it.
    fn reference(qkv: &[f32], hidden: usize, heads: usize, span: SequenceSpan) -> Vec<f64> {
        let d = hidden / heads;
        let at = |row: usize, col: usize| qkv[(span.start + row) * 3 * hidden + col] as f64;
        let mut out = vec![0.0; span.len * hidden];
        for h in 0..heads {
            for i in 0..span.len {
                let scores: Vec<f64> = (0..span.len)
                    .map(|j| {
                        (0..d)
                            .map(|c| at(i, h * d + c) * at(j, hidden + h * d + c))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = weights.iter().sum();
                for c in 0..d {
                    out[i * hidden + h * d + c] = (0..span.len)
                        .map(|j| weights[j] * at(j, 2 * hidden + h * d + c))
                        .sum::<f64>()
                        / sum;
                }
            }
        }
        out
    }

    #[test]
    fn matches_reference_for_every_length_and_head_width() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (hidden, heads) in [(64, 2), (64, 4), (128, 2), (40, 5)] {
            let lens = [1, 3, 16, 17, 33, 5];
            let rows: usize = lens.iter().sum();
            let qkv: Vec<f32> = (0..rows * 3 * hidden)
                .map(|_| rng.random_range(-2.0f32..2.0))
                .collect();
            let mut spans = Vec::new();
            let mut start = 0;
            for len in lens {
                spans.push(SequenceSpan { start, len });
                start += len;
            }
            for isa in [Isa::detect(), Isa::portable()] {
                let mut context = vec![f32::NAN; rows * hidden];
                attention(&qkv, hidden, heads, &spans, &mut context, isa);
                for span in &spans {
                    let want = reference(&qkv, hidden, heads, *span);
                    let got = &context[span.start * hidden..(span.start + span.len) * hidden];
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (*g as f64 - w).abs() < 1e-5,
                            "{g} vs {w} ({isa:?}, {hidden}/{heads})"
                        );
                    }
                }
            }
        }
    }
}
