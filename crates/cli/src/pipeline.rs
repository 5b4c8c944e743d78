//! `bertscore pipeline`: the Bedrock customization loop (see crates/pipeline).
//!
//! `run` starts a run, `plan` shows the AWS calls a run would make without making any, `status` shows a run's
//! journaled state, `resume` continues an interrupted or failed run, `cleanup` deletes every billed resource a
//! run left. AWS settings come from the standard chain (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL_*`, ...)
//! unless the config's `[aws]` section overrides them.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use bertscore_pipeline::{
    Clients, Pipeline, PipelineConfig, PipelineError, Report, RunState, StepFunctionsInput,
    StepStatus,
};
use clap::{Args, Subcommand};

use crate::exit::CliError;

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Where run directories (journal, state, outputs, report) are kept
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "BERTSCORE_STATE_DIR",
        default_value = ".bertscore/runs"
    )]
    pub state_dir: PathBuf,

    #[command(subcommand)]
    pub command: PipelineCommand,
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Start a run: validate, upload, fine-tune, provision, evaluate, keep or delete, email, report
    Run(RunArgs),
    /// Print every AWS call a run would make; creates nothing and calls nothing
    Plan(ConfigArgs),
    /// Show a run's steps, resources and outcome
    Status(StatusArgs),
    /// Continue an interrupted or failed run from its journal (no second job or throughput is created)
    Resume(RunRef),
    /// Delete every billed resource a run created: provisioned throughput, a running job, optionally the model
    Cleanup(CleanupArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The pipeline configuration (TOML); see datasets/pipeline/local.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The AWS sample's Step Functions execution input (JSON): BaseModelIdentifier, CustomModelName, JobName,
    /// HyperParameters, TrainingDataFileName; applied on top of --config or of the flags below
    #[arg(long, value_name = "JSON")]
    pub input: Option<PathBuf>,

    /// Without --config: the S3 bucket for data, job output, outputs and reports
    #[arg(long, env = "BERTSCORE_PIPELINE_BUCKET")]
    pub bucket: Option<String>,

    /// Without --config: the Bedrock customization service role
    #[arg(long, env = "BERTSCORE_PIPELINE_ROLE_ARN")]
    pub role_arn: Option<String>,

    /// Without --config: directory with the training file (TrainingDataFileName), validation-data.json and
    /// reference-inference.json
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub data_dir: PathBuf,

    /// Sender of the outcome email (a verified SES identity); overrides the config
    #[arg(long, env = "BERTSCORE_PIPELINE_EMAIL_FROM")]
    pub email_from: Option<String>,

    /// Recipients of the outcome email; overrides the config
    #[arg(long, env = "BERTSCORE_PIPELINE_EMAIL_TO", value_delimiter = ',')]
    pub email_to: Vec<String>,

    /// The BERTScore model (directory or hub id); overrides the config
    #[arg(long)]
    pub scoring_model: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Use this run id instead of a new one (letters, digits, '-')
    #[arg(long)]
    pub run_id: Option<String>,

    /// Print the final report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunRef {
    /// A run id under --state-dir, or a run directory
    pub run: String,

    /// Print the final report as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A run id under --state-dir, or a run directory
    pub run: String,

    /// Print state.json as it is
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// A run id under --state-dir, or a run directory
    pub run: String,

    /// Also delete the custom model
    #[arg(long)]
    pub delete_custom_model: bool,
}

pub fn run(args: PipelineArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(anyhow!("cannot start the async runtime: {e}")))?;
    runtime.block_on(dispatch(args))
}

