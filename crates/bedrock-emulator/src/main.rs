//! A local Amazon Bedrock (control plane + runtime) speaking the real REST-JSON wire protocol, for tests and demos.
fn main() {}
