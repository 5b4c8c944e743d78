//! int8 linear layers ([`WeightFormat::Int8`](crate::WeightFormat::Int8)): integer products
//! with VPDPBUSD (AVX512-VNNI), 4 unsigned × signed byte products per 32-bit lane, int32 sums.
//!
//! - **Weights**, once at packing: per output channel `c`, symmetric int8 `w ≈ s_c · q` with
//!   `s_c = max|W[c,·]| / 127`; each strip's `k` steps packed in groups of 4 bytes per column.
//! - **Activations**, per token row as it arrives: `x ≈ s_r · (u − z_r)`, `u` unsigned bytes over
//!   the row's own range `[min(x, 0), max(x, 0)]` in 255 steps (`z_r` the code of 0). A row's
//!   codes depend on that row alone, so a score never depends on its batch-mates. The zero point
//!   is the +128 offset VPDPBUSD's unsigned operand needs, placed where the row puts it: one-sided
//!   rows (GELU outputs: ≥ −0.17) get twice the resolution of a symmetric code.
//! - **Outliers**: a row's values beyond [`INT8_OUTLIER_RATIO`] times its RMS (at most
//!   [`INT8_MAX_OUTLIERS`], the largest) would set its step for all others; they are coded as 0
//!   and their products are added in f32 with the f32 weights in the epilogue.
//! - **Epilogue**: `Σ u·q − z_r · Σ q` (the column sums, kept at packing) is exact in int32; then
//!   `s_r · s_c ·` that `+ bias + Σ outliers x·W`, the residual, and GELU (tanh form, as the other
//!   reduced precisions) on the tile while it is in L1.

use rayon::prelude::*;

use crate::gemm::{
    BLOCK_ROWS, Epilogue, Line, STRIP_WIDTH, Tile, bytemuck_lines, bytemuck_lines_ref,
    for_each_tile,
};
use crate::{Isa, math};

/// A value more than this many times its row's RMS is an outlier: computed in f32 rather than
/// setting the row's int8 step. Measured on all-MiniLM-L6-v2 (docs/performance.md, "int8"):
/// LayerNorm outputs have a few channels (99, 63, 223) up to 30 where the rest stay within ±2,
/// GELU outputs 5–14 values per row beyond 6× RMS; 4× (rather than 6×) lowered the mean
/// |ΔF1| against f32 from 1.02e-3 to 0.92e-3 on 400 pairs.
pub const INT8_OUTLIER_RATIO: f32 = 4.0;
/// At most this many outliers per row (the largest); the rest set the row's range.
pub const INT8_MAX_OUTLIERS: usize = 32;
/// The inner dimension's bound: sums of up to this many products of 255 × 127 fit in int32.
pub const INT8_MAX_INNER: usize = 1 << 16;

/// Inner-dimension steps per 32-bit word: four bytes, one VPDPBUSD lane.
const STEPS: usize = 4;
/// Words of a row's header in the scratch buffer: scale, zero point, outlier count, then the
/// outliers' channels and values.
const HEADER_WORDS: usize = 3 + 2 * INT8_MAX_OUTLIERS;

/// A linear layer's weights quantized to int8 per output channel and packed in strips.
pub(crate) struct Int8Weights {
    in_features: usize,
    out_features: usize,
    /// Strip `s`, packed row `g`: for each of the strip's 32 columns, the int8 weights of steps
    /// `4g .. 4g + 4` in one word (step `4g` in the low byte); zero past `k` and `out_features`.
    strips: Vec<Line>,
    /// `s_c` per output column, zero-padded to whole strips.
    scales: Vec<f32>,
    /// `Σ_p q[c, p]` per output column (zero-padded): the zero points' correction.
    column_sums: Vec<i32>,
    /// The f32 weights transposed (`k` rows of the padded output width): the outliers' columns.
    transposed: Vec<f32>,
}

/// How one row was quantized (kept in the scratch buffer as [`HEADER_WORDS`] words).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct RowQuant {
    scale: f32,
    zero: i32,
    outliers: usize,
    channel: [u32; INT8_MAX_OUTLIERS],
    value: [f32; INT8_MAX_OUTLIERS],
}

