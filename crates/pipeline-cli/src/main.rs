//! `bertscore-pipeline` (also run as `bertscore pipeline`): the Bedrock customization loop (see crates/pipeline).
//!
//! `run` starts a run, `plan` shows the AWS calls a run would make without making any, `status` shows a run's
//! journaled state, `resume` continues an interrupted or failed run, `cleanup` deletes every billed resource a
//! run left. AWS settings come from the standard chain (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL_*`, ...)
//! unless the config's `[aws]` section overrides them.
//!
//! A binary of its own: the AWS SDK is compiled only by those who build this crate, never by `bertscore score`
//! or `bertscore compare`.
//!
//! Exit codes: 0 success, 2 bad input (config, data, run id, a run owned by another process), 3 the scoring model
//! cannot be obtained or loaded, 4 AWS or runtime failure.

mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use bertscore_engine::ErrorKind;
use bertscore_pipeline::{
    Clients, Pipeline, PipelineConfig, PipelineError, Report, RunDir, StepFunctionsInput,
};
use clap::{Args, CommandFactory, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bertscore-pipeline",
    version = bertscore_cli_conventions::VERSION,
    long_version = bertscore_cli_conventions::long_version(),
    about = "The Bedrock customization loop: fine-tune, serve (on-demand deployment or provisioned throughput), evaluate with BERTScore, keep or delete, email"
)]
struct Cli {
    /// Where run directories (journal, state, outputs, report) are kept
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "BERTSCORE_STATE_DIR",
        default_value = ".bertscore/runs"
    )]
    state_dir: PathBuf,

    #[command(subcommand)]
    command: PipelineCommand,
}

#[derive(Debug, Subcommand)]
enum PipelineCommand {
    /// Start a run: validate, upload, fine-tune, serve, evaluate, keep or delete, email, report
    Run(RunArgs),
    /// Check the config, the data and the scoring model, then run the run's own steps against a dry run of AWS and
    /// print every call they would make, under the step that makes it; calls nothing
    Plan(ConfigArgs),
    /// Ask the account, with read-only calls, whether a run can succeed: the base model, the buckets, the SES
    /// identities, the roles' trust policies, the throughput quota; one line per problem, exit 2 when any
    Preflight(PreflightArgs),
    /// Show a run's steps, resources and outcome
    Status(StatusArgs),
    /// Continue an interrupted or failed run from its journal (no second job, deployment or throughput is created)
    Resume(RunRef),
    /// Delete every billed resource a run created: deployment or provisioned throughput, a running job, optionally
    /// the model
    Cleanup(CleanupArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout
    Completions(bertscore_cli_conventions::CompletionsArgs),
    /// Print the man page (roff, section 1) on stdout
    Man,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// The pipeline configuration (TOML); see datasets/pipeline/nova.toml
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// The AWS sample's Step Functions execution input (JSON): BaseModelIdentifier, CustomModelName, JobName,
    /// HyperParameters, TrainingDataFileName; applied on top of --config or of the flags below
    #[arg(long, value_name = "JSON")]
    input: Option<PathBuf>,

    /// Without --config: the S3 bucket for data, job output, outputs and reports
    #[arg(long, env = "BERTSCORE_PIPELINE_BUCKET")]
    bucket: Option<String>,

    /// Without --config: the Bedrock customization service role
    #[arg(long, env = "BERTSCORE_PIPELINE_ROLE_ARN")]
    role_arn: Option<String>,

    /// Without --config: directory with the training file (TrainingDataFileName), validation-data.json and
    /// reference-inference.json
    #[arg(long, value_name = "DIR", default_value = ".")]
    data_dir: PathBuf,

    /// Sender of the outcome email (a verified SES identity); overrides the config
    #[arg(long, env = "BERTSCORE_PIPELINE_EMAIL_FROM")]
    email_from: Option<String>,

    /// Recipients of the outcome email; overrides the config
    #[arg(long, env = "BERTSCORE_PIPELINE_EMAIL_TO", value_delimiter = ',')]
    email_to: Vec<String>,

    /// The BERTScore model (directory or hub id); overrides the config
    #[arg(long)]
    scoring_model: Option<String>,
}

#[derive(Debug, Args)]
struct PreflightArgs {
    #[command(flatten)]
    config: ConfigArgs,

