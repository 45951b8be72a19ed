//! The metrics endpoint: `GET /metrics` (Prometheus text 0.0.4, or OpenMetrics 1.0 when the scraper
//! asks for it in `Accept`, as Prometheus does) and `GET /healthz` (200 `ok: ...` while the run is alive
//! and its progress is not overdue, 503 with the reason otherwise; see [`crate::health`]).
//!
//! The socket is bound before the first iteration ([`bind`]) so that a taken port or an address that
//! is not this machine's is a usage error (exit 2) naming the setting, not a warning lost in a log.

use crate::health::{SharedHeartbeat, unix_now};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// `Content-Type` of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct Shared {
    registry: Registry,
    heartbeat: SharedHeartbeat,
}

/// Binds `addr:port`. `addr_source` and `port_source` name where the settings came from, for the error.
///
/// # Errors
/// A message naming the address, the setting and the fix, when the socket cannot be bound.
pub fn bind(
    addr: IpAddr,
    port: u16,
    addr_source: &str,
    port_source: &str,
) -> Result<std::net::TcpListener, String> {
    let at = SocketAddr::new(addr, port);
    let listener = std::net::TcpListener::bind(at).map_err(|e| {
        use std::io::ErrorKind::*;
        match e.kind() {
            AddrInUse => format!(
                "metrics port {port} ({port_source}) is already in use on {addr}; choose a free port with --metrics-port or RALPH_METRICS_PORT"
            ),
            AddrNotAvailable => format!(
                "metrics address {addr} ({addr_source}) is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its own addresses (--metrics-addr or RALPH_METRICS_ADDR)"
            ),
            PermissionDenied => format!(
                "metrics port {port} ({port_source}) needs privileges to bind on {addr}; choose a port above 1023 with --metrics-port or RALPH_METRICS_PORT"
            ),
            _ => format!(
                "cannot serve metrics on {at} (--metrics-addr {addr_source}, --metrics-port {port_source}): {e}"
            ),
        }
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot serve metrics on {at}: {e}"))?;
    Ok(listener)
}

/// Serves `/metrics` from `registry` and `/healthz` from `heartbeat` on `listener` until the process
/// ends. Must be called inside a tokio runtime.
///
/// # Errors
/// When the listener cannot be handed to tokio.
pub fn serve(
    listener: std::net::TcpListener,
    registry: Registry,
    heartbeat: SharedHeartbeat,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let shared = Arc::new(Shared {
        registry,
        heartbeat,
    });
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(shared);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the metrics server stopped: {e}");
        }
    }))
}

async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let body = super::encode(&shared.registry, openmetrics);
    let content_type = if openmetrics {
        OPENMETRICS_CONTENT_TYPE
    } else {
        TEXT_CONTENT_TYPE
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let beat = shared
        .heartbeat
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match beat.verdict(unix_now()) {
        Ok(line) => (StatusCode::OK, format!("ok: {line}\n")).into_response(),
        Err(line) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {line}\n"),
        )
            .into_response(),
    }
}
