//! Module names: interned once into small integer ids so the record path never hashes or
//! copies a string.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use parking_lot::RwLock;
use rustc_hash::FxHashMap;

/// The id of an interned module name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ModuleId(pub(crate) u32);

#[derive(Default)]
struct Registry {
    ids: FxHashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

fn registry() -> &'static RwLock<Registry> {
    static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

thread_local! {
    // Per-thread caches in front of the registry, so repeated names skip its lock: the
    // last name (a loop calling one module compares one string), then every name seen.
    static LAST: Cell<(&'static str, u32)> = const { Cell::new(("", u32::MAX)) };
    static CACHE: RefCell<FxHashMap<&'static str, u32>> = RefCell::new(FxHashMap::default());
}

/// The most distinct module names a process registers. Past it, new names are recorded
/// under [`OVERFLOW_MODULE`] (with a warning, once), so names built from unbounded data
/// cannot grow memory without end.
///
/// A name longer than [`DEFAULT_MAX_FIELD_BYTES`](crate::capture::DEFAULT_MAX_FIELD_BYTES)
/// is kept as every other string is: its first 4096 bytes and a marker,
/// `…[truncated: N bytes]`. Calls of names alike in those bytes and in length are counted
/// under one module.
pub const MAX_MODULES: usize = 10_000;

/// The module that calls of names past [`MAX_MODULES`] are recorded under.
pub const OVERFLOW_MODULE: &str = "monitor.other_modules";

/// The id of `name`, registering it on first use.
///
/// Names are leaked: a program has a bounded set of module names, and leaking lets every
/// record carry a `u32` instead of a string. Do not build names from unbounded data
/// (request ids and the like); put such values in attributes. At most [`MAX_MODULES`] are
/// kept.
pub(crate) fn intern(name: &str) -> ModuleId {
    let kept = kept_name(name);
    let name: &str = &kept;
    let (last_name, last_id) = LAST.with(Cell::get);
    if last_id != u32::MAX && last_name == name {
        return ModuleId(last_id);
    }
    // `try_with`: a call from a thread-local's destructor goes to the registry instead.
    let cached = CACHE
        .try_with(|cache| cache.borrow().get_key_value(name).map(|(k, v)| (*k, *v)))
        .ok()
        .flatten();
    let (name, id) = cached.unwrap_or_else(|| {
        let id = intern_slow(name);
        let interned = module_name(id);
        // A name past the limit is not cached either, so the cache stays bounded too.
        if interned == name {
            let _ = CACHE.try_with(|cache| cache.borrow_mut().insert(interned, id.0));
        }
        (interned, id.0)
    });
    LAST.with(|last| last.set((name, id)));
    ModuleId(id)
}

/// The id of `name` if it was ever registered.
pub(crate) fn lookup(name: &str) -> Option<ModuleId> {
    let name = kept_name(name);
    registry().read().ids.get(&*name).map(|&id| ModuleId(id))
}

/// A module name as it is kept: cut at the default field cap, as every kept string is.
#[inline]
fn kept_name(name: &str) -> Cow<'_, str> {
    crate::capture::cut_name(name, crate::capture::DEFAULT_MAX_FIELD_BYTES)
}

fn intern_slow(name: &str) -> ModuleId {
    if let Some(&id) = registry().read().ids.get(name) {
        return ModuleId(id);
    }
    let mut registry = registry().write();
    if let Some(&id) = registry.ids.get(name) {
        return ModuleId(id);
    }
    if registry.names.len() >= MAX_MODULES {
        let (id, first) = overflow(&mut registry);
        // Warned with the registry let go: a subscriber seeing the warning may call
        // monitored code, which looks names up here.
        drop(registry);
        if first {
            warn_overflow();
        }
        return id;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let id = u32::try_from(registry.names.len()).expect("more than 4 billion module names");
    registry.names.push(leaked);
    registry.ids.insert(leaked, id);
    ModuleId(id)
}

/// The id of [`OVERFLOW_MODULE`], registered (past the limit) on first need; `true` when
/// this was that first need.
#[cold]
fn overflow(registry: &mut Registry) -> (ModuleId, bool) {
    if let Some(&id) = registry.ids.get(OVERFLOW_MODULE) {
        return (ModuleId(id), false);
    }
    let id = registry.names.len() as u32;
    registry.names.push(OVERFLOW_MODULE);
    registry.ids.insert(OVERFLOW_MODULE, id);
    (ModuleId(id), true)
}

#[cold]
fn warn_overflow() {
    crate::record::subscriber::emit!(tracing::warn!(
        target: "monitor",
        limit = MAX_MODULES,
        "more than {MAX_MODULES} distinct module names: further names are recorded as \
         {OVERFLOW_MODULE}; put unbounded values in attributes, not in module names"
    ));
}

/// The name behind `id`.
pub(crate) fn module_name(id: ModuleId) -> &'static str {
    registry().read().names[id.0 as usize]
}

/// Where a module's name comes from at a call site.
#[derive(Debug)]
enum NameSource {
    Literal(&'static str),
    /// `std::any::type_name` of a fn item nested in the monitored function; see
    /// [`name_from_fn_path`].
    FnPath(fn() -> &'static str),
}

/// A monitored call site: its module name, resolved to an id once and cached.
///
/// Generated code keeps one in a `static` per monitored function.
#[derive(Debug)]
pub struct Callsite {
    name: NameSource,
    // 0 until resolved, then id + 1.
    id: AtomicU32,
}

impl Callsite {
    /// A call site named `name`.
    pub const fn new(name: &'static str) -> Self {
        Callsite {
            name: NameSource::Literal(name),
            id: AtomicU32::new(0),
        }
    }

    /// A call site named after the function that contains a nested `fn` item whose
    /// `type_name` `path` returns: `my_crate::Type::method::__name` becomes `Type::method`.
    pub const fn from_fn_path(path: fn() -> &'static str) -> Self {
        Callsite {
            name: NameSource::FnPath(path),
            id: AtomicU32::new(0),
        }
    }

    /// The module name of this call site.
    pub fn name(&self) -> &'static str {
        module_name(self.module_id())
    }

    // Inlined into every call's start: a load and a compare once the id is known.
    #[inline]
    pub(crate) fn module_id(&self) -> ModuleId {
        let cached = self.id.load(Ordering::Relaxed);
        if cached != 0 {
            return ModuleId(cached - 1);
        }
        self.intern_now()
    }

    /// The first call's lookup of the module's id.
    #[cold]
    fn intern_now(&self) -> ModuleId {
        let id = match self.name {
            NameSource::Literal(name) => intern(name),
            NameSource::FnPath(path) => intern(&name_from_fn_path(path())),
        };
        self.id.store(id.0 + 1, Ordering::Relaxed);
        id
    }
}

/// Turns the `type_name` of a fn item nested in a monitored function into the function's
/// name: the last segment names the nested item and is dropped; module paths and generic
/// arguments are dropped; a method keeps its type (`Type::method`) and a trait method its
/// trait (`<Type as Trait>::method`). Async bodies (`{{closure}}`) are skipped.
pub(crate) fn name_from_fn_path(path: &str) -> String {
    let mut segments = split_path(path);
    segments.pop(); // the nested marker item
    while segments.last().is_some_and(|s| s.starts_with("{{")) {
        segments.pop();
    }
    let Some(function) = segments.pop() else {
        return path.to_owned();
    };
    match segments.pop() {
        Some(owner) if owner.starts_with('<') => {
            format!("{}::{function}", simplify_qualified(&owner))
        }
        Some(owner) if owner.starts_with(|c: char| c.is_uppercase()) => {
            format!("{}::{function}", strip_generics(&owner))
        }
        _ => function,
    }
}

/// Splits `a::b<c::d>::e` at top-level `::` only.
fn split_path(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ':' if depth == 0 && chars.peek() == Some(&':') => {
                chars.next();
                segments.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    segments.push(current);
    segments
}

fn strip_generics(segment: &str) -> &str {
    segment.split('<').next().unwrap_or(segment)
}

/// `<my::Type<T> as my::Trait>` becomes `<Type as Trait>`.
fn simplify_qualified(segment: &str) -> String {
    let inner = &segment[1..segment.len().saturating_sub(1)];
    match inner.split_once(" as ") {
        Some((ty, tr)) => format!("<{} as {}>", last_segment(ty), last_segment(tr)),
        None => last_segment(inner).to_owned(),
    }
}

fn last_segment(path: &str) -> &str {
    let path = path.trim_start_matches('&').trim();
    let segments = split_path(path);
    let last = segments.last().map(String::as_str).unwrap_or(path);
    let start = path.len() - last.len();
    strip_generics(&path[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_fn_paths() {
        assert_eq!(
            name_from_fn_path("app::pipeline::retrieve::__monitor_name"),
            "retrieve"
        );
        assert_eq!(
            name_from_fn_path("app::Retriever::fetch::__monitor_name"),
            "Retriever::fetch"
        );
        assert_eq!(
            name_from_fn_path("app::Cache<alloc::string::String>::get::__monitor_name"),
            "Cache::get"
        );
        assert_eq!(
            name_from_fn_path("<app::Retriever as app::module::Module>::forward::__monitor_name"),
            "<Retriever as Module>::forward"
        );
        assert_eq!(
            name_from_fn_path("app::Agent::run::{{closure}}::__monitor_name"),
            "Agent::run"
        );
    }

    #[test]
    fn interning_is_stable() {
        let a = intern("interning_is_stable::a");
        let b = intern("interning_is_stable::b");
        assert_ne!(a, b);
        assert_eq!(intern("interning_is_stable::a"), a);
        assert_eq!(module_name(b), "interning_is_stable::b");
        let site = Callsite::new("interning_is_stable::a");
        assert_eq!(site.module_id(), a);
        assert_eq!(site.name(), "interning_is_stable::a");
    }
}
