//! The load generator: opens many Socket.IO connections to one chat server,
//! enters them all into the room, has some of them send `new message` at a
//! total target rate for a set time, and measures what every client
//! receives: deliveries, loss, and the latency of each delivery (the send
//! time travels in the message).
//!
//! It is bounded (a fixed number of clients, a fixed duration plus a drain
//! period) and only ever targets loopback addresses.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::future::join_all;
use protocol::{AddUser, NewMessage, event};
use serde::Serialize;
use sio_client::native::{NativeClient, NativeError};

/// Messages the generator sends start with this, so they can be told apart.
const TAG: &str = "lg";

/// What to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The server, `http://127.0.0.1:PORT` (loopback only).
    pub url: String,
    /// How many connections enter the room.
    pub clients: usize,
    /// How many of them send.
    pub senders: usize,
    /// Messages per second, all senders together.
    pub rate: f64,
    /// How long the senders send.
    pub duration: Duration,
    /// How long to keep listening after the last send.
    pub drain: Duration,
    /// The handshake's `auth` payload for every connection, if any.
    pub auth: Option<serde_json::Value>,
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The target is not on this machine.
    #[error(
        "refusing to load {0}: only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed"
    )]
    NotLoopback(String),
    /// The URL is not `http://host:port`.
    #[error("bad url {0:?}: expected http://127.0.0.1:PORT")]
    BadUrl(String),
    /// The scenario makes no sense.
    #[error("bad scenario: {0}")]
    BadScenario(&'static str),
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub clients: usize,
    pub senders: usize,
    pub target_rate: f64,
    pub duration_s: f64,
    /// Time for every client to connect and enter the room, in ms.
    pub connect_ms: f64,
    /// Clients that could not connect or enter.
    pub connect_errors: usize,
    /// Messages sent.
    pub sent: u64,
    /// Deliveries expected: every message to every client but its sender.
    pub expected: u64,
    /// Deliveries received.
    pub received: u64,
    /// Deliveries that never came.
    pub lost: u64,
    /// Deliveries per second over the sending time.
    pub deliveries_per_s: f64,
    pub latency_ms: Latency,
    /// Connections the server closed during the run.
    pub dropped_connections: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = &self.latency_ms;
        writeln!(
            f,
            "| clients | senders | rate/s | entered in | sent | deliveries | expected | lost | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
        )?;
        writeln!(
            f,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        )?;
        write!(
            f,
            "| {} | {} | {:.0} | {:.0} ms | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            self.clients,
            self.senders,
            self.target_rate,
            self.connect_ms,
            self.sent,
            self.received,
            self.expected,
            self.lost,
            self.deliveries_per_s,
            l.p50,
            l.p90,
            l.p99,
            l.max,
            self.connect_errors + self.dropped_connections
        )
    }
}

/// Refuses anything but a loopback `http://host:port`.
pub fn check_loopback(url: &str) -> Result<(), LoadgenError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| LoadgenError::BadUrl(url.to_owned()))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(LoadgenError::NotLoopback(url.to_owned()))
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct ClientResult {
    sent: u64,
    latencies_us: Vec<u64>,
    dropped: bool,
}

