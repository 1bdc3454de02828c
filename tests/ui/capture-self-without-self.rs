use monitor::monitored;

#[monitored(capture_self)]
fn search(query: &str) -> usize {
    query.len()
}

fn main() {
    search("a");
}
