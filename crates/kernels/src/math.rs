//! `exp`, exact (erf) GELU, tanh-form GELU and SiLU, scalar and AVX-512, computing the same formulas.
//!
//! erf uses Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), the formula PyTorch's vectorised
//! CPU `erf` uses too; `exp` is a degree-7 polynomial after range reduction by ln 2 (≤ 2 ulp).
//! The tanh form (within 5e-4 of the exact GELU, half its cost) serves the reduced precisions
//! only, whose bf16/f16 rounding of the same outputs is larger.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// exp(r) on |r| ≤ ln2/2: Taylor coefficients 1/k!, k = 7 down to 0.
const EXP_POLY: [f32; 8] = [
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];
const ERF_P: f32 = 0.327_591_1;
const ERF_A: [f32; 5] = [
    1.061_405_4,
    -1.453_152,
    1.421_413_8,
    -0.284_496_72,
    0.254_829_6,
];
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;

pub(crate) fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.5, 88.5);
    let n = (x * LOG2_E).round();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = EXP_POLY.iter().fold(0.0f32, |acc, &c| acc.mul_add(r, c));
    p * 2f32.powi(n as i32)
}

pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / ERF_P.mul_add(a, 1.0);
    let poly = ERF_A.iter().fold(0.0f32, |acc, &c| acc.mul_add(t, c)) * t;
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// transformers' "gelu": x · Φ(x) = 0.5 x (1 + erf(x/√2)).
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
}

/// √(2/π), and the cubic coefficient of the tanh form.
const GELU_TANH_C1: f32 = 0.797_884_6;
const GELU_TANH_C3: f32 = 0.044_715;

/// The tanh form of GELU, 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))), written as
/// x / (1 + exp(−2u)) with u = √(2/π)(x + 0.044715 x³).
pub(crate) fn gelu_tanh(x: f32) -> f32 {
    let u = x * GELU_TANH_C1 * GELU_TANH_C3.mul_add(x * x, 1.0);
    x / (1.0 + exp(-2.0 * u))
}

