//! Flooders: the hostile clients of the abuse scenario. Each logs in with
//! its own account, enters the room and sends `typing`, `new message` and
//! `history` in turn as fast as its socket takes them (or at a capped rate),
//! never waiting for an answer, and reconnects at once whenever the server
//! disconnects it, as a script that ignores every refusal would. It asks an
//! acknowledgement for its entries, messages and reads (not for `typing`,
//! which a page sends without one), so every refusal of those is counted.
//!
//! Each flooder counts what happened to it ([`FloodCount`]); the crowd of
//! normal clients, measured as always, counts the flooders' messages it
//! heard apart from its own (see [`crate::Phase::flood_deliveries`]).
//!
//! Bounded like everything in the generator: a fixed number of flooders, a
//! fixed end time (a write that blocks past it is abandoned), at most `rate`
//! events a second each, and a pause after a failed connection attempt.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt, future::join_all};
use protocol::{AddUser, ClientEvent, ErrorCode, History, NewMessage, Typing, event};
use serde::Serialize;
use serde::de::IgnoredAny;
use sio_client::codec::{self, SocketPacket};
use tokio_tungstenite::tungstenite::Message;

use crate::Identity;
use crate::crowd::{FLOOD_TAG, HANDSHAKE_TIMEOUT, PHASE_SWITCH, Socket, is_event, open};

/// How long a flooder waits after a connection attempt failed (refused or
/// timed out) before the next: without it a refused flooder would spin.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// How long a flooder tries to say goodbye at its end time.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The `before` of every `history` a flooder asks: past any id, so each
/// read is of the newest page (what costs the store a real query).
const NEWEST: u64 = 1 << 50;

/// Who floods, and how fast.
#[derive(Debug, Clone)]
pub struct FloodPlan {
    /// One flooder per identity; each should be its own account, so that
    /// the server's per-account limits apply to each as they would to
    /// separate attackers.
    pub identities: Vec<Identity>,
    /// Events a second each flooder sends at most; 0 sends as fast as the
    /// socket takes them.
    pub rate: f64,
}

/// What happened to one flooder (or, added up, to all of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FloodCount {
    /// Events sent, of every kind (`add user` included).
    pub sent: u64,
    /// `new message` events sent.
    pub messages_sent: u64,
    /// Messages acknowledged as accepted: stored and delivered to everyone.
    /// A lower bound: the acknowledgements of the last messages before a
    /// `flooding` disconnect never arrive (see
    /// [`crate::Phase::flood_messages`] for what was delivered).
    pub messages_accepted: u64,
    /// `add user` acknowledged as accepted.
    pub entries_accepted: u64,
    /// Events refused with `rate_limited`.
    pub rate_limited: u64,
    /// Events refused with any other code (`not_joined` after a refused
    /// entry, `busy`, …).
    pub other_refusals: u64,
    /// `flooding` notices: disconnected for going on after refusals.
    pub flooding: u64,
    /// Connections the server closed (for flooding or anything else).
    pub disconnects: u64,
    /// Connections opened after the first.
    pub reconnections: u64,
    /// Connection attempts that failed (refused, or timed out).
    pub connect_errors: u64,
}

impl FloodCount {
    fn add(&mut self, other: &Self) {
        self.sent += other.sent;
        self.messages_sent += other.messages_sent;
        self.messages_accepted += other.messages_accepted;
        self.entries_accepted += other.entries_accepted;
        self.rate_limited += other.rate_limited;
        self.other_refusals += other.other_refusals;
        self.flooding += other.flooding;
        self.disconnects += other.disconnects;
        self.reconnections += other.reconnections;
        self.connect_errors += other.connect_errors;
    }

    /// Counts what the server said.
    fn hear(&mut self, heard: Heard) {
        match heard {
            Heard::Ack {
                kind,
                refusal: None,
            } => match kind {
                AckKind::Entry => self.entries_accepted += 1,
                AckKind::Message => self.messages_accepted += 1,
                AckKind::Read => {}
            },
            Heard::Ack {
                refusal: Some(ErrorCode::RateLimited),
                ..
            } => self.rate_limited += 1,
            Heard::Ack {
                refusal: Some(_), ..
            } => self.other_refusals += 1,
            Heard::Flooding => self.flooding += 1,
            Heard::Ping | Heard::Closed | Heard::Other => {}
        }
    }
}

/// The flooders of one phase, all together and each.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FloodReport {
    /// How many flooders.
    pub flooders: usize,
    /// Their rate cap, events a second each (0: none).
    pub rate: f64,
    /// All of them added up.
    pub total: FloodCount,
    /// Each of them.
    pub each: Vec<FloodCount>,
}

