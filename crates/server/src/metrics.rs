//! The server's metrics, in the Prometheus (OpenMetrics) text format at
//! `GET /metrics`: on the chat's own port (`--metrics on`), on an address
//! of their own (`--metrics-addr 127.0.0.1:9100`), or not at all (the
//! default: they tell anyone who asks how busy the room is).
//!
//! Counters and histograms are process-wide, like the allocator, so that the
//! modules that count (the chat handlers, the store's writer, the fan-out)
//! do it in one line without a handle threaded through them; a process
//! serves one conversation. (Tests, which run many servers in one process,
//! read differences.) The gauges, connections open and users online, are
//! read from the server's state when scraped, so they are exact per server.
//!
//! What is counted stays off the fan-out's per-recipient path: one histogram
//! observation per broadcast, one counter per received event, refusal,
//! commit or slow receiver; no allocation but a refusal's label.

use std::sync::LazyLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use protocol::{ErrorCode, event};

use crate::AppState;
use crate::store::NewItem;

/// Where the metrics are served (`--metrics`, `--metrics-addr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Nowhere.
    Off,
    /// At `/metrics` on the chat's own port.
    SamePort,
    /// At `/metrics` on a listener of their own.
    Separate(std::net::SocketAddr),
}

/// `--metrics`: whether the chat's own port serves `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// No metrics (unless `--metrics-addr` names an address for them).
    Off,
    /// `/metrics` on the chat's port.
    On,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

/// The process's counters and histograms.
struct Metrics {
    registry: Registry,
    events: Family<EventLabel, Counter>,
    refusals: Family<CodeLabel, Counter>,
    rate_limited: Family<EventLabel, Counter>,
    flooding: Counter,
    too_slow: Counter,
    messages_stored: Counter,
    items_stored: Counter,
    commit_seconds: Histogram,
    fanout_seconds: Histogram,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("chatroom");
        let events = Family::<EventLabel, Counter>::default();
        registry.register(
            "events_received",
            "Socket.IO events received from clients, by event",
            events.clone(),
        );
        let refusals = Family::<CodeLabel, Counter>::default();
        registry.register(
            "refusals",
            "Events refused with an error acknowledgement, by error code",
            refusals.clone(),
        );
        let rate_limited = Family::<EventLabel, Counter>::default();
        registry.register(
            "rate_limited",
            "Events refused for a rate limit (code rate_limited), by event",
            rate_limited.clone(),
        );
        let flooding = Counter::default();
        registry.register(
            "flooding_disconnects",
            "Connections disconnected for going on after their refusals",
            flooding.clone(),
        );
        let too_slow = Counter::default();
        registry.register(
            "too_slow_disconnects",
            "Connections told `too slow` and disconnected: their send queue was full",
            too_slow.clone(),
        );
        let messages_stored = Counter::default();
        registry.register(
            "messages_stored",
            "Chat messages committed to the store",
            messages_stored.clone(),
        );
        let items_stored = Counter::default();
        registry.register(
            "items_stored",
            "Items (messages, joins, leaves) committed to the store",
            items_stored.clone(),
        );
        // 0.1 ms to about 6.5 s: an SQLite commit on a fast disk to a
        // database near its timeout.
        let commit_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 17));
        registry.register(
            "commit_seconds",
            "Time to commit one batch of appends (group commit)",
            commit_seconds.clone(),
        );
        // 10 µs to about 0.65 s: queueing one event for a handful of
        // listeners to doing it for tens of thousands.
        let fanout_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 17));
        registry.register(
            "fanout_seconds",
            "Time to queue one event for every listening connection of this node",
            fanout_seconds.clone(),
        );
        Self {
            registry,
            events,
            refusals,
            rate_limited,
            flooding,
            too_slow,
            messages_stored,
            items_stored,
            commit_seconds,
            fanout_seconds,
        }
    }
}

/// The event as a label: one of the protocol's, or `unknown` (a client
/// chooses its event names: they must not become label values).
fn event_label(name: &str) -> EventLabel {
    EventLabel {
        event: event::FROM_CLIENT
            .into_iter()
            .find(|known| *known == name)
            .unwrap_or("unknown"),
    }
}

/// A client sent event `name`.
pub fn event_received(name: &str) {
    METRICS.events.get_or_create(&event_label(name)).inc();
}

/// An event was refused with `code`; `event` names it, for rate limits.
pub fn refused(event: &str, code: ErrorCode) {
    let code = match serde_json::to_value(code) {
        Ok(serde_json::Value::String(code)) => code,
        _ => "unknown".to_owned(),
    };
    if code == "rate_limited" {
        METRICS
            .rate_limited
            .get_or_create(&event_label(event))
            .inc();
    }
    METRICS.refusals.get_or_create(&CodeLabel { code }).inc();
}

/// A connection was disconnected for flooding.
pub fn flooding_disconnect() {
    METRICS.flooding.inc();
}

/// A connection fell behind and is being disconnected (`too slow`).
pub fn too_slow() {
    METRICS.too_slow.inc();
}

/// A batch committed in `took`, with these items.
pub fn committed<'a>(took: Duration, items: impl IntoIterator<Item = &'a NewItem>) {
    METRICS.commit_seconds.observe(took.as_secs_f64());
    let (mut all, mut messages) = (0, 0);
    for item in items {
        all += 1;
        messages += u64::from(matches!(item, NewItem::Message { .. }));
    }
    METRICS.items_stored.inc_by(all);
    METRICS.messages_stored.inc_by(messages);
}

/// One event was queued for this node's listeners in `took`.
pub fn fanned_out(took: Duration) {
    METRICS.fanout_seconds.observe(took.as_secs_f64());
}

/// The exposition: the process's counters, and the gauges read from `state`.
pub async fn render(state: &AppState) -> String {
    let mut gauges = Registry::with_prefix("chatroom");
    let connections = Gauge::<i64>::default();
    let sockets = state.io.as_ref().map_or(0, |io| io.sockets().len());
    connections.set(i64::try_from(sockets).unwrap_or(i64::MAX));
    gauges.register(
        "connections_open",
        "Socket.IO connections open on this node",
        connections,
    );
    // In a cluster, the whole room's (from Redis); unknown if Redis fails.
    if let Some(online) = state.room.num_users().await {
        let users = Gauge::<i64>::default();
        users.set(i64::try_from(online).unwrap_or(i64::MAX));
        gauges.register("users_online", "Users in the room", users);
    }
    let mut text = String::new();
    let encoded = prometheus_client::encoding::text::encode_registry(&mut text, &METRICS.registry)
        .and_then(|()| prometheus_client::encoding::text::encode_registry(&mut text, &gauges))
        .and_then(|()| prometheus_client::encoding::text::encode_eof(&mut text));
    if let Err(error) = encoded {
        tracing::error!(%error, "could not encode the metrics");
    }
    text
}

/// `GET /metrics`.
pub async fn handler(State(state): State<AppState>) -> Response {
    let text = render(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// The router with `/metrics` alone, for `--metrics-addr`.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(handler))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_protocols_events_are_labels() {
        assert_eq!(event_label(event::NEW_MESSAGE).event, "new message");
        assert_eq!(event_label("made up by a client").event, "unknown");
    }
}
