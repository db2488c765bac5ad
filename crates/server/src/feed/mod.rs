//! The feed: brings every committed item of the conversation to this node's
//! fan-out, in id order, exactly once. Both implementations are the store's
//! [`Sink`](crate::store::Sink), the writer's one way out:
//!
//! - [`LocalFeed`] (a single node): the writer hands each committed batch
//!   straight to the fan-out, before the appends return.
//! - [`PostgresFeed`] (a cluster): every commit, on any node, notifies a
//!   PostgreSQL channel; each node reads `id > its cursor` from the database
//!   when notified, when its own writer commits, when its listening
//!   connection comes back (notifications sent meanwhile are lost), and on a
//!   safety timer. Ids are committed in their order (see the store), so
//!   reading past the cursor never skips an item that commits later.
//!
//! Either way the sender of an item does not hear it again: the writer tells
//! the feed which connection sent which id before the commit, and the feed
//! leaves that connection out.

mod local;
mod postgres;

pub use local::LocalFeed;
pub use postgres::PostgresFeed;
