//! Bearer JWT authentication for any [tower] service: hyper, axum and tonic alike.
//!
//! `tower-jwt-auth` brings FastAPI's "OAuth2 with Password (and hashing), Bearer
//! with JWT tokens" security model to Rust. The [`AuthLayer`] reads
//! `Authorization: Bearer <token>`, validates the JWT, resolves the user, and
//! puts the user and the claims into the request extensions; anything else is
//! answered with 401 and a `WWW-Authenticate: Bearer` challenge (RFC 6750).
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::{AuthLayer, Claims, JwtValidator};
//!
//! const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";
//!
//! async fn handle(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     // The layer put the validated claims into the extensions.
//!     let claims = req.extensions().get::<Claims>().expect("set by AuthLayer");
//!     let body = format!("hello {}", claims.sub().unwrap_or_default());
//!     Ok(Response::new(Full::from(body)))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = JwtValidator::hs256(SECRET)?;
//! let service = ServiceBuilder::new()
//!     .layer(AuthLayer::new(validator))
//!     .service_fn(handle);
//!
//! // No token: 401 with a challenge.
//! let response = service.clone().oneshot(Request::new(Full::default())).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
//!
//! // A token signed with the secret: the handler runs.
//! let token = tower_jwt_auth::sign_hs256(SECRET, &Claims::new("johndoe").with_exp(4_000_000_000))?;
//! let request = Request::builder()
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(Full::default())?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `aws-lc-rs` | yes | the aws-lc-rs crypto backend (fastest; wins if both are on) |
//! | `rust-crypto` | no | the pure-Rust RustCrypto backend |
//! | `axum` | no | [`axum`] extractors for the user and the claims, per-handler scopes |
//! | `token` | no | [`token`]: the OAuth2 password-grant endpoint, argon2 hashing, user stores |
//!
//! The default is the layer alone: a service that only validates tokens does
//! not build argon2, toml or axum. The FastAPI tutorial's whole model (issue
//! the tokens too, on axum) is `features = ["axum", "token"]`.
//! | `tonic` | no | [`tonic`]: `NamedService` forwarding and helpers for gRPC handlers |
//! | `tracing` | no | `debug` events for rejections (never a token) |
//! | `jwks` | no | `jwks::RemoteKeys`: remote JWKS and OIDC discovery (hyper-util, rustls) |
//!
//! [tower]: https://docs.rs/tower
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
pub mod bearer;
mod claims;
pub mod jwk;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub mod jwks;
pub mod keys;
pub mod rotation;
pub mod scopes;
mod sign;
#[cfg(feature = "token")]
pub mod token;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic;
mod validate;

pub use bearer::error::{AuthError, AuthErrorKind, ConfigError};
pub use bearer::{
    resolve_sync, Auth, AuthLayer, CheckUser, ClaimsAsUser, DefaultRejection, Reject,
    RejectContext, Resolution, ResolveUser, Style,
};
pub use claims::Claims;
pub use keys::{Algorithm, KeySet, VerifyingKey};
pub use sign::{sign_hs256, SignError, SigningKey};
pub use validate::{
    JwtValidator, KeySource, RefreshFuture, TypPolicy, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN,
};

/// The README's examples, compiled and run as doc tests (they use axum and
/// the token endpoint).
#[cfg(all(doctest, feature = "axum", feature = "token"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
