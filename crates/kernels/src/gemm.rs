//! Linear layers as one matrix product per batch: `out = x · Wᵀ + b`, then GELU or a residual add.
//!
//! The weights never change, so they are packed once into strips of output columns (`k` rows of
//! one strip's columns, contiguous and 64-byte aligned) and a micro-kernel computes a tile of
//! a few token rows × one strip, keeping the whole tile in registers over the full inner
//! dimension. The epilogue (bias, GELU, residual) runs on the registers before the single store,
//! so the output is written once and never re-read by a separate elementwise pass.
//!
//! Work is split over rayon in blocks of [`BLOCK_ROWS`] token rows; each block walks all strips,
//! so a strip is reused from cache by every tile of the block.

use rayon::prelude::*;

use crate::gemm_int8::Int8Weights;
use crate::{Isa, math};

/// f16 products are summed in f16 for this many steps of the inner dimension, then added into
/// f32 totals: long f16 sums would lose digits, short blocks keep the rounding of each partial
/// sum small while most of the work runs at the f16 rate. (Each f16 lane sums every other step,
/// so a partial sum holds half this many products.)
pub const F16_ACCUMULATION_BLOCK: usize = 128;

/// Output columns per packed strip: two AVX-512 vectors of f32 results.
pub(crate) const STRIP_WIDTH: usize = 32;
/// Token rows per micro-tile: 12 rows × 2 vectors = 24 accumulator registers of the 32.
pub(crate) const TILE_ROWS: usize = 12;
/// Token rows per parallel task.
pub(crate) const BLOCK_ROWS: usize = 4 * TILE_ROWS;

/// How the packed weights are stored and multiplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// f32 weights and inputs, f32 products and sums (exact mode).
    F32,
    /// f16 weights, inputs rounded to f16, f16 products summed in blocks into f32.
    F16,
    /// bf16 weights, inputs rounded to bf16 (to nearest even), pairs of products summed into
    /// f32 (VDPBF16PS): bf16 keeps f32's range, so nothing overflows, at 8 significant bits.
    Bf16,
    /// int8 weights (symmetric, one scale per output channel), each input row quantized to
    /// unsigned bytes with its own scale and zero point, products summed exactly in int32
    /// (VPDPBUSD, AVX512-VNNI), a row's outlier values computed in f32 (`gemm_int8`).
    Int8,
}

impl WeightFormat {
    /// Rows of the packed weights per step of the micro-kernel: f16 weights are packed in pairs
    /// of inner-dimension steps, interleaved per column, so that a tile row's two input values
    /// for those steps are one 32-bit broadcast (a plain load; a 16-bit broadcast would also
    /// take a shuffle-port uop from the FMAs) and each f16 vector covers 16 columns × 2 steps.
    fn steps_per_row(self) -> usize {
        match self {
            Self::F32 => 1,
            Self::F16 | Self::Bf16 => 2,
            Self::Int8 => 4,
        }
    }
}

/// What happens to `x · Wᵀ` before it is stored.
#[derive(Debug, Clone, Copy)]
pub enum Epilogue<'a> {
    /// `+ b`.
    Bias,
    /// `gelu(x · Wᵀ + b)`: the exact (erf) GELU in f32; in the reduced precisions its tanh form
    /// (within 5e-4, half the cost; their rounding of the same outputs is larger).
    BiasGelu,
    /// `x · Wᵀ + b + residual`, `residual` shaped like the output.
    BiasResidual(&'a [f32]),
}

/// One cache line of packed weights (16 f32 or 32 f16), so strips start 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line(pub(crate) [u32; 16]);

/// A linear layer's weights and bias packed for [`PackedLinear::forward`].
pub struct PackedLinear {
    in_features: usize,
    out_features: usize,
    format: WeightFormat,
    isa: Isa,
    /// Bias, zero-padded to whole strips.
    bias: Vec<f32>,
    /// Strip `s` holds, for each input feature `p`, the weights of output columns
    /// `s·w .. (s+1)·w` (w = strip width), zero-padded past `out_features` (empty in int8).
    strips: Vec<Line>,
    /// The int8 weights, scales and outlier columns ([`WeightFormat::Int8`] only).
    int8: Option<Int8Weights>,
}

