use monitor::monitored;

#[monitored(level = "loud")]
fn level() {}

#[monitored(log_inputs = "no")]
fn flag() {}

#[monitored(name = "")]
fn empty() {}

#[monitored(name "missing equals")]
fn syntax() {}

fn main() {
    level();
    flag();
    empty();
    syntax();
}
