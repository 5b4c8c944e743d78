//! Multi-head self-attention over unpadded sequences: softmax(q kᵀ/√d + mask) v per sequence and
//! head, with full, sliding-window or causal masks and grouped-query heads.
//!
//! bert_score pads a batch to its longest text and masks the padding keys with the dtype's lowest
//! value, so their softmax weight is exactly 0. Attending over each sequence's own tokens only
//! computes the same function without the padded rows and columns. A mask keeps, for query `i`,
//! the keys of one contiguous range `lo(i) .. hi(i)` (both non-decreasing in `i`), so only that
//! range is ever computed: a sliding window costs O(T·w), not O(T²).
//!
//! Memory: a job is one block of at most [`QUERY_BLOCK`] query rows of one sequence, one head at
//! a time; its scratch is the block's keys (transposed) and [`QUERY_GROUP`] rows of scores, never
//! a T×T matrix. Jobs run in parallel, so a single long text uses every thread.

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

/// Which keys a query attends to, within its own sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionMask {
    /// Every key of the sequence (BERT, ModernBERT's global layers).
    Full,
    /// Key `j` for query `i` when `|i - j| <= half_width` (ModernBERT's local layers:
    /// `local_attention / 2`).
    SlidingWindow(usize),
    /// Key `j` for query `i` when `j <= i` (decoders).
    Causal,
}

impl AttentionMask {
    /// The keys `lo .. hi` query `i` of a `len`-token sequence attends to.
    fn keys(self, i: usize, len: usize) -> (usize, usize) {
        match self {
            Self::Full => (0, len),
            Self::SlidingWindow(w) => (i.saturating_sub(w), (i + w + 1).min(len)),
            Self::Causal => (0, i + 1),
        }
    }
}

/// The heads of an attention layer: `heads` query heads of width `head_dim`, and `kv_heads` key
/// and value heads (grouped-query attention when fewer: query head `i` uses key/value head
/// `i / (heads / kv_heads)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Query heads.
    pub heads: usize,
    /// Key and value heads; divides `heads`.
    pub kv_heads: usize,
    /// Each head's width.
    pub head_dim: usize,
}

impl AttentionShape {
    /// `heads` heads over `hidden` values, as many key/value heads as query heads.
    pub fn multi_head(hidden: usize, heads: usize) -> Self {
        assert_eq!(
            hidden % heads,
            0,
            "hidden size is not a multiple of the head count"
        );
        Self {
            heads,
            kv_heads: heads,
            head_dim: hidden / heads,
        }
    }

    /// The width of a `qkv` row: `heads` query heads, then `kv_heads` key and `kv_heads` value heads.
    pub fn qkv_width(self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }

    /// The width of a context row: `heads · head_dim`.
    pub fn context_width(self) -> usize {
        self.heads * self.head_dim
    }
}

/// Query rows computed together: independent accumulator chains for the FMA pipes.
const QUERY_GROUP: usize = 4;
/// Query rows of one job: long sequences are split so that every thread works on them.
const QUERY_BLOCK: usize = 128;

/// `context = attention(q, k, v)` for every sequence and head, every key of the sequence
/// attended (as many key/value heads as query heads).
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
    attention_masked(
        qkv,
        AttentionShape::multi_head(hidden, heads),
        AttentionMask::Full,
        spans,
        context,
        isa,
    );
}