impl PackedLinear {
    /// Packs `weight` (`out_features × in_features`, row-major: PyTorch's `nn.Linear.weight`).
    pub fn new(
        weight: &[f32],
        bias: Option<&[f32]>,
        in_features: usize,
        out_features: usize,
        format: WeightFormat,
        isa: Isa,
    ) -> Self {
        assert_eq!(weight.len(), in_features * out_features, "weight shape");
        let mut padded_bias = vec![0.0; out_features.div_ceil(STRIP_WIDTH) * STRIP_WIDTH];
        if let Some(bias) = bias {
            assert_eq!(bias.len(), out_features, "bias shape");
            padded_bias[..out_features].copy_from_slice(bias);
        }
        if format == WeightFormat::Int8 {
            return Self {
                in_features,
                out_features,
                format,
                isa,
                bias: padded_bias,
                strips: Vec::new(),
                int8: Some(Int8Weights::new(weight, in_features, out_features)),
            };
        }
        let steps = format.steps_per_row();
        let num_strips = out_features.div_ceil(STRIP_WIDTH);
        let packed_rows = in_features.div_ceil(steps);
        // Both formats: a packed row is 32 columns × `steps` values = 2 cache lines.
        let mut strips = vec![Line([0; 16]); num_strips * packed_rows * 2];
        let words: &mut [u32] = bytemuck_lines(&mut strips);
        for strip in 0..num_strips {
            for p in 0..in_features {
                for j in 0..STRIP_WIDTH {
                    let column = strip * STRIP_WIDTH + j;
                    if column >= out_features {
                        continue;
                    }
                    let w = weight[column * in_features + p];
                    let row = strip * packed_rows + p / steps;
                    match format {
                        WeightFormat::F32 => words[row * STRIP_WIDTH + j] = w.to_bits(),
                        _ => {
                            let half = round_to_half(format, w) as u32;
                            words[row * STRIP_WIDTH + j] |= half << (16 * (p % 2));
                        }
                    }
                }
            }
        }
        Self {
            in_features,
            out_features,
            format,
            isa,
            bias: padded_bias,
            strips,
            int8: None,
        }
    }

    /// The input width (`k`).
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// The output width (`n`).
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// How the weights are stored and multiplied.
    pub fn format(&self) -> WeightFormat {
        self.format
    }

    /// `out = epilogue(x · Wᵀ + b)` for `x` of `rows × in_features` and `out` of
    /// `rows × out_features`, both row-major.
    pub fn forward(&self, x: &[f32], out: &mut [f32], epilogue: Epilogue<'_>) {
        self.forward_with_scratch(x, out, epilogue, &mut Vec::new());
    }

    /// [`Self::forward`], keeping the f16- or bf16-rounded (or int8-quantized) input in
    /// `scratch`, whose allocation a caller running many batches can reuse.
    pub fn forward_with_scratch(
        &self,
        x: &[f32],
        out: &mut [f32],
        epilogue: Epilogue<'_>,
        scratch: &mut Vec<u32>,
    ) {
        let (k, n) = (self.in_features, self.out_features);
        assert_eq!(x.len() % k, 0, "input is not a whole number of rows");
        let rows = x.len() / k;
        assert_eq!(out.len(), rows * n, "output shape");
        if let Epilogue::BiasResidual(residual) = epilogue {
            assert_eq!(residual.len(), out.len(), "residual shape");
        }
        if let Some(int8) = &self.int8 {
            int8.forward(x, out, &self.bias, epilogue, self.isa, scratch);
            return;
        }
        let input = match self.format {
            WeightFormat::F32 => Input::F32(x),
            _ => {
                to_half_pairs(self.format, x, k, self.isa, scratch);
                Input::HalfPairs(scratch)
            }
        };
        for_each_tile(rows, n, out, |tile, out_tile| {
            self.tile(&input, tile, out_tile, epilogue)
        });
    }

    #[cfg(test)]
    pub(crate) fn int8_weights(&self) -> Option<&Int8Weights> {
        self.int8.as_ref()
    }

