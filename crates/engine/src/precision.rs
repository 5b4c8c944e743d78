//! Which number format the encoder computes in, and which kernels run it.
//!
//! The choice is made once per [`Scorer`](crate::Scorer) from what was asked for, the device, the
//! instruction sets detected on this CPU ([`bertscore_kernels::Isa`], decided once per process)
//! and whether the model has a CPU fast path. A request that cannot run natively either falls
//! back to a slower path and says so ([`KernelChoice::fallback`]: the command-line tool prints it
//! on stderr, once) or is refused ([`EngineError::UnsupportedPrecision`]); it never runs a slow
//! path without a word.

pub use bertscore_kernels::cpu_model;
use bertscore_kernels::{Isa, WeightFormat};
use candle_core::DType;

use crate::EngineError;

/// Numeric precision of the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Exact mode: matches bert_score to 1e-4.
    #[default]
    F32,
    /// bf16 weights and inputs to the linear layers, sums in f32: on CPU with AVX512-BF16 (AMD
    /// Zen 4/5 and recent Intel Xeons; refused on other CPUs), candle's bf16 on CUDA.
    Bf16,
    /// f16 weights and inputs to the linear layers: on CPU with AVX512-FP16 (Intel Sapphire
    /// Rapids and later; elsewhere it falls back to candle's f16 and says so), candle's f16 on CUDA.
    F16,
    /// The fastest reduced precision the hardware runs natively: f16 on AVX512-FP16, else bf16
    /// on AVX512-BF16, else f32 (and says so); bf16 on CUDA.
    ///
    /// The rule, per CPU: the fastest dtype whose mean |ΔF1| against f32 on bert_score's
    /// benchmark set (3004 pairs, all-MiniLM-L6-v2) is within 1e-3 with a 2× margin (≤ 5e-4), so
    /// that another text set stays within 1e-3. Measured (docs/performance.md, "int8"): on the
    /// Intel Xeon (AVX512-FP16 and VNNI) int8 takes 0.82× f16's CPU time but is 9.4e-4 from f32
    /// (f16: 9.8e-5), so `fast` stays f16 there; bf16 on AMD Zen 4/5, where int8 is not yet
    /// measured.
    Fast,
    /// int8 linear layers on the CPU fast path: weights per output channel, each token row with
    /// its own scale (so a score never depends on its batch-mates), int32 sums (VPDPBUSD on
    /// AVX512-VNNI; elsewhere the same math in portable code, and says so); refused on CUDA and
    /// for models without the fast path.
    Int8,
}

/// What runs the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// The CPU fast path ([`crate::models::packed`]) with these linear-layer weights.
    Packed(WeightFormat),
    /// candle (padded batches) in this dtype.
    Candle(DType),
}

/// Which implementation and number format run the encoder, and why ([`crate::Scorer::kernel`]).
#[derive(Debug, Clone, PartialEq)]
pub struct KernelChoice {
    pub(crate) run: Run,
    /// The precision that actually runs (`Fast` resolved).
    pub precision: Precision,
    /// Why this one: the CPU's instruction sets, the model or the request.
    pub reason: String,
    /// Set when the run is slower than what was asked for would be on a CPU that has the
    /// instructions: what happens instead and how much slower. Say it to the user.
    pub fallback: Option<String>,
}

impl KernelChoice {
    /// The implementation: `cpu-kernels` (the fast path) or `candle`.
    pub fn encoder(&self) -> &'static str {
        match self.run {
            Run::Packed(_) => "cpu-kernels",
            Run::Candle(_) => "candle",
        }
    }

    /// The kernel in a few words, e.g. `bf16 (VDPBF16PS, f32 sums)`.
    pub fn kernel(&self) -> String {
        match self.run {
            Run::Packed(WeightFormat::F32) => "f32 (AVX-512 FMA)".into(),
            Run::Packed(WeightFormat::Bf16) => "bf16 (AVX512-BF16 VDPBF16PS, f32 sums)".into(),
            Run::Packed(WeightFormat::F16) => "f16 (AVX512-FP16 FMA)".into(),
            Run::Packed(WeightFormat::Int8) if self.fallback.is_some() => {
                "int8 (portable code: no AVX512-VNNI)".into()
            }
            Run::Packed(WeightFormat::Int8) => {
                "int8 (AVX512-VNNI VPDPBUSD, int32 sums, per-row scales)".into()
            }
            Run::Candle(dtype) => format!("{dtype:?} (candle, padded batches)").to_lowercase(),
        }
    }
}

