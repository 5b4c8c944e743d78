//! Rotary position embeddings (rotate-half form), applied in place to query and key heads.
//!
//! For a head vector `x` of `d` values and its position `p` (0 at each sequence's first token),
//! with `h = d / 2` and angle `a_i = p · θ^(−2i/d)`:
//! `x_i ← x_i cos a_i − x_{i+h} sin a_i` and `x_{i+h} ← x_{i+h} cos a_i + x_i sin a_i`, which is
//! transformers' `q * cos + rotate_half(q) * sin`. The angles are computed as transformers computes
//! them in f32 (`inv_freq = 1 / θ^(2i/d)`, `angle = p · inv_freq`), their cosine and sine once per
//! position and kept in a table that grows with the longest sequence seen.

use std::ops::Range;
use std::sync::{Arc, RwLock};

use rayon::prelude::*;

use crate::{Isa, SequenceSpan};

/// Rows rotated per parallel task.
const BLOCK_ROWS: usize = 64;

/// The rotary embedding of one `(theta, head_dim)`, with its cosine/sine table.
pub struct Rope {
    theta: f32,
    head_dim: usize,
    table: RwLock<Arc<Table>>,
}

/// `cos` and `sin` of position `p`, frequency `i` at `p · half + i`.
struct Table {
    positions: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Rope {
    /// The rotary embedding with base `theta` for heads of `head_dim` values (even).
    pub fn new(theta: f32, head_dim: usize) -> Self {
        assert!(
            head_dim >= 2 && head_dim.is_multiple_of(2),
            "rotary head width must be even"
        );
        assert!(theta > 0.0 && theta.is_finite(), "rotary theta must be > 0");
        Self {
            theta,
            head_dim,
            table: RwLock::new(Arc::new(Table {
                positions: 0,
                cos: Vec::new(),
                sin: Vec::new(),
            })),
        }
    }

    /// The base θ.
    pub fn theta(&self) -> f32 {
        self.theta
    }

    /// The head width it rotates.
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// The cosines and the sines of positions `0..len` (`len × head_dim/2` each, row-major), for
    /// implementations that rotate elsewhere (candle, a GPU): the same angles as [`Rope::apply`].
    pub fn cos_sin(&self, len: usize) -> (Vec<f32>, Vec<f32>) {
        let table = self.table_for(len);
        let n = len * self.head_dim / 2;
        (table.cos[..n].to_vec(), table.sin[..n].to_vec())
    }

    /// Rotates, in every row of `x` (rows of `row_width` values, covered in order by `spans`),
    /// the heads in `columns` (a whole number of heads), at the row's position in its span.
    pub fn apply(
        &self,
        x: &mut [f32],
        row_width: usize,
        columns: Range<usize>,
        spans: &[SequenceSpan],
        isa: Isa,
    ) {
        assert!(columns.end <= row_width, "rotary columns outside the row");
        assert!(
            columns.len().is_multiple_of(self.head_dim),
            "rotary columns are not whole heads"
        );
        assert!(
            x.len().is_multiple_of(row_width),
            "input is not a whole number of rows"
        );
        let longest = spans.iter().map(|s| s.len).max().unwrap_or(0);
        let table = self.table_for(longest);
        let mut parts = Vec::with_capacity(spans.len());
        let mut rest = x;
        let mut next_row = 0;
        for span in spans {
            assert_eq!(span.start, next_row, "spans must cover the rows in order");
            let (this, tail) = rest.split_at_mut(span.len * row_width);
            parts.push(this);
            rest = tail;
            next_row += span.len;
        }
        assert!(rest.is_empty(), "spans must cover every row");
        let half = self.head_dim / 2;
        parts.into_par_iter().for_each(|sequence| {
            sequence
                .par_chunks_mut(BLOCK_ROWS * row_width)
                .enumerate()
                .for_each(|(block, rows)| {
                    for (r, row) in rows.chunks_mut(row_width).enumerate() {
                        let position = block * BLOCK_ROWS + r;
                        let cos = &table.cos[position * half..(position + 1) * half];
                        let sin = &table.sin[position * half..(position + 1) * half];
                        for head in row[columns.clone()].chunks_mut(self.head_dim) {
                            rotate(head, cos, sin, isa);
                        }
                    }
                });
        });
    }

    /// The table covering positions `0..len`, grown (to a power of two) when needed.
    fn table_for(&self, len: usize) -> Arc<Table> {
        {
            let table = self.table.read().unwrap_or_else(|e| e.into_inner());
            if table.positions >= len {
                return Arc::clone(&table);
            }
        }
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        if table.positions < len {
            *table = Arc::new(self.build(len.next_power_of_two()));
        }
        Arc::clone(&table)
    }

    fn build(&self, positions: usize) -> Table {
        let half = self.head_dim / 2;
        // transformers: inv_freq = 1 / base ** (arange(0, d, 2) / d), all in f32.
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1.0 / self.theta.powf((2 * i) as f32 / self.head_dim as f32))
            .collect();
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for &f in &inv_freq {
                let angle = (p as f32 * f) as f64;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Table {
            positions,
            cos,
            sin,
        }
    }
}

fn rotate(head: &mut [f32], cos: &[f32], sin: &[f32], isa: Isa) {
    #[cfg(target_arch = "x86_64")]
    if isa.avx512f() && cos.len().is_multiple_of(16) {
        // SAFETY: avx512f is present; `head` is 2·len(cos) long, len(cos) a multiple of 16.
        unsafe { avx512::rotate(head, cos, sin) };
        return;
    }
    let _ = isa;
    rotate_portable(head, cos, sin);
}

fn rotate_portable(head: &mut [f32], cos: &[f32], sin: &[f32]) {
    let (lo, hi) = head.split_at_mut(cos.len());
    for i in 0..cos.len() {
        let (a, b) = (lo[i], hi[i]);
        lo[i] = a.mul_add(cos[i], -(b * sin[i]));
        hi[i] = b.mul_add(cos[i], a * sin[i]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// The same operations as `rotate_portable`, 16 frequencies at a time.
    ///
    /// # Safety
    /// avx512f; `head` is 2·len(cos) long, `sin` as long as `cos`, a multiple of 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rotate(head: &mut [f32], cos: &[f32], sin: &[f32]) {
        let half = cos.len();
        let p = head.as_mut_ptr();
        // SAFETY: every offset is a whole vector inside the slices.
        unsafe {
            for i in (0..half).step_by(16) {
                let a = _mm512_loadu_ps(p.add(i));
                let b = _mm512_loadu_ps(p.add(half + i));
                let c = _mm512_loadu_ps(cos.as_ptr().add(i));
                let s = _mm512_loadu_ps(sin.as_ptr().add(i));
                _mm512_storeu_ps(p.add(i), _mm512_fmsub_ps(a, c, _mm512_mul_ps(b, s)));
                _mm512_storeu_ps(p.add(half + i), _mm512_fmadd_ps(b, c, _mm512_mul_ps(a, s)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// transformers' formula in f64: q·cos + rotate_half(q)·sin.
    fn reference(head: &[f32], position: usize, theta: f64) -> Vec<f64> {
        let d = head.len();
        let h = d / 2;
        (0..d)
            .map(|c| {
                let i = c % h;
                let angle = position as f64 / theta.powf((2 * i) as f64 / d as f64);
                let rotated = if c < h {
                    -(head[c + h] as f64)
                } else {
                    head[c - h] as f64
                };
                head[c] as f64 * angle.cos() + rotated * angle.sin()
            })
            .collect()
    }

    #[test]
    fn rotates_the_chosen_heads_at_each_rows_position() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (head_dim, theta) in [(8usize, 1e6f32), (32, 10_000.0), (64, 160_000.0), (6, 10.0)] {
            // Rows: 3 query heads, 2 key heads, 2 value heads (left alone).
            let row_width = 7 * head_dim;
            let columns = 0..5 * head_dim;
            let lens = [1, 5, 70, 3];
            let rows: usize = lens.iter().sum();
            let input: Vec<f32> = (0..rows * row_width)
                .map(|_| rng.random_range(-2.0f32..2.0))
                .collect();
            let mut spans = Vec::new();
            let mut start = 0;
            for len in lens {
                spans.push(SequenceSpan { start, len });
                start += len;
            }
            let rope = Rope::new(theta, head_dim);
            let mut outputs = Vec::new();
            for isa in [Isa::detect(), Isa::portable()] {
                let mut x = input.clone();
                rope.apply(&mut x, row_width, columns.clone(), &spans, isa);
                for span in &spans {
                    for p in 0..span.len {
                        let row = (span.start + p) * row_width;
                        for head in 0..7 {
                            let at = row + head * head_dim..row + (head + 1) * head_dim;
                            let got = &x[at.clone()];
                            if head >= 5 {
                                assert_eq!(got, &input[at], "value head changed");
                                continue;
                            }
                            let want = reference(&input[at], p, theta as f64);
                            for (g, w) in got.iter().zip(&want) {
                                assert!(
                                    (*g as f64 - w).abs() < 2e-5 * (1.0 + p as f64 / 64.0),
                                    "{g} vs {w} (d {head_dim}, position {p}, {isa:?})"
                                );
                            }
                        }
                    }
                }
                outputs.push(x);
            }
            assert_eq!(
                outputs[0], outputs[1],
                "vector and portable versions differ"
            );
        }
    }

    #[test]
    fn table_growth_does_not_change_values() {
        let rope = Rope::new(10_000.0, 32);
        let input: Vec<f32> = (0..40 * 32).map(|i| (i % 17) as f32 * 0.1 - 0.8).collect();
        let short = [SequenceSpan { start: 0, len: 3 }];
        let mut a = input[..3 * 32].to_vec();
        rope.apply(&mut a, 32, 0..32, &short, Isa::detect());
        let mut b = input.clone();
        rope.apply(
            &mut b,
            32,
            0..32,
            &[SequenceSpan { start: 0, len: 40 }],
            Isa::detect(),
        );
        let mut c = input[..3 * 32].to_vec();
        rope.apply(&mut c, 32, 0..32, &short, Isa::detect());
        assert_eq!(a, c);
        assert_eq!(a, b[..3 * 32]);
    }
}
