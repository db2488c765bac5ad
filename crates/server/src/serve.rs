//! The accept loop: HTTP/1.1 connections (and the WebSocket upgrades of
//! Socket.IO) served by hyper, with the limits `axum::serve` has no setting
//! for.
//!
//! - A cap on open connections per client address ([`ConnectionSettings`]):
//!   past it a connection is answered `429` and closed at once, so one
//!   address cannot take every file descriptor.
//! - A header timeout: a client must send a request's headers within it, and
//!   an idle keep-alive connection is closed after it (axum's `serve` gives
//!   hyper no timer, so a client sending one header byte a minute held its
//!   connection for ever).
//! - Each request knows its peer ([`ConnectInfo`]), for throttling and logs.
//!
//! On shutdown the listener stops accepting, every connection is asked to
//! finish its request and close, and `serve` returns when all have.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::state::ConnectionSettings;

/// What a connection over its address's cap is told before it is closed.
const TOO_MANY: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
content-type: application/json\r\n\
retry-after: 10\r\n\
connection: close\r\n\
content-length: 51\r\n\
\r\n\
{\"error\":\"too many connections from your address\"}\n";

/// How long a refused connection may take to read its 429.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long to wait after the listener fails (out of file descriptors,
/// say) before accepting again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes, then closes
/// every connection gracefully and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let open = OpenConnections::default();
    // Connections hold a receiver each: `closed()` on the sender tells when
    // the last one ended. Dropping `stop_tx` asks them all to finish.
    let (stop_tx, stop_rx) = watch::channel(());
    let (alive_tx, alive_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = match open.take(peer.ip(), settings.per_address) {
            Some(slot) => slot,
            None => {
                tracing::info!(%peer, "connection refused: too many from this address");
                tokio::spawn(refuse(tcp));
                continue;
            }
        };
        if let Err(error) = tcp.set_nodelay(true) {
            // Chat frames are small and latency-bound: without NODELAY,
            // Nagle's algorithm holds them back for coalescing.
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let connection = serve_connection(
            tcp,
            peer,
            router.clone(),
            settings.header_timeout,
            stop_rx.clone(),
        );
        let alive = alive_rx.clone();
        tokio::spawn(async move {
            connection.await;
            drop((slot, alive));
        });
    }
    drop(listener);
    drop(stop_rx);
    drop(stop_tx);
    drop(alive_rx);
    alive_tx.closed().await;
}

/// Serves one connection until it closes, or until `stop` says to finish.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            return;
        }
        _ = stop.changed() => {}
    }
    connection.as_mut().graceful_shutdown();
    if let Err(error) = connection.await {
        tracing::debug!(%peer, %error, "connection ended with an error while closing");
    }
}

/// Tells a connection over its address's cap why, and closes it.
async fn refuse(mut tcp: TcpStream) {
    let write = async {
        tcp.write_all(TOO_MANY).await?;
        tcp.shutdown().await
    };
    if let Ok(Err(error)) = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, write).await {
        tracing::debug!(%error, "could not tell a refused connection why");
    }
}

/// Open connections by client address (see [`address_key`]).
#[derive(Debug, Clone, Default)]
struct OpenConnections(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl OpenConnections {
    /// Counts a connection from `ip`, unless it has `cap` open (0: no cap).
    fn take(&self, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        let key = address_key(ip);
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if cap > 0 && *count >= cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            open: self.clone(),
            key,
        })
    }
}

/// One open connection of an address; counted until dropped.
struct AddressSlot {
    open: OpenConnections,
    key: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The address a connection counts against: an IPv4 address as it is (also
/// when it arrives IPv4-mapped), an IPv6 address by its /64 network, which
/// one host usually has whole.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = u128::MAX << 64;
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_by_host_or_ipv6_network() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(address_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn an_address_holds_its_cap_and_no_more() {
        let open = OpenConnections::default();
        let a = ip_a();
        let slots: Vec<_> = (0..3).map(|_| open.take(a, 3).unwrap()).collect();
        assert!(open.take(a, 3).is_none());
        assert!(open.take("192.0.2.2".parse().unwrap(), 3).is_some());
        drop(slots);
        assert!(open.take(a, 3).is_some());
        assert!(
            (0..1_000).all(|_| open.take(a, 0).map(std::mem::forget).is_some()),
            "0: no cap"
        );
    }

    fn ip_a() -> IpAddr {
        "192.0.2.1".parse().unwrap()
    }

    #[test]
    fn the_refusal_is_well_formed_http() {
        let text = std::str::from_utf8(TOO_MANY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "too many connections from your address");
    }
}
