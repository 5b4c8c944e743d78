//! The run directory: `<state_dir>/<run_id>/` with
//! - `journal.jsonl`: an append-only log, one line before and one after every step (and every billed resource
//!   created or deleted), so a reader can tell what happened even after a crash;
//! - `state.json`: the current state (steps finished, ARNs, outcome), replaced atomically (write + rename), which
//!   `resume`, `status` and `cleanup` start from;
//! - `config.json`: the resolved configuration the run was started with;
//! - the model outputs, the comparison and the report.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::PipelineConfig;
use crate::error::{PipelineError, Result};
use crate::naming::ResourceNames;
use crate::serving::{ServingKind, ServingRecord};

/// The steps of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Check the config, the data and the scoring model (no AWS call).
    Validate,
    /// Create missing buckets, upload the data.
    Upload,
    /// Create the customization job.
    CreateJob,
    /// Wait for the job to complete.
    WaitJob,
    /// Create the provisioned throughput (billed hourly from here).
    CreateThroughput,
    /// Wait for the throughput to be in service.
    WaitThroughput,
    /// Create the on-demand custom model deployment (billed per token from here, nothing while idle).
    CreateDeployment,
    /// Wait for the deployment to be active.
    WaitDeployment,
    /// Run every prompt on both models.
    Inference,
    /// Write the outputs and failures to S3.
    WriteOutputs,
    /// Score both models with BERTScore.
    Score,
    /// Keep or delete the serving: throughput or deployment (and the custom model).
    Decide,
    /// Email the outcome.
    Notify,
    /// Write the report.
    Report,
    /// A sweep's customization jobs, at most `sweep.max_concurrent_jobs` at once, until each has ended.
    TrainCandidates,
    /// A sweep's base-model inference (once for all candidates).
    BaseInference,
    /// A sweep's candidates one by one: served, evaluated, their serving deleted unless best so far.
    EvaluateCandidates,
}

impl Step {
    /// Every step of a run served by provisioned throughput, in order.
    pub const ALL: [Step; 12] = [
        Step::Validate,
        Step::Upload,
        Step::CreateJob,
        Step::WaitJob,
        Step::CreateThroughput,
        Step::WaitThroughput,
        Step::Inference,
        Step::WriteOutputs,
        Step::Score,
        Step::Decide,
        Step::Notify,
        Step::Report,
    ];

    /// Every step of a run served by an on-demand deployment, in order: [`Step::ALL`] with the deployment's
    /// two steps in place of the throughput's.
    pub const ON_DEMAND: [Step; 12] = [
        Step::Validate,
        Step::Upload,
        Step::CreateJob,
        Step::WaitJob,
        Step::CreateDeployment,
        Step::WaitDeployment,
        Step::Inference,
        Step::WriteOutputs,
        Step::Score,
        Step::Decide,
        Step::Notify,
        Step::Report,
    ];

    /// Every step of a sweep (`[sweep]`), in order.
    pub const SWEEP: [Step; 8] = [
        Step::Validate,
        Step::Upload,
        Step::TrainCandidates,
        Step::BaseInference,
        Step::EvaluateCandidates,
        Step::Decide,
        Step::Notify,
        Step::Report,
    ];

    /// The steps of a run: [`Step::SWEEP`] for a sweep, else [`Step::ALL`] or [`Step::ON_DEMAND`] by what
    /// serves the custom model.
    pub fn of_run(sweep: bool, serving: ServingKind) -> &'static [Step] {
        match (sweep, serving) {
            (true, _) => &Step::SWEEP,
            (false, ServingKind::Throughput) => &Step::ALL,
            (false, ServingKind::Deployment) => &Step::ON_DEMAND,
        }
    }

    /// The steps that create and wait for a serving of `kind`.
    pub fn serving_steps(kind: ServingKind) -> [Step; 2] {
        match kind {
            ServingKind::Throughput => [Step::CreateThroughput, Step::WaitThroughput],
            ServingKind::Deployment => [Step::CreateDeployment, Step::WaitDeployment],
        }
    }

    /// The step's name in the journal, the state and messages.
    pub fn name(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::Upload => "upload",
            Step::CreateJob => "create-job",
            Step::WaitJob => "wait-job",
            Step::CreateThroughput => "create-throughput",
            Step::WaitThroughput => "wait-throughput",
            Step::CreateDeployment => "create-deployment",
            Step::WaitDeployment => "wait-deployment",
            Step::Inference => "inference",
            Step::WriteOutputs => "write-outputs",
            Step::Score => "score",
            Step::Decide => "decide",
            Step::Notify => "notify",
            Step::Report => "report",
            Step::TrainCandidates => "train-candidates",
            Step::BaseInference => "base-inference",
            Step::EvaluateCandidates => "evaluate-candidates",
        }
    }
}

