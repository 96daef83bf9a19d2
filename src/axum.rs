//! axum extractors for the authenticated user and claims (feature `axum`).
//!
//! Put an [`AuthLayer`](crate::AuthLayer) on the router (`Router::layer`) or on some
//! routes (`Router::route_layer`), then ask for what it resolved in the handlers:
//!
//! | extractor | gives | when the extensions lack it |
//! |---|---|---|
//! | [`CurrentUser<U>`] | the user the layer resolved (`U` = [`ResolveUser::User`](crate::ResolveUser::User); [`Claims`] with the default resolver) | rejected |
//! | [`AuthClaims<C>`] | the validated claims (`C` = [`Claims`] or the type given to [`AuthLayer::with_claims`](crate::AuthLayer::with_claims)) | rejected |
//! | [`Scoped<L, C>`] | the claims, once they grant every scope of the [`ScopeList`] `L` | rejected |
//! | `Option<CurrentUser<U>>`, `Option<AuthClaims<C>>` | `None` for an anonymous request (behind an [optional](crate::AuthLayer::optional) layer) | `None` |
//!
//! The extractors read the request extensions; they never validate a token
//! themselves. Their rejection, [`AuthRejection`], is rendered like the layer's
//! (status, JSON body, `WWW-Authenticate` challenge, or a gRPC status for gRPC
//! requests) by a [`DefaultRejection`]: the one found in the request extensions,
//! else the standards-style default. To render extractor rejections in the
//! FastAPI style, add the layer's renderer to the extensions with
//! `Router::layer(Extension(auth_layer.rejection().clone()))`.
//!
//! # When the extension is missing
//!
//! `CurrentUser<U>` finds no `U` when the request came through an *optional*
//! layer without credentials (the normal case for routes that are public for
//! some handlers only), when the route has no `AuthLayer` at all, or when `U` is
//! not the type the layer resolves. The extractor cannot tell these apart, so it
//! fails closed with the answer the layer gives to a request without
//! credentials: 401 `Not authenticated` / `unauthorized` with a bare `Bearer`
//! challenge. Not a 500: a client sees a well-formed authentication challenge
//! (and a handler never runs unauthenticated), and the developer sees the cause
//! in [`AuthRejection::is_misconfiguration`] and, with the `tracing` feature, in a
//! `warn` event naming the missing type when the request *did* carry a bearer
//! token (which an `AuthLayer` would have either accepted, putting the type in
//! the extensions, or refused).
//!
//! # Example
//!
//! ```
//! use axum::{routing::get, Json, Router};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_jwt_auth::axum::{AuthClaims, CurrentUser};
//! use tower_jwt_auth::{sign_hs256, AuthLayer, Claims, JwtValidator};
//!
//! const SECRET: &str = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7";
//!
//! async fn me(AuthClaims(claims): AuthClaims) -> String {
//!     format!("hello {}", claims.sub().unwrap_or_default())
//! }
//!
//! async fn hello(user: Option<CurrentUser<Claims>>) -> &'static str {
//!     if user.is_some() { "hello, you" } else { "hello, stranger" }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = AuthLayer::new(JwtValidator::hs256(SECRET)?);
//! let app = Router::new()
//!     .route("/me", get(me))
//!     .route_layer(auth.clone())
//!     .route("/hello", get(hello).layer(auth.optional()));
//!
//! let token = sign_hs256(SECRET, &Claims::new("johndoe").with_exp(4_000_000_000))?;
//! let request = Request::get("/me").header("authorization", format!("Bearer {token}"));
//! let response = app.clone().oneshot(request.body(axum::body::Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! let response = app.oneshot(Request::get("/hello").body(axum::body::Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ::axum::body::Body;
use ::axum::extract::{FromRequestParts, OptionalFromRequestParts};
use ::axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderMap, StatusCode};

use crate::scopes::{HasScopes, RequiredScopes};
use crate::{AuthError, AuthErrorKind, Claims, DefaultRejection, Reject, RejectContext};

/// Extracts the user that the [`AuthLayer`](crate::AuthLayer) resolved: FastAPI's
/// `Depends(get_current_user)`.
///
/// `U` is the resolver's [`User`](crate::ResolveUser::User) type; with the default
/// resolver it is the claims type ([`Claims`]). Use `Option<CurrentUser<U>>` on
/// routes behind an [optional](crate::AuthLayer::optional) layer.
///
/// Rejects with [`AuthRejection`] when the request extensions hold no `U`; see
/// the [module docs](self) for why that is a 401 and not a 500.
#[derive(Clone, Debug)]
pub struct CurrentUser<U>(pub U);