impl std::fmt::Display for FloodReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.total;
        writeln!(
            f,
            "| flooders | events sent | messages sent | acked as accepted | rate_limited | other refusals | flooding | disconnects | reconnections | connect errors |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
        write!(
            f,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.flooders,
            t.sent,
            t.messages_sent,
            t.messages_accepted,
            t.rate_limited,
            t.other_refusals,
            t.flooding,
            t.disconnects,
            t.reconnections,
            t.connect_errors
        )
    }
}

/// Flooders at work, each run by its own task until its end time (started
/// by [`crate::send_flooded`], which checks the address first).
pub(crate) struct Flood {
    tasks: Vec<tokio::task::JoinHandle<FloodCount>>,
    rate: f64,
}

impl Flood {
    /// Starts one flooder per identity of `plan`, flooding `url` from
    /// [`PHASE_SWITCH`] from now (when a crowd's senders start, see
    /// [`crate::Crowd::send`]) for `duration`.
    pub(crate) fn start(url: &str, plan: &FloodPlan, duration: Duration) -> Self {
        let from = Instant::now() + PHASE_SWITCH;
        let until = from + duration;
        let tasks = plan
            .identities
            .iter()
            .enumerate()
            .map(|(index, identity)| {
                let flooder = Flooder {
                    url: url.to_owned(),
                    identity: identity.clone(),
                    index,
                    // (A rate too high to time is no cap: a zero period
                    // is not a ticker.)
                    period: (plan.rate > 0.0)
                        .then(|| Duration::from_secs_f64(1.0 / plan.rate))
                        .filter(|period| !period.is_zero()),
                };
                tokio::spawn(flooder.run(from, until))
            })
            .collect();
        Self {
            tasks,
            rate: plan.rate,
        }
    }

    /// Waits for every flooder to reach its end time, and adds up.
    pub(crate) async fn finish(self) -> FloodReport {
        let each: Vec<FloodCount> = join_all(self.tasks)
            .await
            .into_iter()
            // A flooder's task cannot panic short of a bug; if it did, it
            // counts as having done nothing rather than ending the run.
            .map(Result::unwrap_or_default)
            .collect();
        let mut total = FloodCount::default();
        for count in &each {
            total.add(count);
        }
        FloodReport {
            flooders: each.len(),
            rate: self.rate,
            total,
            each,
        }
    }
}

/// One hostile client.
struct Flooder {
    url: String,
    identity: Identity,
    /// Its place among the flooders, in its messages' text.
    index: usize,
    /// Time between two events; `None`: no pause at all.
    period: Option<Duration>,
}

