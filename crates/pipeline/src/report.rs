//! The run's final report (JSON, written locally and to S3) and the outcome email rendered from it (text and
//! HTML), so the two can never disagree.

use serde::{Deserialize, Serialize};

use crate::journal::{Outcome, RunStatus};
use crate::serving::ServingKind;

/// One item that has no usable output from a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The item's id.
    pub id: String,
    /// `base` or `custom`.
    pub model: String,
    /// The last error (summarised).
    pub error: String,
    /// Calls made for the item.
    pub attempts: u32,
}

/// What became of a billed resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disposition {
    /// Never created.
    #[default]
    None,
    /// Exists and was kept (the custom model won).
    Kept,
    /// Deleted by the run or by `cleanup`.
    Deleted,
    /// Exists and must be removed with `bertscore pipeline cleanup RUN`.
    NeedsCleanup,
}

impl Disposition {
    /// The disposition in words, for the email.
    pub fn describe(self) -> &'static str {
        match self {
            Disposition::None => "not created",
            Disposition::Kept => "kept",
            Disposition::Deleted => "deleted",
            Disposition::NeedsCleanup => {
                "STILL EXISTS: run `bertscore pipeline cleanup` to delete it"
            }
        }
    }
}

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The run id.
    pub run_id: String,
    /// How the run ended.
    pub status: RunStatus,
    /// When it was created.
    pub created_at: String,
    /// When this report was written.
    pub finished_at: String,
    /// The model customized.
    pub base_model_id: String,
    /// The base model's id for inference.
    pub inference_model_id: String,
    /// The request format used for both models.
    pub adapter: String,
    /// The job's name.
    pub job_name: String,
    /// The job's ARN.
    pub job_arn: Option<String>,
    /// The job's last status.
    pub job_status: Option<String>,
    /// Why the job failed.
    pub job_failure: Option<String>,
    /// The custom model's name.
    pub custom_model_name: String,
    /// The custom model's ARN.
    pub custom_model_arn: Option<String>,
    /// What became of the custom model.
    pub custom_model: Disposition,
    /// The throughput's ARN.
    pub throughput_arn: Option<String>,
    /// What became of the throughput.
    pub throughput: Disposition,
    /// What served the custom model: `throughput` or `deployment` (on demand).
    #[serde(default)]
    pub serving: ServingKind,
    /// The on-demand deployment's ARN.
    #[serde(default)]
    pub deployment_arn: Option<String>,
    /// What became of the on-demand deployment.
    #[serde(default)]
    pub deployment: Disposition,
    /// The Bedrock endpoint the run used when it was not AWS's own (see [`Report::billed_by_aws`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The evaluation's outcome.
    pub outcome: Option<Outcome>,
    /// Items without an output, per model.
    pub failures: Vec<FailureRecord>,
    /// The step that failed and why, for failed runs.
    pub failed_step: Option<String>,
    /// Why the run failed.
    pub error: Option<String>,
    /// What the failure handling or `cleanup` did.
    pub notes: Vec<String>,
    /// Role → `s3://bucket/key` of everything the run wrote to S3.
    pub objects: std::collections::BTreeMap<String, String>,
    /// A sweep's verdict and ranking (`[sweep]` runs, once decided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<crate::sweep::SweepResult>,
    /// The batch inference job that ran the base model's prompts, when they went through one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_job: Option<crate::journal::BatchJobRecord>,
}

/// An email, ready for SESv2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

impl Report {
    /// What became of the custom model's serving (the deployment or the throughput).
    pub fn serving_disposition(&self) -> Disposition {
        match self.serving {
            ServingKind::Throughput => self.throughput,
            ServingKind::Deployment => self.deployment,
        }
    }

    /// Whether the run's resources live on AWS (billed), rather than on a local emulator.
    pub fn billed_by_aws(&self) -> bool {
        self.endpoint
            .as_deref()
            .is_none_or(|e| !is_local_endpoint(e))
    }

