//! Every AWS call that gets no answer names where it waited: an interceptor on each client remembers the URL of
//! the request it sends, says on stderr when an attempt got no answer (a timeout or a failed connection) while
//! the SDK retries, and puts the URL into the error of a call that failed that way, so the run's message reads
//! `s3 HeadBucket failed: timed out: http://host:port/bucket: ...`.

use std::fmt;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// The interceptor (one per client; `max_attempts` as the client retries).
#[derive(Debug, Clone)]
pub(crate) struct NamedEndpoint {
    max_attempts: u32,
}

impl NamedEndpoint {
    pub(crate) fn new(max_attempts: u32) -> Self {
        Self { max_attempts }
    }
}

/// The URL of the request last sent (query string left out: it may hold signatures).
#[derive(Debug, Clone)]
struct SentTo(String);

impl Storable for SentTo {
    type Storer = StoreReplace<Self>;
}

/// A failure to get an answer from `url`.
#[derive(Debug)]
struct NoAnswer {
    url: String,
    source: BoxError,
}

impl fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no answer from {}", self.url)
    }
}

impl std::error::Error for NoAnswer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Whether the failure means the endpoint did not answer (as opposed to an answer the service gave).
fn unanswered<E>(error: &OrchestratorError<E>) -> bool {
    error.is_timeout_error() || error.is_connector_error()
}

fn timed_out<E>(error: &OrchestratorError<E>) -> bool {
    error.is_timeout_error()
        || error
            .as_connector_error()
            .is_some_and(ConnectorError::is_timeout)
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| format!("{} {}", m.service(), m.name()))
        .unwrap_or_else(|| "an AWS call".into())
}

impl Intercept for NamedEndpoint {
    fn name(&self) -> &'static str {
        "NamedEndpoint"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri();
        let url = uri
            .split_once('?')
            .map_or(uri, |(path, _)| path)
            .to_string();
        cfg.interceptor_state().store_put(SentTo(url));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Err(error)) = context.output_or_error() else {
            return Ok(());
        };
        if !unanswered(error) {
            return Ok(());
        }
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        let url = cfg
            .load::<SentTo>()
            .map_or("the endpoint", |s| s.0.as_str());
        let what = if timed_out(error) {
            "timed out"
        } else {
            "could not connect"
        };
        // A call's own retry settings (a model call's `[inference] max_attempts`) win over the client's.
        let max_attempts = cfg
            .load::<aws_smithy_types::retry::RetryConfig>()
            .map_or(self.max_attempts, |retry| retry.max_attempts());
        let next = if attempt < max_attempts {
            "; retrying"
        } else {
            ""
        };
        eprintln!(
            "aws: {} to {url} {what} (attempt {attempt} of {}){next}",
            operation(cfg),
            max_attempts
        );
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(url) = cfg.load::<SentTo>().map(|s| s.0.clone()) else {
            return Ok(());
        };
        if let Some(Err(error)) = context.output_or_error_mut()
            && unanswered(error)
        {
            let timeout = timed_out(error);
            let original = std::mem::replace(error, OrchestratorError::other("replaced"));
            let named: BoxError = Box::new(NoAnswer {
                url,
                source: Box::new(original),
            });
            *error = OrchestratorError::connector(if timeout {
                ConnectorError::timeout(named)
            } else {
                ConnectorError::io(named)
            });
        }
        Ok(())
    }
}
