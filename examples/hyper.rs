//! A plain hyper 1 server behind the [`AuthLayer`]: no axum anywhere.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --example hyper -- --listen 127.0.0.1:3000
//! TOKEN=$(cargo run -q --example hyper -- --token-for johndoe --scope "me items")
//! curl -i http://127.0.0.1:3000/me                                    # 401, Bearer challenge
//! curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/me   # 200, the claims
//! ```
//!
//! The handler is a `tower::service_fn`; the layer wraps it like any tower
//! service, and `hyper_util::service::TowerToHyperService` hands the result to
//! hyper's connection builder. Add `--style fastapi` for FastAPI-style rejections.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_jwt_auth::{AuthLayer, Claims, JwtValidator, SigningKey, Style};

/// The demo secret (the FastAPI tutorial's). Use your own: `openssl rand -hex 32`.
pub(crate) const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "A hyper server behind tower-jwt-auth's AuthLayer")]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Rejection style: `standards` or `fastapi`.
    #[arg(long, default_value = "standards")]
    style: Style,
    /// Print a 30-minute token for this subject and exit.
    #[arg(long, value_name = "SUB")]
    token_for: Option<String>,
    /// The space-separated scopes of the token printed by `--token-for`.
    #[arg(long, requires = "token_for")]
    scope: Option<String>,
}

/// The application: `GET /me` answers the claims the layer validated.
async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (req.method(), req.uri().path()) {
        (&Method::GET, "/me") => {
            // The layer put the validated claims into the request extensions.
            let claims = req.extensions().get::<Claims>();
            let body = serde_json::json!({
                "sub": claims.and_then(Claims::sub),
                "scopes": claims.map(|c| c.scopes().collect::<Vec<_>>()),
            });
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::from(body.to_string()))
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::default()),
    };
    Ok(response.expect("valid response"))
}

/// Serves the application on `listener` until `shutdown` completes, then waits
/// for the open connections to finish.
///
/// # Errors
///
/// When the validator cannot be built.
pub(crate) async fn serve(
    listener: TcpListener,
    style: Style,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let service = ServiceBuilder::new()
        .layer(AuthLayer::new(JwtValidator::hs256(SECRET)?).style(style))
        .service_fn(handle);
    let service = TowerToHyperService::new(service);
    let builder = http1::Builder::new();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(conn) => conn,
                    Err(_) => {
                        // Out of file descriptors or the like: back off instead of
                        // spinning; the listener stays usable.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let conn = builder.serve_connection(TokioIo::new(stream), service.clone());
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // A client that goes away mid-request is not our error.
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    graceful.shutdown().await;
    Ok(())
}

/// A token for `sub`, valid 30 minutes.
///
/// # Errors
///
/// When signing fails.
pub(crate) fn token_for(
    sub: &str,
    scope: Option<&str>,
) -> Result<String, Box<dyn std::error::Error>> {
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let mut claims = Claims::new(sub).with_iat(now).with_exp(now + 30 * 60);
    if let Some(scope) = scope {
        claims = claims.with_scope(scope);
    }
    let key = SigningKey::hmac(tower_jwt_auth::Algorithm::HS256, SECRET)?;
    Ok(key.sign(&claims)?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    if let Some(sub) = &args.token_for {
        println!(
            "{}",
            token_for(sub, args.scope.as_deref()).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, args.style, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
