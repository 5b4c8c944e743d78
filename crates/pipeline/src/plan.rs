//! `pipeline plan`: every AWS call a run would make, in order, found by running the run itself — the same
//! steps, the same code — against the port's dry run ([`DryRun`]), which records each call instead of sending
//! it. The run's own checks come first (config, data, scoring model resolved and loaded), the run directory is
//! a temporary one, and nothing reaches AWS (no client is built). What the dry run assumes about the account's
//! answers is said in [`crate::aws::DryRun`]'s documentation.

use std::path::Path;
use std::sync::Arc;

use crate::aws::{Aws, DryRun};
use crate::config::PipelineConfig;
use crate::error::{PipelineError, Result};
use crate::journal::check_run_id;
use crate::run::Pipeline;

pub use crate::aws::PlannedCall;

/// The run id a plan runs under when the caller's is a placeholder (`<run-id>`): shown as the placeholder.
const PLAN_RUN_ID: &str = "PLANRUNID";

/// The calls of a run of `config` with id `run_id` (a valid run id, or a placeholder such as `<run-id>`, shown
/// in the names and tokens in its place), in the order the run makes them, each under the step that makes it.
/// Checks everything first, as the run's `validate` step does; the scoring model is loaded and scores the dry
/// run's placeholder outputs (seconds).
pub async fn plan(config: &PipelineConfig, run_id: &str) -> Result<Vec<PlannedCall>> {
    config.validate(Path::new("config"))?;
    let (id, placeholder) = match check_run_id(run_id) {
        Ok(()) => (run_id, None),
        Err(_) => (PLAN_RUN_ID, Some(run_id)),
    };
    let state_dir = tempfile::tempdir().map_err(|e| PipelineError::io(std::env::temp_dir(), e))?;
    let region = config.aws.region_offline().await;
    let dry_run = Arc::new(DryRun::new(config, &region));
    let aws: Arc<dyn Aws> = dry_run.clone();
    let mut pipeline = Pipeline::create(config.clone(), aws, state_dir.path(), Some(id))?;
    pipeline.execute().await?;
    drop(pipeline);
    let mut calls = dry_run.calls();
    if let Some(shown) = placeholder {
        for call in &mut calls {
            call.detail = call.detail.replace(PLAN_RUN_ID, shown);
        }
    }
    Ok(calls)
}
