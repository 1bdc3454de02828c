use monitor::monitored;

#[monitored(scores(words = |answer: &String| answer.split(' ').collect::<Vec<_>>()))]
fn answer() -> String {
    "a b".to_owned()
}

fn main() {}
