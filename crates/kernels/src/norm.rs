//! LayerNorm and RMSNorm over each row (or each head of a row), in place.

use std::ops::Range;

use rayon::prelude::*;

use crate::Isa;

/// `x ← (x − mean) / √(var + eps) · gamma + beta` for each row of `width` values (population
/// variance, two passes in f32 as PyTorch computes it).
pub fn layer_norm_rows(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32, isa: Isa) {
    let width = gamma.len();
    assert_eq!(beta.len(), width, "beta shape");
    assert_eq!(x.len() % width, 0, "input is not a whole number of rows");
    x.par_chunks_mut(width * 64).for_each(|rows| {
        for row in rows.chunks_mut(width) {
            #[cfg(target_arch = "x86_64")]
            if isa.avx512f() && width.is_multiple_of(16) {
                // SAFETY: avx512f is present; all slices are `width` long, a multiple of 16.
                unsafe { avx512::normalize(row, gamma, beta, eps) };
                continue;
            }
            normalize_portable(row, gamma, beta, eps);
        }
    });
}

fn normalize_portable(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// Rows per parallel task of the RMSNorm kernels.
const RMS_BLOCK_ROWS: usize = 64;

/// `out ← w · x / √(mean(x²) + eps)` for each row of `x` (rows of `weight.len()` values), as
/// transformers' `LlamaRMSNorm`/`Qwen3RMSNorm` compute it in f32: `x · rsqrt(mean + eps)`, then
/// times the weight. `out` is shaped like `x`.
pub fn rms_norm_rows(x: &[f32], out: &mut [f32], weight: &[f32], eps: f32, isa: Isa) {
    let width = weight.len();
    assert_eq!(x.len(), out.len(), "output shape");
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "input is not a whole number of rows"
    );
    out.par_chunks_mut(width * RMS_BLOCK_ROWS)
        .zip(x.par_chunks(width * RMS_BLOCK_ROWS))
        .for_each(|(out_rows, rows)| {
            out_rows.copy_from_slice(rows);
            for row in out_rows.chunks_mut(width) {
                rms_normalize(row, weight, eps, isa);
            }
        });
}

/// RMSNorm of each head (`weight.len()` values) of `columns` in every row of `x` (rows of
/// `row_width` values), in place: Qwen3's `q_norm`/`k_norm` over each query or key head.
pub fn rms_norm_heads(
    x: &mut [f32],
    row_width: usize,
    columns: Range<usize>,
    weight: &[f32],
    eps: f32,
    isa: Isa,
) {
    let width = weight.len();
    assert!(columns.end <= row_width, "columns outside the row");
    assert!(
        width > 0 && columns.len().is_multiple_of(width),
        "columns are not whole heads"
    );
    assert!(
        x.len().is_multiple_of(row_width),
        "input is not a whole number of rows"
    );
    x.par_chunks_mut(row_width * RMS_BLOCK_ROWS)
        .for_each(|rows| {
            for row in rows.chunks_mut(row_width) {
                for head in row[columns.clone()].chunks_mut(width) {
                    rms_normalize(head, weight, eps, isa);
                }
            }
        });
}

