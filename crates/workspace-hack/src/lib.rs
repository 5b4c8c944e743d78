//! No code: this crate exists for its `Cargo.toml` (see there). Depending on it aligns the features of the
//! scoring binary's dependencies with the whole workspace's, so the two builds share their artifacts.
