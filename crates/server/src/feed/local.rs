//! The feed of a single node: committed batches go straight to the fan-out.

use protocol::HistoryItem;

use crate::fanout::Fanout;
use crate::store::{Origin, Sink};

/// Delivers each committed batch as the writer commits it.
#[derive(Debug, Clone)]
pub struct LocalFeed {
    fanout: Fanout,
}

impl LocalFeed {
    /// A feed into `fanout`.
    pub fn new(fanout: Fanout) -> Self {
        Self { fanout }
    }
}

impl Sink for LocalFeed {
    fn committed(&self, batch: &[(HistoryItem, Option<Origin>)]) {
        for (item, origin) in batch {
            self.fanout.deliver(item, *origin);
        }
    }
}
