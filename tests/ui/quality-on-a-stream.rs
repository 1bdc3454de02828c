// A stream's items come one at a time: `quality` (and `tokens`) have no returned value to
// read, and say what to do instead.

use futures::stream::{self, Stream};
use monitor::monitored;

fn score(_: &String) -> f64 {
    1.0
}

#[monitored(quality = score)]
fn tokens() -> impl Stream<Item = String> {
    stream::iter(["a".to_owned()])
}

fn main() {
    let _ = tokens();
}
