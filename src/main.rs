use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    fixwright::cli::main().await
}