impl Flooder {
    async fn run(self, from: Instant, until: Instant) -> FloodCount {
        tokio::time::sleep_until(from.into()).await;
        let mut count = FloodCount::default();
        let mut seq = 0_u64;
        let mut connections = 0_u64;
        let mut ticker = self.period.map(|period| {
            let mut ticker = tokio::time::interval(period);
            // A flooder that fell behind does not make up for it in a burst.
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker
        });
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            let attempt =
                tokio::time::timeout(left.min(HANDSHAKE_TIMEOUT), open(&self.url, &self.identity))
                    .await;
            let Ok(Ok(mut ws)) = attempt else {
                count.connect_errors += 1;
                tokio::time::sleep(RETRY_PAUSE.min(left)).await;
                continue;
            };
            if connections > 0 {
                count.reconnections += 1;
            }
            connections += 1;
            // Enter, and flood at once without waiting to be let in.
            let enter = emit(
                &AddUser(self.identity.name().to_owned()),
                Some(ack_id(AckKind::Entry, connections)),
            );
            let closed = match send(&mut ws, enter, until).await {
                Sent::Yes => {
                    count.sent += 1;
                    self.flood(&mut ws, &mut count, &mut seq, ticker.as_mut(), until)
                        .await
                }
                Sent::Closed => true,
                Sent::TimeUp => false,
            };
            if closed {
                count.disconnects += 1;
            } else {
                // A server that stopped reading must not hold the flooder
                // past its end time for long.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                    let _ = ws.send(Message::text("41")).await;
                    let _ = ws.close(None).await;
                })
                .await;
            }
        }
        count
    }

    /// Sends events on one connection until it closes (`true`) or time is
    /// up (`false`), answering pings and counting what the server says.
    async fn flood(
        &self,
        ws: &mut Socket,
        count: &mut FloodCount,
        seq: &mut u64,
        mut ticker: Option<&mut tokio::time::Interval>,
        until: Instant,
    ) -> bool {
        let deadline = tokio::time::sleep_until(until.into());
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                // What the server says first: a refusal or a disconnect
                // must be seen before the next event is sent.
                biased;
                _ = &mut deadline => return false,
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return true,
                        Some(Ok(_)) => continue,
                    };
                    match hear(&text) {
                        Heard::Ping => match send(ws, "3".to_owned(), until).await {
                            Sent::Yes => {}
                            Sent::Closed => return true,
                            Sent::TimeUp => return false,
                        },
                        Heard::Closed => return true,
                        heard => count.hear(heard),
                    }
                }
                _ = async {
                    match ticker.as_mut() {
                        Some(ticker) => {
                            ticker.tick().await;
                        }
                        // Full speed, but letting the crowd's tasks run.
                        None => tokio::task::yield_now().await,
                    }
                } => {
                    let (frame, message) = self.next_event(*seq);
                    *seq += 1;
                    match send(ws, frame, until).await {
                        Sent::Yes => {}
                        Sent::Closed => return true,
                        Sent::TimeUp => return false,
                    }
                    count.sent += 1;
                    if message {
                        count.messages_sent += 1;
                    }
                }
            }
        }
    }

    /// The `seq`th event: `typing`, `new message`, `history`, in turn;
    /// and whether it is a message.
    fn next_event(&self, seq: u64) -> (String, bool) {
        match seq % 3 {
            0 => (emit(&Typing, None), false),
            1 => {
                let text = format!("{FLOOD_TAG} {} {seq}", self.index);
                (
                    emit(&NewMessage(text), Some(ack_id(AckKind::Message, seq))),
                    true,
                )
            }
            _ => (
                emit(
                    &History { before: NEWEST },
                    Some(ack_id(AckKind::Read, seq)),
                ),
                false,
            ),
        }
    }
}

/// How a write went.
enum Sent {
    Yes,
    Closed,
    /// The phase ended while the write waited (the server stopped reading).
    TimeUp,
}

async fn send(ws: &mut Socket, frame: String, until: Instant) -> Sent {
    match tokio::time::timeout_at(until.into(), ws.send(Message::text(frame))).await {
        Ok(Ok(())) => Sent::Yes,
        Ok(Err(_)) => Sent::Closed,
        Err(_) => Sent::TimeUp,
    }
}

/// An event's frame, with an ack id when an answer is wanted.
fn emit<E: ClientEvent>(event: &E, ack: Option<u64>) -> String {
    // These payloads are strings and numbers: serializing them cannot fail.
    let args = codec::event_args(event).unwrap_or_default();
    codec::frame(&SocketPacket::event(E::NAME, args, ack))
}

/// Which kind of event an acknowledgement answers, told by its ack id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckKind {
    Entry = 0,
    Message = 1,
    Read = 2,
}

/// The ack id of the `n`th event of a kind: the kind is its remainder by 3.
fn ack_id(kind: AckKind, n: u64) -> u64 {
    n * 3 + kind as u64
}

impl AckKind {
    fn of(id: u64) -> Self {
        match id % 3 {
            0 => Self::Entry,
            1 => Self::Message,
            _ => Self::Read,
        }
    }
}

/// What a flooder needs from a frame the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// Engine.IO ping: answer it.
    Ping,
    /// An answer to one of its events: accepted, or refused with a code.
    Ack {
        kind: AckKind,
        refusal: Option<ErrorCode>,
    },
    /// `flooding`: the server disconnects it next.
    Flooding,
    /// Engine.IO close or Socket.IO disconnect.
    Closed,
    /// Anything else (the room's events): ignored.
    Other,
}

