//! Gated linear units: `out = act(a) · g` per value, the MLP core of GeGLU (ModernBERT:
//! `act` = GELU on the first half of `Wi x`) and SwiGLU (Llama/Qwen: `act` = SiLU on `gate x`,
//! times `up x`).

use rayon::prelude::*;

use crate::{Isa, math};

/// Rows per parallel task.
const BLOCK_ROWS: usize = 64;

/// The activation applied to the gated half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateActivation {
    /// Exact (erf) GELU: GeGLU.
    Gelu,
    /// The tanh form of GELU (within 5e-4 of the exact one; for the reduced precisions).
    GeluTanh,
    /// SiLU, x·σ(x): SwiGLU.
    Silu,
}

/// Where the two halves come from.
#[derive(Debug, Clone, Copy)]
pub enum GluInput<'a> {
    /// One projection's rows of `2·width` values, `[a | g]`: `act` applies to `a`.
    Fused(&'a [f32]),
    /// Two projections' rows of `width` values: `act` applies to `activated`.
    Separate {
        /// The input of the activation (`gate x` in SwiGLU).
        activated: &'a [f32],
        /// The factor (`up x` in SwiGLU).
        linear: &'a [f32],
    },
}

/// `out = act(a) · g` row by row, `out` being rows of `width` values.
pub fn gated(input: GluInput<'_>, out: &mut [f32], width: usize, act: GateActivation, isa: Isa) {
    assert!(width > 0, "gated width must be > 0");
    assert!(
        out.len().is_multiple_of(width),
        "output is not a whole number of rows"
    );
    let rows = out.len() / width;
    // Each row as (activated, linear): offsets into the input buffers and their row stride.
    let (a, g, stride, g_offset) = match input {
        GluInput::Fused(x) => {
            assert_eq!(x.len(), rows * 2 * width, "fused input shape");
            (x, x, 2 * width, width)
        }
        GluInput::Separate { activated, linear } => {
            assert_eq!(activated.len(), rows * width, "activated input shape");
            assert_eq!(linear.len(), rows * width, "linear input shape");
            (activated, linear, width, 0)
        }
    };
    out.par_chunks_mut(BLOCK_ROWS * width)
        .enumerate()
        .for_each(|(block, out_rows)| {
            for (r, out_row) in out_rows.chunks_mut(width).enumerate() {
                let row = block * BLOCK_ROWS + r;
                let a_row = &a[row * stride..row * stride + width];
                let g_row = &g[row * stride + g_offset..row * stride + g_offset + width];
                #[cfg(target_arch = "x86_64")]
                if isa.avx512f() {
                    // SAFETY: avx512f is present; the three rows are `width` long.
                    unsafe { avx512::row(a_row, g_row, out_row, act) };
                    continue;
                }
                row_portable(a_row, g_row, out_row, act);
            }
        });
    let _ = isa;
}

fn row_portable(a: &[f32], g: &[f32], out: &mut [f32], act: GateActivation) {
    let f = match act {
        GateActivation::Gelu => math::gelu,
        GateActivation::GeluTanh => math::gelu_tanh,
        GateActivation::Silu => math::silu,
    };
    for ((o, &a), &g) in out.iter_mut().zip(a).zip(g) {
        *o = f(a) * g;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::GateActivation;
    use crate::math::avx512::{gelu, gelu_tanh, silu};

    /// # Safety
    /// avx512f; `a`, `g` and `out` of the same length.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row(a: &[f32], g: &[f32], out: &mut [f32], act: GateActivation) {
        let n = out.len();
        for i in (0..n).step_by(16) {
            let left = n - i;
            let mask: __mmask16 = if left >= 16 { !0 } else { (1 << left) - 1 };
            // SAFETY: the mask keeps every lane inside the slices.
            unsafe {
                let x = _mm512_maskz_loadu_ps(mask, a.as_ptr().add(i));
                let y = match act {
                    GateActivation::Gelu => gelu(x),
                    GateActivation::GeluTanh => gelu_tanh(x),
                    GateActivation::Silu => silu(x),
                };
                let gate = _mm512_maskz_loadu_ps(mask, g.as_ptr().add(i));
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(i), mask, _mm512_mul_ps(y, gate));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn gelu_f64(x: f64) -> f64 {
        // erf by its Taylor series, accurate for |x|/√2 ≤ 3.
        let z = x / std::f64::consts::SQRT_2;
        let (mut term, mut sum) = (z, z);
        for n in 1..200 {
            term *= -z * z / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        0.5 * x * (1.0 + sum * 2.0 / std::f64::consts::PI.sqrt())
    }

    fn silu_f64(x: f64) -> f64 {
        x / (1.0 + (-x).exp())
    }

    #[test]
    fn fused_and_separate_halves_give_act_of_a_times_g() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for width in [8usize, 16, 37, 96] {
            let rows = 70;
            let a: Vec<f32> = (0..rows * width)
                .map(|_| rng.random_range(-4.0f32..4.0))
                .collect();
            let g: Vec<f32> = (0..rows * width)
                .map(|_| rng.random_range(-2.0f32..2.0))
                .collect();
            let fused: Vec<f32> = a
                .chunks(width)
                .zip(g.chunks(width))
                .flat_map(|(a, g)| a.iter().chain(g).copied())
                .collect();
            for (act, reference, tolerance) in [
                (GateActivation::Gelu, gelu_f64 as fn(f64) -> f64, 1e-6),
                (GateActivation::GeluTanh, gelu_f64, 1.1e-3),
                (GateActivation::Silu, silu_f64, 1e-6),
            ] {
                let mut results = Vec::new();
                for isa in [Isa::detect(), Isa::portable()] {
                    let mut from_fused = vec![f32::NAN; rows * width];
                    gated(GluInput::Fused(&fused), &mut from_fused, width, act, isa);
                    let mut from_separate = vec![f32::NAN; rows * width];
                    let separate = GluInput::Separate {
                        activated: &a,
                        linear: &g,
                    };
                    gated(separate, &mut from_separate, width, act, isa);
                    assert_eq!(from_fused, from_separate, "{act:?} {isa:?}");
                    for ((o, &a), &g) in from_fused.iter().zip(&a).zip(&g) {
                        let want = reference(a as f64) * g as f64;
                        assert!(
                            (*o as f64 - want).abs() < tolerance,
                            "{act:?}({a})·{g} = {o}, want {want} ({isa:?})"
                        );
                    }
                    results.push(from_fused);
                }
                for (v, p) in results[0].iter().zip(&results[1]) {
                    assert!((v - p).abs() <= 1e-6 * p.abs().max(1.0), "{act:?}");
                }
            }
        }
    }
}
