use monitor::monitored;

#[monitored(quality = 0.5)]
fn literal() -> u32 {
    1
}

const THRESHOLD: f64 = 0.5;

#[monitored(quality = THRESHOLD)]
fn constant() -> u32 {
    1
}

fn wrong_input(score: &str) -> f64 {
    score.len() as f64
}

#[monitored(quality = wrong_input)]
fn mismatched() -> u32 {
    1
}

fn main() {
    literal();
    constant();
    mismatched();
}
