//! A local Amazon Bedrock (control plane + runtime) speaking the real REST-JSON wire protocol,
//! so the real `aws-sdk-bedrock` and `aws-sdk-bedrockruntime` clients can be pointed at it
//! (both at the same endpoint) in tests and demos.
//!
//! * Control plane: model customization jobs (`InProgress` → `Completed`/`Failed` after
//!   [`EmulatorConfig::job_duration`]), custom models, provisioned throughputs (`Creating` →
//!   `InService`/`Failed` after [`EmulatorConfig::pt_duration`]); `clientRequestToken` makes
//!   creates idempotent.
//! * Custom model deployments (on-demand serving of customized Nova models: `Creating` →
//!   `Active`/`Failed` after [`EmulatorConfig::deployment_duration`]) and batch inference jobs
//!   that read their JSONL input from S3 (moto, [`EmulatorConfig::s3_endpoint`]) and write
//!   `<input>.out` and `manifest.json.out` back, shuffled, with configurable record errors and
//!   missing records. CreateModelCustomizationJob checks the training file's schema against the
//!   base model's family when an S3 endpoint is set.
//! * Runtime: `InvokeModel` with Cohere Command, Amazon Titan Text, Meta Llama and Amazon Nova
//!   (`messages-v1`) bodies, and `Converse`; model ids are foundation models, provisioned
//!   throughputs or deployment ARNs. Answers are deterministic: with an answer key (prompt → reference), the
//!   customized model answers better than, worse than or the same as its base model
//!   ([`Quality`]), or as a candidate rule on its hyper-parameters says ([`CandidateRule`]),
//!   so a BERTScore comparison has a known outcome.
//! * Faults ([`Faults`]): throttling, server errors, failed jobs and throughputs, poisoned prompts.
//! * Test endpoints (loopback `Host` only, else 403): `GET /_emulator/state` ([`EmulatorState`]),
//!   `GET`/`POST /_emulator/config` ([`EmulatorConfig`] as JSON, see [`config`]), `POST /_emulator/reset`,
//!   `GET /_emulator/requests` (every Bedrock request served, [`RequestRecord`]).
//! * Model facts come from the catalog (`bedrock-catalog`, `models/bedrock-models.toml`): GetFoundationModel
//!   and ListFoundationModels, end-of-life models refused (ResourceNotFoundException) unless
//!   [`EmulatorConfig::allow_end_of_life`] names them, customization regions and hyper-parameter ranges,
//!   no-commitment Provisioned Throughput limits, batch record bounds and batch/deployment support.
//! * The role a customization or batch job names is read from IAM ([`EmulatorConfig::iam_endpoint`], moto's):
//!   a role IAM lacks, or whose trust policy does not admit Bedrock for that kind of job, is refused
//!   (ValidationException, as AWS). Without an IAM endpoint the emulator does not start unless
//!   [`EmulatorConfig::skip_role_checks`] says so (logged).

#![deny(missing_docs)]

mod batch_records;
pub mod candidates;
pub mod config;
mod families;
mod iam;
mod runtime;
mod s3;
mod server;
mod store;
mod training;
mod wire;

pub use batch_records::Manifest;
pub use candidates::{CandidateOutcome, CandidateRule};
pub use config::{EmulatorConfig, Faults, Quality};
pub use runtime::good_answer;
pub use server::{Emulator, RequestRecord, router};
pub use store::{
    ACCOUNT, BatchJobState, CustomModelState, DeploymentState, EmulatorState, JobState,
    ProvisionedThroughputState, REGION, ServingEvent, ServingEventKind, ServingKind,
};
