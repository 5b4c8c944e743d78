//! `bedrock-emulator`: serve the local Bedrock control plane and runtime until Ctrl-C.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bedrock_emulator::{Emulator, EmulatorConfig, Quality};
use clap::Parser;

/// A local Amazon Bedrock (control plane + runtime) for tests and demos. Point both the
/// `bedrock` and `bedrock-runtime` clients at the printed URL (e.g. AWS_ENDPOINT_URL_BEDROCK
/// and AWS_ENDPOINT_URL_BEDROCK_RUNTIME).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Base settings as JSON (keys of EmulatorConfig: job_duration_s, pt_duration_s,
    /// deployment_duration_s, batch_duration_s, batch_min_records, batch_max_records, s3_endpoint,
    /// iam_endpoint, skip_role_checks, custom_quality, candidate_rules, answers, faults); the flags below
    /// override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seconds a customization job stays InProgress.
    #[arg(long)]
    job_seconds: Option<f64>,
    /// Seconds a provisioned throughput stays Creating.
    #[arg(long)]
    pt_seconds: Option<f64>,
    /// Seconds a custom model deployment stays Creating.
    #[arg(long)]
    deployment_seconds: Option<f64>,
    /// Seconds a batch inference job takes from Submitted to Completed.
    #[arg(long)]
    batch_seconds: Option<f64>,
    /// S3 endpoint (e.g. moto's http://127.0.0.1:5000) for batch inputs/outputs and training-file checks.
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// IAM endpoint (e.g. moto's http://127.0.0.1:5000) asked for the role each customization or batch job
    /// names; the emulator does not start without it unless --skip-role-checks.
    #[arg(long)]
    iam_endpoint: Option<String>,
    /// Accept any well-formed roleArn without asking IAM (Amazon Bedrock never does; logged).
    #[arg(long, conflicts_with = "iam_endpoint")]
    skip_role_checks: bool,
    /// How the customized model compares with its base model: better, worse or same.
    #[arg(long)]
    custom_quality: Option<Quality>,
    /// Answer-key prompts: JSON Lines or a JSON array of {"prompt": ...} (needs --references).
    #[arg(long, requires = "references")]
    prompts: Option<PathBuf>,
    /// Answer-key references aligned with --prompts: a JSON array of strings or JSON Lines of {"completion": ...}.
    #[arg(long, requires = "prompts")]
    references: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => EmulatorConfig::default(),
    };
    if let Some(s) = args.job_seconds {
        config.job_duration = Duration::try_from_secs_f64(s).context("--job-seconds")?;
    }
    if let Some(s) = args.pt_seconds {
        config.pt_duration = Duration::try_from_secs_f64(s).context("--pt-seconds")?;
    }
    if let Some(s) = args.deployment_seconds {
        config.deployment_duration =
            Duration::try_from_secs_f64(s).context("--deployment-seconds")?;
    }
    if let Some(s) = args.batch_seconds {
        config.batch_duration = Duration::try_from_secs_f64(s).context("--batch-seconds")?;
    }
    if args.s3_endpoint.is_some() {
        config.s3_endpoint = args.s3_endpoint;
    }
    if args.iam_endpoint.is_some() {
        config.iam_endpoint = args.iam_endpoint;
    }
    if args.skip_role_checks {
        config.skip_role_checks = true;
    }
    if let Some(q) = args.custom_quality {
        config.custom_quality = q;
    }
    if let (Some(prompts), Some(references)) = (&args.prompts, &args.references) {
        config.load_answers(prompts, references)?;
    }
    let answers = config.answers.len();
    let emulator = Emulator::start_on(SocketAddr::new(args.host, args.port), config)
        .await
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    eprintln!("listening on {}", emulator.endpoint());
    eprintln!(
        "answer key: {answers} prompts; state at {}/_emulator/state",
        emulator.endpoint()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    eprintln!("shutting down");
    emulator.shutdown().await;
    Ok(())
}
