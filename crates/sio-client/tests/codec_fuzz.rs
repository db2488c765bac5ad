//! Fuzzing the Engine.IO v4 / Socket.IO v5 codec (README, "Fuzzing"): any
//! frame, however wrong, decodes to a packet or to an error and never
//! panics; everything the codec writes reads back as itself; and frames
//! that look almost right (a bad type digit, an ack id too large, JSON cut
//! short, binary placeholders, other namespaces) are refused, not misread.
//!
//! `PROPTEST_CASES=200000 cargo test -p sio-client --test codec_fuzz` runs
//! it long; cases that once failed are kept in `proptest-regressions/` and
//! replayed first on every run.

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use protocol::strategies::{event_name, json, json_object, text};
use serde_json::Value;
use sio_client::codec::{DEFAULT_NS, EnginePacket, OpenInfo, SocketPacket, frame};

/// Text made of the codec's syntax (type digits, namespace and ack id
/// separators, JSON brackets and quotes), which reaches further into the
/// decoder than random Unicode does.
fn syntax() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(
            &[
                "0",
                "1",
                "2",
                "3",
                "4",
                "5",
                "6",
                "7",
                "9",
                "/",
                ",",
                "-",
                "[",
                "]",
                "{",
                "}",
                "\"",
                ":",
                "x",
                "é",
                "😀",
                " ",
                "null",
                "true",
                "\"a\"",
                "1e999",
                "-0",
                "\\",
                "\\u0000",
                "\"_placeholder\"",
                "18446744073709551616",
                "{\"sid\":\"s\"}",
            ][..],
        ),
        0..16,
    )
    .prop_map(|parts| parts.concat())
}

/// A frame: any text, syntax soup, or an Engine.IO message carrying it.
fn any_frame() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        syntax(),
        syntax().prop_map(|s| format!("4{s}")),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

/// A namespace the wire can carry: `/`, or `/` and a name without a comma
/// (the comma ends it).
fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(DEFAULT_NS.to_owned()),
        1 => text().prop_map(|name| format!("/{}", name.replace(',', ""))),
    ]
}

fn args() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(json(), 0..4)
}

/// Every Socket.IO packet the protocol allows: a CONNECT's payload is an
/// object, acks and events carry arrays.
fn socket_packet() -> impl Strategy<Value = SocketPacket> {
    prop_oneof![
        1 => (namespace(), prop::option::of(json_object())).prop_map(|(ns, data)| {
            SocketPacket::Connect {
                ns,
                data: data.map(Value::Object),
            }
        }),
        1 => namespace().prop_map(|ns| SocketPacket::Disconnect { ns }),
        2 => event_or_ack(),
        1 => (namespace(), text()).prop_map(|(ns, message)| SocketPacket::ConnectError { ns, message }),
    ]
}

/// The packets that carry data in a JSON array: events and acks.
fn event_or_ack() -> impl Strategy<Value = SocketPacket> {
    prop_oneof![
        (
            namespace(),
            prop::option::of(any::<u64>()),
            event_name(),
            args()
        )
            .prop_map(|(ns, id, name, args)| SocketPacket::Event { ns, id, name, args }),
        (namespace(), any::<u64>(), args()).prop_map(|(ns, id, args)| SocketPacket::Ack {
            ns,
            id,
            args
        }),
    ]
}

fn engine_packet() -> impl Strategy<Value = EnginePacket> {
    prop_oneof![
        (text(), any::<u32>(), any::<u32>(), any::<u64>()).prop_map(
            |(sid, ping_interval, ping_timeout, max_payload)| {
                EnginePacket::Open(OpenInfo {
                    sid,
                    ping_interval,
                    ping_timeout,
                    max_payload,
                })
            }
        ),
        Just(EnginePacket::Close),
        Just(EnginePacket::Ping),
        Just(EnginePacket::Pong),
        any::<String>().prop_map(EnginePacket::Message),
        Just(EnginePacket::Upgrade),
        Just(EnginePacket::Noop),
    ]
}

