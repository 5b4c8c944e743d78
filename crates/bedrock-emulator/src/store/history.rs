//! The serving history: when each provisioned throughput and custom model deployment was
//! created and deleted, so tests can tell how many servings were billed at once.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Store;

/// One creation or deletion of a serving. JSON: `{"at_ms", "kind", "arn", "event"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServingEvent {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `throughput` or `deployment`.
    pub kind: ServingKind,
    /// The provisioned model's or the deployment's ARN.
    pub arn: String,
    /// `created` or `deleted`.
    pub event: ServingEventKind,
}

/// What kind of serving an event is about.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ServingKind {
    /// A provisioned throughput.
    Throughput,
    /// A custom model deployment (on-demand).
    Deployment,
}

/// What happened to a serving.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ServingEventKind {
    /// Create call accepted.
    Created,
    /// Delete call accepted.
    Deleted,
}

/// The most servings alive at once while replaying `events` in order.
pub fn max_concurrent(events: &[ServingEvent]) -> usize {
    let (mut live, mut most) = (0usize, 0usize);
    for event in events {
        match event.event {
            ServingEventKind::Created => {
                live += 1;
                most = most.max(live);
            }
            ServingEventKind::Deleted => live = live.saturating_sub(1),
        }
    }
    most
}

impl Store {
    /// Appends an event stamped now.
    pub(super) fn record(&mut self, kind: ServingKind, arn: &str, event: ServingEventKind) {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        self.history.push(ServingEvent {
            at_ms,
            kind,
            arn: arn.to_owned(),
            event,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(arn: &str, event: ServingEventKind) -> ServingEvent {
        ServingEvent {
            at_ms: 0,
            kind: ServingKind::Deployment,
            arn: arn.into(),
            event,
        }
    }

    #[test]
    fn counts_the_most_alive_at_once() {
        use ServingEventKind::{Created, Deleted};
        let events = [
            event("a", Created),
            event("b", Created),
            event("a", Deleted),
            event("c", Created),
            event("b", Deleted),
            event("c", Deleted),
            event("d", Created),
        ];
        assert_eq!(max_concurrent(&events), 2);
        assert_eq!(max_concurrent(&[]), 0);
        let json = serde_json::to_value(&events[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at_ms": 0, "kind": "deployment", "arn": "a", "event": "created"})
        );
    }
}
