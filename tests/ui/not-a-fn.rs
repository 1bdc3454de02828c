use monitor::monitored;

#[monitored]
struct Retriever {
    top_k: usize,
}

#[monitored]
trait Module {
    fn forward(&self);
}

trait Scorer {
    #[monitored]
    fn score(&self) -> f64;
}

fn main() {}
