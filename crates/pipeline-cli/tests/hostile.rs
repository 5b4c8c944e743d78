//! The binary against hostile or careless input (issue 19): every value a run would send is checked before any
//! AWS call, a silent endpoint ends the run within its timeouts naming the URL, and files that are not regular
//! files (FIFOs, directories) are refused with exit 2 instead of hanging or failing late.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use bertscore_pipeline::PipelineConfig;
use common::{example_config, pipeline, set, text};

/// The AWS environment of a machine whose endpoints refuse every connection: any AWS call fails the command.
const NOWHERE: [(&str, &str); 4] = [
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
];

/// Waits for `child` at most `limit`; a child still running then is killed and the test fails (it hung).
fn finish_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("{what} still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_run_refuse_each_bad_field_before_any_aws_call() {
    let stack = common::start_stack(common::emulator_config(|_| {})).await;
    let dir = tempfile::tempdir().unwrap();
    let crlf_recipient = toml::Value::Array(vec![
        "ml-team@example.com\r\nBcc: attacker@evil.example".into(),
    ]);
    let cases: [(&str, &str, toml::Value, &str); 5] = [
        ("aws", "region", "../../etc".into(), "aws.region"),
        ("s3", "bucket", "Bad_Bucket..Name".into(), "s3.bucket"),
        ("s3", "prefix", "../../../x".into(), "s3.prefix"),
        (
            "customization",
            "role_arn",
            "not-an-arn".into(),
            "customization.role_arn",
        ),
        ("notify", "to", crlf_recipient, "notify.to"),
    ];
    for (section, key, value, field) in cases {
        let config = example_config(
            dir.path(),
            "aws-sample-cohere.toml",
            "pipeline.toml",
            |config| set(config, section, key, value.clone()),
        );
        for command in ["plan", "run"] {
            let output = common::at(
                &stack,
                dir.path().join("runs"),
                &[command, "--config"],
                Some(config.as_ref()),
            );
            assert_eq!(
                output.status.code(),
                Some(2),
                "{field} {command}: {}",
                text(&output)
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(field), "{field} {command}: {stderr}");
            assert!(
                stderr.contains(&config.display().to_string()),
                "{field} {command} names the config file: {stderr}"
            );
            // The CR/LF is shown escaped, never written raw into the message.
            assert!(!stderr.contains("\r\nBcc"), "{stderr}");
        }
    }
    let emulator = stack.bedrock.state();
    assert!(emulator.calls.is_empty(), "{:?}", emulator.calls);
    let clients = common::iam_clients(&stack).await;
    let buckets = clients.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty(), "{:?}", buckets.buckets());
    assert!(tokio::task::block_in_place(|| stack.moto.sent_emails().unwrap()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_checks_the_recorded_config_before_any_aws_call() {
    let stack = common::start_stack(common::emulator_config(|_| {})).await;
    let dir = tempfile::tempdir().unwrap();
    let path = example_config(
        dir.path(),
        "aws-sample-cohere.toml",
        "pipeline.toml",
        |_| {},
    );
    let mut config = PipelineConfig::from_toml_file(&path).unwrap();
    config.s3.prefix = "../../../x".into();
    let run_dir = dir.path().join("runs").join("r1");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(
        run_dir.join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let output = common::at(&stack, dir.path().join("runs"), &["resume", "r1"], None);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("s3.prefix"), "{stderr}");
    assert!(stderr.contains("config.json"), "{stderr}");
    let emulator = stack.bedrock.state();
    assert!(emulator.calls.is_empty(), "{:?}", emulator.calls);
}

#[test]
fn a_silent_endpoint_ends_the_run_naming_it() {
    // Accepts every connection and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = example_config(
        dir.path(),
        "aws-sample-cohere.toml",
        "pipeline.toml",
        |config| {
            set(config, "aws", "connect_timeout_s", 1.0);
            set(config, "aws", "read_timeout_s", 1.0);
            set(config, "aws", "max_attempts", 2);
        },
    );
    let start = Instant::now();
    let child = pipeline()
        .args(["--state-dir"])
        .arg(dir.path().join("runs"))
        .args(["run", "--config"])
        .arg(&config)
        .envs(NOWHERE)
        .env("AWS_ENDPOINT_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two attempts of 1 s each and one backoff of at most 20 s, plus the model check: far below this.
    let output = finish_within(
        child,
        Duration::from_secs(120),
        "run against a silent endpoint",
    );
    let elapsed = start.elapsed();
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&url), "the endpoint is named: {stderr}");
    assert!(
        stderr.contains("GetFoundationModel"),
        "the operation is named: {stderr}"
    );
    assert!(stderr.contains("timed out"), "{stderr}");
    // Progress while waiting: each attempt that got no answer is reported.
    assert!(stderr.contains("attempt 1 of 2); retrying"), "{stderr}");
    assert!(elapsed < Duration::from_secs(90), "{elapsed:?}");
}