/// SiLU (swish): x · σ(x) = x / (1 + exp(−x)).
pub(crate) fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    use super::*;

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn exp(x: __m512) -> __m512 {
        let x = _mm512_min_ps(
            _mm512_max_ps(x, _mm512_set1_ps(-87.5)),
            _mm512_set1_ps(88.5),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(EXP_POLY[0]);
        for &c in &EXP_POLY[1..] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn erf(x: __m512) -> __m512 {
        let a = _mm512_abs_ps(x);
        // t = 1 / (1 + p·a): a 14-bit reciprocal estimate refined by one Newton step (to
        // ~1 ulp) costs a few FMA-port uops where a division would block the port for ~10 cycles.
        let denominator = _mm512_fmadd_ps(_mm512_set1_ps(ERF_P), a, _mm512_set1_ps(1.0));
        let estimate = _mm512_rcp14_ps(denominator);
        let error = _mm512_fnmadd_ps(denominator, estimate, _mm512_set1_ps(1.0));
        let t = _mm512_fmadd_ps(estimate, error, estimate);
        let mut poly = _mm512_set1_ps(ERF_A[0]);
        for &c in &ERF_A[1..] {
            poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(c));
        }
        poly = _mm512_mul_ps(poly, t);
        let e = exp(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a));
        let y = _mm512_fnmadd_ps(poly, e, _mm512_set1_ps(1.0));
        // copysign(y, x): y ≥ 0, so OR in the sign bit of x.
        let sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN));
        _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), sign))
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn gelu_tanh(x: __m512) -> __m512 {
        let x2 = _mm512_mul_ps(x, x);
        let poly = _mm512_fmadd_ps(_mm512_set1_ps(GELU_TANH_C3), x2, _mm512_set1_ps(1.0));
        let minus_2u = _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(-2.0 * GELU_TANH_C1)), poly);
        let denominator = _mm512_add_ps(_mm512_set1_ps(1.0), exp(minus_2u));
        // x / denominator: reciprocal estimate plus one Newton step, as in `erf`.
        let estimate = _mm512_rcp14_ps(denominator);
        let error = _mm512_fnmadd_ps(denominator, estimate, _mm512_set1_ps(1.0));
        _mm512_mul_ps(x, _mm512_fmadd_ps(estimate, error, estimate))
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn silu(x: __m512) -> __m512 {
        let denominator = _mm512_add_ps(
            _mm512_set1_ps(1.0),
            exp(_mm512_sub_ps(_mm512_setzero_ps(), x)),
        );
        // x / denominator: reciprocal estimate plus one Newton step, as in `erf`.
        let estimate = _mm512_rcp14_ps(denominator);
        let error = _mm512_fnmadd_ps(denominator, estimate, _mm512_set1_ps(1.0));
        _mm512_mul_ps(x, _mm512_fmadd_ps(estimate, error, estimate))
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn gelu(x: __m512) -> __m512 {
        let e = erf(_mm512_mul_ps(x, _mm512_set1_ps(FRAC_1_SQRT_2)));
        _mm512_mul_ps(
            _mm512_mul_ps(_mm512_set1_ps(0.5), x),
            _mm512_add_ps(_mm512_set1_ps(1.0), e),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf from its Taylor series (f64), accurate for |x| ≤ 3.
    fn erf_reference(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_is_within_two_ulp() {
        for i in -8000..8000 {
            let x = i as f32 * 0.01;
            let got = exp(x) as f64;
            let want = (x as f64).exp();
            assert!(
                ((got - want) / want).abs() < 2.5e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn erf_is_within_the_published_bound() {
        for i in -300..=300 {
            let x = i as f32 * 0.01;
            let got = erf(x) as f64;
            let want = erf_reference(x as f64);
            // 1.5e-7 in exact arithmetic, plus f32 rounding.
            assert!((got - want).abs() < 5e-7, "erf({x}) = {got}, want {want}");
        }
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
    }

    #[test]
    fn tanh_gelu_is_within_5e4_of_the_exact_one() {
        for i in -1000..=1000 {
            let x = i as f32 * 0.01;
            // The series is accurate to |x|/√2 ≤ 3; past |x| = 4, GELU is x or 0 within 1.3e-4.
            let exact = if x.abs() <= 4.0 {
                let x = x as f64;
                0.5 * x * (1.0 + erf_reference(x / std::f64::consts::SQRT_2))
            } else {
                x.max(0.0) as f64
            };
            let got = gelu_tanh(x) as f64;
            assert!(
                (got - exact).abs() < 5e-4,
                "gelu_tanh({x}) = {got}, exact {exact}"
            );
        }
        assert_eq!(gelu_tanh(-200.0), 0.0);
        assert_eq!(gelu_tanh(200.0), 200.0);
    }

    #[test]
    fn silu_matches_its_definition_in_f64() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.01;
            let want = x as f64 / (1.0 + (-x as f64).exp());
            let got = silu(x) as f64;
            assert!(
                (got - want).abs() <= 3e-7 * want.abs().max(1.0),
                "silu({x}) = {got}, want {want}"
            );
        }
        assert!(silu(-200.0).abs() < 1e-30);
        assert_eq!(silu(200.0), 200.0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_versions_match_scalar_ones() {
        use std::arch::x86_64::*;
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let xs: Vec<f32> = (0..1600).map(|i| (i as f32 - 800.0) * 0.013).collect();
        for chunk in xs.chunks(16) {
            let mut e = [0f32; 16];
            let mut g = [0f32; 16];
            let mut t = [0f32; 16];
            let mut s = [0f32; 16];
            // SAFETY: avx512f checked above; the arrays hold 16 floats.
            unsafe {
                let v = _mm512_loadu_ps(chunk.as_ptr());
                _mm512_storeu_ps(e.as_mut_ptr(), avx512::exp(v));
                _mm512_storeu_ps(g.as_mut_ptr(), avx512::gelu(v));
                _mm512_storeu_ps(t.as_mut_ptr(), avx512::gelu_tanh(v));
                _mm512_storeu_ps(s.as_mut_ptr(), avx512::silu(v));
            }
            for (i, &x) in chunk.iter().enumerate() {
                assert!((e[i] - exp(x)).abs() <= exp(x) * 2e-7, "exp({x})");
                assert!((g[i] - gelu(x)).abs() <= 2e-7, "gelu({x})");
                let want = gelu_tanh(x);
                assert!(
                    (t[i] - want).abs() <= 4e-7 * want.abs().max(1.0),
                    "gelu_tanh({x})"
                );
                let want = silu(x);
                assert!(
                    (s[i] - want).abs() <= 4e-7 * want.abs().max(1.0),
                    "silu({x})"
                );
            }
        }
    }
}
