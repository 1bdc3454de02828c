// The record path: everything a monitored call touches while it runs and when it ends,
// built to cost a few tens of nanoseconds and never to block, panic or allocate for a call
// without captured data.
//
// Owns: the guard of a call and its traced futures (`guard.rs`) and streams (`stream.rs`); the per-thread stack of
// active calls, span ids, `record_*` and the trace context spawned work carries
// (`context.rs`), thread indexes and names (`thread.rs`) and the scoped default tracer
// (`scope.rs`); the tracer with its shards and readers (`tracer.rs`), the per-thread ring a
// finished call is written into until a drain moves it into a shard (`ring.rs`), and each
// shard's bounded history (`history.rs`); the outboxes exporters take records from
// (`outbox.rs`) within the export queue's one bound (`slots.rs`); what is said once for a whole trace (`trace_attrs.rs`); the raw clock (`clock.rs`), module names interned
// to ids (`callsite.rs`), and the panic hook that lends a panicking call its message
// (`panic.rs`).
//
// May call: `capture/` (values become `CapturedValue`s on the way in), `metrics/` (a shard
// adds each call's `Sample` to its module's totals), `integrate::log` (the log line of a
// finished call) and `entry` (what readers get). Never calls `export/` or `mlflow/`: they
// read what the tracer hands them (`get_traces`, `get_metrics`, snapshots).

pub(crate) mod callsite;
pub(crate) mod clock;
pub(crate) mod context;
pub(crate) mod guard;
mod history;
pub(crate) mod outbox;
mod panic;
mod ring;
pub(crate) mod rollup;
pub(crate) mod scope;
mod slots;
pub(crate) mod stream;
mod thread;
mod trace_attrs;
pub(crate) mod tracer;
