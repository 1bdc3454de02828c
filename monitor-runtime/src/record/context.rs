//! Which monitored call is running on this thread (or in this task): the stack of active
//! calls (frames) with what `record_*` noted on each, and the span ids a new call takes.
//! The `record_*` functions are in [`annotate`](super::annotate), the [`TraceContext`]
//! that carries a call elsewhere in [`trace_context`](super::trace_context), thread names
//! in [`thread`](super::thread), the scoped default tracer in [`scope`](super::scope).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

pub(crate) use super::origin::Origin;
use super::thread::{register_thread, UNASSIGNED};
use crate::entry::TokenUsage;

/// What `record_*` calls collect for the innermost active call.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    pub(crate) tokens: Option<TokenUsage>,
    pub(crate) quality: Option<f64>,
    pub(crate) validation_errors: Vec<String>,
    pub(crate) attributes: Vec<(String, Value)>,
    /// The price of the model `record_model` reported, on its whole name.
    pub(crate) model_price: Option<crate::cost::ModelPrice>,
    /// Named scores `record_score` noted (`quality` goes to `quality`), taken out before
    /// the rest is merged (`scores::merge_noted`).
    pub(crate) scores: Vec<crate::score::Score>,
}

impl Notes {
    /// Adds the noted tokens, validation errors and attributes to a call's details, under
    /// the per-call bounds (`max` bytes a field). The quality is the caller's to take.
    pub(crate) fn merge_into(self, details: &mut super::finished::Details, max: usize) {
        let details: &mut super::finished::More = details;
        if self.model_price.is_some() {
            details.model_price = self.model_price;
        }
        if let Some(tokens) = self.tokens {
            details
                .tokens
                .get_or_insert_with(TokenUsage::default)
                .add(tokens);
        }
        crate::capture::merge_noted(
            &mut details.validation_errors,
            &mut details.attributes,
            self.validation_errors,
            self.attributes,
            max,
        );
    }
}

/// Drops `notes`, inline when there are none. Left to the drop glue, even an empty
/// `Option<Box<Notes>>` is an out-of-line call, and the record path drops one or two on
/// every call.
#[inline(always)]
pub(crate) fn drop_notes(notes: Option<Box<Notes>>) {
    if notes.is_some() {
        drop(notes);
    } else {
        std::mem::forget(notes);
    }
}

/// One active monitored call on the thread's stack. Notes are boxed on first use, so a
/// frame is small and pushing it is cheap.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) notes: Option<Box<Notes>>,
    /// A call running elsewhere (see [`TraceContext`]): calls made here become its
    /// children, but `record_*` calls have no call of this thread to annotate.
    pub(crate) remote: bool,
    /// What the trace's origin says about export, passed on to the calls made under it.
    pub(crate) origin: Origin,
}

/// Everything the record path needs from the thread, behind one thread-local so a call
/// touches thread-local storage once when it starts and once when it ends.
pub(super) struct Local {
    pub(super) stack: RefCell<Vec<Frame>>,
    rng: Cell<u64>,
    index: Cell<u32>,
}

thread_local! {
    pub(super) static LOCAL: Local = const {
        Local {
            stack: RefCell::new(Vec::new()),
            rng: Cell::new(0),
            index: Cell::new(UNASSIGNED),
        }
    };
}

// ---------------------------------------------------------------------------------------
// This thread's index and span ids

impl Local {
    /// A small per-thread index, assigned on first use; it picks the thread's shard and
    /// names the thread in entries without copying its name on every call.
    #[inline]
    fn thread_index(&self) -> u32 {
        let index = self.index.get();
        if index != UNASSIGNED {
            return index;
        }
        let index = register_thread();
        self.index.set(index);
        index
    }

