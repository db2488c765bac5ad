//! The wire format, without I/O: Engine.IO v4 packets over WebSocket text
//! frames, and the Socket.IO v5 packets they carry. Only the default
//! namespace `/` is spoken; packets for others are read, so they can be
//! ignored. Binary packets are not used by the chat and are refused, and so
//! is anything the Socket.IO v5 spec does not allow (an ack id on a CONNECT,
//! a CONNECT payload that is not an object, data after a DISCONNECT), so a
//! decoded packet always encodes back to a frame that decodes as itself.

use serde_json::Value;

/// A decoding failure: the frame is not a packet this client understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad packet: {0}")]
pub struct DecodeError(pub String);

fn bad(reason: impl Into<String>) -> DecodeError {
    DecodeError(reason.into())
}

/// The session parameters of an Engine.IO `open` packet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenInfo {
    /// The Engine.IO session id.
    pub sid: String,
    /// The server pings this often (ms).
    pub ping_interval: u32,
    /// The server waits this long for a pong (ms).
    pub ping_timeout: u32,
    /// The largest payload the server accepts (bytes).
    #[serde(default)]
    pub max_payload: u64,
}

/// An Engine.IO v4 packet (one WebSocket text frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket {
    /// `0{…}`: the session is open.
    Open(OpenInfo),
    /// `1`: close the session.
    Close,
    /// `2`: the server checks we are alive.
    Ping,
    /// `3`: the answer to a ping.
    Pong,
    /// `4…`: a Socket.IO packet.
    Message(String),
    /// `5`: transport upgrade (unused over a direct WebSocket).
    Upgrade,
    /// `6`: nothing.
    Noop,
}

impl EnginePacket {
    /// Reads one text frame.
    pub fn decode(frame: &str) -> Result<Self, DecodeError> {
        let mut chars = frame.chars();
        let kind = chars.next().ok_or_else(|| bad("empty frame"))?;
        let rest = chars.as_str();
        Ok(match kind {
            '0' => Self::Open(
                serde_json::from_str(rest).map_err(|e| bad(format!("open packet: {e}")))?,
            ),
            '1' => Self::Close,
            '2' => Self::Ping,
            '3' => Self::Pong,
            '4' => Self::Message(rest.to_owned()),
            '5' => Self::Upgrade,
            '6' => Self::Noop,
            other => return Err(bad(format!("unknown Engine.IO packet type {other:?}"))),
        })
    }

    /// Writes one text frame. (`Open` is only ever sent by servers; its
    /// encoding is provided for tests.)
    pub fn encode(&self) -> String {
        match self {
            Self::Open(info) => format!(
                "0{{\"sid\":{},\"upgrades\":[],\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
                Value::from(info.sid.as_str()),
                info.ping_interval,
                info.ping_timeout,
                info.max_payload
            ),
            Self::Close => "1".to_owned(),
            Self::Ping => "2".to_owned(),
            Self::Pong => "3".to_owned(),
            Self::Message(payload) => format!("4{payload}"),
            Self::Upgrade => "5".to_owned(),
            Self::Noop => "6".to_owned(),
        }
    }
}

/// A Socket.IO v5 packet, as carried in an Engine.IO message.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketPacket {
    /// `0`: connect (client: with the auth payload; server: with `{"sid"}`).
    Connect {
        /// The namespace, `/` by default.
        ns: String,
        /// The payload, if any.
        data: Option<Value>,
    },
    /// `1`: leave the namespace.
    Disconnect {
        /// The namespace.
        ns: String,
    },
    /// `2`: an event, with an ack id when an answer is wanted.
    Event {
        /// The namespace.
        ns: String,
        /// The ack id, if the sender wants an acknowledgement.
        id: Option<u64>,
        /// The event's name.
        name: String,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// `3`: the answer to an event sent with an ack id.
    Ack {
        /// The namespace.
        ns: String,
        /// The ack id of the event answered.
        id: u64,
        /// The answer's arguments.
        args: Vec<Value>,
    },
    /// `4`: the server refused to connect (`{"message": …}`).
    ConnectError {
        /// The namespace.
        ns: String,
        /// The reason.
        message: String,
    },
}

/// The default namespace.
pub const DEFAULT_NS: &str = "/";

impl SocketPacket {
    /// An event in the default namespace.
    pub fn event(name: &str, args: Vec<Value>, id: Option<u64>) -> Self {
        Self::Event {
            ns: DEFAULT_NS.to_owned(),
            id,
            name: name.to_owned(),
            args,
        }
    }

