//! `skald bench` (written next).

#[derive(clap::Args, Clone)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