/// Where the encoder runs, as far as the choice is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Cpu,
    Cuda,
}

/// How much slower the fallbacks are, measured (docs/performance.md).
const CANDLE_F32_SLOWDOWN: &str = "about 4.5x slower than the AVX-512 kernels (50 vs 230 pairs/s \
                                   on MiniLM, Xeon Emerald Rapids, 2 threads)";
const CANDLE_F16_SLOWDOWN: &str = "about 4.5x slower than f32 on the AVX-512 kernels (37 vs 167 \
                                   pairs/s on MiniLM, AMD Zen 4, 2 threads)";

/// Whether the CPU fast path may run the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastPath {
    /// A post-LayerNorm encoder with exact GELU (BERT, RoBERTa, DistilBERT, MiniLM), backend auto.
    Available,
    /// `--backend candle` was asked for.
    NotAsked,
    /// The model has none (DeBERTa, or another activation).
    NotForThisModel,
}

/// The kernels a CPU scorer chooses on this machine for `precision` and a model with the CPU fast path (BERT,
/// RoBERTa, DistilBERT, MiniLM: the default model); what `--version` reports.
pub fn cpu_choice(precision: Precision) -> Result<KernelChoice, EngineError> {
    choose(precision, Target::Cpu, FastPath::Available, Isa::detect())
}

