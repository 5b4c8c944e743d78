//! The Bedrock model-customization loop on the AWS SDK for Rust: resumable, idempotent, never leaks provisioned
//! throughput.
//!
//! A run validates the training data locally, uploads the data to S3, fine-tunes the base model
//! (CreateModelCustomizationJob), provisions the custom model (CreateProvisionedModelThroughput), runs every
//! evaluation prompt on both models, scores both with BERTScore ([`bertscore_compare::compare`]), deletes the
//! throughput unless the custom model wins, emails the outcome (SESv2) and writes a report. Each step is journaled
//! in a run directory ([`journal`]) before and after it runs, so [`Pipeline::execute`] on an interrupted run
//! continues where it stopped, re-using the ARNs it recorded; client request tokens derived from the run id make
//! even a crash between a create call and its journal entry safe.
//!
//! ```no_run
//! # async fn demo() -> bertscore_pipeline::Result<()> {
//! use bertscore_pipeline::{AwsSettings, Clients, Pipeline, PipelineConfig};
//! let config = PipelineConfig::from_toml_file("pipeline.toml".as_ref())?;
//! let clients = Clients::connect(&config.aws).await;
//! // Takes the run's lock: a second process gets `PipelineError::Busy` until this one ends.
//! let mut pipeline = Pipeline::create(config, clients, ".bertscore/runs".as_ref(), None)?;
//! let report = pipeline.execute().await?;
//! println!("{:?}", report.outcome.map(|o| o.verdict));
//! # Ok(()) }
//! ```
//!
//! Everything is checked before the first AWS call (the `validate` step, and [`plan`]): the whole config, the
//! data, and the scoring model, resolved and loaded.

#![deny(missing_docs)]

pub mod adapter;
pub mod aws;
mod batch;
pub mod config;
mod data;
mod endpoint;
pub mod error;
pub mod fields;
pub mod files;
mod inference;
pub mod journal;
pub mod models;
mod naming;
pub mod plan;
mod poll;
pub mod preflight;
pub mod report;
pub mod run;
pub mod serving;
pub mod sweep;
mod training;

pub use adapter::AdapterKind;
pub use aws::{Aws, AwsSettings, Clients, DryRun, Endpoints, StaticCredentials};
pub use config::{PipelineConfig, StepFunctionsInput};
pub use error::{AwsFailure, ErrorKind, PipelineError, Result};
pub use journal::{Outcome, RunDir, RunState, RunStatus, Step, StepStatus};
pub use plan::{PlannedCall, plan};
pub use report::{Disposition, Report};
pub use run::Pipeline;
pub use serving::{ServingKind, ServingMode, ServingRecord};
