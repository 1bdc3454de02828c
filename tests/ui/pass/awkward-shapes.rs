//! Signatures that are easy to get wrong when rewriting a function.

use std::future::Future;
use std::pin::Pin;

use monitor::monitored;

// Names generated code must not depend on: a user `Result`, `Option`, `Box` and `Wrap`.
#[allow(dead_code)]
type Result<T> = std::result::Result<T, String>;
#[allow(dead_code)]
struct Wrap;

#[monitored]
fn lifetimes<'a, 'b: 'a>(first: &'a str, _second: &'b str) -> &'a str {
    first
}

#[monitored]
fn where_clause<T>(items: Vec<T>) -> usize
where
    T: Clone + std::fmt::Debug,
{
    items.len()
}

#[monitored]
fn impl_args(printable: impl std::fmt::Display, mut callback: impl FnMut(u32) -> u32) -> String {
    format!("{printable}{}", callback(1))
}

#[monitored]
fn const_generic<const N: usize>(values: [u8; N]) -> usize {
    values.len() + N
}

#[monitored]
fn returns_future(n: u32) -> impl Future<Output = u32> {
    async move { n }
}

#[monitored]
fn returns_boxed_future(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move { n })
}

#[monitored]
fn nested_impl_trait() -> Option<impl Iterator<Item = u8>> {
    Some(vec![1u8].into_iter())
}

#[monitored]
fn raw_identifiers(r#type: &str, r#match: u8) -> usize {
    r#type.len() + r#match as usize
}

#[monitored]
extern "C" fn callback(code: i32) -> i32 {
    code
}

#[monitored]
#[must_use]
fn must_use() -> u8 {
    1
}

#[monitored]
fn user_result(ok: bool) -> Result<u8> {
    if ok {
        Ok(1)
    } else {
        Err("no".into())
    }
}

#[monitored]
fn dyn_return() -> Box<dyn std::fmt::Debug> {
    Box::new(1)
}

#[monitored]
fn slice_pattern([first, .., last]: [u8; 4], (a, (b, _)): (u8, (u8, u8))) -> u8 {
    first + last + a + b
}

#[monitored]
fn closure_return() -> impl Fn(u8) -> u8 {
    |x| x + 1
}

fn outer() -> u8 {
    #[monitored]
    fn nested(x: u8) -> u8 {
        x
    }
    nested(1)
}

struct Builder<'a, T> {
    parts: Vec<&'a T>,
}

#[monitored]
impl<'a, T: std::fmt::Debug> Builder<'a, T> {
    fn with(mut self, part: &'a T) -> Self {
        self.parts.push(part);
        self
    }

    fn build(&self) -> String {
        format!("{:?}", self.parts)
    }

    unsafe fn raw(&self) -> usize {
        self.parts.len()
    }
}

trait Visitor {
    fn visit(&mut self, depth: u32) -> u32;
    fn done(self) -> u32
    where
        Self: Sized;
}

#[monitored]
impl Visitor for u32 {
    fn visit(&mut self, depth: u32) -> u32 {
        *self += depth;
        *self
    }

    fn done(self) -> u32 {
        self
    }
}

#[monitored]
impl<T: Visitor + ?Sized> Visitor for Box<T> {
    fn visit(&mut self, depth: u32) -> u32 {
        (**self).visit(depth)
    }

    fn done(self) -> u32 {
        0
    }
}

fn main() {
    let _ = lifetimes("a", "b");
    let _ = where_clause(vec![1]);
    let _ = impl_args(1, |x| x);
    let _ = const_generic([1, 2]);
    let _ = returns_future(1);
    let _ = returns_boxed_future(1);
    let _ = nested_impl_trait();
    let _ = raw_identifiers("t", 1);
    let _ = callback(1);
    let _ = must_use();
    let _ = user_result(true);
    let _ = dyn_return();
    let _ = slice_pattern([1, 2, 3, 4], (1, (2, 3)));
    let _ = closure_return()(1);
    let _ = outer();
    let part = 1;
    let builder = Builder { parts: Vec::new() }.with(&part);
    let _ = builder.build();
    let _ = unsafe { builder.raw() };
    let mut n = 1u32;
    let _ = n.visit(1);
    let _ = n.done();
    let mut boxed: Box<u32> = Box::new(1);
    let _ = boxed.visit(2);
}