    fn tile(&self, input: &Input<'_>, tile: &Tile, out: &mut [f32], epilogue: Epilogue<'_>) {
        let (k, n) = (self.in_features, self.out_features);
        let residual = match epilogue {
            Epilogue::BiasResidual(r) => Some(&r[tile.first_row * n..]),
            _ => None,
        };
        let residual_at_column = match residual {
            Some(r) => r[tile.first_column..].as_ptr(),
            None => std::ptr::null(),
        };
        #[cfg(target_arch = "x86_64")]
        {
            let args = avx512::TileArgs {
                k,
                ldo: n,
                columns: tile.columns,
                bias: self.bias[tile.first_column..].as_ptr(),
                out: out[tile.first_column..].as_mut_ptr(),
                residual: residual_at_column,
                gelu: match epilogue {
                    Epilogue::BiasGelu if self.format == WeightFormat::F32 => avx512::Gelu::Erf,
                    Epilogue::BiasGelu => avx512::Gelu::Tanh,
                    _ => avx512::Gelu::Off,
                },
            };
            let packed_rows = k.div_ceil(self.format.steps_per_row());
            let words = bytemuck_lines_ref(&self.strips);
            let strip = words[tile.strip * packed_rows * STRIP_WIDTH..].as_ptr();
            match input {
                Input::F32(x) if self.isa.avx512f() => {
                    let a = x[tile.first_row * k..].as_ptr();
                    // SAFETY: avx512f is present; `a` has `rows` rows of `k`, `strip` a whole
                    // strip, `out`/`residual` `rows` rows of `n` from the tile's first column on,
                    // and the kernel masks columns past `columns`.
                    unsafe { avx512::tile_f32(tile.rows, a, strip.cast(), &args) };
                    return;
                }
                Input::HalfPairs(x)
                    if self.format == WeightFormat::F16 && self.isa.avx512fp16() =>
                {
                    let a = x[tile.first_row * packed_rows..].as_ptr();
                    // SAFETY: as above, with avx512fp16 present and `a` rows of `packed_rows`
                    // pairs.
                    unsafe { avx512::tile_f16(tile.rows, a, strip, &args) };
                    return;
                }
                Input::HalfPairs(x)
                    if self.format == WeightFormat::Bf16 && self.isa.avx512bf16() =>
                {
                    let a = x[tile.first_row * packed_rows..].as_ptr();
                    // SAFETY: as above, with avx512bf16 present and `a` rows of `packed_rows`
                    // pairs.
                    unsafe { avx512::tile_bf16(tile.rows, a, strip, &args) };
                    return;
                }
                _ => {}
            }
        }
        self.tile_portable(input, tile, out, residual, epilogue);
    }

    /// The same tile in plain Rust: f32 (or f16/bf16-rounded) products summed in f32.
    fn tile_portable(
        &self,
        input: &Input<'_>,
        tile: &Tile,
        out: &mut [f32],
        residual: Option<&[f32]>,
        epilogue: Epilogue<'_>,
    ) {
        let (k, n) = (self.in_features, self.out_features);
        let steps = self.format.steps_per_row();
        let packed_rows = k.div_ceil(steps);
        let words = bytemuck_lines_ref(&self.strips);
        let half_of =
            |word: u32, which: usize| half_to_f32(self.format, (word >> (16 * which)) as u16);
        let weight = |p: usize, j: usize| -> f32 {
            let word = words[(tile.strip * packed_rows + p / steps) * STRIP_WIDTH + j];
            match self.format {
                WeightFormat::F32 => f32::from_bits(word),
                _ => half_of(word, p % 2),
            }
        };
        for i in 0..tile.rows {
            let row = tile.first_row + i;
            for j in 0..tile.columns {
                let mut sum = 0.0f32;
                for p in 0..k {
                    let a = match input {
                        Input::F32(x) => x[row * k + p],
                        Input::HalfPairs(x) => half_of(x[row * packed_rows + p / 2], p % 2),
                    };
                    sum = a.mul_add(weight(p, j), sum);
                }
                let column = tile.first_column + j;
                let mut value = sum + self.bias[column];
                if matches!(epilogue, Epilogue::BiasGelu) {
                    value = match self.format {
                        WeightFormat::F32 => math::gelu(value),
                        _ => math::gelu_tanh(value),
                    };
                }
                if let Some(residual) = residual {
                    value += residual[i * n + column];
                }
                out[i * n + column] = value;
            }
        }
    }
}

/// Which rows and columns one micro-tile covers.
pub(crate) struct Tile {
    pub(crate) first_row: usize,
    pub(crate) rows: usize,
    pub(crate) strip: usize,
    pub(crate) first_column: usize,
    /// Valid columns in the strip (the last strip may be partly padding).
    pub(crate) columns: usize,
}

/// Runs `tile(tile, out)` for every micro-tile of a `rows × n` output, `out` from the tile's
/// first row: in parallel over blocks of [`BLOCK_ROWS`] rows, each block walking all strips so
/// a strip is reused from cache by every tile of the block.
pub(crate) fn for_each_tile(
    rows: usize,
    n: usize,
    out: &mut [f32],
    tile: impl Fn(&Tile, &mut [f32]) + Sync,
) {
    debug_assert_eq!(out.len(), rows * n);
    out.par_chunks_mut(BLOCK_ROWS * n)
        .enumerate()
        .for_each(|(block, out_block)| {
            let first_row = block * BLOCK_ROWS;
            let block_len = out_block.len() / n;
            for strip in 0..n.div_ceil(STRIP_WIDTH) {
                let first_column = strip * STRIP_WIDTH;
                for tile_start in (0..block_len).step_by(TILE_ROWS) {
                    let t = Tile {
                        first_row: first_row + tile_start,
                        rows: TILE_ROWS.min(block_len - tile_start),
                        strip,
                        first_column,
                        columns: STRIP_WIDTH.min(n - first_column),
                    };
                    tile(&t, &mut out_block[tile_start * n..]);
                }
            }
        });
}