/// `context = attention(q, k, v)` for every sequence and head under `mask`.
///
/// `qkv` is `rows × shape.qkv_width()`: each row holds the `heads` query heads, then the
/// `kv_heads` key heads, then the `kv_heads` value heads, each head's values contiguous.
/// `context` is `rows × shape.context_width()`; `spans` cover the rows in order.
pub fn attention_masked(
    qkv: &[f32],
    shape: AttentionShape,
    mask: AttentionMask,
    spans: &[SequenceSpan],
    context: &mut [f32],
    isa: Isa,
) {
    assert!(
        shape.kv_heads > 0 && shape.heads.is_multiple_of(shape.kv_heads),
        "the query heads ({}) are not a multiple of the key/value heads ({})",
        shape.heads,
        shape.kv_heads
    );
    let width = shape.context_width();
    let rows = context.len() / width.max(1);
    assert_eq!(context.len(), rows * width, "context shape");
    assert_eq!(qkv.len(), rows * shape.qkv_width(), "qkv shape");
    let mut jobs = Vec::with_capacity(spans.len());
    let mut rest = context;
    let mut next_row = 0;
    for span in spans {
        assert_eq!(span.start, next_row, "spans must cover the rows in order");
        for first in (0..span.len).step_by(QUERY_BLOCK) {
            let last = (first + QUERY_BLOCK).min(span.len);
            let (this, tail) = rest.split_at_mut((last - first) * width);
            jobs.push((*span, first..last, this));
            rest = tail;
        }
        next_row += span.len;
    }
    assert_eq!(next_row, rows, "spans must cover every row");

    jobs.into_par_iter().for_each(|(span, queries, out)| {
        let ld = shape.qkv_width();
        let sequence = &qkv[span.start * ld..(span.start + span.len) * ld];
        let mut scratch = Vec::new();
        for head in 0..shape.heads {
            let job = HeadJob {
                qkv: sequence,
                shape,
                mask,
                head,
                kv_head: head / (shape.heads / shape.kv_heads),
                len: span.len,
                queries: queries.clone(),
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

/// One head of one block of query rows of one sequence.
struct HeadJob<'a> {
    /// The sequence's `len × qkv_width` rows.
    qkv: &'a [f32],
    shape: AttentionShape,
    mask: AttentionMask,
    head: usize,
    kv_head: usize,
    len: usize,
    /// The query rows (of the sequence) this job computes; `out` holds exactly these rows.
    queries: std::ops::Range<usize>,
}

impl HeadJob<'_> {
    fn ld(&self) -> usize {
        self.shape.qkv_width()
    }
    fn q_offset(&self) -> usize {
        self.head * self.shape.head_dim
    }
    fn k_offset(&self) -> usize {
        (self.shape.heads + self.kv_head) * self.shape.head_dim
    }
    fn v_offset(&self) -> usize {
        (self.shape.heads + self.shape.kv_heads + self.kv_head) * self.shape.head_dim
    }
    fn q(&self, i: usize, c: usize) -> f32 {
        self.qkv[i * self.ld() + self.q_offset() + c]
    }
    fn k(&self, j: usize, c: usize) -> f32 {
        self.qkv[j * self.ld() + self.k_offset() + c]
    }
    fn v(&self, j: usize, c: usize) -> f32 {
        self.qkv[j * self.ld() + self.v_offset() + c]
    }
    fn scale(&self) -> f32 {
        1.0 / (self.shape.head_dim as f32).sqrt()
    }
    /// Where query row `i`'s values for this head go in `out`.
    fn out_at(&self, i: usize) -> usize {
        (i - self.queries.start) * self.shape.context_width() + self.q_offset()
    }
}

fn head_portable(job: &HeadJob<'_>, out: &mut [f32], scratch: &mut Vec<f32>) {
    let d = job.shape.head_dim;
    for i in job.queries.clone() {
        let (lo, hi) = job.mask.keys(i, job.len);
        scratch.clear();
        scratch.extend((lo..hi).map(|j| {
            let dot = (0..d).fold(0.0f32, |acc, c| job.q(i, c).mul_add(job.k(j, c), acc));
            dot * job.scale()
        }));
        let max = scratch.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for score in scratch.iter_mut() {
            *score = math::exp(*score - max);
            sum += *score;
        }
        let inv = 1.0 / sum;
        let at = job.out_at(i);
        for c in 0..d {
            let value = (lo..hi).fold(0.0f32, |acc, j| scratch[j - lo].mul_add(job.v(j, c), acc));
            out[at + c] = value * inv;
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
    /// avx512f; `out` is the job's query rows of context.
    pub(super) unsafe fn head(job: &HeadJob<'_>, out: &mut [f32], scratch: &mut Vec<f32>) -> bool {
        // SAFETY: forwarded contract.
        unsafe {
            match job.shape.head_dim {
                16 => head_of::<1>(job, out, scratch),
                32 => head_of::<2>(job, out, scratch),
                64 => head_of::<4>(job, out, scratch),
                128 => head_of::<8>(job, out, scratch),
                _ => return false,
            }
        }
        true
    }

    /// The lanes of 16-float chunk `chunk` that fall in `lo .. hi`.
    fn lanes(chunk: usize, lo: usize, hi: usize) -> __mmask16 {
        let from = lo.saturating_sub(chunk * 16).min(16);
        let to = hi.saturating_sub(chunk * 16).min(16);
        (((1u32 << to) - 1) & !((1u32 << from) - 1)) as __mmask16
    }

    /// A head of `DV` vectors of 16: the block's keys transposed once so each query's scores are
    /// computed 16 keys at a time; the softmax runs on whole vectors, the lanes outside the
    /// query's keys masked to 0.
    #[target_feature(enable = "avx512f")]
    unsafe fn head_of<const DV: usize>(job: &HeadJob<'_>, out: &mut [f32], scratch: &mut Vec<f32>) {
        let (len, d, ld) = (job.len, job.shape.head_dim, job.ld());
        let queries = job.queries.clone();
        // The keys any query of the block attends to (lo and hi are non-decreasing in i).
        let key_lo = job.mask.keys(queries.start, len).0;
        let key_hi = job.mask.keys(queries.end - 1, len).1;
        let padded = (key_hi - key_lo).div_ceil(16) * 16;
        scratch.clear();
        scratch.resize(d * padded + QUERY_GROUP * padded, 0.0);
        let (keys_t, probs) = scratch.split_at_mut(d * padded);
        for j in key_lo..key_hi {
            for c in 0..d {
                keys_t[c * padded + j - key_lo] = job.k(j, c);
            }
        }
        let q_base = job.qkv[job.q_offset()..].as_ptr();
        let v_base = job.qkv[job.v_offset()..].as_ptr();
        let scale = _mm512_set1_ps(job.scale());

        for first in queries.clone().step_by(QUERY_GROUP) {
            let rows = QUERY_GROUP.min(queries.end - first);
            // Rows past the block repeat its last row; their results are not stored.
            let row = |r: usize| first + r.min(rows - 1);
            // The keys of the group, relative to key_lo, and the chunks covering them.
            let group_lo = job.mask.keys(first, len).0 - key_lo;
            let group_hi = job.mask.keys(first + rows - 1, len).1 - key_lo;
            let chunks = group_lo / 16..group_hi.div_ceil(16);
            for chunk in chunks.clone() {
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
                let (lo, hi) = job.mask.keys(first + r, len);
                let scores = &mut probs[r * padded..(r + 1) * padded];
                // SAFETY: `scores` holds every chunk of `chunks`.
                unsafe { softmax_in_place(scores, chunks.clone(), lo - key_lo, hi - key_lo) };
            }
            let mut acc = [[_mm512_setzero_ps(); DV]; QUERY_GROUP];
            for j in group_lo..group_hi {
                // SAFETY: value row `key_lo + j` is inside the sequence; probs rows as above.
                unsafe {
                    let v_row = v_base.add((key_lo + j) * ld);
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
                let at = job.out_at(first + r);
                for (v, &value) in acc.iter().enumerate() {
                    // SAFETY: row `first + r` is one of the job's rows of `out`.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(at + v * 16), value) };
                }
            }
        }
    }

    /// Softmax over the scores `lo .. hi`; the other scores of `chunks` become 0.
    #[target_feature(enable = "avx512f")]
    unsafe fn softmax_in_place(
        scores: &mut [f32],
        chunks: std::ops::Range<usize>,
        lo: usize,
        hi: usize,
    ) {
        let ptr = scores.as_mut_ptr();
        // SAFETY: `scores` holds every chunk of `chunks`.
        unsafe {
            let mut max = _mm512_set1_ps(f32::NEG_INFINITY);
            for chunk in chunks.clone() {
                max = _mm512_mask_max_ps(
                    max,
                    lanes(chunk, lo, hi),
                    max,
                    _mm512_loadu_ps(ptr.add(chunk * 16)),
                );
            }
            let max = _mm512_set1_ps(_mm512_reduce_max_ps(max));
            let mut sum = _mm512_setzero_ps();
            for chunk in chunks.clone() {
                let x = _mm512_sub_ps(_mm512_loadu_ps(ptr.add(chunk * 16)), max);
                let e = _mm512_maskz_mov_ps(lanes(chunk, lo, hi), exp(x));
                sum = _mm512_add_ps(sum, e);
                _mm512_storeu_ps(ptr.add(chunk * 16), e);
            }
            let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sum));
            for chunk in chunks {
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

    /// Padded attention in f64 the way a padded batch computes it: every score, the masked ones
    /// (and padding) given weight 0.
    fn reference(
        qkv: &[f32],
        shape: AttentionShape,
        mask: AttentionMask,
        span: SequenceSpan,
    ) -> Vec<f64> {
        let d = shape.head_dim;
        let ld = shape.qkv_width();
        let at = |row: usize, col: usize| qkv[(span.start + row) * ld + col] as f64;
        let allowed = |i: usize, j: usize| match mask {
            AttentionMask::Full => true,
            AttentionMask::SlidingWindow(w) => i.abs_diff(j) <= w,
            AttentionMask::Causal => j <= i,
        };
        let width = shape.context_width();
        let mut out = vec![0.0; span.len * width];
        for h in 0..shape.heads {
            let kv = h * shape.kv_heads / shape.heads;
            let (k_at, v_at) = (
                (shape.heads + kv) * d,
                (shape.heads + shape.kv_heads + kv) * d,
            );
            for i in 0..span.len {
                let scores: Vec<f64> = (0..span.len)
                    .map(|j| {
                        (0..d)
                            .map(|c| at(i, h * d + c) * at(j, k_at + c))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = (0..span.len)
                    .filter(|&j| allowed(i, j))
                    .map(|j| scores[j])
                    .fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = (0..span.len)
                    .map(|j| {
                        if allowed(i, j) {
                            (scores[j] - max).exp()
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let sum: f64 = weights.iter().sum();
                for c in 0..d {
                    out[i * width + h * d + c] = (0..span.len)
                        .map(|j| weights[j] * at(j, v_at + c))
                        .sum::<f64>()
                        / sum;
                }
            }
        }
        out
    }

    fn check(shape: AttentionShape, mask: AttentionMask, lens: &[usize], seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rows: usize = lens.iter().sum();
        let qkv: Vec<f32> = (0..rows * shape.qkv_width())
            .map(|_| rng.random_range(-2.0f32..2.0))
            .collect();
        let mut spans = Vec::new();
        let mut start = 0;
        for &len in lens {
            spans.push(SequenceSpan { start, len });
            start += len;
        }
        let width = shape.context_width();
        for isa in [Isa::detect(), Isa::portable()] {
            let mut context = vec![f32::NAN; rows * width];
            attention_masked(&qkv, shape, mask, &spans, &mut context, isa);
            for span in &spans {
                let want = reference(&qkv, shape, mask, *span);
                let got = &context[span.start * width..(span.start + span.len) * width];
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (*g as f64 - w).abs() < 1e-5,
                        "{g} vs {w} ({isa:?}, {shape:?}, {mask:?}, len {})",
                        span.len
                    );
                }
            }
        }
    }

    const LENS: [usize; 7] = [1, 3, 16, 17, 33, 5, 0];

    #[test]
    fn matches_reference_for_every_length_and_head_width() {
        for (hidden, heads) in [(64, 2), (64, 4), (128, 2), (40, 5), (32, 4)] {
            check(
                AttentionShape::multi_head(hidden, heads),
                AttentionMask::Full,
                &LENS,
                3,
            );
        }
    }

    #[test]
    fn sliding_windows_keep_the_keys_within_half_width() {
        for (hidden, heads) in [(64, 2), (64, 4), (32, 4)] {
            for half_width in [0, 1, 8, 20, 64] {
                check(
                    AttentionShape::multi_head(hidden, heads),
                    AttentionMask::SlidingWindow(half_width),
                    &LENS,
                    half_width as u64,
                );
            }
        }
    }

    #[test]
    fn causal_grouped_query_heads_share_key_value_heads() {
        for (heads, kv_heads, head_dim) in
            [(4, 2, 8), (4, 1, 16), (8, 2, 32), (4, 4, 64), (6, 3, 128)]
        {
            for mask in [
                AttentionMask::Causal,
                AttentionMask::Full,
                AttentionMask::SlidingWindow(5),
            ] {
                check(
                    AttentionShape {
                        heads,
                        kv_heads,
                        head_dim,
                    },
                    mask,
                    &LENS,
                    heads as u64,
                );
            }
        }
    }

    #[test]
    fn long_sequences_split_into_query_blocks_match() {
        let len = 2 * QUERY_BLOCK + 37;
        for mask in [
            AttentionMask::Full,
            AttentionMask::Causal,
            AttentionMask::SlidingWindow(40),
        ] {
            check(
                AttentionShape {
                    heads: 2,
                    kv_heads: 1,
                    head_dim: 16,
                },
                mask,
                &[len, 3],
                7,
            );
        }
    }
}