/// Extracts the validated claims that the [`AuthLayer`](crate::AuthLayer) put into
/// the request extensions.
///
/// `C` is [`Claims`] unless the layer reads another type
/// ([`AuthLayer::with_claims`](crate::AuthLayer::with_claims)). Use
/// `Option<AuthClaims<C>>` behind an [optional](crate::AuthLayer::optional) layer.
///
/// Rejects with [`AuthRejection`] when the request extensions hold no `C`.
#[derive(Clone, Debug)]
pub struct AuthClaims<C = Claims>(pub C);

/// A list of scopes known at compile time, for the [`Scoped`] extractor.
///
/// ```
/// use tower_jwt_auth::axum::ScopeList;
///
/// /// `GET /users/me/items/` needs both.
/// struct ItemsAndMe;
///
/// impl ScopeList for ItemsAndMe {
///     const SCOPES: &'static [&'static str] = &["items", "me"];
/// }
/// ```
pub trait ScopeList {
    /// The required scopes: RFC 6749 §3.3 `scope-token`s (no spaces), compared
    /// case-sensitively.
    const SCOPES: &'static [&'static str];
}

/// Extracts the validated claims once they grant every scope of `L`: FastAPI's
/// `Security(get_current_user, scopes=[...])`, per handler.
///
/// A token that lacks a scope is refused with
/// [`AuthError::insufficient_scope`] naming `L::SCOPES`: 403 `insufficient_scope`
/// (standards) or 401 `Not enough permissions` with `WWW-Authenticate: Bearer
/// scope="..."` (FastAPI style), rendered as described in the [module docs](self).
///
/// The check runs in the handler, so after everything the layer checks
/// (including [`require_active`](crate::AuthLayer::require_active)). To check the
/// scopes *before* the active-user check, as FastAPI does, and to name the scopes
/// in the challenge of every rejection of the route, use
/// [`AuthLayer::require_scopes`](crate::AuthLayer::require_scopes) on the route
/// (`MethodRouter::layer`) instead.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_jwt_auth::axum::{ScopeList, Scoped};
/// use tower_jwt_auth::{AuthLayer, JwtValidator};
///
/// struct Items;
/// impl ScopeList for Items {
///     const SCOPES: &'static [&'static str] = &["items"];
/// }
///
/// async fn items(Scoped { claims, .. }: Scoped<Items>) -> String {
///     format!("items of {}", claims.sub().unwrap_or_default())
/// }
///
/// # fn main() -> Result<(), tower_jwt_auth::ConfigError> {
/// let validator = JwtValidator::hs256("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")?;
/// let app: Router = Router::new()
///     .route("/items", get(items))
///     .layer(AuthLayer::new(validator));
/// # Ok(())
/// # }
/// ```
pub struct Scoped<L, C = Claims> {
    /// The validated claims.
    pub claims: C,
    _scopes: PhantomData<fn() -> L>,
}

impl<L, C> Scoped<L, C> {
    /// The claims.
    pub fn into_inner(self) -> C {
        self.claims
    }
}

impl<L, C: Clone> Clone for Scoped<L, C> {
    fn clone(&self) -> Self {
        Self {
            claims: self.claims.clone(),
            _scopes: PhantomData,
        }
    }
}

impl<L, C: fmt::Debug> fmt::Debug for Scoped<L, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("scopes", &std::any::type_name::<L>())
            .field("claims", &self.claims)
            .finish()
    }
}

/// The rejection of this module's extractors: an [`AuthError`] rendered as the
/// layer renders it.
///
/// It implements [`IntoResponse`]; [`status`](Self::status) and
/// [`body_text`](Self::body_text) tell what will be sent, and
/// [`error`](Self::error) why. The response carries the `AuthError` in its
/// extensions, as the layer's rejections do.
#[derive(Debug)]
pub struct AuthRejection {
    error: AuthError,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    misconfiguration: bool,
}

