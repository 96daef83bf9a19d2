//! The modules of the `jwt-gateway` binary: an authenticating reverse proxy
//! built on `tower-jwt-auth`. The binary (`src/main.rs`) is the product; this
//! library target exists so that the integration tests can run the gateway
//! in-process. Its API is not stable and the crate is not published.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use jwt_gateway::config::Config;
//! use jwt_gateway::server::{serve, Gateway};
//!
//! let config = Config::default();
//! let gateway = Gateway::load(&config).await?;
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! serve(gateway, listener, std::future::pending(), config.shutdown_timeout).await?;
//! # Ok(())
//! # }
//! ```

pub mod body;
pub mod config;
pub mod keys;
pub mod metrics;
pub mod paths;
pub mod proxy;
pub mod server;
pub mod tutorial;
pub mod users;
