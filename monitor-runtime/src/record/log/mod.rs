//! Log lines for finished calls, through `tracing`, with one target per module.
//!
//! A finished call emits at most one event, with the target `monitor::<module>`: the module
//! name with `<Type as Trait>::method` written `Type::Trait::method` and every character
//! other than ASCII letters, digits, `_` and `::` replaced by `_` (see [`target_of`]). So
//! `EnvFilter` directives raise or lower every module (`monitor=info`) or one
//! (`monitor::skill_generator=debug`, `monitor::Agent=warn` for all of `Agent`'s methods),
//! as the seed's logger hierarchy (`…monitoring.<module>`) does.
//!
//! What a line carries follows the seed's levels:
//! - INFO, a successful call: `module`, `status`, `duration_ms`, `quality`, token counts;
//! - DEBUG, a successful call when the module's DEBUG events are on: the same line plus the
//!   captured `inputs` and `outputs` (already capped and redacted), in place of the INFO one;
//! - WARN, a failed call (error, panic, cancelled): the summary and the `error` message
//!   (plus inputs and outputs when the module's DEBUG events are on).
//!
//! Which of these a module may emit is its level, as a Python logger's level:
//! - `#[monitored(level = "..")]` sets it for that module, and wins;
//! - else `MONITORING_LOG_LEVEL` (`trace`, `debug`, `info`, `warn`, `error`; unset or `off`:
//!   nothing) is the default: the level of every module the subscriber's filter does not
//!   speak of. A filter directive that enables more for `monitor` or for one module than for
//!   an unrelated target (`monitor=debug`, `monitor::skill_generator=debug`) raises it, as
//!   `setLevel` on a child logger does; a blanket one (`RUST_LOG=debug`, or no filter) does
//!   not.
//!
//! The subscriber's filter then chooses among what may be emitted (and lowers any module:
//! `monitor::chatty=off`).
//!
//! Cost: with no level set anywhere, or no subscriber taking WARN events, two relaxed loads
//! per call. Otherwise each module has a
//! `tracing` callsite per level, registered on its first finished call, whose interest
//! `tracing` caches (and rebuilds when subscribers change): a filtered-out event costs the
//! lookup of the module's callsites (a per-thread cache hit) and a load of that interest.

// Owns: the levels (the default from `MONITORING_LOG_LEVEL`, each module's own), each
// module's `tracing` callsites made at run time (`Site`), and the event of a finished
// call. May call: `tracing`, `record::callsite` (module names and ids), `capture`
// (captured values as text) and `entry`. Unit tests are in `tests.rs`.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;

use parking_lot::RwLock;
use rustc_hash::FxHashMap;
use tracing::field::{Field, Value};
use tracing::level_filters::LevelFilter;
use tracing::metadata::Kind;
use tracing::{Event, Level};

use super::site::Site;

use crate::capture::CapturedValues;
use crate::entry::{Status, TokenUsage};
use crate::record::callsite::{module_name, ModuleId, MAX_MODULES};

const UNREAD: u8 = u8::MAX;
const OFF: u8 = 0;
const WARN: u8 = 2;
const INFO: u8 = 3;
const DEBUG: u8 = 4;

/// The default level: `UNREAD` until the environment is read, then `OFF` or 1 (error) to
/// 5 (trace).
static DEFAULT_LEVEL: AtomicU8 = AtomicU8::new(UNREAD);

/// Some module has a level of its own (`#[monitored(level = "..")]`).
static MODULE_LEVELS: AtomicBool = AtomicBool::new(false);

fn parse_level(text: &str) -> u8 {
    match text.trim().to_ascii_lowercase().as_str() {
        "error" => 1,
        "warn" | "warning" => WARN,
        "info" => INFO,
        "debug" => DEBUG,
        "trace" => 5,
        _ => OFF,
    }
}

fn level_number(level: Level) -> u8 {
    match level {
        Level::ERROR => 1,
        Level::WARN => WARN,
        Level::INFO => INFO,
        Level::DEBUG => DEBUG,
        Level::TRACE => 5,
    }
}

/// The default level, reading `MONITORING_LOG_LEVEL` once.
#[inline]
fn default_level() -> u8 {
    let level = DEFAULT_LEVEL.load(Ordering::Relaxed);
    if level != UNREAD {
        return level;
    }
    let level = std::env::var("MONITORING_LOG_LEVEL").map_or(OFF, |text| parse_level(&text));
    DEFAULT_LEVEL.store(level, Ordering::Relaxed);
    level
}

/// Sets the default level in place of `MONITORING_LOG_LEVEL` (`None`: off).
pub(crate) fn set_default_level(level: Option<Level>) {
    DEFAULT_LEVEL.store(level.map_or(OFF, level_number), Ordering::Relaxed);
}

/// `true` when some finished call may log: check before [`finished`]. False also
/// while no subscriber takes events at WARN or above (none installed, say): then nothing
/// of the call is looked at.
#[inline]
pub(crate) fn enabled() -> bool {
    (default_level() != OFF || MODULE_LEVELS.load(Ordering::Relaxed))
        && LevelFilter::current() >= LevelFilter::WARN
}

