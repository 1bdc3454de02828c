//! What `#[monitored(kind = "..", model = "..", level = "..")]` declares about a module:
//! generated code keeps one [`ModuleDeclaration`] in a `static` and applies it on every
//! call; only the first does anything. The kind and model are read when entries and spans
//! are made, the level by the module's log line.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use tracing::Level;

use super::callsite::Callsite;
use crate::kind::SpanKind;

/// What a module was declared as: its kind and its model.
type Declared = (Option<SpanKind>, Option<&'static str>);

/// The kind and model each module was declared with, by module id.
static DECLARED: RwLock<Option<FxHashMap<u32, Declared>>> = RwLock::new(None);
/// Set once a module is declared: until then, reading an entry takes no lock.
static ANY_DECLARED: AtomicBool = AtomicBool::new(false);

/// What a module was declared as, if anything: read when entries are made, never on the
/// record path.
pub(crate) fn declared(module: u32) -> Declared {
    if !ANY_DECLARED.load(Ordering::Acquire) {
        return (None, None);
    }
    DECLARED
        .read()
        .as_ref()
        .and_then(|map| map.get(&module).copied())
        .unwrap_or((None, None))
}

/// `#[monitored(kind = "..", model = "..", level = "..")]`, kept by generated code in a
/// `static` and applied on every call; only the first does anything.
#[derive(Debug)]
pub struct ModuleDeclaration {
    kind: Option<SpanKind>,
    model: Option<&'static str>,
    level: Option<Level>,
    applied: AtomicBool,
}

impl ModuleDeclaration {
    /// A declaration, not yet applied.
    pub const fn new(
        kind: Option<SpanKind>,
        model: Option<&'static str>,
        level: Option<Level>,
    ) -> Self {
        ModuleDeclaration {
            kind,
            model,
            level,
            applied: AtomicBool::new(false),
        }
    }

    /// Declares the module of `callsite` (once).
    #[inline]
    pub fn apply(&self, callsite: &'static Callsite) {
        if !self.applied.load(Ordering::Relaxed) {
            self.apply_now(callsite);
        }
    }

    #[cold]
    fn apply_now(&self, callsite: &'static Callsite) {
        if self.kind.is_some() || self.model.is_some() {
            let id = callsite.module_id().0;
            DECLARED
                .write()
                .get_or_insert_with(FxHashMap::default)
                .insert(id, (self.kind, self.model));
            ANY_DECLARED.store(true, Ordering::Release);
        }
        // The level cannot be set from inside a subscriber callback, or when the
        // subscriber panicked: the next call tries again.
        if let Some(level) = self.level {
            if !super::log::set_module_level(callsite.name(), level) {
                return;
            }
        }
        self.applied.store(true, Ordering::Relaxed);
    }
}
