//! One poller for every wait on an asynchronous Bedrock resource: exponential backoff (x1.5) from
//! `polling.initial_s` up to `polling.max_s`, ±20% jitter, and a deadline.

use std::time::{Duration, Instant};

use crate::aws::Aws;
use crate::config::{PollingConfig, seconds};
use crate::error::{PipelineError, Result};

/// The state of one wait.
pub(crate) struct Poller {
    started: Instant,
    attempt: u32,
    initial_s: f64,
    max_s: f64,
    timeout: Duration,
    /// `false` for the dry run, whose resources are ready at once: nothing to wait for.
    sleeps: bool,
}

impl Poller {
    /// A wait on a resource behind `aws` that gives up after `timeout_s` seconds.
    pub fn new(aws: &dyn Aws, polling: &PollingConfig, timeout_s: f64) -> Poller {
        Poller::sleeping(polling, timeout_s, aws.waits())
    }

    fn sleeping(polling: &PollingConfig, timeout_s: f64, sleeps: bool) -> Poller {
        Poller {
            started: Instant::now(),
            attempt: 0,
            initial_s: polling.initial_s,
            max_s: polling.max_s,
            timeout: seconds(timeout_s),
            sleeps,
        }
    }

    /// Sleeps before the next status check; fails once the deadline has passed (`what` says what was awaited,
    /// e.g. "customization job X (status InProgress)").
    pub async fn wait(&mut self, what: impl FnOnce() -> String) -> Result<()> {
        let elapsed = self.started.elapsed();
        if elapsed >= self.timeout {
            return Err(PipelineError::Resource(format!(
                "gave up waiting for {} after {:.0} s (polling timeout)",
                what(),
                elapsed.as_secs_f64()
            )));
        }
        self.attempt += 1;
        if !self.sleeps {
            return Ok(());
        }
        let delay = self
            .delay(rand::random::<f64>())
            .min(self.timeout - elapsed);
        tokio::time::sleep(delay.max(Duration::from_millis(1))).await;
        Ok(())
    }

    /// The delay before check `attempt + 1`, for a jitter draw `unit` in [0, 1).
    fn delay(&self, unit: f64) -> Duration {
        let exponent = self.attempt.saturating_sub(1).min(40) as i32;
        let delay = (self.initial_s * 1.5f64.powi(exponent)).min(self.max_s);
        seconds(delay * (0.8 + 0.4 * unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_with_bounded_jitter() {
        let polling = PollingConfig {
            initial_s: 1.0,
            max_s: 2.0,
            ..PollingConfig::default()
        };
        let mut poller = Poller::sleeping(&polling, 60.0, true);
        poller.attempt = 1;
        assert_eq!(poller.delay(0.5), Duration::from_secs(1));
        poller.attempt = 2;
        assert_eq!(poller.delay(0.5), Duration::from_millis(1500));
        poller.attempt = 30;
        assert_eq!(poller.delay(0.5), Duration::from_secs(2));
        assert_eq!(poller.delay(0.0), Duration::from_millis(1600));
        assert!(poller.delay(0.999) < Duration::from_millis(2400));
    }

    #[tokio::test]
    async fn the_deadline_is_an_error_naming_what_was_awaited() {
        let polling = PollingConfig {
            initial_s: 0.001,
            max_s: 0.001,
            ..PollingConfig::default()
        };
        let mut poller = Poller::sleeping(&polling, 0.0, true);
        let error = poller
            .wait(|| "job j (status InProgress)".into())
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("gave up waiting for job j (status InProgress)"),
            "{error}"
        );
    }
}