/// A finished call, as its log line shows it.
pub(crate) struct Finished<'a> {
    pub(crate) module: ModuleId,
    pub(crate) status: Status,
    pub(crate) duration_ns: u64,
    pub(crate) error: Option<&'a str>,
    pub(crate) quality: Option<f64>,
    pub(crate) tokens: Option<&'a TokenUsage>,
    /// The captured inputs and output.
    pub(crate) values: Option<&'a CapturedValues>,
}

/// Emits the log line of a finished call, if its module's level and the subscriber want it
/// (check [`enabled`] first). The record path asks [`line_for`] first instead, so it builds
/// the line's fields only when one is emitted.
#[cfg(test)]
pub(crate) fn finished(call: &Finished<'_>) {
    if let Some(line) = line_for(call.module, call.status) {
        emit(line, call);
    }
}

/// Which line, if any, a finished call of `module` with `status` emits: decided from the
/// module's level and the interest `tracing` cached in its callsites, before anything of the
/// call is looked at, so a line the filter turns away costs a few loads.
#[inline]
pub(crate) fn line_for(module: ModuleId, status: Status) -> Option<Line> {
    let log = module_log(module);
    let (level, own) = log.level();
    if level == OFF {
        return None;
    }
    let max = LevelFilter::current();
    // A level above the module's may still be asked for by a filter directive, unless the
    // level is the module's own.
    let wants = |site: &'static Site, at: u8, probe: usize| {
        site.enabled(max) && (level >= at || (!own && !probes()[probe].enabled(max)))
    };
    let detail = wants(log.debug, DEBUG, 2);
    let site = if status != Status::Success {
        wants(log.warn, WARN, 0).then_some(log.warn)?
    } else if detail {
        log.debug
    } else {
        wants(log.info, INFO, 1).then_some(log.info)?
    };
    Some(Line { site, detail })
}

/// A line to emit: its callsite, and whether it carries the captured values.
#[derive(Clone, Copy)]
pub(crate) struct Line {
    site: &'static Site,
    detail: bool,
}

/// Callsites at WARN, INFO and DEBUG whose target is no module's (nor under `monitor`):
/// enabled, the subscriber's filter lets such events through whatever the target, so a
/// module's site being enabled too says nothing of a directive for it.
fn probes() -> &'static [&'static Site; 3] {
    static PROBES: OnceLock<[&'static Site; 3]> = OnceLock::new();
    if let Some(probes) = PROBES.get() {
        return probes;
    }
    // Registered outside the cell's initialisation: registering calls the subscriber.
    let target = "__monitor_default_level_probe";
    let registered = [
        Site::register(EVENT_NAME, target, Level::WARN, &FIELDS, Kind::EVENT),
        Site::register(EVENT_NAME, target, Level::INFO, &FIELDS, Kind::EVENT),
        Site::register(EVENT_NAME, target, Level::DEBUG, &FIELDS, Kind::EVENT),
    ];
    PROBES.get_or_init(|| registered)
}

#[cold]
#[inline(never)]
pub(crate) fn emit(Line { site, detail }: Line, call: &Finished<'_>) {
    let meta = site.metadata();
    let fields = meta.fields();
    let mut field = fields.iter();
    let field: [Field; FIELDS.len()] = std::array::from_fn(|_| field.next().expect("FIELDS"));
    let message = if call.status == Status::Success {
        "call finished"
    } else {
        "call failed"
    };
    #[allow(clippy::cast_precision_loss)] // durations under 2^53 ns (104 days) are exact
    let duration_ms = call.duration_ns as f64 / 1e6;
    let tokens = call
        .tokens
        .map(|t| (t.input_tokens, t.output_tokens, t.total_tokens));
    let values = call.values.filter(|_| detail);
    let inputs = values
        .filter(|values| values.has_inputs())
        .map(|values| serde_json::Value::Object(values.inputs_map()).to_string());
    let outputs = values
        .and_then(CapturedValues::output_value)
        .map(|outputs| outputs.to_string());
    let values: [(&Field, Option<&dyn Value>); FIELDS.len()] = [
        (&field[0], Some(&message as &dyn Value)),
        (&field[1], Some(&module_name(call.module) as &dyn Value)),
        (&field[2], Some(&status_name(call.status) as &dyn Value)),
        (&field[3], Some(&duration_ms as &dyn Value)),
        (&field[4], call.quality.as_ref().map(|q| q as &dyn Value)),
        (&field[5], tokens.as_ref().map(|t| &t.0 as &dyn Value)),
        (&field[6], tokens.as_ref().map(|t| &t.1 as &dyn Value)),
        (&field[7], tokens.as_ref().map(|t| &t.2 as &dyn Value)),
        (&field[8], inputs.as_ref().map(|i| i as &dyn Value)),
        (&field[9], outputs.as_ref().map(|o| o as &dyn Value)),
        (&field[10], call.error.as_ref().map(|e| e as &dyn Value)),
    ];
    Event::dispatch(meta, &fields.value_set(&values));
}

fn status_name(status: Status) -> &'static str {
    status.as_str()
}

