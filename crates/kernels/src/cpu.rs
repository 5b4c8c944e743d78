//! Which vector instructions the kernels may use: a capability that only detection creates.
//!
//! An [`Isa`] value is proof that the CPU running this process has the instruction sets it
//! claims: its fields are private, [`Isa::detect`] is the only safe way to get one that claims
//! anything, and it is decided once per process. The kernels execute an instruction only when
//! the `Isa` they are given claims it, so safe code cannot make them run one the CPU lacks.
//! Claims can be dropped ([`Isa::portable`], [`Isa::without_reduced_precision`]: the tests use
//! them to run the portable versions), never added.

use std::sync::OnceLock;

use crate::WeightFormat;

/// The instruction sets the kernels may use on this CPU (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa {
    avx512f: bool,
    avx512bf16: bool,
    avx512fp16: bool,
    avx512vnni: bool,
}

impl Isa {
    /// What this CPU offers, detected on the first call and the same for the whole process.
    pub fn detect() -> Self {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                let avx512f = has!("avx512f");
                let avx512bw = has!("avx512bw");
                Self {
                    avx512f,
                    avx512bf16: avx512f && avx512bw && has!("avx512bf16"),
                    avx512fp16: avx512f && avx512bw && has!("avx512fp16"),
                    avx512vnni: avx512f && avx512bw && has!("avx512vnni"),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                Self::portable()
            }
        })
    }

    /// Claims nothing: every kernel runs its portable version.
    pub fn portable() -> Self {
        Self {
            avx512f: false,
            avx512bf16: false,
            avx512fp16: false,
            avx512vnni: false,
        }
    }

    /// The same claims minus the reduced-precision instructions (AVX512-BF16, AVX512-FP16,
    /// AVX512-VNNI).
    pub fn without_reduced_precision(self) -> Self {
        Self {
            avx512bf16: false,
            avx512fp16: false,
            avx512vnni: false,
            ..self
        }
    }

    /// Claims exactly these instruction sets.
    ///
    /// # Safety
    /// The CPU must have every set claimed (AVX512-BF16, AVX512-FP16 and AVX512-VNNI also need
    /// AVX-512 F and BW): the kernels execute their instructions on the strength of it.
    pub unsafe fn new_unchecked(
        avx512f: bool,
        avx512bf16: bool,
        avx512fp16: bool,
        avx512vnni: bool,
    ) -> Self {
        Self {
            avx512f,
            avx512bf16,
            avx512fp16,
            avx512vnni,
        }
    }

    /// AVX-512 F (with BW for the reduced-precision sets): the f32 kernels.
    pub fn avx512f(self) -> bool {
        self.avx512f
    }

    /// AVX512-BF16: bf16 dot products with f32 sums (VDPBF16PS).
    pub fn avx512bf16(self) -> bool {
        self.avx512bf16
    }

    /// AVX512-FP16: f16 arithmetic (VFMADD231PH).
    pub fn avx512fp16(self) -> bool {
        self.avx512fp16
    }

    /// AVX512-VNNI (with F and BW): int8 dot products with int32 sums (VPDPBUSD).
    pub fn avx512vnni(self) -> bool {
        self.avx512vnni
    }

    /// Whether [`crate::PackedLinear`] runs `format` on vector instructions here (otherwise it
    /// computes the same function in portable code, many times slower).
    pub fn runs_natively(self, format: WeightFormat) -> bool {
        match format {
            WeightFormat::F32 => self.avx512f,
            WeightFormat::Bf16 => self.avx512bf16,
            WeightFormat::F16 => self.avx512fp16,
            WeightFormat::Int8 => self.avx512vnni,
        }
    }

    /// The fastest reduced precision this CPU runs natively, and why: f16 where AVX512-FP16
    /// exists (Intel Sapphire Rapids and later: f16 FMAs at about twice the f32 rate, while their
    /// bf16 dot products run at half the f32 rate), else bf16 where AVX512-BF16 exists (AMD Zen
    /// 4/5: dot products at two to three times the f32 rate), else none.
    pub fn fastest_reduced_precision(self) -> Option<(WeightFormat, &'static str)> {
        if self.avx512fp16 {
            Some((
                WeightFormat::F16,
                "AVX512-FP16 present: f16 FMAs run at about twice the f32 rate (bf16 dot products \
                 at half of it on those CPUs)",
            ))
        } else if self.avx512bf16 {
            Some((
                WeightFormat::Bf16,
                "AVX512-BF16 present, no AVX512-FP16: bf16 dot products (VDPBF16PS) with f32 sums \
                 run at two to three times the f32 rate",
            ))
        } else {
            None
        }
    }

    /// The claimed sets in words, e.g. `AVX-512 F, AVX512-BF16`, or `no AVX-512`.
    pub fn describe(self) -> String {
        let names: Vec<&str> = [
            (self.avx512f, "AVX-512 F"),
            (self.avx512bf16, "AVX512-BF16"),
            (self.avx512fp16, "AVX512-FP16"),
            (self.avx512vnni, "AVX512-VNNI"),
        ]
        .into_iter()
        .filter_map(|(has, name)| has.then_some(name))
        .collect();
        if names.is_empty() {
            "no AVX-512".to_string()
        } else {
            names.join(", ")
        }
    }
}

