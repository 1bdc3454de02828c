use monitor::monitored;

#[monitored]
struct Retriever {
    top_k: usize,
}

#[monitored]
trait Module {
    fn forward(&self);
}

fn main() {}
