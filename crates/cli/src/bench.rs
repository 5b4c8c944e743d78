//! `bertscore bench`: throughput of the engine on a data set, with where the time went.
//!
//! Default data: bert_score's own benchmark set (`datasets/bert-score-example/hyps_long.txt` and
//! `refs_long.txt`, 3004 pairs). The model is loaded before the clock starts (bert_score's timing also
//! excludes loading); one untimed warm-up pass on the first batch's worth of pairs pages the weights in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use bertscore_engine::Timings;
use clap::Args;
use serde::Serialize;

use crate::exit::CliError;
use crate::model_args::{ModelArgs, classify_engine_error};
use crate::output::{emit, progress_bar};
use crate::text_input;

const DEFAULT_CANDS: &str = "datasets/bert-score-example/hyps_long.txt";
const DEFAULT_REFS: &str = "datasets/bert-score-example/refs_long.txt";

#[derive(Args)]
pub struct BenchArgs {
    /// Candidates, one per line [default: datasets/bert-score-example/hyps_long.txt]
    #[arg(
        short = 'c',
        long = "cands",
        value_name = "FILE",
        requires = "refs",
        conflicts_with = "input"
    )]
    pub cands: Option<PathBuf>,

    /// References, one per line, aligned with the candidates [default: datasets/bert-score-example/refs_long.txt]
    #[arg(short = 'r', long = "refs", value_name = "FILE", requires = "cands")]
    pub refs: Option<PathBuf>,

    /// JSONL pairs instead of --cands/--refs (as `score --input`)
    #[arg(long, value_name = "PAIRS.jsonl")]
    pub input: Option<PathBuf>,

    /// Score this many pairs, cycling through the data (e.g. 200000 to watch memory stay flat)
    #[arg(long, value_name = "N")]
    pub pairs: Option<usize>,

    #[command(flatten)]
    pub model: ModelArgs,

    /// Print the report as JSON
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,

    /// Print the report as a markdown table row (with header), for the README
    #[arg(long)]
    pub markdown: bool,

    /// Also score the data in exact f32 mode (untimed) and report how far this run's F1 is from it
    /// (for --dtype fast/f16/bf16)
    #[arg(long = "against-f32")]
    pub against_f32: bool,
}

/// What one benchmark run measured.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub num_layers: usize,
    pub dtype: String,
    pub device: String,
    /// The precision that ran (`--dtype fast` resolved: `bf16`, `f16` or `f32`).
    pub precision: String,
    /// The encoder implementation that ran: `cpu-kernels` (the fast path) or `candle`.
    pub encoder: String,
    /// The kernel that ran, e.g. `bf16 (AVX512-BF16 VDPBF16PS, f32 sums)`.
    pub kernel: String,
    /// Why that kernel: the CPU's instruction sets, the model or the request.
    pub kernel_reason: String,
    /// Set when the run fell back to a slower path than the dtype asked for.
    pub fallback: Option<String>,
    /// The CPU (CPUID brand string, family and model).
    pub cpu: Option<String>,
    pub threads: usize,
    pub batch_size: usize,
    pub pairs: usize,
    pub seconds: f64,
    pub pairs_per_second: f64,
    /// Non-padding tokens embedded per second.
    pub tokens_per_second: f64,
    pub tokens: usize,
    /// Share of the encoder's positions that were padding.
    pub padding_overhead: f64,
    pub tokenize_share: f64,
    pub encode_share: f64,
    pub matching_share: f64,
    pub mean_f1: f64,
    /// Peak resident memory of the process (VmHWM), MiB (measured before the --against-f32 pass).
    pub peak_rss_mib: Option<f64>,
    /// With --against-f32: mean and max |F1 − F1 in f32| over the pairs.
    pub f1_deviation_from_f32: Option<Deviation>,
}

#[derive(Debug, Serialize)]
pub struct Deviation {
    pub mean_abs: f64,
    pub max_abs: f64,
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    let (mut cands, mut refs) = read_data(&args)?;
    if let Some(n) = args.pairs {
        if n == 0 {
            return Err(CliError::bad_input(anyhow!("--pairs must be at least 1")));
        }
        let original = cands.len();
        cands = (0..n).map(|i| cands[i % original].clone()).collect();
        refs = (0..n).map(|i| refs[i % original].clone()).collect();
    }
    let scorer = args.model.load_scorer()?;

    let warm = cands.len().min(args.model.batch_size);
    scorer
        .score(&cands[..warm], &refs[..warm])
        .map_err(classify_engine_error)?;

