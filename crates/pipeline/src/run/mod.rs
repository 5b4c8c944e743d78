//! The run itself: each step journaled before and after it runs, resumable from the journal, idempotent on the
//! AWS side (client request tokens derived from the run id), and never leaving a provisioned throughput behind
//! without saying so. One module per step; this one sequences them and handles failure.
//!
//! | step | module |
//! |---|---|
//! | validate (config, data, scoring model; no AWS call) | [`validate`] |
//! | upload | [`upload`] |
//! | create-job, wait-job | [`fine_tune`] |
//! | create-throughput, wait-throughput or create-deployment, wait-deployment | [`serve`] |
//! | inference (on demand, or the base model through a batch job: [`batch`]), write-outputs | [`infer`] |
//! | score | [`score`] |
//! | decide (and `cleanup`) | [`decide`] |
//! | notify, report | [`notify`] |

mod batch;
mod decide;
mod fine_tune;
mod infer;
mod notify;
mod score;
mod serve;
mod sweep;
mod upload;
mod validate;

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::aws::{Aws, Clients};
use crate::config::PipelineConfig;
use crate::data::EvalItem;
use crate::error::{PipelineError, Result};
use crate::inference::ItemOutput;
use crate::journal::{RunDir, RunState, RunStatus, Step, StepStatus, new_run_id};
use crate::naming::ResourceNames;
use crate::report::Report;

pub(crate) use score::load_scorer;

/// Files in the run directory.
const ITEMS_FILE: &str = "items.json";
const BASE_OUTPUTS_FILE: &str = "base-outputs.json";
const CUSTOM_OUTPUTS_FILE: &str = "custom-outputs.json";
const COMPARISON_FILE: &str = "comparison.json";
const REPORT_FILE: &str = "report.json";

/// What a step did: finished or skipped, with details for the journal.
type StepResult = Result<(StepStatus, Value)>;

/// Runs, resumes and cleans up one run. It holds the run's lock from [`Pipeline::create`] or [`Pipeline::open`]
/// until it is dropped: no other process can run, resume or clean up the run meanwhile.
pub struct Pipeline {
    config: PipelineConfig,
    /// Every AWS call goes through it: the SDK ([`Clients`]), or `plan`'s dry run.
    aws: Arc<dyn Aws>,
    run: RunDir,
}

impl From<Clients> for Arc<dyn Aws> {
    fn from(clients: Clients) -> Self {
        Arc::new(clients)
    }
}

impl Pipeline {
    /// Creates a new run directory under `state_dir` (with a new run id unless one is given) and takes its lock.
    /// Makes no AWS call. A `run_id` whose directory was left by a run killed before its first step is started
    /// afresh; one with steps begun must be resumed.
    pub fn create(
        config: PipelineConfig,
        aws: impl Into<Arc<dyn Aws>>,
        state_dir: &Path,
        run_id: Option<&str>,
    ) -> Result<Self> {
        let aws = aws.into();
        let run_id = run_id.map(str::to_string).unwrap_or_else(new_run_id);
        let names = ResourceNames::of(&config, &run_id);
        let mut run = RunDir::create(state_dir, &run_id, &config, names)?;
        run.record_endpoint(aws.bedrock_endpoint().map(str::to_string))?;
        let mut pipeline = Self { config, aws, run };
        pipeline.init_sweep()?;
        Ok(pipeline)
    }

    /// Opens an existing run (id under `state_dir`, or a run directory) with the config it was started with,
    /// taking its lock.
    pub fn open(state_dir: &Path, run: &str, aws: impl Into<Arc<dyn Aws>>) -> Result<Self> {
        let run = RunDir::acquire(state_dir, run)?;
        let config = run.config()?;
        Ok(Self::resume(run, config, aws))
    }