/// Runs a scenario and reports what it measured.
pub async fn run(scenario: &Scenario) -> Result<Report, LoadgenError> {
    check_loopback(&scenario.url)?;
    if scenario.clients < 2 || scenario.senders == 0 || scenario.senders > scenario.clients {
        return Err(LoadgenError::BadScenario(
            "need at least 2 clients and 1..=clients senders",
        ));
    }
    if !scenario.rate.is_finite() || scenario.rate <= 0.0 {
        return Err(LoadgenError::BadScenario("the rate must be positive"));
    }
    let clock = Instant::now();
    let run_id = std::process::id();

    // Everyone enters at once.
    let entering = Instant::now();
    let entered = join_all((0..scenario.clients).map(|i| {
        let (url, auth) = (scenario.url.clone(), scenario.auth.clone());
        async move {
            let client = NativeClient::connect(&url, auth).await?;
            match client.request(&AddUser(format!("lg{run_id}-{i}"))).await? {
                protocol::Ack::Ok(_) => Ok(client),
                protocol::Ack::Err(error) => Err(NativeError::Decode(error.message)),
            }
        }
    }))
    .await;
    let connect_ms = entering.elapsed().as_secs_f64() * 1e3;
    let connect_errors = entered.iter().filter(|c| c.is_err()).count();
    let clients: Vec<NativeClient> = entered.into_iter().filter_map(Result::ok).collect();
    let senders = scenario.senders.min(clients.len());

    // Each sender sends on its own ticker; every client listens until the
    // drain period after the last send is over.
    let start = Instant::now();
    let stop_sending = start + scenario.duration;
    let stop_listening = stop_sending + scenario.drain;
    let period = Duration::from_secs_f64(senders as f64 / scenario.rate);
    let tasks = clients.into_iter().enumerate().map(|(i, client)| {
        let sends = i < senders;
        tokio::spawn(listen_and_send(
            client,
            sends,
            period,
            clock,
            stop_sending,
            stop_listening,
        ))
    });
    let results: Vec<ClientResult> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap_or_default)
        .collect();

    let receivers = results.len().saturating_sub(1) as u64;
    let sent: u64 = results.iter().map(|r| r.sent).sum();
    let expected = sent * receivers;
    let mut latencies: Vec<u64> = results
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    let received = latencies.len() as u64;
    latencies.sort_unstable();
    Ok(Report {
        clients: scenario.clients,
        senders,
        target_rate: scenario.rate,
        duration_s: scenario.duration.as_secs_f64(),
        connect_ms,
        connect_errors,
        sent,
        expected,
        received,
        lost: expected.saturating_sub(received),
        deliveries_per_s: received as f64 / scenario.duration.as_secs_f64(),
        latency_ms: percentiles(&latencies),
        dropped_connections: results.iter().filter(|r| r.dropped).count(),
    })
}

async fn listen_and_send(
    mut client: NativeClient,
    sends: bool,
    period: Duration,
    clock: Instant,
    stop_sending: Instant,
    stop_listening: Instant,
) -> ClientResult {
    let mut result = ClientResult::default();
    let mut ticker = tokio::time::interval(period);
    loop {
        let now = Instant::now();
        if now >= stop_listening {
            break;
        }
        let sending = sends && now < stop_sending;
        tokio::select! {
            _ = ticker.tick(), if sending => {
                let sent_us = clock.elapsed().as_micros();
                let text = format!("{TAG} {sent_us} {}", result.sent);
                if client.emit(&NewMessage(text)).await.is_err() {
                    result.dropped = true;
                    break;
                }
                result.sent += 1;
            }
            received = client.next_raw(stop_listening - now) => match received {
                Ok((name, data)) if name == event::NEW_MESSAGE => {
                    let sent_us = data
                        .get("message")
                        .and_then(serde_json::Value::as_str)
                        .and_then(|m| m.strip_prefix(TAG))
                        .and_then(|m| m.split_whitespace().next())
                        .and_then(|t| t.parse::<u128>().ok());
                    if let Some(sent_us) = sent_us {
                        let latency = clock.elapsed().as_micros().saturating_sub(sent_us);
                        result.latencies_us.push(u64::try_from(latency).unwrap_or(u64::MAX));
                    }
                }
                Ok(_) => {}
                Err(NativeError::Timeout) => break,
                Err(_) => {
                    result.dropped = true;
                    break;
                }
            }
        }
    }
    // Leave politely; the run is over either way.
    let _ = client.close().await;
    result
}

/// p50/p90/p99/max of sorted microsecond latencies, in milliseconds.
fn percentiles(sorted_us: &[u64]) -> Latency {
    let at = |q: f64| {
        if sorted_us.is_empty() {
            return 0.0;
        }
        let index = ((sorted_us.len() as f64 - 1.0) * q).round() as usize;
        sorted_us[index.min(sorted_us.len() - 1)] as f64 / 1e3
    };
    Latency {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_a_target() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://127.8.0.1:1/",
            "http://localhost:80",
            "http://[::1]:3000",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:3000",
            "http://192.168.1.2:80",
            "http://example.com:80",
            "http://[2001:db8::1]:1",
        ] {
            assert!(
                matches!(check_loopback(bad), Err(LoadgenError::NotLoopback(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            check_loopback("ws://127.0.0.1:1"),
            Err(LoadgenError::BadUrl(_))
        ));
    }

    #[test]
    fn percentiles_of_a_known_set() {
        let us: Vec<u64> = (1..=100).map(|ms| ms * 1_000).collect();
        let l = percentiles(&us);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (51.0, 90.0, 99.0, 100.0));
        assert_eq!(percentiles(&[]), Latency::default());
    }
}
