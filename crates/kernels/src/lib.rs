//! CPU kernels for running a BERT-style encoder over unpadded token rows.
//!
//! Why not candle's CPU ops: in a BERT forward pass on CPU the time goes to the linear layers, and
//! what is left over (padding, layout copies around attention, scalar `erf`/`exp`, one allocation
//! per op) costs as much again. These kernels work on plain `f32` row-major buffers:
//!
//! - [`PackedLinear`]: weights packed once into column strips, one matrix product per batch with
//!   the bias, GELU or residual add applied while the result tile is still in registers. f32 on
//!   AVX-512 FMA, or f16 weights and inputs on AVX512-FP16 with partial sums moved into f32
//!   every [`F16_ACCUMULATION_BLOCK`] products.
//! - [`attention`]: softmax(q kᵀ/√d) v per sequence and head, over each sequence's own length,
//!   so no padding is ever computed.
//! - [`layer_norm_rows`]: LayerNorm per token row.
//!
//! Every kernel has a portable scalar version that computes the same function; the AVX-512 one is
//! chosen at run time when the CPU has it (see [`Isa::detect`]).

mod attention;
mod gemm;
mod math;
mod norm;

pub use attention::{SequenceSpan, attention};
pub use gemm::{Epilogue, F16_ACCUMULATION_BLOCK, PackedLinear, WeightFormat};
pub use norm::layer_norm_rows;

/// The instruction sets the kernels can use on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa {
    /// AVX-512 F: the f32 kernels.
    pub avx512f: bool,
    /// AVX512-FP16: the f16 matrix product.
    pub avx512fp16: bool,
}

impl Isa {
    /// What this CPU offers (cached by the standard library's feature detection).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let avx512f = std::arch::is_x86_feature_detected!("avx512f");
            Self {
                avx512f,
                avx512fp16: avx512f
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512fp16"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Self {
                avx512f: false,
                avx512fp16: false,
            }
        }
    }

    /// No vector kernels: the portable versions (used by tests to check the fast ones).
    pub fn portable() -> Self {
        Self {
            avx512f: false,
            avx512fp16: false,
        }
    }
}