/// How a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Begun, not ended (running, or interrupted).
    Started,
    /// Done.
    Finished,
    /// Ended with an error.
    Failed,
    /// Not needed (e.g. no `[notify]`).
    Skipped,
}

/// One step's record in `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// How it stands.
    pub status: StepStatus,
    /// When it (last) started.
    pub started_at: String,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// How many times the step was started (more than 1 after a resume).
    pub attempts: u32,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Not ended (running, or interrupted).
    Running,
    /// Every step done.
    Succeeded,
    /// A step failed (see `error`).
    Failed,
}

/// Every AWS resource the run created or named, so `resume` re-uses it and `cleanup` can find it. Names are
/// recorded before the create call: Bedrock's Get* calls accept a name as well as an ARN, so even a crash
/// between the call and the journal leaves the resource findable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// The customization job's name.
    pub job_name: String,
    /// The custom model's name.
    pub custom_model_name: String,
    /// What serves the custom model (on-demand deployment or provisioned throughput), named before its create
    /// call.
    pub serving: ServingRecord,
    /// Buckets the run created.
    #[serde(default)]
    pub buckets_created: Vec<String>,
    /// Role (`training`, `validation`, `references`, `base-outputs`, ...) → `s3://bucket/key`.
    #[serde(default)]
    pub objects: BTreeMap<String, String>,
    /// The job's ARN, once created.
    #[serde(default)]
    pub job_arn: Option<String>,
    /// The job's last seen status.
    #[serde(default)]
    pub job_status: Option<String>,
    /// Why the job failed.
    #[serde(default)]
    pub job_failure: Option<String>,
    /// The custom model's ARN, once the job completed.
    #[serde(default)]
    pub custom_model_arn: Option<String>,
    /// Whether the run deleted the custom model.
    #[serde(default)]
    pub custom_model_deleted: bool,
    /// The SES message id of the outcome email, once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_message_id: Option<String>,
    /// The batch inference job of the base model's prompts, from just before its create call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_job: Option<BatchJobRecord>,
    /// The batch jobs of the parts already finished, when the prompts were split over several jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_parts_done: Vec<BatchJobRecord>,
}

/// A batch inference job (CreateModelInvocationJob), recorded before the create call with its name and client
/// request token, so a resumed run re-sends the same request (Bedrock answers with the job the token already
/// created) instead of creating a second job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchJobRecord {
    /// The job's name.
    pub name: String,
    /// The create call's client request token (derived from the run id).
    pub client_request_token: String,
    /// The model the job runs.
    pub model_id: String,
    /// `s3://` URI of the input JSONL (one `{"recordId", "modelInput"}` per item).
    pub input_uri: String,
    /// `s3://` URI prefix of the output (`<prefix><job id>/<input file>.out`).
    pub output_uri: String,
    /// Records in the input.
    pub records: usize,
    /// The job's ARN, once created.
    #[serde(default)]
    pub arn: Option<String>,
    /// The job's last seen status.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether the run (failure handling or `cleanup`) stopped the job.
    #[serde(default)]
    pub stopped: bool,
    /// Bumped when a resumed run replaces a job it stopped (new name and client token).
    #[serde(default)]
    pub generation: u32,
    /// Which part of the base model's prompts the job runs (0 when they fit one job).
    #[serde(default)]
    pub part: usize,
}