async fn dispatch(args: PipelineArgs) -> Result<(), CliError> {
    let state_dir = args.state_dir;
    match args.command {
        PipelineCommand::Run(run) => {
            let config = load_config(&run.config)?;
            let clients = Clients::connect(&config.aws).await;
            let mut pipeline = Pipeline::create(config, clients, &state_dir, run.run_id.as_deref())
                .map_err(cli_error)?;
            eprintln!(
                "run {} ({})",
                pipeline.run_id(),
                pipeline.run_dir().display()
            );
            let result = pipeline.execute().await;
            finish(&pipeline, result, run.json)
        }
        PipelineCommand::Plan(config_args) => {
            let config = load_config(&config_args)?;
            let calls = bertscore_pipeline::plan(&config, "<run-id>").map_err(cli_error)?;
            println!("A run would make these calls, in order (nothing is created by `plan`):");
            for (index, call) in calls.iter().enumerate() {
                println!("{:>3}. {call}", index + 1);
            }
            Ok(())
        }
        PipelineCommand::Status(status) => {
            let run = bertscore_pipeline::journal::RunDir::open(&state_dir, &status.run)
                .map_err(cli_error)?;
            if status.json {
                let text = serde_json::to_string_pretty(&run.state)
                    .map_err(|e| CliError::runtime(anyhow!(e)))?;
                println!("{text}");
            } else {
                print!("{}", describe_state(&run.state, run.dir()));
            }
            Ok(())
        }
        PipelineCommand::Resume(resume) => {
            let config = bertscore_pipeline::journal::RunDir::open(&state_dir, &resume.run)
                .and_then(|run| run.config())
                .map_err(cli_error)?;
            let clients = Clients::connect(&config.aws).await;
            let mut pipeline =
                Pipeline::open(&state_dir, &resume.run, clients).map_err(cli_error)?;
            eprintln!(
                "resuming run {} ({})",
                pipeline.run_id(),
                pipeline.run_dir().display()
            );
            let result = pipeline.execute().await;
            finish(&pipeline, result, resume.json)
        }
        PipelineCommand::Cleanup(cleanup) => {
            let config = bertscore_pipeline::journal::RunDir::open(&state_dir, &cleanup.run)
                .and_then(|run| run.config())
                .map_err(cli_error)?;
            let clients = Clients::connect(&config.aws).await;
            let mut pipeline =
                Pipeline::open(&state_dir, &cleanup.run, clients).map_err(cli_error)?;
            let actions = pipeline
                .cleanup(cleanup.delete_custom_model)
                .await
                .map_err(cli_error)?;
            for action in actions {
                println!("{action}");
            }
            Ok(())
        }
    }
}

/// Prints the outcome of `run`/`resume` and maps a failure to its exit code.
fn finish(
    pipeline: &Pipeline,
    result: bertscore_pipeline::Result<Report>,
    json: bool,
) -> Result<(), CliError> {
    let report = match &result {
        Ok(report) => report.clone(),
        Err(_) => pipeline.report().map_err(cli_error)?,
    };
    if json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::runtime(anyhow!(e)))?;
        println!("{text}");
    } else {
        print!("{}", report.email("").text);
        println!();
    }
    match result {
        Ok(_) => Ok(()),
        Err(error) => Err(cli_error(error)),
    }
}

fn cli_error(error: PipelineError) -> CliError {
    if error.is_bad_input() {
        CliError::bad_input(error)
    } else if error.is_model_error() {
        CliError::model(error)
    } else {
        CliError::runtime(error)
    }
}

/// The config from --config and/or --input plus the overriding flags.
fn load_config(args: &ConfigArgs) -> Result<PipelineConfig, CliError> {
    let mut config = match &args.config {
        Some(path) => PipelineConfig::from_toml_file(path).map_err(cli_error)?,
        None => config_from_flags(args)?,
    };
    if let Some(path) = &args.input {
        let input = StepFunctionsInput::from_json_file(path).map_err(cli_error)?;
        config.apply_step_functions_input(&input);
    }
    if let Some(model) = &args.scoring_model {
        config.scoring.model = model.clone();
    }
    if args.email_from.is_some() || !args.email_to.is_empty() {
        let (Some(from), false) = (&args.email_from, args.email_to.is_empty()) else {
            return Err(CliError::bad_input(anyhow!(
                "--email-from and --email-to go together"
            )));
        };
        let previous = config.notify.take();
        config.notify = Some(bertscore_pipeline::config::NotifyConfig {
            from: from.clone(),
            to: args.email_to.clone(),
            subject_prefix: previous
                .as_ref()
                .map(|n| n.subject_prefix.clone())
                .unwrap_or_else(|| "[bertscore pipeline]".into()),
            create_sender_identity: previous.is_some_and(|n| n.create_sender_identity),
        });
    }
    let origin = args
        .config
        .as_deref()
        .or(args.input.as_deref())
        .unwrap_or(Path::new("<flags>"));
    config.validate(origin).map_err(cli_error)?;
    Ok(config)
}