    /// A run opened with [`RunDir::acquire`] (its lock held), with its recorded config (see [`RunDir::config`]).
    pub fn resume(run: RunDir, config: PipelineConfig, aws: impl Into<Arc<dyn Aws>>) -> Self {
        Self {
            config,
            aws: aws.into(),
            run,
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run.state.run_id
    }

    /// The run directory.
    pub fn run_dir(&self) -> &Path {
        self.run.dir()
    }

    /// The run's current state (as in `state.json`).
    pub fn state(&self) -> &RunState {
        &self.run.state
    }

    /// The configuration the run uses.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Runs every step not finished yet. On failure after validation: deletes a live provisioned throughput (or
    /// records that `cleanup` must), emails the failure, writes the report, and returns the error.
    pub async fn execute(&mut self) -> Result<Report> {
        // On `resume` (its validate step is done), every value the run sends is checked again before any call;
        // a new run checks them in its `validate` step.
        let origin = self.run.path("config.json");
        if self.run.state.finished(Step::Validate) {
            self.config.validate(&origin)?;
        }
        self.prepare_resume()?;
        if let Some(endpoint) = self.aws.bedrock_endpoint().map(str::to_string) {
            self.run.record_endpoint(Some(endpoint))?;
        }
        self.init_sweep()?;
        let mut preflown = false;
        for &step in self.run.state.steps() {
            if self.run.state.finished(step) {
                continue;
            }
            // After the local checks (`validate` calls nothing), before the first call that may bill.
            if step != Step::Validate && !preflown {
                self.aws.step("preflight");
                self.preflight(&origin).await?;
                preflown = true;
            }
            self.aws.step(step.name());
            self.run.begin(step)?;
            tracing::info!("run {}: {}", self.run_id(), step.name());
            match self.run_step(step).await {
                Ok((status, detail)) => self.run.end(step, status, detail, None)?,
                Err(error) => {
                    self.run.end(
                        step,
                        StepStatus::Failed,
                        Value::Null,
                        Some(error.describe()),
                    )?;
                    return Err(self.fail(step, error).await);
                }
            }
        }
        self.run.state.status = RunStatus::Succeeded;
        self.run.state.error = None;
        self.run.touch()?;
        self.run.log(None, "succeeded", Value::Null)?;
        Ok(self.report())
    }

    /// The account offers what the run needs (read-only calls; [`crate::preflight`]), before its first billed
    /// call. A problem fails the run with every problem listed; nothing was created.
    async fn preflight(&mut self, origin: &Path) -> Result<()> {
        let own = self.run.state.own_servings();
        let result = crate::preflight::for_run(&self.config, self.aws.as_ref(), own)
            .await
            .and_then(|found| found.into_result(origin));
        match result {
            Ok(found) => {
                for note in &found.notes {
                    tracing::info!("preflight: {note}");
                }
                Ok(())
            }
            Err(error) => {
                self.run.state.status = RunStatus::Failed;
                self.run.state.error = Some(error.describe());
                self.run.touch()?;
                self.run.log(
                    None,
                    "preflight-failed",
                    json!({ "error": error.describe() }),
                )?;
                Err(error)
            }
        }
    }

    /// A failed or interrupted run continues where it stopped. A serving (throughput or deployment) deleted by
    /// the failure handling is created again (with a new client token) when the evaluation still needs it.
    fn prepare_resume(&mut self) -> Result<()> {
        let state = &mut self.run.state;
        if state.status != RunStatus::Running {
            state.status = RunStatus::Running;
            state.error = None;
        }
        if state.resources.serving.deleted && !state.finished(Step::Inference) {
            let kind = state.resources.serving.kind;
            state.resources.serving.recreate();
            for step in Step::serving_steps(kind) {
                state.steps.remove(&step);
            }
            state.notes.push(format!(
                "the {} deleted after a failure is created again",
                kind.describe()
            ));
        }
        self.run.touch()
    }

    async fn run_step(&mut self, step: Step) -> StepResult {
        match step {
            Step::Validate => self.validate().await,
            Step::Upload => self.upload().await,
            Step::CreateJob => self.create_job().await,
            Step::WaitJob => self.wait_job().await,
            Step::CreateThroughput | Step::CreateDeployment => self.create_serving(step).await,
            Step::WaitThroughput | Step::WaitDeployment => self.wait_serving().await,
            Step::Inference => self.inference().await,
            Step::WriteOutputs => self.write_outputs().await,
            Step::Score => self.score().await,
            Step::Decide if self.config.sweep.is_some() => self.decide_sweep().await,
            Step::Decide => self.decide().await,
            Step::Notify => self.notify().await,
            Step::Report => self.write_report().await,
            Step::TrainCandidates => self.train_candidates().await,
            Step::BaseInference => self.base_inference().await,
            Step::EvaluateCandidates => self.evaluate_candidates().await,
        }
    }

    /// After a failure: make sure nothing billed is left running unnoticed, tell the user, write the report.
    async fn fail(&mut self, step: Step, error: PipelineError) -> PipelineError {
        self.run.state.status = RunStatus::Failed;
        // The step is recorded with the failure (report's `failed_step`); the message is the error alone.
        self.run.state.error = Some(error.describe());
        let _ = self.run.touch();
        let _ = self.run.log(
            Some(step),
            "run-failed",
            json!({ "error": error.describe() }),
        );
        if step == Step::Validate {
            // Nothing was created and no AWS call was made; the error says what to fix.
            let _ = self
                .run
                .write_file(REPORT_FILE, &report_bytes(&self.report()));
            return error;
        }
        self.aws.step("after-failure");
        self.release_after_failure().await;
        self.stop_batch_after_failure().await;
        self.release_candidates_after_failure().await;
        let _ = self.run.touch();
        if let Err(e) = self.save_report().await {
            tracing::warn!("could not write the report: {}", e.describe());
        }
        self.email_failure().await;
        error
    }

    /// The report as of now.
    pub fn report(&self) -> Report {
        self.report_as(self.run.state.status)
    }

    fn items(&self) -> Result<Vec<EvalItem>> {
        let bytes = self.run.read_file(ITEMS_FILE)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            PipelineError::Run(format!("{}: {e}", self.run.path(ITEMS_FILE).display()))
        })
    }

    fn outputs(&self) -> Result<(Vec<ItemOutput>, Vec<ItemOutput>)> {
        let read = |name: &str| -> Result<Vec<ItemOutput>> {
            let bytes = self.run.read_file(name)?;
            serde_json::from_slice(&bytes)
                .map_err(|e| PipelineError::Run(format!("{}: {e}", self.run.path(name).display())))
        };
        Ok((read(BASE_OUTPUTS_FILE)?, read(CUSTOM_OUTPUTS_FILE)?))
    }

    /// `s3://bucket/key` of `name` under this run's prefix in `bucket`, recorded as `role`.
    fn record_object(&mut self, role: &str, bucket: &str, key: &str) {
        self.run
            .state
            .resources
            .objects
            .insert(role.to_string(), format!("s3://{bucket}/{key}"));
    }
}

fn report_bytes(report: &Report) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(report).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// JSON for a run-directory file (these types always serialize).
fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// A run can be driven from a spawned task (`tokio::spawn` needs a `Send` future).
#[allow(dead_code)]
fn execute_is_send(pipeline: &mut Pipeline) -> impl std::future::Future + Send + '_ {
    pipeline.execute()
}