impl BatchJobRecord {
    /// Whether the job may still be running (created or requested, not ended, not stopped).
    pub fn may_run(&self) -> bool {
        !self.stopped
            && !matches!(
                self.status.as_deref(),
                Some("Completed" | "PartiallyCompleted" | "Failed" | "Stopped" | "Expired")
            )
    }
}

impl Resources {
    /// The resources of a run that has created nothing yet.
    pub(crate) fn named(names: ResourceNames) -> Resources {
        Resources {
            serving: ServingRecord::new(names.serving_kind, names.serving().to_string()),
            job_name: names.job,
            custom_model_name: names.custom_model,
            ..Resources::default()
        }
    }
}

/// The evaluation's outcome in brief (the full comparison is in `comparison.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Which model is better, if either.
    pub verdict: bertscore_compare::Verdict,
    /// Evaluation items.
    pub items: usize,
    /// Items scored (both models answered).
    pub scored: usize,
    /// Items not scored.
    pub failed_items: Vec<String>,
    /// Mean F1 of the base model.
    pub base_f1: f64,
    /// Mean F1 of the custom model.
    pub custom_f1: f64,
    /// Mean F1 difference (custom - base).
    pub delta_f1: f64,
    /// 95% bootstrap confidence interval of the difference.
    pub ci95: [f64; 2],
    /// Permutation-test p-value.
    pub p_value: f64,
    /// Items the custom model won.
    pub wins: usize,
    /// Items it lost.
    pub losses: usize,
    /// Ties.
    pub ties: usize,
    /// The scorer's settings (bert_score's hash).
    pub settings: String,
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The run id.
    pub run_id: String,
    /// When the run was created.
    pub created_at: String,
    /// When the state last changed.
    pub updated_at: String,
    /// How the run stands.
    pub status: RunStatus,
    /// Every step begun, with its record.
    pub steps: BTreeMap<Step, StepRecord>,
    /// What the run created or named.
    pub resources: Resources,
    /// The evaluation's outcome, once scored.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Why the run failed.
    #[serde(default)]
    pub error: Option<String>,
    /// What the failure handling or `cleanup` did, in words (also in the email).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The Bedrock endpoint the run talks to when it is not AWS's own (an emulator, a VPC endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// A sweep's candidates and outcome (`[sweep]` runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<crate::sweep::SweepState>,
}

impl RunState {
    /// How `step` stands, if it has begun.
    pub fn step_status(&self, step: Step) -> Option<StepStatus> {
        self.steps.get(&step).map(|record| record.status)
    }

    /// Whether `step` is done (finished or skipped).
    pub fn finished(&self, step: Step) -> bool {
        matches!(
            self.step_status(step),
            Some(StepStatus::Finished | StepStatus::Skipped)
        )
    }

    /// Whether the run's serving (deployment or throughput) may exist and has not been deleted.
    pub fn serving_live(&self) -> bool {
        self.resources.serving.may_exist()
    }

    /// The names of the servings this run made that may still exist: its own, and a sweep's candidates'. They
    /// are not someone else's use of the account's quota.
    pub fn own_servings(&self) -> Vec<String> {
        let candidates = self.sweep.iter().flat_map(|sweep| &sweep.candidates);
        std::iter::once(&self.resources.serving)
            .chain(candidates.map(|candidate| &candidate.serving))
            .filter(|serving| serving.may_exist())
            .map(|serving| serving.name.clone())
            .collect()
    }

    /// The steps of this run, in order (see [`Step::of_run`]).
    pub fn steps(&self) -> &'static [Step] {
        Step::of_run(self.sweep.is_some(), self.resources.serving.kind)
    }
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When.
    pub time: String,
    /// The step, for step events.
    pub step: Option<Step>,
    /// What happened (`started`, `finished`, `billed-resource-deleted`, ...).
    pub event: String,
    /// Details.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

