//! The `/_emulator/*` test endpoints answer only requests whose `Host` is a loopback name with the emulator's
//! port (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`): a web page the user visits cannot reach them through
//! DNS rebinding (its requests carry the attacker's host name), so it cannot read or reconfigure the emulator.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::wire::ApiError;

/// The port the emulator is bound to; `None` when it is embedded in another server (then any port).
#[derive(Clone, Copy, Debug)]
pub struct BoundPort(pub Option<u16>);

/// Whether `host` (a `Host` header value) names this emulator on a loopback address.
pub fn is_loopback_host(host: &str, port: Option<u16>) -> bool {
    let (name, host_port) = match host.rsplit_once(':') {
        Some((name, p)) if !name.ends_with(':') && !p.contains(']') => {
            (name, p.parse::<u16>().ok())
        }
        _ => (host, None),
    };
    let loopback = matches!(
        name.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "[::1]"
    );
    let port_ok = match (port, host_port) {
        (Some(bound), Some(given)) => bound == given,
        (Some(_), None) => false,
        (None, _) => true,
    };
    loopback && port_ok
}

/// Middleware for the test endpoints: 403 for any other `Host`.
pub async fn require_loopback(
    State(port): State<BoundPort>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if is_loopback_host(host, port.0) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        format!(
            "The emulator's test endpoints answer only a loopback Host (127.0.0.1, localhost or [::1] with the emulator's port), not {host:?}."
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_with_the_bound_port_only() {
        for host in [
            "127.0.0.1:4000",
            "localhost:4000",
            "LOCALHOST:4000",
            "[::1]:4000",
        ] {
            assert!(is_loopback_host(host, Some(4000)), "{host}");
        }
        for host in [
            "127.0.0.1:4001",
            "127.0.0.1",
            "evil.example:4000",
            "localhost.evil.example:4000",
            "127.0.0.1.nip.io:4000",
            "[::1]",
            "",
        ] {
            assert!(!is_loopback_host(host, Some(4000)), "{host}");
        }
        assert!(is_loopback_host("localhost", None));
        assert!(!is_loopback_host("evil.example", None));
    }
}
