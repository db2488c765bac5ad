//! The load generator: opens many Socket.IO connections to one chat server
//! (or split evenly over its nodes), enters them all into the room, has some of them send `new message` at a
//! total target rate for a set time, and measures what every client
//! receives: deliveries, loss, order (where the server numbers messages),
//! and the latency of each delivery (the send time travels in the message).
//!
//! [`run`] does that once for a [`Scenario`]; [`Crowd`] is the same crowd
//! driven phase by phase (the benchmark's rising rates). A scenario may add
//! flooders ([`flood`]): hostile clients hammering the server while the
//! crowd chats, counted apart from it. All of it is bounded (a fixed number
//! of clients, fixed durations) and only ever targets loopback addresses.

pub mod crowd;
pub mod flood;
pub mod process;

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

pub use crowd::{Crowd, Entry, Phase};
pub use flood::{FloodCount, FloodPlan, FloodReport};

/// Who a client is: a guest name (servers without logins), or a login
/// token for the handshake's `auth` and the name it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Guest(String),
    Token { name: String, token: String },
}

impl Identity {
    /// `count` guests named `prefix-0`, `prefix-1`, ….
    pub fn guests(prefix: &str, count: usize) -> Vec<Self> {
        (0..count)
            .map(|i| Self::Guest(format!("{prefix}-{i}")))
            .collect()
    }

    /// The name it enters the room under.
    pub fn name(&self) -> &str {
        match self {
            Self::Guest(name) | Self::Token { name, .. } => name,
        }
    }

    /// Identities from a tokens file: one `name<TAB>token` per line (what
    /// the server's `seed_users` example writes).
    pub fn from_tokens(text: &str) -> Result<Vec<Self>, LoadgenError> {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| match line.split_once('\t') {
                Some((name, token)) if !name.is_empty() && !token.is_empty() => Ok(Self::Token {
                    name: name.to_owned(),
                    token: token.trim().to_owned(),
                }),
                _ => Err(LoadgenError::BadTokens(line.chars().take(40).collect())),
            })
            .collect()
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The server, `http://127.0.0.1:PORT` (loopback only), or each of its
    /// nodes: the clients are split evenly over them (the flooders all go
    /// to the first).
    pub urls: Vec<String>,
    /// Who connects: one client per identity, all entering the room.
    pub identities: Vec<Identity>,
    /// How many of them send.
    pub senders: usize,
    /// Messages per second, all senders together.
    pub rate: f64,
    /// How long the senders send.
    pub duration: Duration,
    /// How long to keep listening after the last send.
    pub drain: Duration,
    /// Flooders hammering the server while the senders send, if any.
    pub flood: Option<FloodPlan>,
}

/// Splits identities into the crowd's `clients` (the first ones) and
/// `flooders` (the next), so that no flooder shares an account with a
/// normal client and the server's per-account limits fall on the flooders
/// alone.
pub fn roles(
    mut identities: Vec<Identity>,
    clients: usize,
    flooders: usize,
) -> Result<(Vec<Identity>, Vec<Identity>), LoadgenError> {
    if identities.len() < clients + flooders {
        return Err(LoadgenError::BadScenario(
            "fewer identities than clients and flooders together",
        ));
    }
    identities.truncate(clients + flooders);
    let flooders = identities.split_off(clients);
    Ok((identities, flooders))
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
    /// A tokens file line is not `name<TAB>token`.
    #[error("bad tokens line (expected name<TAB>token): {0:?}")]
    BadTokens(String),
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// What a run measured: the entry, then the sending (and the flooders).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub clients: usize,
    pub entry: Entry,
    #[serde(flatten)]
    pub phase: Phase,
    /// What the flooders did, when there were any.
    pub flood: Option<FloodReport>,
}

