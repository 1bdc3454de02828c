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

#[monitored(quality = score, tokens = usage, name = "named", skip(secret), level = "info")]
fn options(value: u32, secret: &str) -> ::std::option::Option<u32> {
    let _ = secret;
    ::std::option::Option::Some(value)
}

// A quality function takes `&T` by design; pedantic clippy prefers `Option<&T>` here.
#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn score(value: &::std::option::Option<u32>) -> f64 {
    f64::from(value.unwrap_or(0))
}

#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn usage(value: &::std::option::Option<u32>) -> ::std::option::Option<(u64, u64)> {
    value.map(|n| (u64::from(n), 0))
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

#[monitored]
fn one_expression(a: u32) -> u32 {
    a
}

struct Slots {
    names: Vec<String>,
}

#[monitored]
impl Slots {
    fn slot(&mut self, i: usize) -> &mut String {
        &mut self.names[i]
    }

    async fn slot_async(&mut self, i: usize) -> &mut String {
        &mut self.names[i]
    }

    #[track_caller]
    fn slot_tracked(&mut self, i: usize) -> &mut String {
        &mut self.names[i]
    }
}

#[monitored]
fn first<'a>(v: &'a mut ::std::vec::Vec<u8>) -> &'a mut u8 {
    &mut v[0]
}

#[monitored]
fn configured(
    #[cfg(feature = "enabled")] on: u8,
    #[cfg(not(feature = "enabled"))] off: u8,
    b: u8,
) -> u8 {
    on + b
}

#[monitored]
#[allow(clippy::similar_names)]
fn named_like_the_expansion(
    __monitor_guard: u8,
    __monitor_out: u8,
    __monitor_callsite: u8,
    __monitor_tracer: u8,
) -> u8 {
    __monitor_guard + __monitor_out + __monitor_callsite + __monitor_tracer
}

fn attempt(n: u32) -> ::std::result::Result<u32, ::std::string::String> {
    if n > 2 {
        ::std::result::Result::Ok(n)
    } else {
        ::std::result::Result::Err(::std::format!("attempt {n} failed"))
    }
}

// Retry loops: the body only leaves through `return`.
#[monitored]
fn retry(max: u32) -> ::std::result::Result<u32, ::std::string::String> {
    let mut n = 0;
    loop {
        match attempt(n) {
            ::std::result::Result::Ok(value) => return ::std::result::Result::Ok(value),
            ::std::result::Result::Err(error) if n >= max => {
                return ::std::result::Result::Err(error)
            }
            ::std::result::Result::Err(_) => n += 1,
        }
    }
}

#[monitored]
async fn retry_async(max: u32) -> ::std::result::Result<u32, ::std::string::String> {
    let mut n = 0;
    loop {
        match attempt(n) {
            ::std::result::Result::Ok(value) => return ::std::result::Result::Ok(value),
            ::std::result::Result::Err(error) if n >= max => {
                return ::std::result::Result::Err(error)
            }
            ::std::result::Result::Err(_) => n += 1,
        }
    }
}

#[monitored]
#[track_caller]
fn retry_tracked(max: u32) -> u32 {
    let mut n = 0;
    loop {
        if n >= max {
            return n;
        }
        n += 1;
    }
}

#[monitored(log_inputs = false, log_outputs = false)]
fn retry_quiet(max: u32) -> u32 {
    let mut n = 0;
    loop {
        if n >= max {
            return n;
        }
        n += 1;
    }
}

#[monitored]
impl Slots {
    fn retry_method(&mut self, max: u32) -> ::std::result::Result<&mut String, u32> {
        let mut n = 0;
        loop {
            if n >= max {
                return self.names.first_mut().ok_or(n);
            }
            n += 1;
        }
    }
}

#[::async_trait::async_trait]
impl Remote for Slots {
    #[monitored]
    async fn call(&self, n: u32) -> u32 {
        let mut i = 0;
        loop {
            if i >= n {
                return i;
            }
            i += 1;
        }
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
        let _ = one_expression(1);
        let mut slots = Slots {
            names: ::std::vec![::std::string::String::new()],
        };
        slots.slot(0).push('a');
        runtime.block_on(slots.slot_async(0)).push('b');
        slots.slot_tracked(0).push('c');
        let _ = first(&mut ::std::vec![1]);
        let _ = configured(1, 2);
        let _ = named_like_the_expansion(1, 2, 3, 4);
        let _ = retry(5);
        let _ = runtime.block_on(retry_async(5));
        let _ = retry_tracked(2);
        let _ = retry_quiet(2);
        let _ = slots.retry_method(2);
        let _ = runtime.block_on(slots.call(2));
        ::std::assert_eq!(slots.names, [::std::string::String::from("abc")]);
    });
    ::std::assert_eq!(tracer.get_metrics().total_executions, 19 + 13);
}