impl RowQuant {
    fn write(&self, words: &mut [u32]) {
        words[0] = self.scale.to_bits();
        words[1] = self.zero as u32;
        words[2] = self.outliers as u32;
        for o in 0..INT8_MAX_OUTLIERS {
            words[3 + o] = self.channel[o];
            words[3 + INT8_MAX_OUTLIERS + o] = self.value[o].to_bits();
        }
    }

    fn read(words: &[u32]) -> Self {
        Self {
            scale: f32::from_bits(words[0]),
            zero: words[1] as i32,
            outliers: words[2] as usize,
            channel: std::array::from_fn(|o| words[3 + o]),
            value: std::array::from_fn(|o| f32::from_bits(words[3 + INT8_MAX_OUTLIERS + o])),
        }
    }

    /// Keeps `(channel, value)` among the largest `|value|`s (sorted, largest first; earlier
    /// channels first among equals); returns the value that is not kept, if one is not.
    fn offer(&mut self, channel: usize, value: f32) -> Option<f32> {
        let full = self.outliers == INT8_MAX_OUTLIERS;
        let last = INT8_MAX_OUTLIERS - 1;
        if full && value.abs() <= self.value[last].abs() {
            return Some(value);
        }
        let dropped = full.then(|| self.value[last]);
        let mut at = if full { last } else { self.outliers };
        self.outliers = (self.outliers + 1).min(INT8_MAX_OUTLIERS);
        while at > 0 && self.value[at - 1].abs() < value.abs() {
            self.channel[at] = self.channel[at - 1];
            self.value[at] = self.value[at - 1];
            at -= 1;
        }
        (self.channel[at], self.value[at]) = (channel as u32, value);
        dropped
    }

    /// Scale and zero point for a row whose non-outlier values span `[low, high]`.
    fn set_range(&mut self, low: f32, high: f32) -> f32 {
        let (low, high) = (low.min(0.0), high.max(0.0));
        if high - low > 0.0 {
            self.scale = (high - low) / 255.0;
            let inverse = 1.0 / self.scale;
            self.zero = ((-low * inverse).round_ties_even() as i32).clamp(0, 255);
            inverse
        } else {
            (self.scale, self.zero) = (0.0, 0);
            0.0
        }
    }
}

impl Int8Weights {
    pub(crate) fn new(weight: &[f32], in_features: usize, out_features: usize) -> Self {
        assert!(
            in_features <= INT8_MAX_INNER,
            "int8 inner dimension {in_features} > {INT8_MAX_INNER} (int32 sums could overflow)"
        );
        let (k, n) = (in_features, out_features);
        let num_strips = n.div_ceil(STRIP_WIDTH);
        let padded = num_strips * STRIP_WIDTH;
        let groups = k.div_ceil(STEPS);
        let mut scales = vec![0.0f32; padded];
        let mut column_sums = vec![0i32; padded];
        let mut transposed = vec![0.0f32; k * padded];
        // A packed row is 32 columns × 4 bytes = 2 cache lines.
        let mut strips = vec![Line([0; 16]); num_strips * groups * 2];
        let words = bytemuck_lines(&mut strips);
        for c in 0..n {
            let row = &weight[c * k..(c + 1) * k];
            let max = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
            let scale = max / 127.0;
            let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            scales[c] = scale;
            let (strip, j) = (c / STRIP_WIDTH, c % STRIP_WIDTH);
            for (p, &w) in row.iter().enumerate() {
                let q = ((w * inverse).round_ties_even() as i32).clamp(-127, 127);
                column_sums[c] += q;
                let at = (strip * groups + p / STEPS) * STRIP_WIDTH + j;
                words[at] |= ((q as i8 as u8) as u32) << (8 * (p % STEPS));
                transposed[p * padded + c] = w;
            }
        }
        Self {
            in_features,
            out_features,
            strips,
            scales,
            column_sums,
            transposed,
        }
    }

