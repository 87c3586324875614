use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    api::cli::run(api::cli::Cli::parse()).await
}