/// The lock file in each run directory: locked (flock) by the one process that runs, resumes or cleans up the
/// run, which writes its process id into it.
const LOCK_FILE: &str = "lock";

/// A run's directory and its state. Opened with [`RunDir::create`] or [`RunDir::acquire`], it holds the run's
/// lock until dropped; opened with [`RunDir::open`], it only reads.
#[derive(Debug)]
pub struct RunDir {
    dir: PathBuf,
    /// The run's state as in `state.json`.
    pub state: RunState,
    /// The locked lock file (`None` when opened read-only).
    lock: Option<File>,
}

impl RunDir {
    /// Creates `<state_dir>/<run_id>/` with its config and initial state, and takes its lock. A directory left
    /// by a run killed before its first step began (no state, or a state with no step) is started afresh; one
    /// with steps begun is refused (resume or clean it up instead).
    pub(crate) fn create(
        state_dir: &Path,
        run_id: &str,
        config: &PipelineConfig,
        names: ResourceNames,
    ) -> Result<RunDir> {
        check_run_id(run_id)?;
        let dir = state_dir.join(run_id);
        check_state_dir(state_dir)?;
        fs::create_dir_all(state_dir).map_err(|e| PipelineError::io(state_dir, e))?;
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(PipelineError::io(&dir, e)),
        }
        let lock = lock_run(&dir)?;
        let state_path = dir.join("state.json");
        if state_path.exists() {
            let previous = read_state(&state_path)?;
            if !previous.steps.is_empty() {
                return Err(PipelineError::Run(format!(
                    "run {run_id} already exists ({}) and has started; continue it with `resume {run_id}` or \
                     delete what it created with `cleanup {run_id}`",
                    dir.display()
                )));
            }
        }
        let now = now_rfc3339();
        let run = RunDir {
            dir,
            state: RunState {
                run_id: run_id.to_string(),
                created_at: now.clone(),
                updated_at: now,
                status: RunStatus::Running,
                steps: BTreeMap::new(),
                resources: Resources::named(names),
                outcome: None,
                error: None,
                notes: Vec::new(),
                endpoint: None,
                sweep: None,
            },
            lock: Some(lock),
        };
        // config.json first: a state.json always has its config next to it.
        write_atomic(&run.path("config.json"), &to_json(config)?)?;
        run.save()?;
        run.log(None, "created", serde_json::json!({ "run_id": run_id }))?;
        Ok(run)
    }

    /// Opens an existing run to change it (`resume`, `cleanup`), taking its lock: [`PipelineError::Busy`] while
    /// another process holds it. `run` is a run id under `state_dir` or a path to a run directory. A run killed
    /// after saving its config but before its state gets its initial state back.
    pub fn acquire(state_dir: &Path, run: &str) -> Result<RunDir> {
        let dir = locate(state_dir, run)?;
        // Only a run directory gets a lock file: a directory that never held a run is refused untouched.
        if !dir.join("state.json").exists()
            && !dir.join("config.json").exists()
            && !dir.join(LOCK_FILE).exists()
        {
            // An empty directory is a run killed right after `run --run-id` made it: say how to start it.
            let empty = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_none());
            if empty {
                return Err(not_started(&dir));
            }
            return Err(PipelineError::Run(format!(
                "{} is not a run directory (no state.json or config.json)",
                dir.display()
            )));
        }
        let lock = lock_run(&dir)?;
        let state_path = dir.join("state.json");
        let state = if state_path.exists() {
            read_state(&state_path)?
        } else {
            let config = read_config(&dir)?;
            let run_id = dir
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or(run)
                .to_string();
            let now = now_rfc3339();
            RunState {
                resources: Resources::named(ResourceNames::of(&config, &run_id)),
                run_id,
                created_at: now.clone(),
                updated_at: now,
                status: RunStatus::Running,
                steps: BTreeMap::new(),
                outcome: None,
                error: None,
                notes: vec![
                    "the run was interrupted before its state was saved; started from its config"
                        .into(),
                ],
                endpoint: None,
                sweep: None,
            }
        };
        let run = RunDir {
            dir,
            state,
            lock: Some(lock),
        };
        run.save()?;
        Ok(run)
    }

    /// Opens an existing run to read it (`status`); takes no lock.
    pub fn open(state_dir: &Path, run: &str) -> Result<RunDir> {
        let dir = locate(state_dir, run)?;
        let state_path = dir.join("state.json");
        if !state_path.exists() {
            return Err(not_started(&dir));
        }
        let state = read_state(&state_path)?;
        Ok(RunDir {
            dir,
            state,
            lock: None,
        })
    }

    /// The process id of the process that holds the run's lock, if one does (`Some(None)` when the holder has
    /// not written its id yet). `None` for this handle's own lock.
    pub fn holder(&self) -> Option<Option<u32>> {
        if self.lock.is_some() {
            return None;
        }
        let path = self.path(LOCK_FILE);
        // Opened only when it is a regular file: opening a FIFO would wait for a writer.
        crate::files::check_regular(&path).ok()?;
        let file = File::open(path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(TryLockError::WouldBlock) => Some(read_pid(&self.path(LOCK_FILE))),
            Err(TryLockError::Error(_)) => None,
        }
    }

    /// Records the Bedrock endpoint the run talks to (`None`: AWS's own).
    pub(crate) fn record_endpoint(&mut self, endpoint: Option<String>) -> Result<()> {
        if self.state.endpoint != endpoint {
            self.state.endpoint = endpoint;
            self.touch()?;
        }
        Ok(())
    }

    /// The configuration the run was started with.
    pub fn config(&self) -> Result<PipelineConfig> {
        read_config(&self.dir)
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file in the run directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replaces `state.json` atomically.
    pub(crate) fn save(&self) -> Result<()> {
        write_atomic(&self.path("state.json"), &to_json(&self.state)?)
    }

    /// Appends one journal line (flushed and synced: the journal is the crash record).
    pub(crate) fn log(&self, step: Option<Step>, event: &str, detail: Value) -> Result<()> {
        let entry = JournalEntry {
            time: now_rfc3339(),
            step,
            event: event.to_string(),
            detail,
        };
        let path = self.path("journal.jsonl");
        let mut line =
            serde_json::to_string(&entry).map_err(|e| PipelineError::Run(e.to_string()))?;
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| PipelineError::io(&path, e))?;
        file.write_all(line.as_bytes())
            .map_err(|e| PipelineError::io(&path, e))?;
        file.sync_data().map_err(|e| PipelineError::io(&path, e))
    }

    /// Records that `step` starts (journal first, then state).
    pub(crate) fn begin(&mut self, step: Step) -> Result<()> {
        self.log(Some(step), "started", Value::Null)?;
        let attempts = self.state.steps.get(&step).map_or(0, |r| r.attempts) + 1;
        self.state.steps.insert(
            step,
            StepRecord {
                status: StepStatus::Started,
                started_at: now_rfc3339(),
                ended_at: None,
                attempts,
                error: None,
            },
        );
        self.touch()
    }

    /// Records how `step` ended.
    pub(crate) fn end(
        &mut self,
        step: Step,
        status: StepStatus,
        detail: Value,
        error: Option<String>,
    ) -> Result<()> {
        let event = match status {
            StepStatus::Started => "started",
            StepStatus::Finished => "finished",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        };
        let mut logged = detail;
        if let Some(error) = &error {
            logged = serde_json::json!({ "error": error, "detail": logged });
        }
        self.log(Some(step), event, logged)?;
        let now = now_rfc3339();
        let record = self.state.steps.entry(step).or_insert_with(|| StepRecord {
            status,
            started_at: now.clone(),
            ended_at: None,
            attempts: 0,
            error: None,
        });
        record.status = status;
        record.ended_at = Some(now);
        record.error = error;
        self.touch()
    }

    /// Saves the state with a new `updated_at`.
    pub(crate) fn touch(&mut self) -> Result<()> {
        self.state.updated_at = now_rfc3339();
        self.save()
    }

    /// Writes a file into the run directory atomically.
    pub(crate) fn write_file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.path(name);
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Reads a file of the run directory.
    pub(crate) fn read_file(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.path(name);
        crate::files::read_limited(&path, crate::files::MAX_RUN_FILE_BYTES)
            .map_err(|error| run_file_error(&path, error))
    }
}