enum Input<'a> {
    F32(&'a [f32]),
    /// Each row rounded to the format's 16-bit type and packed two values per word (even step
    /// in the low half), zero-padded to an even length.
    HalfPairs(&'a [u32]),
}

/// `v` rounded to nearest even as f16 or bf16 bits.
fn round_to_half(format: WeightFormat, v: f32) -> u16 {
    match format {
        WeightFormat::Bf16 => half::bf16::from_f32(v).to_bits(),
        _ => half::f16::from_f32(v).to_bits(),
    }
}

fn half_to_f32(format: WeightFormat, bits: u16) -> f32 {
    match format {
        WeightFormat::Bf16 => half::bf16::from_bits(bits).to_f32(),
        _ => half::f16::from_bits(bits).to_f32(),
    }
}

/// `x` (rows of `k`) rounded to f16 or bf16 into `out`, two values per word. Every word is
/// written, so `out` is only resized, never cleared.
fn to_half_pairs(format: WeightFormat, x: &[f32], k: usize, isa: Isa, out: &mut Vec<u32>) {
    let pairs = k.div_ceil(2);
    let rows = x.len() / k;
    out.resize(rows * pairs, 0);
    out.par_chunks_mut(pairs * 64)
        .zip(x.par_chunks(k * 64))
        .for_each(|(out, x)| {
            for (out, x) in out.chunks_mut(pairs).zip(x.chunks(k)) {
                #[cfg(target_arch = "x86_64")]
                {
                    if format == WeightFormat::F16 && isa.avx512f() && k.is_multiple_of(32) {
                        // SAFETY: avx512f is present; `out` holds k/2 words for the k values.
                        unsafe { avx512::to_f16_pairs(x, out) };
                        continue;
                    }
                    if format == WeightFormat::Bf16 && isa.avx512bf16() {
                        // SAFETY: avx512bf16 (with F and BW) is present; `out` holds ⌈k/2⌉
                        // words for the k values.
                        unsafe { avx512::to_bf16_pairs(x, out) };
                        continue;
                    }
                }
                for (word, pair) in out.iter_mut().zip(x.chunks(2)) {
                    let half = |v: f32| round_to_half(format, v) as u32;
                    *word = half(pair[0]) | pair.get(1).map_or(0, |&v| half(v) << 16);
                }
            }
        });
}

pub(crate) fn bytemuck_lines(lines: &mut [Line]) -> &mut [u32] {
    // SAFETY: `Line` is `repr(C)` around `[u32; 16]` with no padding (64 bytes, align 64).
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<u32>(), lines.len() * 16) }
}

