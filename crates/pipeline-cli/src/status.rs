//! `status` for people: steps, resources, outcome, and what is billed now: a provisioned throughput by the hour
//! while it exists, an on-demand deployment per token it serves (nothing while idle). A serving kept on a local
//! emulator is not billed, and is gone once the emulator stops: `status` says which, probing a loopback endpoint
//! (it makes no AWS call).

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use bertscore_pipeline::report::is_local_endpoint;
use bertscore_pipeline::{RunDir, RunStatus, ServingKind, StepStatus};

/// `text` with every control character but the line breaks written as an escape (`\u{1b}`), so an id or a
/// message holding ESC sequences cannot move the cursor, recolour or retitle the terminal.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The text of `status RUN`.
pub fn describe(run: &RunDir) -> String {
    let state = &run.state;
    let mut out = String::new();
    let _ = writeln!(out, "run      {} ({})", state.run_id, run.dir().display());
    let activity = match (state.status, run.holder()) {
        (_, Some(Some(pid))) => format!("in progress in process {pid}"),
        (_, Some(None)) => "in progress in another process".to_string(),
        (RunStatus::Running, None) => {
            "interrupted: no process is running it; `resume` continues it, `cleanup` deletes what it created"
                .to_string()
        }
        (RunStatus::Succeeded, None) => "succeeded".to_string(),
        (RunStatus::Failed, None) => "failed".to_string(),
    };
    let _ = writeln!(
        out,
        "status   {activity}; created {}, updated {}",
        state.created_at, state.updated_at
    );
    if let Some(error) = &state.error {
        let _ = writeln!(out, "error    {error}");
    }
    let _ = writeln!(out, "steps");
    for &step in state.steps() {
        let status = match state.steps.get(&step) {
            None => "pending".to_string(),
            Some(record) => {
                let word = match record.status {
                    StepStatus::Started => "started (interrupted or running)",
                    StepStatus::Finished => "finished",
                    StepStatus::Failed => "FAILED",
                    StepStatus::Skipped => "skipped",
                };
                match &record.error {
                    Some(error) => format!("{word}: {error}"),
                    None => word.to_string(),
                }
            }
        };
        let _ = writeln!(out, "  {:<20} {status}", step.name());
    }
    if let Some(sweep) = &state.sweep {
        // Each candidate of a sweep: hyper-parameters, where it stands, its job and serving.
        let _ = writeln!(out, "candidates");
        out.push_str(&sweep.describe());
    }
    let r = &state.resources;
    if let Some(batch) = &r.batch_job {
        let _ = writeln!(
            out,
            "batch    {} [{}] base model {}, {} records{}",
            batch.arn.as_deref().unwrap_or(&batch.name),
            batch.status.as_deref().unwrap_or("-"),
            batch.model_id,
            batch.records,
            if batch.stopped { " (stopped)" } else { "" }
        );
    }
    if state.sweep.is_some() && r.job_arn.is_none() {
        // A sweep names its winner's job, model and serving here once it has decided; until then the
        // candidates above are the whole story.
        for note in &state.notes {
            let _ = writeln!(out, "note     {note}");
        }
        return out;
    }
    let _ = writeln!(
        out,
        "job      {} [{}]",
        r.job_arn.as_deref().unwrap_or(&r.job_name),
        r.job_status.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "model    {}{}",
        r.custom_model_arn
            .as_deref()
            .unwrap_or(&r.custom_model_name),
        if r.custom_model_deleted {
            " (deleted)"
        } else {
            ""
        }
    );
    let serving = &r.serving;
    let serving_state = if serving.deleted {
        " (deleted)".to_string()
    } else if state.serving_live() {
        let status = serving.status.as_deref().unwrap_or("?");
        match state.endpoint.as_deref().filter(|e| is_local_endpoint(e)) {
            None => match serving.kind {
                ServingKind::Throughput => format!(" [{status}] BILLED HOURLY until deleted"),
                ServingKind::Deployment => format!(
                    " [{status}] DEPLOYED until deleted: billed per token it serves, nothing while idle"
                ),
            },
            Some(endpoint) if answers(endpoint) => format!(
                " [{status}] on the local endpoint {endpoint} (an emulator, not AWS: nothing is billed)"
            ),
            Some(endpoint) => format!(
                " [{status}] on the local endpoint {endpoint}, which no longer answers: it went with the emulator \
                 (not AWS: nothing was billed)"
            ),
        }
    } else {
        String::new()
    };
    let label = match serving.kind {
        ServingKind::Throughput => "throughput",
        ServingKind::Deployment => "deployment",
    };
    let _ = writeln!(out, "{label} {}{serving_state}", serving.identifier());
    if let Some(failure) = &serving.failure {
        let _ = writeln!(out, "         failed: {failure}");
    }
    if let Some(outcome) = &state.outcome {
        let _ = writeln!(
            out,
            "verdict  {} (F1 base {:.4}, custom {:.4}, delta {:+.4}, 95% CI [{:+.4}, {:+.4}], p {:.4}; {} of {} scored)",
            outcome.verdict,
            outcome.base_f1,
            outcome.custom_f1,
            outcome.delta_f1,
            outcome.ci95[0],
            outcome.ci95[1],
            outcome.p_value,
            outcome.scored,
            outcome.items
        );
    }
    for note in &state.notes {
        let _ = writeln!(out, "note     {note}");
    }
    // Ids, names and messages come from the state file and from AWS: never raw control sequences to the terminal.
    escape_controls(&out)
}

/// Whether something accepts connections at the endpoint's address (loopback only: a few milliseconds).
fn answers(endpoint: &str) -> bool {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else if endpoint.starts_with("https") {
        format!("{authority}:443")
    } else {
        format!("{authority}:80")
    };
    let addresses: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map(|a| a.collect())
        .unwrap_or_default();
    addresses
        .iter()
        .any(|address| TcpStream::connect_timeout(address, Duration::from_millis(300)).is_ok())
}
