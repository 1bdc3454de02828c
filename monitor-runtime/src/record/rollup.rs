//! A trace's tokens and cost, summed over its calls as they finish, and given to its root
//! call when the root finishes (roots finish last, except detached work).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::entry::{Cost, TokenUsage};
use crate::metrics::Spent;

/// At most this many traces are summed at once (roots that never finish are forgotten,
/// oldest first).
const MAX_OPEN_TRACES: usize = 16_384;

#[derive(Default)]
struct Table {
    by_trace: FxHashMap<u128, Spent>,
    order: VecDeque<u128>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);
/// Set once a call of some trace spent tokens: until then roots look at nothing.
static ANY: AtomicBool = AtomicBool::new(false);

/// Whether any trace has spent tokens.
#[inline]
pub(crate) fn any() -> bool {
    ANY.load(Ordering::Relaxed)
}

/// Whether a finished call has to go through `Record::spend`: it reported tokens, or it is
/// its trace's root in this process and some trace has spent tokens.
#[inline]
pub(crate) fn needs_spend(has_tokens: bool, local_root: impl FnOnce() -> bool) -> bool {
    has_tokens || (any() && local_root())
}

/// Adds what a call that is not a root spent to its trace's sum.
pub(crate) fn add(trace: u128, tokens: Option<TokenUsage>, cost: Option<Cost>) {
    let mut table = TABLE.lock();
    let table = table.get_or_insert_with(Table::default);
    if !table.by_trace.contains_key(&trace) {
        // `order` also holds traces already settled (they leave only the map, in O(1)):
        // past the bound, drop from the front until an open trace goes.
        while table.order.len() >= MAX_OPEN_TRACES {
            match table.order.pop_front() {
                Some(oldest) if table.by_trace.remove(&oldest).is_some() => break,
                Some(_) => {}
                None => break,
            }
        }
        table.order.push_back(trace);
    }
    table.by_trace.entry(trace).or_default().add(tokens, cost);
    ANY.store(true, Ordering::Release);
}

/// What the whole trace spent, for its root call that finishes now having spent `tokens`
/// and `cost` itself. `None` when nothing in the trace reported tokens.
pub(crate) fn settle(trace: u128, tokens: Option<TokenUsage>, cost: Option<Cost>) -> Option<Spent> {
    let descendants = if ANY.load(Ordering::Acquire) {
        let mut table = TABLE.lock();
        table
            .as_mut()
            .and_then(|table| table.by_trace.remove(&trace))
    } else {
        None
    };
    if descendants.is_none() && tokens.is_none() {
        return None;
    }
    let mut spent = descendants.unwrap_or_default();
    spent.add(tokens, cost);
    Some(spent)
}