/// The run directory `run` names: a directory holding a run, else `<state_dir>/<run>`.
fn locate(state_dir: &Path, run: &str) -> Result<PathBuf> {
    let candidate = Path::new(run);
    if candidate.join("state.json").is_file() || candidate.join("config.json").is_file() {
        return Ok(candidate.to_path_buf());
    }
    let dir = state_dir.join(run);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(PipelineError::Run(format!(
            "no run {run:?} (no directory {})",
            dir.display()
        )))
    }
}

/// The error for a run directory whose run was killed before it saved its config: nothing was done.
fn not_started(dir: &Path) -> PipelineError {
    let run_id = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    PipelineError::Run(format!(
        "run {run_id} ({}) was interrupted before it saved its configuration; nothing was created. Start it \
         again with `run --run-id {run_id} --config FILE`",
        dir.display()
    ))
}

/// `--state-dir` must be a directory, or not exist yet.
fn check_state_dir(state_dir: &Path) -> Result<()> {
    match fs::metadata(state_dir) {
        Ok(metadata) if !metadata.is_dir() => Err(PipelineError::Run(format!(
            "the state directory {} is not a directory; give --state-dir a directory (it is created when \
             missing)",
            state_dir.display()
        ))),
        _ => Ok(()),
    }
}

/// A run directory's file that is not a regular file, too large or not UTF-8 is the user's to fix (a run's
/// files are the pipeline's own: something else put it there); an I/O failure is the machine's.
fn run_file_error(path: &Path, error: crate::files::ReadError) -> PipelineError {
    match error {
        crate::files::ReadError::Unusable(why) => {
            PipelineError::Run(format!("{}: {why}", path.display()))
        }
        crate::files::ReadError::Io(e) => PipelineError::io(path, e),
    }
}

