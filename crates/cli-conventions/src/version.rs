//! `--version`: the workspace version (the one the crates and the wheels carry), the git commit built from
//! (build.rs), and the kernels the engine chooses on this machine's CPU (decided by the engine, as for a real run:
//! nothing is detected here).

use std::sync::OnceLock;

use bertscore_engine::precision::{self, Precision};

/// The git commit the binaries were built from, or `BERTSCORE_COMMIT`, or `unknown` (see build.rs).
pub const COMMIT: &str = env!("BERTSCORE_BUILD_COMMIT");

/// The workspace version, shared by every crate and wheel.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `VERSION`, then a `commit` line and a `kernel` line for each precision a user is likely to pick, e.g.
/// `kernel f32 (AVX-512 FMA), cpu-kernels: exact mode; this CPU has AVX-512 F, AVX512-BF16`. Computed once.
pub fn long_version() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = format!("{VERSION}\ncommit {COMMIT}");
        for (flag, precision) in [("", Precision::F32), (" (--dtype fast)", Precision::Fast)] {
            let kernel = match precision::cpu_choice(precision) {
                Ok(choice) => format!(
                    "{}, {}: {}",
                    choice.kernel(),
                    choice.encoder(),
                    choice.reason
                ),
                Err(error) => format!("none: {error}"),
            };
            text.push_str(&format!("\nkernel{flag} {kernel}"));
        }
        if let Some(cpu) = precision::cpu_model() {
            text.push_str(&format!("\ncpu {cpu}"));
        }
        text
    })
}
