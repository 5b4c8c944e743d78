//! Bounded waits on the network. hf-hub's HTTP client has no read timeout (a hub that accepts and never answers
//! would hold a download forever), so every download runs on a worker thread watched from the caller's thread:
//! the wait for a first byte (connection, request, headers) is bounded by [`Timeouts::first_byte`], every later
//! silence by [`Timeouts::read`]; past either the caller gets [`HubError::Timeout`] naming the URL, and the worker
//! is left to the process's end. While waiting, a line on stderr every [`PROGRESS_EVERY`] says what for.
//!
//! Both bounds are set in seconds by [`CONNECT_TIMEOUT_ENV`] (default 30) and [`READ_TIMEOUT_ENV`] (default 60),
//! each 1 to [`MAX_TIMEOUT_SECS`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::HubError;

/// Seconds allowed to connect (and, for a download, to get the first byte on top of the read timeout).
pub const CONNECT_TIMEOUT_ENV: &str = "BERTSCORE_CONNECT_TIMEOUT";
/// Seconds allowed without a byte from the server.
pub const READ_TIMEOUT_ENV: &str = "BERTSCORE_READ_TIMEOUT";
/// Default of [`CONNECT_TIMEOUT_ENV`].
pub const DEFAULT_CONNECT_SECS: u64 = 30;
/// Default of [`READ_TIMEOUT_ENV`].
pub const DEFAULT_READ_SECS: u64 = 60;
/// The longest either timeout may be set to: one hour.
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// What sets the first-byte bound, as error messages name it.
const FIRST_BYTE_SETTINGS: &str = "BERTSCORE_CONNECT_TIMEOUT + BERTSCORE_READ_TIMEOUT";
/// How often a line on stderr says what is still awaited.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The network bounds in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To connect.
    pub connect: Duration,
    /// Without a byte once connected.
    pub read: Duration,
}

impl Timeouts {
    /// The bounds set by the environment, else the defaults; a value that is not a whole number of seconds in
    /// 1..=[`MAX_TIMEOUT_SECS`] is an error naming the variable.
    pub fn from_env() -> Result<Self, HubError> {
        Ok(Self {
            connect: seconds(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_SECS)?,
            read: seconds(READ_TIMEOUT_ENV, DEFAULT_READ_SECS)?,
        })
    }

    /// The longest wait for a download's first byte: connecting, then the server's answer.
    pub fn first_byte(&self) -> Duration {
        self.connect + self.read
    }
}

fn seconds(name: &'static str, default: u64) -> Result<Duration, HubError> {
    let Ok(text) = std::env::var(name) else {
        return Ok(Duration::from_secs(default));
    };
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=MAX_TIMEOUT_SECS).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(HubError::InvalidSetting {
            name,
            message: format!("{text:?} is not a whole number of seconds in 1..={MAX_TIMEOUT_SECS}"),
        }),
    }
}

/// What a watched worker reports: each call to [`Activity::touch`] is a sign of life (a byte received).
#[derive(Clone)]
pub struct Activity {
    started: Instant,
    last_millis: Arc<AtomicU64>,
    answered: Arc<AtomicBool>,
    abandoned: Arc<AtomicBool>,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_millis: Arc::new(AtomicU64::new(0)),
            answered: Arc::new(AtomicBool::new(false)),
            abandoned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The server sent something.
    pub fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_millis.store(now, Ordering::Relaxed);
        self.answered.store(true, Ordering::Relaxed);
    }

    /// Whether the caller gave up waiting: a worker that can stop what it waits for (a child process) should.
    pub fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed)
    }

    /// How long since the last sign of life (or the start), and whether there was any.
    fn silence(&self) -> (Duration, bool) {
        let last = Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
        (
            self.started.elapsed().saturating_sub(last),
            self.answered.load(Ordering::Relaxed),
        )
    }
}

/// Runs `work` on a worker thread and waits for it while it shows signs of life: at most
/// `timeouts.first_byte()` before the first [`Activity::touch`], at most `timeouts.read` between two. `url` and
/// `operation` name what is awaited in the progress lines and in the [`HubError::Timeout`] returned past a bound.
pub fn watched<T: Send + 'static>(
    url: &str,
    operation: &str,
    timeouts: Timeouts,
    work: impl FnOnce(Activity) -> T + Send + 'static,
) -> Result<T, HubError> {
    let activity = Activity::new();
    let (sender, receiver) = mpsc::channel();
    let worker_activity = activity.clone();
    std::thread::Builder::new()
        .name("bertscore-download".into())
        .spawn(move || {
            // The receiver is gone when the caller gave up: nothing left to tell.
            let _ = sender.send(work(worker_activity));
        })
        .map_err(|e| HubError::Download {
            model: url.to_string(),
            message: format!("cannot start a download thread: {e}"),
        })?;
    let mut next_progress = PROGRESS_EVERY;
    loop {
        match receiver.recv_timeout(Duration::from_millis(200)) {
            Ok(result) => return Ok(result),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(HubError::Download {
                    model: url.to_string(),
                    message: "the download thread ended without an answer".into(),
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let (silence, answered) = activity.silence();
        let bound = if answered {
            timeouts.read
        } else {
            timeouts.first_byte()
        };
        if silence >= bound {
            activity.abandoned.store(true, Ordering::Relaxed);
            // A moment for a worker that can stop (a child process) to do so.
            let _ = receiver.recv_timeout(Duration::from_secs(1));
            return Err(HubError::Timeout {
                url: url.to_string(),
                operation: operation.to_string(),
                waited: bound.as_secs(),
                setting: if answered {
                    READ_TIMEOUT_ENV
                } else {
                    FIRST_BYTE_SETTINGS
                },
            });
        }
        if activity.started.elapsed() >= next_progress {
            next_progress += PROGRESS_EVERY;
            if silence >= PROGRESS_EVERY {
                eprintln!(
                    "bertscore: {operation}: no answer from {url} for {} s (giving up after {} s)",
                    silence.as_secs(),
                    bound.as_secs()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Timeouts = Timeouts {
        connect: Duration::from_secs(1),
        read: Duration::from_secs(1),
    };

    #[test]
    fn a_silent_worker_is_abandoned_past_the_first_byte_bound() {
        let started = Instant::now();
        let error = watched("http://x/y", "fetching y", FAST, |_| {
            std::thread::sleep(Duration::from_secs(30));
        })
        .unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(4),
            "{elapsed:?}"
        );
        assert_eq!(
            error.to_string(),
            "fetching y: no answer from http://x/y for 2 s (BERTSCORE_CONNECT_TIMEOUT + BERTSCORE_READ_TIMEOUT)"
        );
    }

    #[test]
    fn a_worker_that_keeps_sending_is_waited_for_and_one_that_stalls_is_not() {
        let result = watched("http://x/y", "fetching y", FAST, |activity| {
            for _ in 0..8 {
                activity.touch();
                std::thread::sleep(Duration::from_millis(400));
            }
            7
        });
        assert_eq!(result.unwrap(), 7);
        let error = watched("http://x/y", "fetching y", FAST, |activity| {
            activity.touch();
            std::thread::sleep(Duration::from_secs(30));
        })
        .unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("for 1 s (BERTSCORE_READ_TIMEOUT)"),
            "{error}"
        );
    }
}
