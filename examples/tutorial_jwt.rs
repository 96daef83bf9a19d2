//! FastAPI's tutorial "OAuth2 with Password (and hashing), Bearer with JWT tokens",
//! route for route, with axum and tower-jwt-auth.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --example tutorial_jwt -- --listen 127.0.0.1:8000
//!
//! curl -s -X POST http://127.0.0.1:8000/token -d 'username=johndoe&password=secret'
//! # {"access_token":"eyJ...","token_type":"bearer"}
//! curl -s http://127.0.0.1:8000/users/me/ -H "Authorization: Bearer eyJ..."
//! # {"username":"johndoe","email":"johndoe@example.com","full_name":"John Doe","disabled":false}
//! ```
//!
//! The Python app and its counterparts here:
//!
//! | FastAPI | here |
//! |---|---|
//! | `SECRET_KEY`, `ALGORITHM = "HS256"` | [`SECRET_KEY`], `SigningKey::hmac(HS256, ..)`, `JwtValidator::hs256(..)` |
//! | `ACCESS_TOKEN_EXPIRE_MINUTES = 30` | `TokenEndpoint::builder(..).ttl(30 min)` |
//! | PyJWT's leeway of 0 | `JwtValidator::leeway(Duration::ZERO)` |
//! | `fake_users_db`, `pwdlib` argon2 hashes | [`MemoryStore`] of [`StoredUser`]s with the same PHC strings |
//! | `POST /token` (`OAuth2PasswordRequestForm`, `authenticate_user`, `create_access_token`) | [`TokenEndpoint`], FastAPI style, mounted with `route_service` |
//! | `get_current_user` (`OAuth2PasswordBearer`, `jwt.decode`, `get_user`) | `AuthLayer` + `resolve_user(endpoint.resolver())` |
//! | `get_current_active_user` (400 `Inactive user`) | `AuthLayer::require_active` |
//! | `Depends(get_current_active_user)` in a handler | the [`CurrentUser`] extractor |
//! | `response_model=User` | `Json(UserProfile)`, the same fields in the same order |
//!
//! Deviation: this crate requires `exp` in every token (PyJWT accepts a token
//! without one); the tutorial's tokens always carry it.
//!
//! The tutorial has no brute-force throttle, and this app claims its answers
//! byte for byte, so it runs without one too; `--throttle` turns the token
//! endpoint's default [`Throttle`] on (then a client that fails 10 times on a
//! username gets 429 for it).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower_jwt_auth::axum::CurrentUser;
use tower_jwt_auth::token::{MemoryStore, StoredUser, Throttle, TokenEndpoint, UserProfile};
use tower_jwt_auth::{Algorithm, AuthLayer, ConfigError, JwtValidator, SigningKey, Style};

/// The tutorial's secret. To get a string like this run: `openssl rand -hex 32`.
pub(crate) const SECRET_KEY: &str =
    "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";
/// The lifetime of issued tokens.
pub(crate) const ACCESS_TOKEN_EXPIRE_MINUTES: u64 = 30;

/// johndoe's password is `secret`: the tutorial's own hash (pwdlib, argon2id).
const JOHNDOE_HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
/// alice's password is `secretalice` (pwdlib, argon2id).
const ALICE_HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$seUaXHkm60RS/E8wPzrUyA$pbZwxKKNt+HegiOI7MbTvgrMctvid2A8eI94/hPvpfs";

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "FastAPI's OAuth2 + JWT tutorial, with axum and tower-jwt-auth")]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Throttle failed logins (the token endpoint's default `Throttle`). The
    /// tutorial has none, and without this flag neither has this app, so that
    /// every answer is the tutorial's.
    #[arg(long)]
    throttle: bool,
}

/// `fake_users_db`: johndoe, and alice, who is disabled.
pub(crate) fn fake_users_db() -> MemoryStore {
    MemoryStore::new()
        .with_user(StoredUser::from_profile(
            UserProfile::new("johndoe")
                .with_email("johndoe@example.com")
                .with_full_name("John Doe"),
            JOHNDOE_HASH,
        ))
        .with_user(StoredUser::from_profile(
            UserProfile::new("alice")
                .with_email("alice@example.com")
                .with_full_name("Alice Wonderson")
                .with_disabled(true),
            ALICE_HASH,
        ))
}

/// `GET /users/me/`
async fn read_users_me(CurrentUser(current_user): CurrentUser<UserProfile>) -> Json<UserProfile> {
    Json(current_user)
}

/// `GET /users/me/items/`
async fn read_own_items(CurrentUser(current_user): CurrentUser<UserProfile>) -> Json<Value> {
    Json(json!([{ "item_id": "Foo", "owner": current_user.username }]))
}

/// FastAPI's answer to an unknown path.
async fn not_found() -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "detail": "Not Found" })),
    )
}

/// FastAPI's answer to a known path with another method.
async fn method_not_allowed() -> (StatusCode, Json<Value>) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({ "detail": "Method Not Allowed" })),
    )
}

/// The application, with `throttle` on failed logins (the tutorial has
/// none: pass [`Throttle::disabled`] for its answers); the client is the peer
/// address of axum's `ConnectInfo` (see [`serve_with`]).
///
/// # Errors
///
/// When a key, the validator, a scope or the endpoint cannot be built.
pub(crate) fn app_with(throttle: Throttle) -> Result<Router, ConfigError> {
    // POST /token: checks the password, issues a 30-minute HS256 token. Like the
    // tutorial, it does not look at `disabled`; bad credentials get 401
    // `Incorrect username or password` with `WWW-Authenticate: Bearer`.
    let login_for_access_token = TokenEndpoint::builder(
        fake_users_db(),
        SigningKey::hmac(Algorithm::HS256, SECRET_KEY)?,
    )
    .style(Style::FastApi)
    .ttl(Duration::from_secs(ACCESS_TOKEN_EXPIRE_MINUTES * 60))?
    .check_disabled(false)
    .throttle(throttle)
    .client_ip(|parts| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    })
    .build();

    // get_current_active_user: a valid token (leeway 0, as PyJWT), a user that
    // exists, then an active one.
    let get_current_active_user =
        AuthLayer::new(JwtValidator::hs256(SECRET_KEY)?.leeway(Duration::ZERO)?)
            .style(Style::FastApi)
            .resolve_user(login_for_access_token.resolver())
            .require_active(|user: &UserProfile| !user.disabled);

    Ok(Router::new()
        .route("/users/me/", get(read_users_me))
        .route("/users/me/items/", get(read_own_items))
        .route_layer(get_current_active_user)
        .route_service("/token", login_for_access_token)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed))
}

/// Serves the app on `listener` until `shutdown` completes, then lets the open
/// requests finish.
///
/// # Errors
///
/// When the app cannot be built or the server fails.
pub(crate) async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    serve_with(listener, Throttle::disabled(), shutdown).await
}

/// [`serve`] with `throttle` on failed logins.
///
/// # Errors
///
/// When the app cannot be built or the server fails.
pub(crate) async fn serve_with(
    listener: TcpListener,
    throttle: Throttle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let app = app_with(throttle)?.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if args.throttle {
        serve_with(listener, Throttle::new(), ctrl_c).await
    } else {
        serve(listener, ctrl_c).await
    }
}
