//! Test and demo support: moto server (S3, SESv2, IAM) and the Bedrock emulator on free loopback
//! ports, plus the environment that points the AWS SDK at them. The emulator asks moto's IAM for the role each
//! customization or batch job names, so a test or demo creates its roles there first ([`LocalStack::create_role`]).
//!
//! moto's SESv2 only sends from verified identities: call `CreateEmailIdentity` for the
//! sender address (or its domain) first; moto marks it verified at once.

#![deny(missing_docs)]

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bedrock_catalog::roles::{JobKind, Roles, trust_policy};
use bedrock_emulator::{ACCOUNT, Emulator, EmulatorConfig, REGION};
use serde_json::{Value, json};

/// Program (and leading arguments) that runs moto's server; `-H HOST -p PORT` are appended.
pub const MOTO_CMD_ENV: &str = "BERTSCORE_MOTO_CMD";
const DEFAULT_MOTO_CMD: &str = "python3 -m moto.server";
const INSTALL_HINT: &str = "install it with: pip install 'moto[server]'";
/// How long moto may take to answer its first request (Python imports are slow on cold caches).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the local stack could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum LocalStackError {
    /// Python runs, but moto is not installed.
    #[error("moto server is not installed ({command}): {INSTALL_HINT}\n{log}")]
    MotoNotInstalled {
        /// The command that was run.
        command: String,
        /// moto's last output lines.
        log: String,
    },
    /// The moto command could not be started at all.
    #[error("could not start moto server ({command}): {INSTALL_HINT}")]
    Spawn {
        /// The command that was run.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// moto exited before it answered HTTP.
    #[error("moto server ({command}) exited with {status} before answering:\n{log}")]
    MotoExited {
        /// The command that was run.
        command: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// moto's last output lines.
        log: String,
    },
    #[error(
        "moto server ({command}) did not answer on {endpoint} within {STARTUP_TIMEOUT:?}:\n{log}"
    )]
    /// moto did not answer in time.
    MotoTimeout {
        /// The command that was run.
        command: String,
        /// Where it should have answered.
        endpoint: String,
        /// moto's last output lines.
        log: String,
    },
    /// No loopback port could be bound.
    #[error("no free loopback port")]
    Port(#[source] std::io::Error),
    /// A request to moto's inspection API failed.
    #[error("request to moto failed: {0}")]
    Http(String),
    /// moto answered something unreadable.
    #[error("unexpected answer from moto: {0}")]
    BadResponse(String),
    /// The emulator could not bind its port.
    #[error("could not start the Bedrock emulator")]
    Emulator(#[source] std::io::Error),
}

/// A moto server child process on a loopback port; killed when dropped.
pub struct Moto {
    child: Child,
    port: u16,
    log_path: PathBuf,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers HTTP.
    pub fn start() -> Result<Moto, LocalStackError> {
        Self::start_on_port(free_port()?)
    }

    /// Starts moto on `port` of 127.0.0.1 and waits until it answers HTTP.
    pub fn start_on_port(port: u16) -> Result<Moto, LocalStackError> {
        let command_line =
            std::env::var(MOTO_CMD_ENV).unwrap_or_else(|_| DEFAULT_MOTO_CMD.to_owned());
        let mut words = command_line.split_whitespace();
        let program = words.next().unwrap_or("python3");
        let log_path =
            std::env::temp_dir().join(format!("bertscore-moto-{}-{port}.log", std::process::id()));
        // moto logs every request; a pipe nobody reads would fill and stall it, so use a file.
        let log = std::fs::File::create(&log_path).map_err(|source| LocalStackError::Spawn {
            command: command_line.clone(),
            source,
        })?;
        let stderr = log.try_clone().map_err(|source| LocalStackError::Spawn {
            command: command_line.clone(),
            source,
        })?;
        let child = Command::new(program)
            .args(words)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|source| LocalStackError::Spawn {
                command: command_line.clone(),
                source,
            })?;
        let mut moto = Moto {
            child,
            port,
            log_path,
        };
        moto.wait_until_ready(&command_line)?;
        Ok(moto)
    }

    fn wait_until_ready(&mut self, command: &str) -> Result<(), LocalStackError> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let agent = agent(Duration::from_secs(2));
        let probe = format!("{}/moto-api/data.json", self.endpoint());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = self.log();
                return Err(if log.contains("No module named") {
                    LocalStackError::MotoNotInstalled {
                        command: command.to_owned(),
                        log,
                    }
                } else {
                    LocalStackError::MotoExited {
                        command: command.to_owned(),
                        status,
                        log,
                    }
                });
            }
            match agent.get(&probe).call() {
                Ok(_) | Err(ureq::Error::Status(..)) => return Ok(()),
                Err(ureq::Error::Transport(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(ureq::Error::Transport(_)) => {
                    return Err(LocalStackError::MotoTimeout {
                        command: command.to_owned(),
                        endpoint: self.endpoint(),
                        log: self.log(),
                    });
                }
            }
        }
    }

    /// The last lines moto wrote (for error messages).
    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log_path) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `http://127.0.0.1:PORT`: the endpoint for every moto-backed service (S3, SESv2, ...).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// moto's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Emails moto accepted through SES or SESv2 `SendEmail`, read from `GET /moto-api/data.json`
    /// (moto keeps them as `ses.Message` for simple content and `ses.RawMessage` for raw MIME).
    ///
    /// Each item is `{"id", "kind": "simple"|"raw", "source", "subject", "body", "recipients":
    /// [unique addresses], "destinations": <moto's value>}`, plus `"raw_data"` for raw messages
    /// (subject and body are then parsed from the MIME text; multipart bodies are left as
    /// they are). For simple content moto stores the HTML part when there is one, else the
    /// text part. Simple messages come first, then raw ones, each in sending order.
    ///
    /// Blocking: call it from `spawn_blocking` inside async code that must not stall.
    pub fn sent_emails(&self) -> Result<Vec<Value>, LocalStackError> {
        let data = self.get_json("/moto-api/data.json")?;
        let ses = &data["ses"];
        let mut emails = Vec::new();
        for message in ses["Message"].as_array().into_iter().flatten() {
            let recipients = unique_addresses(
                message["destinations"]
                    .as_object()
                    .into_iter()
                    .flat_map(|d| d.values())
                    .filter_map(Value::as_array)
                    .flatten(),
            );
            emails.push(json!({
                "id": message["id"],
                "kind": "simple",
                "source": message["source"],
                "subject": message["subject"],
                "body": message["body"],
                "recipients": recipients,
                "destinations": message["destinations"],
            }));
        }
        for message in ses["RawMessage"].as_array().into_iter().flatten() {
            let raw = message["raw_data"].as_str().unwrap_or_default();
            let (subject, body) = parse_mime(raw);
            emails.push(json!({
                "id": message["id"],
                "kind": "raw",
                "source": message["source"],
                "subject": subject,
                "body": body,
                "recipients": unique_addresses(message["destinations"].as_array().into_iter().flatten()),
                "destinations": message["destinations"],
                "raw_data": raw,
            }));
        }
        Ok(emails)
    }

    /// Forgets all moto state (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), LocalStackError> {
        agent(Duration::from_secs(10))
            .post(&format!("{}/moto-api/reset", self.endpoint()))
            .call()
            .map_err(|e| LocalStackError::Http(e.to_string()))?;
        Ok(())
    }

    fn get_json(&self, path: &str) -> Result<Value, LocalStackError> {
        let url = format!("{}{path}", self.endpoint());
        let response = agent(Duration::from_secs(30))
            .get(&url)
            .call()
            .map_err(|e| LocalStackError::Http(format!("GET {url}: {e}")))?;
        let text = response
            .into_string()
            .map_err(|e| LocalStackError::Http(format!("GET {url}: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| LocalStackError::BadResponse(format!("GET {url}: {e}")))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(timeout).build()
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, LocalStackError> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(LocalStackError::Port)?;
    Ok(listener.local_addr().map_err(LocalStackError::Port)?.port())
}

/// Bare addresses (`Name <a@b>` → `a@b`), first occurrence order, no duplicates.
fn unique_addresses<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<String> {
    let mut seen = Vec::new();
    for address in values.filter_map(Value::as_str) {
        let bare = match (address.rfind('<'), address.rfind('>')) {
            (Some(start), Some(end)) if start < end => &address[start + 1..end],
            _ => address,
        }
        .trim()
        .to_owned();
        if !seen.contains(&bare) {
            seen.push(bare);
        }
    }
    seen
}

/// The `Subject` header and the body of a MIME message (headers end at the first blank line).
fn parse_mime(raw: &str) -> (Option<String>, String) {
    let normalized = raw.replace("\r\n", "\n");
    let (headers, body) = normalized
        .split_once("\n\n")
        .unwrap_or((normalized.as_str(), ""));
    let subject = headers
        .lines()
        .find_map(|line| {
            line.split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("subject"))
        })
        .map(|(_, value)| value.trim().to_owned());
    (subject, body.to_owned())
}

/// moto and the Bedrock emulator together: everything the pipeline talks to, locally.
pub struct LocalStack {
    /// moto: S3 and SESv2.
    pub moto: Moto,
    /// The Bedrock emulator: control plane and runtime.
    pub bedrock: Emulator,
}

/// The AWS sample's base model (Cohere Command Light), end of life on Amazon Bedrock: the local stack serves it
/// anyway ([`EmulatorConfig::allow_end_of_life`], logged by the emulator at start) so the sample's legacy demo
/// (`datasets/pipeline/aws-sample-cohere.toml`) still runs locally. Nothing else end of life is served.
pub const LEGACY_SAMPLE_MODEL: &str = "cohere.command-light-text-v14";

/// Adds [`LEGACY_SAMPLE_MODEL`] to the config's `allow_end_of_life`.
pub fn allow_legacy_sample(config: &mut EmulatorConfig) {
    if !config
        .allow_end_of_life
        .iter()
        .any(|id| id == LEGACY_SAMPLE_MODEL)
    {
        config
            .allow_end_of_life
            .push(LEGACY_SAMPLE_MODEL.to_owned());
    }
}

/// The roles the example configs (`datasets/pipeline/*.toml`) name, as an account has them: the customization
/// role, which may run the batch job too, and the batch role. The demo binary creates them in moto's IAM.
pub const EXAMPLE_ROLES: [(&str, &[JobKind]); 2] = [
    (
        "BedrockModelCustomizationRole",
        &[JobKind::Customization, JobKind::Batch],
    ),
    ("BedrockBatchInferenceRole", &[JobKind::Batch]),
];

/// Points the emulator's S3 and IAM at `moto`, unless the config names its own (or skips role checks).
pub fn point_at_moto(config: &mut EmulatorConfig, moto: &Moto) {
    if config.s3_endpoint.is_none() {
        config.s3_endpoint = Some(moto.endpoint());
    }
    if config.iam_endpoint.is_none() && !config.skip_role_checks {
        config.iam_endpoint = Some(moto.endpoint());
    }
}

impl Moto {
    /// Creates the role `name` in moto's IAM with the documented trust policy for `kinds` of Bedrock jobs of the
    /// emulator's account, in every region the catalog names (`Roles::regions`: Llama is customized in
    /// us-west-2, Nova in us-east-1); returns its ARN.
    pub async fn create_role(
        &self,
        name: &str,
        kinds: &[JobKind],
    ) -> Result<String, LocalStackError> {
        let config = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new(REGION))
            .credentials_provider(aws_sdk_iam::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "bertscore-local-stack",
            ))
            .endpoint_url(self.endpoint())
            .build();
        let output = aws_sdk_iam::Client::from_conf(config)
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust_policy(ACCOUNT, &Roles::regions(), kinds))
            .send()
            .await
            .map_err(|e| {
                LocalStackError::Http(format!(
                    "IAM CreateRole {name}: {}",
                    aws_sdk_iam::error::DisplayErrorContext(&e)
                ))
            })?;
        output
            .role
            .map(|role| role.arn)
            .ok_or_else(|| LocalStackError::BadResponse(format!("IAM CreateRole {name}: no role")))
    }
}

