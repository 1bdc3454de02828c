//! The expansion adds no warnings, even under `#![deny(warnings)]` and strict lints: every
//! shape of function compiles here without an allow on the monitored items. (That it needs
//! no prelude is `tests/ui/pass/no-std-prelude.rs`.)

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]
#![deny(
    warnings,
    unused_qualifications,
    unused_results,
    rust_2018_idioms,
    unsafe_op_in_unsafe_fn
)]
#![deny(clippy::all, clippy::pedantic)]
#![allow(
    clippy::unused_async,
    clippy::unnecessary_wraps,
    clippy::needless_pass_by_value,
    clippy::unused_self
)]

use ::monitor::monitored;

#[monitored]
fn plain(a: u32, b: &str) -> usize {
    a as usize + b.len()
}

#[monitored]
fn unit(a: u32) {
    let _ = a;
}

#[monitored]
fn early(a: u32) -> ::std::result::Result<u32, ::std::num::ParseIntError> {
    if a == 0 {
        return ::std::result::Result::Ok(0);
    }
    let parsed: u32 = "7".parse()?;
    ::std::result::Result::Ok(parsed + a)
}

#[monitored(quality = score, name = "named", skip(secret), level = "info")]
fn options(value: u32, secret: &str) -> ::std::option::Option<u32> {
    let _ = secret;
    ::std::option::Option::Some(value)
}

// A quality function takes `&T` by design; pedantic clippy prefers `Option<&T>` here.
#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn score(value: &::std::option::Option<u32>) -> f64 {
    f64::from(value.unwrap_or(0))
}

#[monitored(log_inputs = false, log_outputs = false)]
fn quiet() -> u8 {
    1
}

#[monitored]
fn impl_trait(n: u32) -> impl ::std::iter::Iterator<Item = u32> {
    0..n
}

#[monitored]
fn generic<T: ::std::fmt::Debug + ::std::clone::Clone>(value: &T) -> T {
    value.clone()
}

#[monitored]
async fn asynchronous(n: u32) -> ::std::result::Result<u32, String> {
    if n > 10 {
        return ::std::result::Result::Err(::std::string::ToString::to_string("too big"));
    }
    ::std::result::Result::Ok(n)
}

/// # Safety
/// Always safe; `unsafe` only to check the expansion.
#[monitored]
unsafe fn dangerous(ptr: *const u8) -> u8 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *ptr }
}

#[monitored]
fn diverges() -> ! {
    ::std::panic!("never returns")
}

#[monitored]
#[track_caller]
fn tracked(n: u32) -> u32 {
    n
}

#[derive(Debug, Default)]
struct Agent {
    steps: Vec<String>,
}

#[monitored]
impl Agent {
    fn new() -> Self {
        Agent::default()
    }

    fn step(&mut self, what: &str) -> usize {
        self.steps.push(::std::string::ToString::to_string(what));
        self.steps.len()
    }

    fn count(&self) -> usize {
        self.steps.len()
    }

    fn finish(self) -> Vec<String> {
        self.steps
    }

    async fn think(&self) -> usize {
        self.steps.len()
    }

    #[monitored(off)]
    fn ignored(&self) -> bool {
        self.steps.is_empty()
    }
}

trait Module {
    fn forward(&self, input: &str) -> String;
}

#[monitored]
impl Module for Agent {
    fn forward(&self, input: &str) -> String {
        ::std::format!("{input}{}", self.steps.len())
    }
}

#[::async_trait::async_trait]
trait Remote {
    async fn call(&self, n: u32) -> u32;
}

#[monitored]
#[::async_trait::async_trait]
impl Remote for Agent {
    async fn call(&self, n: u32) -> u32 {
        n
    }
}

struct Other;

#[::async_trait::async_trait]
#[monitored]
impl Remote for Other {
    async fn call(&self, n: u32) -> u32 {
        n + 1
    }
}

#[test]
fn everything_compiles_and_runs() {
    let tracer = ::monitor::ExecutionTracer::new();
    ::monitor::with_tracer(&tracer, || {
        let _ = plain(1, "a");
        unit(1);
        let _ = early(1);
        let _ = options(1, "s");
        let _ = quiet();
        let _ = impl_trait(2).count();
        let _ = generic(&1);
        let _ = ::std::panic::catch_unwind(|| diverges());
        let _ = tracked(1);
        let _ = unsafe { dangerous(&1) };
        let mut agent = Agent::new();
        let _ = agent.step("x");
        let _ = agent.count();
        let _ = agent.ignored();
        let _ = agent.forward("y");
        let runtime = ::tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _ = runtime.block_on(asynchronous(1));
        let _ = runtime.block_on(agent.think());
        let _ = runtime.block_on(agent.call(1));
        let _ = runtime.block_on(Other.call(1));
        let _ = agent.finish();
    });
    ::std::assert_eq!(tracer.get_metrics().total_executions, 19);
}
