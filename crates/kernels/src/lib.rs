//! CPU kernels for running a BERT-style encoder over unpadded token rows.
//!
//! Why not candle's CPU ops: in a BERT forward pass on CPU the time goes to the linear layers, and
//! what is left over (padding, layout copies around attention, scalar `erf`/`exp`, one allocation
//! per op) costs as much again. These kernels work on plain `f32` row-major buffers:
//!
//! - [`PackedLinear`]: weights packed once into column strips, one matrix product per batch with
//!   the bias, GELU or residual add applied while the result tile is still in registers. f32 on
//!   AVX-512 FMA; bf16 weights and inputs on AVX512-BF16 (VDPBF16PS, f32 sums: AMD Zen 4/5);
//!   or f16 weights and inputs on AVX512-FP16 (Intel) with partial sums moved into f32 every
//!   [`F16_ACCUMULATION_BLOCK`] products; or int8 on AVX512-VNNI (VPDPBUSD, int32 sums), weights
//!   quantized per output channel and each token row with its own scale, a row's outlier values
//!   in f32.
//! - [`attention`], [`attention_masked`]: softmax(q kᵀ/√d) v per sequence and head, over each
//!   sequence's own length (full, sliding-window or causal; grouped-query heads), so no padding is
//!   ever computed.
//! - [`layer_norm_rows`]: LayerNorm per token row; [`rms_norm_rows`], [`rms_norm_heads`]: RMSNorm
//!   per row or per head.
//! - [`Rope`]: rotary position embeddings (rotate-half) in place on query and key heads.
//! - [`gated`]: gated linear units, GeGLU and SwiGLU.
//!
//! Every kernel has a portable scalar version that computes the same function; the AVX-512 one is
//! chosen at run time when the CPU has it. Which one may run is an [`Isa`]: a capability that
//! only detection ([`Isa::detect`], once per process) creates, so safe code cannot make a kernel
//! execute an instruction the CPU lacks.

#![deny(missing_docs)]

mod attention;
mod cpu;
mod gemm;
mod gemm_int8;
mod glu;
mod math;
mod norm;
mod rope;

pub use attention::{AttentionMask, AttentionShape, SequenceSpan, attention, attention_masked};
pub use cpu::{Isa, cpu_model};
pub use gemm::{Epilogue, F16_ACCUMULATION_BLOCK, PackedLinear, WeightFormat};
pub use gemm_int8::{INT8_MAX_INNER, INT8_MAX_OUTLIERS, INT8_OUTLIER_RATIO};
pub use glu::{GateActivation, GluInput, gated};
pub use norm::{layer_norm_rows, rms_norm_heads, rms_norm_rows};
pub use rope::Rope;