    /// `out = epilogue(x · Wᵀ + bias)` with `bias` padded to whole strips; `scratch` keeps the
    /// quantized rows.
    pub(crate) fn forward(
        &self,
        x: &[f32],
        out: &mut [f32],
        bias: &[f32],
        epilogue: Epilogue<'_>,
        isa: Isa,
        scratch: &mut Vec<u32>,
    ) {
        let (k, n) = (self.in_features, self.out_features);
        let rows = x.len() / k;
        quantize_rows(x, k, isa, scratch);
        let (codes, headers) = scratch.split_at(rows * k.div_ceil(STEPS));
        let input = Quantized { codes, headers };
        for_each_tile(rows, n, out, |tile, out_tile| {
            self.tile(&input, tile, out_tile, bias, epilogue, isa)
        });
    }

    fn tile(
        &self,
        input: &Quantized<'_>,
        tile: &Tile,
        out: &mut [f32],
        bias: &[f32],
        epilogue: Epilogue<'_>,
        isa: Isa,
    ) {
        let (k, n) = (self.in_features, self.out_features);
        let groups = k.div_ceil(STEPS);
        let residual = match epilogue {
            Epilogue::BiasResidual(r) => Some(&r[tile.first_row * n..]),
            _ => None,
        };
        let words = bytemuck_lines_ref(&self.strips);
        let strip = &words[tile.strip * groups * STRIP_WIDTH..];
        #[cfg(target_arch = "x86_64")]
        if isa.avx512vnni() {
            let args = avx512::Args {
                tile: crate::gemm::avx512::TileArgs {
                    k,
                    ldo: n,
                    columns: tile.columns,
                    bias: bias[tile.first_column..].as_ptr(),
                    out: out[tile.first_column..].as_mut_ptr(),
                    residual: residual
                        .map_or(std::ptr::null(), |r| r[tile.first_column..].as_ptr()),
                    gelu: match epilogue {
                        Epilogue::BiasGelu => crate::gemm::avx512::Gelu::Tanh,
                        _ => crate::gemm::avx512::Gelu::Off,
                    },
                },
                scales: self.scales[tile.first_column..].as_ptr(),
                column_sums: self.column_sums[tile.first_column..].as_ptr(),
                transposed: self.transposed[tile.first_column..].as_ptr(),
                transposed_stride: self.scales.len(),
                headers: input.headers[tile.first_row * HEADER_WORDS..].as_ptr(),
            };
            let a = input.codes[tile.first_row * groups..].as_ptr();
            // SAFETY: avx512vnni (with F and BW) is present; `a` has `rows` rows of `groups`
            // words, `strip` a whole strip, the column arrays whole strips from the tile's
            // first column, `out`/`residual` `rows` rows of `n` from it; columns past
            // `columns` are masked.
            unsafe { avx512::tile(tile.rows, a, strip.as_ptr(), &args) };
            return;
        }
        // Portable: the same integer sums and the same f32 epilogue, in plain Rust.
        for i in 0..tile.rows {
            let quant = &input.header(tile.first_row + i);
            let codes = &input.codes[(tile.first_row + i) * groups..][..groups];
            for j in 0..tile.columns {
                let mut sum = 0i32;
                for (g, &a) in codes.iter().enumerate() {
                    let w = strip[g * STRIP_WIDTH + j];
                    for s in 0..STEPS {
                        let u = (a >> (8 * s)) & 0xff;
                        let q = (w >> (8 * s)) as u8 as i8;
                        sum += u as i32 * q as i32;
                    }
                }
                let column = tile.first_column + j;
                let value = self.dequantize(sum, quant, column, bias[column]);
                let mut value = match epilogue {
                    Epilogue::BiasGelu => math::gelu_tanh(value),
                    _ => value,
                };
                if let Some(residual) = residual {
                    value += residual[i * n + column];
                }
                out[i * n + column] = value;
            }
        }
    }

