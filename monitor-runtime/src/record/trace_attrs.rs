//! What is said once for a whole trace (its session, user, tags and metadata) and applies
//! to every span of it: kept by trace id, so spans made in spawned threads and tasks, or
//! recorded before it was said, carry it too when they are read or exported.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::capture::{mask_text, DEFAULT_MAX_FIELD_BYTES};

/// At most this many traces keep their attributes; the oldest go first.
pub(crate) const MAX_TRACES_WITH_ATTRIBUTES: usize = 16_384;

/// At most this many tags and metadata keys per trace.
const MAX_PER_TRACE: usize = 64;

#[derive(Clone, Debug, Default)]
pub(crate) struct TraceAttributes {
    pub(crate) session: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
}

#[derive(Default)]
struct Table {
    by_trace: FxHashMap<u128, Arc<TraceAttributes>>,
    order: VecDeque<u128>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);
/// Set once anything is said for a trace: until then, reading an entry takes no lock.
static ANY: AtomicBool = AtomicBool::new(false);

/// Changes the attributes of `trace`, keeping at most [`MAX_TRACES_WITH_ATTRIBUTES`].
pub(crate) fn update(trace: u128, change: impl FnOnce(&mut TraceAttributes)) {
    let mut table = TABLE.lock();
    let table = table.get_or_insert_with(Table::default);
    if !table.by_trace.contains_key(&trace) {
        if table.order.len() >= MAX_TRACES_WITH_ATTRIBUTES {
            if let Some(oldest) = table.order.pop_front() {
                table.by_trace.remove(&oldest);
            }
        }
        table.order.push_back(trace);
    }
    let attributes = table.by_trace.entry(trace).or_default();
    change(Arc::make_mut(attributes));
    ANY.store(true, Ordering::Release);
}

/// The attributes of `trace`, if any were said.
pub(crate) fn get(trace: u128) -> Option<Arc<TraceAttributes>> {
    if !ANY.load(Ordering::Acquire) {
        return None;
    }
    TABLE.lock().as_ref()?.by_trace.get(&trace).cloned()
}

/// A kept text: capped, with credentials masked as in any captured string (`field` is the
/// name it is masked under; `""` for ids, which are not secrets by their name).
pub(crate) fn kept(field: &str, text: &str) -> String {
    let capped: String = if text.len() > DEFAULT_MAX_FIELD_BYTES {
        let mut end = DEFAULT_MAX_FIELD_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_owned()
    } else {
        text.to_owned()
    };
    mask_text(field, &capped).into_owned()
}

impl TraceAttributes {
    pub(crate) fn add_tag(&mut self, tag: String) {
        if self.tags.len() < MAX_PER_TRACE && !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
    }

    pub(crate) fn add_metadata(&mut self, key: String, value: Value) {
        if self.metadata.len() < MAX_PER_TRACE || self.metadata.contains_key(&key) {
            self.metadata.insert(key, value);
        }
    }

    /// As span attributes: `session.id`, `user.id`, `tag.tags`, `metadata` (JSON text), the
    /// names OpenInference (Phoenix) and Langfuse read.
    pub(crate) fn write_into(&self, attributes: &mut Map<String, Value>) {
        if let Some(session) = &self.session {
            attributes.insert("session.id".to_owned(), session.clone().into());
        }
        if let Some(user) = &self.user {
            attributes.insert("user.id".to_owned(), user.clone().into());
        }
        if !self.tags.is_empty() {
            attributes.insert("tag.tags".to_owned(), self.tags.clone().into());
        }
        if !self.metadata.is_empty() {
            let text = Value::Object(self.metadata.clone()).to_string();
            attributes.insert("metadata".to_owned(), text.into());
        }
    }
}
