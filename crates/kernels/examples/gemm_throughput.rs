//! GFLOP/s of `PackedLinear::forward` on the linear layers of a BERT-style layer for a batch of
//! token rows: all-MiniLM-L6-v2's by default (hidden 384, intermediate 1536), roberta-large's with
//! `1600 2 1024 4096`.
//!
//! `cargo run -p bertscore-kernels --example gemm_throughput -- [ROWS] [THREADS] [HIDDEN] [INTERMEDIATE]`
//! (the kernel crate is optimised in the dev profile too)

use std::time::Instant;

use bertscore_kernels::{Epilogue, Isa, PackedLinear, WeightFormat};

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map_or(1600, |a| a.parse().expect("ROWS"));
    let threads: usize = args.next().map_or(2, |a| a.parse().expect("THREADS"));
    let hidden: usize = args.next().map_or(384, |a| a.parse().expect("HIDDEN"));
    let intermediate: usize = args
        .next()
        .map_or(4 * hidden, |a| a.parse().expect("INTERMEDIATE"));
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("pool");
    let isa = Isa::detect();
    println!(
        "{rows} rows, {threads} threads, {}: {}",
        bertscore_kernels::cpu_model().unwrap_or_default(),
        isa.describe()
    );
    for format in [
        WeightFormat::F32,
        WeightFormat::Bf16,
        WeightFormat::F16,
        WeightFormat::Int8,
    ] {
        if !isa.runs_natively(format) {
            println!("{format:?}: no native kernel on this CPU (skipped)");
            continue;
        }
        let (h, i) = (hidden, intermediate);
        for (name, k, n, epilogue) in [
            (format!("qkv {h}→{}", 3 * h), h, 3 * h, 0),
            (format!("out {h}→{h} +res"), h, h, 2),
            (format!("ff1 {h}→{i} gelu"), h, i, 1),
            (format!("ff2 {i}→{h} +res"), i, h, 2),
        ] {
            let w: Vec<f32> = (0..k * n)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-4)
                .collect();
            let b = vec![0.01; n];
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 104729 % 1000) as f32 - 500.0) * 2e-3)
                .collect();
            let residual = vec![0.5; rows * n];
            let layer = PackedLinear::new(&w, Some(&b), k, n, format, isa);
            let mut out = vec![0.0; rows * n];
            let epilogue = match epilogue {
                0 => Epilogue::Bias,
                1 => Epilogue::BiasGelu,
                _ => Epilogue::BiasResidual(&residual),
            };
            layer.forward(&x, &mut out, epilogue);
            let reps = 100;
            let (start, cpu_start) = (Instant::now(), cpu_seconds());
            for _ in 0..reps {
                layer.forward(&x, &mut out, epilogue);
            }
            let seconds = start.elapsed().as_secs_f64() / reps as f64;
            let cpu = cpu_seconds()
                .zip(cpu_start)
                .map(|(end, start)| (end - start) / reps as f64);
            let flops = 2.0 * rows as f64 * k as f64 * n as f64;
            // Per CPU-second of this process, times the threads: what they would do on idle
            // cores (a little low: rayon's waiting threads spin).
            let per_core = cpu.map_or(String::new(), |cpu| {
                format!(
                    "  ({:6.1} GFLOP/s by CPU time, {threads} idle cores)",
                    threads as f64 * flops / cpu / 1e9
                )
            });
            println!(
                "{format:?} {name:<20} {:7.1} GFLOP/s{per_core}",
                flops / seconds / 1e9
            );
        }
    }
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, clock ticks of 10 ms).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
