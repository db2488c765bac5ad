//! The server's integration tests: each test starts its own server on
//! 127.0.0.1:0 and talks to it over real connections, Socket.IO through the
//! `sio-client` crate's native client and HTTP through a plain TCP client.

// A panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod chat;
mod client_ids;
mod cluster;
mod connect;
mod connections;
mod floods;
mod forms;
mod fuzz;
mod history;
mod http;
mod input;
mod metrics;
mod names;
mod nodes;
mod page;
mod presence;
mod security;
mod sessions;
mod shared_limits;
mod site;
mod slow;
mod store;
mod support;
