// The record path: everything a monitored call touches while it runs and when it ends,
// built to cost a few tens of nanoseconds and never to block, panic or allocate for a call
// without captured data. It depends on nothing above it: what it drives on every call (log
// lines, `tracing` spans, the per-callsite declaration of kind and level) lives here.
//
// Owns, from a call's start to the readers:
// - the call: its guard (`guard.rs`: what a call records), the futures that keep a guard
//   across `.await`s (`traced.rs`), its end (`call_end.rs`: the frame taken off the stack,
//   the record written, the log line and span ended), and streams (`stream.rs`);
// - the thread: the stack of active calls and span ids (`context.rs`), a trace's origin
//   in another process (`origin.rs`: its sampling decision, a remote parent), the `record_*`
//   functions (`annotate.rs`), the `TraceContext` that spawned work carries
//   (`trace_context.rs`), thread indexes and names (`thread.rs`), the scoped default and
//   global tracers (`scope.rs`), the panic hook that lends a panicking call its message
//   (`panic.rs`), the raw clock (`clock.rs`);
// - the module: names interned to ids (`callsite.rs`), what `#[monitored]` declares about
//   it (`declare.rs`: kind, model, log level), its log line (`log/`), its `tracing` span
//   (`span.rs`), their `tracing` callsites (`site.rs`), and the isolation of every call
//   into the subscriber made on a call's behalf (`subscriber.rs`: panics caught, re-entry
//   refused; `emit!` for monitoring's own warnings);
// - the one entry integrations record through (`external.rs`: a call opened, entered and
//   finished from outside, as the `tracing` layer does for a span);
// - the tracer: one finished call as written (`finished.rs`: `Record`, `Details`), the
//   per-thread ring it waits in (`ring.rs`), the write side that drains rings into shards
//   (`write.rs`), a shard (`shard.rs`) and its bounded history (`history.rs`), the handle
//   and its settings (`tracer.rs`), the readers (`read.rs`), the outboxes exporters take
//   records from (`outbox.rs`) within the export queue's one bound (`slots.rs`), a
//   trace's summed tokens and cost (`rollup.rs`) and what is
//   said once for a whole trace (`trace_attrs.rs`).
//
// Named scores set during a call and feedback after it (`scores.rs`, `feedback.rs`): a
// call's scores are capped as they are added, feedback finds its call in the history. A
// tap (`tap.rs`) hands finished calls, as they reach their shard, to a reader that acts
// on each (the online judges of `eval`), off the call.
//
// May call: `capture` (values become `CapturedValue`s on the way in), `metrics` (a shard
// adds each call's `Sample` to its module's totals), `entry`, `score`, `cost`, `kind` and
// `error`.
// Never calls `export`, `mlflow` or `integrate`: they read what the tracer hands them.

pub(crate) mod annotate;
mod call_end;
pub(crate) mod callsite;
pub(crate) mod clock;
pub(crate) mod context;
pub(crate) mod declare;
#[cfg(any(feature = "tracing-layer", feature = "rig"))]
pub(crate) mod external;
pub(crate) mod feedback;
mod feedback_state;
pub(crate) mod finished;
pub(crate) mod guard;
mod history;
pub(crate) mod log;
pub(crate) mod origin;
pub(crate) mod outbox;
pub(crate) mod outcome;
mod panic;
mod read;
mod ring;
pub(crate) mod rollup;
pub(crate) mod scope;
pub(crate) mod scores;
mod shard;
mod site;
mod slots;
#[cfg(feature = "tracing-spans")]
pub(crate) mod span;
pub(crate) mod stream;
pub(crate) mod subscriber;
pub(crate) mod tap;
mod thread;
mod trace_attrs;
pub(crate) mod trace_context;
pub(crate) mod trace_scope;
pub(crate) mod traced;
pub(crate) mod tracer;
mod write;