impl LocalStack {
    /// Starts moto (on a blocking thread, it takes a second or two) and the emulator on the
    /// current tokio runtime. The emulator's `s3_endpoint` and `iam_endpoint` are set to moto's (unless the
    /// config names them or skips role checks), so batch jobs and training-file checks read and write moto's S3
    /// and job roles are read from moto's IAM; the AWS sample's end-of-life model is served for its legacy demo
    /// ([`LEGACY_SAMPLE_MODEL`]). No role is created: see [`LocalStack::create_role`].
    pub async fn start(mut config: EmulatorConfig) -> Result<LocalStack, LocalStackError> {
        allow_legacy_sample(&mut config);
        let moto = tokio::task::spawn_blocking(Moto::start)
            .await
            .map_err(|e| LocalStackError::Spawn {
                command: "moto".into(),
                source: std::io::Error::other(e),
            })??;
        point_at_moto(&mut config, &moto);
        let bedrock = Emulator::start(config)
            .await
            .map_err(LocalStackError::Emulator)?;
        Ok(LocalStack { moto, bedrock })
    }

    /// Creates the role `name` in moto's IAM ([`Moto::create_role`]); returns its ARN.
    pub async fn create_role(
        &self,
        name: &str,
        kinds: &[JobKind],
    ) -> Result<String, LocalStackError> {
        self.moto.create_role(name, kinds).await
    }

    /// Environment that points the AWS SDK (via `aws-config`) at the local services.
    pub fn env(&self) -> Vec<(String, String)> {
        let moto = self.moto.endpoint();
        let bedrock = self.bedrock.endpoint();
        [
            ("AWS_ENDPOINT_URL_S3", moto.as_str()),
            ("AWS_ENDPOINT_URL_SESV2", moto.as_str()),
            ("AWS_ENDPOINT_URL_IAM", moto.as_str()),
            ("AWS_ENDPOINT_URL_BEDROCK", bedrock.as_str()),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            // No instance metadata lookups when credentials or region are searched for.
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subject_and_body_of_raw_mime() {
        let (subject, body) = parse_mime(
            "From: a@x.com\r\nSubject: Hello there\r\nTo: b@x.com\r\n\r\nLine 1\r\nLine 2\r\n",
        );
        assert_eq!(subject.as_deref(), Some("Hello there"));
        assert_eq!(body, "Line 1\nLine 2\n");
    }

    #[test]
    fn recipients_are_bare_and_unique() {
        let values = [json!("Bob <b@x.com>"), json!("b@x.com"), json!("c@x.com")];
        assert_eq!(unique_addresses(values.iter()), vec!["b@x.com", "c@x.com"]);
    }
}
