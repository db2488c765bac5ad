//! The relay of a cluster: one Redis pub/sub channel (`<prefix>:relay`)
//! that every node publishes to and subscribes to. The subscription is a
//! RESP3 connection that reconnects and subscribes again by itself after
//! Redis restarts; signals published while a node is cut off are lost (see
//! the module above for why that is acceptable).

use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;

use super::Signal;
use crate::cluster::{NodeId, REDIS_TIMEOUT, Redis};
use crate::fanout::Fanout;
use protocol::{ServerEvent, UserTyping};

/// How often the subscriber's connection is checked (a reconnection is
/// tried whenever the check fails).
const CHECK: Duration = Duration::from_secs(2);

/// A signal as published: who sent it and what.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: String,
    signal: Signal,
}

/// Publishes signals to the other nodes; cheap to clone.
#[derive(Debug, Clone)]
pub struct RedisRelay {
    redis: Redis,
    node: NodeId,
}

impl RedisRelay {
    /// The relay of node `node` through `redis`.
    pub fn new(redis: Redis, node: NodeId) -> Self {
        Self { redis, node }
    }

    /// Publishes `signal` in the background.
    pub fn send(&self, signal: Signal) {
        let envelope = Envelope {
            node: self.node.0.clone(),
            signal,
        };
        let payload = match serde_json::to_string(&envelope) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(%error, "relay: could not encode a signal");
                return;
            }
        };
        let (mut connection, channel) = (self.redis.connection(), self.redis.key("relay"));
        tokio::spawn(async move {
            let published = tokio::time::timeout(
                REDIS_TIMEOUT,
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(payload)
                    .query_async::<i64>(&mut connection),
            )
            .await;
            if !matches!(published, Ok(Ok(_))) {
                tracing::warn!(
                    "relay: Redis does not answer; a signal to the other nodes was lost"
                );
            }
        });
    }
}

/// Receives the other nodes' signals and acts on them on this node: typing
/// to this node's listeners, session ends to this node's sockets. Runs
/// until aborted.
pub async fn receive(redis: Redis, node: NodeId, fanout: Fanout, io: SocketIo) {
    let channel = redis.key("relay");
    let (pushes, mut received) = tokio::sync::mpsc::unbounded_channel();
    let config = crate::cluster::manager_config()
        .set_push_sender(pushes)
        .set_automatic_resubscription();
    let mut subscriber = loop {
        match ConnectionManager::new_with_config(redis.client().clone(), config.clone()).await {
            Ok(subscriber) => break subscriber,
            Err(error) => {
                tracing::warn!(%error, "relay: cannot connect to Redis; trying again");
                tokio::time::sleep(CHECK).await;
            }
        }
    };
    loop {
        match subscriber.subscribe(&channel).await {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(%error, "relay: cannot subscribe; trying again");
                tokio::time::sleep(CHECK).await;
            }
        }
    }
    tracing::info!(%channel, "relay: subscribed");
    let mut check = tokio::time::interval(CHECK);
    let mut down = false;
    loop {
        tokio::select! {
            push = received.recv() => {
                let Some(push) = push else { return };
                match push.kind {
                    redis::PushKind::Message => {
                        if let Some(envelope) = decode(&push.data)
                            && envelope.node != node.0
                        {
                            act(envelope.signal, &fanout, &io).await;
                        }
                    }
                    redis::PushKind::Disconnection => {
                        tracing::warn!("relay: the subscription to Redis was lost; reconnecting");
                    }
                    _ => {}
                }
            }
            _ = check.tick() => {
                // A command on the subscriber's connection: it reconnects
                // (and subscribes again) when it finds it broken.
                let ping = tokio::time::timeout(
                    REDIS_TIMEOUT,
                    redis::cmd("PING").query_async::<String>(&mut subscriber),
                )
                .await;
                match (ping, down) {
                    (Ok(Ok(_)), true) => {
                        tracing::info!("relay: Redis answers again");
                        down = false;
                    }
                    (Ok(Ok(_)), false) => {}
                    (_, false) => {
                        tracing::warn!("relay: Redis does not answer; typing from other nodes pauses");
                        down = true;
                    }
                    (_, true) => {}
                }
            }
        }
    }
}

/// The envelope in a pub/sub message's data (`[channel, payload]`).
fn decode(data: &[redis::Value]) -> Option<Envelope> {
    let payload: String = redis::from_redis_value(data.last()?.clone()).ok()?;
    match serde_json::from_str(&payload) {
        Ok(envelope) => Some(envelope),
        Err(error) => {
            tracing::warn!(%error, "relay: an unreadable signal");
            None
        }
    }
}

/// Does what a signal says, on this node.
async fn act(signal: Signal, fanout: &Fanout, io: &SocketIo) {
    match signal {
        Signal::Typing { username } => {
            fanout.broadcast(None, &ServerEvent::Typing(UserTyping { username }));
        }
        Signal::StopTyping { username } => {
            fanout.broadcast(None, &ServerEvent::StopTyping(UserTyping { username }));
        }
        Signal::EndSession { jti } => super::disconnect(io, super::session_room(&jti)).await,
        Signal::EndSessions { user_id } => super::disconnect(io, super::user_room(user_id)).await,
    }
}
