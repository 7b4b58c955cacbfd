//! `billrun serve`: the HTTP API (`crate::http`) until SIGTERM / SIGINT; and the
//! `--serve` flags `billrun worker` shares with it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use sqlx::PgPool;

use crate::config::Config;

/// `billrun serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on (default: `[http] listen` of the configuration,
    /// else 127.0.0.1:8080). Plain HTTP: put a TLS-terminating proxy in front.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
}

/// The address to listen on: `--listen`, else `[http] listen`.
pub fn listen_address(config: &Config, listen: Option<&str>) -> Result<SocketAddr> {
    let text = listen.unwrap_or(&config.http.listen);
    text.parse().with_context(|| {
        format!("listen address {text:?}: expected HOST:PORT such as 127.0.0.1:8080")
    })
}

/// Runs `billrun serve` until the first SIGTERM or SIGINT, then stops accepting
/// connections and finishes the requests in flight.
pub async fn run(pool: PgPool, config: Arc<Config>, args: ServeArgs) -> Result<()> {
    let listen = listen_address(&config, args.listen.as_deref())?;
    let shutdown = signal()?;
    crate::http::serve(pool, config, listen, shutdown).await
}

/// A future resolving on the first SIGTERM or SIGINT.
fn signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutting down: finishing the requests in flight");
    })
}