impl Report {
    /// Anything lost, refused, dropped or heard out of order.
    pub fn failed(&self) -> bool {
        self.phase.lost > 0
            || self.entry.errors > 0
            || self.phase.dropped > 0
            || self.phase.out_of_order > 0
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (e, p) = (&self.entry, &self.phase);
        let l = &p.latency_ms;
        let all_in = e
            .all_in_ms
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms"));
        writeln!(
            f,
            "| clients | senders | rate/s | all in after | sent | deliveries | expected | lost | out of order | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | errors | dropped |"
        )?;
        writeln!(
            f,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        )?;
        // Without ids (the Node.js reference) the order cannot be checked.
        let order = if p.numbered == 0 {
            "-".to_owned()
        } else {
            p.out_of_order.to_string()
        };
        write!(
            f,
            "| {} | {} | {:.0} | {all_in} | {} | {} | {} | {} | {order} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
            self.clients,
            p.senders,
            p.target_rate,
            p.sent,
            p.received,
            p.expected,
            p.lost,
            p.deliveries_per_s,
            l.p50,
            l.p90,
            l.p99,
            l.max,
            e.errors,
            p.dropped,
        )?;
        for why in &e.error_samples {
            write!(f, "\nerror: {why}")?;
        }
        if let Some(flood) = &self.flood {
            write!(
                f,
                "\n\n{} of the flooders' messages were delivered ({} deliveries); the crowd heard {} typing events\n\n{flood}",
                p.flood_messages, p.flood_deliveries, p.typing_deliveries
            )?;
        }
        Ok(())
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

/// Runs a scenario: everyone enters at once, then the senders send.
pub async fn run(scenario: &Scenario) -> Result<Report, LoadgenError> {
    let Some(first) = scenario.urls.first() else {
        return Err(LoadgenError::BadScenario("no server url"));
    };
    for url in &scenario.urls {
        check_loopback(url)?;
    }
    let clients = scenario.identities.len();
    if clients < 2 || scenario.senders == 0 || scenario.senders > clients {
        return Err(LoadgenError::BadScenario(
            "need at least 2 clients and 1..=clients senders",
        ));
    }
    if !scenario.rate.is_finite() || scenario.rate <= 0.0 {
        return Err(LoadgenError::BadScenario("the rate must be positive"));
    }
    if scenario
        .flood
        .as_ref()
        .is_some_and(|plan| !plan.rate.is_finite() || plan.rate < 0.0)
    {
        return Err(LoadgenError::BadScenario(
            "the flood rate must be 0 (no cap) or positive",
        ));
    }
    let entry_timeout = Duration::from_secs(120);
    let (mut crowd, entry) = Crowd::connect(
        &scenario.urls,
        scenario.identities.clone(),
        true,
        entry_timeout,
    )
    .await;
    let (phase, flood) = send_flooded(
        &mut crowd,
        first,
        scenario.flood.as_ref(),
        (scenario.senders, scenario.rate),
        scenario.duration,
        scenario.drain,
    )
    .await?;
    crowd.close().await;
    Ok(Report {
        clients,
        entry,
        phase,
        flood,
    })
}

/// One sending phase of `crowd` (`senders` at `rate` in all, see
/// [`Crowd::send`]), with `flood`'s flooders hammering `url` for the
/// sending time when there are any (only ever at a loopback address).
pub async fn send_flooded(
    crowd: &mut Crowd,
    url: &str,
    flood: Option<&FloodPlan>,
    (senders, rate): (usize, f64),
    duration: Duration,
    drain: Duration,
) -> Result<(Phase, Option<FloodReport>), LoadgenError> {
    check_loopback(url)?;
    let flooders = flood
        .filter(|plan| !plan.identities.is_empty())
        .map(|plan| flood::Flood::start(url, plan, duration));
    let phase = crowd.send(senders, rate, duration, drain).await;
    let report = match flooders {
        Some(flooders) => Some(flooders.finish().await),
        None => None,
    };
    Ok((phase, report))
}

/// p50/p90/p99/max of sorted microsecond latencies, in milliseconds.
fn percentiles(sorted_us: &[u32]) -> Latency {
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
        let us: Vec<u32> = (1..=100).map(|ms| ms * 1_000).collect();
        let l = percentiles(&us);
        assert_eq!((l.p50, l.p90, l.p99, l.max), (51.0, 90.0, 99.0, 100.0));
        assert_eq!(percentiles(&[]), Latency::default());
    }

    #[test]
    fn flooders_come_after_the_clients() {
        let ids = Identity::guests("u", 6);
        let (clients, flooders) = roles(ids.clone(), 3, 2).unwrap();
        assert_eq!(clients, ids[..3]);
        assert_eq!(flooders, ids[3..5]);
        let (clients, flooders) = roles(ids.clone(), 6, 0).unwrap();
        assert_eq!((clients.len(), flooders.len()), (6, 0));
        assert!(matches!(
            roles(ids, 5, 2),
            Err(LoadgenError::BadScenario(_))
        ));
        assert_eq!(Identity::Guest("g".into()).name(), "g");
    }

    #[test]
    fn tokens_files_are_name_tab_token() {
        let ids = Identity::from_tokens("ann\tt1\n\nbob\tt2\n").unwrap();
        assert_eq!(
            ids,
            [
                Identity::Token {
                    name: "ann".into(),
                    token: "t1".into()
                },
                Identity::Token {
                    name: "bob".into(),
                    token: "t2".into()
                },
            ]
        );
        assert!(matches!(
            Identity::from_tokens("no tab here"),
            Err(LoadgenError::BadTokens(_))
        ));
    }
}
