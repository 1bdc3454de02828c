use monitor::monitored;

struct Service {
    name: String,
}

impl Service {
    #[monitored(tracer = self.name)]
    fn run(&self) -> usize {
        self.name.len()
    }
}

fn main() {
    Service { name: String::new() }.run();
}
