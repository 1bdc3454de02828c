// `stream` says the function returns a stream; on anything else it is an error at the
// return type.

use monitor::monitored;

#[monitored(stream)]
fn tokens() -> Vec<String> {
    vec!["a".to_owned()]
}

fn main() {
    let _ = tokens();
}