/// Without --config: `--input` is required and the flags supply bucket, role and data directory.
fn config_from_flags(args: &ConfigArgs) -> Result<PipelineConfig, CliError> {
    if args.input.is_none() {
        return Err(CliError::bad_input(anyhow!(
            "give --config FILE, or --input JSON with --bucket and --role-arn"
        )));
    }
    let (Some(bucket), Some(role_arn)) = (&args.bucket, &args.role_arn) else {
        return Err(CliError::bad_input(anyhow!(
            "without --config, --bucket (BERTSCORE_PIPELINE_BUCKET) and --role-arn (BERTSCORE_PIPELINE_ROLE_ARN) are required"
        )));
    };
    let text = format!(
        "[data]\ntraining = \"training-data.jsonl\"\nvalidation = \"validation-data.json\"\nreferences = \"reference-inference.json\"\n\
         [s3]\nbucket = {}\n[customization]\nbase_model_id = \"set-by-input\"\nrole_arn = {}\n",
        toml_string(bucket),
        toml_string(role_arn)
    );
    let mut config =
        PipelineConfig::from_toml_str(&text, Path::new("<flags>")).map_err(cli_error)?;
    config.resolve_paths(&args.data_dir);
    Ok(config)
}

fn toml_string(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

/// `pipeline status` for people.
fn describe_state(state: &RunState, dir: &Path) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "run      {} ({})", state.run_id, dir.display());
    let _ = writeln!(
        out,
        "status   {:?}, created {}, updated {}",
        state.status, state.created_at, state.updated_at
    );
    if let Some(error) = &state.error {
        let _ = writeln!(out, "error    {error}");
    }
    let _ = writeln!(out, "steps");
    for step in bertscore_pipeline::Step::ALL {
        let status = match state.steps.get(&step) {
            None => "pending".to_string(),
            Some(record) => {
                let word = match record.status {
                    StepStatus::Started => "started (interrupted or running)",
                    StepStatus::Finished => "finished",
                    StepStatus::Failed => "FAILED",
                    StepStatus::Skipped => "skipped",
                };
                match &record.error {
                    Some(error) => format!("{word}: {error}"),
                    None => word.to_string(),
                }
            }
        };
        let _ = writeln!(out, "  {:<18} {status}", step.name());
    }
    let r = &state.resources;
    let _ = writeln!(
        out,
        "job      {} [{}]",
        r.job_arn.as_deref().unwrap_or(&r.job_name),
        r.job_status.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "model    {}{}",
        r.custom_model_arn
            .as_deref()
            .unwrap_or(&r.custom_model_name),
        if r.custom_model_deleted {
            " (deleted)"
        } else {
            ""
        }
    );
    let pt_state = if r.throughput_deleted {
        " (deleted)".to_string()
    } else if state.throughput_live() {
        format!(
            " [{}] BILLED HOURLY until deleted",
            r.throughput_status.as_deref().unwrap_or("?")
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "throughput {}{pt_state}",
        r.throughput_arn.as_deref().unwrap_or(&r.throughput_name)
    );
    if let Some(outcome) = &state.outcome {
        let _ = writeln!(
            out,
            "verdict  {} (F1 base {:.4}, custom {:.4}, delta {:+.4}, 95% CI [{:+.4}, {:+.4}], p {:.4}; {} of {} scored)",
            outcome.verdict,
            outcome.base_f1,
            outcome.custom_f1,
            outcome.delta_f1,
            outcome.ci95[0],
            outcome.ci95[1],
            outcome.p_value,
            outcome.scored,
            outcome.items
        );
    }
    for note in &state.notes {
        let _ = writeln!(out, "note     {note}");
    }
    out
}
