//! `bertscore-local-stack`: moto (S3, SESv2, IAM with the example configs' roles) and the Bedrock emulator for a local demo of the
//! pipeline. Prints the `export` lines that point the AWS SDK at them, then runs until Ctrl-C; or,
//! given a command after `--`, runs it with those variables set and stops when it ends (the demo
//! in one command).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use bedrock_emulator::{Emulator, EmulatorConfig, Quality};
use bertscore_local_stack::{EXAMPLE_ROLES, LocalStack, Moto, allow_legacy_sample, point_at_moto};
use clap::Parser;

/// Runs moto and the Bedrock emulator on loopback ports for a local pipeline demo.
/// The emulator's answer key defaults to the dialogsum seed data, so the customized model
/// measurably beats its base model.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// moto port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    moto_port: u16,
    /// Bedrock emulator port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    bedrock_port: u16,
    /// Seconds a customization job stays InProgress.
    #[arg(long, default_value_t = 5.0)]
    job_seconds: f64,
    /// Seconds a provisioned throughput stays Creating.
    #[arg(long, default_value_t = 3.0)]
    pt_seconds: f64,
    /// Seconds a custom model deployment stays Creating.
    #[arg(long, default_value_t = 3.0)]
    deployment_seconds: f64,
    /// Seconds a batch inference job takes from Submitted to Completed.
    #[arg(long, default_value_t = 5.0)]
    batch_seconds: f64,
    /// Fewest records a batch inference job takes [default: Bedrock's default quota, from the catalog: 100].
    #[arg(long)]
    batch_min_records: Option<usize>,
    /// Most records a batch inference job takes [default: Bedrock's default quota, from the catalog: 50,000]; a
    /// lower value shows a large prompt set split over several jobs, a higher one is capped at the quota.
    #[arg(long)]
    batch_max_records: Option<usize>,
    /// How the customized model compares with its base model: better, worse or same.
    #[arg(long, default_value = "better")]
    custom_quality: Quality,
    /// A JSON file with the emulator's `candidate_rules` (a list of `{"when": {...}, "good_fraction": f}` or
    /// `{"when": {...}, "fail": true}`): how each customization job's hyper-parameters set its model's quality.
    #[arg(long, value_name = "FILE")]
    candidate_rules: Option<PathBuf>,
    /// Answer-key prompts [default: datasets/dialogsum-seed/validation-data.json].
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Answer-key references [default: datasets/dialogsum-seed/reference-inference.json].
    #[arg(long)]
    references: Option<PathBuf>,
    /// A command to run against the stack (after `--`), e.g.
    /// `-- cargo run -q -p bertscore-pipeline-cli -- run --config datasets/pipeline/aws-sample-cohere.toml`; the stack stops when it
    /// ends and its exit status is ours.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// `datasets/dialogsum-seed/NAME` from the working directory, else from this source tree.
fn seed_file(name: &str) -> PathBuf {
    let relative = Path::new("datasets/dialogsum-seed").join(name);
    if relative.exists() {
        return relative;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let prompts = args
        .prompts
        .unwrap_or_else(|| seed_file("validation-data.json"));
    let references = args
        .references
        .unwrap_or_else(|| seed_file("reference-inference.json"));
    if !prompts.exists() || !references.exists() {
        bail!(
            "answer key not found ({} / {}); run from the repository root or pass --prompts and --references",
            prompts.display(),
            references.display()
        );
    }
    let mut config = EmulatorConfig {
        job_duration: Duration::try_from_secs_f64(args.job_seconds).context("--job-seconds")?,
        pt_duration: Duration::try_from_secs_f64(args.pt_seconds).context("--pt-seconds")?,
        deployment_duration: Duration::try_from_secs_f64(args.deployment_seconds)
            .context("--deployment-seconds")?,
        batch_duration: Duration::try_from_secs_f64(args.batch_seconds)
            .context("--batch-seconds")?,
        custom_quality: args.custom_quality,
        ..EmulatorConfig::default()
    };
    if let Some(records) = args.batch_min_records {
        config.batch_min_records = records;
    }
    if let Some(records) = args.batch_max_records {
        config.batch_max_records = records;
    }
    config.load_answers(&prompts, &references)?;
    allow_legacy_sample(&mut config);
    if let Some(path) = &args.candidate_rules {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--candidate-rules {}", path.display()))?;
        config.candidate_rules = serde_json::from_str(&text)
            .with_context(|| format!("--candidate-rules {}", path.display()))?;
    }

    let moto_port = args.moto_port;
    let moto = tokio::task::spawn_blocking(move || {
        if moto_port == 0 {
            Moto::start()
        } else {
            Moto::start_on_port(moto_port)
        }
    })
    .await??;
    // Batch jobs and training-file checks read and write moto's S3; job roles are read from moto's IAM, where
    // the example configs' roles are created first, as an account has them.
    point_at_moto(&mut config, &moto);
    for (name, kinds) in EXAMPLE_ROLES {
        let arn = moto.create_role(name, kinds).await?;
        eprintln!("IAM role {arn} (trusts Bedrock for {kinds:?} jobs)");
    }
    let bedrock = Emulator::start_on(
        SocketAddr::from(([127, 0, 0, 1], args.bedrock_port)),
        config,
    )
    .await
    .context("starting the Bedrock emulator")?;
    let stack = LocalStack { moto, bedrock };
    // Listen before announcing the stack: a signal that comes once the addresses are out must stop it cleanly.
    let mut signals = StopSignals::new()?;

    eprintln!("moto (S3, SESv2, IAM) on {}", stack.moto.endpoint());
    eprintln!(
        "Bedrock emulator on {} (state: {}/_emulator/state)",
        stack.bedrock.endpoint(),
        stack.bedrock.endpoint()
    );
    if let Some((program, arguments)) = args.command.split_first() {
        let mut child = tokio::process::Command::new(program)
            .args(arguments)
            .envs(stack.env())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("running {program}"))?;
        let code = tokio::select! {
            status = child.wait() => status.with_context(|| format!("running {program}"))?.code().unwrap_or(1),
            signal = signals.next() => {
                eprintln!("{signal} received: stopping {program}, the emulator and moto");
                let _ = child.kill().await;
                STOPPED_BY_SIGNAL
            }
        };
        stop(stack).await;
        std::process::exit(code);
    }
    eprintln!("Paste these into the shell that runs the pipeline; Ctrl-C stops everything:");
    for (key, value) in stack.env() {
        println!("export {key}={value}");
    }
    let signal = signals.next().await;
    eprintln!("{signal} received: shutting down");
    stop(stack).await;
    std::process::exit(STOPPED_BY_SIGNAL);
}

/// The exit status after SIGINT or SIGTERM (128 + SIGTERM, as a shell reports a terminated process).
const STOPPED_BY_SIGNAL: i32 = 143;

/// Stops the emulator and moto (moto is a child process: it would outlive us if the process just ended).
async fn stop(stack: LocalStack) {
    let LocalStack { moto, bedrock } = stack;
    bedrock.shutdown().await;
    drop(moto);
}

/// SIGINT (Ctrl-C) and SIGTERM, caught from creation on.
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> anyhow::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        })
    }

    /// Waits for either and names the one that came.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
