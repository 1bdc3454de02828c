//! `#[monitored]` on trait impls: `<Type as Trait>::method` names, native `async fn` in
//! traits, and `#[async_trait]` with the attributes in either order.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{block_on, inputs, only, traced, traced_async};
use monitor::{monitored, ExecutionTracer, Status};
use serde_json::json;

trait Module {
    fn forward(&self, input: &str) -> String;
    fn name(&self) -> &'static str {
        "module"
    }
}

struct Upper;

#[monitored]
impl Module for Upper {
    fn forward(&self, input: &str) -> String {
        input.to_uppercase()
    }
}

struct Lower;

impl Module for Lower {
    #[monitored]
    fn forward(&self, input: &str) -> String {
        input.to_lowercase()
    }
}

#[test]
fn trait_impl_names_carry_the_trait() {
    let (out, entries) = traced(|| (Upper.forward("a"), Lower.forward("B"), Upper.name()));
    assert_eq!(out, ("A".to_owned(), "b".to_owned(), "module"));
    let names: Vec<_> = entries.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(
        names,
        ["<Upper as Module>::forward", "<Lower as Module>::forward"]
    );
    assert_eq!(inputs(&entries[0]), json!({"input": "a"}));
    assert_eq!(entries[0].outputs, Some(json!("A")));
}

trait Retriever {
    async fn retrieve(&self, query: &str) -> Result<Vec<String>, std::io::Error>;
}

struct Native {
    docs: usize,
}

#[monitored]
impl Retriever for Native {
    async fn retrieve(&self, query: &str) -> Result<Vec<String>, std::io::Error> {
        tokio::task::yield_now().await;
        if query.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "empty query",
            ));
        }
        Ok((0..self.docs).map(|i| format!("{query}{i}")).collect())
    }
}

#[test]
fn native_async_fn_in_traits() {
    let n = Native { docs: 2 };
    let ((ok, err), entries) = block_on(traced_async(async {
        (n.retrieve("q").await, n.retrieve("").await)
    }));
    assert_eq!(ok.unwrap(), ["q0", "q1"]);
    assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(entries[0].module, "<Native as Retriever>::retrieve");
    assert_eq!(entries[0].outputs, Some(json!(["q0", "q1"])));
    assert_eq!(entries[1].status, Status::Error);
    let error = entries[1].error.as_ref().unwrap();
    assert_eq!(
        (error.kind.as_str(), error.message.as_str()),
        ("std::io::error::Error", "empty query")
    );
}

#[async_trait]
trait Agent: Send + Sync {
    async fn act(&self, goal: String) -> anyhow::Result<String>;
    async fn plan(&self, steps: u32) -> u32;
}

struct MonitoredFirst;

// `#[monitored]` expands first and sees plain `async fn`s.
#[monitored]
#[async_trait]
impl Agent for MonitoredFirst {
    async fn act(&self, goal: String) -> anyhow::Result<String> {
        tokio::task::yield_now().await;
        anyhow::ensure!(!goal.is_empty(), "no goal");
        Ok(format!("did {goal}"))
    }

    async fn plan(&self, steps: u32) -> u32 {
        steps * 2
    }
}

struct AsyncTraitFirst;

// `#[async_trait]` expands first: `#[monitored]` sees `Box::pin(async move { .. })`.
#[async_trait]
#[monitored]
impl Agent for AsyncTraitFirst {
    async fn act(&self, goal: String) -> anyhow::Result<String> {
        tokio::task::yield_now().await;
        anyhow::ensure!(!goal.is_empty(), "no goal");
        Ok(format!("did {goal}"))
    }

    async fn plan(&self, steps: u32) -> u32 {
        steps * 3
    }
}

struct MethodLevel;

#[async_trait]
impl Agent for MethodLevel {
    #[monitored]
    async fn act(&self, goal: String) -> anyhow::Result<String> {
        anyhow::ensure!(!goal.is_empty(), "no goal");
        Ok(goal)
    }

    #[monitored(name = "planner")]
    async fn plan(&self, steps: u32) -> u32 {
        steps
    }
}

