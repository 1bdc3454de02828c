// The expansion's own locals are hygienic: a body cannot reach them, even by name.
use monitor::monitored;

#[monitored]
fn peek(a: u32) -> u32 {
    let _ = &__monitor_guard;
    a
}

#[monitored]
async fn peek_async(a: u32) -> u32 {
    drop(__monitor_callsite);
    a
}

fn main() {}