fn rms_normalize(row: &mut [f32], weight: &[f32], eps: f32, isa: Isa) {
    #[cfg(target_arch = "x86_64")]
    if isa.avx512f() && row.len().is_multiple_of(16) {
        // SAFETY: avx512f is present; `row` and `weight` are as long, a multiple of 16.
        unsafe { avx512::rms_normalize(row, weight, eps) };
        return;
    }
    let _ = isa;
    let mean = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
    let inv = 1.0 / (mean + eps).sqrt();
    for (v, w) in row.iter_mut().zip(weight) {
        *v = w * (*v * inv);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// # Safety
    /// avx512f; `row` and `weight` of the same length, a multiple of 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rms_normalize(row: &mut [f32], weight: &[f32], eps: f32) {
        let n = row.len();
        let p = row.as_mut_ptr();
        // SAFETY: every offset is a whole vector inside the slices.
        unsafe {
            let mut squares = _mm512_setzero_ps();
            for i in (0..n).step_by(16) {
                let v = _mm512_loadu_ps(p.add(i));
                squares = _mm512_fmadd_ps(v, v, squares);
            }
            let mean = _mm512_reduce_add_ps(squares) / n as f32;
            let inv = _mm512_set1_ps(1.0 / (mean + eps).sqrt());
            for i in (0..n).step_by(16) {
                let v = _mm512_mul_ps(_mm512_loadu_ps(p.add(i)), inv);
                let y = _mm512_mul_ps(_mm512_loadu_ps(weight.as_ptr().add(i)), v);
                _mm512_storeu_ps(p.add(i), y);
            }
        }
    }

    /// # Safety
    /// avx512f; all slices of the same length, a multiple of 16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn normalize(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let n = row.len();
        let p = row.as_mut_ptr();
        // SAFETY: every offset is a whole vector inside the slices.
        unsafe {
            let mut sum = _mm512_setzero_ps();
            for i in (0..n).step_by(16) {
                sum = _mm512_add_ps(sum, _mm512_loadu_ps(p.add(i)));
            }
            let mean = _mm512_set1_ps(_mm512_reduce_add_ps(sum) / n as f32);
            let mut squares = _mm512_setzero_ps();
            for i in (0..n).step_by(16) {
                let d = _mm512_sub_ps(_mm512_loadu_ps(p.add(i)), mean);
                squares = _mm512_fmadd_ps(d, d, squares);
            }
            let var = _mm512_reduce_add_ps(squares) / n as f32;
            let inv = _mm512_set1_ps(1.0 / (var + eps).sqrt());
            for i in (0..n).step_by(16) {
                let d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(p.add(i)), mean), inv);
                let y = _mm512_fmadd_ps(
                    d,
                    _mm512_loadu_ps(gamma.as_ptr().add(i)),
                    _mm512_loadu_ps(beta.as_ptr().add(i)),
                );
                _mm512_storeu_ps(p.add(i), y);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms_reference(row: &[f32], weight: &[f32], eps: f64) -> Vec<f64> {
        let mean = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / row.len() as f64;
        let inv = 1.0 / (mean + eps).sqrt();
        row.iter()
            .zip(weight)
            .map(|(&v, &w)| w as f64 * v as f64 * inv)
            .collect()
    }

    #[test]
    fn rms_norm_of_rows_and_of_heads_match_f64() {
        for width in [8usize, 32, 48, 128] {
            let weight: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 * 0.03).collect();
            let input: Vec<f32> = (0..width * 70)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.07)
                .collect();
            for isa in [Isa::detect(), Isa::portable()] {
                let mut out = vec![f32::NAN; input.len()];
                rms_norm_rows(&input, &mut out, &weight, 1e-6, isa);
                for (row_in, row_out) in input.chunks(width).zip(out.chunks(width)) {
                    let want = rms_reference(row_in, &weight, 1e-6);
                    for (g, w) in row_out.iter().zip(&want) {
                        assert!((*g as f64 - w).abs() < 1e-5 * w.abs().max(1.0), "{isa:?}");
                    }
                }
                // Rows of 5 heads: 3 query heads and 1 key head normalised, the last one left.
                let row_width = 5 * width;
                let mut heads = input[..row_width * 14].to_vec();
                rms_norm_heads(&mut heads, row_width, 0..4 * width, &weight, 1e-6, isa);
                for (row_in, row_out) in input.chunks(row_width).zip(heads.chunks(row_width)) {
                    for h in 0..5 {
                        let at = h * width..(h + 1) * width;
                        if h == 4 {
                            assert_eq!(&row_out[at.clone()], &row_in[at]);
                            continue;
                        }
                        let want = rms_reference(&row_in[at.clone()], &weight, 1e-6);
                        for (g, w) in row_out[at].iter().zip(&want) {
                            assert!((*g as f64 - w).abs() < 1e-5 * w.abs().max(1.0), "{isa:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn vector_and_portable_versions_agree_with_f64() {
        let width = 48;
        let gamma: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 * 0.01).collect();
        let beta: Vec<f32> = (0..width).map(|i| i as f32 * -0.02).collect();
        let input: Vec<f32> = (0..width * 5)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.1)
            .collect();
        for isa in [Isa::detect(), Isa::portable()] {
            let mut x = input.clone();
            layer_norm_rows(&mut x, &gamma, &beta, 1e-12, isa);
            for (row_in, row_out) in input.chunks(width).zip(x.chunks(width)) {
                let mean = row_in.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
                let var = row_in
                    .iter()
                    .map(|&v| (v as f64 - mean).powi(2))
                    .sum::<f64>()
                    / width as f64;
                for i in 0..width {
                    let want = (row_in[i] as f64 - mean) / (var + 1e-12).sqrt() * gamma[i] as f64
                        + beta[i] as f64;
                    assert!((row_out[i] as f64 - want).abs() < 1e-5, "{isa:?}");
                }
            }
        }
    }
}