fn read_state(path: &Path) -> Result<RunState> {
    let text = crate::files::read_text(path, crate::files::MAX_STATE_BYTES)
        .map_err(|error| run_file_error(path, error))?;
    let corrupt = |e: serde_json::Error| {
        PipelineError::Run(format!("{}: corrupt run state: {e}", path.display()))
    };
    let mut value: Value = serde_json::from_str(&text).map_err(corrupt)?;
    upgrade_state(&mut value);
    serde_json::from_value(value).map_err(corrupt)
}

/// A `state.json` written before on-demand deployments kept its provisioned throughput in flat fields
/// (`throughput_name`, `throughput_generation`, `throughput_arn`, `throughput_status`, `throughput_deleted`):
/// they become `resources.serving`, requested when its create step had begun.
fn upgrade_state(state: &mut Value) {
    let requested = state
        .get("steps")
        .is_some_and(|steps| steps.get(Step::CreateThroughput.name()).is_some());
    let Some(resources) = state.get_mut("resources").and_then(Value::as_object_mut) else {
        return;
    };
    if resources.contains_key("serving") {
        return;
    }
    let Some(name) = resources.remove("throughput_name") else {
        return;
    };
    let mut take = |key: &str| resources.remove(key).unwrap_or(Value::Null);
    let serving = serde_json::json!({
        "kind": ServingKind::Throughput,
        "name": name,
        "generation": take("throughput_generation").as_u64().unwrap_or(0),
        "requested": requested,
        "arn": take("throughput_arn"),
        "status": take("throughput_status"),
        "deleted": take("throughput_deleted").as_bool().unwrap_or(false),
    });
    resources.insert("serving".into(), serving);
}

