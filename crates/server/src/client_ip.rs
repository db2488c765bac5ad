//! Who the client is, by address: the one rule for reading it, used by the
//! login throttles (and by anything else that counts per address).
//!
//! The TCP peer is the client unless it is one of the configured trusted
//! proxies (`--trusted-proxies`); only then is `X-Forwarded-For` read, from
//! the right, skipping trusted hops: the right-most address a trusted proxy
//! did not add is the client. Anything to its left was written by the client
//! itself and may be forged, so it is never used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The header a reverse proxy appends the address it saw to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The networks whose `X-Forwarded-For` is believed; empty by default, so the
/// header is ignored. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    /// Trusts these networks.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self(nets.into_iter().collect())
    }

    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Parses one `--trusted-proxies` entry: a network (`10.0.0.0/8`,
/// `fd00::/8`) or a single address (`127.0.0.1`).
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("“{text}” is neither a network (10.0.0.0/8) nor an address"))
}

/// The client's address: the peer, or, when the peer is a trusted proxy,
/// the right-most untrusted hop of `X-Forwarded-For` (see the module doc).
/// An entry that does not parse ends the walk at the hop before it.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.ip().to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    // Several headers count as one list, in order.
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip.to_canonical();
        if !trusted.contains(client) {
            return client;
        }
    }
    client
}

/// The address a client counts as, for every per-address limit (connections,
/// throttles, guests): an IPv4 address as it is (also
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

/// One `X-Forwarded-For` entry: an address, with a port on some proxies.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

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

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40_000)
    }

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| parse_network(n).unwrap()))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let forged = headers(&["1.2.3.4"]);
        let none = TrustedProxies::default();
        assert_eq!(
            client_ip(peer("203.0.113.9"), &forged, &none),
            ip("203.0.113.9")
        );
        // A peer outside the trusted networks cannot speak for anyone either.
        let proxy = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(peer("203.0.113.9"), &forged, &proxy),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        // The client forged "6.6.6.6"; its real address is what the first
        // trusted proxy appended.
        let chain = headers(&["6.6.6.6, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(
            client_ip(peer("127.0.0.1"), &chain, &proxies),
            ip("198.51.100.7")
        );
        // No header: the proxy is the client.
        assert_eq!(
            client_ip(peer("10.1.1.1"), &HeaderMap::new(), &proxies),
            ip("10.1.1.1")
        );
        // All hops trusted: the left-most one.
        let inside = headers(&["10.0.0.3, 10.0.0.2"]);
        assert_eq!(
            client_ip(peer("10.0.0.1"), &inside, &proxies),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn garbage_stops_the_walk_and_ports_and_mapped_addresses_are_understood() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let garbage = headers(&["198.51.100.7, not-an-address, 10.0.0.2"]);
        assert_eq!(
            client_ip(peer("10.0.0.1"), &garbage, &proxies),
            ip("10.0.0.2")
        );
        let ported = headers(&["198.51.100.7:5000", "[2001:db8::1]:443"]);
        assert_eq!(
            client_ip(peer("10.0.0.1"), &ported, &proxies),
            ip("2001:db8::1")
        );
        // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
        assert_eq!(
            client_ip(peer("::ffff:10.0.0.1"), &headers(&["192.0.2.1"]), &proxies),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn networks_parse_from_cidrs_and_addresses() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_network(" ::1 ").unwrap(),
            "::1/128".parse::<IpNet>().unwrap()
        );
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("proxy.local").is_err());
    }
}
