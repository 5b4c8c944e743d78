//! A local Amazon Bedrock (control plane + runtime) speaking the real REST-JSON wire protocol,
//! so the real `aws-sdk-bedrock` and `aws-sdk-bedrockruntime` clients can be pointed at it
//! (both at the same endpoint) in tests and demos.
//!
//! * Control plane: model customization jobs (`InProgress` → `Completed`/`Failed` after
//!   [`EmulatorConfig::job_duration`]), custom models, provisioned throughputs (`Creating` →
//!   `InService`/`Failed` after [`EmulatorConfig::pt_duration`]); `clientRequestToken` makes
//!   creates idempotent.
//! * Runtime: `InvokeModel` with Cohere Command, Amazon Titan Text and Meta Llama bodies, and
//!   `Converse`. Answers are deterministic: with an answer key (prompt → reference), the
//!   customized model answers better than, worse than or the same as its base model
//!   ([`Quality`]), so a BERTScore comparison has a known outcome.
//! * Faults ([`Faults`]): throttling, server errors, failed jobs and throughputs, poisoned prompts.
//! * Test endpoints: `GET /_emulator/state` ([`EmulatorState`]), `GET`/`POST /_emulator/config`
//!   ([`EmulatorConfig`] as JSON, see [`config`]), `POST /_emulator/reset`.

#![deny(missing_docs)]

pub mod config;
mod runtime;
mod server;
mod store;
mod wire;

pub use config::{EmulatorConfig, Faults, Quality};
pub use runtime::good_answer;
pub use server::{Emulator, router};
pub use store::{CustomModelState, EmulatorState, JobState, ProvisionedThroughputState};