pub(crate) fn bytemuck_lines_ref(lines: &[Line]) -> &[u32] {
    // SAFETY: as in `bytemuck_lines`.
    unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<u32>(), lines.len() * 16) }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    use super::F16_ACCUMULATION_BLOCK;
    use crate::math::avx512::{gelu, gelu_tanh};

    /// Which GELU the epilogue applies.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Gelu {
        Off,
        /// The exact (erf) form.
        Erf,
        /// The tanh form (reduced precisions).
        Tanh,
    }

    /// Everything a micro-kernel needs besides its input rows and weight strip.
    pub(crate) struct TileArgs {
        pub(crate) k: usize,
        /// Row stride of `out` and `residual`.
        pub(crate) ldo: usize,
        pub(crate) columns: usize,
        /// The strip's bias (padded: always a whole strip readable).
        pub(crate) bias: *const f32,
        /// The tile's top-left output element.
        pub(crate) out: *mut f32,
        /// Null, or the residual element matching `out`.
        pub(crate) residual: *const f32,
        pub(crate) gelu: Gelu,
    }

    macro_rules! dispatch_rows {
        ($rows:expr, $kernel:ident, $($arg:expr),*) => {
            match $rows {
                1 => $kernel::<1>($($arg),*),
                2 => $kernel::<2>($($arg),*),
                3 => $kernel::<3>($($arg),*),
                4 => $kernel::<4>($($arg),*),
                5 => $kernel::<5>($($arg),*),
                6 => $kernel::<6>($($arg),*),
                7 => $kernel::<7>($($arg),*),
                8 => $kernel::<8>($($arg),*),
                9 => $kernel::<9>($($arg),*),
                10 => $kernel::<10>($($arg),*),
                11 => $kernel::<11>($($arg),*),
                12 => $kernel::<12>($($arg),*),
                other => unreachable!("tile of {other} rows"),
            }
        };
    }
    pub(crate) use dispatch_rows;

    /// # Safety
    /// avx512f; `a`: `rows × k` f32; `b`: a packed f32 strip of `k × 32`; `args` pointers valid
    /// for `rows` rows of `args.ldo` from the tile's first column.
    pub(super) unsafe fn tile_f32(rows: usize, a: *const f32, b: *const f32, args: &TileArgs) {
        // SAFETY: forwarded contract.
        unsafe {
            dispatch_rows!(rows, kernel_f32, a, b, args);
            gelu_rows(rows, args);
        }
    }

    /// GELU in place on the tile's stored rows, when the epilogue asks for it.
    ///
    /// # Safety
    /// avx512f; `args.out` valid for `rows` rows of `args.ldo` from the tile's first column.
    #[target_feature(enable = "avx512f")]
    pub(crate) unsafe fn gelu_rows(rows: usize, args: &TileArgs) {
        if args.gelu == Gelu::Off {
            return;
        }
        let apply = |x| match args.gelu {
            Gelu::Tanh => gelu_tanh(x),
            _ => gelu(x),
        };
        for row in 0..rows {
            for first in (0..args.columns).step_by(16) {
                let lanes = (args.columns - first).min(16);
                // SAFETY: only the valid columns of the tile's rows are read and written.
                unsafe {
                    let at = args.out.add(row * args.ldo + first);
                    if lanes == 16 {
                        _mm512_storeu_ps(at, apply(_mm512_loadu_ps(at)));
                    } else {
                        let mask: __mmask16 = (1 << lanes) - 1;
                        let x = _mm512_maskz_loadu_ps(mask, at);
                        _mm512_mask_storeu_ps(at, mask, apply(x));
                    }
                }
            }
        }
    }

    /// # Safety
    /// As [`tile_f32`] with avx512fp16; `a` holds rows of `k/2` f16 pairs, `b` a strip packed in
    /// pairs (`k/2` rows of 32 columns × 2 steps).
    pub(super) unsafe fn tile_f16(rows: usize, a: *const u32, b: *const u32, args: &TileArgs) {
        // SAFETY: forwarded contract.
        unsafe {
            dispatch_rows!(rows, kernel_f16, a, b, args);
            gelu_rows(rows, args);
        }
    }

    /// # Safety
    /// As [`tile_f32`] with avx512bf16; `a` holds rows of `⌈k/2⌉` bf16 pairs, `b` a strip
    /// packed in pairs (`⌈k/2⌉` rows of 32 columns × 2 steps).
    pub(super) unsafe fn tile_bf16(rows: usize, a: *const u32, b: *const u32, args: &TileArgs) {
        // SAFETY: forwarded contract.
        unsafe {
            dispatch_rows!(rows, kernel_bf16, a, b, args);
            gelu_rows(rows, args);
        }
    }

    /// Rounds a row to bf16 pairs, 32 floats at a time (to nearest even, as `half` does; f32
    /// subnormals, which activations never are, become 0), the odd tail zero-padded.
    ///
    /// # Safety
    /// avx512f, avx512bw, avx512bf16; `out.len() == x.len().div_ceil(2)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn to_bf16_pairs(x: &[f32], out: &mut [u32]) {
        let full = x.len() / 32;
        for (x, out) in x.chunks_exact(32).zip(out.chunks_exact_mut(16)) {
            // SAFETY: 32 floats in, 16 words out.
            unsafe {
                let low = _mm512_loadu_ps(x.as_ptr());
                let high = _mm512_loadu_ps(x.as_ptr().add(16));
                let bf = _mm512_cvtne2ps_pbh(high, low);
                _mm512_storeu_si512(
                    out.as_mut_ptr().cast(),
                    std::mem::transmute::<__m512bh, __m512i>(bf),
                );
            }
        }
        let rest = x.len() - full * 32;
        if rest > 0 {
            let x = &x[full * 32..];
            let out = &mut out[full * 16..];
            let lanes = |n: usize| if n >= 16 { !0u16 } else { (1u16 << n) - 1 };
            // SAFETY: the masked loads read the `rest` floats left; the masked store writes the
            // ⌈rest/2⌉ words left (zero past the end of the row).
            unsafe {
                let low = _mm512_maskz_loadu_ps(lanes(rest), x.as_ptr());
                let high = _mm512_maskz_loadu_ps(
                    lanes(rest.saturating_sub(16)),
                    x.as_ptr().add(16.min(rest)),
                );
                let bf = _mm512_cvtne2ps_pbh(high, low);
                let words = rest.div_ceil(2);
                let mask: __mmask32 = if words * 2 >= 32 {
                    !0
                } else {
                    (1u32 << (words * 2)) - 1
                };
                _mm512_mask_storeu_epi16(
                    out.as_mut_ptr().cast(),
                    mask,
                    std::mem::transmute::<__m512bh, __m512i>(bf),
                );
            }
        }
    }

    /// Rounds 32 floats at a time to f16 (round to nearest even, as `half` does).
    ///
    /// # Safety
    /// avx512f; `x.len()` a multiple of 32 and `out.len() == x.len() / 2`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn to_f16_pairs(x: &[f32], out: &mut [u32]) {
        for (x, out) in x.chunks_exact(32).zip(out.chunks_exact_mut(16)) {
            // SAFETY: 32 floats in, 16 words out.
            unsafe {
                let low = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                    _mm512_loadu_ps(x.as_ptr()),
                );
                let high = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                    _mm512_loadu_ps(x.as_ptr().add(16)),
                );
                _mm256_storeu_si256(out.as_mut_ptr().cast(), low);
                _mm256_storeu_si256(out.as_mut_ptr().add(8).cast(), high);
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn kernel_f32<const MR: usize>(a: *const f32, b: *const f32, args: &TileArgs) {
        let k = args.k;
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for p in 0..k {
            // SAFETY (whole body): offsets stay inside the rows and strip the caller vouched for.
            unsafe {
                let b0 = _mm512_load_ps(b.add(p * 32));
                let b1 = _mm512_load_ps(b.add(p * 32 + 16));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let ai = _mm512_set1_ps(*a.add(i * k + p));
                    acc[0] = _mm512_fmadd_ps(ai, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(ai, b1, acc[1]);
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            // SAFETY: row `i` of the tile.
            unsafe { store_row(acc, i, args) };
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512fp16")]
    unsafe fn kernel_f16<const MR: usize>(a: *const u32, b: *const u32, args: &TileArgs) {
        let pairs = args.k.div_ceil(2);
        let block = F16_ACCUMULATION_BLOCK / 2;
        // f32 totals, per row: the low and high halves of each f16 accumulator (lanes still
        // interleaved even/odd step). They live in memory: touched once per block, they must
        // not compete with the block's accumulators for registers.
        let mut total = [[0f32; 64]; MR];
        let mut start = 0;
        while start < pairs {
            let end = (start + block).min(pairs);
            // SAFETY: forwarded contract.
            let acc = unsafe { block_f16::<MR>(a, b, pairs, start, end) };
            for (total, acc) in total.iter_mut().zip(&acc) {
                for (v, &partial) in acc.iter().enumerate() {
                    let bits = _mm512_castph_si512(partial);
                    let halves = [
                        _mm512_cvtph_ps(_mm512_castsi512_si256(bits)),
                        _mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(bits)),
                    ];
                    for (h, half) in halves.into_iter().enumerate() {
                        let at = total[32 * v + 16 * h..].as_mut_ptr();
                        // SAFETY: `total` rows hold 64 floats.
                        unsafe { _mm512_storeu_ps(at, _mm512_add_ps(_mm512_loadu_ps(at), half)) };
                    }
                }
            }
            start = end;
        }
        // Lanes 2j and 2j+1 of a half hold column j's sums over even and odd steps.
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for (i, total) in total.iter().enumerate() {
            // SAFETY: `total` rows hold 64 floats; row `i` of the tile.
            unsafe {
                let columns: [__m512; 2] = std::array::from_fn(|v| {
                    let low = _mm512_loadu_ps(total[32 * v..].as_ptr());
                    let high = _mm512_loadu_ps(total[32 * v + 16..].as_ptr());
                    _mm512_add_ps(
                        _mm512_permutex2var_ps(low, even, high),
                        _mm512_permutex2var_ps(low, odd, high),
                    )
                });
                store_row(&columns, i, args);
            }
        }
    }

    /// Each step: one pair of inner-dimension steps for 32 columns, the row's two bf16 inputs
    /// one 32-bit broadcast, the two products added into the f32 sums by one VDPBF16PS.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn kernel_bf16<const MR: usize>(a: *const u32, b: *const u32, args: &TileArgs) {
        let pairs = args.k.div_ceil(2);
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for q in 0..pairs {
            // SAFETY (whole body): offsets stay inside the rows and strip the caller vouched for;
            // the transmutes reinterpret 512 bits as 32 bf16.
            unsafe {
                let b0: __m512bh = std::mem::transmute(_mm512_load_si512(b.add(q * 32).cast()));
                let b1: __m512bh =
                    std::mem::transmute(_mm512_load_si512(b.add(q * 32 + 16).cast()));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let ai: __m512bh =
                        std::mem::transmute(_mm512_set1_epi32(*a.add(i * pairs + q) as i32));
                    acc[0] = _mm512_dpbf16_ps(acc[0], ai, b0);
                    acc[1] = _mm512_dpbf16_ps(acc[1], ai, b1);
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            // SAFETY: row `i` of the tile.
            unsafe { store_row(acc, i, args) };
        }
    }

    /// f16 sums of products over pairs `start..end` of the inner dimension for one tile.
    #[inline(never)]
    #[target_feature(enable = "avx512f,avx512bw,avx512fp16")]
    unsafe fn block_f16<const MR: usize>(
        a: *const u32,
        b: *const u32,
        pairs: usize,
        start: usize,
        end: usize,
    ) -> [[__m512h; 2]; MR] {
        let mut acc = [[_mm512_setzero_ph(); 2]; MR];
        for q in start..end {
            // SAFETY: offsets stay inside the rows and strip the caller vouched for.
            unsafe {
                let b0 = _mm512_castsi512_ph(_mm512_load_si512(b.add(q * 32).cast()));
                let b1 = _mm512_castsi512_ph(_mm512_load_si512(b.add(q * 32 + 16).cast()));
                for (i, acc) in acc.iter_mut().enumerate() {
                    let ai = _mm512_castsi512_ph(_mm512_set1_epi32(*a.add(i * pairs + q) as i32));
                    acc[0] = _mm512_fmadd_ph(ai, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ph(ai, b1, acc[1]);
                }
            }
        }
        acc
    }

    /// Bias and residual on one tile row of `N` vectors (columns past `args.columns` skipped),
    /// then a store. GELU runs afterwards ([`gelu_rows`]) on the stored tile, still in L1: its
    /// temporaries next to the 24 accumulators would spill them.
    ///
    /// Always inlined into the micro-kernels (which enable AVX-512), so the tile stays in
    /// registers: a call would spill it to a zeroed stack array on every tile.
    ///
    /// # Safety
    /// avx512f; as the micro-kernels' contract.
    #[inline(always)]
    unsafe fn store_row<const N: usize>(values: &[__m512; N], row: usize, args: &TileArgs) {
        for (v, &value) in values.iter().enumerate() {
            let first = v * 16;
            if first >= args.columns {
                break;
            }
            let lanes = (args.columns - first).min(16);
            let mask: __mmask16 = if lanes == 16 { !0 } else { (1 << lanes) - 1 };
            // SAFETY: the bias is padded to whole strips; `out`/`residual` are read and written
            // only in the `lanes` valid columns of row `row`.
            unsafe {
                let mut x = _mm512_add_ps(value, _mm512_loadu_ps(args.bias.add(first)));
                let at = row * args.ldo + first;
                if !args.residual.is_null() {
                    x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, args.residual.add(at)));
                }
                // Whole vectors unmasked: `gelu_rows` reloads them at once, and a masked store
                // cannot forward to a load.
                if lanes == 16 {
                    _mm512_storeu_ps(args.out.add(at), x);
                } else {
                    _mm512_mask_storeu_ps(args.out.add(at), mask, x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn random(len: usize, scale: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..len)
            .map(|_| rng.random_range(-1.0f32..1.0) * scale)
            .collect()
    }

    /// `x · Wᵀ + b` in f64.
    fn reference(x: &[f32], w: &[f32], b: &[f32], k: usize, n: usize) -> Vec<f64> {
        let rows = x.len() / k;
        let mut out = vec![0.0; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let dot: f64 = (0..k)
                    .map(|p| x[r * k + p] as f64 * w[c * k + p] as f64)
                    .sum();
                out[r * n + c] = dot + b[c] as f64;
            }
        }
        out
    }

    /// Checks every epilogue against the f64 reference, computed on the inputs and weights as
    /// rounded to the format when `rounded_reference` (so only the arithmetic is measured).
    fn check_with(format: WeightFormat, isa: Isa, tolerance: f64, rounded_reference: bool) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Rows not a multiple of the tile, columns not a multiple of the strip, odd and long k.
        for (rows, k, n) in [
            (1, 8, 5),
            (13, 40, 70),
            (61, 96, 130),
            (50, 33, 64),
            (25, 385, 40),
        ] {
            let x = random(rows * k, 1.0, &mut rng);
            let w = random(n * k, 0.2, &mut rng);
            let b = random(n, 0.5, &mut rng);
            let residual = random(rows * n, 1.0, &mut rng);
            let round = |v: &[f32]| -> Vec<f32> {
                v.iter()
                    .map(|&v| match format {
                        WeightFormat::F32 => v,
                        _ => half_to_f32(format, round_to_half(format, v)),
                    })
                    .collect()
            };
            // Rounding errors of long sums grow with √k; the tolerances are for k ≤ 96.
            let tolerance = tolerance * (k as f64 / 96.0).sqrt().max(1.0);
            let want = if rounded_reference {
                reference(&round(&x), &round(&w), &b, k, n)
            } else {
                reference(&x, &w, &b, k, n)
            };
            let layer = PackedLinear::new(&w, Some(&b), k, n, format, isa);
            let mut out = vec![f32::NAN; rows * n];
            layer.forward(&x, &mut out, Epilogue::Bias);
            for (got, want) in out.iter().zip(&want) {
                assert!((*got as f64 - want).abs() < tolerance, "{got} vs {want}");
            }
            layer.forward(&x, &mut out, Epilogue::BiasResidual(&residual));
            for ((got, want), r) in out.iter().zip(&want).zip(&residual) {
                assert!((*got as f64 - (want + *r as f64)).abs() < tolerance);
            }
            layer.forward(&x, &mut out, Epilogue::BiasGelu);
            for (got, want) in out.iter().zip(&want) {
                let gelu = match format {
                    WeightFormat::F32 => math::gelu(*want as f32),
                    _ => math::gelu_tanh(*want as f32),
                } as f64;
                assert!((*got as f64 - gelu).abs() < tolerance, "{got} vs {gelu}");
            }
        }
    }

    fn check(format: WeightFormat, isa: Isa, tolerance: f64) {
        check_with(format, isa, tolerance, false);
    }

    #[test]
    fn f32_matches_f64_reference() {
        check(WeightFormat::F32, Isa::detect(), 1e-5);
        check(WeightFormat::F32, Isa::portable(), 1e-5);
    }

    #[test]
    fn f16_stays_close_to_reference() {
        // Outputs are O(1). Against the f64 reference on the f16-rounded values: the portable
        // version sums in f32; the AVX512-FP16 one (Intel, where detected) keeps partial sums in
        // f16 (up to 64 additions at an ulp of ~1e-3 near 1: a few 1e-3).
        check_with(WeightFormat::F16, Isa::portable(), 2e-5, true);
        if Isa::detect().avx512fp16() {
            check_with(WeightFormat::F16, Isa::detect(), 6e-3, true);
        }
        // Rounding inputs and weights to f16 (2⁻¹¹ relative) costs ~1e-4 per 100 products.
        check(WeightFormat::F16, Isa::portable(), 1e-3);
    }

    #[test]
    fn bf16_sums_the_rounded_values_exactly_in_f32() {
        // Against an f64 reference on the bf16-rounded inputs and weights: only the f32 sums
        // differ. Vector (VDPBF16PS where the CPU has it) and portable versions alike.
        check_with(WeightFormat::Bf16, Isa::detect(), 2e-5, true);
        check_with(WeightFormat::Bf16, Isa::portable(), 2e-5, true);
        // And against the unrounded f64 reference: bf16 keeps 8 significant bits (2⁻⁹ relative
        // per value), over up to 385 products of O(0.1).
        check(WeightFormat::Bf16, Isa::detect(), 3e-2);
    }

    #[test]
    fn bf16_vector_and_portable_versions_agree() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (rows, k, n) = (30, 77, 100);
        let x = random(rows * k, 2.0, &mut rng);
        let w = random(n * k, 0.3, &mut rng);
        let fast = PackedLinear::new(&w, None, k, n, WeightFormat::Bf16, Isa::detect());
        let portable = PackedLinear::new(&w, None, k, n, WeightFormat::Bf16, Isa::portable());
        let (mut a, mut b) = (vec![0.0; rows * n], vec![0.0; rows * n]);
        fast.forward(&x, &mut a, Epilogue::BiasGelu);
        portable.forward(&x, &mut b, Epilogue::BiasGelu);
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn inputs_round_to_half_types_as_the_portable_conversion_does() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for k in [1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 384] {
            let x = random(3 * k, 40.0, &mut rng);
            for format in [WeightFormat::Bf16, WeightFormat::F16] {
                let (mut fast, mut portable) = (Vec::new(), Vec::new());
                to_half_pairs(format, &x, k, Isa::detect(), &mut fast);
                to_half_pairs(format, &x, k, Isa::portable(), &mut portable);
                assert_eq!(fast, portable, "{format:?}, k = {k}");
                assert_eq!(portable.len(), 3 * k.div_ceil(2));
            }
        }
    }
}
