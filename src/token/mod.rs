//! The OAuth 2.0 token endpoint (password grant), argon2 password hashing and
//! user stores: the other half of FastAPI's "OAuth2 with Password (and hashing),
//! Bearer with JWT tokens".
//!
//! - [`TokenEndpoint`]: a leaf tower `Service` for `POST /token` that checks a
//!   username and password against a [`UserStore`] and answers with a signed JWT
//!   that [`AuthLayer`](crate::AuthLayer) accepts. Mount it under any path on
//!   hyper, axum (`Router::route_service`) or a gateway.
//! - [`UserStore`], with [`MemoryStore`] and the hand-edited [`UsersFile`]
//!   (TOML or JSON); [`StoreResolver`] resolves the token's `sub` with the same
//!   store, so a deleted or disabled user is refused at once.
//! - [`PasswordHasher`]: argon2id, on tokio's blocking pool behind a semaphore.
//! - [`Throttle`]: failed logins per (username, client IP) and per client IP
//!   (locks), and per username over all clients (a slow-down).
//!
//! Enabled by the `token` feature (on by default).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http::{Request, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::token::{MemoryStore, PasswordHasher, StoredUser, TokenEndpoint, UserProfile};
//! use tower_jwt_auth::{Algorithm, AuthLayer, JwtValidator, SigningKey};
//!
//! const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The tutorial's user; the hash is pwdlib's for "secret".
//! let store = MemoryStore::new().with_user(StoredUser::from_profile(
//!     UserProfile::new("johndoe")
//!         .with_email("johndoe@example.com")
//!         .with_full_name("John Doe"),
//!     "$argon2id$v=19$m=65536,t=3,p=4$wagCPXjifgvUFBzq4hqe3w$CYaIb8sB+wtD+Vu/P4uod1+Qof8h+1g7bbDlBID48Rc",
//! ));
//! let token_endpoint = TokenEndpoint::builder(store, SigningKey::hmac(Algorithm::HS256, SECRET)?)
//!     .ttl(Duration::from_secs(30 * 60))?
//!     // The stored hashes are pwdlib's: make unknown users cost the same.
//!     .hasher(PasswordHasher::builder().params(65536, 3, 4)?.build())
//!     .build();
//!
//! // POST /token
//! let request = Request::post("/token")
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(Full::new(Bytes::from("grant_type=password&username=johndoe&password=secret")))?;
//! let response = token_endpoint.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["cache-control"], "no-store");
//! let body: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
//! assert_eq!(body["token_type"], "bearer");
//! assert_eq!(body["expires_in"], 1800);
//! let token = body["access_token"].as_str().unwrap().to_owned();
//!
//! // GET /users/me behind AuthLayer, resolved with the same store.
//! let users_me = ServiceBuilder::new()
//!     .layer(
//!         AuthLayer::new(JwtValidator::hs256(SECRET)?)
//!             .resolve_user(token_endpoint.resolver())
//!             .require_active(|user: &UserProfile| !user.disabled),
//!     )
//!     .service_fn(|req: Request<Full<Bytes>>| async move {
//!         let user = req.extensions().get::<UserProfile>().expect("set by AuthLayer");
//!         let body = Full::new(Bytes::from(serde_json::to_vec(user).unwrap()));
//!         Ok::<_, std::convert::Infallible>(http::Response::new(body))
//!     });
//! let request = Request::get("/users/me")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(Full::default())?;
//! let response = users_me.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```
//!
//! # The password grant is deprecated: when to use it anyway
//!
//! RFC 9700 (OAuth 2.0 Security Best Current Practice, §2.4) says the resource
//! owner password credentials grant "MUST NOT be used": the client sees the
//! user's password, which widens the attack surface and trains users to type
//! their password outside the authorization server, and the grant cannot carry
//! two-factor or other multi-step logins. RFC 6749 itself (§10.7) asks servers
//! to "minimize use of this grant type", and OAuth 2.1 drops it.
//!
//! Use this endpoint only where the client *is* the first party (your own
//! single-page app or CLI, talking to your own API, as in the FastAPI
//! tutorial), or to migrate a FastAPI backend without changing its clients.
//! For third-party clients, single sign-on or MFA, use an authorization server
//! with the authorization code flow and PKCE, and keep only
//! [`AuthLayer`](crate::AuthLayer). In any case:
//!
//! - serve it over TLS only (RFC 6749 §3.2, §10.8: passwords "MUST NOT be
//!   transmitted in the clear");
//! - restrict the tokens to their resource server with
//!   [`audience`](TokenEndpointBuilder::audience) (RFC 9700 §2.3);
//! - keep tokens short-lived (default 30 minutes; no refresh tokens are issued).
//!
//! # The request (RFC 6749 §4.3.2)
//!
//! Every refusal below happens **before** any store lookup or hashing.
//!
//! | request | answer |
//! |---|---|
//! | a method other than `POST` | 405, `Allow: POST` |
//! | no `Content-Type: application/x-www-form-urlencoded` (parameters allowed; a charset other than UTF-8 refused), or several | 400 `invalid_request` |
//! | a body over the cap (default 16 KiB), by `Content-Length` or while reading | 413 `invalid_request` (the rest is not read) |
//! | a bad `%` escape, or invalid UTF-8 after decoding (Appendix B) | 400 `invalid_request` |
//! | `grant_type`, `username`, `password`, `scope`, `client_id` or `client_secret` repeated | 400 `invalid_request` |
//! | `username` or `password` missing or empty (an empty value counts as absent, §3.2) | 400 `invalid_request` |
//! | `grant_type` missing (standards style; FastAPI style lets it be absent, like `OAuth2PasswordRequestForm`) | 400 `invalid_request` |
//! | CR or LF in a value (Appendix A: `UNICODECHARNOCRLF`) | 400 `invalid_request` |
//! | a username over 256 bytes or a password over 1024 bytes (never truncated) | 400 `invalid_request` |
//! | `grant_type` other than exactly `password` (case-sensitive, §1.9) | 400 `unsupported_grant_type` |
//! | `scope` not `scope-token *( SP scope-token )` (FastAPI style: any run of whitespace separates) | 400 `invalid_scope` |
//! | too many failed logins for the (username, client IP) pair or the client IP ([`Throttle`]) | 429 `slow_down`, `Retry-After`, right password or not |
//! | every hashing slot busy past the queue wait ([`PasswordHasher`]) | 503 `temporarily_unavailable`, `Retry-After` |
//! | the store failed | 503 `temporarily_unavailable` |
//! | unknown user, wrong password, or disabled user (unless [`check_disabled(false)`](TokenEndpointBuilder::check_disabled)) | 400 `invalid_grant` (byte-identical for the three, after the same argon2 work) |
//!
//! Unknown parameters are ignored (§3.2). The query string is never read.
//! `client_id` and `client_secret` are accepted and ignored: the endpoint
//! serves public, first-party clients, as FastAPI's does.
//!
//! # The answer (RFC 6749 §5.1, §5.2)
//!
//! Success is 200 with `{"access_token": "...", "token_type": "bearer",
//! "expires_in": 1800}`, plus `"scope"` when the granted scopes differ from the
//! requested ones (an empty string when none was granted). Errors are
//! `{"error": "...", "error_description": "..."}`. Every answer carries
//! `Content-Type: application/json`, `Cache-Control: no-store` and
//! `Pragma: no-cache`.
//!
//! The token is a JWS signed with the [`SigningKey`](crate::SigningKey) (its
//! `typ` header, `JWT` by default, is set with
//! [`SigningKey::with_typ`](crate::SigningKey::with_typ); RFC 9068 uses
//! `at+jwt`), with the claims `sub` (the username), `iat`, `exp` (`iat` + the
//! TTL), `jti` (128 random bits, base64url), `scope` (space-separated, when
//! any was granted), and `iss` and `aud` when configured.
//!
//! The granted scopes are the requested ones that the user may have
//! ([`StoredUser::scopes`]) and, when set, that are
//! [known](TokenEndpointBuilder::known_scopes) (RFC 6749 §3.3; unlike the
//! FastAPI tutorial, which grants whatever is asked). Without a `scope`
//! parameter, no scope is granted.
//!
//! # FastAPI style
//!
//! With [`Style::FastApi`](crate::Style::FastApi) (the same switch as
//! `AuthLayer`'s), the endpoint answers as the FastAPI tutorial's `/token`:
//!
//! - success: `{"access_token": "...", "token_type": "bearer"}`;
//! - bad credentials: 401 `{"detail": "Incorrect username or password"}` with
//!   `WWW-Authenticate: Bearer` (the JWT tutorial), or 400 with no challenge
//!   with [`bad_credentials_status(400)`](TokenEndpointBuilder::bad_credentials_status)
//!   (the scopes tutorial);
//! - other refusals: the status above with `{"detail": "<description>"}`
//!   (FastAPI itself would answer 422 to a malformed form);
//! - `grant_type` may be absent.
//!
//! # Secrets
//!
//! Passwords, hashes and tokens never appear in `Debug` output, errors or log
//! events (the `tracing` feature logs refusals at `debug` by kind only, store
//! and hashing failures at `warn`).
//!
//! # Deployment notes
//!
//! - Put a request timeout in front of the endpoint (hyper's header read
//!   timeout, `tower_http::timeout`): the body is read before anything else.
//! - The throttle needs the client address (without it, every client is one
//!   and the (username, client) lock becomes a per-username lock); see
//!   [`client_ip`](TokenEndpointBuilder::client_ip).
//! - Memory for hashing is bounded by the hasher's slots × the largest `m` of
//!   the hashes it verifies (the policy's for unknown users).

mod endpoint;
mod form;
mod password;
mod resolve;
mod store;
mod throttle;
mod users_file;

pub use endpoint::{
    ResponseFuture, TokenEndpoint, TokenEndpointBuilder, TokenSigner, DEFAULT_MAX_BODY_LEN,
    DEFAULT_MAX_PASSWORD_LEN, DEFAULT_TTL,
};
pub use password::{
    HashError, PasswordHasher, PasswordHasherBuilder, Verified, DEFAULT_QUEUE_WAIT,
    MAX_VERIFY_M_COST, MAX_VERIFY_P_COST, MAX_VERIFY_T_COST,
};
pub use resolve::{ResolveFuture, StoreResolver};
pub use store::{Lookup, MemoryStore, StoreError, StoredUser, UserProfile, UserStore};
pub use throttle::Throttle;
pub use users_file::{UsersFile, UsersFileError, UsersFileFormat, MAX_USERNAME_LEN};