    /// wyrand: fast, good enough for ids that only need to be unique and non-zero.
    #[inline]
    fn next_random(&self) -> u64 {
        let mut s = self.rng.get();
        if s == 0 {
            s = seed(self.thread_index());
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        self.rng.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    #[inline]
    fn new_span_id(&self) -> u64 {
        loop {
            let id = self.next_random();
            if id != 0 {
                return id;
            }
        }
    }
}

#[cold]
fn seed(thread: u32) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    let address = &local as *const u8 as u64;
    (nanos ^ address.rotate_left(32) ^ u64::from(thread).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

// ---------------------------------------------------------------------------------------
// The stack of active calls

/// Ids of a call that is starting: its trace (inherited from the innermost active call,
/// or new), its span, and its parent span (0 for a root).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanIds {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_span_id: u64,
    pub(crate) origin: Origin,
}

/// Starts a call: new ids under the innermost active call, and a frame for it on top.
///
/// Every access to this thread's storage here uses `try_with`: a call made from another
/// thread-local's destructor, once this one is gone, is recorded as a root with fresh ids
/// rather than panicking (which would abort the process there).
#[inline]
pub(crate) fn enter() -> SpanIds {
    LOCAL
        .try_with(|local| {
            let mut stack = local.stack.borrow_mut();
            let span_id = local.new_span_id();
            let (trace_id, parent_span_id, origin) = match stack.last() {
                Some(parent) => (parent.trace_id, parent.span_id, parent.origin.of_child()),
                None => (
                    (u128::from(local.next_random()) << 64) | u128::from(local.new_span_id()),
                    0,
                    Origin::LOCAL,
                ),
            };
            stack.push(Frame {
                trace_id,
                span_id,
                notes: None,
                remote: false,
                origin,
            });
            SpanIds {
                trace_id,
                span_id,
                parent_span_id,
                origin,
            }
        })
        .unwrap_or_else(|_| ids_without_storage(None))
}

/// Ids of a call on a thread whose storage is gone: under `parent` if any, else a new
/// trace; from a process-wide generator, as the thread's own is gone.
#[cold]
fn ids_without_storage(parent: Option<(u128, u64)>) -> SpanIds {
    static STATE: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);
    // splitmix64 over a shared counter: unique enough for ids, never zero after `| 1`.
    let next = || {
        let mut z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) | 1
    };
    let (trace_id, parent_span_id) =
        parent.unwrap_or_else(|| ((u128::from(next()) << 64) | u128::from(next()), 0));
    SpanIds {
        trace_id,
        span_id: next(),
        parent_span_id,
        origin: Origin::LOCAL,
    }
}

/// Ids for a call that starts elsewhere than on the stack (a `tracing` span the layer
/// records): under the innermost active call on this thread, else under `parent` (trace
/// and span id), else a new trace. Nothing is pushed.
#[cfg(any(feature = "tracing-layer", feature = "rig"))]
pub(crate) fn child_ids(parent: Option<(u128, u64)>) -> SpanIds {
    LOCAL
        .try_with(|local| {
            let span_id = local.new_span_id();
            let innermost = local
                .stack
                .borrow()
                .last()
                .map(|frame| (frame.trace_id, frame.span_id, frame.origin.of_child()));
            let parent = parent.map(|(trace, span)| (trace, span, Origin::LOCAL));
            let (trace_id, parent_span_id, origin) = match innermost.or(parent) {
                Some(parent) => parent,
                None => (
                    (u128::from(local.next_random()) << 64) | u128::from(local.new_span_id()),
                    0,
                    Origin::LOCAL,
                ),
            };
            SpanIds {
                trace_id,
                span_id,
                parent_span_id,
                origin,
            }
        })
        .unwrap_or_else(|_| ids_without_storage(parent))
}

/// This thread's index, which picks its shard and names it in entries.
#[cfg(any(feature = "tracing-layer", feature = "rig"))]
pub(crate) fn thread_index() -> u32 {
    LOCAL
        .try_with(Local::thread_index)
        .unwrap_or(super::thread::TORN_DOWN)
}

#[inline]
pub(crate) fn push(frame: Frame) {
    let _ = LOCAL.try_with(|local| local.stack.borrow_mut().push(frame));
}

/// Takes the frame of `span_id` off the stack (the top one unless guards were dropped out
/// of order). Returns whether it was there, and its notes.
#[inline]
pub(crate) fn pop(span_id: u64) -> (bool, Option<Box<Notes>>) {
    LOCAL
        .try_with(|local| take_frame(&mut local.stack.borrow_mut(), span_id))
        .unwrap_or((false, None))
}

/// [`pop`] for a call that ends, which also needs this thread's identity for its record.
#[inline]
pub(crate) fn pop_finished(span_id: u64) -> (bool, Option<Box<Notes>>, u32) {
    LOCAL
        .try_with(|local| {
            let (found, notes) = take_frame(&mut local.stack.borrow_mut(), span_id);
            (found, notes, local.thread_index())
        })
        .unwrap_or((false, None, super::thread::TORN_DOWN))
}

#[inline(always)]
fn take_frame(stack: &mut Vec<Frame>, span_id: u64) -> (bool, Option<Box<Notes>>) {
    let position = match stack.last() {
        Some(top) if top.span_id == span_id => Some(stack.len() - 1),
        _ => stack.iter().rposition(|f| f.span_id == span_id),
    };
    match position {
        // Moved out of the popped frame, which then has nothing left to drop: the drop of
        // an empty `notes` left in place is an out-of-line call on every call's end.
        Some(position) if position + 1 == stack.len() => (true, stack.pop().and_then(|f| f.notes)),
        Some(position) => (true, stack.remove(position).notes),
        None => (false, None),
    }
}

pub(super) fn with_innermost<R>(f: impl FnOnce(&mut Notes) -> R) -> Option<R> {
    LOCAL
        .try_with(|local| {
            let mut stack = local.stack.borrow_mut();
            let frame = stack.last_mut().filter(|frame| !frame.remote)?;
            Some(f(frame.notes.get_or_insert_with(Default::default)))
        })
        .ok()
        .flatten()
}
