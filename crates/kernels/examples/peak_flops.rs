//! The arithmetic ceilings of this CPU: register-only loops of AVX-512 f32 FMA, AVX512-BF16 dot
//! products (VDPBF16PS) and AVX512-FP16 FMA, on 1 and 2 threads. They decide which reduced
//! precision can pay off on CPU.
//!
//! `cargo run --release -p bertscore-kernels --example peak_flops`

use std::time::Instant;

#[cfg(target_arch = "x86_64")]
mod loops {
    use std::arch::x86_64::*;

    /// 24 independent accumulators: enough to cover the FMA latency on both ports.
    const CHAINS: usize = 24;

    #[target_feature(enable = "avx512f")]
    pub fn f32_fma(n: usize) -> f32 {
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        let (a, b) = (_mm512_set1_ps(1.000_000_1), _mm512_set1_ps(1e-7));
        for _ in 0..n {
            for acc in acc.iter_mut() {
                *acc = _mm512_fmadd_ps(a, *acc, b);
            }
        }
        let sum = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, &v| _mm512_add_ps(s, v));
        _mm512_reduce_add_ps(sum)
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    pub fn bf16_dot(n: usize) -> f32 {
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        let a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3), _mm512_set1_ps(2e-3));
        for _ in 0..n {
            for acc in acc.iter_mut() {
                *acc = _mm512_dpbf16_ps(*acc, a, a);
            }
        }
        let sum = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, &v| _mm512_add_ps(s, v));
        _mm512_reduce_add_ps(sum)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512fp16")]
    pub fn f16_fma(n: usize) -> f32 {
        let mut acc = [_mm512_setzero_ph(); CHAINS];
        let a = _mm512_castsi512_ph(_mm512_set1_epi16(0x3c00)); // 1.0
        let b = _mm512_castsi512_ph(_mm512_set1_epi16(0x0400)); // 2^-14
        for _ in 0..n {
            for acc in acc.iter_mut() {
                *acc = _mm512_fmadd_ph(a, *acc, b);
            }
        }
        let sum = acc
            .iter()
            .fold(_mm512_setzero_ph(), |s, &v| _mm512_add_ph(s, v));
        _mm512_reduce_add_ps(_mm512_castph_ps(sum))
    }

    pub const FLOPS_PER_STEP: [(&str, &str, f64); 3] = [
        ("f32 FMA (vfmadd231ps)", "avx512f", (CHAINS * 16 * 2) as f64),
        (
            "bf16 dot (vdpbf16ps)",
            "avx512bf16",
            (CHAINS * 32 * 2) as f64,
        ),
        (
            "f16 FMA (vfmadd231ph)",
            "avx512fp16",
            (CHAINS * 32 * 2) as f64,
        ),
    ];
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let steps = 20_000_000;
    for (index, (name, feature, flops)) in loops::FLOPS_PER_STEP.iter().enumerate() {
        let supported = match index {
            0 => std::arch::is_x86_feature_detected!("avx512f"),
            1 => std::arch::is_x86_feature_detected!("avx512bf16"),
            _ => std::arch::is_x86_feature_detected!("avx512fp16"),
        };
        if !supported {
            println!("{name:<24} not supported ({feature})");
            continue;
        }
        for threads in [1usize, 2] {
            let start = Instant::now();
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    std::thread::spawn(move || {
                        // SAFETY: the feature was detected above.
                        unsafe {
                            match index {
                                0 => loops::f32_fma(steps),
                                1 => loops::bf16_dot(steps),
                                _ => loops::f16_fma(steps),
                            }
                        }
                    })
                })
                .collect();
            for worker in workers {
                std::hint::black_box(worker.join().expect("worker"));
            }
            let seconds = start.elapsed().as_secs_f64();
            let gflops = threads as f64 * steps as f64 * flops / seconds / 1e9;
            println!("{name:<24} {threads} thread(s): {gflops:7.1} GFLOP/s");
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("x86-64 only");
}