fn run_agent(agent: Arc<dyn Agent>) -> Vec<monitor::TraceEntry> {
    let tracer = ExecutionTracer::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let task = runtime.spawn(monitor::WithTracerExt::with_tracer(
        async move {
            let done = agent.act("x".to_owned()).await.unwrap();
            let failed = agent.act(String::new()).await.unwrap_err().to_string();
            let planned = agent.plan(2).await;
            (done, failed, planned)
        },
        &tracer,
    ));
    let (done, failed, planned) = runtime.block_on(task).unwrap();
    assert!(done == "did x" || done == "x");
    assert_eq!(failed, "no goal");
    assert!(planned > 0);
    tracer.get_traces(None)
}

#[test]
fn async_trait_with_monitored_first() {
    let entries = run_agent(Arc::new(MonitoredFirst));
    let names: Vec<_> = entries.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(
        names,
        [
            "<MonitoredFirst as Agent>::act",
            "<MonitoredFirst as Agent>::act",
            "<MonitoredFirst as Agent>::plan"
        ]
    );
    assert_eq!(inputs(&entries[0]), json!({"goal": "x"}));
    assert_eq!(entries[0].outputs, Some(json!("did x")));
    assert_eq!(entries[1].status, Status::Error);
    let error = entries[1].error.as_ref().unwrap();
    assert_eq!(
        (error.kind.as_str(), error.message.as_str()),
        ("anyhow::Error", "no goal")
    );
    assert_eq!(entries[2].outputs, Some(json!(4)));
}

#[test]
fn async_trait_with_async_trait_first() {
    let entries = run_agent(Arc::new(AsyncTraitFirst));
    let names: Vec<_> = entries.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(
        names,
        [
            "<AsyncTraitFirst as Agent>::act",
            "<AsyncTraitFirst as Agent>::act",
            "<AsyncTraitFirst as Agent>::plan"
        ]
    );
    assert_eq!(inputs(&entries[0]), json!({"goal": "x"}));
    assert_eq!(entries[0].outputs, Some(json!("did x")));
    assert_eq!(entries[1].status, Status::Error);
    assert_eq!(entries[1].error.as_ref().unwrap().message, "no goal");
    assert_eq!(entries[2].outputs, Some(json!(6)));
}

#[test]
fn async_trait_with_method_attributes() {
    let entries = run_agent(Arc::new(MethodLevel));
    let names: Vec<_> = entries.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(
        names,
        [
            "<MethodLevel as Agent>::act",
            "<MethodLevel as Agent>::act",
            "planner"
        ]
    );
    assert_eq!(inputs(&entries[2]), json!({"steps": 2}));
}

#[test]
fn async_trait_futures_dropped_early_are_cancelled() {
    let agent = AsyncTraitFirst;
    let (_, entries) = traced(|| {
        let mut future = agent.act("interrupted".to_owned());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // The first poll starts the call and stops at the `yield_now`; then it is dropped.
        assert!(future.as_mut().poll(&mut cx).is_pending());
    });
    let e = only(&entries);
    assert_eq!(e.status, Status::Cancelled);
    assert_eq!(inputs(e), json!({"goal": "interrupted"}));
}

trait Scorer<T> {
    fn score(&self, item: T) -> f64;
}

struct Length;

#[monitored]
impl<T: AsRef<str>> Scorer<T> for Length {
    fn score(&self, item: T) -> f64 {
        item.as_ref().len() as f64
    }
}

#[test]
fn generic_trait_impls() {
    let (score, entries) = traced(|| Length.score("four"));
    assert_eq!(score, 4.0);
    let e = only(&entries);
    assert_eq!(e.module, "<Length as Scorer>::score");
    // `T` has no declared `Serialize` or `Debug` bound: a placeholder naming the type.
    assert_eq!(inputs(e), json!({"item": "<&str>"}));
}

#[async_trait]
trait Geometry {
    async fn area(&self, size: (u32, u32), scale: u32) -> u32;
}

struct Rect;

#[async_trait]
#[monitored]
impl Geometry for Rect {
    async fn area(&self, (w, h): (u32, u32), mut scale: u32) -> u32 {
        scale += 1;
        w * h * scale
    }
}

#[test]
fn async_trait_pattern_arguments() {
    let (out, entries) = block_on(traced_async(Rect.area((2, 3), 1)));
    assert_eq!(out, 12);
    let e = only(&entries);
    // `#[async_trait]` moved the pattern into the body: the whole argument is recorded,
    // under its position.
    assert_eq!(inputs(e), json!({"arg1": [2, 3], "scale": 1}));
}
