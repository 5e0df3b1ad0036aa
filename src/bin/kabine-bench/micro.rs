//! Socket-free micro benchmark of the forwarding path.

pub fn run(_counts: &[usize], _packets: usize) -> Result<(), String> {
    Err("not built yet".into())
}
