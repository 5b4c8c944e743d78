//! `bertscore-local-stack` stops moto when it is told to stop: SIGTERM (what `kill`, systemd and CI send) and
//! SIGINT (Ctrl-C), with or without a command running against the stack. Before, SIGTERM ended the process
//! without running its cleanup and left moto running.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts the stack (running `command` after `--` when given), waits for moto's address, sends `signal`, and
/// returns the exit status and moto's port.
fn stop_with(signal: &str, command: &[&str]) -> (Option<i32>, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bertscore-local-stack"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args(if command.is_empty() {
            vec![]
        } else {
            [&["--"], command].concat()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines
            .next()
            .expect("the stack reports moto's address")
            .unwrap();
        if let Some(url) = line.strip_prefix("moto (S3, SESv2, IAM) on http://127.0.0.1:") {
            break url.trim().parse().unwrap();
        }
    };
    // Wait until the emulator is up too (the line after moto's), so the signal comes while everything runs.
    lines.next().unwrap().unwrap();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "moto is up"
    );
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    (code, port)
}

fn assert_moto_stopped(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "moto still answers on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_stops_moto() {
    let (code, port) = stop_with("-TERM", &[]);
    assert_eq!(code, Some(143));
    assert_moto_stopped(port);
}

#[test]
fn sigint_stops_moto() {
    let (code, port) = stop_with("-INT", &[]);
    assert_eq!(code, Some(143));
    assert_moto_stopped(port);
}

#[test]
fn sigterm_during_a_command_stops_the_command_and_moto() {
    let (code, port) = stop_with("-TERM", &["sleep", "60"]);
    assert_eq!(code, Some(143));
    assert_moto_stopped(port);
}
