//! An authenticating reverse proxy: JWT Bearer authentication in front of any
//! HTTP service, without touching it.
//!
//! Run with
//!
//! ```not_rust
//! cargo run -p jwt-gateway        # or: cargo install --path jwt-gateway && jwt-gateway
//! ```
//!
//! With no arguments it listens on 127.0.0.1:8000 with the built-in demo users
//! (johndoe/secret; alice is disabled), a random signing secret, `POST /token`,
//! and, since no upstream is set, the FastAPI tutorial's `GET /users/me/` and
//! `GET /users/me/items/`:
//!
//! ```not_rust
//! TOKEN=$(curl -s -X POST localhost:8000/token -d 'grant_type=password&username=johndoe&password=secret' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
//! curl -H "Authorization: Bearer $TOKEN" localhost:8000/users/me/
//! curl -i localhost:8000/users/me/      # 401 without a token
//! ```
//!
//! Put it in front of a service with `--upstream http://127.0.0.1:3000`; see
//! `--help` and the crate's README for every setting.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use jwt_gateway::config::{Config, SECRET_ENV};
use jwt_gateway::server;

fn main() -> ExitCode {
    let loaded = match Config::load() {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let config = loaded.config;
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) => match EnvFilter::try_new(&directives) {
            Ok(filter) => filter,
            Err(e) => {
                eprintln!(
                    "error: invalid RUST_LOG ({e})\n  fix: use a level such as info or warn, or directives such as gateway=debug,info"
                );
                return ExitCode::from(2);
            }
        },
        Err(_) => EnvFilter::new("info"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // With --jwks-url or --issuer-url, this fetches the external keys.
        let gateway = match server::Gateway::load(&config).await {
            Ok(gateway) => gateway,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        if loaded.check_only {
            print!("{}", config.describe());
            return ExitCode::SUCCESS;
        }
        let listener = match TcpListener::bind(config.listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!(
                    "error: cannot listen on {}: {e}\n  fix: choose another address with --listen or GATEWAY_LISTEN",
                    config.listen
                );
                return ExitCode::FAILURE;
            }
        };
        let admin = match config.admin_listen {
            None => None,
            Some(admin_addr) => match TcpListener::bind(admin_addr).await {
                Ok(listener) => Some(listener),
                Err(e) => {
                    eprintln!(
                        "error: cannot listen on {admin_addr} (admin: /metrics, /healthz, /readyz): {e}\n  fix: choose another address with --admin-listen or GATEWAY_ADMIN_LISTEN, or turn it off with --admin-listen off"
                    );
                    return ExitCode::FAILURE;
                }
            },
        };
        let shutdown = match shutdown_signal() {
            Ok(shutdown) => shutdown,
            Err(e) => {
                eprintln!("error: cannot install the signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().unwrap_or(config.listen);
        if config.secret.is_generated() {
            tracing::warn!(
                "{SECRET_ENV} is not set: signing with a random secret, so tokens stop working when the gateway restarts; \
                 set a fixed one with `export {SECRET_ENV}=$(openssl rand -hex 32)`"
            );
        }
        let admin_addr = admin.as_ref().and_then(|l| l.local_addr().ok());
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        if let Some(admin) = admin {
            tokio::spawn(server::serve_admin(gateway.clone(), admin, async move {
                let _ = admin_stopped.await;
            }));
        }
        print_banner(&config, addr, admin_addr, gateway.issues_tokens(), gateway.uses_demo_users());
        let served = server::serve(gateway, listener, shutdown, config.shutdown_timeout).await;
        let _ = stop_admin.send(());
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Says where the gateway listens and what to try.
fn print_banner(
    config: &Config,
    addr: SocketAddr,
    admin: Option<SocketAddr>,
    issues_tokens: bool,
    demo: bool,
) {
    // `0.0.0.0` is not an address to send to: show loopback in the examples.
    let shown = match addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()),
        _ => addr,
    };
    let base = format!("http://{shown}");
    println!("gateway listening on http://{addr}");
    match &config.upstream {
        Some(upstream) => println!("  forwarding authenticated requests to {upstream}"),
        None => println!(
            "  no --upstream: serving the FastAPI tutorial's GET /users/me/ and GET /users/me/items/"
        ),
    }
    if demo {
        println!("  users: built-in demo users (johndoe/secret; alice is disabled); use --users FILE for your own");
    }
    let path = if config.upstream.is_some() {
        "/"
    } else {
        "/users/me/"
    };
    println!("Try:");
    if issues_tokens {
        let user = if demo {
            "username=johndoe&password=secret"
        } else {
            "username=USER&password=PASSWORD"
        };
        println!(
            "  TOKEN=$(curl -s -X POST {base}/token -d 'grant_type=password&{user}' | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
        );
        println!("  curl -H \"Authorization: Bearer $TOKEN\" {base}{path}");
    }
    println!("  curl -i {base}{path}    # 401 without a token");
    match admin {
        Some(admin) => println!("  curl {base}/healthz; curl http://{admin}/metrics"),
        None => println!("  curl {base}/healthz    # /metrics: off (--admin-listen)"),
    }
}

/// A future that completes on SIGTERM or Ctrl-C. The handlers are installed
/// now, so a signal that comes before the future is polled is not lost.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => tracing::info!("Ctrl-C received"),
                _ = term.recv() => tracing::info!("SIGTERM received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received");
        })
    }
}