    /// `s_r · s_c · (sum − z_r Σq) + bias + Σ outliers x·W` for one output (the vector
    /// epilogue's order of operations).
    fn dequantize(&self, sum: i32, quant: &RowQuant, column: usize, bias: f32) -> f32 {
        let exact = sum - quant.zero * self.column_sums[column];
        let mut value = (exact as f32).mul_add(quant.scale * self.scales[column], bias);
        for o in 0..quant.outliers {
            let w = self.transposed[quant.channel[o] as usize * self.scales.len() + column];
            value = quant.value[o].mul_add(w, value);
        }
        value
    }
}

/// The quantized rows in the scratch buffer: `rows × ⌈k/4⌉` words of codes, then a header per row.
struct Quantized<'a> {
    codes: &'a [u32],
    headers: &'a [u32],
}

impl Quantized<'_> {
    fn header(&self, row: usize) -> RowQuant {
        RowQuant::read(&self.headers[row * HEADER_WORDS..][..HEADER_WORDS])
    }
}

/// Quantizes each row of `x` (rows of `k`) into `out`: codes, then headers (see [`Quantized`]).
fn quantize_rows(x: &[f32], k: usize, isa: Isa, out: &mut Vec<u32>) {
    let rows = x.len() / k;
    let groups = k.div_ceil(STEPS);
    out.resize(rows * (groups + HEADER_WORDS), 0);
    let (codes, headers) = out.split_at_mut(rows * groups);
    codes
        .par_chunks_mut(groups * BLOCK_ROWS)
        .zip(headers.par_chunks_mut(HEADER_WORDS * BLOCK_ROWS))
        .zip(x.par_chunks(k * BLOCK_ROWS))
        .for_each(|((codes, headers), x)| {
            for ((codes, header), x) in codes
                .chunks_mut(groups)
                .zip(headers.chunks_mut(HEADER_WORDS))
                .zip(x.chunks(k))
            {
                quantize_row(x, codes, isa).write(header);
            }
        });
}

/// One row's codes (4 per word, the tail padded with the zero point) and how they were made.
fn quantize_row(x: &[f32], codes: &mut [u32], isa: Isa) -> RowQuant {
    #[cfg(target_arch = "x86_64")]
    if isa.avx512vnni() {
        // SAFETY: AVX-512 F and BW are present (VNNI is claimed only with them); `codes` holds
        // ⌈len/4⌉ words.
        return unsafe { avx512::quantize_row(x, codes) };
    }
    let _ = isa;
    let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    let (quant, inverse) = outliers_and_range(x, rms);
    let code = |v: f32| ((v * inverse).round_ties_even() as i32 + quant.zero).clamp(0, 255) as u32;
    for (word, chunk) in codes.iter_mut().zip(x.chunks(STEPS)) {
        *word = (0..STEPS).fold(0, |w, s| {
            w | chunk.get(s).map_or(quant.zero as u32, |&v| code(v)) << (8 * s)
        });
    }
    zero_outliers(&quant, codes);
    quant
}

/// The row's outliers (values beyond [`INT8_OUTLIER_RATIO`] × `rms`, the largest
/// [`INT8_MAX_OUTLIERS`]) and its scale and zero point over the rest; with the inverse scale.
fn outliers_and_range(x: &[f32], rms: f32) -> (RowQuant, f32) {
    let threshold = INT8_OUTLIER_RATIO * rms;
    let mut quant = RowQuant::default();
    let (mut low, mut high) = (0.0f32, 0.0f32);
    for (p, &v) in x.iter().enumerate() {
        let kept = if v.abs() > threshold {
            quant.offer(p, v)
        } else {
            Some(v)
        };
        if let Some(v) = kept {
            (low, high) = (low.min(v), high.max(v));
        }
    }
    let inverse = quant.set_range(low, high);
    (quant, inverse)
}