    /// A connect packet for the default namespace, with an auth payload.
    pub fn connect(auth: Option<Value>) -> Self {
        Self::Connect {
            ns: DEFAULT_NS.to_owned(),
            data: auth,
        }
    }

    /// Whether it belongs to the default namespace.
    pub fn is_default_ns(&self) -> bool {
        let ns = match self {
            Self::Connect { ns, .. }
            | Self::Disconnect { ns }
            | Self::Event { ns, .. }
            | Self::Ack { ns, .. }
            | Self::ConnectError { ns, .. } => ns,
        };
        ns == DEFAULT_NS
    }

    /// Reads the payload of an Engine.IO message.
    pub fn decode(payload: &str) -> Result<Self, DecodeError> {
        let mut chars = payload.chars();
        let kind = chars.next().ok_or_else(|| bad("empty Socket.IO packet"))?;
        let mut rest = chars.as_str();
        if matches!(kind, '5' | '6') {
            return Err(bad("binary packets are not supported"));
        }
        let ns = match rest.strip_prefix('/') {
            Some(_) => {
                let end = rest.find(',').unwrap_or(rest.len());
                let ns = &rest[..end];
                rest = rest.get(end + 1..).unwrap_or("");
                ns.to_owned()
            }
            None => DEFAULT_NS.to_owned(),
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id = if digits > 0 {
            Some(
                rest[..digits]
                    .parse::<u64>()
                    .map_err(|e| bad(format!("ack id: {e}")))?,
            )
        } else {
            None
        };
        let data = &rest[digits..];
        let json = || -> Result<Value, DecodeError> {
            serde_json::from_str(data).map_err(|e| bad(format!("packet data: {e}")))
        };
        // Only events and acks are answered by id; a number after any other
        // type is misplaced data (`05`), refused rather than half-read.
        if id.is_some() && !matches!(kind, '2' | '3') {
            return Err(bad("only events and acks carry an ack id"));
        }
        Ok(match kind {
            '0' => Self::Connect {
                ns,
                data: match data {
                    "" => None,
                    _ => match json()? {
                        object @ Value::Object(_) => Some(object),
                        _ => return Err(bad("connect data is not an object")),
                    },
                },
            },
            '1' if data.is_empty() => Self::Disconnect { ns },
            '1' => return Err(bad("disconnect carries no data")),
            '2' => {
                let Value::Array(mut args) = json()? else {
                    return Err(bad("event data is not an array"));
                };
                if args.is_empty() {
                    return Err(bad("event without a name"));
                }
                let Value::String(name) = args.remove(0) else {
                    return Err(bad("event name is not a string"));
                };
                Self::Event { ns, id, name, args }
            }
            '3' => {
                let id = id.ok_or_else(|| bad("ack without an id"))?;
                let Value::Array(args) = json()? else {
                    return Err(bad("ack data is not an array"));
                };
                Self::Ack { ns, id, args }
            }
            '4' => {
                let value = json()?;
                let message = match &value {
                    Value::Object(map) => map
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                Self::ConnectError { ns, message }
            }
            other => return Err(bad(format!("unknown Socket.IO packet type {other:?}"))),
        })
    }

    /// Writes the payload of an Engine.IO message.
    pub fn encode(&self) -> String {
        fn prefix(kind: char, ns: &str) -> String {
            if ns == DEFAULT_NS {
                kind.to_string()
            } else {
                format!("{kind}{ns},")
            }
        }
        match self {
            Self::Connect { ns, data } => {
                let mut out = prefix('0', ns);
                if let Some(data) = data {
                    out.push_str(&data.to_string());
                }
                out
            }
            Self::Disconnect { ns } => prefix('1', ns),
            Self::Event { ns, id, name, args } => {
                let mut out = prefix('2', ns);
                if let Some(id) = id {
                    out.push_str(&id.to_string());
                }
                let mut array = Vec::with_capacity(args.len() + 1);
                array.push(Value::from(name.as_str()));
                array.extend(args.iter().cloned());
                out.push_str(&Value::Array(array).to_string());
                out
            }
            Self::Ack { ns, id, args } => {
                format!("{}{id}{}", prefix('3', ns), Value::Array(args.clone()))
            }
            Self::ConnectError { ns, message } => format!(
                "{}{}",
                prefix('4', ns),
                serde_json::json!({ "message": message })
            ),
        }
    }
}

/// The arguments a [`protocol::ClientEvent`] travels with: its payload, or
/// none when the payload is `null` (unit events such as `typing`), exactly
/// as the demo's JS client sends them.
pub fn event_args<E: protocol::ClientEvent>(event: &E) -> Result<Vec<Value>, serde_json::Error> {
    Ok(match serde_json::to_value(event)? {
        Value::Null => Vec::new(),
        value => vec![value],
    })
}

/// An Engine.IO message frame carrying a Socket.IO packet.
pub fn frame(packet: &SocketPacket) -> String {
    EnginePacket::Message(packet.encode()).encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{AddUser, StopTyping, Typing};
    use serde_json::json;

    #[test]
    fn engine_packets_both_ways() {
        let open = r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let info = OpenInfo {
            sid: "abc".into(),
            ping_interval: 25_000,
            ping_timeout: 20_000,
            max_payload: 1_000_000,
        };
        assert_eq!(
            EnginePacket::decode(open),
            Ok(EnginePacket::Open(info.clone()))
        );
        assert_eq!(EnginePacket::Open(info).encode(), open);
        for (frame, packet) in [
            ("1", EnginePacket::Close),
            ("2", EnginePacket::Ping),
            ("3", EnginePacket::Pong),
            ("4hello", EnginePacket::Message("hello".into())),
            ("5", EnginePacket::Upgrade),
            ("6", EnginePacket::Noop),
        ] {
            assert_eq!(EnginePacket::decode(frame), Ok(packet.clone()), "{frame}");
            assert_eq!(packet.encode(), frame);
        }
    }

    #[test]
    fn bad_engine_frames_are_errors() {
        assert!(EnginePacket::decode("").is_err());
        assert!(EnginePacket::decode("9").is_err());
        assert!(EnginePacket::decode("0{not json").is_err());
        assert!(EnginePacket::decode("0{\"sid\":1}").is_err());
    }

    #[test]
    fn socket_packets_both_ways() {
        let cases = [
            ("0", SocketPacket::connect(None)),
            (
                "0{\"clientId\":\"c1\"}",
                SocketPacket::connect(Some(json!({"clientId": "c1"}))),
            ),
            ("1", SocketPacket::Disconnect { ns: "/".into() }),
            ("2[\"typing\"]", SocketPacket::event("typing", vec![], None)),
            (
                "217[\"add user\",\"alice\"]",
                SocketPacket::event("add user", vec![json!("alice")], Some(17)),
            ),
            (
                "317[{\"data\":1}]",
                SocketPacket::Ack {
                    ns: "/".into(),
                    id: 17,
                    args: vec![json!({"data": 1})],
                },
            ),
            (
                "4{\"message\":\"login required\"}",
                SocketPacket::ConnectError {
                    ns: "/".into(),
                    message: "login required".into(),
                },
            ),
            (
                "2/admin,3[\"x\",1]",
                SocketPacket::Event {
                    ns: "/admin".into(),
                    id: Some(3),
                    name: "x".into(),
                    args: vec![json!(1)],
                },
            ),
            (
                "1/admin,",
                SocketPacket::Disconnect {
                    ns: "/admin".into(),
                },
            ),
        ];
        for (text, packet) in cases {
            assert_eq!(SocketPacket::decode(text).as_ref(), Ok(&packet), "{text}");
            assert_eq!(packet.encode(), text);
        }
        assert!(
            !SocketPacket::decode("2/admin,[\"x\"]")
                .unwrap()
                .is_default_ns()
        );
        assert!(
            SocketPacket::decode("0{\"sid\":\"s\"}")
                .unwrap()
                .is_default_ns()
        );
    }

    #[test]
    fn bad_socket_packets_are_errors() {
        for text in [
            "",
            "2",
            "2{}",
            "2[]",
            "2[1]",
            "3[1]",
            "317{}",
            "51-[\"x\",{\"_placeholder\":true,\"num\":0}]",
            "7",
            "2[\"x\"",
        ] {
            assert!(SocketPacket::decode(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn unit_events_go_without_arguments() {
        assert_eq!(event_args(&Typing).unwrap(), Vec::<Value>::new());
        assert_eq!(event_args(&StopTyping).unwrap(), Vec::<Value>::new());
        assert_eq!(
            event_args(&AddUser("bob".into())).unwrap(),
            vec![json!("bob")]
        );
        let packet = SocketPacket::event("typing", event_args(&Typing).unwrap(), None);
        assert_eq!(frame(&packet), "42[\"typing\"]");
    }
}
