use monitor::monitored;

#[monitored]
fn count(items: &[u32]) -> usize {
    let total: u32 = items.iter().sum();
    total
}

#[monitored]
async fn later(flag: bool) -> Result<u32, String> {
    if flag {
        return Ok("not a number");
    }
    Ok(1)
}

fn main() {
    count(&[]);
    let _ = later(true);
}