/// Reads a frame: only acknowledgements are parsed (an error ack is small;
/// a history page is skipped over without being built), the room's events
/// are told apart by their first bytes.
fn hear(frame: &str) -> Heard {
    if frame == "2" {
        return Heard::Ping;
    }
    if frame.starts_with('1') || frame.starts_with("41") {
        return Heard::Closed;
    }
    if let Some(rest) = frame.strip_prefix("42[\"") {
        return if is_event(rest, event::FLOODING) {
            Heard::Flooding
        } else {
            Heard::Other
        };
    }
    let Some(rest) = frame.strip_prefix("43") else {
        return Heard::Other;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let Ok(id) = rest[..digits].parse::<u64>() else {
        return Heard::Other;
    };
    match serde_json::from_str::<(protocol::Ack<IgnoredAny>,)>(&rest[digits..]) {
        Ok((ack,)) => Heard::Ack {
            kind: AckKind::of(id),
            refusal: ack.into_result().err().map(|error| error.code),
        },
        Err(_) => Heard::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_ids_tell_the_kind() {
        for n in [0, 1, 7, 1_000_000] {
            for kind in [AckKind::Entry, AckKind::Message, AckKind::Read] {
                assert_eq!(AckKind::of(ack_id(kind, n)), kind, "{kind:?} {n}");
            }
        }
        assert_ne!(
            ack_id(AckKind::Message, 4),
            ack_id(AckKind::Read, 4),
            "one sequence number, two kinds, two ids"
        );
    }

    #[test]
    fn hears_acks_refusals_and_notices() {
        let refused =
            r#"43[{"error":{"code":"rate_limited","message":"slow down","retryAfterMs":950}}]"#;
        let refused = refused.replacen("43", &format!("43{}", ack_id(AckKind::Message, 5)), 1);
        assert_eq!(
            hear(&refused),
            Heard::Ack {
                kind: AckKind::Message,
                refusal: Some(ErrorCode::RateLimited)
            }
        );
        let accepted = format!(
            r#"43{}[{{"data":{{"id":9,"username":"f","message":"lf 0 1","timestamp":1}}}}]"#,
            ack_id(AckKind::Message, 1)
        );
        assert_eq!(
            hear(&accepted),
            Heard::Ack {
                kind: AckKind::Message,
                refusal: None
            }
        );
        let page = format!(
            r#"43{}[{{"data":{{"items":[{{"type":"joined","id":1}}],"more":false}}}}]"#,
            ack_id(AckKind::Read, 2)
        );
        assert_eq!(
            hear(&page),
            Heard::Ack {
                kind: AckKind::Read,
                refusal: None
            }
        );
        let not_joined = format!(
            r#"43{}[{{"error":{{"code":"not_joined","message":"enter first"}}}}]"#,
            ack_id(AckKind::Read, 3)
        );
        assert_eq!(
            hear(&not_joined),
            Heard::Ack {
                kind: AckKind::Read,
                refusal: Some(ErrorCode::NotJoined)
            }
        );
        assert_eq!(
            hear(r#"42["flooding",{"message":"too fast"}]"#),
            Heard::Flooding
        );
        assert_eq!(hear("2"), Heard::Ping);
        assert_eq!(hear("41"), Heard::Closed);
        assert_eq!(hear("1"), Heard::Closed);
        assert_eq!(
            hear(r#"42["new message",{"message":"flooding"}]"#),
            Heard::Other
        );
        assert_eq!(hear("43x[]"), Heard::Other);
        assert_eq!(hear(r#"431[{"neither":1}]"#), Heard::Other);
    }

    #[test]
    fn counts_what_it_hears() {
        let mut count = FloodCount::default();
        let ack = |kind, refusal| Heard::Ack { kind, refusal };
        count.hear(ack(AckKind::Entry, None));
        count.hear(ack(AckKind::Message, None));
        count.hear(ack(AckKind::Message, None));
        count.hear(ack(AckKind::Read, None));
        count.hear(ack(AckKind::Message, Some(ErrorCode::RateLimited)));
        count.hear(ack(AckKind::Read, Some(ErrorCode::RateLimited)));
        count.hear(ack(AckKind::Message, Some(ErrorCode::NotJoined)));
        count.hear(Heard::Flooding);
        count.hear(Heard::Other);
        assert_eq!(
            count,
            FloodCount {
                entries_accepted: 1,
                messages_accepted: 2,
                rate_limited: 2,
                other_refusals: 1,
                flooding: 1,
                ..FloodCount::default()
            }
        );
        let mut total = FloodCount::default();
        total.add(&count);
        total.add(&count);
        assert_eq!(total.messages_accepted, 4);
        assert_eq!(total.flooding, 2);
    }

    #[test]
    fn events_take_turns_and_messages_are_tagged() {
        let flooder = Flooder {
            url: String::new(),
            identity: Identity::Guest("f".into()),
            index: 3,
            period: None,
        };
        let (typing, m0) = flooder.next_event(0);
        assert_eq!(typing, r#"42["typing"]"#);
        let (message, m1) = flooder.next_event(1);
        assert_eq!(message, r#"424["new message","lf 3 1"]"#);
        let (history, m2) = flooder.next_event(2);
        assert_eq!(history, r#"428["history",{"before":1125899906842624}]"#);
        assert_eq!((m0, m1, m2), (false, true, false));
    }
}