/// The name of every monitored-call event.
const EVENT_NAME: &str = "monitored call finished";

/// The fields of every monitored-call event, in this order.
const FIELDS: [&str; 11] = [
    "message",
    "module",
    "status",
    "duration_ms",
    "quality",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "inputs",
    "outputs",
    "error",
];

/// The `tracing` target of a module's events: `monitor::` and the module name as a path
/// `EnvFilter` parses. `<Agent as Module>::act` becomes `monitor::Agent::Module::act`;
/// characters other than ASCII letters, digits and `_` become `_`, except `::`.
pub(crate) fn target_of(module: &str) -> String {
    let mut target = String::from("monitor");
    let (qualified, rest) = match module
        .strip_prefix('<')
        .and_then(|rest| rest.split_once('>'))
    {
        Some((qualified, rest)) => {
            let (ty, tr) = qualified.split_once(" as ").unwrap_or((qualified, ""));
            (vec![ty.trim(), tr.trim()], rest)
        }
        None => (Vec::new(), module),
    };
    let segments = qualified
        .into_iter()
        .chain(rest.split("::"))
        .filter(|s| !s.is_empty());
    for segment in segments {
        target.push_str("::");
        for c in segment.chars() {
            target.push(if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            });
        }
    }
    target
}

/// One module's callsites, and its own level.
struct ModuleLog {
    warn: &'static Site,
    info: &'static Site,
    debug: &'static Site,
    /// `#[monitored(level = "..")]`: its level + 1; 0 when the default applies.
    own_level: AtomicU8,
}

impl ModuleLog {
    fn new(module: &'static str) -> ModuleLog {
        let target: &'static str = Box::leak(target_of(module).into_boxed_str());
        ModuleLog {
            warn: Site::register(EVENT_NAME, target, Level::WARN, &FIELDS, Kind::EVENT),
            info: Site::register(EVENT_NAME, target, Level::INFO, &FIELDS, Kind::EVENT),
            debug: Site::register(EVENT_NAME, target, Level::DEBUG, &FIELDS, Kind::EVENT),
            own_level: AtomicU8::new(0),
        }
    }

    /// The module's level, and whether it is its own (else the default).
    #[inline]
    fn level(&self) -> (u8, bool) {
        match self.own_level.load(Ordering::Relaxed) {
            0 => (default_level(), false),
            own => (own - 1, true),
        }
    }
}

fn modules() -> &'static RwLock<FxHashMap<&'static str, &'static ModuleLog>> {
    static MODULES: OnceLock<RwLock<FxHashMap<&'static str, &'static ModuleLog>>> = OnceLock::new();
    MODULES.get_or_init(Default::default)
}

/// The callsites of each module id, filled on first use: a lookup is an index and a load,
/// with no lock and no hashing, so a line the filter turns away costs next to nothing.
fn by_id() -> &'static [OnceLock<&'static ModuleLog>] {
    static BY_ID: OnceLock<Box<[OnceLock<&'static ModuleLog>]>> = OnceLock::new();
    BY_ID.get_or_init(|| (0..=MAX_MODULES).map(|_| OnceLock::new()).collect())
}

/// The callsites of `module`, registering them on first use. Module names are a bounded
/// set (see `callsite::intern`), so are these.
#[inline]
fn module_log(module: ModuleId) -> &'static ModuleLog {
    match by_id().get(module.0 as usize) {
        Some(slot) => match slot.get() {
            Some(log) => log,
            None => {
                // Looked up (or registered) outside the slot's initialisation.
                let log = module_log_slow(module_name(module));
                slot.get_or_init(|| log)
            }
        },
        None => module_log_slow(module_name(module)),
    }
}

/// The callsites of `module`, registered without a lock held: registering calls the
/// subscriber's `register_callsite`, which may call monitored code. Two threads may both
/// register a module's callsites; the first to store them wins, and the others' stay
/// unused (leaked, as every callsite is).
#[cold]
fn module_log_slow(module: &'static str) -> &'static ModuleLog {
    if let Some(&log) = modules().read().get(module) {
        return log;
    }
    let registered = ModuleLog::new(module);
    let mut modules = modules().write();
    let log: &'static ModuleLog = modules
        .entry(module)
        .or_insert_with(|| Box::leak(Box::new(registered)));
    log
}

/// Gives `module` a level of its own, over `MONITORING_LOG_LEVEL`. `false` when it could not
/// be given now: from inside a subscriber callback, or when registering its callsites made
/// the subscriber panic (see `super::subscriber`).
pub(crate) fn set_module_level(module: &'static str, level: Level) -> bool {
    let Some(log) = super::subscriber::call(|| module_log_slow(module)) else {
        return false;
    };
    log.own_level
        .store(level_number(level) + 1, Ordering::Relaxed);
    MODULE_LEVELS.store(true, Ordering::Relaxed);
    true
}

#[cfg(test)]
mod tests;