impl AuthRejection {
    fn render(parts: &Parts, error: AuthError, misconfiguration: bool) -> Self {
        let ctx = RejectContext::new(&parts.method, &parts.uri, &parts.headers);
        let response = match parts.extensions.get::<DefaultRejection>() {
            Some(r) => r.reject(&error, &ctx),
            None => DefaultRejection::default().reject(&error, &ctx),
        };
        let (head, body) = response.into_parts();
        Self {
            error,
            status: head.status,
            headers: head.headers,
            body,
            misconfiguration,
        }
    }

    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body of the response (JSON; empty for gRPC requests).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The headers of the response: `content-type`, the `WWW-Authenticate`
    /// challenge, or `grpc-status`/`grpc-message` for gRPC requests.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Whether the request carried a bearer token yet the extension was missing:
    /// the route has no `AuthLayer`, or the extractor asks for a type the layer
    /// does not insert. Such a rejection is a bug in the application, not the
    /// client's fault.
    pub fn is_misconfiguration(&self) -> bool {
        self.misconfiguration
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::from(self.body));
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers;
        res.extensions_mut().insert(self.error);
        res
    }
}

/// Whether the request carries `Authorization: Bearer ...`.
fn has_bearer(headers: &HeaderMap) -> bool {
    headers.get_all(AUTHORIZATION).iter().any(|v| {
        let v = v.as_bytes();
        v.len() >= 6 && v[..6].eq_ignore_ascii_case(b"bearer")
    })
}

/// The rejection for a missing extension of type `T`, asked for by `extractor`.
fn missing<T>(parts: &Parts, extractor: &'static str) -> AuthRejection {
    let misconfiguration = has_bearer(&parts.headers);
    if misconfiguration {
        warn_missing::<T>(extractor);
    }
    AuthRejection::render(parts, AuthError::missing_credentials(), misconfiguration)
}

#[allow(unused_variables)]
fn warn_missing<T>(extractor: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        extractor,
        missing = std::any::type_name::<T>(),
        "a request with a bearer token has no `{}` in its extensions: is the route behind an \
         AuthLayer, and does the layer resolve that type? Answering 401.",
        std::any::type_name::<T>(),
    );
}

impl<S, U> FromRequestParts<S> for CurrentUser<U>
where
    S: Send + Sync,
    U: Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<U>() {
            Some(user) => Ok(Self(user.clone())),
            None => Err(missing::<U>(parts, "CurrentUser")),
        }
    }
}

impl<S, U> OptionalFromRequestParts<S> for CurrentUser<U>
where
    S: Send + Sync,
    U: Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let user = parts.extensions.get::<U>().cloned().map(Self);
        if user.is_none() && has_bearer(&parts.headers) {
            warn_missing::<U>("Option<CurrentUser>");
        }
        Ok(user)
    }
}

impl<S, C> FromRequestParts<S> for AuthClaims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<C>() {
            Some(claims) => Ok(Self(claims.clone())),
            None => Err(missing::<C>(parts, "AuthClaims")),
        }
    }
}

impl<S, C> OptionalFromRequestParts<S> for AuthClaims<C>
where
    S: Send + Sync,
    C: Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let claims = parts.extensions.get::<C>().cloned().map(Self);
        if claims.is_none() && has_bearer(&parts.headers) {
            warn_missing::<C>("Option<AuthClaims>");
        }
        Ok(claims)
    }
}

impl<S, L, C> FromRequestParts<S> for Scoped<L, C>
where
    S: Send + Sync,
    L: ScopeList,
    C: HasScopes + Clone + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(claims) = parts.extensions.get::<C>() else {
            return Err(missing::<C>(parts, "Scoped"));
        };
        if L::SCOPES.iter().all(|s| claims.has_scope(s)) {
            return Ok(Self {
                claims: claims.clone(),
                _scopes: PhantomData,
            });
        }
        let error = match RequiredScopes::new(L::SCOPES.iter().copied()) {
            Ok(required) => AuthError::insufficient_scope(Arc::from(required.as_str())),
            // A scope list that is not made of RFC 6749 scope-tokens cannot go
            // into a challenge: refuse without naming them.
            Err(_) => AuthError::new(
                AuthErrorKind::InsufficientScope,
                "The access token lacks a required scope",
            ),
        };
        Err(AuthRejection::render(parts, error, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn extractors_are_send_sync() {
        assert_send_sync::<CurrentUser<Claims>>();
        assert_send_sync::<AuthClaims>();
        assert_send_sync::<Scoped<(), Claims>>();
        assert_send_sync::<AuthRejection>();
    }

    #[test]
    fn has_bearer_is_case_insensitive() {
        let mut h = HeaderMap::new();
        assert!(!has_bearer(&h));
        h.insert(AUTHORIZATION, "bEaReR x".parse().unwrap());
        assert!(has_bearer(&h));
        h.insert(AUTHORIZATION, "Basic x".parse().unwrap());
        assert!(!has_bearer(&h));
    }
}
