use monitor::monitored;

#[monitored(scores(quality = |a: &u32| f64::from(*a)))]
fn named_quality() -> u32 {
    1
}

#[monitored(scores(size = |a: &u32| *a, size = |a: &u32| *a))]
fn twice() -> u32 {
    1
}

#[monitored(scores(size = 3))]
fn literal() -> u32 {
    1
}

#[monitored(scores = 3)]
fn no_list() -> u32 {
    1
}

fn main() {}
