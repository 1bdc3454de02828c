//! A tap on finished calls for readers that act on them one by one (online judges): set on
//! a tracer once, it is offered each record as the record goes into its shard, under the
//! lock the drain already holds. Without a tap (the usual case) a drained record pays one
//! check of an `Option`; the call itself pays nothing more, since its record reaches the
//! shard in a batch, off the call.

use std::sync::Arc;

use super::finished::Record;

/// What a tracer's tap does with a finished call. It must only look and enqueue: it runs
/// under a shard's lock.
pub(crate) trait RecordTap: Send + Sync + std::fmt::Debug {
    /// A finished call went into the tracer's shard.
    fn offer(&self, record: &Record);
    /// The tap as `Any`, for its owner to find its own type again.
    fn as_any(&self) -> &dyn std::any::Any;
    /// The program's last handle of the tracer is being dropped (the tracer is still
    /// whole): the tap's last chance to use it (judges wait, boundedly, for the calls they
    /// are still judging).
    fn last_handle_dropping(&self) {}
}

/// A tap shared by every shard of a tracer.
pub(crate) type SharedTap = Arc<dyn RecordTap>;