/// Outliers' codes set to the zero point: they add nothing to the integer sums.
fn zero_outliers(quant: &RowQuant, codes: &mut [u32]) {
    for &channel in &quant.channel[..quant.outliers] {
        let (word, shift) = (channel as usize / STEPS, 8 * (channel as usize % STEPS));
        codes[word] = (codes[word] & !(0xff << shift)) | ((quant.zero as u32) << shift);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{HEADER_WORDS, INT8_MAX_OUTLIERS, RowQuant, STEPS, zero_outliers};
    use crate::gemm::avx512::{TileArgs, dispatch_rows, gelu_rows};

    pub(super) struct Args {
        pub tile: TileArgs,
        /// Weight scales, column sums and transposed f32 weights from the tile's first column.
        pub scales: *const f32,
        pub column_sums: *const i32,
        pub transposed: *const f32,
        pub transposed_stride: usize,
        /// The tile's first row's header (`HEADER_WORDS` words a row, `RowQuant::write`'s layout).
        pub headers: *const u32,
    }

    /// # Safety
    /// avx512f, avx512bw, avx512vnni; `a`: `rows` rows of `⌈k/4⌉` code words; `b` a packed
    /// strip; `args` pointers valid for `rows` rows of `ldo` and a whole strip of columns.
    pub(super) unsafe fn tile(rows: usize, a: *const u32, b: *const u32, args: &Args) {
        // SAFETY: forwarded contract.
        unsafe {
            dispatch_rows!(rows, kernel, a, b, args);
            gelu_rows(rows, &args.tile);
        }
    }

    /// Each step: four inner-dimension steps for 32 columns, the row's four codes one 32-bit
    /// broadcast, 4 byte products added into each int32 lane by one VPDPBUSD.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn kernel<const MR: usize>(a: *const u32, b: *const u32, args: &Args) {
        let groups = args.tile.k.div_ceil(STEPS);
        let mut acc = [[_mm512_setzero_si512(); 2]; MR];
        for g in 0..groups {
            // SAFETY (whole body): offsets stay inside the rows and strip the caller vouched for.
            unsafe {
                let b0 = _mm512_load_si512(b.add(g * 32).cast());
                let b1 = _mm512_load_si512(b.add(g * 32 + 16).cast());
                for (i, acc) in acc.iter_mut().enumerate() {
                    let ai = _mm512_set1_epi32(*a.add(i * groups + g) as i32);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], ai, b0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], ai, b1);
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            // SAFETY: row `i` of the tile.
            unsafe { store_row(acc, i, args) };
        }
    }

    /// Dequantize, bias, outliers and residual on one tile row, then a store (GELU follows on
    /// the stored tile, as in the f32 kernels).
    #[inline(always)]
    unsafe fn store_row(acc: &[__m512i; 2], row: usize, args: &Args) {
        let t = &args.tile;
        // SAFETY: the header of row `row` (`RowQuant::write`'s layout).
        let (scale, zero, outliers, channels, values) = unsafe {
            let header = args.headers.add(row * HEADER_WORDS);
            (
                f32::from_bits(*header),
                *header.add(1) as i32,
                *header.add(2) as usize,
                header.add(3),
                header.add(3 + INT8_MAX_OUTLIERS),
            )
        };
        for (v, &sums) in acc.iter().enumerate() {
            let first = v * 16;
            if first >= t.columns {
                break;
            }
            let lanes = (t.columns - first).min(16);
            let mask: __mmask16 = if lanes == 16 { !0 } else { (1 << lanes) - 1 };
            // SAFETY: the column arrays are padded to whole strips; `out`/`residual` are read
            // and written only in the `lanes` valid columns of row `row`; outlier channels are
            // rows of `transposed` (< k).
            unsafe {
                let column_sums = _mm512_loadu_si512(args.column_sums.add(first).cast());
                let exact = _mm512_sub_epi32(
                    sums,
                    _mm512_mullo_epi32(_mm512_set1_epi32(zero), column_sums),
                );
                let scale = _mm512_mul_ps(
                    _mm512_set1_ps(scale),
                    _mm512_loadu_ps(args.scales.add(first)),
                );
                let mut x = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(exact),
                    scale,
                    _mm512_loadu_ps(t.bias.add(first)),
                );
                for o in 0..outliers {
                    let channel = *channels.add(o) as usize;
                    let column = args
                        .transposed
                        .add(channel * args.transposed_stride + first);
                    let value = _mm512_set1_ps(f32::from_bits(*values.add(o)));
                    x = _mm512_fmadd_ps(value, _mm512_loadu_ps(column), x);
                }
                let at = row * t.ldo + first;
                if !t.residual.is_null() {
                    x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, t.residual.add(at)));
                }
                if lanes == 16 {
                    _mm512_storeu_ps(t.out.add(at), x);
                } else {
                    _mm512_mask_storeu_ps(t.out.add(at), mask, x);
                }
            }
        }
    }

    /// [`super::quantize_row`] with AVX-512: the sum of squares, the range over non-outliers
    /// and the codes 16 values at a time; outliers (rare) found by a compare mask.
    ///
    /// # Safety
    /// avx512f, avx512bw; `codes.len() == x.len().div_ceil(4)`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn quantize_row(x: &[f32], codes: &mut [u32]) -> RowQuant {
        let k = x.len();
        let mask_of = |p: usize| -> __mmask16 {
            let lanes = (k - p).min(16);
            if lanes == 16 { !0 } else { (1 << lanes) - 1 }
        };
        let mut squares = _mm512_setzero_ps();
        for p in (0..k).step_by(16) {
            // SAFETY: the masked load reads only the row's values.
            let v = unsafe { _mm512_maskz_loadu_ps(mask_of(p), x.as_ptr().add(p)) };
            squares = _mm512_fmadd_ps(v, v, squares);
        }
        let rms = (_mm512_reduce_add_ps(squares) / k as f32).sqrt();
        // Outliers are few: offered one by one (in channel order, as the portable scan), the
        // rest of each chunk folded into the range 16 at a time.
        let threshold = _mm512_set1_ps(super::INT8_OUTLIER_RATIO * rms);
        let (mut low, mut high) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let (mut dropped_low, mut dropped_high) = (0.0f32, 0.0f32);
        let mut quant = RowQuant::default();
        for p in (0..k).step_by(16) {
            let mask = mask_of(p);
            // SAFETY: as above.
            let v = unsafe { _mm512_maskz_loadu_ps(mask, x.as_ptr().add(p)) };
            let big = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(mask, _mm512_abs_ps(v), threshold);
            low = _mm512_mask_min_ps(low, mask & !big, low, v);
            high = _mm512_mask_max_ps(high, mask & !big, high, v);
            let mut lanes = big;
            while lanes != 0 {
                let channel = p + lanes.trailing_zeros() as usize;
                lanes &= lanes - 1;
                if let Some(v) = quant.offer(channel, x[channel]) {
                    (dropped_low, dropped_high) = (dropped_low.min(v), dropped_high.max(v));
                }
            }
        }
        let inverse = quant.set_range(
            _mm512_reduce_min_ps(low).min(dropped_low),
            _mm512_reduce_max_ps(high).max(dropped_high),
        );
        let (inverse, zero) = (_mm512_set1_ps(inverse), _mm512_set1_epi32(quant.zero));
        let (floor, ceiling) = (_mm512_setzero_si512(), _mm512_set1_epi32(255));
        let bytes: *mut u8 = codes.as_mut_ptr().cast();
        for p in (0..k).step_by(16) {
            let mask = mask_of(p);
            // SAFETY: reads the row's values; writes their bytes (codes hold ⌈k/4⌉ words).
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, x.as_ptr().add(p));
                let q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, inverse)), zero);
                let q = _mm512_min_epi32(_mm512_max_epi32(q, floor), ceiling);
                _mm512_mask_cvtepi32_storeu_epi8(bytes.add(p).cast(), mask, q);
            }
        }
        // The tail of the last word: the zero point.
        for p in k..codes.len() * STEPS {
            // SAFETY: inside the last word.
            unsafe { *bytes.add(p) = quant.zero as u8 };
        }
        zero_outliers(&quant, codes);
        quant
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::{PackedLinear, WeightFormat};

    fn random(len: usize, scale: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
        (0..len)
            .map(|_| rng.random_range(-1.0f32..1.0) * scale)
            .collect()
    }

    /// Rows like a LayerNorm output: O(1) values and, in some rows, a few outlier channels.
    fn activations(rows: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let mut x = random(rows * k, 1.5, rng);
        for r in (0..rows).step_by(3) {
            for channel in [0, k / 2, k - 1].into_iter().take(1 + r % 3) {
                x[r * k + channel] = 25.0 * if r % 2 == 0 { 1.0 } else { -1.0 };
            }
        }
        x
    }

    /// The code of value `p` of a quantized row.
    fn code(codes: &[u32], p: usize) -> i64 {
        ((codes[p / STEPS] >> (8 * (p % STEPS))) & 0xff) as i64
    }

    /// `x · Wᵀ + b` from the quantized values in f64, the integer sums exact (i64).
    fn reference(layer: &Int8Weights, x: &[f32], bias: &[f32], isa: Isa) -> Vec<f64> {
        let (k, n) = (layer.in_features, layer.out_features);
        let groups = k.div_ceil(STEPS);
        let words = bytemuck_lines_ref(&layer.strips);
        let weight = |c: usize, p: usize| -> i64 {
            let at = ((c / STRIP_WIDTH) * groups + p / STEPS) * STRIP_WIDTH + c % STRIP_WIDTH;
            ((words[at] >> (8 * (p % STEPS))) as u8 as i8) as i64
        };
        let mut out = Vec::new();
        for x in x.chunks(k) {
            let mut codes = vec![0u32; groups];
            let quant = quantize_row(x, &mut codes, isa);
            for (c, &b) in bias.iter().enumerate().take(n) {
                let dot: i64 = (0..k)
                    .map(|p| (code(&codes, p) - quant.zero as i64) * weight(c, p))
                    .sum();
                let outliers: f64 = (0..quant.outliers)
                    .map(|o| {
                        let p = quant.channel[o] as usize;
                        quant.value[o] as f64 * layer.transposed[p * layer.scales.len() + c] as f64
                    })
                    .sum();
                out.push(
                    dot as f64 * quant.scale as f64 * layer.scales[c] as f64 + b as f64 + outliers,
                );
            }
        }
        out
    }

    #[test]
    fn integer_sums_are_exact_and_match_the_f64_reference_of_the_quantized_math() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for isa in [Isa::detect(), Isa::portable()] {
            for (rows, k, n) in [
                (1, 8, 5),
                (13, 40, 70),
                (61, 96, 130),
                (25, 385, 40),
                (7, 1536, 33),
            ] {
                let x = activations(rows, k, &mut rng);
                let w = random(n * k, 0.2, &mut rng);
                let b = random(n, 0.5, &mut rng);
                let layer = PackedLinear::new(&w, Some(&b), k, n, WeightFormat::Int8, isa);
                let int8 = layer.int8_weights().expect("int8");
                let want = reference(int8, &x, &b, isa);
                let mut out = vec![f32::NAN; rows * n];
                layer.forward(&x, &mut out, Epilogue::Bias);
                for (r, (got, want)) in out.chunks(n).zip(want.chunks(n)).enumerate() {
                    let mut codes = vec![0u32; k.div_ceil(STEPS)];
                    let step = quantize_row(&x[r * k..(r + 1) * k], &mut codes, isa).scale;
                    for (c, (got, want)) in got.iter().zip(want).enumerate() {
                        // One integer more or less moves the output by s_r·s_c; f32 rounding of
                        // the epilogue is far below a quarter of that.
                        let unit = step as f64 * int8.scales[c] as f64;
                        let tolerance = (2e-7 * want.abs()).max(1e-6).min(unit / 4.0);
                        assert!(
                            (*got as f64 - want).abs() <= tolerance.max(2e-7 * want.abs()),
                            "{isa:?} {rows}x{k}x{n} row {r} column {c}: {got} vs {want} (unit {unit})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn stays_close_to_f32_with_every_epilogue() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (rows, k, n) = (50, 384, 96);
        let x = activations(rows, k, &mut rng);
        let w = random(n * k, 0.1, &mut rng);
        let b = random(n, 0.5, &mut rng);
        let residual = random(rows * n, 1.0, &mut rng);
        let exact = PackedLinear::new(&w, Some(&b), k, n, WeightFormat::F32, Isa::detect());
        for isa in [Isa::detect(), Isa::portable()] {
            let int8 = PackedLinear::new(&w, Some(&b), k, n, WeightFormat::Int8, isa);
            for epilogue in [
                Epilogue::Bias,
                Epilogue::BiasGelu,
                Epilogue::BiasResidual(&residual),
            ] {
                let (mut want, mut got) = (vec![0.0; rows * n], vec![0.0; rows * n]);
                exact.forward(&x, &mut want, epilogue);
                int8.forward(&x, &mut got, epilogue);
                let mut worst = 0.0f32;
                for (got, want) in got.iter().zip(&want) {
                    worst = worst.max((got - want).abs());
                }
                // Outputs have an RMS of about 1.0: int8 steps of 3/255 on the inputs, of
                // max|w|/127 on the weights, over 384 products; GELU's tanh form adds ≤ 5e-4.
                assert!(worst < 0.03, "{isa:?} {epilogue:?}: max error {worst}");
            }
        }
    }

    #[test]
    fn rows_quantize_alike_on_both_versions_and_outliers_keep_their_value() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for k in [1, 3, 4, 15, 16, 17, 33, 384, 1536] {
            let x = activations(4, k, &mut rng);
            for row in x.chunks(k) {
                let groups = k.div_ceil(STEPS);
                let (mut fast, mut portable) = (vec![0u32; groups], vec![0u32; groups]);
                let a = quantize_row(row, &mut fast, Isa::detect());
                let b = quantize_row(row, &mut portable, Isa::portable());
                assert_eq!((a, &fast), (b, &portable), "k = {k}");
                for (p, &v) in row.iter().enumerate() {
                    let outlier = b.channel[..b.outliers].contains(&(p as u32));
                    let back = b.scale * (code(&portable, p) - b.zero as i64) as f32;
                    if outlier {
                        assert_eq!(back, 0.0);
                        assert!(v.abs() >= 20.0);
                    } else {
                        assert!((back - v).abs() <= b.scale * 0.5001, "{v} → {back}");
                    }
                }
            }
        }
        // More outliers than are kept: the largest stay outliers, the rest set the range.
        let mut row = vec![0.1f32; 4096];
        for (i, v) in row.iter_mut().step_by(100).enumerate() {
            *v = 10.0 + i as f32;
        }
        let mut codes = vec![0u32; 1024];
        for isa in [Isa::detect(), Isa::portable()] {
            let q = quantize_row(&row, &mut codes, isa);
            assert_eq!(q.outliers, INT8_MAX_OUTLIERS);
            // 41 values 10..=50 on 0.1s: RMS 3.2, so 13..=50 are beyond 4 RMS; the largest 32
            // (19..=50) are kept and 18 sets the range.
            assert_eq!((INT8_OUTLIER_RATIO, INT8_MAX_OUTLIERS), (4.0, 32));
            assert_eq!(q.value[0], 50.0);
            assert!(q.value[..q.outliers].iter().all(|&v| v >= 19.0));
            assert!((q.scale * 255.0 - 18.0).abs() < 1e-4, "{}", q.scale);
        }
    }

    #[test]
    fn a_zero_row_gives_zero_products() {
        let w = vec![0.5f32; 3 * 8];
        for isa in [Isa::detect(), Isa::portable()] {
            let layer =
                PackedLinear::new(&w, Some(&[1.0, 2.0, 3.0]), 8, 3, WeightFormat::Int8, isa);
            let mut out = vec![0.0; 6];
            layer.forward(&[0.0; 16], &mut out, Epilogue::Bias);
            assert_eq!(out, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        }
    }
}
