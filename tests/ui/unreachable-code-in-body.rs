// The expansion silences none of the user's own lints: code after a loop that only
// returns is still reported, in a sync and in an async body.
#![deny(unreachable_code)]

use monitor::monitored;

#[monitored]
fn retry(n: u32) -> u32 {
    loop {
        return n;
    }
    n + 1
}

#[monitored]
async fn retry_async(n: u32) -> u32 {
    loop {
        return n;
    }
    n + 1
}

#[monitored]
#[track_caller]
fn retry_tracked(n: u32) -> u32 {
    loop {
        return n;
    }
    n + 1
}

fn main() {}