/// The longest prefix of `text` of at most `len` bytes that ends on a
/// character boundary.
fn cut(text: &str, len: usize) -> &str {
    let mut end = len.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

proptest! {
    /// No frame panics the decoder, and what it reads, it writes back in a
    /// form that reads as the same packet.
    #[test]
    fn any_frame_decodes_or_is_refused(frame in any_frame()) {
        if let Ok(packet) = EnginePacket::decode(&frame) {
            prop_assert_eq!(EnginePacket::decode(&packet.encode()), Ok(packet.clone()));
            if let EnginePacket::Message(payload) = packet
                && let Ok(packet) = SocketPacket::decode(&payload)
            {
                prop_assert_eq!(SocketPacket::decode(&packet.encode()), Ok(packet));
            }
        }
        if let Ok(packet) = SocketPacket::decode(&frame) {
            prop_assert_eq!(SocketPacket::decode(&packet.encode()), Ok(packet));
        }
    }

    /// Every Socket.IO packet survives the trip through its frame.
    #[test]
    fn socket_packets_round_trip(packet in socket_packet()) {
        let encoded = packet.encode();
        prop_assert_eq!(SocketPacket::decode(&encoded), Ok(packet.clone()), "{}", encoded);
        prop_assert_eq!(
            EnginePacket::decode(&frame(&packet)),
            Ok(EnginePacket::Message(encoded))
        );
    }

    /// Every Engine.IO packet survives the trip through its frame.
    #[test]
    fn engine_packets_round_trip(packet in engine_packet()) {
        prop_assert_eq!(EnginePacket::decode(&packet.encode()), Ok(packet));
    }

    /// A type digit the protocol does not have is refused.
    #[test]
    fn unknown_packet_types_are_refused(kind in any::<char>(), rest in syntax()) {
        let engine = format!("{kind}{rest}");
        if !('0'..='6').contains(&kind) {
            prop_assert!(EnginePacket::decode(&engine).is_err(), "{}", engine);
        }
        // 5 and 6 are binary packets, which the chat never sends.
        if !('0'..='4').contains(&kind) {
            prop_assert!(SocketPacket::decode(&engine).is_err(), "{}", engine);
        }
    }

    /// An ack id that does not fit in 64 bits is an error, not a wrapped or
    /// truncated id that would answer the wrong request.
    #[test]
    fn ack_ids_too_large_are_refused(
        kind in prop::sample::select(&['2', '3'][..]),
        ns in namespace(),
        extra in "[0-9]{1,30}",
        name in event_name(),
    ) {
        let prefix = if ns == DEFAULT_NS { String::new() } else { format!("{ns},") };
        let id = format!("{}{extra}", u64::MAX as u128 + 1);
        let body = Value::from(vec![Value::from(name)]);
        let packet = format!("{kind}{prefix}{id}{body}");
        prop_assert!(SocketPacket::decode(&packet).is_err(), "{}", packet);
    }

    /// An event or ack cut short anywhere is refused: its JSON never closes.
    #[test]
    fn truncated_packets_are_refused(
        packet in event_or_ack(),
        keep in any::<prop::sample::Index>(),
    ) {
        let encoded = packet.encode();
        let short = cut(&encoded, keep.index(encoded.len()));
        prop_assert!(SocketPacket::decode(short).is_err(), "{:?}", short);
    }

    /// Binary packets (`5`, `6`, with their attachment count and
    /// placeholders) are refused: the chat sends only text.
    #[test]
    fn binary_packets_are_refused(
        kind in prop::sample::select(&['5', '6'][..]),
        attachments in 0u32..3,
        ns in namespace(),
        id in prop::option::of(any::<u64>()),
        name in event_name(),
    ) {
        let prefix = if ns == DEFAULT_NS { String::new() } else { format!("{ns},") };
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        let body = serde_json::json!([name, {"_placeholder": true, "num": 0}]);
        let packet = format!("{kind}{attachments}-{prefix}{id}{body}");
        prop_assert!(SocketPacket::decode(&packet).is_err(), "{}", packet);
    }

    /// A packet for another namespace is read as that namespace's, so the
    /// client can ignore it, never as the default one's.
    #[test]
    fn other_namespaces_are_kept_apart(ns in namespace(), name in event_name()) {
        let packet = SocketPacket::Event { ns: ns.clone(), id: None, name, args: vec![] };
        let decoded = SocketPacket::decode(&packet.encode()).unwrap();
        prop_assert_eq!(decoded.is_default_ns(), ns == DEFAULT_NS);
    }

    /// Only objects are CONNECT payloads, and only events and acks carry ack
    /// ids: anything else is refused rather than half-read.
    #[test]
    fn connect_and_disconnect_take_no_stray_data(
        ns in namespace(),
        data in json(),
        id in any::<u32>(),
    ) {
        let prefix = |kind: char| {
            if ns == DEFAULT_NS { kind.to_string() } else { format!("{kind}{ns},") }
        };
        if !data.is_object() {
            let packet = format!("{}{data}", prefix('0'));
            prop_assert!(SocketPacket::decode(&packet).is_err(), "{}", packet);
        }
        for kind in ['0', '1', '4'] {
            let packet = format!("{}{id}{{\"message\":\"m\"}}", prefix(kind));
            prop_assert!(SocketPacket::decode(&packet).is_err(), "{}", packet);
        }
        let packet = format!("{}{data}", prefix('1'));
        prop_assert!(SocketPacket::decode(&packet).is_err(), "{}", packet);
    }
}
