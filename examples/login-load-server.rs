//! The server that `scripts/load-login.sh` loads: `POST /token` (the password
//! grant, default policy and hashing pool) and `GET /users/me` behind
//! `AuthLayer`, on one hyper server.
//!
//! Run with
//!
//! ```sh
//! cargo run --release --example login-load-server            # a free port
//! cargo run --release --example login-load-server -- 8000
//! ```
//!
//! `HASH_SLOTS=N` sets the hashing pool's size (default: the number of CPUs).
//!
//! It prints `listening on http://127.0.0.1:PORT` once bound. The user is
//! `johndoe`, password `secret`. The brute-force throttle is off, so that every
//! login of a storm reaches the hashing pool (with it on, concurrent attempts
//! on one username past its limit get 429 without hashing).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tower_jwt_auth::token::{
    MemoryStore, PasswordHasher, StoredUser, Throttle, TokenEndpoint, UserProfile,
};
use tower_jwt_auth::{Algorithm, AuthLayer, JwtValidator, SigningKey};

const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";

type Body = UnsyncBoxBody<Bytes, Infallible>;
type Svc = BoxCloneSyncService<Request<Incoming>, Response<Body>, Infallible>;

async fn users_me(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let user = req
        .extensions()
        .get::<UserProfile>()
        .expect("set by AuthLayer");
    let body = serde_json::to_vec(user).expect("a profile serializes");
    Ok(Response::new(Full::new(Bytes::from(body))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args().nth(1).map_or(Ok(0), |p| p.parse())?;
    let mut hasher = PasswordHasher::builder();
    if let Ok(slots) = std::env::var("HASH_SLOTS") {
        hasher = hasher.max_concurrent(slots.parse()?)?;
    }
    let hasher = hasher.build();
    let store = MemoryStore::new().with_user(StoredUser::from_profile(
        UserProfile::new("johndoe")
            .with_email("johndoe@example.com")
            .with_full_name("John Doe"),
        hasher.hash_blocking(b"secret")?,
    ));
    eprintln!("{hasher:?}");
    let endpoint = TokenEndpoint::builder(store, SigningKey::hmac(Algorithm::HS256, SECRET)?)
        .hasher(hasher)
        .throttle(Throttle::disabled())
        .build();
    let me = ServiceBuilder::new()
        .layer(
            AuthLayer::new(JwtValidator::hs256(SECRET)?)
                .resolve_user(endpoint.resolver())
                .require_active(|u: &UserProfile| !u.disabled),
        )
        .service_fn(users_me);
    let token: Svc = BoxCloneSyncService::new(ServiceExt::<Request<Incoming>>::map_response(
        endpoint,
        |r| r.map(|b| b.boxed_unsync()),
    ));
    let me: Svc =
        BoxCloneSyncService::new(ServiceExt::<Request<Incoming>>::map_response(me, |r| {
            r.map(|b| b.boxed_unsync())
        }));

    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        let (token, me) = (token.clone(), me.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(peer);
                let svc = match req.uri().path() {
                    "/token" => Some(token.clone()),
                    "/users/me" => Some(me.clone()),
                    _ => None,
                };
                async move {
                    match svc {
                        Some(svc) => svc.oneshot(req).await,
                        None => {
                            let mut res = Response::new(Full::new(Bytes::new()).boxed_unsync());
                            *res.status_mut() = StatusCode::NOT_FOUND;
                            Ok(res)
                        }
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