/// The CPU's brand string and family/model numbers from CPUID, e.g.
/// `AMD EPYC 9B45 (family 26, model 2)`, for benchmark reports; `None` off x86-64.
pub fn cpu_model() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        let max_extended = __cpuid(0x8000_0000).eax;
        let brand = if max_extended >= 0x8000_0004 {
            let mut bytes = Vec::with_capacity(48);
            for leaf in 0x8000_0002u32..=0x8000_0004 {
                let r = __cpuid(leaf);
                for word in [r.eax, r.ebx, r.ecx, r.edx] {
                    bytes.extend_from_slice(&word.to_le_bytes());
                }
            }
            String::from_utf8_lossy(&bytes)
                .trim_matches(char::from(0))
                .trim()
                .to_string()
        } else {
            "unknown x86-64".to_string()
        };
        let eax = __cpuid(1).eax;
        let base_family = (eax >> 8) & 0xf;
        let (family, model) = if base_family == 0xf {
            (
                base_family + ((eax >> 20) & 0xff),
                ((eax >> 4) & 0xf) | (((eax >> 16) & 0xf) << 4),
            )
        } else if base_family == 6 {
            (6, ((eax >> 4) & 0xf) | (((eax >> 16) & 0xf) << 4))
        } else {
            (base_family, (eax >> 4) & 0xf)
        };
        Some(format!("{brand} (family {family}, model {model})"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_is_decided_once_and_claims_only_what_the_cpu_has() {
        let isa = Isa::detect();
        assert_eq!(isa, Isa::detect());
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(
                isa.avx512f(),
                std::arch::is_x86_feature_detected!("avx512f")
            );
            if isa.avx512bf16() {
                assert!(std::arch::is_x86_feature_detected!("avx512bf16"));
            }
            if isa.avx512fp16() {
                assert!(std::arch::is_x86_feature_detected!("avx512fp16"));
            }
            if isa.avx512vnni() {
                assert!(std::arch::is_x86_feature_detected!("avx512vnni"));
            }
        }
        assert!(!isa.without_reduced_precision().avx512bf16());
        assert!(!isa.without_reduced_precision().avx512fp16());
        assert!(!isa.without_reduced_precision().avx512vnni());
        assert_eq!(Isa::portable().describe(), "no AVX-512");
        assert!(Isa::portable().fastest_reduced_precision().is_none());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn cpu_model_names_family_and_model() {
        let model = cpu_model().expect("x86-64");
        assert!(model.contains("(family "), "{model}");
    }
}
