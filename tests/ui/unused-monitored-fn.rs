#![deny(dead_code)]

use monitor::monitored;

#[monitored]
fn never_called(a: u32) -> u32 {
    a
}

fn main() {}
