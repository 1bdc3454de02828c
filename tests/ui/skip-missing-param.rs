use monitor::monitored;

#[monitored(skip(query, api_kye))]
fn search(query: &str, api_key: &str) -> usize {
    query.len() + api_key.len()
}

fn main() {
    search("a", "b");
}