    let bar = progress_bar("benchmark");
    let started = Instant::now();
    let report = scorer
        .score_with_progress(&cands, &refs, &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .map_err(classify_engine_error)?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let t: Timings = report.timings;
    let staged = (t.tokenize + t.encode + t.matching)
        .as_secs_f64()
        .max(f64::EPSILON);
    let mut result = BenchReport {
        model: scorer.model_name().to_string(),
        num_layers: scorer.num_layers(),
        dtype: args.model.dtype.to_string(),
        device: args.model.device.to_string(),
        precision: scorer.kernel().precision.to_string(),
        encoder: scorer.encoder_name().to_string(),
        kernel: scorer.kernel().kernel(),
        kernel_reason: scorer.kernel().reason.clone(),
        fallback: scorer.kernel().fallback.clone(),
        cpu: bertscore_engine::precision::cpu_model(),
        threads: args
            .model
            .threads
            .unwrap_or_else(rayon::current_num_threads),
        batch_size: args.model.batch_size,
        pairs: cands.len(),
        seconds,
        pairs_per_second: cands.len() as f64 / seconds,
        tokens_per_second: t.tokens as f64 / seconds,
        tokens: t.tokens,
        padding_overhead: 1.0 - t.tokens as f64 / t.padded_tokens.max(1) as f64,
        tokenize_share: t.tokenize.as_secs_f64() / staged,
        encode_share: t.encode.as_secs_f64() / staged,
        matching_share: t.matching.as_secs_f64() / staged,
        mean_f1: report.scores.iter().map(|s| s.f1).sum::<f64>()
            / report.scores.len().max(1) as f64,
        peak_rss_mib: peak_rss_mib(),
        f1_deviation_from_f32: None,
    };
    if args.against_f32 {
        let mut exact_args = args.model.clone();
        exact_args.dtype = bertscore_engine::Precision::F32;
        let exact = exact_args
            .load_scorer()?
            .score(&cands, &refs)
            .map_err(classify_engine_error)?;
        let deltas: Vec<f64> = exact
            .scores
            .iter()
            .zip(&report.scores)
            .map(|(e, s)| (e.f1 - s.f1).abs())
            .collect();
        result.f1_deviation_from_f32 = Some(Deviation {
            mean_abs: deltas.iter().sum::<f64>() / deltas.len().max(1) as f64,
            max_abs: deltas.iter().copied().fold(0.0, f64::max),
        });
    }
    let rendered = if args.json {
        serde_json::to_string_pretty(&result).map_err(CliError::runtime)? + "\n"
    } else if args.markdown {
        markdown(&result)
    } else {
        text(&result)
    };
    emit(None, &rendered)
}

fn read_data(args: &BenchArgs) -> Result<(Vec<String>, Vec<Vec<String>>), CliError> {
    if let Some(path) = &args.input {
        let records = text_input::read_pairs_jsonl(path, args.model.input.limit())?;
        return Ok(records
            .into_iter()
            .map(|r| (r.candidate, r.references))
            .unzip());
    }
    let (cands, refs) = match (&args.cands, &args.refs) {
        (Some(c), Some(r)) => (c.clone(), r.clone()),
        _ => (PathBuf::from(DEFAULT_CANDS), PathBuf::from(DEFAULT_REFS)),
    };
    for path in [&cands, &refs] {
        if !path.is_file() {
            return Err(CliError::bad_input(anyhow!(
                "{}: not found (run from the repository root for the default benchmark set, or give --cands/--refs)",
                path.display()
            )));
        }
    }
    let (cands, refs) = text_input::read_cands_refs(
        &path_str(&cands),
        &[path_str(&refs)],
        args.model.input.limit(),
    )?;
    Ok((cands, refs))
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Peak resident set size from /proc (Linux); `None` elsewhere.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn peak_rss_text(r: &BenchReport) -> String {
    r.peak_rss_mib
        .map_or("n/a".to_string(), |m| format!("{m:.0} MiB"))
}

/// The dtype as asked for, and what it resolved to when that differs (`fast (bf16)`).
fn dtype_text(r: &BenchReport) -> String {
    if r.dtype == r.precision {
        r.dtype.clone()
    } else {
        format!("{} ({})", r.dtype, r.precision)
    }
}

fn text(r: &BenchReport) -> String {
    format!(
        "model      {} (layer {}), {} on {} ({}), {} threads, batch {}\n\
         kernel     {} on {}: {}\n{}\
         pairs      {} in {:.2} s: {:.1} pairs/s, {:.0} tokens/s ({} tokens)\n\
         time       tokenize {:.1}%, encode {:.1}%, matching {:.1}%\n\
         padding    {:.1}% of encoder positions\n\
         peak RSS   {}\n\
         mean F1    {:.6}\n{}",
        r.model,
        r.num_layers,
        dtype_text(r),
        r.device,
        r.encoder,
        r.threads,
        r.batch_size,
        r.kernel,
        r.cpu.as_deref().unwrap_or("this CPU"),
        r.kernel_reason,
        r.fallback
            .as_ref()
            .map_or(String::new(), |f| format!("fallback   {f}\n")),
        r.pairs,
        r.seconds,
        r.pairs_per_second,
        r.tokens_per_second,
        r.tokens,
        100.0 * r.tokenize_share,
        100.0 * r.encode_share,
        100.0 * r.matching_share,
        100.0 * r.padding_overhead,
        peak_rss_text(r),
        r.mean_f1,
        r.f1_deviation_from_f32
            .as_ref()
            .map_or(String::new(), |d| format!(
                "vs f32     mean |ΔF1| {:.2e}, max {:.2e}\n",
                d.mean_abs, d.max_abs
            ))
    )
}

fn markdown(r: &BenchReport) -> String {
    format!(
        "| model | dtype | device | kernel | threads | pairs | s | pairs/s | tokens/s | tokenize | encode | matching | padding | peak RSS | mean \\|ΔF1\\| vs f32 |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {} L{} | {} | {} | {}: {} | {} | {} | {:.2} | {:.1} | {:.0} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {} | {} |\n",
        r.model,
        r.num_layers,
        dtype_text(r),
        r.device,
        r.encoder,
        r.kernel,
        r.threads,
        r.pairs,
        r.seconds,
        r.pairs_per_second,
        r.tokens_per_second,
        100.0 * r.tokenize_share,
        100.0 * r.encode_share,
        100.0 * r.matching_share,
        100.0 * r.padding_overhead,
        peak_rss_text(r),
        r.f1_deviation_from_f32
            .as_ref()
            .map_or("–".to_string(), |d| format!(
                "{:.1e} (max {:.1e})",
                d.mean_abs, d.max_abs
            ))
    )
}