fn read_config(dir: &Path) -> Result<PipelineConfig> {
    let path = dir.join("config.json");
    if !path.exists() {
        return Err(not_started(dir));
    }
    let text = crate::files::read_text(&path, crate::files::MAX_STATE_BYTES)
        .map_err(|error| run_file_error(&path, error))?;
    serde_json::from_str(&text)
        .map_err(|e| PipelineError::Run(format!("{}: corrupt run config: {e}", path.display())))
}

/// Takes the run's lock (without waiting) and writes this process's id into the lock file.
fn lock_run(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| PipelineError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(PipelineError::Busy {
                run_dir: dir.to_path_buf(),
                pid: read_pid(&path),
            });
        }
        Err(TryLockError::Error(e)) => return Err(PipelineError::io(&path, e)),
    }
    let pid = format!("{}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.write_all(pid.as_bytes()))
        .and_then(|()| file.sync_data())
        .map_err(|e| PipelineError::io(&path, e))?;
    Ok(file)
}

fn read_pid(path: &Path) -> Option<u32> {
    let bytes = crate::files::read_limited(path, 32).ok()?;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

/// A new run id: UTC time plus random hex, e.g. `20260101-120000-3fa2c1` (valid in Bedrock names and tokens).
pub fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (date, time) = civil(now.as_secs());
    let suffix: u32 = rand::random::<u32>() & 0xff_ffff;
    format!("{date}-{time}-{suffix:06x}")
}

/// Run ids become parts of Bedrock names and client tokens: letters, digits and single `-`.
pub fn check_run_id(run_id: &str) -> Result<()> {
    let valid = !run_id.is_empty()
        && run_id.len() <= 40
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !run_id.starts_with('-')
        && !run_id.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(PipelineError::Run(format!(
            "invalid run id {run_id:?}: use up to 40 letters, digits and '-'"
        )))
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|e| PipelineError::Run(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Write to a uniquely named temporary file in the same directory, sync, rename: readers see the old or the new
/// file, never half, and two writers never share a temporary file. New files get the umask's permissions.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut file = builder
        .tempfile_in(dir)
        .map_err(|e| PipelineError::io(dir, e))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| PipelineError::io(file.path(), e))?;
    file.persist(path)
        .map_err(|e| PipelineError::io(path, e.error))?;
    Ok(())
}

/// Current UTC time as RFC 3339 (`2026-01-01T12:00:00Z`).
pub fn now_rfc3339() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// (`YYYYMMDD`, `HHMMSS`) of a Unix time.
fn civil(secs: u64) -> (String, String) {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(
            civil(1_700_000_000),
            ("20231114".to_string(), "221320".to_string())
        );
    }

    #[test]
    fn run_ids_are_valid_tokens() {
        let id = new_run_id();
        check_run_id(&id).unwrap();
        assert_eq!(id.len(), 22, "{id}");
        assert!(check_run_id("a/b").is_err());
        assert!(check_run_id("-a").is_err());
    }

    #[test]
    fn an_old_state_keeps_its_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let old = r#"{"run_id": "r1", "created_at": "t", "updated_at": "t", "status": "failed",
            "steps": {"create-throughput": {"status": "failed", "started_at": "t", "attempts": 1}},
            "resources": {"job_name": "j", "custom_model_name": "m", "throughput_name": "m-pt",
                "throughput_generation": 2, "throughput_arn": "arn:pt", "throughput_status": "Creating",
                "throughput_deleted": false}}"#;
        fs::write(&path, old).unwrap();
        let state = read_state(&path).unwrap();
        let serving = &state.resources.serving;
        assert_eq!(serving.kind, ServingKind::Throughput);
        assert_eq!(serving.name, "m-pt");
        assert_eq!(serving.generation, 2);
        assert_eq!(serving.arn.as_deref(), Some("arn:pt"));
        assert_eq!(serving.status.as_deref(), Some("Creating"));
        assert!(serving.requested && !serving.deleted && state.serving_live());
        assert_eq!(state.steps(), &Step::ALL[..]);
        // Written back in today's shape, it reads the same.
        fs::write(&path, to_json(&state).unwrap()).unwrap();
        assert_eq!(read_state(&path).unwrap(), state);
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
