use monitor::monitored;

struct S;

#[monitored]
impl S {
    #[monitored(off, name = "x")]
    fn run(&self) {}
}

fn main() {
    S.run();
}
