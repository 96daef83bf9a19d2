//! FastAPI's advanced tutorial "OAuth2 scopes", route for route, with axum and
//! tower-jwt-auth.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --example tutorial_scopes -- --listen 127.0.0.1:8000
//!
//! curl -s -X POST http://127.0.0.1:8000/token -d 'username=johndoe&password=secret&scope=me items'
//! # {"access_token":"eyJ...","token_type":"bearer"}
//! curl -s http://127.0.0.1:8000/users/me/items/ -H "Authorization: Bearer eyJ..."
//! # [{"item_id":"Foo","owner":"johndoe"}]
//! ```
//!
//! The Python app and its counterparts here:
//!
//! | FastAPI | here |
//! |---|---|
//! | `OAuth2PasswordBearer(tokenUrl="token", scopes={"me": ..., "items": ...})` | [`SCOPES`], `TokenEndpoint::builder(..).known_scopes(..)` |
//! | `POST /token`: `"scope": " ".join(form_data.scopes)`; 400 `Incorrect username or password` | [`TokenEndpoint`], `bad_credentials_status(400)`; only known scopes are granted |
//! | `get_current_user(security_scopes, token)` | `AuthLayer` + `resolve_user(endpoint.resolver())` |
//! | `Security(get_current_user, scopes=["me"])` → `get_current_active_user` | `AuthLayer::require_scopes(["me"])` + `require_active` |
//! | `Security(get_current_active_user, scopes=["items"])` | `require_scopes(["items", "me"])`: FastAPI adds the inner dependency's `me` after `items` |
//! | `Depends(get_current_user)` on `/status/` | `AuthLayer` without scopes, without `require_active` |
//! | `authenticate_value = f'Bearer scope="{security_scopes.scope_str}"'` | the layer's FastAPI-style challenge on a route with scopes |
//!
//! The checks run in FastAPI's order: token, user exists, scopes, active.
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

/// The scopes the application defines, with their descriptions (FastAPI shows
/// them in the OpenAPI docs).
pub(crate) const SCOPES: [(&str, &str); 2] = [
    ("me", "Read information about the current user."),
    ("items", "Read items."),
];

/// johndoe's password is `secret`: the tutorial's own hash (pwdlib, argon2id).
const JOHNDOE_HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc";
/// alice's password is `secretalice` (pwdlib, argon2id).
const ALICE_HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$seUaXHkm60RS/E8wPzrUyA$pbZwxKKNt+HegiOI7MbTvgrMctvid2A8eI94/hPvpfs";

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "FastAPI's OAuth2 scopes tutorial, with axum and tower-jwt-auth")]
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

/// `fake_users_db`: johndoe, and alice, who is disabled. Both may be granted
/// every scope the application defines, as in the tutorial.
pub(crate) fn fake_users_db() -> MemoryStore {
    let all = SCOPES.map(|(scope, _)| scope);
    MemoryStore::new()
        .with_user(
            StoredUser::from_profile(
                UserProfile::new("johndoe")
                    .with_email("johndoe@example.com")
                    .with_full_name("John Doe"),
                JOHNDOE_HASH,
            )
            .with_scopes(all),
        )
        .with_user(
            StoredUser::from_profile(
                UserProfile::new("alice")
                    .with_email("alice@example.com")
                    .with_full_name("Alice Wonderson")
                    .with_disabled(true),
                ALICE_HASH,
            )
            .with_scopes(all),
        )
}

/// `GET /users/me/`, scope `me`.
async fn read_users_me(CurrentUser(current_user): CurrentUser<UserProfile>) -> Json<UserProfile> {
    Json(current_user)
}

/// `GET /users/me/items/`, scopes `items` and `me`.
async fn read_own_items(CurrentUser(current_user): CurrentUser<UserProfile>) -> Json<Value> {
    Json(json!([{ "item_id": "Foo", "owner": current_user.username }]))
}

/// `GET /status/`, any valid token of an existing user, disabled or not.
async fn read_system_status(CurrentUser(_): CurrentUser<UserProfile>) -> Json<Value> {
    Json(json!({ "status": "ok" }))
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
    // POST /token: grants the requested scopes the application knows; bad
    // credentials get 400 `Incorrect username or password`, without a challenge.
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
    .bad_credentials_status(StatusCode::BAD_REQUEST)?
    .known_scopes(SCOPES.map(|(scope, _)| scope))?
    .build();

    // get_current_user: a valid token (leeway 0, as PyJWT) of a user that exists.
    let get_current_user = AuthLayer::new(JwtValidator::hs256(SECRET_KEY)?.leeway(Duration::ZERO)?)
        .style(Style::FastApi)
        .resolve_user(login_for_access_token.resolver());
    let is_active = |user: &UserProfile| !user.disabled;
    // Security(get_current_active_user) = Security(get_current_user, scopes=["me"]) + active.
    let me = get_current_user
        .clone()
        .require_scopes(["me"])?
        .require_active(is_active);
    // Security(get_current_active_user, scopes=["items"]): "items", then the inner "me".
    let items_me = get_current_user
        .clone()
        .require_scopes(["items", "me"])?
        .require_active(is_active);

    Ok(Router::new()
        .route("/users/me/", get(read_users_me).route_layer(me))
        .route(
            "/users/me/items/",
            get(read_own_items).route_layer(items_me),
        )
        .route(
            "/status/",
            get(read_system_status).route_layer(get_current_user),
        )
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
