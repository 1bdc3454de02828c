//! Threads as entries name them: a small index per thread, assigned on its first call,
//! and the thread's name behind it, kept a while after the thread exits.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

/// The index of a thread that has made no call yet.
pub(super) const UNASSIGNED: u32 = u32::MAX;

/// The index of calls made on a thread whose storage is being torn down (from another
/// thread-local's destructor): its own index is gone with its storage.
pub(super) const TORN_DOWN: u32 = u32::MAX - 1;

/// How many exited threads keep their names for the entries they left.
const EXITED_NAMES: usize = 4096;

/// Thread names by index: every live thread's, and those of the latest [`EXITED_NAMES`]
/// threads that exited. Older ones go, so threads that come and go cost no memory that
/// stays; an entry of a thread long gone reads `thread-<index>`.
#[derive(Default)]
struct ThreadNames {
    live: FxHashMap<u32, Box<str>>,
    exited: FxHashMap<u32, Box<str>>,
    exit_order: VecDeque<u32>,
}

static THREAD_NAMES: Mutex<Option<ThreadNames>> = Mutex::new(None);
static NEXT_THREAD: AtomicU32 = AtomicU32::new(0);

/// Moves this thread's name among the exited when the thread ends.
struct ThreadExit(Cell<u32>);

impl Drop for ThreadExit {
    fn drop(&mut self) {
        let index = self.0.get();
        if index == UNASSIGNED {
            return;
        }
        let mut names = THREAD_NAMES.lock();
        let names = names.get_or_insert_with(Default::default);
        if let Some(name) = names.live.remove(&index) {
            names.exited.insert(index, name);
            names.exit_order.push_back(index);
            if names.exit_order.len() > EXITED_NAMES {
                if let Some(oldest) = names.exit_order.pop_front() {
                    names.exited.remove(&oldest);
                }
            }
        }
    }
}

/// The name of the thread with `index`.
pub(crate) fn thread_name(index: u32) -> String {
    if index == TORN_DOWN {
        return "an exiting thread".to_owned();
    }
    let names = THREAD_NAMES.lock();
    names
        .as_ref()
        .and_then(|names| names.live.get(&index).or_else(|| names.exited.get(&index)))
        .map_or_else(|| format!("thread-{index}"), |name| name.to_string())
}

thread_local! {
    /// Retires the thread's name when the thread exits.
    static EXIT: ThreadExit = const { ThreadExit(Cell::new(UNASSIGNED)) };
}

#[cold]
pub(super) fn register_thread() -> u32 {
    let thread = std::thread::current();
    let name = match thread.name() {
        Some(name) => name.into(),
        None => format!("{:?}", thread.id()).into(),
    };
    // Indexes are not reused (an entry keeps its thread's index), so they wrap only after
    // four billion threads.
    let index = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % TORN_DOWN;
    THREAD_NAMES
        .lock()
        .get_or_insert_with(Default::default)
        .live
        .insert(index, name);
    // `try_with`: a thread being torn down keeps its name among the live ones.
    let _ = EXIT.try_with(|exit| exit.0.set(index));
    index
}
