//! `#[monitored]` on inherent `impl` blocks and on single methods: every receiver form,
//! per-method opt-out and options, generic types, `Type::method` names.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use common::{block_on, inputs, only, traced, traced_async};
use monitor::{monitored, Status};
use serde_json::json;

#[derive(Debug, Clone, Default)]
struct Counter {
    count: u32,
}

#[monitored]
impl Counter {
    fn new() -> Self {
        Counter::default()
    }

    fn get(&self) -> u32 {
        self.count
    }

    fn bump(&mut self, by: u32) -> u32 {
        self.count += by;
        self.count
    }

    fn into_count(self) -> u32 {
        self.count
    }

    fn boxed(self: Box<Self>) -> u32 {
        self.count
    }

    fn shared(self: Arc<Self>, extra: u32) -> u32 {
        self.count + extra
    }

    fn rc(self: Rc<Self>) -> u32 {
        self.count
    }

    fn pinned(self: Pin<&mut Self>) -> u32 {
        self.get_mut().count
    }

    #[allow(clippy::needless_arbitrary_self_type)] // the form under test
    fn typed(self: &Self) -> u32 {
        self.count
    }

    async fn later(&self, by: u32) -> u32 {
        tokio::task::yield_now().await;
        self.count + by
    }

    #[monitored(off)]
    fn untouched(&self) -> u32 {
        self.count
    }

    #[monitored(name = "counter.reset", skip(to))]
    fn reset(&mut self, to: u32, reason: &str) {
        let _ = reason;
        self.count = to;
    }

    const fn constant() -> u32 {
        7
    }

    const LIMIT: u32 = 10;
}

#[test]
fn every_receiver_form() {
    let (out, entries) = traced(|| {
        let mut c = Counter::new();
        let a = c.bump(2);
        let b = c.get();
        let d = Box::new(c.clone()).boxed();
        let e = Arc::new(c.clone()).shared(1);
        let f = Rc::new(c.clone()).rc();
        let g = Pin::new(&mut c).pinned();
        let h = c.typed();
        let i = c.into_count();
        [a, b, d, e, f, g, h, i]
    });
    assert_eq!(out, [2, 2, 2, 3, 2, 2, 2, 2]);
    let names: Vec<_> = entries.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(
        names,
        [
            "Counter::new",
            "Counter::bump",
            "Counter::get",
            "Counter::boxed",
            "Counter::shared",
            "Counter::rc",
            "Counter::pinned",
            "Counter::typed",
            "Counter::into_count"
        ]
    );
    assert!(entries.iter().all(|e| e.status == Status::Success));
    // `self` is not recorded; the other arguments are.
    assert_eq!(inputs(&entries[1]), json!({"by": 2}));
    assert_eq!(inputs(&entries[4]), json!({"extra": 1}));
    assert_eq!(inputs(&entries[2]), json!({}));
    assert_eq!(entries[0].outputs, Some(json!("Counter { count: 0 }")));
}

#[test]
fn async_methods_in_an_impl() {
    let c = Counter { count: 5 };
    let (out, entries) = block_on(traced_async(c.later(1)));
    assert_eq!(out, 6);
    let e = only(&entries);
    assert_eq!(e.module, "Counter::later");
    assert_eq!(inputs(e), json!({"by": 1}));
}

#[test]
fn opt_out_and_per_method_options() {
    let (_, entries) = traced(|| {
        let mut c = Counter::new();
        c.untouched();
        c.reset(3, "manual");
        assert_eq!(Counter::constant() + Counter::LIMIT, 17);
    });
    let names: Vec<_> = entries.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(names, ["Counter::new", "counter.reset"]);
    assert_eq!(inputs(&entries[1]), json!({"reason": "manual"}));
}

#[derive(Debug)]
struct Cache<T> {
    items: Vec<T>,
}

#[monitored(name = "cache")]
impl<T: Clone + std::fmt::Debug> Cache<T>
where
    T: PartialEq,
{
    fn find(&self, item: &T) -> Option<usize> {
        self.items.iter().position(|i| i == item)
    }

    fn push(&mut self, item: T) {
        self.items.push(item);
    }
}

#[test]
fn generic_impls_with_a_name_prefix() {
    let (found, entries) = traced(|| {
        let mut cache = Cache {
            items: vec!["a".to_owned()],
        };
        cache.push("b".to_owned());
        cache.find(&"b".to_owned())
    });
    assert_eq!(found, Some(1));
    let names: Vec<_> = entries.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(names, ["cache::push", "cache::find"]);
    // `T: Debug` is declared, `Serialize` is not: Debug text.
    assert_eq!(inputs(&entries[1]), json!({"item": "\"b\""}));
    assert_eq!(
        entries[1].outputs,
        Some(json!(1)),
        "`Option<usize>` is concrete: JSON"
    );
}

struct Solo;

impl Solo {
    #[monitored]
    fn method(&self, x: u8) -> u8 {
        x
    }

    #[monitored]
    fn associated() -> u8 {
        1
    }

    #[monitored]
    async fn later(&self) -> u8 {
        2
    }
}

struct Wrapper<T>(T);

impl<T: Copy> Wrapper<T> {
    #[monitored]
    fn get(&self) -> T {
        self.0
    }
}

#[test]
fn method_attributes_name_the_type_at_run_time() {
    let (_, entries) = traced(|| {
        Solo.method(1);
        Solo::associated();
        block_on(Solo.later());
        Wrapper(3u8).get();
    });
    let names: Vec<_> = entries.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(
        names,
        [
            "Solo::method",
            "Solo::associated",
            "Solo::later",
            "Wrapper::get"
        ]
    );
}
