//! What the engine's test files share: the parity fixtures (tests/fixtures/parity) and their cases.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};

use serde_json::Value;

/// tests/fixtures/parity at the repository root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity")
}

/// A tiny model of the fixtures.
pub fn tiny(model: &str) -> PathBuf {
    fixtures().join("models").join(model)
}

/// The candidates and references (one or several per candidate) of a parity case.
pub fn case_inputs(case: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let path = fixtures().join("cases").join(format!("{case}.json"));
    let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_string();
    let cands = case["cands"].as_array().unwrap().iter().map(text).collect();
    let refs = case["refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r.as_array() {
            Some(group) => group.iter().map(text).collect(),
            None => vec![text(r)],
        })
        .collect();
    (cands, refs)
}