#[test]
fn files_that_are_not_regular_files_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let data_dir = dir.path().join("a-directory");
    std::fs::create_dir(&data_dir).unwrap();
    let cases = [
        ("training", &data_dir, "is a directory"),
        ("validation", &fifo, "is a FIFO"),
        ("references", &fifo, "is a FIFO"),
    ];
    for (key, path, said) in cases {
        let config = example_config(
            dir.path(),
            "aws-sample-cohere.toml",
            "pipeline.toml",
            |config| set(config, "data", key, path.display().to_string()),
        );
        for command in ["plan", "run"] {
            let child = pipeline()
                .args(["--state-dir"])
                .arg(dir.path().join("runs"))
                .args([command, "--config"])
                .arg(&config)
                .envs(NOWHERE)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let output = finish_within(child, Duration::from_secs(120), command);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{key} {command}: {}",
                text(&output)
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(said), "{key} {command}: {stderr}");
        }
    }
    // The config itself.
    let child = pipeline()
        .args(["plan", "--config"])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = finish_within(child, Duration::from_secs(30), "plan --config FIFO");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    // A state directory that is a regular file.
    let file = dir.path().join("state-file");
    std::fs::write(&file, "").unwrap();
    let config = example_config(
        dir.path(),
        "aws-sample-cohere.toml",
        "pipeline.toml",
        |_| {},
    );
    let output = pipeline()
        .args(["--state-dir"])
        .arg(&file)
        .args(["run", "--config"])
        .arg(&config)
        .envs(NOWHERE)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a directory"));
}

#[test]
fn a_state_file_that_is_not_a_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("runs");
    let path = example_config(
        dir.path(),
        "aws-sample-cohere.toml",
        "pipeline.toml",
        |_| {},
    );
    let config = PipelineConfig::from_toml_file(&path).unwrap();
    for (run, make_state) in [
        ("fifo-state", mkfifo as fn(&Path)),
        ("dir-state", |p: &Path| std::fs::create_dir(p).unwrap()),
    ] {
        let run_dir = state_dir.join(run);
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(
            run_dir.join("config.json"),
            serde_json::to_string(&config).unwrap(),
        )
        .unwrap();
        make_state(&run_dir.join("state.json"));
        for args in [
            vec!["status", run],
            vec!["cleanup", run],
            vec!["resume", run],
        ] {
            let child = pipeline()
                .args(["--state-dir"])
                .arg(&state_dir)
                .args(&args)
                .envs(NOWHERE)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let output = finish_within(child, Duration::from_secs(30), &args.join(" "));
            assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("state.json"), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn resume_and_cleanup_leave_nothing_in_a_directory_that_is_not_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("runs");
    let not_a_run = state_dir.join("photos");
    std::fs::create_dir_all(&not_a_run).unwrap();
    std::fs::write(not_a_run.join("cat.jpg"), "meow").unwrap();
    for command in ["resume", "cleanup"] {
        let output = pipeline()
            .args(["--state-dir"])
            .arg(&state_dir)
            .args([command, "photos"])
            .envs(NOWHERE)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            text(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("not a run directory"),
            "{command}: {}",
            text(&output)
        );
        let entries: Vec<_> = std::fs::read_dir(&not_a_run)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, vec!["cat.jpg"], "{command} left files behind");
    }
}

#[test]
fn status_escapes_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("runs");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"prompt\": \"p\", \"completion\": \"\"}\n").unwrap();
    let config = example_config(
        dir.path(),
        "aws-sample-cohere.toml",
        "pipeline.toml",
        |config| set(config, "data", "training", bad.display().to_string()),
    );
    // A run that fails at its validate step leaves a real state.json.
    let output = pipeline()
        .args(["--state-dir"])
        .arg(&state_dir)
        .args(["run", "--run-id", "r1", "--config"])
        .arg(&config)
        .envs(NOWHERE)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let state_path = state_dir.join("r1").join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["error"] = "\u{1b}]0;owned\u{7}\u{1b}[2J boom".into();
    state["resources"]["job_name"] = "job\u{1b}[31m".into();
    std::fs::write(&state_path, serde_json::to_string(&state).unwrap()).unwrap();
    let mut child = pipeline()
        .args(["--state-dir"])
        .arg(&state_dir)
        .args(["status", "r1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2J boom"),
        "{stdout}"
    );
    assert!(stdout.contains("job\\u{1b}[31m"), "{stdout}");
}