    /// Print the findings as JSON on stdout (`problems`, `notes`)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArgs,

    /// Use this run id instead of a new one (letters, digits, '-'); a run directory left empty by a run killed
    /// before its first step is started afresh
    #[arg(long)]
    run_id: Option<String>,

    /// Print the final report as JSON on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RunRef {
    /// A run id under --state-dir, or a run directory
    run: String,

    /// Print the final report as JSON on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// A run id under --state-dir, or a run directory [default: the run updated last]
    run: Option<String>,

    /// Print state.json as it is
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CleanupArgs {
    /// A run id under --state-dir, or a run directory
    run: String,

    /// Also delete the custom model
    #[arg(long)]
    delete_custom_model: bool,
}

/// A failure and its kind (the exit code).
struct Failure {
    kind: ErrorKind,
    error: anyhow::Error,
}

impl From<PipelineError> for Failure {
    fn from(error: PipelineError) -> Self {
        Failure {
            kind: error.kind(),
            error: error.into(),
        }
    }
}

impl Failure {
    fn bad_input(message: impl Into<String>) -> Self {
        Failure {
            kind: ErrorKind::BadInput,
            error: anyhow!(message.into()),
        }
    }

    fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            kind: ErrorKind::Runtime,
            error: error.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(anyhow!("cannot start the async runtime: {e}")))
        .and_then(|runtime| runtime.block_on(dispatch(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // The chain, each cause once: messages never repeat their source.
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(match failure.kind {
                ErrorKind::BadInput => 2,
                ErrorKind::Model => 3,
                ErrorKind::Runtime => 4,
            })
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let state_dir = cli.state_dir;
    match cli.command {
        PipelineCommand::Completions(args) => {
            bertscore_cli_conventions::completions(args.shell, Cli::command())
                .map_err(Failure::runtime)
        }
        PipelineCommand::Man => {
            bertscore_cli_conventions::man(Cli::command()).map_err(Failure::runtime)
        }
        PipelineCommand::Run(run) => {
            let config = load_config(&run.config)?;
            let clients = Clients::connect(&config.aws).await;
            let mut pipeline =
                Pipeline::create(config, clients, &state_dir, run.run_id.as_deref())?;
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
            let calls = bertscore_pipeline::plan(&config, "<run-id>").await?;
            if let Some(note) =
                bertscore_pipeline::models::lifecycle_note(&config.customization.base_model_id)
            {
                println!("note: {note}");
            }
            println!(
                "A run would make these calls, in order, each under the step that makes it. `plan` ran the run's \
                 steps against a dry run of AWS that calls nothing and answers as the account should: every job \
                 completes, every serving becomes ready, both models answer the same placeholder (so the \
                 verdict is a tie and its decisions are the ones shown):"
            );
            for (index, call) in calls.iter().enumerate() {
                println!("{:>3}. {call}", index + 1);
            }
            Ok(())
        }
        PipelineCommand::Preflight(args) => {
            let config = load_config(&args.config)?;
            let clients = Clients::connect(&config.aws).await;
            let found =
                bertscore_pipeline::preflight::for_run(&config, &clients, Vec::new()).await?;
            if args.json {
                let text = serde_json::to_string_pretty(&found).map_err(Failure::runtime)?;
                println!("{text}");
            } else {
                for problem in &found.problems {
                    println!("problem: {problem}");
                }
                for note in &found.notes {
                    println!("note: {note}");
                }
                if found.problems.is_empty() {
                    println!("preflight: no problem found; a run can start");
                }
            }
            let origin = args
                .config
                .config
                .as_deref()
                .unwrap_or(Path::new("<flags>"));
            found.into_result(origin)?;
            Ok(())
        }
        PipelineCommand::Status(status) => {
            let name = match status.run {
                Some(run) => run,
                None => latest_run(&state_dir)?,
            };
            let run = RunDir::open(&state_dir, &name)?;
            if status.json {
                let text = serde_json::to_string_pretty(&run.state).map_err(Failure::runtime)?;
                println!("{text}");
            } else {
                print!("{}", status::describe(&run));
            }
            Ok(())
        }
        PipelineCommand::Resume(resume) => {
            let run = RunDir::acquire(&state_dir, &resume.run)?;
            let config = run.config()?;
            let clients = Clients::connect(&config.aws).await;
            let mut pipeline = Pipeline::resume(run, config, clients);
            eprintln!(
                "resuming run {} ({})",
                pipeline.run_id(),
                pipeline.run_dir().display()
            );
            let result = pipeline.execute().await;
            finish(&pipeline, result, resume.json)
        }
        PipelineCommand::Cleanup(cleanup) => {
            let run = RunDir::acquire(&state_dir, &cleanup.run)?;
            let config = run.config()?;
            let clients = Clients::connect(&config.aws).await;
            let mut pipeline = Pipeline::resume(run, config, clients);
            let actions = pipeline.cleanup(cleanup.delete_custom_model).await?;
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
) -> Result<(), Failure> {
    let report = match &result {
        Ok(report) => report.clone(),
        Err(_) => pipeline.report(),
    };
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(Failure::runtime)?;
        println!("{text}");
    } else {
        print!("{}", report.email("").text);
        println!();
        let sent = &pipeline.state().resources.email_message_id;
        if let (Some(id), Some(notify)) = (sent, &pipeline.config().notify) {
            println!(
                "Email: sent to {} (SES message id {id})",
                notify.to.join(", ")
            );
        }
    }
    result.map(|_| ()).map_err(Failure::from)
}

/// The config from --config and/or --input plus the overriding flags.
fn load_config(args: &ConfigArgs) -> Result<PipelineConfig, Failure> {
    let mut config = match &args.config {
        Some(path) => PipelineConfig::from_toml_file(path)?,
        None => config_from_flags(args)?,
    };
    if let Some(path) = &args.input {
        let input = StepFunctionsInput::from_json_file(path)?;
        config.apply_step_functions_input(&input);
    }
    if let Some(model) = &args.scoring_model {
        config.scoring.scorer.model = Some(model.clone());
    }
    if args.email_from.is_some() || !args.email_to.is_empty() {
        let (Some(from), false) = (&args.email_from, args.email_to.is_empty()) else {
            return Err(Failure::bad_input(
                "--email-from and --email-to go together",
            ));
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
    config.validate(origin)?;
    Ok(config)
}

/// Without --config: `--input` is required and the flags supply bucket, role and data directory.
fn config_from_flags(args: &ConfigArgs) -> Result<PipelineConfig, Failure> {
    if args.input.is_none() {
        return Err(Failure::bad_input(
            "give --config FILE, or --input JSON with --bucket and --role-arn",
        ));
    }
    let (Some(bucket), Some(role_arn)) = (&args.bucket, &args.role_arn) else {
        return Err(Failure::bad_input(
            "without --config, --bucket (BERTSCORE_PIPELINE_BUCKET) and --role-arn (BERTSCORE_PIPELINE_ROLE_ARN) are required",
        ));
    };
    let text = format!(
        "[data]\ntraining = \"training-data.jsonl\"\nvalidation = \"validation-data.json\"\nreferences = \"reference-inference.json\"\n\
         [s3]\nbucket = {}\n[customization]\nbase_model_id = \"set-by-input\"\nrole_arn = {}\n",
        toml_string(bucket),
        toml_string(role_arn)
    );
    let mut config = PipelineConfig::from_toml_str(&text, Path::new("<flags>"))?;
    config.resolve_paths(&args.data_dir);
    Ok(config)
}

/// The run under `state_dir` whose state changed last.
fn latest_run(state_dir: &Path) -> Result<String, Failure> {
    let entries = std::fs::read_dir(state_dir).map_err(|e| {
        Failure::bad_input(format!(
            "no runs in {} ({e}); name a run: `status RUN_ID`",
            state_dir.display()
        ))
    })?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let modified = entry
                .path()
                .join("state.json")
                .metadata()
                .ok()?
                .modified()
                .ok()?;
            Some((modified, entry.file_name().to_string_lossy().into_owned()))
        })
        .max()
        .map(|(_, name)| name)
        .ok_or_else(|| Failure::bad_input(format!("no runs in {}", state_dir.display())))
}

fn toml_string(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}
