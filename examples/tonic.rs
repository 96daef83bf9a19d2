//! A tonic gRPC server behind the [`AuthLayer`], with no `protoc` needed.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --example tonic --features tonic -- --listen 127.0.0.1:50051
//! export TOKEN=$(cargo run -q --example tonic --features tonic -- --token-for johndoe --scope whoami)
//! cargo run -q --example tonic --features tonic -- --call http://127.0.0.1:50051
//! ```
//!
//! It serves two gRPC services, both behind one `AuthLayer` set with
//! `Server::builder().layer(..)`:
//!
//! - `grpc.health.v1.Health` from `tonic-health` (any valid token);
//! - `demo.WhoAmI/Get`, a small service written by hand (its two messages derive
//!   `prost::Message`; no `.proto` file, no build script), that needs the scope
//!   `whoami` (a [`RequireScopesLayer`] on that service only, added with
//!   `add_service`) and answers the user the layer resolved.
//!
//! Without a token a client gets `Status` `Unauthenticated`; with a token that
//! lacks `whoami`, `PermissionDenied`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use http::uri::PathAndQuery;
use tokio::net::TcpListener;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::Status;
use tonic_prost::ProstCodec;
use tower::Service;
use tower_jwt_auth::scopes::RequireScopesLayer;
use tower_jwt_auth::{resolve_sync, AuthError, AuthLayer, Claims, JwtValidator, SigningKey};
use tower_layer::Layer;

/// The demo secret (the FastAPI tutorial's). Use your own: `openssl rand -hex 32`.
pub(crate) const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "A tonic server behind tower-jwt-auth's AuthLayer")]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Print a 30-minute token for this subject and exit.
    #[arg(long, value_name = "SUB")]
    token_for: Option<String>,
    /// The space-separated scopes of the token printed by `--token-for`.
    #[arg(long, requires = "token_for")]
    scope: Option<String>,
    /// Act as a client: call `demo.WhoAmI/Get` on this server and print the reply.
    #[arg(long, value_name = "URL")]
    call: Option<String>,
    /// The bearer token for `--call` (read from the `TOKEN` environment variable).
    #[arg(long, env = "TOKEN", requires = "call", hide_env_values = true)]
    token: Option<String>,
}

/// The application's user, resolved from the token's `sub`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) username: String,
    pub(crate) full_name: String,
}

/// The user directory: a fixed table here, a database in real life.
fn find_user(claims: &Claims) -> Result<User, AuthError> {
    match claims.sub() {
        Some("johndoe") => Ok(User {
            username: "johndoe".into(),
            full_name: "John Doe".into(),
        }),
        _ => Err(AuthError::unknown_user()),
    }
}

/// `demo.WhoAmI/Get`'s request.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WhoAmIRequest {}

/// `demo.WhoAmI/Get`'s reply.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WhoAmIReply {
    /// The resolved user's name.
    #[prost(string, tag = "1")]
    pub(crate) username: String,
    /// The resolved user's full name.
    #[prost(string, tag = "2")]
    pub(crate) full_name: String,
    /// The scopes of the token.
    #[prost(string, repeated, tag = "3")]
    pub(crate) scopes: Vec<String>,
}

/// The `demo.WhoAmI` service, written the way tonic's generated code is.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WhoAmIServer;

impl NamedService for WhoAmIServer {
    const NAME: &'static str = "demo.WhoAmI";
}

/// The `Get` method.
struct Get;

impl UnaryService<WhoAmIRequest> for Get {
    type Response = WhoAmIReply;
    type Future = std::future::Ready<Result<tonic::Response<WhoAmIReply>, Status>>;

    fn call(&mut self, request: tonic::Request<WhoAmIRequest>) -> Self::Future {
        // tonic copies the HTTP request extensions, where the layer put the user
        // and the claims, into the `tonic::Request`.
        let reply = tower_jwt_auth::tonic::user::<User, _>(&request).and_then(|user| {
            let claims = tower_jwt_auth::tonic::standard_claims(&request)?;
            Ok(tonic::Response::new(WhoAmIReply {
                username: user.username.clone(),
                full_name: user.full_name.clone(),
                scopes: claims.scopes().map(str::to_owned).collect(),
            }))
        });
        std::future::ready(reply)
    }
}

impl Service<http::Request<tonic::body::Body>> for WhoAmIServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        match req.uri().path() {
            "/demo.WhoAmI/Get" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                Ok(grpc.unary(Get, req).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// Calls `demo.WhoAmI/Get` with `token` as the bearer token.
///
/// # Errors
///
/// The `Status` the server answered.
pub(crate) async fn who_am_i(channel: Channel, token: Option<&str>) -> Result<WhoAmIReply, Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(WhoAmIRequest {});
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::invalid_argument("token"))?;
        request.metadata_mut().insert("authorization", value);
    }
    let path = PathAndQuery::from_static("/demo.WhoAmI/Get");
    let response = client.unary(request, path, ProstCodec::default()).await?;
    Ok(response.into_inner())
}

/// Serves both services on `listener` until `shutdown` completes.
///
/// # Errors
///
/// When the layer cannot be built or the server fails.
pub(crate) async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let auth = AuthLayer::new(JwtValidator::hs256(SECRET)?).resolve_user(resolve_sync(find_user));
    let who_am_i = RequireScopesLayer::new(["whoami"])?.layer(WhoAmIServer);
    Server::builder()
        .layer(auth)
        .add_service(health)
        .add_service(who_am_i)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
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
    if let Some(url) = args.call {
        let channel = Channel::from_shared(url)?.connect().await?;
        match who_am_i(channel, args.token.as_deref()).await {
            Ok(reply) => println!("{reply:?}"),
            Err(status) => println!("{:?}: {}", status.code(), status.message()),
        }
        return Ok(());
    }
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