    /// The outcome email, subject lines starting with `subject_prefix`.
    pub fn email(&self, subject_prefix: &str) -> Email {
        let subject = match (&self.status, &self.outcome) {
            (RunStatus::Succeeded, Some(_)) if self.sweep.is_some() => {
                let sweep = self.sweep.as_ref().expect("checked");
                format!(
                    "{subject_prefix} sweep verdict: {} ({}): {} {}",
                    sweep.verdict,
                    sweep.verdict_in_words(),
                    self.serving.describe(),
                    self.serving_disposition().describe_short()
                )
            }
            (RunStatus::Succeeded, Some(outcome)) => format!(
                "{subject_prefix} verdict: {} ({}): {} {}",
                outcome.verdict,
                match outcome.verdict {
                    bertscore_compare::Verdict::Custom => "custom model is better",
                    bertscore_compare::Verdict::Base => "custom model is worse",
                    bertscore_compare::Verdict::Inconclusive => "no significant difference",
                },
                self.serving.describe(),
                self.serving_disposition().describe_short()
            ),
            _ => format!(
                "{subject_prefix} run {} FAILED{}: {} {}",
                self.run_id,
                self.failed_step
                    .as_deref()
                    .map(|s| format!(" at {s}"))
                    .unwrap_or_default(),
                self.serving.describe(),
                self.serving_disposition().describe_short()
            ),
        };
        let lines = self.lines();
        let text = lines
            .iter()
            .map(|(label, value)| {
                if label.is_empty() {
                    value.clone()
                } else {
                    format!("{label}: {value}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut html =
            String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\n<h2>");
        html.push_str(&escape(&subject));
        html.push_str("</h2>\n<table cellpadding=\"4\" style=\"border-collapse:collapse\">\n");
        for (label, value) in &lines {
            if label.is_empty() {
                html.push_str(&format!(
                    "<tr><td colspan=\"2\">{}</td></tr>\n",
                    escape(value)
                ));
            } else {
                html.push_str(&format!(
                    "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
                    escape(label),
                    escape(value)
                ));
            }
        }
        html.push_str("</table>\n");
        let mut text = text;
        if let Some(sweep) = &self.sweep {
            let heading = sweep.heading();
            text.push_str(&format!("\n\n{heading}\n{}", sweep.table()));
            html.push_str(&format!(
                "<h3>{}</h3>\n<pre>{}</pre>\n",
                escape(&heading),
                escape(&sweep.table())
            ));
        }
        html.push_str("</body></html>\n");
        Email {
            subject,
            text,
            html,
        }
    }

    /// The email's content as (label, value) rows; an empty label is a free-standing line.
    fn lines(&self) -> Vec<(String, String)> {
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut add = |label: &str, value: String| lines.push((label.to_string(), value));
        add("Run", self.run_id.clone());
        if let Some(sweep) = &self.sweep {
            // The rows below (verdict, F1, serving, model) are the best candidate's; the ranking follows.
            add(
                "Sweep",
                match sweep.winner() {
                    Some(row) => format!(
                        "{} candidates; winner {} ({})",
                        sweep.ranking.len(),
                        row.id,
                        crate::sweep::describe_set(&row.overrides)
                    ),
                    None => format!(
                        "{} candidates; verdict {}: no candidate kept",
                        sweep.ranking.len(),
                        sweep.verdict
                    ),
                },
            );
        }
        add(
            "Status",
            match self.status {
                RunStatus::Succeeded => "succeeded".into(),
                RunStatus::Failed => "failed".into(),
                RunStatus::Running => "running".into(),
            },
        );
        if let Some(error) = &self.error {
            add(
                "Failure",
                match &self.failed_step {
                    Some(step) => format!("{step}: {error}"),
                    None => error.clone(),
                },
            );
        }
        add(
            "Base model",
            format!("{} (adapter {})", self.inference_model_id, self.adapter),
        );
        if let Some(job) = &self.batch_job {
            add(
                "Base model's prompts",
                format!(
                    "batch inference job {} ({} records) [{}]",
                    job.arn.as_deref().unwrap_or(&job.name),
                    job.records,
                    job.status.as_deref().unwrap_or("not created")
                ),
            );
        }
        add(
            "Customization job",
            format!(
                "{} [{}]",
                self.job_arn.as_deref().unwrap_or(&self.job_name),
                self.job_status.as_deref().unwrap_or("not started")
            ),
        );
        if let Some(failure) = &self.job_failure {
            add("Job failure", failure.clone());
        }
        if let Some(outcome) = &self.outcome {
            add("Verdict", outcome.verdict.to_string());
            add("Mean F1 base", format!("{:.4}", outcome.base_f1));
            add("Mean F1 custom", format!("{:.4}", outcome.custom_f1));
            add(
                "Delta F1 (custom - base)",
                format!(
                    "{:+.4}, 95% CI [{:+.4}, {:+.4}], p-value {:.4}",
                    outcome.delta_f1, outcome.ci95[0], outcome.ci95[1], outcome.p_value
                ),
            );
            add(
                "Wins / losses / ties",
                format!("{} / {} / {}", outcome.wins, outcome.losses, outcome.ties),
            );
            add(
                "Items scored",
                format!("{} of {}", outcome.scored, outcome.items),
            );
            add("Scorer", outcome.settings.clone());
        }
        add(
            "Failed inferences",
            if self.failures.is_empty() {
                "none".into()
            } else {
                format!("{}", self.failures.len())
            },
        );
        for failure in self.failures.iter().take(20) {
            add(
                "",
                format!(
                    "  item {} ({}, {} attempts): {}",
                    failure.id, failure.model, failure.attempts, failure.error
                ),
            );
        }
        let (label, arn) = match self.serving {
            ServingKind::Throughput => ("Provisioned throughput", &self.throughput_arn),
            ServingKind::Deployment => ("On-demand deployment", &self.deployment_arn),
        };
        let disposition = self.serving_disposition();
        add(
            label,
            format!(
                "{} {}{}",
                arn.as_deref().unwrap_or("-"),
                disposition.describe(),
                if disposition == Disposition::Kept {
                    format!(" ({})", self.serving.billing())
                } else {
                    String::new()
                }
            ),
        );
        if let Some(endpoint) = &self.endpoint {
            add(
                "Endpoint",
                if self.billed_by_aws() {
                    endpoint.clone()
                } else {
                    format!("{endpoint} (a local endpoint, not AWS: nothing is billed)")
                },
            );
        }
        add(
            "Custom model",
            format!(
                "{} {}",
                self.custom_model_arn
                    .as_deref()
                    .unwrap_or(&self.custom_model_name),
                self.custom_model.describe()
            ),
        );
        for note in &self.notes {
            add("Note", note.clone());
        }
        if let Some(report) = self.objects.get("report") {
            add("Report", report.clone());
        }
        lines
    }
}

impl Disposition {
    fn describe_short(self) -> &'static str {
        match self {
            Disposition::None => "not created",
            Disposition::Kept => "kept",
            Disposition::Deleted => "deleted",
            Disposition::NeedsCleanup => "needs cleanup",
        }
    }
}

/// Whether an endpoint URL points at this machine (an emulator such as `bertscore-local-stack`): loopback
/// addresses and `localhost`. Anything else (a VPC endpoint, a proxy) may be AWS and is treated as billed.
pub fn is_local_endpoint(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            run_id: "r1".into(),
            status: RunStatus::Succeeded,
            created_at: "t0".into(),
            finished_at: "t1".into(),
            base_model_id: "cohere.command-light-text-v14:7:4k".into(),
            inference_model_id: "cohere.command-light-text-v14".into(),
            adapter: "cohere".into(),
            job_name: "j".into(),
            job_arn: Some("arn:job".into()),
            job_status: Some("Completed".into()),
            job_failure: None,
            custom_model_name: "m".into(),
            custom_model_arn: Some("arn:model".into()),
            custom_model: Disposition::Kept,
            throughput_arn: Some("arn:pt".into()),
            throughput: Disposition::Kept,
            serving: ServingKind::Throughput,
            deployment_arn: None,
            deployment: Disposition::None,
            endpoint: None,
            outcome: Some(Outcome {
                verdict: bertscore_compare::Verdict::Custom,
                items: 11,
                scored: 10,
                failed_items: vec!["3".into()],
                base_f1: 0.5,
                custom_f1: 0.75,
                delta_f1: 0.25,
                ci95: [0.1, 0.4],
                p_value: 0.002,
                wins: 9,
                losses: 1,
                ties: 0,
                settings: "all-MiniLM".into(),
            }),
            failures: vec![FailureRecord {
                id: "3".into(),
                model: "base".into(),
                error: "<ValidationException>".into(),
                attempts: 1,
            }],
            failed_step: None,
            error: None,
            notes: vec![],
            objects: Default::default(),
            sweep: None,
            batch_job: None,
        }
    }

    #[test]
    fn the_email_states_verdict_means_and_resources() {
        let email = report().email("[p]");
        assert_eq!(
            email.subject,
            "[p] verdict: custom (custom model is better): provisioned throughput kept"
        );
        assert!(
            email.text.contains("Mean F1 base: 0.5000"),
            "{}",
            email.text
        );
        assert!(
            email
                .text
                .contains("95% CI [+0.1000, +0.4000], p-value 0.0020"),
            "{}",
            email.text
        );
        assert!(
            email
                .text
                .contains("item 3 (base, 1 attempts): <ValidationException>")
        );
        assert!(email.html.contains("&lt;ValidationException&gt;"));
        assert!(!email.html.contains("<ValidationException>"));
    }

    #[test]
    fn only_loopback_endpoints_are_local() {
        for url in [
            "http://127.0.0.1:4566",
            "http://localhost:8080/",
            "http://[::1]:9000",
            "http://127.1.2.3",
        ] {
            assert!(is_local_endpoint(url), "{url}");
        }
        for url in [
            "https://bedrock.us-east-1.amazonaws.com",
            "https://vpce-1.bedrock.us-east-1.vpce.amazonaws.com",
            "http://10.0.0.1:80",
            "http://localhost.example.com",
        ] {
            assert!(!is_local_endpoint(url), "{url}");
        }
        let mut report = report();
        assert!(report.billed_by_aws());
        report.endpoint = Some("http://127.0.0.1:4000".into());
        assert!(!report.billed_by_aws());
        assert!(report.email("").text.contains(
            "Endpoint: http://127.0.0.1:4000 (a local endpoint, not AWS: nothing is billed)"
        ));
    }

    #[test]
    fn a_deployment_run_names_the_deployment_and_how_it_bills() {
        let mut report = report();
        report.serving = ServingKind::Deployment;
        report.throughput_arn = None;
        report.throughput = Disposition::None;
        report.deployment_arn = Some("arn:deployment".into());
        report.deployment = Disposition::Kept;
        let email = report.email("[p]");
        assert_eq!(
            email.subject,
            "[p] verdict: custom (custom model is better): on-demand deployment kept"
        );
        assert!(
            email.text.contains(
                "On-demand deployment: arn:deployment kept (billed per token used, nothing while idle)"
            ),
            "{}",
            email.text
        );
        assert!(
            !email.text.contains("Provisioned throughput"),
            "{}",
            email.text
        );
        report.deployment = Disposition::Deleted;
        assert!(
            report
                .email("")
                .subject
                .ends_with("on-demand deployment deleted")
        );
    }

    #[test]
    fn a_failed_run_says_what_is_left() {
        let mut report = report();
        report.status = RunStatus::Failed;
        report.outcome = None;
        report.failed_step = Some("inference".into());
        report.error = Some("too many failures".into());
        report.throughput = Disposition::NeedsCleanup;
        let email = report.email("[p]");
        assert_eq!(
            email.subject,
            "[p] run r1 FAILED at inference: provisioned throughput needs cleanup"
        );
        assert!(email.text.contains("Failure: inference: too many failures"));
        assert!(email.text.contains("bertscore pipeline cleanup"));
    }
}
