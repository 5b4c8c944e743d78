//! The arithmetic ceilings of this CPU: register-only loops of AVX-512 f32 FMA, AVX512-BF16 dot
//! products (VDPBF16PS), AVX512-VNNI int8 dot products (VPDPBUSD) and AVX512-FP16 FMA, on 1 and
//! 2 threads. They decide which reduced precision can pay off on CPU (see docs/performance.md).
//!
//! `cargo run --release -p bertscore-kernels --example peak_flops`

use std::time::Instant;

#[cfg(target_arch = "x86_64")]
mod loops {
    use std::arch::x86_64::*;

    /// 16 independent accumulators: enough to cover the latency on both vector pipes, few enough
    /// to stay in registers.
    const CHAINS: usize = 16;

    /// One register-only loop: `CHAINS` accumulators, each updated `n` times by `step`.
    macro_rules! ceiling {
        ($name:ident, $features:literal, $zero:expr, $step:expr, $fold:expr) => {
            #[target_feature(enable = $features)]
            pub fn $name(n: usize) -> f32 {
                let mut acc = [$zero; CHAINS];
                for _ in 0..n {
                    for acc in acc.iter_mut() {
                        *acc = $step(*acc);
                    }
                }
                acc.iter().map(|&v| $fold(v)).sum()
            }
        };
    }

    ceiling!(
        f32_fma,
        "avx512f",
        _mm512_setzero_ps(),
        |acc| _mm512_fmadd_ps(_mm512_set1_ps(1.000_000_1), acc, _mm512_set1_ps(1e-7)),
        |v| _mm512_reduce_add_ps(v)
    );
    ceiling!(
        bf16_dot,
        "avx512f,avx512bf16",
        _mm512_setzero_ps(),
        |acc| {
            let a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3), _mm512_set1_ps(2e-3));
            _mm512_dpbf16_ps(acc, a, a)
        },
        |v| _mm512_reduce_add_ps(v)
    );
    ceiling!(
        int8_dot,
        "avx512f,avx512bw,avx512vnni",
        _mm512_setzero_si512(),
        |acc| _mm512_dpbusd_epi32(acc, _mm512_set1_epi8(3), _mm512_set1_epi8(-2)),
        |v| _mm512_reduce_add_epi32(v) as f32
    );
    ceiling!(
        f16_fma,
        "avx512f,avx512bw,avx512fp16",
        _mm512_setzero_ph(),
        |acc| _mm512_fmadd_ph(
            _mm512_castsi512_ph(_mm512_set1_epi16(0x3c00)), // 1.0
            acc,
            _mm512_castsi512_ph(_mm512_set1_epi16(0x0400)) // 2^-14
        ),
        |v| _mm512_reduce_add_ps(_mm512_castph_ps(v))
    );

    /// A loop, what it needs, and its operations per step (2 per multiply-add, all chains).
    pub struct Ceiling {
        pub name: &'static str,
        pub feature: &'static str,
        pub detected: fn() -> bool,
        /// # Safety
        /// Only when `detected()`.
        pub run: unsafe fn(usize) -> f32,
        pub ops_per_step: f64,
    }

    pub const CEILINGS: [Ceiling; 4] = [
        Ceiling {
            name: "f32 FMA (vfmadd231ps)",
            feature: "avx512f",
            detected: || std::arch::is_x86_feature_detected!("avx512f"),
            run: f32_fma,
            ops_per_step: (CHAINS * 16 * 2) as f64,
        },
        Ceiling {
            name: "bf16 dot (vdpbf16ps)",
            feature: "avx512bf16",
            detected: || std::arch::is_x86_feature_detected!("avx512bf16"),
            run: bf16_dot,
            ops_per_step: (CHAINS * 32 * 2) as f64,
        },
        Ceiling {
            name: "int8 dot (vpdpbusd)",
            feature: "avx512vnni",
            detected: || {
                std::arch::is_x86_feature_detected!("avx512vnni")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            },
            run: int8_dot,
            ops_per_step: (CHAINS * 64 * 2) as f64,
        },
        Ceiling {
            name: "f16 FMA (vfmadd231ph)",
            feature: "avx512fp16",
            detected: || {
                std::arch::is_x86_feature_detected!("avx512fp16")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            },
            run: f16_fma,
            ops_per_step: (CHAINS * 32 * 2) as f64,
        },
    ];
}

#[cfg(target_arch = "x86_64")]
fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .map_or(20_000_000, |a| a.parse().expect("STEPS"));
    for ceiling in &loops::CEILINGS {
        if !(ceiling.detected)() {
            println!("{:<24} not supported ({})", ceiling.name, ceiling.feature);
            continue;
        }
        for threads in [1usize, 2] {
            let start = Instant::now();
            let run = ceiling.run;
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    // SAFETY: the loop's features were detected above.
                    std::thread::spawn(move || unsafe { run(steps) })
                })
                .collect();
            for worker in workers {
                std::hint::black_box(worker.join().expect("worker"));
            }
            let seconds = start.elapsed().as_secs_f64();
            let gops = threads as f64 * steps as f64 * ceiling.ops_per_step / seconds / 1e9;
            println!(
                "{:<24} {threads} thread(s): {gops:7.1} G{}/s",
                ceiling.name,
                if ceiling.feature == "avx512vnni" {
                    "OP"
                } else {
                    "FLOP"
                }
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("x86-64 only");
}