/// Chooses the kernels for `precision`.
pub(crate) fn choose(
    precision: Precision,
    target: Target,
    path: FastPath,
    isa: Isa,
) -> Result<KernelChoice, EngineError> {
    let no_fast_path = match path {
        FastPath::Available => "",
        FastPath::NotAsked => "--backend candle was asked for",
        FastPath::NotForThisModel => {
            "the model has no CPU fast path (DeBERTa, or an activation other than exact GELU)"
        }
    };
    let fast_path = path == FastPath::Available;
    let choice = |run, precision, reason: String, fallback: Option<String>| KernelChoice {
        run,
        precision,
        reason,
        fallback,
    };
    if target == Target::Cuda {
        let (dtype, resolved, reason) = match precision {
            Precision::F32 => (DType::F32, Precision::F32, "exact mode"),
            Precision::F16 => (DType::F16, Precision::F16, "asked for"),
            Precision::Bf16 => (DType::BF16, Precision::Bf16, "asked for"),
            Precision::Fast => (
                DType::BF16,
                Precision::Bf16,
                "fastest on CUDA: tensor cores, and bf16 keeps f32's range",
            ),
            Precision::Int8 => {
                return Err(EngineError::UnsupportedPrecision {
                    precision: "int8".into(),
                    device: "CUDA".into(),
                    hint: "int8 runs on the CPU kernels only; use --dtype fast (bf16) or bf16 on \
                           CUDA"
                        .into(),
                });
            }
        };
        return Ok(choice(Run::Candle(dtype), resolved, reason.into(), None));
    }
    let cpu = isa.describe();
    match precision {
        Precision::F32 if fast_path && isa.avx512f() => Ok(choice(
            Run::Packed(WeightFormat::F32),
            Precision::F32,
            format!("exact mode; this CPU has {cpu}"),
            None,
        )),
        Precision::F32 if fast_path => Ok(choice(
            Run::Candle(DType::F32),
            Precision::F32,
            format!("this CPU has no AVX-512 ({cpu})"),
            Some(format!(
                "this CPU has no AVX-512: f32 runs on candle's padded path, {CANDLE_F32_SLOWDOWN}"
            )),
        )),
        Precision::F32 => Ok(choice(
            Run::Candle(DType::F32),
            Precision::F32,
            format!("exact mode; {no_fast_path}"),
            None,
        )),
        Precision::Fast => match isa.fastest_reduced_precision() {
            Some((format, why)) if fast_path => Ok(choice(
                Run::Packed(format),
                match format {
                    WeightFormat::F16 => Precision::F16,
                    WeightFormat::Bf16 => Precision::Bf16,
                    WeightFormat::F32 => Precision::F32,
                    WeightFormat::Int8 => Precision::Int8,
                },
                why.into(),
                None,
            )),
            Some(_) => Ok(choice(
                Run::Candle(DType::F32),
                Precision::F32,
                format!(
                    "{no_fast_path}; candle's reduced precisions are slower than its f32 on CPU"
                ),
                None,
            )),
            None => {
                let mut exact = choose(Precision::F32, target, path, isa)?;
                let note = format!(
                    "--dtype fast: this CPU has no native reduced precision (no AVX512-FP16 or \
                     AVX512-BF16; it has {cpu}): running f32"
                );
                exact.fallback = Some(match exact.fallback {
                    Some(more) => format!("{note}; {more}"),
                    None => note,
                });
                exact.reason = format!("no AVX512-FP16 or AVX512-BF16 ({cpu})");
                Ok(exact)
            }
        },
        Precision::Int8 if fast_path && isa.avx512vnni() => Ok(choice(
            Run::Packed(WeightFormat::Int8),
            Precision::Int8,
            format!("asked for; this CPU has {cpu}"),
            None,
        )),
        Precision::Int8 if fast_path => Ok(choice(
            Run::Packed(WeightFormat::Int8),
            Precision::Int8,
            format!("asked for; this CPU has no AVX512-VNNI ({cpu})"),
            Some(format!(
                "--dtype int8: this CPU has no AVX512-VNNI ({cpu}), so the int8 products run in \
                 portable code (the same scores, many times slower than f32); use --dtype fast or \
                 f32"
            )),
        )),
        Precision::Int8 => Err(EngineError::UnsupportedPrecision {
            precision: "int8".into(),
            device: "CPU".into(),
            hint: format!(
                "int8 runs on the CPU kernels only and {no_fast_path}; use f32 or --dtype fast"
            ),
        }),
        Precision::Bf16 if fast_path && isa.avx512bf16() => Ok(choice(
            Run::Packed(WeightFormat::Bf16),
            Precision::Bf16,
            format!("asked for; this CPU has {cpu}"),
            None,
        )),
        Precision::Bf16 => Err(EngineError::UnsupportedPrecision {
            precision: "bf16".into(),
            device: "CPU".into(),
            hint: if fast_path {
                format!(
                    "bf16 needs AVX512-BF16 on CPU and this one has {cpu}, and candle has no bf16 \
                     CPU matrix product; use --dtype fast (the fastest precision this CPU runs \
                     natively) or f32"
                )
            } else {
                format!(
                    "{no_fast_path}, and candle has no bf16 CPU matrix product; use f32 (or bf16 \
                     on CUDA)"
                )
            },
        }),
        Precision::F16 if fast_path && isa.avx512fp16() => Ok(choice(
            Run::Packed(WeightFormat::F16),
            Precision::F16,
            format!("asked for; this CPU has {cpu}"),
            None,
        )),
        Precision::F16 => {
            let why = if fast_path {
                format!("this CPU has no AVX512-FP16 ({cpu})")
            } else {
                no_fast_path.to_string()
            };
            let instead = if fast_path && isa.avx512bf16() {
                "; --dtype fast runs bf16 natively here"
            } else {
                "; f32 is faster"
            };
            Ok(choice(
                Run::Candle(DType::F16),
                Precision::F16,
                why.clone(),
                Some(format!(
                    "--dtype f16: {why}, so f16 falls back to candle's f16 (padded batches, no \
                     native f16 arithmetic), {CANDLE_F16_SLOWDOWN}{instead}"
                )),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every CPU the project meets, claimed without detection: the choice is pure logic, and
    /// nothing here executes an instruction.
    fn cpus() -> [(&'static str, Isa); 4] {
        // SAFETY: these values only feed `choose`, which runs no kernel.
        unsafe {
            [
                ("zen", Isa::new_unchecked(true, true, false, true)),
                ("xeon", Isa::new_unchecked(true, true, true, true)),
                ("avx512", Isa::new_unchecked(true, false, false, false)),
                ("none", Isa::portable()),
            ]
        }
    }

    #[test]
    fn fast_picks_bf16_on_zen_f16_on_xeon_and_says_when_it_has_neither() {
        for (name, isa) in cpus() {
            let c = choose(Precision::Fast, Target::Cpu, FastPath::Available, isa).unwrap();
            match name {
                "zen" => assert_eq!(c.run, Run::Packed(WeightFormat::Bf16)),
                "xeon" => assert_eq!(c.run, Run::Packed(WeightFormat::F16)),
                "avx512" => {
                    assert_eq!(c.run, Run::Packed(WeightFormat::F32));
                    assert!(c.fallback.unwrap().contains("no native reduced precision"));
                }
                _ => {
                    assert_eq!(c.run, Run::Candle(DType::F32));
                    let note = c.fallback.unwrap();
                    assert!(note.contains("no AVX-512"), "{note}");
                }
            }
        }
    }

    #[test]
    fn a_precision_without_native_kernels_falls_back_loudly_or_is_refused() {
        for (name, isa) in cpus() {
            let bf16 = choose(Precision::Bf16, Target::Cpu, FastPath::Available, isa);
            let f16 = choose(Precision::F16, Target::Cpu, FastPath::Available, isa).unwrap();
            let f32 = choose(Precision::F32, Target::Cpu, FastPath::Available, isa).unwrap();
            match name {
                "zen" | "xeon" => assert_eq!(bf16.unwrap().run, Run::Packed(WeightFormat::Bf16)),
                _ => assert!(matches!(
                    bf16,
                    Err(EngineError::UnsupportedPrecision { .. })
                )),
            }
            if name == "xeon" {
                assert_eq!(f16.run, Run::Packed(WeightFormat::F16));
                assert!(f16.fallback.is_none());
            } else {
                assert_eq!(f16.run, Run::Candle(DType::F16));
                assert!(f16.fallback.unwrap().contains("slower"));
            }
            assert_eq!(f32.fallback.is_some(), name == "none");
        }
    }

    #[test]
    fn int8_runs_on_vnni_says_when_it_runs_portable_code_and_is_refused_off_the_kernels() {
        for (name, isa) in cpus() {
            let c = choose(Precision::Int8, Target::Cpu, FastPath::Available, isa).unwrap();
            assert_eq!(
                (c.run, c.precision),
                (Run::Packed(WeightFormat::Int8), Precision::Int8)
            );
            match name {
                "zen" | "xeon" => {
                    assert!(c.fallback.is_none());
                    assert!(c.kernel().contains("VPDPBUSD"));
                }
                _ => {
                    assert!(c.fallback.as_ref().unwrap().contains("no AVX512-VNNI"));
                    assert!(c.kernel().contains("portable"));
                }
            }
        }
        let (_, zen) = cpus()[0];
        for path in [FastPath::NotAsked, FastPath::NotForThisModel] {
            let refused = choose(Precision::Int8, Target::Cpu, path, zen);
            assert!(matches!(
                refused,
                Err(EngineError::UnsupportedPrecision { .. })
            ));
        }
        let refused = choose(Precision::Int8, Target::Cuda, FastPath::Available, zen);
        assert!(matches!(
            refused,
            Err(EngineError::UnsupportedPrecision { .. })
        ));
    }

    #[test]
    fn models_without_a_fast_path_run_candle_and_cuda_runs_candle() {
        let (_, zen) = cpus()[0];
        let c = choose(Precision::Fast, Target::Cpu, FastPath::NotForThisModel, zen).unwrap();
        assert_eq!(c.run, Run::Candle(DType::F32));
        assert!(choose(Precision::Bf16, Target::Cpu, FastPath::NotAsked, zen).is_err());
        let c = choose(Precision::Fast, Target::Cuda, FastPath::Available, zen).unwrap();
        assert_eq!(
            (c.run, c.precision),
            (Run::Candle(DType::BF16), Precision::Bf16)
        );
    }
}
