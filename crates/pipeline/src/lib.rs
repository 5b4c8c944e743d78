//! The Bedrock model-customization loop on the AWS SDK for Rust: resumable, idempotent, never leaks provisioned throughput.
