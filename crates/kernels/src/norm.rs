//! LayerNorm over each row, in place.

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

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

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
